"""Writing benchmark results into docs/ without losing what people wrote there."""

from __future__ import annotations

from pathlib import Path

NOTES_HEADING = "## Notes (hand-written"


def with_kept_notes(path: Path, text: str) -> str:
    """``text`` plus the hand-written notes section of the file it replaces, if there is one."""
    if path.exists():
        old = path.read_text()
        at = old.find(NOTES_HEADING)
        if at >= 0:
            return text.rstrip("\n") + "\n\n" + old[at:]
    return text
