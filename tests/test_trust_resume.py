"""Sweeps: resume trusts nothing (issue "Trust what runs").

- damaged run files (truncated, empty, garbage, another run's file, rows missing, changed after the
  ledger line) are found on resume, reported and run again, and the results equal an uninterrupted
  sweep's; an intact file without a ledger line (killed between the two writes) is accepted;
- run files are flushed to disk (fsync) before the rename, and the directory after it;
- the manifest records the project's version and a hash of the source that shapes results; a resume
  after a change of that source is refused unless --allow-code-change, which is recorded;
- two sweeps into one new directory: the lock is taken before anything is written, so the second is
  refused and the directory holds one sweep's manifest and runs (a deterministic test, no race).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analysis.sweep import load_sweep, run_sweep, store
from model.config import ScenarioError

BASELINE = REPO / "scenarios" / "baseline.yaml"


def sweep_file(d: Path, name: str = "sw.yaml", **fields) -> Path:
    spec = {"scenario": str(BASELINE), "set": {"cities.n": 50, "networks.initial": 3}, "steps": 2, "seed": 5,
            "replications": 2, "parameters": {"resources.pool": [60, 180]},
            "record": {"metrics": ["n_networks", "mean_memberships"], "every_step": True}}
    spec.update(fields)
    p = d / name
    p.write_text(yaml.safe_dump(spec))
    return p


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep: its directory (copied by each test) and its results."""
    d = tmp_path_factory.mktemp("ref")
    f = sweep_file(d)
    run_sweep(load_sweep(f), d / "out", workers=1, quiet=True)
    return f, d / "out", pd.read_parquet(d / "out" / "results.parquet")


# ------------------------------------------------------------------------------------------- damaged run files
def _truncate(f: Path, others: list[Path]):
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _empty(f: Path, others):
    f.write_bytes(b"")


def _garbage(f: Path, others):
    f.write_bytes(os.urandom(f.stat().st_size))


def _other_run(f: Path, others):
    shutil.copy(others[0], f)


def _rows_missing(f: Path, others):
    t = pd.read_parquet(f)
    t.iloc[:1].to_parquet(f, index=False)


def _changed_value(f: Path, others):
    t = pd.read_parquet(f)
    t.loc[0, "n_networks"] = 999.0
    t.to_parquet(f, index=False)


DAMAGE = {"truncated": _truncate, "empty": _empty, "garbage": _garbage, "another_runs_file": _other_run,
          "rows_missing": _rows_missing, "changed_after_writing": _changed_value}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_run_files_are_found_and_run_again(tmp_path, cli_run, reference, case):
    f, ref, expected = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    (out / "results.parquet").unlink()
    runs = sorted((out / "runs").glob("*.parquet"))
    victim = runs[1]
    DAMAGE[case](victim, [r for r in runs if r != victim])
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet"])
    assert rc == 0, err
    warning = [ln for ln in err if "damaged" in ln]
    assert len(warning) == 1 and victim.stem in warning[0] and "run again" in warning[0], err
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), expected)
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet"])  # now all is well
    assert rc == 0 and not any("damaged" in ln for ln in err), err


@pytest.mark.parametrize("lost", ["last_line", "whole_ledger", "cut_line"])
def test_intact_run_files_without_a_ledger_line_are_verified_and_kept(tmp_path, cli_run, reference, lost, monkeypatch):
    """Killed between renaming a run file and appending its ledger line: the file is read back (rows,
    columns, run id), kept and given its line; no run is done again."""
    f, ref, expected = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    ledger = out / store.LEDGER
    lines = ledger.read_text().splitlines(keepends=True)
    if lost == "last_line":
        ledger.write_text("".join(lines[:-1]))
    elif lost == "whole_ledger":
        ledger.unlink()
    else:
        ledger.write_text("".join(lines[:-1]) + lines[-1][:20])
    from analysis.sweep import loop

    monkeypatch.setattr(loop, "_task", lambda *a, **k: pytest.fail("a finished run was done again"))
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet"])
    assert rc == 0 and not any("damaged" in ln for ln in err), err
    assert set(store.read_ledger(out)) == {p.stem for p in (out / "runs").glob("*.parquet")}
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), expected)


def test_run_files_are_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    from analysis import outputs

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", str(b)))
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(outputs.os, "replace", replace)
    target = tmp_path / "runs" / "p00000_r000.parquet"
    target.parent.mkdir()
    outputs.write_bytes_atomic(target, b"data")
    kinds = [e[0] for e in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert ".tmp-" in events[0][1]  # the temporary file's content first
    assert events[2][1] == str(target.parent)  # then the directory entry
    assert target.read_bytes() == b"data"


# ------------------------------------------------------------------------------------------- code changes
@pytest.fixture
def code_copy(tmp_path, monkeypatch):
    """The source whose hash the manifest records, in a copy that a test may change (the code that
    runs is the same: only what the sweep believes it is changes)."""
    root = tmp_path / "src"
    for g in store.SOURCE_GLOBS:
        for p in REPO.glob(g):
            dest = root / p.relative_to(REPO)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dest)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    monkeypatch.setattr(store, "ROOT", root)
    return root


def _half_sweep(tmp_path, f) -> Path:
    """A sweep killed after 2 of its 4 runs."""
    out = tmp_path / "out"
    n = []

    def progress(done, failed, total):
        n.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(f), out, workers=1, quiet=True, progress=progress)
    assert len(list((out / "runs").glob("*.parquet"))) == 2
    return out


