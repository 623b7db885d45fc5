"""Integrity: mistakes in claim files and flags are refused before any run (issue item 5, "Integrity").

One test per class of mistake, each with several variants, through the command line (`run.main` in
this process, or a subprocess where a hang or a fork is the point): exit code 2, one line on stderr
naming the file or flag and the field, no traceback, nothing written.

1. arms that differ only outside the run's years (an intervention after the last year);
2. a mechanism-off arm that sets what the arms vary;
3. moderator and gradient values that repeat numerically (1 and 1.0);
4. moderator values and uncertainty bounds that move the run away from an outcome's years;
5. an integer uncertainty parameter whose range holds fewer than two whole numbers;
6. --quick validates every value of the claim file, not only those it runs;
7. a repeated --only, and a repeated id in one --only;
8. a FIFO, a device or a socket given as a file: refused before it is opened;
9. --workers beyond what the machine can hold (claims, sweep, calibrate);
10. a Dask scheduler address that accepts TCP but says nothing: bounded by --connect-timeout;
11. --out a read-only mount point (root only; skipped otherwise).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run as cli
from tests.support import assert_user_error, claim

BASELINE = REPO / "scenarios" / "baseline.yaml"
SMOKE = REPO / "scenarios" / "sweeps" / "smoke.yaml"


def write_claim(d: Path, data: dict, name: str = "c.yaml") -> Path:
    p = d / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.fixture
def cli_run(tmp_path, monkeypatch, capsys):
    """`run.py ARGS` in this process, from an empty working directory; nothing may be simulated, no
    worker process started. Returns (exit code, stderr lines, stdout)."""
    monkeypatch.chdir(tmp_path)

    def no_run(*a, **k):
        raise AssertionError("a run started although the input is wrong")

    import analysis.calibration
    import analysis.execution
    import analysis.sweep.loop  # imported before run_scenario is replaced: `from model.api import run_scenario`
    import model.api

    monkeypatch.setattr(model.api, "run_scenario", no_run)
    monkeypatch.setattr("analysis.calibration._one_run", no_run)
    monkeypatch.setattr("analysis.sweep.loop._task", no_run)
    monkeypatch.setattr(analysis.execution.LocalBackend, "_make", no_run)

    def call(args):
        rc = cli.main([str(a) for a in args])
        cap = capsys.readouterr()
        return rc, [ln for ln in cap.err.splitlines() if ln.strip()], cap.out

    return call




@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging) when the block takes longer than `seconds` (SIGALRM, main thread)."""
    def fire(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def claims_cmd(f: Path, out: Path, *extra) -> list:
    return ["claims", "--file", f, "--out", out, "--quiet", "--workers", "1", *extra]


# ============================================================================ 8. non-regular files
def _fifo(d: Path) -> Path:
    p = d / "pipe.yaml"
    os.mkfifo(p)
    return p


def _socket_file(d: Path) -> Path:
    p = d / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))  # left bound until the test's directory goes
    _socket_file.keep = s
    return p


SPECIAL = {
    # (how the file is made, the command, what it is called)
    "run_fifo": (_fifo, lambda d, f: ["run", f, "--out", d / "out"], "a named pipe (FIFO)"),
    "check_fifo": (_fifo, lambda d, f: ["check", f], "a named pipe (FIFO)"),
    "sweep_fifo": (_fifo, lambda d, f: ["sweep", f, "--out", d / "out"], "a named pipe (FIFO)"),
    "claims_file_fifo": (_fifo, lambda d, f: ["claims", "--file", f, "--out", d / "out"], "a named pipe (FIFO)"),
    "scheduler_file_fifo": (_fifo, lambda d, f: ["sweep", SMOKE, "--scheduler-file", f, "--out", d / "out"],
                            "a named pipe (FIFO)"),
    "claim_scenario_fifo": (_fifo, lambda d, f: ["claims", "--file", write_claim(d, claim(scenario=str(f))),
                                                 "--out", d / "out"], "a named pipe (FIFO)"),
    "catalogue_fifo": (_fifo, lambda d, f: ["check", _yaml(d, f"networks:\n  catalogue: {f}\n")],
                       "a named pipe (FIFO)"),
    "run_dev_zero": (lambda d: Path("/dev/zero"), lambda d, f: ["run", f, "--out", d / "out"], "a character device"),
    "sweep_dev_zero": (lambda d: Path("/dev/zero"), lambda d, f: ["sweep", f, "--out", d / "out"],
                       "a character device"),
    "scheduler_file_dev_zero": (lambda d: Path("/dev/zero"),
                                lambda d, f: ["sweep", SMOKE, "--scheduler-file", f, "--out", d / "out"],
                                "a character device"),
    "claims_file_dev_null": (lambda d: Path("/dev/null"), lambda d, f: ["claims", "--file", f, "--out", d / "out"],
                             "a character device"),
    "run_socket": (_socket_file, lambda d, f: ["run", f, "--out", d / "out"], "a socket"),
}


