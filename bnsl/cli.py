"""The ``bnsl-fit`` command: fit broken neural scaling laws to the curves in a CSV file.

Run ``bnsl-fit --help`` for the options and examples, or see docs/cli.md.

Every user error is one line on stderr, ``bnsl-fit: error: ...``, with exit
status 2 and no traceback; files to write are checked before any fitting, so a
typo in ``--output`` costs nothing. Imports are deferred: pandas when the data
is read, JAX (through ``bnsl``) once the data has passed its checks, matplotlib
only for ``--plot``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, TextIO

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bnsl.result import Fit

PROG = "bnsl-fit"
PROGRESS_MIN_CURVES = 6  # a progress bar from this many curves on (on a terminal only)
OUTPUT_FORMATS = ("json", "csv")
PLOT_FORMATS = ("png", "pdf", "svg")
MAX_LISTED = 5  # lines quoted in a message before "..."

DESCRIPTION = """\
Fit a broken neural scaling law (BNSL) to each curve in a CSV file, choose the
number of breaks by marginal likelihood, and extrapolate with a credible band.

The file needs a header row. x and y must be positive (the law is fitted on log
scales): model size, data or compute against loss or error rate, for example.
"""

EPILOG = """\
examples:
  one curve; a file with exactly two numeric columns needs no --x/--y:
    bnsl-fit runs.csv

  name the columns, and extrapolate to 1e9 and 1e10 parameters:
    bnsl-fit runs.csv --x params --y loss --predict 1e9 1e10

  20 log-spaced predictions from 1e8 to 1e11, with a 95% band:
    bnsl-fit runs.csv --x params --y loss --predict-range 1e8 1e11 20 --level 0.95

  one curve per group (put FILE before --by, or end --by's list with --):
    bnsl-fit sweep.csv --x step --y loss --by lr seed

  fix the number of breaks (faster than choosing among 0..--max-breaks):
    bnsl-fit runs.csv --breaks 1

  save results and a figure:
    bnsl-fit runs.csv --output fits.json --plot fits.png
    bnsl-fit sweep.csv --by lr --predict 1e6 --output fits.csv --quiet

  read standard input; drop rows with NaN or non-positive values:
    cat runs.csv | bnsl-fit - --drop-invalid

  try it on a bundled data set:
    bnsl-fit --fixture double_descent_model

outputs:
  .json  a list with one object per curve: its group, Fit.to_dict() (n_breaks,
         params, rmsle, converged, status, probabilities, candidates with log
         evidence), parameter_sd, and predictions [{x, y_pred, lo, hi}].
  .csv   one row per curve (per curve and predicted x with --predict): group
         columns, n_points, n_breaks, each parameter and its sd (a, a_sd, b, ...,
         sigma, sigma_sd), log_evidence_N and probability_N for each N tried,
         rmsle, converged, status, and x, y_pred, lo, hi.

exit status: 0 on success (groups skipped with a warning included), 2 on a
usage or data error. Compiled programs are cached under
$XDG_CACHE_HOME/bnsl/jax (~/.cache/bnsl/jax): the first run compiles (tens of
seconds), later runs start in a few seconds.
"""


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other error of the command
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


class _Version(argparse.Action):
    """``--version``, importing bnsl (and so JAX) only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import bnsl

        print(f"{PROG} {bnsl.__version__}")
        parser.exit(0)


def _breaks(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer, got {text!r}") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 0.9), got {text!r}")
    return value


def _count(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", metavar="FILE.csv",
                   help="CSV file with a header row, or - to read standard input")
    p.add_argument("--fixture", metavar="NAME",
                   help="fit a bundled data set instead of a file; its description gives the "
                        "default --x, --y and --by")
    p.add_argument("--version", action=_Version, help="print the version and exit")

    g = p.add_argument_group("columns")
    g.add_argument("--x", metavar="COL", help="column of x (positive); may be omitted if the "
                   "file has exactly two numeric columns besides --by (then the first is x)")
    g.add_argument("--y", metavar="COL", help="column of y (positive); may be omitted likewise "
                   "(then the second numeric column is y)")
    g.add_argument("--by", metavar="COL", nargs="+",
                   help="fit one curve per distinct value (or combination) of these columns")
    g.add_argument("--drop-invalid", action="store_true",
                   help="drop rows whose x or y is NaN, infinite or <= 0, with a warning, "
                        "instead of stopping with an error")

    g = p.add_argument_group("fitting")
    g.add_argument("--breaks", type=_breaks, default="auto", metavar="auto|N",
                   help="number of breaks: 'auto' chooses among 0..--max-breaks by marginal "
                        "likelihood (default: auto)")
    g.add_argument("--max-breaks", type=int, default=3, metavar="K",
                   help="the most breaks 'auto' considers (default: 3)")
    g.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed; the same seed gives the same fit (default: 0)")
    g.add_argument("--likelihood", choices=("gaussian", "student-t"), default="gaussian",
                   help="noise on log y; student-t resists outlying points (default: gaussian)")
    g.add_argument("--n-starts", type=_count(4), default=48, metavar="N",
                   help="solver starts per number of breaks (default: 48)")
    g.add_argument("--max-iterations", type=_count(5), default=100, metavar="N",
                   help="solver iterations per start (default: 100)")
    g.add_argument("--n-draws", type=_count(100), default=1024, metavar="N",
                   help="importance-sampling draws for the evidence and bands (default: 1024)")

    g = p.add_argument_group("prediction")
    g.add_argument("--predict", type=_positive, nargs="+", metavar="X",
                   help="predict y at these x values (e.g. beyond the data)")
    g.add_argument("--predict-range", nargs=3, metavar=("LO", "HI", "N"),
                   help="predict at N log-spaced x values from LO to HI")
    g.add_argument("--level", type=_level, default=0.9,
                   help="probability of the band around predictions (default: 0.9)")
    g.add_argument("--band", choices=("curve", "observation"), default="curve",
                   help="'curve': the law itself, as the plot shades it; 'observation': where a "
                        "new measurement should fall, noise included (default: curve)")

    g = p.add_argument_group("output")
    g.add_argument("--output", "-o", metavar="PATH",
                   help="write the results to PATH.json or PATH.csv (see 'outputs' below)")
    g.add_argument("--plot", metavar="PATH",
                   help="draw the data, fit and band to PATH.png, .pdf or .svg (one panel per "
                        "curve)")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="print no report or progress bar (warnings and errors still go to stderr)")
    return p


