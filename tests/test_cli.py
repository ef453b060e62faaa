"""The ``bnsl-fit`` command, run as a user runs it: the installed script in a subprocess.

The checks that fit are gathered into a few subprocess calls (each process
traces the fitting program anew; the first one also compiles it, ~30 s on 2
cores, into a persistent cache shared by the module through XDG_CACHE_HOME).
All test curves have 40 points, like the fixture fitted below, so that every
fit uses the same compiled program. Errors caught before fitting are cheap.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnsl.law import BNSLParams, predict

TRUTH = BNSLParams(0.05, 3.0, 0.1, [0.5], [1e4], [0.2])
N_POINTS = 40


def command() -> list[str]:
    exe = shutil.which("bnsl-fit")
    return [exe] if exe else [sys.executable, "-m", "bnsl.cli"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("xdg_cache")
    return {**os.environ, "XDG_CACHE_HOME": str(cache)}


@pytest.fixture(scope="module")
def run(env):
    def run(*args, stdin: str | None = None, cwd=None, cmd=None) -> subprocess.CompletedProcess:
        return subprocess.run((cmd or command()) + [str(a) for a in args], input=stdin,
                              capture_output=True, text=True, env=env, cwd=cwd, timeout=600)

    return run


def curve(scale: float = 1.0, seed: int = 0, n: int = N_POINTS):
    x = np.geomspace(1e2, 1e7, n)
    noise = np.exp(0.01 * np.random.default_rng(seed).standard_normal(n))
    return x, scale * predict(TRUTH, x) * noise


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    x, y = curve()
    pd.DataFrame({"params": x, "loss": y}).to_csv(folder / "one.csv", index=False)
    frames = [pd.DataFrame({"lr": lr, "optimizer": "adam", "params": x, "loss": y})
              for lr, (x, y) in ((0.1, curve(1.0, 1)), (0.3, curve(2.0, 2)))]
    # A third group with 4 points: too few for one break (7 parameters), skipped.
    frames.append(frames[0].iloc[::10].assign(lr=0.9))
    pd.concat(frames).to_csv(folder / "groups.csv", index=False)
    return folder


def assert_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 2, one line on stderr prefixed 'bnsl-fit: error: ', no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("bnsl-fit: error: ")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def read_png(path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(raw) > 1024
    return matplotlib.image.imread(path)


# ---------------------------------------------------------------------------
# Fitting runs (a few subprocesses, each checking many things)
# ---------------------------------------------------------------------------


def test_single_curve_report_json_and_png(run, data, tmp_path):
    out, png = tmp_path / "fit.json", tmp_path / "fit.png"
    proc = run(data / "one.csv", "--breaks", "1", "--predict", "1e8", "1e9", "--level", "0.8",
               "--output", out, "--plot", png)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "warning" not in proc.stderr.lower()
    report = proc.stdout
    for section in ("[[BNSL fit]] 1 break(s)", "[[Parameters]]", "[[Number of breaks]]",
                    "[[Predictions]]", "80% band", "RMSLE"):
        assert section in report
    assert "1e+08" in report and "1e+09" in report

    (record,) = json.loads(out.read_text())
    assert record["group"] == {} and record["x_column"] == "params"
    assert record["y_column"] == "loss"
    assert record["n_breaks"] == 1 and record["n_points"] == N_POINTS
    assert record["status"] in ("success", "unreliable_evidence", "not_converged")
    assert record["rmsle"] < 0.02
    assert math.isclose(record["params"]["d"][0], 1e4, rel_tol=0.2)
    assert math.isclose(record["params"]["a"], 0.05, rel_tol=0.1)
    assert set(record["parameter_sd"]) == {"a", "b", "c0", "c1", "d1", "f1", "sigma"}
    assert set(record["candidates"]) == {"1"}
    assert record["level"] == 0.8 and record["band"] == "curve"
    preds = record["predictions"]
    assert [p["x"] for p in preds] == [1e8, 1e9]
    for p in preds:
        truth = float(predict(TRUTH, np.array([p["x"]]))[0])
        assert p["lo"] < p["y_pred"] < p["hi"]
        assert math.isclose(p["y_pred"], truth, rel_tol=0.1)
    # The printed prediction is the one written.
    assert f"{preds[0]['y_pred']:.5g}" in report

    image = read_png(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_groups_csv_pdf_and_skipped_group(run, data, tmp_path):
    out, pdf = tmp_path / "fits.csv", tmp_path / "fits.pdf"
    proc = run(data / "groups.csv", "--x", "params", "--y", "loss", "--by", "lr", "optimizer",
               "--breaks", "1", "--predict-range", "1e8", "1e10", "3", "--output", out,
               "--plot", pdf)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # The 4-point group is skipped with a warning naming it; the others are fitted.
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("bnsl-fit: warning")]
    assert len(warnings) == 1 and "lr=0.9" in warnings[0] and "too few" in warnings[0]
    assert "=== lr=0.1, optimizer=adam (40 points) ===" in proc.stdout
    assert "=== lr=0.3, optimizer=adam (40 points) ===" in proc.stdout
    assert "lr=0.9" not in proc.stdout
    assert proc.stdout.count("[[Predictions]]") == 2
    # No progress bar: stderr is not a terminal.
    assert "curves," not in proc.stderr

    table = pd.read_csv(out)
    assert list(table.columns) == [
        "lr", "optimizer", "n_points", "n_breaks", "a", "a_sd", "b", "b_sd", "c0", "c0_sd",
        "c1", "c1_sd", "d1", "d1_sd", "f1", "f1_sd", "sigma", "sigma_sd", "log_evidence_1",
        "probability_1", "rmsle", "converged", "status", "x", "y_pred", "lo", "hi"]
    assert len(table) == 6  # 2 curves x 3 predicted x
    assert sorted(set(table["lr"])) == [0.1, 0.3]
    assert (table["optimizer"] == "adam").all() and (table["n_breaks"] == 1).all()
    np.testing.assert_allclose(table["x"].to_numpy(), [1e8, 1e9, 1e10] * 2)
    assert (table["lo"] < table["y_pred"]).all() and (table["y_pred"] < table["hi"]).all()
    assert (table["rmsle"] < 0.03).all() and (table["probability_1"] == 1).all()
    by_lr = table.groupby("lr")["y_pred"].first()
    assert math.isclose(by_lr[0.3] / by_lr[0.1], 2.0, rel_tol=0.15)  # curve 2 is twice curve 1
    np.testing.assert_allclose(table["d1"], 1e4, rtol=0.3)

    raw = pdf.read_bytes()
    assert raw[:5] == b"%PDF-" and len(raw) > 1024


def test_stdin_auto_breaks_drop_invalid_and_csv_without_predictions(run, data, tmp_path):
    text = (data / "one.csv").read_text().splitlines()
    text[3] = "nan,1.5"         # line 4 of the file
    text[6] = text[6].split(",")[0] + ",-2"  # line 7
    out = tmp_path / "fit.csv"
    proc = run("-", "--max-breaks", "1", "--drop-invalid", "--seed", "3", "--output", out,
               stdin="\n".join(text) + "\n")
    assert proc.returncode == 0, proc.stderr
    warning = proc.stderr.strip()
    assert warning.startswith("bnsl-fit: warning: dropped 2 row(s)")
    assert "line 4: params is NaN" in warning and "line 7: loss = -2" in warning
    assert "[[Predictions]]" not in proc.stdout
    # auto: both candidates in the evidence table, the chosen one starred.
    assert "*  1" in proc.stdout and "   0 " in proc.stdout

    table = pd.read_csv(out)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["n_points"] == N_POINTS - 2 and row["n_breaks"] == 1
    assert {"log_evidence_0", "log_evidence_1", "probability_0", "probability_1"} <= set(table)
    assert row["log_evidence_1"] > row["log_evidence_0"]
    assert "x" not in table.columns and "y_pred" not in table.columns
    assert math.isclose(row["probability_0"] + row["probability_1"], 1.0, rel_tol=1e-9)


def test_fixture_defaults_and_quiet(run, tmp_path):
    out = tmp_path / "fixture.json"
    proc = run("--fixture", "double_descent_model", "--breaks", "1", "--quiet", "--output", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    (record,) = json.loads(out.read_text())
    assert record["x_column"] == "width" and record["y_column"] == "test_mse"
    assert record["n_points"] == 35 and record["n_breaks"] == 1


# ---------------------------------------------------------------------------
# Errors: one line, exit status 2, no traceback (mostly before any fitting)
# ---------------------------------------------------------------------------


def test_missing_file(run, tmp_path):
    assert_error(run(tmp_path / "nope.csv"), "nope.csv: no such file")


def test_empty_file_and_empty_stdin(run, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_error(run(empty), "empty.csv: is empty")
    assert_error(run("-", stdin=""), "standard input is empty")
    header_only = tmp_path / "header.csv"
    header_only.write_text("params,loss\n")
    assert_error(run(header_only), "no data rows")


def test_unknown_column_lists_columns(run, data):
    assert_error(run(data / "one.csv", "--x", "size", "--y", "loss"),
                 "--x: unknown column 'size'", "are: params, loss")
    assert_error(run(data / "groups.csv", "--x", "params", "--y", "loss", "--by", "seed"),
                 "--by: unknown column 'seed'", "lr, optimizer, params, loss")


def test_non_numeric_value_names_the_line(run, tmp_path):
    x, y = curve()
    lines = ["params,loss"] + [f"{a},{b}" for a, b in zip(x, y)]
    lines[5] = f"{x[4]},oops"  # line 6 of the file
    lines.insert(3, "")        # a blank line 4 shifts it to line 7
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    assert_error(run(path), "column 'loss' has a non-numeric value 'oops' on line 7")


def test_invalid_values_without_drop(run, data, tmp_path):
    frame = pd.read_csv(data / "one.csv")
    frame.loc[2, "loss"] = np.nan
    frame.loc[10, "loss"] = 0.0
    frame.loc[11, "params"] = -5.0
    path = tmp_path / "invalid.csv"
    frame.to_csv(path, index=False)
    assert_error(run(path, "--breaks", "1"), "3 row(s) with NaN, infinite or non-positive",
                 "line 4: loss is NaN", "line 12: loss = 0", "line 13: params = -5",
                 "--drop-invalid")


def test_too_few_points(run, data, tmp_path):
    path = tmp_path / "short.csv"
    pd.read_csv(data / "one.csv").iloc[:5].to_csv(path, index=False)
    assert_error(run(path, "--breaks", "1"), "5 points are too few for 1 break(s)")
    # Every group too small: nothing to fit.
    groups = pd.read_csv(data / "groups.csv")
    path = tmp_path / "short_groups.csv"
    groups.groupby("lr").head(5).to_csv(path, index=False)
    proc = run(path, "--by", "lr", "--breaks", "2")
    assert_error(proc, "no group can be fitted: all 3 were skipped")
    assert proc.stderr.count("bnsl-fit: warning: skipping group lr=") == 3


def test_unwritable_outputs_fail_before_reading_or_fitting(run, data, tmp_path):
    # The data file does not exist: the output paths are checked before it is even read.
    missing = tmp_path / "missing.csv"
    assert_error(run(missing, "--output", tmp_path / "no_such_dir" / "out.json"),
                 "--output", "does not exist")
    (tmp_path / "fig.png").mkdir()
    assert_error(run(missing, "--plot", tmp_path / "fig.png"), "--plot", "is a folder")
    assert_error(run(missing, "--output", tmp_path / "out.txt"), "unknown format .txt",
                 ".json, .csv")
    assert_error(run(missing, "--plot", tmp_path / "fig.gif"), ".png, .pdf, .svg")
    assert not (tmp_path / "no_such_dir").exists()


def test_unknown_fixture_lists_names(run):
    assert_error(run("--fixture", "imagenet"), "unknown fixture 'imagenet'",
                 "double_descent_model", "grokking")


def call(argv, capsys) -> str:
    """Run the command in this process (for errors argparse or the command raise early)."""
    from bnsl.cli import main

    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    (line,) = err.splitlines()
    assert line.startswith("bnsl-fit: error: ")
    return line


def test_bad_options(data, tmp_path, capsys):
    one = data / "one.csv"
    assert "'auto' or an integer" in call([one, "--breaks", "many"], capsys)
    assert "--breaks: must be 'auto' or an integer from 0 to" in call([one, "--breaks", "9"],
                                                                        capsys)
    assert "--max-breaks: must be an integer from 0 to" in call([one, "--max-breaks", "7"], capsys)
    assert "between 0 and 1" in call([one, "--level", "90"], capsys)
    assert "positive" in call([one, "--predict", "-3"], capsys)
    assert "HI must be larger" in call([one, "--predict-range", "1e9", "1e8", "5"], capsys)
    assert "no input" in call([], capsys)
    assert "not both" in call([one, "--fixture", "grokking"], capsys)
    assert "both are column 'loss'" in call([one, "--x", "loss", "--y", "loss"], capsys)
    path = tmp_path / "three.csv"
    pd.DataFrame({"a": [1, 2], "b": [1, 2], "c": [1, 2]}).to_csv(path, index=False)
    line = call([path], capsys)
    assert "cannot tell which columns hold x and y" in line and "--x COL and --y COL" in line
    assert "pass --y COL" in call([path, "--x", "a"], capsys)


# ---------------------------------------------------------------------------
# Help, version, module entry point, progress bar
# ---------------------------------------------------------------------------


def test_help_teaches_with_examples(run):
    proc = run("--help")
    assert proc.returncode == 0
    for text in ("examples:", "bnsl-fit runs.csv --x params --y loss --predict 1e9 1e10",
                 "--by lr seed", "--predict-range", "cat runs.csv | bnsl-fit -", "--fixture",
                 "--output fits.json --plot fits.png", "outputs:", "exit status"):
        assert text in proc.stdout, text


def test_version_and_module_entry_point(run):
    import bnsl

    for cmd in (command(), [sys.executable, "-m", "bnsl.cli"]):
        proc = run("--version", cmd=cmd)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"bnsl-fit {bnsl.__version__}"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_for_many_curves():
    from bnsl.cli import Progress

    tty = _Terminal()
    bar = Progress(8, stream=tty)
    for done in range(9):
        bar.update(done, f"group {done}")
    bar.clear()
    text = tty.getvalue()
    assert "\r" in text and "8/8 curves" in text and "[" + "#" * 24 + "]" in text
    assert text.endswith("\r")  # cleared: the report after it starts on a clean line

    for stream, total in ((io.StringIO(), 8), (_Terminal(), 5)):
        bar = Progress(total, stream=stream)
        bar.update(1)
        bar.clear()
        assert stream.getvalue() == ""