def _yaml(d: Path, text: str) -> Path:
    p = d / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("case", list(SPECIAL))
def test_non_regular_files_are_refused_before_they_are_opened(tmp_path, cli_run, case):
    make, cmd, what = SPECIAL[case]
    f = make(tmp_path)
    with deadline(20):  # a FIFO opened for reading would block here forever
        rc, err, _ = cli_run(cmd(tmp_path, f))
    if case == "claim_scenario_fifo":  # named by the field of the file that names it
        assert_user_error(rc, err, f"c.yaml: scenario: {f} is {what}, not a regular file; expected a scenario file")
    elif case == "catalogue_fifo":
        assert_user_error(rc, err, f"s.yaml: networks.catalogue: {f} is {what}, not a regular file; expected a CSV")
    else:
        assert_user_error(rc, err, f"{f}: is {what}, not a regular file; expected a ")
    assert not (tmp_path / "out").exists()


def test_regular_files_through_a_symbolic_link_are_still_read(tmp_path, cli_run):
    """The check is on what the path names (stat follows links): a link to a scenario is a scenario."""
    link = tmp_path / "link.yaml"
    link.symlink_to(BASELINE)
    rc, _, out = cli_run(["check", link])
    assert rc == 0 and "valid scenario" in out


# ============================================================================ claim files (1-6)
PANDEMIC_1990 = [{"kind": "pandemic", "start": 1990, "end": 1991}]  # the run is 1980-1987
POOL = {"control": {"set": {"resources.pool": 30}}, "treatment": {"set": {"resources.pool": 400}}}

