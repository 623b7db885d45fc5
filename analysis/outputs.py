"""Writing results so that nothing half-written ever looks complete, and nothing is lost to a full disk.

- `check_output_dir(out)`: before any run, an output directory that cannot be written is the user's
  error (exit 2 naming the path): a file, a non-empty directory, a dangling symbolic link, a parent
  that is not writable (permissions, read-only mount), a name too long for the file system, a mount
  point (which the finished results cannot replace).
- `atomic_directory(out)`: everything goes into a hidden temporary directory beside `out`
  (`.NAME.partial-PID`), which is renamed into place only when the block finishes; an exception,
  Ctrl-C or SIGTERM (run.py turns it into an exception) removes it. Partial directories of dead
  processes of this machine are removed by the next run into the same parent. `run` and `calibrate`
  write their output directories through it.
- `write_bytes_atomic`, `write_text_atomic`: one file, through a temporary file, flushed to disk
  (fsync) before `os.replace`, then the directory entry too, so that after a crash of the machine a
  file that exists is complete.
- `disk_full(e)`: the OSError is "no space left" (or a quota): callers say so in one line (exit 1).
- `write_run`: the files of one run (docs: README, "Running scenarios").
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import stat
from pathlib import Path

from model import metric_dictionary
from model.config import ScenarioError

PARTIAL = ".partial-"
OWNER = ".owner"  # inside a partial directory: "HOST PID", whose process writes it
_LONGEST_PID = 10  # digits of the largest pid the partial and temporary names must leave room for


def disk_full(e: BaseException) -> bool:
    """An OSError that means the disk (or the user's quota) is full."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_dir(path: Path):
    """Flush a directory's entries (a rename into it) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, durable: bool = True):
    """Write `data` to `path` through a hidden temporary file beside it, flushed to disk before
    os.replace (and the directory after it) unless `durable` is False."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str, durable: bool = True):
    write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


# ---------------------------------------------------------------------------------------------
# Output directories


def _name_max(d: Path) -> int:
    try:
        return int(os.pathconf(d, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _path_max(d: Path) -> int:
    try:
        return int(os.pathconf(d, "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return 4096


def _lstat(p: Path, where: str):
    """os.lstat, or None when the path does not exist; a path that cannot be examined is the user's error."""
    try:
        return os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise ScenarioError(where, "", f"{p} cannot be examined ({e.strerror}); choose another directory") from None


def is_mount_point(path: Path) -> bool:
    """`path` is a mount point (a bind mount of a directory of the same file system included, which
    os.path.ismount does not see): it cannot be removed or replaced by a rename (EBUSY)."""
    if os.path.ismount(path):
        return True
    try:
        real = os.path.realpath(path)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 4:
                    point = fields[4].encode().decode("unicode_escape")  # spaces are written as \040
                    if point == real:
                        return True
    except OSError:
        pass
    return False


def check_output_dir(out: str | os.PathLike, flag: str = "--out", resume: bool = False) -> Path:
    """Check, before anything runs, that `out` can become the output directory: a new directory, or an
    empty one (`resume`: any existing directory, whose content the caller checks), whose nearest
    existing parent is a writable directory and whose name and temporary names fit the file system.
    Every problem is a ScenarioError naming `flag` and the path (exit code 2 on the command line)."""
    text = os.fspath(out)
    where = f"{flag} {text}" if text else f"{flag} ''"
    if not text.strip():
        raise ScenarioError(where, "", "an empty path; expected a directory")
    out = Path(text)
    absolute = Path(os.path.abspath(text))
    room = len(".") + len(PARTIAL) + _LONGEST_PID  # atomic_directory's hidden name beside `out`
    # walk down from the root: names are checked against the file system before they are looked up
    parent, missing = Path(absolute.anchor), []
    for i, name in enumerate(absolute.parts[1:]):
        limit = _name_max(parent)
        last = i == len(absolute.parts) - 2
        need = len(name.encode()) + (room if last else 0)
        if need > limit:
            raise ScenarioError(where, "", f"the name {name[:40]}{'...' if len(name) > 40 else ''} is too long for "
                                           f"this file system ({len(name.encode())} bytes; at most "
                                           f"{limit - (room if last else 0)} here"
                                           f"{f', as {room} are needed for the temporary name' if last else ''}); "
                                           "choose a shorter one")
        if missing:
            missing.append(name)
            continue
        child = parent / name
        st = _lstat(child, where)
        if st is None:
            missing.append(name)
            continue
        if stat.S_ISLNK(st.st_mode) and not child.exists():
            raise ScenarioError(where, "", f"{child} is a symbolic link to a missing target ({os.readlink(child)}); "
                                           "remove the link or choose another directory")
        if not last and not child.is_dir():
            raise ScenarioError(where, "", f"{child} is a file, not a directory; expected a directory path")
        if not last:
            parent = child
    if len(str(absolute).encode()) + room + 64 > _path_max(parent):
        raise ScenarioError(where, "", f"the path is too long for this file system (at most {_path_max(parent)} bytes "
                                       "including the files inside); choose a shorter one")
    if not missing:  # `out` exists
        if not out.is_dir():
            raise ScenarioError(where, "", "is an existing file; expected a new or empty directory")
        if not resume and any(out.iterdir()):
            raise ScenarioError(where, "", "already exists and is not empty; choose a new directory or remove it")
        if not resume and is_mount_point(absolute):
            raise ScenarioError(where, "", f"is a mount point: the results are written beside it and then moved into "
                                           f"its place, which a mount point does not allow; choose a new directory "
                                           f"elsewhere, or inside it if it can be written (e.g. "
                                           f"{os.path.join(text, 'results')})")
    target = absolute if resume and not missing else parent  # a resumed sweep writes inside `out`
    if not os.access(target, os.W_OK | os.X_OK):
        raise ScenarioError(where, "", f"{target} is not writable (permissions, or a read-only file system); "
                                       "choose another directory")
    probe = target / f".probe{PARTIAL}{os.getpid()}-probe"
    try:  # what os.access cannot know: a read-only mount seen by root, quotas, odd file systems
        probe.mkdir()
    except FileExistsError:
        pass
    except OSError as e:
        raise ScenarioError(where, "", f"cannot create a directory in {target} ({e.strerror}); choose another "
                                       "directory") from None
    else:
        with contextlib.suppress(OSError):
            probe.rmdir()
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_partials(parent: Path) -> list[Path]:
    """Remove the partial directories (`.NAME.partial-PID`) in `parent` that processes of this machine
    left behind when they died (SIGKILL, a crash): those whose owner file names this host and a pid
    that no longer runs. Directories of other machines (a shared file system) are left alone."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    host = socket.gethostname()
    for d in entries:
        name = d.name
        if not (name.startswith(".") and PARTIAL in name) or name.endswith("-probe"):
            continue
        pid_text = name.rsplit(PARTIAL, 1)[1]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or not d.is_dir() or d.is_symlink():
            continue
        try:
            owner = (d / OWNER).read_text().split()
        except OSError:
            owner = []
        if len(owner) != 2 or owner[0] != host or owner[1] != pid_text:
            continue  # not ours to judge (another machine's, or not made by atomic_directory)
        if not _pid_alive(int(pid_text)):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


@contextlib.contextmanager
def atomic_directory(out: Path):
    """Yield a fresh hidden directory beside `out`; on success it becomes `out` (which must be absent
    or an empty directory), on any exception (Ctrl-C and SIGTERM included) it is removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out.parent)
    tmp = out.parent / f".{out.name}{PARTIAL}{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        (tmp / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        yield tmp
        (tmp / OWNER).unlink(missing_ok=True)
        try:
            if out.exists():
                out.rmdir()  # only ever an empty directory here (checked by the caller)
            os.replace(tmp, out)
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.EXDEV, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTEMPTY):
                raise
            # checked before the run (check_output_dir); still the user's directory, not a broken program
            raise ScenarioError(str(out), "", f"cannot be replaced by the results ({e.strerror}); nothing was "
                                              "written there; choose a new directory") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(res, out: Path, resolved: str, figures: bool = True, progress=None) -> Path:
    """The files of one run (`res`: model.api.RunOutputs with its tables and, for figures, its model):
    config.yaml, timeseries.parquet/.csv, networks.parquet/.csv, cities.parquet/.csv,
    named_networks.parquet/.csv (runs with a catalogue of real networks), metrics.csv (the metric dictionary), summary.json and figures/.
    `progress(done, total, what)` is called before each file or figure is written."""
    cfg = res.scenario
    with atomic_directory(out) as tmp:
        ts = res.timeseries

        def tables():
            (tmp / "config.yaml").write_text(resolved)
            ts.to_parquet(tmp / "timeseries.parquet", index=False)
            ts.to_csv(tmp / "timeseries.csv", index=False)
            for name, table in (("networks", res.networks), ("cities", res.cities)):
                table.to_parquet(tmp / f"{name}.parquet", index=False)
                table.to_csv(tmp / f"{name}.csv", index=False)  # beside every table: what a spreadsheet opens
            if cfg.networks.catalogue and res.named_networks is not None:
                res.named_networks.to_parquet(tmp / "named_networks.parquet", index=False)
                res.named_networks.to_csv(tmp / "named_networks.csv", index=False)
            metric_dictionary.table(cfg.issue_names).to_csv(tmp / "metrics.csv", index=False)

        stages = [("tables", tables)]
        if figures:
            from analysis.figures import run_figures

            for name, draw in run_figures(res):
                stages.append((f"figures/{name}", lambda name=name, draw=draw: _figure(draw, tmp / "figures" / name)))
        for j, (what, do) in enumerate(stages):
            if progress is not None:
                progress(j, len(stages), what)
            do()
        steps = int(ts["step"].iloc[-1]) if len(ts) else 0  # the last step (step 0 is the initial state)
        summary = {"scenario": cfg.name, "seed": cfg.seed, "steps": steps,
                   "final": res.final, "runtime_s": round(res.runtime_s, 3)}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        if progress is not None:
            progress(len(stages), len(stages), "done")
    return Path(out)


def _figure(draw, path: Path):
    from analysis.figures import save

    path.parent.mkdir(parents=True, exist_ok=True)
    save(draw(), path)