def predict_points(args) -> "np.ndarray | None":
    import numpy as np

    xs = list(args.predict or [])
    if args.predict_range:
        lo_text, hi_text, n_text = args.predict_range
        try:
            lo, hi = _positive(lo_text), _positive(hi_text)
            n = _count(1)(n_text)
        except argparse.ArgumentTypeError as exc:
            raise CliError(f"--predict-range LO HI N: {exc}") from None
        if n > 1 and not hi > lo:
            raise CliError(f"--predict-range LO HI N: HI must be larger than LO, got {lo_text} "
                           f"and {hi_text}")
        xs += np.geomspace(lo, hi, n).tolist()
    if not xs:
        return None
    return np.array(sorted(set(xs)), dtype=np.float64)


# ---------------------------------------------------------------------------
# Files to write: checked before anything slow happens
# ---------------------------------------------------------------------------


def check_writable(path: str | None, formats: Sequence[str], option: str) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{option} {path}: is a folder; give a file name")
    suffix = p.suffix.lower().lstrip(".")
    if suffix not in formats:
        wanted = ", ".join("." + f for f in formats)
        raise CliError(f"{option} {path}: unknown format {p.suffix or '(no extension)'}; "
                       f"use a path ending in {wanted}")
    parent = p.parent
    if not parent.is_dir():
        raise CliError(f"{option} {path}: folder {str(parent)!r} does not exist; create it first")
    try:
        if p.exists():
            with open(p, "ab"):  # opens for writing without changing the file
                pass
        else:
            import tempfile

            fd, probe = tempfile.mkstemp(dir=parent, prefix=".bnsl-fit-", suffix=".probe")
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise CliError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------------
# Reading the data
# ---------------------------------------------------------------------------