CLAIMS = {
    # 1. arms that differ only outside the run's years
    "intervention_after_the_last_year": (
        {"arms": {"control": {}, "treatment": {"interventions": PANDEMIC_1990}}},
        "arms.treatment.interventions.0", ("differ only in interventions that act outside the run's years 1980-1987 "
                                          "(pandemic 1990-1991)")),
    "both_arms_intervene_after_the_last_year": (  # (one that ends before the first year: the scenario refuses)
        {"arms": {"control": {"interventions": [{"kind": "pandemic", "start": 1988}]},
                  "treatment": {"interventions": [{"kind": "pandemic", "start": 1995}]}}},
        "arms.control.interventions.0", "outside the run's years 1980-1987 (pandemic from 1988, pandemic from 1995)"),
    "gradient_over_a_parameter_of_a_late_intervention": (
        {"arms": None, "gradient": {"parameter": "interventions.pandemic.budget_cut", "values": [0.1, 0.5],
                                    "interventions": PANDEMIC_1990}},
        "gradient.parameter", "interventions.pandemic.budget_cut changes only interventions that act outside"),
    "intervention_after_the_quick_run": (
        {"arms": {"control": {}, "treatment": {"interventions": [{"kind": "pandemic", "start": 1985}]}},
         "outcomes": [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.002, "years": [1981, 1983]}],
         "quick": {"replications": 3, "steps": 4}},
        "arms.treatment.interventions.0", "outside the run's years 1980-1983 in the quick run (quick.steps)"),
    "mechanism_off_only_after_the_run": (
        {"mechanism_off": {"description": "x", "interventions": PANDEMIC_1990}},
        "mechanism_off", "changes neither arm within the run's years 1980-1987"),
    # 2. a mechanism-off arm that sets what the arms vary
    "mechanism_off_sets_the_arms_field": (
        {"mechanism_off": {"description": "x", "set": {"resources.pool": 100}}},
        "mechanism_off.set.resources.pool", "resources.pool is what the arms vary (resources.pool)"),
    "mechanism_off_sets_the_gradient_parameter": (
        {"arms": None, "gradient": {"parameter": "resources.pool", "values": [30, 400]},
         "mechanism_off": {"description": "x", "set": {"knowledge.production": 0, "resources.pool": 0}}},
        "mechanism_off.set.resources.pool", "is the gradient's parameter (resources.pool)"),
    "mechanism_off_sets_a_parameter_by_kind_the_arms_set": (
        {"arms": {"control": {}, "treatment": {"interventions": [{"kind": "pandemic", "start": 1984}],
                                               "set": {"interventions.pandemic.budget_cut": 0.5}}},
         "mechanism_off": {"description": "x", "set": {"interventions.pandemic.budget_cut": 0}}},
        "mechanism_off.set.interventions.pandemic.budget_cut", "what the arms vary"),
    "mechanism_off_sets_the_section_holding_the_arms_field": (
        {"mechanism_off": {"description": "x", "set": {"resources": {"pool": 50}}}},
        "mechanism_off.set.resources", "resources is what the arms vary (resources.pool)"),
    # 3. values that repeat numerically
    "moderator_1_and_1.0": (
        {"moderators": [{"parameter": "networks.founders", "values": [1, 4, 1.0]}]},
        "moderators.0.values", "items 0 and 2: 1 and 1.0 are the same number; give each of the values once"),
    "moderator_repeated": (
        {"moderators": [{"parameter": "networks.convergence", "values": [0.2, 0.2]}]},
        "moderators.0.values", "items 0 and 1: 0.2 is repeated"),
    "gradient_30_and_30.0": (
        {"arms": None, "gradient": {"parameter": "resources.pool", "values": [30, 100, 30.0]}},
        "gradient.values", "items 0 and 2: 30 and 30.0 are the same number"),
    # 4. moderator values or uncertainty bounds that move the run away from an outcome's years
    "moderator_start_year": (
        {"moderators": [{"parameter": "start_year", "values": [1980, 1990]}]},
        "moderators.0.values.1", ("start_year = 1990 makes the run 1990-1997, which leaves out the years 1984-1987 "
                                 "of outcome mean_capacity (outcomes.0.years)")),
    "uncertainty_start_year_high": (
        {"uncertainty": {"samples": 4, "replications": 2, "parameters": {"start_year": {"low": 1980, "high": 1990}}}},
        "uncertainty.parameters.start_year.high", "start_year = 1990 makes the run 1990-1997"),
    "uncertainty_start_year_low": (
        {"uncertainty": {"samples": 4, "replications": 2, "parameters": {"start_year": {"low": 1970, "high": 1982}}}},
        "uncertainty.parameters.start_year.low", "start_year = 1970 makes the run 1970-1977"),
    "gradient_level_start_year": (
        {"arms": None, "gradient": {"parameter": "start_year", "values": [1980, 1990, 1984]}},
        "gradient.values.1", "start_year = 1990 makes the run 1990-1997"),
    "mechanism_off_moves_the_run": (
        {"mechanism_off": {"description": "x", "set": {"start_year": 1960}}},
        "mechanism_off", "the mechanism-off arm makes the run 1960-1967"),
    # 5. an integer uncertainty parameter with fewer than two whole numbers
    "int_range_without_a_whole_number": (
        {"uncertainty": {"parameters": {"networks.founders": {"low": 2.2, "high": 2.8}}}},
        "uncertainty.parameters.networks.founders", ("networks.founders is a whole number and 2.2 to 2.8 holds no "
                                                     "whole number; expected a range holding at least two")),
    "int_range_with_one_whole_number": (
        {"uncertainty": {"parameters": {"networks.founders": {"low": 3, "high": 3.5}}}},
        "uncertainty.parameters.networks.founders", "3 to 3.5 holds only one whole number (3)"),
}


@pytest.mark.parametrize("case", list(CLAIMS))
@pytest.mark.parametrize("quick", [False, True])
def test_claim_mistakes_exit_2_before_any_run(tmp_path, cli_run, case, quick):
    fields, path, expected = CLAIMS[case]
    f = write_claim(tmp_path, claim(**fields))
    cmds = [claims_cmd(f, tmp_path / "out", *(["--quick"] if quick else [])), ["check", f]]
    if case == "intervention_after_the_quick_run" and not quick:
        cmds = cmds[1:]  # the full run (1980-1987) is valid; `check` checks the quick run too
    for cmd in cmds:
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, f"error: {f}: {path}: ", expected)
    assert not (tmp_path / "out").exists()


