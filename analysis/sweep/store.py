"""The output directory of a sweep: the lock (taken before anything is written), the manifest
(written before any run, with the code that runs), resuming (nothing trusted: every run file is
verified against the run ledger), atomic run files and failed.jsonl.

- `.lock`: an exclusive flock held for as long as the sweep runs; a second `run.py sweep` into the
  same directory is refused before it reads or writes anything else.
- `manifest.json`: the design and, under "code", the project's version and a SHA-256 of the source
  that shapes results (model/*.py, data/*.csv, the catalogue the base scenario names, and the sweep
  code that runs and tabulates a run). A resume with other code is refused unless
  `allow_code_change`; the change is then recorded in the manifest's "code_changes".
- `ledger.jsonl`: one line per finished run (run id, bytes, SHA-256, rows), appended after its file
  is in place; on resume each run file must match its line (or, without one, read back with the
  expected rows and columns); a damaged file is removed and its run done again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tomllib
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.outputs import check_output_dir, write_text_atomic
from analysis.sweep.spec import FORMAT
from model.config import ScenarioError
from model.loading import differences, resolve_data_path

if TYPE_CHECKING:  # annotations only: plan.py imports this module (code_identity)
    from analysis.sweep.plan import Sweep

ROOT = Path(__file__).resolve().parents[2]
# What shapes a run's results: the model, its data, and the sweep code that runs a run and tabulates it
SOURCE_GLOBS = ("model/*.py", "data/*.csv", "analysis/sweep/loop.py", "analysis/sweep/task.py",
                "analysis/sweep/results.py")
LEDGER = "ledger.jsonl"


def project_version() -> str:
    """The version in pyproject.toml (else the installed package's)."""
    try:
        with open(ROOT / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        try:
            return version("city-diplomacy")
        except Exception:  # noqa: BLE001 - no version known
            return "unknown"


def code_identity(base: dict | None = None) -> dict:
    """The project's version and a SHA-256 over the files that shape a run's results (SOURCE_GLOBS,
    plus the network catalogue the base scenario names when it lies elsewhere)."""
    files = sorted({p for g in SOURCE_GLOBS for p in ROOT.glob(g) if p.is_file()})
    cat = ((base or {}).get("networks") or {}).get("catalogue")
    if cat:
        p = resolve_data_path(cat).resolve()
        if p.is_file() and p not in files:
            files.append(p)
    h = hashlib.sha256()
    for p in files:
        try:
            name = str(p.relative_to(ROOT))
        except ValueError:
            name = str(p)
        h.update(name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return {"version": project_version(), "source_sha256": h.hexdigest(), "files": len(files)}


def _first_difference(a, b, where="") -> str | None:
    for path, kind, x, y in differences(a, b, where):
        if kind == "missing":
            return f"{path}: {repr(x)[:60]} in the directory, {repr(y)[:60]} now"  # MISSING: "missing"
        if kind == "length":
            return f"{path}: {len(x)} items in the directory, {len(y)} now"
        return f"{path}: {x!r} in the directory, {y!r} now"
    return None



def _not_a_sweep(out: Path) -> bool:
    """A non-empty directory without a manifest (hidden files such as .lock do not count)."""
    return out.is_dir() and not (out / "manifest.json").exists() and any(
        not p.name.startswith(".") for p in out.iterdir())


def open_out(sw: Sweep, out: Path, allow_code_change: bool = False) -> tuple[object, dict, bool]:
    """Take the directory for this sweep: check that it can be written, create it, take the lock, and
    only then read or write the manifest (prepare_out). Returns (lock, manifest, resumed); on an error
    a directory this call created is removed again."""
    where = f"--out {out}"
    check_output_dir(out, resume=True)
    if _not_a_sweep(out):
        raise ScenarioError(where, "", "already exists, is not empty and holds no sweep (no manifest.json); "
                                       "choose a new directory or remove it")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock = None
    try:
        lock = _lock(out)
        manifest, resumed = prepare_out(sw, out, allow_code_change=allow_code_change)
        return lock, manifest, resumed
    except BaseException:
        if lock is not None:
            if created and not (out / "manifest.json").exists():
                shutil.rmtree(out, ignore_errors=True)
            lock.close()
        raise


def resume_problem(sw: Sweep, out: Path, allow_code_change: bool = False) -> ScenarioError | None:
    """What prepare_out would refuse in `out` for this sweep, found without writing anything: a directory
    that is not a sweep, the manifest of a different sweep, or other model code (unless allowed). None when
    the sweep can start or resume there."""
    out = Path(out)
    where = f"--out {out}"
    mpath = out / "manifest.json"
    if out.exists() and not out.is_dir():
        return ScenarioError(where, "", "is an existing file; expected a directory")
    if not mpath.exists():
        if _not_a_sweep(out):
            return ScenarioError(where, "", "already exists, is not empty and holds no sweep (no manifest.json); "
                                            "choose a new directory or remove it")
        return None
    try:
        old = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        return ScenarioError(where, "", f"manifest.json cannot be read ({e}); choose another --out or remove it")
    new = sw.manifest()
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        return ScenarioError(where, "", "manifest.json is not a sweep manifest; choose another --out")
    if old.get("fingerprint") != new["fingerprint"]:
        diff = None
        for k in ("base_scenario", "parameters", "record", "runs"):
            diff = _first_difference(old.get(k), new[k], f"{k}.")
            if diff:
                break
        return ScenarioError(where, "", f"holds the runs of a different design ({old.get('design', {}).get('runs')} "
                                        f"runs); first difference: {diff or 'unknown'}")
    was, now = old.get("code") or {}, new["code"]
    if was.get("source_sha256") != now["source_sha256"] and not allow_code_change:
        return ScenarioError(where, "", f"was started with other model code (version {was.get('version')}, source "
                                        f"{str(was.get('source_sha256'))[:12]}; now version {now['version']}, source "
                                        f"{now['source_sha256'][:12]}); resume anyway with --allow-code-change "
                                        "(recorded), or run into a new directory")
    return None


def prepare_out(sw: Sweep, out: Path, allow_code_change: bool = False) -> tuple[dict, bool]:
    """Under the lock: write manifest.json into a directory without one, or check that the directory
    holds this very sweep, made by the same code (resume). Returns (manifest, resumed)."""
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
        _check_code(old, new, out, allow_code_change)
        if old.get("versions") != new["versions"]:
            print(f"warning: {out} was started with {old.get('versions')}, now {new['versions']}; "
                  "results of the remaining runs may differ", file=sys.stderr)
        (out / "runs").mkdir(exist_ok=True)
        return old, True
    if _not_a_sweep(out):
        raise ScenarioError(where, "", "already exists, is not empty and holds no sweep (no manifest.json); "
                                       "choose a new directory or remove it")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_text_atomic(mpath, json.dumps(new, indent=1, allow_nan=False))
    return new, False


def _check_code(old: dict, new: dict, out: Path, allow: bool):
    """Refuse to resume with other code than the sweep's (unless `allow`, which is then recorded)."""
    was, now = old.get("code") or {}, new["code"]
    if was.get("source_sha256") == now["source_sha256"]:
        return
    had = (f"version {was.get('version')}, source {str(was.get('source_sha256'))[:12]}" if was
           else "code that was not recorded")
    n_done = len(list((out / "runs").glob("*.parquet"))) if (out / "runs").is_dir() else 0
    if not allow:
        raise ScenarioError(f"--out {out}", "", f"was started with other model code ({had}; now version "
                                                f"{now['version']}, source {now['source_sha256'][:12]}): its {n_done} "
                                                "finished runs and the remaining ones would come from two models. "
                                                "Sweep into a new directory, or resume anyway with "
                                                "--allow-code-change (recorded in manifest.json)")
    print(f"warning: {out}: resuming with other model code than its {n_done} finished runs (--allow-code-change, "
          "recorded in manifest.json)", file=sys.stderr)
    old.setdefault("code_changes", []).append({
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "from": was or None, "to": now,
        "finished_runs_before": n_done, "allowed_by": "--allow-code-change"})
    old["code"] = now
    write_text_atomic(out / "manifest.json", json.dumps(old, indent=1, allow_nan=False))


def _lock(out: Path, name: str = ".lock", command: str = "run.py sweep"):
    """An exclusive lock on DIR/`name` for as long as this `command` runs (released by the OS even after
    SIGKILL), taken before anything else is read or written: a second one into the same directory is
    refused instead of mixing its manifest or runs with this one's."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        return None
    fh = open(out / name, "a+")  # noqa: SIM115 - held open until the command ends
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ScenarioError(f"--out {out}", "", f"another {command} is writing into this directory; wait for it "
                                                "to finish (or stop it) and run this command again") from None
    return fh


# ---------------------------------------------------------------------------------------------
# Run files and the ledger


def expected_columns(sw: Sweep) -> list[str]:
    """The columns of a run file (analysis/sweep/results.run_table)."""
    return ["run_id", "point", "replication", *sw.paths, "seed", "step", "year", *sw.metrics]


def expected_rows(sw: Sweep, params: dict) -> int:
    if not sw.every_step:
        return 1
    return int(params.get("steps", sw.base.get("steps"))) + 1  # step 0, the initial state, and every step


def read_ledger(out: Path) -> dict[str, dict]:
    """The run ledger: run id -> {bytes, sha256, rows}; a line cut short by a kill is ignored."""
    path = out / LEDGER
    if not path.exists():
        return {}
    good = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        try:
            if not line.endswith("\n"):
                raise ValueError("incomplete line")
            rec = json.loads(line)
            good[str(rec["run_id"])] = rec
        except (ValueError, KeyError, TypeError):
            continue
    return good


def ledger_line(run_id: str, data: bytes, rows: int) -> str:
    return json.dumps({"run_id": run_id, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                       "rows": int(rows)}) + "\n"


def file_problem(sw: Sweep, run_id: str, params: dict, data: bytes) -> str | None:
    """What is wrong with a run file's content (None when it reads back as this run's table)."""
    import pyarrow.parquet as pq  # only to read back run files on resume: `check` imports this module too

    if not data:
        return "empty"
    try:
        t = pq.read_table(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - any failure to read it back makes it unusable
        return f"unreadable ({type(e).__name__})"
    if t.column_names != expected_columns(sw):
        return "not this sweep's columns"
    rows = expected_rows(sw, params)
    if t.num_rows != rows:
        return f"{t.num_rows} rows, expected {rows}"
    ids = set(t.column("run_id").to_pylist())
    if ids != {run_id}:
        return f"holds the rows of {sorted(map(str, ids))[:2]}"
    return None


def verify_runs(sw: Sweep, out: Path) -> tuple[set[str], list[tuple[str, str]]]:
    """Check every run file of this sweep: it must match its ledger line (size and SHA-256) or, when
    the ledger has none (killed between the two writes, or a sweep begun before the ledger), read back
    with the expected columns and rows (it then gets its line). Damaged files are removed, so that
    their runs are done again. Returns (finished run ids, [(run id, problem)])."""
    runs_dir = out / "runs"
    ledger = read_ledger(out)
    present = {p.stem for p in runs_dir.glob("*.parquet")} if runs_dir.is_dir() else set()
    done, broken, add = set(), [], []
    for rid, _p, _r, params, _s in sw.runs():
        if rid not in present:
            continue
        f = runs_dir / f"{rid}.parquet"
        try:
            data = f.read_bytes()
        except OSError as e:
            problem = f"unreadable ({e.strerror})"
        else:
            rec = ledger.get(rid)
            if rec is not None:
                same = rec.get("bytes") == len(data) and rec.get("sha256") == hashlib.sha256(data).hexdigest()
                problem = None if same else ("empty" if not data else "cut short or changed since it was written "
                                                                      "(its size or checksum differs from the ledger)")
            else:
                problem = file_problem(sw, rid, params, data)
                if problem is None:
                    add.append(ledger_line(rid, data, expected_rows(sw, params)))
        if problem is None:
            done.add(rid)
        else:
            broken.append((rid, problem))
            f.unlink(missing_ok=True)
    if add:
        append_lines(out / LEDGER, add)
    return done, broken


def append_lines(path: Path, lines: list[str], durable: bool = True):
    """Append whole lines to a journal file, flushed to disk; a last line cut short by a kill is ended
    first, so that it does not swallow the next one."""
    with open(path, "ab") as fh:
        if fh.tell() > 0:
            with open(path, "rb") as rd:
                rd.seek(-1, os.SEEK_END)
                if rd.read(1) != b"\n":
                    fh.write(b"\n")
        fh.write("".join(lines).encode("utf-8"))
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


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
            os.fsync(self.fh.fileno())

    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None