@dataclass
class Table:
    frame: "pd.DataFrame"  # index: 0-based data row; line in the file = index + 2
    source: str
    x: str | None = None  # default columns (from a fixture's description)
    y: str | None = None
    by: list[str] = field(default_factory=list)
    has_lines: bool = True  # whether index + 2 is a line of a file the user has


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read_csv(source, name: str) -> "pd.DataFrame":
    import pandas as pd

    try:
        # Blank lines are kept (as empty rows, dropped below) so that a row's
        # index always gives its line in the file: index + 2 (line 1 is the header).
        # index_col=False: a row with a trailing extra field must not turn the first
        # column into the index (and shift every line number).
        frame = pd.read_csv(source, skip_blank_lines=False, skipinitialspace=True,
                            index_col=False)
    except pd.errors.EmptyDataError:
        raise CliError(f"{name}: is empty; expected a CSV file with a header row and one row "
                       "per point") from None
    except pd.errors.ParserError as exc:
        raise CliError(f"{name}: cannot be read as CSV: {_one_line(exc)}") from None
    except UnicodeDecodeError:
        raise CliError(f"{name}: is not a text (UTF-8) CSV file") from None
    frame.columns = [str(c) for c in frame.columns]
    if len(frame.columns) == 1:
        for sep, what in ((";", "semicolons"), ("\t", "tabs")):
            if sep in frame.columns[0]:
                raise CliError(f"{name}: has one column, {frame.columns[0]!r}: its fields seem "
                               f"separated by {what}; {PROG} reads comma-separated files")
    frame = frame.dropna(how="all")
    if frame.empty:
        raise CliError(f"{name}: has a header ({', '.join(frame.columns)}) but no data rows")
    return frame


def read_file(arg: str) -> Table:
    import io

    if arg == "-":
        text = sys.stdin.read()
        if not text.strip():
            raise CliError("standard input is empty; pipe a CSV file with a header row, "
                           f"e.g. cat runs.csv | {PROG} -")
        return Table(read_csv(io.StringIO(text), "standard input"), "standard input")
    path = Path(arg)
    if not path.exists():
        raise CliError(f"{arg}: no such file")
    if path.is_dir():
        raise CliError(f"{arg}: is a folder, not a CSV file")
    try:
        if path.stat().st_size == 0:
            raise CliError(f"{arg}: is empty; expected a CSV file with a header row and one row "
                           "per point")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CliError(f"{arg}: cannot be read ({exc.strerror or exc})") from None
    return Table(read_csv(path, arg), arg)


def _fixture_module():
    try:
        from bnsl import fixtures
    except ImportError:  # bnsl.fixtures not there yet: read the package data directly
        return None
    return fixtures


def _fixture_names() -> list[str]:
    fixtures = _fixture_module()
    if fixtures is not None:
        return sorted(fixtures.names())
    data = Path(__file__).resolve().parent / "data"
    return sorted(p.stem for p in data.glob("*.csv") if p.with_suffix(".json").exists())


def _column_of(entry) -> str | None:
    if isinstance(entry, dict):
        entry = entry.get("column")
    return entry if isinstance(entry, str) else None


def read_fixture(name: str) -> Table:
    names = _fixture_names()
    if name not in names:
        raise CliError(f"unknown fixture {name!r}; the fixtures are: {', '.join(names)}")
    fixtures = _fixture_module()
    if fixtures is not None:
        frame, description = fixtures.load(name), fixtures.describe(name)
    else:
        import json

        import pandas as pd

        data = Path(__file__).resolve().parent / "data"
        frame = pd.read_csv(data / f"{name}.csv")
        description = json.loads((data / f"{name}.json").read_text())
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    groups = description.get("groups") or description.get("by") or []
    if isinstance(groups, str):
        groups = [groups]
    return Table(frame, f"fixture {name}", x=_column_of(description.get("x")),
                 y=_column_of(description.get("y")), by=[str(g) for g in groups],
                 has_lines=False)


def read_table(args) -> Table:
    if args.fixture is not None and args.file is not None:
        raise CliError("give either FILE.csv or --fixture NAME, not both")
    if args.fixture is not None:
        return read_fixture(args.fixture)
    if args.file is None:
        raise CliError(f"no input: give a CSV file, - for standard input, or --fixture NAME "
                       f"(see {PROG} --help)")
    return read_file(args.file)