def test_arms_that_differ_within_the_run_are_accepted(tmp_path):
    """The counterparts of the refusals: an intervention in the last year, a by-kind mechanism-off
    parameter the arms do not set, distinct numbers, a start_year inside the outcome window, two whole
    numbers."""
    from analysis.claims.plan import load_claim

    f = write_claim(tmp_path, claim(
        arms={"control": {}, "treatment": {"interventions": [{"kind": "pandemic", "start": 1987}]}},
        mechanism_off={"description": "x", "set": {"interventions.pandemic.budget_cut": 0}},
        moderators=[{"parameter": "start_year", "values": [1980, 1984]},
                    {"parameter": "networks.convergence", "values": [0.1, 0.15]}],
        uncertainty={"samples": 4, "replications": 2, "parameters": {"networks.founders": {"low": 3, "high": 4}}}))
    p = load_claim(f)
    assert p.arm_differences() == ["interventions"]
    assert sorted({v["networks.founders"] for v in p.lhs_values}) == [3, 4]


# 6. --quick checks every value, runs only its subset
QUICK = {
    "a_middle_value_quick_leaves_out": (
        {"moderators": [{"parameter": "networks.convergence", "values": [0.2, 7.0, 0.6]}],
         "quick": {"replications": 3, "moderator_values": 2}},
        "moderators.0.values.1", "networks.convergence: must be <= 1 (got 7.0)"),
    "a_moderator_quick_leaves_out": (
        {"moderators": [{"parameter": "networks.convergence", "values": [0.2, 0.6]},
                        {"parameter": "resources.pool", "values": [10, -5]}],
         "arms": {"control": {}, "treatment": {"set": {"networks.founders": 9}}},
         "quick": {"replications": 3, "moderators": 1}},
        "moderators.1.values.1", ">= 0"),
}


@pytest.mark.parametrize("case", list(QUICK))
def test_quick_validates_every_value_it_does_not_run(tmp_path, cli_run, case):
    fields, path, expected = QUICK[case]
    f = write_claim(tmp_path, claim(**fields))
    rc, err, _ = cli_run(claims_cmd(f, tmp_path / "out", "--quick"))
    assert_user_error(rc, err, f"error: {f}: {path}: ", expected)
    assert not (tmp_path / "out").exists()


def test_quick_runs_only_its_subset_of_values(tmp_path):
    from analysis.claims.plan import load_claim

    f = write_claim(tmp_path, claim(
        moderators=[{"parameter": "networks.convergence", "values": [0.0, 0.2, 0.4, 0.6, 0.8]},
                    {"parameter": "networks.founders", "values": [4, 8]}],
        quick={"replications": 3, "moderators": 1, "moderator_values": 3}))
    q = load_claim(f, quick=True)
    mods = [a for a in q.arms if a.role == "moderator"]
    assert [m.values for m in q.moderators] == [[0.0, 0.4, 0.8]]
    assert sorted({(a.moderator, a.value) for a in mods}) == [(0, 0), (0, 1), (0, 2)]
    for a in mods:  # value indexes the quick list, and the arm has that value
        assert a.data["networks"]["convergence"] == q.moderators[0].values[a.value]
        assert a.where == f"moderators.0.values.{[0.0, 0.2, 0.4, 0.6, 0.8].index(q.moderators[0].values[a.value])}"


# ============================================================================ 7. --only
ONLY = {
    "repeated_flag": (["--only", "T1", "--only", "T2"],
                      ("--only is given 2 times (--only T1 --only T2); give the claim ids once, separated by commas: "
                      "--only T1,T2")),
    "repeated_flag_same_id": (["--only", "T1", "--only", "T1"], "--only is given 2 times"),
    "three_times": (["--only", "T1", "--only", "T2", "--only", "T1,T2"], "--only is given 3 times"),
    "repeated_id": (["--only", "T1,T1"], "--only T1,T1: T1 is listed twice; give each claim id once"),
    "repeated_id_with_spaces": (["--only", "T2, T1 ,T2"], "T2 is listed twice"),
}


@pytest.mark.parametrize("case", list(ONLY))
def test_repeated_only_is_refused(tmp_path, cli_run, case):
    args, expected = ONLY[case]
    files = [write_claim(tmp_path, claim(id=i), f"{i}.yaml") for i in ("T1", "T2")]
    rc, err, _ = cli_run(["claims", "--file", files[0], "--file", files[1], "--out", tmp_path / "out", *args])
    assert_user_error(rc, err, expected)
    assert not (tmp_path / "out").exists()


# ============================================================================ 9. --workers
@pytest.fixture
def two_cores(monkeypatch):
    """A machine of 2 cores (what max_workers counts), whatever this one has."""
    import analysis.execution

    monkeypatch.setattr(analysis.execution, "default_workers", lambda: 2)