CHANGES = {
    "model_source": lambda root: (root / "model" / "knowledge.py").write_text(
        (root / "model" / "knowledge.py").read_text() + "\n# a changed line\n"),
    "data_file": lambda root: (root / "data" / "countries.csv").write_text(
        (root / "data" / "countries.csv").read_text() + "\n"),
    "sweep_code": lambda root: (root / "analysis" / "sweep" / "results.py").write_text(
        (root / "analysis" / "sweep" / "results.py").read_text().replace("np.", "numpy_alias.", 1)),
    "new_model_file": lambda root: (root / "model" / "newmechanism.py").write_text("X = 1\n"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_resume_across_a_code_change_is_refused_unless_allowed(tmp_path, cli_run, code_copy, change):
    f = sweep_file(tmp_path)
    out = _half_sweep(tmp_path, f)
    before = json.loads((out / "manifest.json").read_text())
    assert before["code"]["version"] and len(before["code"]["source_sha256"]) == 64
    CHANGES[change](code_copy)
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet"])
    assert rc == 2 and len(err) == 1, err
    assert "other model code" in err[0] and "--allow-code-change" in err[0] and "2 finished runs" in err[0]
    assert len(list((out / "runs").glob("*.parquet"))) == 2  # nothing ran
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet", "--allow-code-change"])
    assert rc == 0, err
    assert any("--allow-code-change" in ln for ln in err)
    m = json.loads((out / "manifest.json").read_text())
    assert len(m["code_changes"]) == 1
    rec = m["code_changes"][0]
    assert rec["allowed_by"] == "--allow-code-change" and rec["finished_runs_before"] == 2
    assert rec["from"]["source_sha256"] == before["code"]["source_sha256"] != rec["to"]["source_sha256"]
    assert m["code"] == rec["to"] and m["fingerprint"] == before["fingerprint"]
    assert len(pd.read_parquet(out / "results.parquet")["run_id"].unique()) == 4


def test_resume_of_a_sweep_that_recorded_no_code_is_refused(tmp_path, cli_run):
    f = sweep_file(tmp_path)
    out = _half_sweep(tmp_path, f)
    m = json.loads((out / "manifest.json").read_text())
    del m["code"]  # as written by an earlier version
    (out / "manifest.json").write_text(json.dumps(m))
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet"])
    assert rc == 2 and "code that was not recorded" in err[0], err
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet", "--allow-code-change"])
    assert rc == 0, err
    assert json.loads((out / "manifest.json").read_text())["code_changes"][0]["from"] is None


def test_unchanged_code_resumes_without_a_word(tmp_path, cli_run):
    f = sweep_file(tmp_path)
    out = _half_sweep(tmp_path, f)
    rc, err, _ = cli_run(["sweep", f, "--out", out, "--workers", "1", "--quiet"])
    assert rc == 0 and err == [], err
    assert "code_changes" not in json.loads((out / "manifest.json").read_text())


# ------------------------------------------------------------------------------------------- the lock
def test_second_sweep_into_a_new_directory_before_the_first_wrote_its_manifest(tmp_path, monkeypatch):
    """Sweep B starts while sweep A holds the lock but has written nothing yet (the moment where, with
    the lock taken after the manifest, B used to write its own manifest): B is refused, A's manifest
    and runs are the directory's."""
    a = sweep_file(tmp_path, "a.yaml")
    b = sweep_file(tmp_path, "b.yaml", parameters={"resources.pool": [90, 150, 210]})
    out = tmp_path / "new"
    real = store.prepare_out
    seen = {}

    def prepare(sw, d, **kw):
        if sw.source == str(a):  # A, under its lock, before its manifest: now B starts
            assert not (d / "manifest.json").exists()
            with pytest.raises(ScenarioError) as e:
                run_sweep(load_sweep(b), d, workers=1, quiet=True)
            seen["b"] = str(e.value)
            assert not (d / "manifest.json").exists()
        return real(sw, d, **kw)

    monkeypatch.setattr(store, "prepare_out", prepare)
    r = run_sweep(load_sweep(a), out, workers=1, quiet=True)
    assert "another run.py sweep is writing into this directory" in seen["b"]
    assert r.finished == 4
    m = json.loads((out / "manifest.json").read_text())
    assert m["sweep_file"] == str(a) and len(m["runs"]) == 4
    assert sorted(p.stem for p in (out / "runs").glob("*.parquet")) == sorted(m["runs"])
    res = pd.read_parquet(out / "results.parquet")
    assert sorted(res["resources.pool"].unique()) == [60.0, 180.0]


def test_second_sweep_while_the_first_runs(tmp_path, monkeypatch):
    """B starts while A is running its first run: refused; A's runs are A's."""
    from analysis.sweep import loop

    a = sweep_file(tmp_path, "a.yaml")
    b = sweep_file(tmp_path, "b.yaml", seed=99)
    out = tmp_path / "new"
    real = loop._task
    seen = []

    def task(*args, **kw):
        if not seen:
            with pytest.raises(ScenarioError, match="another run.py sweep") as e:
                run_sweep(load_sweep(b), out, workers=1, quiet=True)
            seen.append(str(e.value))
        return real(*args, **kw)

    r = run_sweep(load_sweep(a), out, workers=1, quiet=True, task=task)
    assert seen and r.finished == 4
    m = json.loads((out / "manifest.json").read_text())
    assert m["sweep_file"] == str(a) and m["seeds"] == load_sweep(a).seeds != load_sweep(b).seeds


def test_lock_refusal_leaves_nothing_in_a_directory_that_is_not_a_sweep(tmp_path, cli_run):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep")
    rc, err, _ = cli_run(["sweep", sweep_file(tmp_path), "--out", d, "--workers", "1", "--quiet"])
    assert rc == 2 and "holds no sweep" in err[0]
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]  # not even a .lock