# ---------------------------------------------------------------------------
# Columns and curves
# ---------------------------------------------------------------------------


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def resolve_columns(table: Table, args) -> tuple[str, str, list[str]]:
    frame = table.frame
    columns = list(frame.columns)
    listing = ", ".join(columns)

    def check(col: str, option: str) -> str:
        if col not in columns:
            raise CliError(f"{option}: unknown column {col!r}; the columns of {table.source} "
                           f"are: {listing}")
        return col

    by = [check(c, "--by") for c in (args.by if args.by is not None else table.by)]
    x = check(args.x, "--x") if args.x is not None else table.x
    y = check(args.y, "--y") if args.y is not None else table.y
    if x is not None and x not in columns:
        x = None  # a fixture default that does not match its table: infer
    if y is not None and y not in columns:
        y = None
    if x is None or y is None:
        rest = [c for c in columns if c not in by and c not in (x, y)]
        numeric = [c for c in rest if _is_numeric(frame[c])]
        need = (x is None) + (y is None)
        pool = numeric if len(numeric) == need else (rest if len(rest) == need else None)
        if pool is None:
            missing = " and ".join(o for o, v in (("--x COL", x), ("--y COL", y)) if v is None)
            raise CliError(f"cannot tell which columns hold x and y: {table.source} has columns "
                           f"{listing} ({len(numeric)} numeric besides those already chosen); "
                           f"pass {missing}")
        pool = list(pool)
        if x is None:
            x = pool.pop(0)
        if y is None:
            y = pool.pop(0)
    if x == y:
        raise CliError(f"--x and --y: both are column {x!r}; give two different columns")
    for col in by:
        if col in (x, y):
            raise CliError(f"--by: column {col!r} is also the {'x' if col == x else 'y'} column")
    return x, y, by


def _lines(table: Table, index) -> list[str]:
    return [f"{'line' if table.has_lines else 'row'} {i + 2 if table.has_lines else i + 1}"
            for i in index]


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def numeric_values(table: Table, col: str) -> "np.ndarray":
    import numpy as np
    import pandas as pd

    series = table.frame[col]
    if _is_numeric(series):
        return series.to_numpy(dtype=np.float64)
    text = series.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = series.notna() & values.isna()
    if bad.any():
        where = _lines(table, series.index[bad.to_numpy()])
        first = series[bad].iloc[0]
        more = f" (also on {_listed(where[1:])})" if len(where) > 1 else ""
        raise CliError(f"{table.source}: column {col!r} has a non-numeric value {first!r} on "
                       f"{where[0]}{more}; fix or remove those rows")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def invalid_rows(table: Table, x_col: str, y_col: str, x, y, drop: bool) -> "np.ndarray":
    """A mask of the rows to keep, after reporting rows with NaN or non-positive x or y."""
    import numpy as np

    def problem(col, v):
        if np.isnan(v):
            return f"{col} is NaN"
        if not np.isfinite(v):
            return f"{col} is {v}"
        return f"{col} = {v:g}"

    with np.errstate(invalid="ignore"):
        bad_x = ~(np.isfinite(x) & (x > 0))
        bad_y = ~(np.isfinite(y) & (y > 0))
    bad = bad_x | bad_y
    if not bad.any():
        return ~bad
    where = _lines(table, table.frame.index[bad])
    details = [f"{w}: " + "; ".join(problem(c, v) for c, v, b in
                                    ((x_col, x[i], bad_x[i]), (y_col, y[i], bad_y[i])) if b)
               for w, i in zip(where, np.flatnonzero(bad))]
    n = int(bad.sum())
    what = f"{n} row(s) with NaN, infinite or non-positive values ({_listed(details)})"
    if not drop:
        raise CliError(f"{table.source}: {what}; x and y must be positive (the law is fitted on "
                       "log scales): fix those rows, or pass --drop-invalid to drop them")
    warn(f"dropped {what}")
    return ~bad


@dataclass
class Curve:
    group: dict[str, Any]  # {column: value}; empty for a single curve
    x: "np.ndarray"
    y: "np.ndarray"

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.group.items())


