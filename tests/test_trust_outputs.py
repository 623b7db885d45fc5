"""Output paths, signals and full disks (issue "Trust what runs"): no run is lost to a directory that
cannot take its results, nothing half-written outlives a kill, a full disk is one line.

- an output directory that cannot be written is refused before the run, for `run`, `calibrate` and
  `sweep` (dangling symbolic link, a parent without write permission, a read-only mount, a name too
  long for the file system, also the scenario's own name in the default directory);
- SIGTERM removes the hidden partial directory as Ctrl-C does; partial directories of dead processes
  are removed by the next run into the same parent, other machines' and live ones are kept;
- a full disk (a writer raising ENOSPC, no root needed) ends `run`, `calibrate` and `sweep` with exit 1
  and one line naming the directory; a sweep then resumes to the same results.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analysis.outputs import OWNER, PARTIAL, remove_stale_partials

BASELINE = REPO / "scenarios" / "baseline.yaml"
SMALL_SETS = ["--set", "cities.n=50", "--set", "steps=2", "--set", "networks.initial=3"]
FACTS_SCENARIO = ("cities:\n  n: 50\nnetworks:\n  initial: 3\nsteps: 2\nstart_year: 1980\ncalibration:\n"
                  "  - {id: n, fact: x, source: y, measure: metric, metric: n_networks, year: 1981, target: 3, "
                  "tolerance: 10}\n")


def sweep_file(d: Path, **fields) -> Path:
    spec = {"scenario": str(BASELINE), "set": {"cities.n": 50, "networks.initial": 3}, "steps": 2, "seed": 3,
            "replications": 2, "parameters": {"resources.pool": [60, 180]},
            "record": {"metrics": ["n_networks", "mean_memberships"], "every_step": True}}
    spec.update(fields)
    p = d / "sw.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def commands(d: Path, out) -> dict[str, list]:
    (d / "facts.yaml").write_text(FACTS_SCENARIO)
    tail = [] if out is None else ["--out", out]
    return {
        "run": ["run", BASELINE, *SMALL_SETS, "--quiet", *tail],
        "calibrate": ["calibrate", "--scenario", d / "facts.yaml", "--replications", "1", "--workers", "1",
                      "--quiet", *tail],
        "sweep": ["sweep", sweep_file(d), "--workers", "1", "--quiet", *tail],
    }


# ------------------------------------------------------------------------------------------- output paths
def _dangling(d: Path, monkeypatch):
    link = d / "out"
    link.symlink_to(d / "missing" / "target")
    return link, [str(link), "symbolic link to a missing target"]


def _not_writable(d: Path, monkeypatch):
    parent = d / "locked"
    parent.mkdir()
    parent.chmod(0o555)  # enough when not root; as root, os.access answers as for everyone else:
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == parent else real(p, mode, **k))
    return parent / "out", [str(parent / "out"), f"{parent} is not writable"]


def _read_only_mount(d: Path, monkeypatch):
    mount = d / "ro"
    mount.mkdir()
    real = os.mkdir

    def mkdir(p, *a, **k):  # what a read-only file system answers, even to root
        if Path(p).parent == mount:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    return mount / "out", [str(mount / "out"), "Read-only file system"]


def _name_too_long(d: Path, monkeypatch):
    out = d / ("x" * 300)
    return out, ["too long for this file system", "choose a shorter one"]


def _nested_name_too_long(d: Path, monkeypatch):
    out = d / ("y" * 260) / "out"  # the missing parent's name, not the last part, is too long
    return out, ["too long for this file system"]


PATHS = {"dangling_symlink": _dangling, "parent_not_writable": _not_writable, "read_only_mount": _read_only_mount,
         "name_too_long": _name_too_long, "parent_name_too_long": _nested_name_too_long}


@pytest.mark.parametrize("command", ["run", "calibrate", "sweep"])
@pytest.mark.parametrize("problem", list(PATHS))
def test_output_directory_that_cannot_be_written_is_refused_before_the_run(tmp_path, cli_run, monkeypatch, command,
                                                                           problem):
    import analysis.calibration
    import analysis.sweep.loop
    import model.api

    def no_run(*a, **k):
        raise AssertionError("a run started although its output directory cannot be written")

    monkeypatch.setattr(model.api, "run_scenario", no_run)
    monkeypatch.setattr(analysis.calibration, "_one_run", no_run)
    monkeypatch.setattr(analysis.sweep.loop, "_execute", no_run)
    out, expect = PATHS[problem](tmp_path, monkeypatch)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    rc, err, outp = cli_run(commands(tmp_path, out)[command])
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    for s in expect:
        assert s in err[0], (s, err[0])
    assert outp == ""
    after = sorted(p.name for p in tmp_path.rglob("*"))
    assert set(after) - set(before) <= {"facts.yaml", "sw.yaml"}, set(after) - set(before)


@pytest.mark.parametrize("command", ["run", "calibrate"])
def test_default_directory_name_too_long_for_the_file_system(tmp_path, cli_run, monkeypatch, command):
    """The scenario's own name in the default directory (results/<name>-<timestamp>) on a file system
    with short names (PC_NAME_MAX 40 here): refused before the run, naming the default directory."""
    real = os.pathconf
    monkeypatch.setattr(os, "pathconf", lambda p, name: 40 if name == "PC_NAME_MAX" else real(p, name))
    import model.api

    monkeypatch.setattr(model.api, "run_scenario", lambda *a, **k: pytest.fail("ran"))
    monkeypatch.setattr("analysis.calibration._one_run", lambda *a, **k: pytest.fail("ran"))
    rc, err, _ = cli_run(commands(tmp_path, None)[command])
    assert rc == 2 and len(err) == 1, err
    assert "the default output directory results/" in err[0] and "too long" in err[0], err[0]
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------------------------------------- SIGTERM
def _sigterm_while(monkeypatch, target: str):
    """Make a writer that runs while the hidden partial directory is being filled send SIGTERM to this
    process (as `kill PID` or a batch system's time limit would)."""
    import analysis.figures

    def term(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this returns
        raise AssertionError("SIGTERM was not raised")

    monkeypatch.setattr(analysis.figures, target, term)


@pytest.mark.parametrize("command, target", [("run", "run_figures"), ("calibrate", "save")])
def test_sigterm_while_writing_removes_the_partial_directory(tmp_path, cli_run, monkeypatch, command, target):
    _sigterm_while(monkeypatch, target)
    out = tmp_path / "res" / "out"
    rc, err, _ = cli_run(commands(tmp_path, out)[command])
    assert rc == 143, err
    assert err == ["terminated"]
    assert not (tmp_path / "res").exists() or list((tmp_path / "res").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_sigterm_in_a_sweep_keeps_finished_runs_and_resumes(tmp_path, cli_run, monkeypatch):
    from analysis.sweep import loop

    real = loop._task
    calls = []

    def task(*a, **k):
        calls.append(a[0])
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        return real(*a, **k)

    monkeypatch.setattr(loop, "_task", task)
    out = tmp_path / "sw"
    args = commands(tmp_path, out)["sweep"]
    rc, err, _ = cli_run(args)
    assert rc == 143, err
    assert err[0].startswith("terminated: finished runs are kept")
    assert len(list((out / "runs").glob("*.parquet"))) == 2
    assert not list(out.rglob(".*.tmp-*"))
    monkeypatch.setattr(loop, "_task", real)
    rc, err, _ = cli_run(args)
    assert rc == 0, err
    assert len(pd.read_parquet(out / "results.parquet")["run_id"].unique()) == 4


def test_sigterm_from_outside_removes_the_partial_directory(tmp_path):
    """A real `kill -TERM` of a `run.py run` process while it writes its output directory."""
    marker = tmp_path / "writing"
    code = (f"import sys, time, pathlib; sys.path.insert(0, {str(REPO)!r}); import analysis.figures as f\n"
            f"def slow(res):\n"
            f"    pathlib.Path({str(marker)!r}).touch()\n    time.sleep(60)\n"
            "f.run_figures = slow\nimport run\n"
            f"sys.exit(run.main(['run', {str(BASELINE)!r}, '--set', 'cities.n=50', '--set', 'steps=2', "
            f"'--quiet', '--out', {str(tmp_path / 'res' / 'out')!r}]))\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, stdin=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not marker.exists():
            assert p.poll() is None, p.communicate()
            assert time.time() - t0 < 120
            time.sleep(0.05)
        assert any(PARTIAL in x.name for x in (tmp_path / "res").iterdir())  # writing: the partial directory is there
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, err
    assert err.strip() == "terminated"
    assert list((tmp_path / "res").iterdir()) == []


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_partial_directories_of_dead_processes_are_removed(tmp_path, cli_run):
    host = socket.gethostname()
    res = tmp_path / "res"
    res.mkdir()
    dead, live = _dead_pid(), os.getppid()
    cases = {
        f".old{PARTIAL}{dead}": f"{host} {dead}",  # this machine, dead: removed
        f".other{PARTIAL}{dead}": f"elsewhere.example {dead}",  # another machine (shared disk): kept
        f".busy{PARTIAL}{live}": f"{host} {live}",  # alive: kept
        f".mine{PARTIAL}{dead}": None,  # no owner file: not made by atomic_directory, kept
    }
    for name, owner in cases.items():
        (res / name).mkdir()
        (res / name / "half.parquet").write_bytes(b"PAR1")
        if owner:
            (res / name / OWNER).write_text(owner + "\n")
    rc, err, _ = cli_run(commands(tmp_path, res / "new")["run"])
    assert rc == 0, err
    left = sorted(p.name for p in res.iterdir())
    assert left == sorted([f".other{PARTIAL}{dead}", f".busy{PARTIAL}{live}", f".mine{PARTIAL}{dead}", "new"])
    assert remove_stale_partials(res) == []


# ------------------------------------------------------------------------------------------- disk full
def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_in_run_and_calibrate(tmp_path, cli_run, monkeypatch):
    import analysis.figures

    for command, target in (("run", (pd.DataFrame, "to_parquet")), ("run", (analysis.figures, "save")),
                            ("calibrate", (analysis.figures, "save"))):
        out = tmp_path / f"{command}-{target[1]}"
        with monkeypatch.context() as m:
            m.setattr(*target, _enospc)
            rc, err, _ = cli_run(commands(tmp_path, out)[command])
        assert rc == 1, err
        assert len(err) == 1 and err[0].startswith("error: no space left"), err
        assert str(out) in err[0] and "nothing was lost" in err[0]
        assert not out.exists() and not list(tmp_path.glob(f".*{PARTIAL}*"))


@pytest.mark.parametrize("when", ["third_run_file", "ledger", "failed_record", "manifest", "results"])
def test_disk_full_in_a_sweep_stops_it_and_a_resume_continues(tmp_path, cli_run, monkeypatch, when):
    import analysis.outputs
    from analysis.sweep import loop, results, store

    fields = {"parameters": {"networks.invitation_share": [0.1, 0.5], "networks.competitive_share": [0.1, 0.5]}} \
        if when == "failed_record" else {}
    sw = sweep_file(tmp_path, **fields)
    ref = tmp_path / "ref"
    rc, err, _ = cli_run(["sweep", sw, "--workers", "1", "--quiet", "--out", ref])
    assert rc == 0, err
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        if when == "third_run_file":
            real, n = analysis.outputs.write_bytes_atomic, []

            def write(path, data, durable=True):
                if Path(path).suffix == ".parquet":
                    n.append(path)
                    if len(n) == 3:
                        _enospc()
                return real(path, data, durable)

            m.setattr(loop, "write_bytes_atomic", write)
        elif when == "ledger":
            m.setattr(loop, "append_lines", _enospc)
        elif when == "failed_record":
            m.setattr(store._Appender, "write", _enospc)
        elif when == "manifest":
            m.setattr(store, "write_text_atomic", _enospc)
        else:
            m.setattr(results, "write_results", _enospc)
        rc, err, _ = cli_run(["sweep", sw, "--workers", "1", "--quiet", "--out", out])
    assert rc == 1, err
    assert len(err) == 1 and err[0].startswith("error: no space left on the device of"), err
    assert str(out) in err[0]
    assert ("nothing was run" in err[0]) if when == "manifest" else ("same command resumes" in err[0])
    assert not list(tmp_path.rglob(".*.tmp-*"))
    rc, err, _ = cli_run(["sweep", sw, "--workers", "1", "--quiet", "--out", out])
    assert rc == 0, err
    a, b = pd.read_parquet(ref / "results.parquet"), pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert (ref / "summary.csv").read_text() == (out / "summary.csv").read_text()