WORKERS = {
    # (command, workers, memory limit in GB, expected): 2 cores -> at most 8; 1 GB / 0.36 GB -> at most 2
    "claims_100000": ("claims", 100000, "16", ("--workers 100000: more worker processes than this machine can hold: "
                                              "at most 8 (4 x the 2 cores this process may use); expected a whole "
                                              "number from 1 to 8")),
    "claims_9": ("claims", 9, "16", "--workers 9: more worker processes than this machine can hold: at most 8"),
    "sweep_100000": ("sweep", 100000, "16", ("--workers 100000: more worker processes than this machine can hold: "
                                            "at most 8 (4 x the 2 cores")),
    "calibrate_100000": ("calibrate", 100000, "16", ("--workers 100000: more worker processes than this machine can "
                                                    "hold: at most 8")),
    "claims_memory": ("claims", 3, "1", ("--workers 3: more worker processes than this machine can hold: at most 2 "
                                        "(1.0 GB of memory for worker processes of about 0.36 GB each before any run")),
    "sweep_memory": ("sweep", 3, "1", "at most 2 (1.0 GB of memory"),
    "calibrate_memory": ("calibrate", 3, "1", "at most 2 (1.0 GB of memory"),
}


@pytest.mark.parametrize("case", list(WORKERS))
def test_workers_beyond_the_machine_are_refused(tmp_path, cli_run, two_cores, case):
    cmd, n, gb, expected = WORKERS[case]
    out = tmp_path / "out"
    args = {"claims": ["claims", "--file", write_claim(tmp_path, claim()), "--quick"],
            "sweep": ["sweep", SMOKE],
            "calibrate": ["calibrate", "--replications", "12"]}[cmd]
    rc, err, _ = cli_run([*args, "--out", out, "--workers", n, "--memory-limit", gb, "--quiet"])
    assert_user_error(rc, err, expected)
    assert not out.exists()


def test_the_worker_limit_is_the_same_everywhere(two_cores):
    """The library refuses what the command line refuses, before starting a process; the limit itself
    is accepted."""
    from analysis.execution import LocalBackend, check_workers, max_workers
    from model.config import ScenarioError

    assert max_workers(16e9)[0] == 8 and max_workers(1e9)[0] == 2 and max_workers(0.1e9)[0] == 1
    check_workers(8, memory_limit=16e9)
    with pytest.raises(ScenarioError, match="at most 8"):
        LocalBackend(9, warm=False)


def test_the_memory_check_counts_the_worker_processes_started(tmp_path, two_cores, monkeypatch):
    """A lent pool of 4 processes for a sweep of 2 runs: the 2 idle processes count too (0.36 GB each)."""
    from analysis.execution import LocalBackend, SharedBackend
    from analysis.sweep import load_sweep, run_sweep
    from model.config import ScenarioError

    spec = yaml.safe_load(SMOKE.read_text())
    spec.update(scenario=str(BASELINE), replications=1, parameters={"resources.pool": [60, 180]})
    (tmp_path / "sw.yaml").write_text(yaml.safe_dump(spec))
    sw = load_sweep(tmp_path / "sw.yaml")
    assert sw.n_runs == 2
    monkeypatch.setattr(LocalBackend, "_make", lambda self: object())
    pool = SharedBackend(LocalBackend(4, warm=False))
    fits_runs = 2 * sw.peak_bytes + 0.5e9  # the 2 runs fit, the 2 idle processes (0.72 GB) do not
    with pytest.raises(ScenarioError, match="2 runs at once and 2 idle worker processes need about"):
        run_sweep(sw, tmp_path / "out", backend=pool, memory_limit=fits_runs)
    assert not (tmp_path / "out").exists()


# ============================================================================ 10. a silent "scheduler"
@contextlib.contextmanager
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never says anything; yields its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    conns, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()


SILENT = {
    "sweep_scheduler": lambda d, port: ["sweep", SMOKE, "--scheduler", f"tcp://127.0.0.1:{port}"],
    "sweep_scheduler_file": lambda d, port: ["sweep", SMOKE, "--scheduler-file", _scheduler_file(d, port)],
    "claims_scheduler": lambda d, port: ["claims", "--file", write_claim(d, claim()), "--quick",
                                         "--scheduler", f"127.0.0.1:{port}"],
}


def _scheduler_file(d: Path, port: int) -> Path:
    p = d / "scheduler.json"
    p.write_text(f'{{"address": "tcp://127.0.0.1:{port}", "type": "Scheduler"}}')
    return p