def _plain(value):
    """A group value as plain Python (numpy scalars and NaN made JSON-friendly)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_curves(table: Table, x_col: str, y_col: str, by: list[str], drop: bool) -> list[Curve]:
    x = numeric_values(table, x_col)
    y = numeric_values(table, y_col)
    keep = invalid_rows(table, x_col, y_col, x, y, drop)
    if not keep.any():
        raise CliError(f"{table.source}: no rows left: every row has a NaN, infinite or "
                       f"non-positive {x_col} or {y_col}")
    frame = table.frame.loc[keep]
    x, y = x[keep], y[keep]
    if not by:
        return [Curve({}, x, y)]
    curves = []
    positions = {label: i for i, label in enumerate(frame.index)}
    for key, rows in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        idx = [positions[label] for label in rows.index]
        curves.append(Curve({c: _plain(v) for c, v in zip(by, key)}, x[idx], y[idx]))
    return curves


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal; silent when the stream is not one."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool | None = None,
                 width: int = 24):
        self.total, self.width = total, width
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = total >= PROGRESS_MIN_CURVES and bool(isatty and isatty())
        self.enabled = enabled
        self.start = time.monotonic()
        self.shown = 0  # characters on the line now

    def update(self, done: int, label: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        filled = int(self.width * done / max(self.total, 1))
        left = self.total - done
        eta = f", ~{elapsed / done * left:.0f}s left" if done and left > 0 else ""
        line = (f"{PROG}: [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                f"curves, {elapsed:.0f}s{eta}" + (f"  {label}" if label else ""))
        try:
            import shutil

            columns = shutil.get_terminal_size().columns
        except (OSError, ValueError):
            columns = 80
        line = line[: max(columns - 1, 20)]
        self.stream.write("\r" + line + " " * max(self.shown - len(line), 0))
        self.stream.flush()
        self.shown = len(line)

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


_OPTION_OF = {"n_breaks": "--breaks", "max_breaks": "--max-breaks", "seed": "--seed",
              "level": "--level", "n_starts": "--n-starts", "max_iterations": "--max-iterations",
              "n_draws": "--n-draws", "likelihood": "--likelihood"}


def translate(message: str, x_col: str = "x", y_col: str = "y") -> str:
    """A bnsl ValueError message in the command's terms (options and column names)."""
    import re

    message = _one_line(message).replace("ask for fewer breaks",
                                         "ask for fewer breaks (--breaks, --max-breaks)")
    head, sep, rest = message.partition(": ")
    if sep and head in _OPTION_OF:
        return f"{_OPTION_OF[head]}: {rest}"
    if sep and head in ("x", "y"):
        if re.match(r"\d+ points", rest):  # about the curve, not its x column
            return rest
        return f"column {x_col if head == 'x' else y_col!r}: {rest}"
    return message


def fit_options(args) -> dict[str, Any]:
    return dict(n_breaks=args.breaks, max_breaks=args.max_breaks, seed=args.seed,
                likelihood=args.likelihood, n_starts=args.n_starts,
                max_iterations=args.max_iterations, n_draws=args.n_draws)


def check_curves(curves: list[Curve], args, x_col: str, y_col: str) -> list[Curve]:
    """Drop (with a warning) the curves bnsl would refuse, before any fitting."""
    from bnsl.validation import check_curve, check_n_breaks

    try:  # options that would fail for every curve: an error, not a warning per curve
        check_n_breaks(args.breaks, args.max_breaks, 10**9)
    except ValueError as exc:
        raise CliError(translate(str(exc), x_col, y_col)) from None
    good = []
    for curve in curves:
        try:
            x, _ = check_curve(curve.x, curve.y)
            check_n_breaks(args.breaks, args.max_breaks, len(x))
        except ValueError as exc:
            message = translate(str(exc), x_col, y_col)
            if not curve.group:
                raise CliError(message) from None
            warn(f"skipping group {curve.label}: {message}")
            continue
        good.append(curve)
    if not good:
        raise CliError(f"no group can be fitted: all {len(curves)} were skipped (see the warnings "
                       "above)")
    return good


@dataclass
class Result:
    curve: Curve
    fit: "Fit"
    x_pred: "np.ndarray | None" = None
    y_pred: "np.ndarray | None" = None
    lo: "np.ndarray | None" = None
    hi: "np.ndarray | None" = None


