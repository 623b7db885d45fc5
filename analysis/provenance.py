"""Provenance of an output: which model, which code, which commit, when, by which command.

`stamp(command, seeds, started)` returns a dict for the outputs of a run (claims.json, report.md,
report.html):

- `model_version`: the version in pyproject.toml (`analysis.sweep.store.project_version`);
- `source_sha256`: SHA-256 over the files that shape a run's results (model/*.py, data/*.csv and the
  sweep code that runs and tabulates a run): `analysis.sweep.store.code_identity`, the same value as
  "code.source_sha256" in every sweep manifest, so a report can be matched with its sweeps;
- `claims_sha256`: SHA-256 over the claims lab's code (analysis/claims/*.py), which turns runs into
  effects, intervals and verdicts, by the same scheme (relative path, NUL, SHA-256 of the bytes, in
  sorted order);
- `git_commit`: the commit of HEAD when the project is a git checkout (its top level is the project
  root) and git can be run; `git_dirty`: whether tracked files differ from that commit (untracked
  files do not count). Both None when not a checkout, without git, or when git fails or takes longer
  than GIT_TIMEOUT seconds: the stamp never fails;
- `date`: `started` if given, else the current UTC date-time (ISO 8601, seconds);
- `command`: the full command line as given; `seeds`: as given (plain JSON types);
- `python`: the Python version; `platform`: `platform.platform()`.

`stamp_lines(stamp)` gives the markdown paragraphs of a report header; the first one starts with
"Model version X.Y.Z" (tests/test_provenance.py reads it back from docs/claims_report.md).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from analysis.sweep import store

ROOT = Path(__file__).resolve().parents[1]
# The claims lab's code: what turns runs into effects, intervals and verdicts
CLAIMS_GLOBS = ("analysis/claims/*.py",)
GIT_TIMEOUT = 5.0  # seconds for each git call


def files_sha256(root: Path, globs: tuple[str, ...]) -> str:
    """SHA-256 over the files matching `globs` under `root`, in sorted order: for each file its path
    relative to root, a NUL byte and the SHA-256 of its bytes (the scheme of store.code_identity)."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted({p for g in globs for p in root.glob(g) if p.is_file()}):
        h.update(str(p.relative_to(root)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _git(root: Path, *args: str) -> str | None:
    """stdout of `git -C root args...`, or None when git is missing, fails or times out."""
    try:
        r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                           timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return r.stdout if r.returncode == 0 else None


def git_state(root: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit of HEAD, dirty) when `root` is the top level of a git checkout, else (None, None)."""
    root = Path(root or ROOT).resolve()
    out = _git(root, "rev-parse", "--show-toplevel", "HEAD")
    lines = (out or "").split()
    if len(lines) != 2:
        return None, None
    top, commit = lines
    try:
        if Path(top).resolve() != root:  # root lies inside some other repository
            return None, None
    except OSError:
        return None, None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status.strip()))


def _plain(x):
    """Seeds as plain JSON types (NumPy integers become int, tuples lists, keys strings)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        return x.item()
    return x


def command_line(argv: list[str] | None = None) -> str:
    """The command line of this process as a shell would take it: `python run.py claims --quick`."""
    argv = sys.argv if argv is None else argv
    return shlex.join(["python", *argv])


def stamp(command: str, seeds: dict | list | None = None, started: str | None = None) -> dict:
    """The provenance of an output (module docstring); never fails for want of git."""
    commit, dirty = git_state(ROOT)
    return {
        "model_version": store.project_version(),
        "source_sha256": store.code_identity()["source_sha256"],
        "claims_sha256": files_sha256(ROOT, CLAIMS_GLOBS),
        "git_commit": commit,
        "git_dirty": dirty,
        "date": started if started else datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "seeds": _plain(seeds),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _short(x, n: int = 12) -> str:
    return str(x)[:n] if x else "unknown"


def stamp_lines(s: dict, max_seeds: int = 300) -> list[str]:
    """Markdown paragraphs for a report header (join them with blank lines), e.g.

    Model version 0.2.2, source sha256 0123456789ab, claims lab sha256 ba9876543210, commit
    1234567890ab (clean), made 2026-12-07T17:55:28+00:00.
    Command: `python run.py claims`.
    Seeds: {"C1": 1, ...}.
    Python 3.12.3 on Linux-6.1.0-x86_64-with-glibc2.36.

    Hashes and the commit are shortened to 12 characters (the full ones are in the stamp); seeds
    longer than `max_seeds` characters are cut with "...".
    """
    if s.get("git_commit"):
        state = {True: "uncommitted changes", False: "clean"}.get(s.get("git_dirty"), "state unknown")
        commit = f"commit {_short(s['git_commit'])} ({state})"
    else:
        commit = "not a git checkout"
    first = (f"Model version {s.get('model_version') or 'unknown'}, source sha256 {_short(s.get('source_sha256'))}")
    if s.get("claims_sha256"):
        first += f", claims lab sha256 {_short(s['claims_sha256'])}"
    lines = [f"{first}, {commit}, made {s.get('date') or 'unknown'}."]
    cmd = str(s.get("command") or "").replace("`", "'")
    if cmd:
        lines.append(f"Command: `{cmd}`.")
    seeds = s.get("seeds")
    if (isinstance(seeds, dict) and len(seeds) > 1 and len({json.dumps(v) for v in seeds.values()}) == 1
            and len(json.dumps(seeds, separators=(", ", ": "))) > max_seeds):  # too long to show: one shared seed
        lines.append(f"Seeds: {json.dumps(next(iter(seeds.values())))} for each of the {len(seeds)} "
                     f"({', '.join(seeds)}).")
    elif seeds is not None:
        text = json.dumps(s["seeds"], separators=(", ", ": "))
        if len(text) > max_seeds:
            text = text[:max_seeds].rstrip() + " ..."
        lines.append(f"Seeds: {text}.")
    if s.get("python") or s.get("platform"):
        lines.append(f"Python {s.get('python') or 'unknown'} on {s.get('platform') or 'unknown'}.")
    return lines
