"""Batch sweeps (`run.py sweep`, analysis/sweep.py, docs/sweeps.md).

- designs: the expected points (grid size and order, ranges, paired, LHS bounds and strata, SALib row
  counts for sobol and morris), common random numbers across design points;
- equality: the same tidy results, summary and failures serially, with 2 local worker processes and
  on a Dask cluster of 2 worker processes (distributed.LocalCluster on 127.0.0.1);
- resume: a `run.py sweep` subprocess is SIGKILLed after some runs finished, then re-run: the
  results equal those of an uninterrupted sweep; a directory with another sweep's manifest is refused;
- failures: a run that raises (a combination of values that is not a valid scenario) is recorded in
  failed.jsonl and the others go on; a worker process that dies is found and recorded too;
- bad sweep files: exit 2, one message naming the file and the field path;
- sensitivity indices of sobol and morris designs; the EMA Workbench example of docs/ema_workbench.md.

Models are tiny (120 cities, 4 steps), so each run takes a fraction of a second.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run as cli
from analysis.sweep import _task, load_sweep, replication_seeds, run_one, run_sweep
from model.loading import load_scenario
from model.model import CityDiplomacyModel

BASELINE = REPO / "scenarios" / "baseline.yaml"
TINY = {"cities.n": 120, "networks.initial": 8}
METRICS = ["n_networks", "mean_memberships", "fragmentation_index", "mean_capacity"]


def write_sweep(path: Path, **fields) -> Path:
    """A sweep file with tiny runs; keyword arguments replace or add top-level fields."""
    spec = {"scenario": str(BASELINE), "set": dict(TINY), "steps": 4, "seed": 7, "replications": 2,
            "parameters": {"resources.pool": [60, 180]}, "design": "grid",
            "record": {"metrics": METRICS, "every_step": True}}
    spec.update(fields)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def results(d: Path) -> pd.DataFrame:
    return pd.read_parquet(d / "results.parquet")


def failures(d: Path) -> dict:
    f = d / "failed.jsonl"
    if not f.exists():
        return {}
    recs = [json.loads(line) for line in f.read_text().splitlines()]
    return {r["run_id"]: (r["parameters"], r["seed"], r["error"]) for r in recs}


# A 2 x 2 grid whose point 3 is not a valid scenario (invitation + competitive + threshold shares > 1):
# its runs raise in the worker, the others go on.
FAILING = {"parameters": {"networks.invitation_share": [0.1, 0.5], "networks.competitive_share": [0.1, 0.5]}}


# ================================================================================ designs
def test_grid_points_order_and_types(tmp_path):
    f = write_sweep(tmp_path / "g.yaml", parameters={
        "resources.pool": [50, 100, 150],
        "networks.founders": {"range": {"start": 3, "stop": 7, "step": 2}},
        "knowledge.nonmember_learning": {"range": {"start": 0.01, "stop": 0.03, "step": 0.01}},
        "spillover.up": [True, False]})
    sw = load_sweep(f)
    assert sw.n_points == 3 * 3 * 3 * 2 and sw.n_runs == sw.n_points * 2
    assert sw.points[0] == {"resources.pool": 50.0, "networks.founders": 3, "knowledge.nonmember_learning": 0.01,
                            "spillover.up": True}
    assert sw.points[1]["spillover.up"] is False  # the last parameter varies fastest
    assert sorted({p["knowledge.nonmember_learning"] for p in sw.points}) == [0.01, 0.02, 0.03]  # inclusive, exact
    assert all(isinstance(p["networks.founders"], int) for p in sw.points)  # int field: ints
    assert all(isinstance(p["resources.pool"], float) for p in sw.points)  # float field: floats
    assert sw.run_id(3, 1) == "p00003_r001"


def test_paired_and_range_num(tmp_path):
    f = write_sweep(tmp_path / "p.yaml", design="paired", parameters={
        "resources.pool": [50, 100, 150], "resources.gamma": {"range": {"start": 1, "stop": 2, "num": 3}}})
    sw = load_sweep(f)
    assert [(p["resources.pool"], p["resources.gamma"]) for p in sw.points] == [(50, 1.0), (100, 1.5), (150, 2.0)]


def test_lhs_bounds_strata_and_integers(tmp_path):
    f = write_sweep(tmp_path / "l.yaml", design={"kind": "lhs", "samples": 20}, parameters={
        "resources.pool": {"low": 40, "high": 300},
        "resources.gamma": {"dist": "loguniform", "low": 0.5, "high": 4},
        "networks.founders": {"low": 3, "high": 20},
        "knowledge.nonmember_learning": {"dist": "normal", "mean": 0.04, "sd": 0.03, "low": 0.0, "high": 0.1},
        "networks.convergence": {"dist": "triangular", "low": 0.2, "high": 0.9, "mode": 0.6}})
    sw = load_sweep(f)
    assert sw.n_points == 20
    # Latin hypercube: every dimension has exactly one point in each of the 20 strata
    for j in range(sw.unit.shape[1]):
        assert sorted((sw.unit[:, j] * 20).astype(int)) == list(range(20))
    bounds = {"resources.pool": (40, 300), "resources.gamma": (0.5, 4), "networks.founders": (3, 20),
              "knowledge.nonmember_learning": (0, 0.1), "networks.convergence": (0.2, 0.9)}
    for k, (lo, hi) in bounds.items():
        vals = [p[k] for p in sw.points]
        assert min(vals) >= lo and max(vals) <= hi, k
    assert all(isinstance(p["networks.founders"], int) for p in sw.points)
    assert load_sweep(f).points == sw.points  # reproducible (design seed = the sweep's seed)


@pytest.mark.parametrize("second_order, rows", [(False, 8 * (3 + 2)), (True, 8 * (2 * 3 + 2))])
def test_sobol_rows(tmp_path, second_order, rows):
    f = write_sweep(tmp_path / "s.yaml", replications=1,
                    design={"kind": "sobol", "samples": 8, "second_order": second_order},
                    parameters={"resources.pool": {"low": 40, "high": 300}, "resources.gamma": {"low": 0.5, "high": 3},
                                "governance.city_first": {"low": 0, "high": 1}})
    sw = load_sweep(f)
    assert sw.n_points == rows and sw.unit.shape == (rows, 3)
    assert all(40 <= p["resources.pool"] <= 300 for p in sw.points)


def test_morris_rows_and_levels(tmp_path):
    f = write_sweep(tmp_path / "m.yaml", replications=1, design={"kind": "morris", "samples": 5, "num_levels": 4},
                    parameters={"resources.pool": {"low": 40, "high": 100}, "resources.gamma": {"low": 1, "high": 2},
                                "networks.invitation_share": [0.0, 0.1, 0.2, 0.3]})
    sw = load_sweep(f)
    assert sw.n_points == 5 * (3 + 1)
    assert {p["resources.pool"] for p in sw.points} <= {40.0, 60.0, 80.0, 100.0}  # the 4 levels of the grid
    assert {p["networks.invitation_share"] for p in sw.points} <= {0.0, 0.1, 0.2, 0.3}


def test_common_random_numbers(tmp_path):
    sw = load_sweep(write_sweep(tmp_path / "c.yaml", replications=3))
    runs = list(sw.runs())
    seeds_by_point = {}
    for rid, p, r, params, seed in runs:
        seeds_by_point.setdefault(p, []).append(seed)
    assert all(s == sw.seeds for s in seeds_by_point.values())  # the same seeds at every design point
    assert sw.seeds == replication_seeds(7, 3) and len(set(sw.seeds)) == 3
    children = np.random.SeedSequence(7).spawn(3)
    assert sw.seeds[1] == int(children[1].generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def test_run_one_is_the_model(tmp_path):
    sw = load_sweep(write_sweep(tmp_path / "o.yaml"))
    df = run_one(sw.base, {"resources.pool": 60}, 5, None, {"metrics": METRICS, "every_step": True})
    cfg = load_scenario(BASELINE, overrides={**TINY, "steps": 4, "resources.pool": 60, "seed": 5})
    m = CityDiplomacyModel.from_scenario(cfg)
    m.run()
    pd.testing.assert_frame_equal(df, m.timeseries()[["step", "year", *METRICS]])
    last = run_one(str(BASELINE), {**TINY, "steps": 4, "resources.pool": 60}, 5, None,
                   {"metrics": METRICS, "every_step": False})
    pd.testing.assert_frame_equal(last, df.iloc[[-1]].reset_index(drop=True))


# ================================================================================ equality across back-ends
def test_serial_two_workers_and_dask_agree(tmp_path):
    from distributed import LocalCluster

    f = write_sweep(tmp_path / "eq.yaml", **FAILING)
    sw = load_sweep(f)
    assert sw.n_runs == 8 and sw.warnings  # point 3 is flagged before running
    serial = run_sweep(sw, tmp_path / "serial", workers=1, quiet=True)
    local = run_sweep(sw, tmp_path / "local", workers=2, quiet=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        dask = run_sweep(sw, tmp_path / "dask", scheduler=cluster.scheduler_address, quiet=True)
    for r in (serial, local, dask):
        assert (r.finished, r.failed, r.ran) == (6, 2, 8)
    ref = results(tmp_path / "serial")
    assert len(ref) == 6 * 5 and list(ref.columns[:7]) == ["run_id", "point", "replication",
                                                           "networks.invitation_share",
                                                           "networks.competitive_share", "seed", "step"]
    summary = (tmp_path / "serial" / "summary.csv").read_text()
    as_csv = pd.read_csv(tmp_path / "serial" / "results.csv")  # the same table for spreadsheets
    assert len(as_csv) == len(ref) and list(as_csv.columns) == list(ref.columns)
    assert np.allclose(as_csv["seed"].to_numpy(float), ref["seed"].to_numpy(float))
    for name in ("local", "dask"):
        pd.testing.assert_frame_equal(results(tmp_path / name), ref)
        assert (tmp_path / name / "summary.csv").read_text() == summary
        assert failures(tmp_path / name) == failures(tmp_path / "serial")
    assert set(failures(tmp_path / "serial")) == {"p00003_r000", "p00003_r001"}
    assert "must be at most 1" in failures(tmp_path / "serial")["p00003_r000"][2]
    assert sorted(p.name for p in (tmp_path / "serial" / "runs").iterdir()) == [
        f"p0000{p}_r00{r}.parquet" for p in range(3) for r in range(2)]


def test_summary_statistics(tmp_path):
    f = write_sweep(tmp_path / "s.yaml", replications=3, record={"metrics": METRICS, "every_step": False})
    d = tmp_path / "out"
    run_sweep(f, d, workers=1, quiet=True)
    res = results(d)
    assert len(res) == 2 * 3 and (res["step"] == 4).all()
    s = pd.read_csv(d / "summary.csv")
    assert list(s.columns) == ["point", "resources.pool", "metric", "n", "mean", "sd", "ci_low", "ci_high",
                               "reliable", "clipped"]
    row = s[(s.point == 1) & (s.metric == "mean_capacity")].iloc[0]
    x = res.loc[res.point == 1, "mean_capacity"].to_numpy()
    half = 4.302652729911275 * x.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 df)
    assert row.n == 3 and row["mean"] == pytest.approx(x.mean()) and row.sd == pytest.approx(x.std(ddof=1))
    assert not row.clipped and 0 < x.mean() - half
    assert (row.ci_low, row.ci_high) == (pytest.approx(x.mean() - half), pytest.approx(x.mean() + half))
    assert s["reliable"].all()  # n = 3
    assert (d / "sweep_grid.png").stat().st_size > 10_000  # a grid sweep's figure
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["runs"]["p00001_r002"] == {"point": 1, "replication": 2, "parameters": {"resources.pool": 180.0},
                                               "seed": manifest["seeds"][2]}


def test_summary_intervals_stay_in_range_and_flag_small_n(tmp_path):
    """Two replications: t(0.975, 1 df) = 12.7 makes wide intervals, which must not leave a metric's
    possible range (fragmentation_index: 0 to 1), and n = 2 is flagged as unreliable."""
    from model.metric_dictionary import describe

    f = write_sweep(tmp_path / "s.yaml", replications=2, record={"metrics": METRICS, "every_step": False})
    run_sweep(f, tmp_path / "out", workers=1, quiet=True)
    s = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert not s["reliable"].any()
    res = results(tmp_path / "out")
    for r in s.itertuples():
        meta = describe(r.metric)
        x = res.loc[res.point == r.point, r.metric].to_numpy()
        half = 12.706204736174698 * x.std(ddof=1) / np.sqrt(2)
        raw = (x.mean() - half, x.mean() + half)
        lo = raw[0] if meta.low is None else max(raw[0], meta.low)
        hi = raw[1] if meta.high is None else min(raw[1], meta.high)
        assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi)), r.metric
        assert r.clipped == ((lo, hi) != raw)
    assert s["clipped"].any(), "some interval of this tiny sweep crosses a bound"


def test_grid_figure_has_a_panel_per_metric_and_parameter():
    from analysis.figures import fig_sweep_grid

    rows = []
    for p, (pool, gamma) in enumerate([(60, 1.0), (60, 2.0), (180, 1.0), (180, 2.0)]):
        for m, base in (("fragmentation_index", 0.5), ("n_networks", 40.0)):
            rows.append({"point": p, "resources.pool": pool, "resources.gamma": gamma, "metric": m, "n": 3,
                         "mean": base + pool / 1000 + gamma / 10, "sd": 0.01, "ci_low": base, "ci_high": base + 0.4})
    fig = fig_sweep_grid(pd.DataFrame(rows), ["resources.pool", "resources.gamma"], ["n_networks", "fragmentation_index"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    titles = [ax.get_title() for ax in axes]
    assert titles == ["Fragmentation index"] * 2 + ["Operating networks"] * 2  # key metrics first
    assert axes[0].get_ylabel() == "index (0-1)" and axes[-1].get_xlabel() == "resources.gamma"
    assert all(len(ax.lines) == 2 and len(ax.collections) == 2 for ax in axes)  # a line and a band per value
    labels = {t.get_text() for leg in fig.legends for t in leg.get_texts()}
    assert {"resources.gamma = 1", "resources.gamma = 2", "resources.pool = 60", "resources.pool = 180"} == labels


# ================================================================================ failures
def crash_one(run_id, *args):
    """A task for the worker-death test: the worker running p00001_r000 dies without a word."""
    if run_id == "p00001_r000":
        os._exit(3)
    return _task(run_id, *args)


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path):
    d = tmp_path / "out"
    r = run_sweep(write_sweep(tmp_path / "f.yaml", replications=1, **FAILING), d, workers=1, quiet=True)
    assert (r.finished, r.failed) == (3, 1)
    rec = json.loads((d / "failed.jsonl").read_text())
    assert rec["run_id"] == "p00003_r000" and rec["point"] == 3 and rec["seed"] == replication_seeds(7, 1)[0]
    assert set(rec) == {"run_id", "point", "replication", "parameters", "seed", "error", "traceback"}
    assert rec["parameters"] == {"networks.invitation_share": 0.5, "networks.competitive_share": 0.5}
    assert "OverrideError" in rec["error"] and "at most 1" in rec["error"] and "Traceback" in rec["traceback"]
    assert sorted(results(d)["point"].unique()) == [0, 1, 2]
    s = pd.read_csv(d / "summary.csv")
    assert (s.loc[s.point == 3, "n"] == 0).all()


def test_a_dying_worker_is_found_and_recorded(tmp_path):
    d = tmp_path / "out"
    r = run_sweep(write_sweep(tmp_path / "k.yaml"), d, workers=2, quiet=True, task=crash_one)
    assert (r.finished, r.failed) == (3, 1)
    assert list(failures(d)) == ["p00001_r000"] and "died" in failures(d)["p00001_r000"][2]


# ================================================================================ resume
def test_kill_and_resume_equals_an_uninterrupted_sweep(tmp_path):
    f = write_sweep(tmp_path / "r.yaml", replications=4, parameters={
        "networks.invitation_share": [0.1, 0.2, 0.5], "networks.competitive_share": [0.1, 0.3, 0.5]})
    sw = load_sweep(f)
    assert sw.n_runs == 36
    d = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "sweep", str(f), "--out", str(d), "--workers", "1",
                             "--quiet"], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((d / "runs").glob("*.parquet"))) >= 3 if (d / "runs").is_dir() else False:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = len(list((d / "runs").glob("*.parquet"))) + len(failures(d))
    assert json.loads((d / "manifest.json").read_text())["design"]["runs"] == 36
    assert 3 <= before < 36 and not (d / "results.parquet").exists()
    # debris a kill can leave: a temporary file and a half-written line
    (d / "runs" / ".p00008_r003.parquet.tmp-99999").write_bytes(b"PAR1 half")
    with open(d / "failed.jsonl", "a") as fh:
        fh.write('{"run_id": "p00008_r0')
    resumed = run_sweep(f, d, workers=1, quiet=True)
    assert resumed.ran == 36 - before and (resumed.finished, resumed.failed) == (32, 4)
    ref = run_sweep(f, tmp_path / "ref", workers=1, quiet=True)
    assert ref.ran == 36
    pd.testing.assert_frame_equal(results(d), results(tmp_path / "ref"))
    assert (d / "summary.csv").read_text() == (tmp_path / "ref" / "summary.csv").read_text()
    assert failures(d) == failures(tmp_path / "ref")
    assert not [p for p in d.rglob(".*tmp*")]
    # a third run has nothing to do and changes nothing
    again = run_sweep(f, d, workers=1, quiet=True)
    assert again.ran == 0
    pd.testing.assert_frame_equal(results(d), results(tmp_path / "ref"))


def test_resume_runs_only_what_is_missing(tmp_path):
    f = write_sweep(tmp_path / "m.yaml", replications=3, **FAILING)
    d = tmp_path / "out"
    run_sweep(f, d, workers=1, quiet=True)
    full = results(d)
    for rid in ("p00000_r001", "p00002_r002"):
        (d / "runs" / f"{rid}.parquet").unlink()
    (d / "results.parquet").unlink()
    r = run_sweep(f, d, workers=1, quiet=True)
    assert r.ran == 2 and (r.finished, r.failed) == (9, 3)
    pd.testing.assert_frame_equal(results(d), full)
    r = run_sweep(f, d, workers=1, quiet=True, retry_failed=True)  # failed runs run again, and fail again
    assert r.ran == 3 and r.failed == 3 and len(failures(d)) == 3


def test_a_different_sweep_in_the_directory_is_refused(tmp_path, capsys):
    f = write_sweep(tmp_path / "a.yaml")
    d = tmp_path / "out"
    assert cli.main(["sweep", str(f), "--out", str(d), "--workers", "1", "--quiet"]) == 0
    before = sorted(p.name for p in d.rglob("*"))
    g = write_sweep(tmp_path / "b.yaml", parameters={"resources.pool": [60, 200]})
    assert cli.main(["sweep", str(g), "--out", str(d), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--out {d}" in err and "different sweep" in err and "resources.pool" in err and "Traceback" not in err
    assert sorted(p.name for p in d.rglob("*")) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert cli.main(["sweep", str(f), "--out", str(other), "--quiet"]) == 2
    assert "holds no sweep" in capsys.readouterr().err


# ================================================================================ bad sweep files
BAD = [
    # (case, fields replacing the defaults of write_sweep, field path in the message, what it says)
    ("unknown parameter path", {"parameters": {"resources.poool": [1, 2]}}, "parameters.resources.poool",
     "unknown field 'poool'"),
    ("unknown section", {"parameters": {"resourcez.pool": [1, 2]}}, "parameters.resourcez.pool", "unknown field"),
    ("empty range", {"parameters": {"resources.pool": {"range": {"start": 5, "stop": 1, "step": 1}}}},
     "parameters.resources.pool.range", "empty range"),
    ("zero step", {"parameters": {"resources.pool": {"range": {"start": 1, "stop": 5, "step": 0}}}},
     "parameters.resources.pool.range", "step must be > 0"),
    ("empty values", {"parameters": {"resources.pool": []}}, "parameters.resources.pool.values", "empty list"),
    ("reversed bounds", {"design": {"kind": "lhs", "samples": 4},
                         "parameters": {"resources.pool": {"low": 200, "high": 50}}},
     "parameters.resources.pool", "low (200) must be below high (50)"),
    ("zero replications", {"replications": 0}, "replications", "must be >= 1"),
    ("unknown design", {"design": "factorial"}, "design.kind", "'factorial' is not allowed; expected one of: 'grid'"),
    ("NaN value", {"parameters": {"resources.pool": [1.0, float("nan")]}}, "parameters.resources.pool.values",
     "finite number"),
    ("value out of range", {"parameters": {"resources.gamma": [1, 50]}}, "parameters.resources.gamma.values.1",
     "must be <= 20"),
    ("unknown metric", {"record": {"metrics": ["fragmentation"]}}, "record.metrics.0", "unknown metric"),
    ("unknown top-level key", {"replicates": 3}, "replicates", "unknown field"),
    ("paired lengths differ", {"design": "paired", "parameters": {"resources.pool": [1, 2],
                                                                  "resources.gamma": [1, 2, 3]}},
     "parameters.resources.gamma", "same number"),
    ("distribution in a grid", {"parameters": {"resources.pool": {"low": 1, "high": 2}}}, "parameters.resources.pool",
     "distributions"),
    ("sobol samples", {"design": {"kind": "sobol", "samples": 10},
                       "parameters": {"resources.pool": {"low": 1, "high": 2}, "resources.gamma": {"low": 1, "high": 2}}},
     "design", "power of 2"),
    ("lhs without samples", {"design": "lhs", "parameters": {"resources.pool": {"low": 1, "high": 2}}}, "design",
     "needs samples"),
    ("seed as a parameter", {"parameters": {"seed": [1, 2]}}, "parameters.seed", "replications"),
    ("unknown fixed override", {"set": {"resources.poool": 3}}, "set.resources.poool", "unknown field"),
    ("missing base scenario", {"scenario": "nowhere.yaml"}, "scenario", "not found"),
]


@pytest.mark.parametrize("case, fields, where, what", BAD, ids=[b[0] for b in BAD])
def test_bad_sweep_file_exits_2_naming_file_and_field(tmp_path, capsys, case, fields, where, what):
    f = write_sweep(tmp_path / "bad.yaml", **fields)
    out = tmp_path / "out"
    for argv in (["check", str(f)], ["sweep", str(f), "--out", str(out), "--workers", "1"]):
        assert cli.main(argv) == 2, case
        err = capsys.readouterr().err
        assert err.startswith(f"error: {f}: {where}: ") and what in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_flags_exit_2(tmp_path, capsys):
    f = write_sweep(tmp_path / "ok.yaml")
    for argv, what in [(["sweep", str(f), "--workers", "0"], "--workers"),
                       (["sweep", str(f), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers"),
                       (["sweep", str(f), "--scheduler", "a", "--scheduler-file", "b"], "not allowed with"),
                       (["sweep", str(f), "--scheduler-file", str(tmp_path / "none.json")], "file not found")]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert what in err and "Traceback" not in err, err


def test_check_and_schema(tmp_path, capsys):
    for f in sorted((REPO / "scenarios" / "sweeps").glob("*.yaml")):  # every shipped sweep file is valid
        assert cli.main(["check", str(f)]) == 0, f
        text = capsys.readouterr().out
        assert text.startswith(f"# {f}: valid sweep: ")
        assert yaml.safe_load(text)["resolved"]["runs"] >= 8
    smoke = load_sweep(REPO / "scenarios" / "sweeps" / "smoke.yaml")
    assert smoke.n_runs >= 8 and smoke.base["cities"]["n"] <= 300 and smoke.base["steps"] <= 10
    morris = load_sweep(REPO / "scenarios" / "sweeps" / "morris_screening.yaml")
    assert morris.spec.design.kind == "morris" and len(morris.paths) >= 8
    assert cli.main(["check", str(write_sweep(tmp_path / "w.yaml", **FAILING))]) == 0
    assert "# warning: 1 of 4 design points are not valid scenarios" in capsys.readouterr().out
    assert cli.main(["schema", "sweep"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"parameters", "design", "replications", "record", "set", "scenario"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


# ================================================================================ sensitivity
@pytest.mark.parametrize("design, columns", [
    ({"kind": "morris", "samples": 3, "num_levels": 4, "num_resamples": 50},
     ["metric", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"]),
    ({"kind": "sobol", "samples": 4, "num_resamples": 50},
     ["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"]),
])
def test_sensitivity_indices(tmp_path, design, columns):
    f = write_sweep(tmp_path / "sa.yaml", replications=1, design=design,
                    parameters={"resources.pool": {"low": 30, "high": 300}, "resources.gamma": {"low": 0.5, "high": 3}},
                    record={"metrics": ["n_networks", "mean_capacity"], "every_step": False})
    d = tmp_path / "out"
    r = run_sweep(f, d, workers=1, quiet=True)
    assert "sensitivity.csv" in r.files and "sensitivity.png" in r.files
    s = pd.read_csv(d / "sensitivity.csv")
    assert list(s.columns) == columns and len(s) == 2 * 2
    assert set(s.parameter) == {"resources.pool", "resources.gamma"}
    assert (d / "sensitivity.png").stat().st_size > 5000
    if design["kind"] == "morris":
        assert (s.mu_star >= 0).all() and (s.mu_star >= s.mu.abs() - 1e-12).all()


# ================================================================================ EMA Workbench
# about 15 s, mostly importing the workbench (scikit-learn, statsmodels); in the default run, as CI must show it
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:The inplace keyword")
def test_ema_workbench_example_runs():
    pytest.importorskip("ema_workbench", reason="ema-workbench does not install or import on this Python")
    doc = (REPO / "docs" / "ema_workbench.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.DOTALL).group(1)
    small = "SCENARIOS, REPLICATIONS, CITIES, STEPS = 16, 2, 100, 4"
    code, n = re.subn(r"^SCENARIOS, REPLICATIONS, CITIES, STEPS = .*$", small, code, flags=re.MULTILINE)
    assert n == 1
    import matplotlib

    matplotlib.use("Agg")
    ns: dict = {"__name__": "ema_example"}
    exec(compile(code, "docs/ema_workbench.md", "exec"), ns)  # noqa: S102 - the documented example, as written
    experiments, outcomes = ns["experiments"], ns["outcomes"]
    assert len(experiments) == 16 and len(outcomes["fragmentation_index"]) == 16
    assert np.isfinite(outcomes["fragmentation_index"]).all()
    assert ns["box"] is not None


def test_a_second_sweep_into_the_same_directory_is_refused(tmp_path, capsys):
    import fcntl

    f = write_sweep(tmp_path / "a.yaml")
    d = tmp_path / "out"
    assert cli.main(["sweep", str(f), "--out", str(d), "--workers", "1", "--quiet"]) == 0
    with open(d / ".lock", "a+") as fh:  # as if another `run.py sweep` were running into d
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        assert cli.main(["sweep", str(f), "--out", str(d), "--workers", "1", "--quiet"]) == 2
    assert "another run.py sweep is writing into this directory" in capsys.readouterr().err
    assert cli.main(["sweep", str(f), "--out", str(d), "--workers", "1", "--quiet"]) == 0  # free again