def fit_curve(curve: Curve, args, x_col: str, y_col: str, x_pred) -> Result | None:
    import bnsl

    try:
        fit = bnsl.fit(curve.x, curve.y, **fit_options(args), x_name=x_col, y_name=y_col)
    except (ValueError, FloatingPointError) as exc:
        message = translate(str(exc), x_col, y_col)
        if not curve.group:
            raise CliError(f"the fit failed: {message}") from None
        warn(f"skipping group {curve.label}: the fit failed: {message}")
        return None
    result = Result(curve, fit)
    if x_pred is not None:
        result.x_pred = x_pred
        result.y_pred = fit.predict(x_pred)
        result.lo, result.hi = fit.interval(x_pred, level=args.level, kind=args.band)
    return result


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def _num(v: float) -> str:
    return f"{v:.5g}"


def _in_cli_terms(report: str) -> str:
    """The report's advice with the command's options for the keyword arguments of bnsl.fit."""
    import re

    return re.sub(r"\b(n_draws|n_starts|max_iterations|seed)=(\d+)",
                  lambda m: f"--{m[1].replace('_', '-')} {m[2]}", report)


def format_result(result: Result, args) -> str:
    fit = result.fit
    parts = []
    if result.curve.group:
        parts.append(f"=== {result.curve.label} ({len(fit.x)} points) ===")
    parts.append(_in_cli_terms(str(fit)))
    if result.x_pred is not None:
        what = "a new observation" if args.band == "observation" else "the curve"
        parts.append(f"[[Predictions]] (mode of the chosen law; {args.level * 100:g}% band "
                     f"for {what})")
        names = (fit.x_name, fit.y_name, "lower", "upper")
        width = max(12, *(len(n) for n in names))
        parts.append("    " + "  ".join(f"{n:>{width}}" for n in names))
        for row in zip(result.x_pred, result.y_pred, result.lo, result.hi):
            parts.append("    " + "  ".join(f"{_num(v):>{width}}" for v in row))
    return "\n".join(parts)