@pytest.mark.parametrize("case", list(SILENT))
def test_a_port_that_is_no_dask_scheduler_gives_up_after_the_connect_timeout(tmp_path, case):
    with silent_server() as port:
        args = [str(a) for a in SILENT[case](tmp_path, port)]
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, str(REPO / "run.py"), *args, "--connect-timeout", "1", "--out",
                            str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path, check=False, stdin=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        wall = time.perf_counter() - t0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    flag = "--scheduler-file" if case.endswith("file") else "--scheduler"
    assert lines[0].startswith(f"error: {flag} "), lines[0]
    assert f"the Dask scheduler at tcp://127.0.0.1:{port} did not answer within 1 s" in lines[0] or \
        f"the Dask scheduler at 127.0.0.1:{port} did not answer within 1 s" in lines[0], lines[0]
    assert wall < 30, wall  # the interpreter's start and imports, plus 1 s and its margin
    assert not (tmp_path / "out").exists()


def test_a_scheduler_that_stops_answering_is_given_up_after_the_timeout():
    """Later calls are bounded too: asking for the workers of a scheduler that no longer answers."""
    from analysis.execution import DaskBackend
    from model.config import ScenarioError

    release = threading.Event()

    class Hanging:
        scheduler = type("S", (), {"address": "tcp://127.0.0.1:1"})()

        def get_executor(self, pure=False):
            from analysis.execution import SerialExecutor

            return SerialExecutor()

        def scheduler_info(self, n_workers=-1):
            release.wait(30)
            return {"workers": {}}

    b = DaskBackend(client=Hanging(), timeout=0.5)
    b.where = "--scheduler tcp://127.0.0.1:1"
    t0 = time.perf_counter()
    try:
        with pytest.raises(ScenarioError, match=r"--scheduler tcp://127.0.0.1:1: the Dask scheduler at "
                                                r"tcp://127.0.0.1:1 did not answer within 0.5 s \(asked for its workers\)"):
            b.capacity()
        assert time.perf_counter() - t0 < 5
        b.close()  # not waited for: it stopped answering
        assert time.perf_counter() - t0 < 5
    finally:
        release.set()


# ============================================================================ 11. --out a mount point
@contextlib.contextmanager
def mounted(point: Path, *how: str):
    """`mount ARGS point` for the block (root only: the test is skipped otherwise); always unmounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting needs root")
    point.mkdir(exist_ok=True)
    p = subprocess.run(["mount", *how, str(point)], capture_output=True, text=True, check=False, timeout=30)
    if p.returncode != 0:
        pytest.skip(f"cannot mount here: {p.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True, check=False, timeout=30)


MOUNTS = {
    "run_read_only_tmpfs": (("-t", "tmpfs", "-o", "ro", "tmpfs"), "run"),
    "run_writable_tmpfs": (("-t", "tmpfs", "tmpfs"), "run"),
    "run_bind_mount": (("--bind", "{src}"), "run"),  # same file system: os.path.ismount does not see it
    "calibrate_read_only_tmpfs": (("-t", "tmpfs", "-o", "ro", "tmpfs"), "calibrate"),
}


@pytest.mark.parametrize("case", list(MOUNTS))
def test_out_a_mount_point_is_refused_before_the_run(tmp_path, cli_run, case):
    how, cmd = MOUNTS[case]
    (tmp_path / "src").mkdir()
    how = tuple(h.replace("{src}", str(tmp_path / "src")) for h in how)
    with mounted(tmp_path / "mnt", *how) as point:
        args = ["run", BASELINE, "--steps", "2"] if cmd == "run" else ["calibrate", "--replications", "2"]
        rc, err, _ = cli_run([*args, "--out", point, "--quiet"])
        assert_user_error(rc, err, f"--out {point}: is a mount point: the results are written beside it and then "
                                   "moved into its place, which a mount point does not allow")
        assert list(point.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial directory left


def test_a_mount_point_met_when_the_results_are_moved_is_an_input_error(tmp_path):
    """The last guard (check_output_dir was not asked): exit 2 as an input error, nothing left behind."""
    from analysis.outputs import atomic_directory
    from model.config import ScenarioError

    with mounted(tmp_path / "mnt", "-t", "tmpfs", "tmpfs") as point:
        busy = r"mnt: cannot be replaced by the results \(Device or resource busy\)"
        with pytest.raises(ScenarioError, match=busy), atomic_directory(point) as tmp:
            (tmp / "x.txt").write_text("x")
        assert list(point.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnt"]
