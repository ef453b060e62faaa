import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import bnsl

RNG = np.random.default_rng(7)


def curve(n_points, n_breaks, seed):
    rng = np.random.default_rng(seed)
    x = np.logspace(0, 4, n_points)
    law = bnsl.BNSLParams(0.05, 3.0, 0.25, rng.uniform(0.4, 1.0, n_breaks),
                          np.sort(10 ** rng.uniform(1, 3, n_breaks)), np.full(n_breaks, 0.2))
    return x, np.asarray(bnsl.predict(law, x)) * np.exp(0.01 * rng.normal(size=n_points))


@pytest.fixture(scope="module")
def frame():
    parts = []
    for key, (m, n) in enumerate([(40, 1), (50, 0), (60, 1)]):
        x, y = curve(m, n, key)
        parts.append(pd.DataFrame({"task": f"t{key}", "x": x, "y": y}))
    bad = pd.DataFrame({"task": "broken", "x": [1.0, 2.0, 3.0], "y": [1.0, np.nan, 0.5]})
    return pd.concat(parts + [bad], ignore_index=True)


@pytest.fixture(scope="module")
def fits(frame):
    return bnsl.fit_many(frame, x="x", y="y", by="task", max_breaks=1, progress=False)


@pytest.fixture(scope="module")
def batched_fits(frame):
    # Few curves are fitted one by one on CPU; force the batch programs (static n).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bnsl.batch, "BATCH_FROM_CURVES", 0)
        return bnsl.fit_many(frame, x="x", y="y", by="task", max_breaks=1, progress=False)


@pytest.fixture(scope="module")
def singles(frame):
    return {task: bnsl.fit(group.x, group.y, max_breaks=1)
            for task, group in frame[frame.task != "broken"].groupby("task")}


@pytest.mark.parametrize("which", ["fits", "batched_fits"])
def test_batch_equals_a_loop_of_single_fits(which, singles, request):
    fits = request.getfixturevalue(which)
    grid = np.logspace(-1, 6, 30)
    for task, single in singles.items():
        batch = fits[task]
        assert batch.n_breaks == single.n_breaks
        np.testing.assert_allclose(batch.predict(grid), single.predict(grid), rtol=1e-6)
        assert batch.log_evidence == pytest.approx(single.log_evidence, rel=1e-6)
        for n, cand in single.candidates.items():
            assert batch.candidates[n].log_evidence == pytest.approx(cand.log_evidence, rel=1e-6)


def test_batch_programs_with_every_break_agree_with_single_fits(monkeypatch):
    # n = 3 exercises every break slot of the static-n solver but the spare one.
    monkeypatch.setattr(bnsl.batch, "BATCH_FROM_CURVES", 0)
    pairs = [curve(45, 3, 11), curve(50, 2, 12)]
    fits = bnsl.fit_many(pairs, n_breaks=3, progress=False)
    grid = np.logspace(-1, 5, 30)
    for (x, y), batch in zip(pairs, fits.values()):
        single = bnsl.fit(x, y, n_breaks=3)
        np.testing.assert_allclose(batch.predict(grid), single.predict(grid), rtol=1e-6)
        assert batch.log_evidence == pytest.approx(single.log_evidence, rel=1e-6)


def test_a_failing_curve_gets_a_row_saying_why(fits):
    assert isinstance(fits["broken"], bnsl.FitFailure)
    assert "NaN" in fits["broken"].reason
    table = fits.to_frame()
    assert list(table.task) == ["broken", "t0", "t1", "t2"]
    broken = table.set_index("task").loc["broken"]
    assert broken.status == "failed" and "NaN" in broken.message
    ok = table[table.task != "broken"]
    assert ok.converged.all() and (ok.rmsle < 0.05).all()
    assert {"n_breaks", "a", "b", "c0", "log_evidence_0", "log_evidence_1"} <= set(table.columns)


def test_pairs_and_dicts_are_accepted_and_keyed():
    pairs = [curve(30, 0, 1), curve(30, 0, 2)]
    by_pos = bnsl.fit_many(pairs, n_breaks=0, progress=False)
    by_name = bnsl.fit_many({"a": pairs[0], "b": pairs[1]}, n_breaks=0, progress=False)
    assert list(by_pos) == [0, 1] and list(by_name) == ["a", "b"]
    np.testing.assert_allclose(by_pos[1].params.c0, by_name["b"].params.c0, rtol=1e-9)


def test_bad_frames_name_the_argument(frame):
    with pytest.raises(ValueError, match=r"data: no column\(s\) \['loss'\]"):
        bnsl.fit_many(frame, x="x", y="loss", by="task")
    with pytest.raises(ValueError, match="^x, y:"):
        bnsl.fit_many(frame)
    with pytest.raises(ValueError, match="^data:"):
        bnsl.fit_many(42)


def test_batches_shard_over_several_devices_with_the_same_results():
    code = textwrap.dedent("""
        import jax, numpy as np, bnsl, bnsl.batch
        assert jax.device_count() == 2, jax.devices()
        bnsl.batch.BATCH_FROM_CURVES = 0  # few curves: force the sharded batch programs
        x = np.logspace(0, 3, 24)
        pairs = [(x, s * x ** -0.4) for s in (1.0, 2.0, 3.0)]
        # Small settings: this checks the multi-device path, not the solver's effort.
        quick = dict(n_breaks=0, n_starts=8, n_draws=128, max_iterations=20)
        fits = bnsl.fit_many(pairs, chunk_size=4, progress=False, **quick)
        for (cx, cy), f in zip(pairs, fits.values()):
            single = bnsl.fit(cx, cy, **quick)
            np.testing.assert_allclose(f.predict(x), single.predict(x), rtol=1e-6)
        print("ok")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             timeout=240)
    except subprocess.TimeoutExpired:
        # Known and open (issue 9): on two simulated CPU devices the run sometimes
        # hangs (it passes in under a minute otherwise). A wrong result still fails.
        pytest.xfail("two simulated CPU devices: fit_many hung (known intermittent problem)")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
