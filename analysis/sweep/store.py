"""The output directory of a sweep: the manifest (written before any run), resuming, the lock,
atomic run files and failed.jsonl."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from analysis.outputs import write_text_atomic
from analysis.sweep.plan import Sweep
from analysis.sweep.spec import FORMAT
from model.config import ScenarioError

def _first_difference(a, b, where="") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{where}{k}: {'missing' if k not in a else repr(a[k])[:60]} in the directory, " \
                       f"{'missing' if k not in b else repr(b[k])[:60]} now"
            d = _first_difference(a[k], b[k], f"{where}{k}.")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where.rstrip('.')}: {len(a)} items in the directory, {len(b)} now"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{where}{i}.")
            if d:
                return d
        return None
    if a != b:
        return f"{where.rstrip('.')}: {a!r} in the directory, {b!r} now"
    return None


def prepare_out(sw: Sweep, out: Path) -> tuple[dict, bool]:
    """Create DIR and write manifest.json, or check that DIR holds this very sweep (resume).
    Returns (manifest, resumed)."""
    where = f"--out {out}"
    new = sw.manifest()
    mpath = out / "manifest.json"
    if out.exists() and not out.is_dir():
        raise ScenarioError(where, "", "is an existing file; expected a directory")
    if mpath.exists():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise ScenarioError(where, "", f"manifest.json cannot be read ({e}); choose another --out or remove it") from None
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            raise ScenarioError(where, "", "manifest.json is not a sweep manifest; choose another --out")
        if old.get("fingerprint") != new["fingerprint"]:
            keys = ("base_scenario", "parameters", "record", "runs")
            diff = None
            for k in keys:
                diff = _first_difference(old.get(k), new[k], f"{k}.")
                if diff:
                    break
            raise ScenarioError(where, "", f"holds the manifest of a different sweep ({old.get('sweep_file')}, "
                                           f"{old.get('design', {}).get('runs')} runs); first difference: "
                                           f"{diff or 'unknown'}. Choose another --out, or remove the directory")
        if old.get("versions") != new["versions"]:
            print(f"warning: {out} was started with {old.get('versions')}, now {new['versions']}; "
                  "results of the remaining runs may differ", file=sys.stderr)
        (out / "runs").mkdir(exist_ok=True)
        return old, True
    if out.exists() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise ScenarioError(where, "", "already exists, is not empty and holds no sweep (no manifest.json); "
                                       "choose a new directory or remove it")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScenarioError(where, "", f"{parent} is not writable; choose another directory")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_text_atomic(mpath, json.dumps(new, indent=1, allow_nan=False))
    return new, False


def _lock(out: Path):
    """An exclusive lock on DIR/.lock for as long as this sweep runs (released by the OS even after
    SIGKILL): a second `run.py sweep` into the same directory is refused instead of doing the same runs."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        return None
    fh = open(out / ".lock", "a+")  # noqa: SIM115 - held open until the sweep ends
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ScenarioError(f"--out {out}", "", "another run.py sweep is writing into this directory; wait for it "
                                                "to finish (or stop it) and run this command again") from None
    return fh


def _clean_temp(out: Path):
    for d in (out, out / "runs"):
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(".") and ".tmp-" in p.name:
                    p.unlink(missing_ok=True)


def read_failed(out: Path, rewrite: bool = True) -> dict[str, dict]:
    """Runs recorded in failed.jsonl; a line cut short by a kill is dropped (and the file rewritten)."""
    path = out / "failed.jsonl"
    if not path.exists():
        return {}
    good, broken = {}, False
    text = path.read_text()
    for line in text.splitlines(keepends=True):
        try:
            if not line.endswith("\n"):
                raise ValueError("incomplete line")
            rec = json.loads(line)
            good[rec["run_id"]] = rec
        except (ValueError, KeyError, TypeError):
            broken = True
    if broken and rewrite:
        write_text_atomic(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in good.values()))
    return good


class _Appender:
    """failed.jsonl, opened on the first record; each record is one write of one whole line."""

    def __init__(self, path: Path):
        self.path, self.fh = path, None

    def write(self, text: str):
        if self.fh is None:
            self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across runs
        self.fh.write(text)

    def flush(self):
        if self.fh is not None:
            self.fh.flush()

    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None
