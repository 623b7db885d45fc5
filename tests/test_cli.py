"""End-to-end tests of the command line (`python run.py ...`, README).

Every case runs `run.py` in a subprocess with no terminal (stdin from /dev/null, stdout and stderr
piped), from the repository root unless it tests the default output directory.

Speed: starting `run.py` costs about 2-3 s (importing Mesa, pandas, scipy), so the subprocesses of
the tests selected in this module are started together, a few at a time, by the module fixture
`jobs`; each test then waits only for its own process. Selecting one test runs only its process.

Bad input (README: exit code 2, one clear message on stderr naming the file, the field path
and what is expected, no traceback, nothing left behind) is one parametrised test over `BAD`
(the main cases) and `BAD_EXTRA` (further cases, marked slow). Interrupted and failing runs are
tested in-process at the end, by monkeypatching the writers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.config import Scenario
from model.loading import load_scenario
from model.metrics import metric_names

BASELINE = REPO / "scenarios" / "baseline.yaml"
NETWORK_COLUMNS = ["network_id", "name", "theme", "rule", "scope", "founded", "dissolved", "members", "funds",
                   "partner_share", "openness", "misalignment", "engagement", "drift"]
CITY_COLUMNS = ["city_id", "name", "country", "region", "north", "population", "memberships", "practice_mean",
                "in_invitation_network"]
CITY_OPTIONAL = {"lat", "lon"}  # coordinates, where known (real cities)
TIMEOUT = 300


# ------------------------------------------------------------------------------------ helpers
@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    d: Path  # the case's own directory
    before: list[str]  # files under d before the run
    after: list[str]  # files under d after the run

    def show(self) -> str:
        return f"exit {self.rc}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-3000:]}"


def listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def run_cli(args: list[str], d: Path, cwd: Path | None = None) -> Result:
    """`python run.py ARGS` with no TTY; `{d}` in ARGS is replaced by the case directory."""
    d.mkdir(parents=True, exist_ok=True)
    before = listing(d)
    argv = [sys.executable, str(REPO / "run.py")] + [a.replace("{d}", str(d)) for a in args]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONBREAKPOINT",)}
    env["PYTHONHASHSEED"] = "random"
    p = subprocess.run(argv, cwd=str(cwd or REPO), env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT, check=False)
    return Result(p.returncode, p.stdout, p.stderr, d, before, listing(d))


def write_files(d: Path, files: dict[str, str | bytes]):
    for name, content in files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content.replace("{d}", str(d)))


def nested_yaml(levels: int) -> str:
    return "\n".join("  " * i + f"k{i}:" for i in range(levels)) + " 1\n"


def alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nname: laughs\n"


# ------------------------------------------------------------------------------------ bad input
# Each case: files to create in its directory, the arguments, and substrings that the one-line
# message on stderr must contain (`{d}` stands for the case directory). Run cases get an --out
# inside the case directory (unless `out=False`), so that "nothing left behind" can be checked.
RUN_TAIL = ["--out", "{d}/out", "--quiet"]
IV = "interventions:\n  - kind: {kind}\n    start: 1990\n"

BAD: dict[str, dict] = {
    "missing_file": {"args": ["run", "{d}/nope.yaml"], "expect": ["{d}/nope.yaml", "not found"]},
    "directory": {"files": {"adir/x.txt": "x"}, "args": ["run", "{d}/adir"], "expect": ["{d}/adir", "directory"]},
    "empty_file": {"files": {"s.yaml": ""}, "expect": ["empty"]},
    "binary_file": {"files": {"s.yaml": bytes(range(256)) * 4}, "expect": ["binary"]},
    "malformed_yaml": {"files": {"s.yaml": "name: [unclosed\nsteps: 3\n"}, "expect": ["malformed YAML", "line"]},
    # a tag that would construct a Python object and run a shell command: must not run
    "python_object_tag": {"files": {"s.yaml": '!!python/object/apply:os.system ["touch {d}/PWNED"]\n'},
                              "expect": ["not allowed"]},
    "python_object_tag_nested": {
        "files": {"s.yaml": 'resources:\n  pool: !!python/object/apply:os.system ["touch {d}/PWNED"]\n'},
        "expect": ["not allowed"]},
    "deep_nesting_200": {"files": {"s.yaml": nested_yaml(200)}, "expect": ["too deep"]},
    "alias_bomb": {"files": {"s.yaml": alias_bomb()}, "expect": ["too large"]},
    "unknown_key": {"files": {"s.yaml": "name: x\nbogus: 1\n"}, "expect": ["bogus", "unknown field", "resources"]},
    "unknown_nested_key": {"files": {"s.yaml": "resources:\n  poool: 50\n"},
                               "expect": ["resources.poool", "unknown field", "pool"]},
    "wrong_type": {"files": {"s.yaml": "cities:\n  n: lots\n"}, "expect": ["cities.n", "whole number", "lots"]},
    "nan": {"files": {"s.yaml": "resources:\n  pool: .nan\n"}, "expect": ["resources.pool", "finite"]},
    "infinity": {"files": {"s.yaml": "resources:\n  gamma: .inf\n"}, "expect": ["resources.gamma", "finite"]},
    "out_of_range": {"files": {"s.yaml": "networks:\n  invitation_share: 1.5\n"},
                         "expect": ["networks.invitation_share", "must be <= 1", "1.5"]},
    "unknown_intervention_kind": {"files": {"s.yaml": IV.format(kind="nope")},
                                      "expect": ["interventions.0.kind", "nope", "pandemic"]},
    "bad_intervention_param": {"files": {"s.yaml": IV.format(kind="pandemic") + "    params:\n      budget_cut: 5\n"},
                                   "expect": ["interventions.0.params.budget_cut", "must be <= 1"]},
    "bad_flag": {"args": ["run", str(BASELINE), "--bogus"], "expect": ["--bogus"]},
    "bad_set_path": {"args": ["run", str(BASELINE), "--set", "resources.poool=5"],
                         "expect": ["error: --set resources.poool=5: unknown field 'poool'", "pool"]},
    "set_without_equals": {"args": ["run", str(BASELINE), "--set", "resources.pool"],
                               "expect": ["error: --set resources.pool: expected dotted.key=VALUE"]},
    # errors in --set values name the flag as written, not the file
    "set_out_of_range": {"args": ["run", str(BASELINE), "--set", "resources.pool=-1"],
                             "expect": ["error: --set resources.pool=-1: must be >= 0"], "not_expect": [str(BASELINE)]},
    "set_breaks_a_section_rule": {"args": ["run", str(BASELINE), "--set", "networks.invitation_share=0.9"],
                                      "expect": ["error: --set networks.invitation_share=0.9: networks:", "at most 1"]},
    "seed_negative": {"args": ["run", str(BASELINE), "--seed", "-1"], "expect": ["error: --seed -1: must be >= 0"]},
    "run_given_a_sweep_file": {"args": ["run", "scenarios/sweeps/smoke.yaml"],
                                   "expect": ["scenarios/sweeps/smoke.yaml", "is a sweep file", "run.py sweep"]},
    "out_not_empty": {"files": {"out/keep.txt": "mine"}, "args": ["run", str(BASELINE), "--steps", "1"],
                          "expect": ["--out", "{d}/out", "not empty"]},
    # found while writing these tests (fixed in run.py / model/config.py)
    "set_through_a_value": {"args": ["run", str(BASELINE), "--set", "cities.n.x=1"], "expect": ["cities.n.x"]},
    "set_value_nested_too_deeply": {"args": ["run", str(BASELINE), "--set", "description=" + "[" * 3000 + "]" * 3000],
                                        "expect": ["--set", "description", "too deeply"]},
    "out_under_a_file": {"files": {"afile": "x"},
                             "args": ["run", str(BASELINE), "--steps", "1", "--out", "{d}/afile/sub"],
                             "out": False, "expect": ["--out", "{d}/afile"]},
    "intervention_fails_at_start": {
        "files": {"s.yaml": "steps: 3\ncities:\n  n: 50\ninterventions:\n  - kind: funding_withdrawal\n"
                         "    start: 1981\n    params:\n      network: Nope\n"},
        "expect": ["interventions.0.params.network", "Nope"]},
    # `check` validates the same way
    "check_missing_file": {"args": ["check", "{d}/nope.yaml"], "expect": ["{d}/nope.yaml", "not found"], "out": False},
    "check_unknown_nested_key": {"files": {"s.yaml": "resources:\n  poool: 50\n"}, "args": ["check", "{d}/s.yaml"],
                                     "expect": ["resources.poool"], "out": False},
}

BAD_EXTRA: dict[str, dict] = {
    "comment_only": {"files": {"s.yaml": "# nothing here\n"}, "expect": ["empty"]},
    "not_utf8": {"files": {"s.yaml": "name: caf\xe9\n".encode("latin-1")}, "expect": ["UTF-8"]},
    "deep_flow_nesting": {"files": {"s.yaml": "x: " + "[" * 5000 + "]" * 5000 + "\n"}, "expect": ["too deep"]},
    "top_level_list": {"files": {"s.yaml": "- 1\n- 2\n"}, "expect": ["mapping"]},
    "section_is_a_value": {"files": {"s.yaml": "cities: 5\n"}, "expect": ["cities"]},
    "negative_infinity": {"files": {"s.yaml": "resources:\n  growth: -.inf\n"}, "expect": ["resources.growth", "finite"]},
    "rule_shares_above_one": {
        "files": {"s.yaml": "networks:\n  invitation_share: 0.5\n  competitive_share: 0.4\n  threshold_share: 0.3\n"},
        "expect": ["networks", "at most 1"]},
    "intervention_end_before_start": {"files": {"s.yaml": IV.format(kind="pandemic") + "    end: 1985\n"},
                                          "expect": ["interventions.0", "end"]},
    "unknown_intervention_param": {"files": {"s.yaml": IV.format(kind="pandemic") + "    params:\n      bogus: 1\n"},
                                       "expect": ["interventions.0.params.bogus", "budget_cut"]},
    "intervention_unknown_issue": {
        "files": {"s.yaml": IV.format(kind="national_withdrawal") + "    params:\n      issue: space\n"},
        "expect": ["interventions.0.params.issue", "space", "climate"]},
    "intervention_end_before_start_short_run": {"files": {"s.yaml": "steps: 5\ninterventions:\n  - kind: pandemic\n    start: 1983\n    end: 1981\n"},
                                          "expect": ["interventions.0", "end", "1981"]},
    "bad_flag_value": {"args": ["run", str(BASELINE), "--steps", "three"], "expect": ["--steps", "three"]},
    "steps_zero": {"args": ["run", str(BASELINE), "--steps", "0"], "expect": ["--steps 0: must be >= 1"]},
    "unknown_command": {"args": ["frobnicate"], "expect": ["frobnicate"], "out": False},
    "set_nan": {"args": ["run", str(BASELINE), "--set", "resources.pool=.nan"], "expect": ["resources.pool", "finite"]},
    "set_empty_key": {"args": ["run", str(BASELINE), "--set", "=5"], "expect": ["--set =5: the key before '='"]},
    "set_missing_list_item": {"args": ["run", str(BASELINE), "--set", "interventions.0.start=1990"],
                                  "expect": ["interventions.0.start"]},
    "set_list_by_name": {"files": {"s.yaml": IV.format(kind="pandemic")},
                             "args": ["run", "{d}/s.yaml", "--set", "interventions.start=1991"],
                             "expect": ["interventions.start"]},
    "out_is_a_file": {"files": {"out": "x"}, "args": ["run", str(BASELINE), "--steps", "1"], "expect": ["--out", "{d}/out"]},
    "check_malformed_yaml": {"files": {"s.yaml": "a: b: c\n"}, "args": ["check", "{d}/s.yaml"],
                                 "expect": ["{d}/s.yaml", "malformed"], "out": False},
    "bad_set_path_default_out": {"files": {}, "args": ["run", str(BASELINE), "--set", "resources.poool=5"],
                                     "expect": ["resources.poool"], "out": False, "cwd_case": True},
}


def _bad_args(case: dict) -> list[str]:
    args = list(case.get("args", ["run", "{d}/s.yaml"]))
    if args[0] == "run" and case.get("out", True):
        args += RUN_TAIL
    elif args[0] == "run":
        args += ["--quiet"]
    return args


def _run_bad(name: str, root: Path) -> Result:
    case = {**BAD, **BAD_EXTRA}[name]
    d = root / name
    d.mkdir(parents=True)
    write_files(d, case.get("files", {}))
    return run_cli(_bad_args(case), d, cwd=d if case.get("cwd_case") else None)


# ------------------------------------------------------------------------------------ good runs
GOOD_JOBS = {
    # the main run: 300 cities, 3 steps, figures included
    "main_run": lambda d: run_cli(["run", "scenarios/baseline.yaml", "--out", "{d}/out", "--steps", "3",
                                   "--set", "cities.n=300", "--quiet"], d),
    # default output directory results/<name>-<timestamp>/ under the working directory
    "default_out": lambda d: run_cli(["run", str(BASELINE), "--steps", "1", "--set", "cities.n=50", "--quiet",
                                      "--no-figures"], d, cwd=d),
    # not quiet, no terminal: a summary line on stdout, no progress bar
    "not_quiet": lambda d: run_cli(["run", str(BASELINE), "--out", "{d}/out", "--steps", "2", "--set",
                                    "cities.n=50", "--no-figures"], d),
    "check": lambda d: run_cli(["check", "scenarios/baseline.yaml", "--set", "cities.n=123",
                                "--set", "resources.gamma=2.5"], d),
    "schema": lambda d: run_cli(["schema"], d),
    "no_command": lambda d: run_cli([], d),
}
FUNC_JOBS = {
    "test_run_exit_and_streams": ["main_run"], "test_run_files": ["main_run"], "test_run_timeseries": ["main_run"],
    "test_run_tables": ["main_run"], "test_run_summary": ["main_run"], "test_run_config_yaml": ["main_run"],
    "test_run_figures": ["main_run"], "test_run_default_out_dir": ["default_out"],
    "test_run_not_quiet_without_tty": ["not_quiet"], "test_check_prints_resolved_scenario": ["check"],
    "test_schema_is_valid_json_schema": ["schema"], "test_no_command_prints_usage": ["no_command"],
}


class Jobs:
    """Starts the subprocesses of the selected tests together; `get` waits for one."""

    def __init__(self, root: Path, names: list[str]):
        self.root = root
        self.pool = ThreadPoolExecutor(max_workers=min(4, (os.cpu_count() or 2) + 1))
        self.futures = {}
        for nm in names:
            self._submit(nm)

    def _submit(self, name: str):
        if name not in self.futures:
            if name in GOOD_JOBS:
                self.futures[name] = self.pool.submit(GOOD_JOBS[name], self.root / name)
            else:
                self.futures[name] = self.pool.submit(_run_bad, name, self.root)

    def get(self, name: str) -> Result:
        self._submit(name)
        return self.futures[name].result()


@pytest.fixture(scope="module")
def jobs(request, tmp_path_factory):
    here = request.module.__name__
    wanted: list[str] = []
    for item in request.session.items:
        if getattr(item, "module", None) is None or item.module.__name__ != here:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "case" in params:
            wanted.append(params["case"])
        wanted += FUNC_JOBS.get(getattr(item, "originalname", item.name), [])
    j = Jobs(tmp_path_factory.mktemp("cli"), list(dict.fromkeys(wanted)))
    yield j
    j.pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------ bad input tests
def _check_bad(r: Result, case: dict):
    msg = r.show()
    assert r.rc == 2, msg
    assert "Traceback" not in r.stderr, msg
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one message line on stderr\n{msg}"
    line = lines[0]
    assert line.startswith("error:"), msg
    for s in case["expect"]:
        s = s.replace("{d}", str(r.d))
        assert s in line, f"stderr should mention {s!r}\n{msg}"
    for s in case.get("not_expect", []):
        assert s not in line, f"stderr should not mention {s!r}\n{msg}"
    args = case.get("args", ["run", "{d}/s.yaml"])
    if "{d}/s.yaml" in args and "--set" not in args:  # errors in --set values name --set instead
        assert str(r.d / "s.yaml") in line, f"stderr should name the file\n{msg}"
    assert r.stdout == "", msg
    # nothing written, nothing half-written, nothing run (object tags)
    assert r.after == r.before, f"files appeared or vanished: {sorted(set(r.after) ^ set(r.before))}"
    assert not (r.d / "PWNED").exists()
    if case.get("cwd_case"):
        assert not (r.d / "results").exists()


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(jobs, case):
    _check_bad(jobs.get(case), BAD[case])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_EXTRA))
def test_bad_input_extra(jobs, case):
    _check_bad(jobs.get(case), BAD_EXTRA[case])


def test_out_not_empty_keeps_existing_content(jobs):
    r = jobs.get("out_not_empty")
    assert r.rc == 2, r.show()
    assert sorted(p.name for p in (r.d / "out").iterdir()) == ["keep.txt"]
    assert (r.d / "out" / "keep.txt").read_text() == "mine"


def test_no_command_prints_usage(jobs):
    r = jobs.get("no_command")
    assert r.rc == 2, r.show()
    assert "Traceback" not in r.stderr
    assert "usage" in r.stderr.lower()


# ------------------------------------------------------------------------------------ run
@pytest.fixture(scope="module")
def main_run(jobs) -> Result:
    return jobs.get("main_run")


@pytest.fixture(scope="module")
def out(main_run) -> Path:
    assert main_run.rc == 0, main_run.show()
    return main_run.d / "out"


def test_run_exit_and_streams(main_run):
    assert main_run.rc == 0, main_run.show()
    assert main_run.stdout == "", "--quiet must print nothing"
    assert main_run.stderr.strip() == "", f"--quiet without a terminal must print nothing on stderr\n{main_run.show()}"


def test_run_files(out):
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["config.yaml", "timeseries.parquet", "timeseries.csv", "networks.parquet", "networks.csv",
                            "cities.parquet", "cities.csv", "metrics.csv", "summary.json",
                            "figures"])  # no catalogue: no named_networks
    for name in ("networks", "cities"):  # every table also as CSV, with the same rows and columns
        pd.testing.assert_frame_equal(pd.read_csv(out / f"{name}.csv"), pd.read_parquet(out / f"{name}.parquet"),
                                      check_dtype=False)
    # the temporary directory was renamed into place, not left beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_run_timeseries(out):
    cfg = load_scenario(BASELINE, overrides={"cities.n": 300, "steps": 3})
    cols = ["step", "year"] + metric_names(cfg.issue_names)
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts.columns) == cols
    assert len(set(cols)) == len(cols)
    assert all(c.isidentifier() and c == c.lower() for c in cols)
    assert len(ts) == 4
    assert ts["step"].tolist() == [0, 1, 2, 3]  # step 0: the initial state (year before the first step)
    assert ts["year"].tolist() == [cfg.start_year - 1, cfg.start_year, cfg.start_year + 1, cfg.start_year + 2]
    # every metric is finite, except the flow metrics of the initial state (nothing has flowed yet)
    from model.metrics import is_flow

    flows = [c for c in cols if is_flow(c)]
    assert "funding_share_climate" in flows and "neglect_index" in flows
    from model.metrics import COHORT_METRICS  # NaN up to the reference year (2019): this run ends in 1982

    assert ts[list(COHORT_METRICS)].isna().all().all()
    defined = [c for c in cols if c not in COHORT_METRICS]
    assert np.isfinite(ts[defined].iloc[1:].to_numpy(dtype=float)).all()
    assert ts.loc[0, flows].isna().all()
    assert np.isfinite(ts.loc[0, [c for c in defined if not is_flow(c)]].to_numpy(dtype=float)).all()
    csv = pd.read_csv(out / "timeseries.csv")
    assert list(csv.columns) == cols
    np.testing.assert_allclose(csv.to_numpy(dtype=float), ts.to_numpy(dtype=float), rtol=1e-12, atol=1e-12,
                               equal_nan=True)


def test_run_tables(out):
    cfg = load_scenario(BASELINE, overrides={"cities.n": 300, "steps": 3})
    ts = pd.read_parquet(out / "timeseries.parquet")
    last = ts.iloc[-1]
    nets = pd.read_parquet(out / "networks.parquet")
    assert list(nets.columns) == NETWORK_COLUMNS
    assert nets["network_id"].tolist() == list(range(len(nets)))
    assert set(nets["rule"]) <= {"open", "threshold", "invitation", "competitive"}
    assert set(nets["scope"]) <= {"global"} | {r.name for r in cfg.cities.regions}
    assert set(nets["theme"]) <= set(cfg.issue_names)
    active = nets["dissolved"].isna()
    assert active.sum() == last["n_networks"]
    assert (nets.loc[~active, "members"] == 0).all()
    assert nets["members"].sum() == last["n_memberships"]
    assert (nets["founded"] <= cfg.start_year + 2).all()
    cities = pd.read_parquet(out / "cities.parquet")
    assert list(cities.columns)[: len(CITY_COLUMNS)] == CITY_COLUMNS
    assert set(cities.columns[len(CITY_COLUMNS):]) <= CITY_OPTIONAL
    assert len(cities) == 300
    assert cities["city_id"].tolist() == list(range(300))
    assert cities["memberships"].sum() == last["n_memberships"]
    assert cities["north"].dtype == bool and cities["in_invitation_network"].dtype == bool
    assert ((cities["practice_mean"] >= 0) & (cities["practice_mean"] <= 1)).all()
    assert (cities["population"] > 0).all()


def test_run_summary(out):
    s = json.loads((out / "summary.json").read_text())
    assert set(s) == {"scenario", "seed", "steps", "final", "runtime_s"}
    assert s["scenario"] == "baseline" and s["seed"] == 1 and s["steps"] == 3
    assert isinstance(s["runtime_s"], (int, float)) and s["runtime_s"] > 0
    ts = pd.read_parquet(out / "timeseries.parquet")
    names = metric_names(load_scenario(BASELINE).issue_names)
    assert list(s["final"]) == names
    for k in names:
        assert s["final"][k] == pytest.approx(float(ts[k].iloc[-1]), rel=1e-12, abs=1e-12, nan_ok=True), k


def test_run_config_yaml(out):
    expected = load_scenario(BASELINE, overrides={"cities.n": 300, "steps": 3})
    raw = yaml.safe_load((out / "config.yaml").read_text())
    assert set(raw) == set(Scenario.model_fields), "every field, defaults filled in"
    assert raw["seed"] == 1 and raw["steps"] == 3 and raw["cities"]["n"] == 300
    assert set(raw["resources"]) == set(type(expected.resources).model_fields)
    again = load_scenario(out / "config.yaml")  # the resolved file is itself a valid scenario
    assert again.model_dump() == expected.model_dump()


def test_run_figures(out):
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs, "no figures written"
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", p.name
        assert len(data) > 2000, f"{p.name} is suspiciously small"


def test_run_metric_dictionary(out):
    from model.metric_dictionary import describe

    tab = pd.read_csv(out / "metrics.csv", keep_default_na=False)
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(tab.columns) == ["name", "title", "meaning", "unit", "low", "high", "odd_section"]
    assert tab["name"].tolist() == [c for c in ts.columns if c not in ("step", "year")]
    row = tab.set_index("name").loc["fragmentation_index"]
    assert row["meaning"] == describe("fragmentation_index").meaning and str(row["odd_section"]) == "9"
    assert float(row["low"]) == 0 and float(row["high"]) == 1
    assert tab.set_index("name").loc["n_networks", "high"] == ""  # unbounded above


def test_run_default_out_dir(jobs):
    r = jobs.get("default_out")
    assert r.rc == 0, r.show()
    runs = list((r.d / "results").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"baseline-\d{8}-\d{6}", runs[0].name), runs
    assert (runs[0] / "summary.json").is_file()
    assert not any(p.name.startswith(".") for p in (r.d / "results").iterdir())


def test_run_not_quiet_without_tty(jobs):
    r = jobs.get("not_quiet")
    assert r.rc == 0, r.show()
    assert "wrote" in r.stdout and str(r.d / "out") in r.stdout
    assert "(2 steps, 50 cities," in r.stdout  # the run's own city count
    assert "\r" not in r.stderr and "step/s" not in r.stderr and "%|" not in r.stderr, "progress bar without a TTY"


# ------------------------------------------------------------------------------------ check, schema
def test_check_prints_resolved_scenario(jobs):
    r = jobs.get("check")
    assert r.rc == 0, r.show()
    assert r.stdout.startswith("# scenarios/baseline.yaml")
    printed = yaml.safe_load(r.stdout)
    expected = load_scenario(BASELINE, overrides={"cities.n": 123, "resources.gamma": 2.5})
    assert set(printed) == set(Scenario.model_fields)
    assert printed["cities"]["n"] == 123 and printed["resources"]["gamma"] == 2.5
    assert Scenario.model_validate(printed).model_dump() == expected.model_dump()


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target = schema
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _validate(schema: dict, node: dict, value, path: str = "") -> list[str]:
    """A small JSON Schema validator for the keywords pydantic emits (enough to check the contract)."""
    node = _resolve(schema, node)
    errs: list[str] = []
    if "anyOf" in node:
        if all(_validate(schema, sub, value, path) for sub in node["anyOf"]):
            errs.append(f"{path}: matches no anyOf branch")
        return errs
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
             "integer": int, "number": (int, float)}
    t = node.get("type")
    if t is not None:
        ok = isinstance(value, types[t]) and not (t in ("integer", "number") and isinstance(value, bool))
        if not ok:
            return [f"{path}: expected {t}, got {type(value).__name__}"]
    if "const" in node and value != node["const"]:
        errs.append(f"{path}: expected {node['const']!r}")
    if "enum" in node and value not in node["enum"]:
        errs.append(f"{path}: not in enum")
    for kw, op in (("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b),
                   ("exclusiveMinimum", lambda v, b: v > b), ("exclusiveMaximum", lambda v, b: v < b)):
        if kw in node and isinstance(value, (int, float)) and not op(value, node[kw]):
            errs.append(f"{path}: violates {kw} {node[kw]}")
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        errs.append(f"{path}: does not match {node['pattern']}")
    if isinstance(value, dict):
        props = node.get("properties", {})
        for k in node.get("required", []):
            if k not in value:
                errs.append(f"{path}.{k}: required")
        for k, v in value.items():
            if k in props:
                errs += _validate(schema, props[k], v, f"{path}.{k}")
            elif node.get("additionalProperties") is False:
                errs.append(f"{path}.{k}: additional property")
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            errs.append(f"{path}: fewer than {node['minItems']} items")
        if "items" in node:
            for j, v in enumerate(value):
                errs += _validate(schema, node["items"], v, f"{path}.{j}")
    return errs


def test_schema_is_valid_json_schema(jobs):
    r = jobs.get("schema")
    assert r.rc == 0, r.show()
    schema = json.loads(r.stdout)
    assert schema["type"] == "object"
    assert set(schema["properties"]) == set(Scenario.model_fields)
    assert schema.get("additionalProperties") is False, "unknown keys must be rejected by the schema too"
    # every $ref resolves, and every property is documented
    refs = re.findall(r'"\$ref":\s*"([^"]+)"', r.stdout)
    assert refs
    for ref in refs:
        _resolve(schema, {"$ref": ref})
    for name, d in schema["$defs"].items():
        if "properties" in d:
            assert d.get("additionalProperties") is False, name
            for p, spec in d["properties"].items():
                assert spec.get("description"), f"{name}.{p} has no description"
    # the resolved baseline satisfies the schema; wrong files do not
    resolved = load_scenario(BASELINE).model_dump(mode="json")
    assert _validate(schema, schema, resolved) == []
    bad = json.loads(json.dumps(resolved))
    bad["resources"]["poool"] = 1
    bad["cities"]["n"] = 5
    errs = _validate(schema, schema, bad)
    assert any("poool" in e for e in errs) and any("cities.n" in e for e in errs), errs
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(resolved, schema)


# ------------------------------------------------------------------------------------ help, version, console script
def _all_actions(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {a}", h) for a, h in _all_actions(sub))
            for choice in action._choices_actions:
                yield choice.dest, choice.help
        else:
            yield "/".join(action.option_strings) or action.dest, action.help


def test_every_command_and_flag_has_help():
    import run

    actions = list(_all_actions(run.build_parser()))
    assert len(actions) > 30
    missing = [name for name, text in actions if not text or not str(text).strip()]
    assert missing == [], f"no help text: {missing}"


def test_version_prints_the_package_version(capsys):
    import tomllib

    import run

    with pytest.raises(SystemExit) as e:
        run.main(["--version"])
    assert e.value.code == 0
    want = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out.strip() == f"run.py {want}"
    assert run.version() == want


def test_console_script_is_the_same_command_line():
    import tomllib
    from importlib.metadata import EntryPoint

    import run

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"city-diplomacy": "run:main"}
    assert EntryPoint(name="city-diplomacy", value=scripts["city-diplomacy"], group="console_scripts").load() is run.main


# ------------------------------------------------------------------------------------ interrupted runs (in-process)
RUN_ARGS = ["run", str(BASELINE), "--steps", "2", "--set", "cities.n=50", "--quiet"]


@pytest.fixture
def cli_main():
    import run

    return run.main


def _interrupt_midway(monkeypatch, exc):
    """Make the figures (drawn after config, tables and parquet files are written) raise midway."""
    import analysis.figures

    real = analysis.figures.run_figures

    def figures(res):
        first = real(res)[0]

        def boom():
            raise exc

        return [first, ("second.png", boom)]

    monkeypatch.setattr(analysis.figures, "run_figures", figures)


def test_interrupt_while_writing_leaves_nothing(tmp_path, monkeypatch, cli_main, capsys):
    _interrupt_midway(monkeypatch, KeyboardInterrupt())
    rc = cli_main(RUN_ARGS + ["--out", str(tmp_path / "out")])
    assert rc == 130
    assert list(tmp_path.iterdir()) == [], "an interrupted run left files behind"
    assert "Traceback" not in capsys.readouterr().err


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch, cli_main):
    _interrupt_midway(monkeypatch, RuntimeError("disk on fire"))
    with pytest.raises(RuntimeError, match="disk on fire"):  # an internal error: exit 1 in a real process
        cli_main(RUN_ARGS + ["--out", str(tmp_path / "out")])
    assert list(tmp_path.iterdir()) == []


def test_failure_into_existing_empty_dir_keeps_it_empty(tmp_path, monkeypatch, cli_main):
    (tmp_path / "out").mkdir()
    _interrupt_midway(monkeypatch, KeyboardInterrupt())
    assert cli_main(RUN_ARGS + ["--out", str(tmp_path / "out")]) == 130
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert list((tmp_path / "out").iterdir()) == []


def test_interrupt_while_simulating_leaves_nothing(tmp_path, monkeypatch, cli_main):
    from model.model import CityDiplomacyModel

    real_step = CityDiplomacyModel.step

    def step(self):
        if self.steps >= 2:  # Mesa counts the step before calling it
            raise KeyboardInterrupt
        real_step(self)

    monkeypatch.setattr(CityDiplomacyModel, "step", step)
    assert cli_main(RUN_ARGS + ["--out", str(tmp_path / "out")]) == 130
    assert list(tmp_path.iterdir()) == []


def test_write_run_is_atomic(tmp_path, monkeypatch):
    import pandas as pd

    from analysis.outputs import write_run
    from model.api import run_scenario

    res = run_scenario(load_scenario(BASELINE, overrides={"cities.n": 50, "steps": 2}))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", lambda *a, **k: (_ for _ in ()).throw(OSError("no space left")))
    with pytest.raises(OSError):
        write_run(res, tmp_path / "out", resolved="x: 1\n", figures=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    write_run(res, tmp_path / "out", resolved="x: 1\n", figures=False)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "summary.json").is_file() and (tmp_path / "out" / "cities.parquet").is_file()