def _finite(value):
    """JSON-safe: non-finite floats become None, numpy values plain Python."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_record(result: Result, args, x_col: str, y_col: str) -> dict[str, Any]:
    from bnsl.report import parameter_rows

    record = {"group": dict(result.curve.group), "x_column": x_col, "y_column": y_col}
    record.update(result.fit.to_dict())
    record["parameter_sd"] = {name: sd for name, _, sd in parameter_rows(result.fit)}
    if result.x_pred is not None:
        record["level"] = args.level
        record["band"] = args.band
        record["predictions"] = [
            {"x": float(a), "y_pred": float(b), "lo": float(c), "hi": float(d)}
            for a, b, c, d in zip(result.x_pred, result.y_pred, result.lo, result.hi)]
    return _finite(record)


def _param_order(name: str) -> tuple:
    if name in ("a", "b", "c0"):
        return (0, "abc".index(name[0]), 0)
    if name == "sigma":
        return (2, 0, 0)
    return (1, int(name[1:]), "cdf".index(name[0]))


def csv_frame(results: list[Result], by: list[str]) -> "pd.DataFrame":
    import pandas as pd

    from bnsl.report import parameter_rows

    rows, params, ns = [], set(), set()
    for r in results:
        fit = r.fit
        base: dict[str, Any] = dict(r.curve.group)
        base["n_points"] = len(fit.x)
        base["n_breaks"] = fit.n_breaks
        for name, value, sd in parameter_rows(fit):
            base[name], base[f"{name}_sd"] = float(value), float(sd)
            params.add(name)
        for n, cand in fit.candidates.items():
            base[f"log_evidence_{n}"] = cand.log_evidence
            base[f"probability_{n}"] = fit.probabilities[n]
            ns.add(n)
        base.update(rmsle=fit.rmsle, converged=bool(fit.converged), status=fit.status)
        if r.x_pred is None:
            rows.append(base)
        else:
            rows += [base | {"x": a, "y_pred": b, "lo": c, "hi": d}
                     for a, b, c, d in zip(r.x_pred, r.y_pred, r.lo, r.hi)]
    columns = list(by) + ["n_points", "n_breaks"]
    for name in sorted(params, key=_param_order):
        columns += [name, f"{name}_sd"]
    columns += [f"log_evidence_{n}" for n in sorted(ns)] + [f"probability_{n}" for n in sorted(ns)]
    columns += ["rmsle", "converged", "status"]
    if any(r.x_pred is not None for r in results):
        columns += ["x", "y_pred", "lo", "hi"]
    return pd.DataFrame(rows, columns=columns)


def write_output(path: str, results: list[Result], args, x_col: str, y_col: str,
                 by: list[str]) -> None:
    try:
        if path.lower().endswith(".json"):
            import json

            records = [to_record(r, args, x_col, y_col) for r in results]
            Path(path).write_text(json.dumps(records, indent=2, allow_nan=False) + "\n")
        else:
            csv_frame(results, by).to_csv(path, index=False)
    except OSError as exc:
        raise CliError(f"--output {path}: cannot write there ({exc.strerror or exc})") from None


def _extrapolate_to(result: Result) -> float | None:
    """The predicted x farthest beyond the data, if any: the plot extends the law to it."""
    if result.x_pred is None:
        return None
    hi, lo = float(result.x_pred.max()), float(result.x_pred.min())
    if hi > result.fit.x.max():
        return hi
    return lo if lo < result.fit.x.min() else None


def write_plot(path: str, results: list[Result], args) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    from bnsl.plotting import plot_fit, plot_many

    if len(results) == 1 and not results[0].curve.group:
        drawn = plot_fit(results[0].fit, extrapolate_to=_extrapolate_to(results[0]),
                         level=args.level)
    else:
        # One line per group column: long "a=1, b=2" titles overflow the small panels.
        drawn = plot_many({r.curve.label: r.fit for r in results}, level=args.level,
                          titles=["\n".join(f"{k}={v}" for k, v in r.curve.group.items())
                                  for r in results],
                          extrapolate_to={r.curve.label: _extrapolate_to(r) for r in results})
    figure = _figure_of(drawn)
    try:
        figure.savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise CliError(f"--plot {path}: cannot write there ({exc.strerror or exc})") from None


def _figure_of(drawn):
    """The Figure behind whatever the plotting function returned (Figure, Axes, array of Axes)."""
    if hasattr(drawn, "savefig"):
        return drawn
    if hasattr(drawn, "figure"):
        return drawn.figure
    if isinstance(drawn, tuple) and drawn and hasattr(drawn[0], "savefig"):
        return drawn[0]
    import numpy as np

    return np.asarray(drawn, dtype=object).flat[0].figure


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def _show_warning(message, category, filename, lineno, file=None, line=None):
    warn(_one_line(message))


def run(args) -> int:
    import warnings

    warnings.showwarning = _show_warning  # warnings as one line, like the errors
    check_writable(args.output, OUTPUT_FORMATS, "--output")
    check_writable(args.plot, PLOT_FORMATS, "--plot")
    if args.plot:
        import importlib.util

        if importlib.util.find_spec("bnsl.plotting") is None:
            raise CliError("--plot: this installation of bnsl has no bnsl.plotting module")
    if args.output and args.plot and Path(args.output).resolve() == Path(args.plot).resolve():
        raise CliError("--output and --plot: give two different paths")
    x_pred = predict_points(args)

    table = read_table(args)
    x_col, y_col, by = resolve_columns(table, args)
    curves = build_curves(table, x_col, y_col, by, args.drop_invalid)

    import bnsl

    bnsl.enable_compilation_cache()  # before the first fit: later runs skip compilation
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    curves = check_curves(curves, args, x_col, y_col)

    progress = Progress(len(curves), enabled=False if args.quiet else None)
    results: list[Result] = []
    progress.update(0, curves[0].label)
    for i, curve in enumerate(curves):
        result = fit_curve(curve, args, x_col, y_col, x_pred)
        progress.clear()
        if result is not None:
            results.append(result)
            if not args.quiet:
                print(("\n" if len(results) > 1 else "") + format_result(result, args),
                      flush=True)
        progress.update(i + 1, curves[i + 1].label if i + 1 < len(curves) else "")
    progress.clear()
    if not results:
        raise CliError(f"no group could be fitted: all {len(curves)} failed (see the warnings "
                       "above)")

    if args.output:
        write_output(args.output, results, args, x_col, y_col, by)
    if args.plot:
        write_plot(args.plot, results, args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bnsl-fit``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head: not an error worth a traceback
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
