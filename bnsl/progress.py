"""A minimal progress bar on standard error (no dependency), off when it is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress(total, label)``; ``update(k)`` after each step, ``close()`` at the end."""

    def __init__(self, total: int, label: str = "", *, enabled: bool | None = None,
                 stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.enabled = (self.stream.isatty() if enabled is None else enabled) and total > 0
        self.total, self.label, self.width = total, label, width
        self.done, self.start, self._last = 0, time.perf_counter(), 0.0

    def update(self, k: int = 1) -> None:
        self.done += k
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "-" * (self.width - filled)
            elapsed = now - self.start
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:.0f}s")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
