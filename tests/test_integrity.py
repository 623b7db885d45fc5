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

BASELINE = REPO / "scenarios" / "baseline.yaml"
SMOKE = REPO / "scenarios" / "sweeps" / "smoke.yaml"
TINY = {"cities.n": 120, "networks.initial": 8}


def claim(**fields) -> dict:
    """A tiny claim (as tests/test_claims.py): more funding raises capability; 8 steps, 1980-1987."""
    c = {"id": "T1", "title": "Funding raises capability", "statement": "More funding raises capability.",
         "source": "a test", "scenario": str(BASELINE), "set": dict(TINY), "steps": 8, "seed": 3,
         "replications": 4, "quick": {"replications": 3, "set": {"cities.n": 100}},
         "arms": {"control": {"set": {"resources.pool": 30}}, "treatment": {"set": {"resources.pool": 400}}},
         "outcomes": [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.002,
                       "years": [1984, 1987]}],
         "mechanism_off": {"description": "networks produce no knowledge", "set": {"knowledge.production": 0}}}
    c.update(fields)
    return c


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

    import analysis.execution
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


def assert_user_error(rc, err, *expect):
    assert rc == 2, (rc, err)
    assert len(err) == 1, err
    assert err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    for s in expect:
        assert s in err[0], (s, err[0])


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
