"""The sweep loop: submit the missing runs to an execution back-end (analysis/execution.py), write
each finished run atomically, record failures, and assemble the results at the end. What a worker
runs for one run (`run_one`, `_task`) is in analysis/sweep/task.py.

`run_sweep` checks, locks and prepares the output directory; `_execute` then takes named steps:
`_pending` (what is left to run), `_start` (the back-end), `_Loop` (submit, collect, failure
handling, progress) and `_finish` (the results and the summary lines).

Re-running into the same directory runs only what is missing (runs that failed are not retried
unless `retry_failed`), so the results equal those of an uninterrupted sweep, also after SIGKILL.
Nothing on disk is trusted: every run file is verified against the run ledger first, and damaged
ones are run again (analysis/sweep/store.py). Results stream to disk: the parent keeps only the runs
in flight. A full disk stops the sweep with one line (exit 1); what finished is kept for resuming.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import time
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from analysis.execution import (
    CONNECT_TIMEOUT,
    check_workers,
    default_workers,
    local_slots,
    make_backend,
    single_threaded_blas,
)
from analysis.outputs import disk_full, write_bytes_atomic
from analysis.sweep.plan import Sweep, load_sweep
from analysis.sweep.results import finish, param_types
from analysis.sweep.store import (
    LEDGER,
    _Appender,
    _clean_temp,
    append_lines,
    ledger_line,
    open_out,
    read_failed,
    verify_runs,
)
from analysis.sweep.task import _task, run_one
from model import footprint
from model.config import ScenarioError
from model.interventions import loaded_plugins

__all__ = ["SweepAborted", "SweepResult", "_task", "run_one", "run_sweep"]


class SweepAborted(RuntimeError):
    """The execution back-end failed (not a run): the sweep stops; what finished is kept for resuming."""


@dataclass
class SweepResult:
    out: Path
    total: int
    finished: int
    failed: int
    ran: int  # runs executed by this call (finished or failed)
    wall_s: float
    model_s: float  # time the runs of this call spent inside the worker function
    startup_s: float
    backend: str
    files: list[str] = field(default_factory=list)


def _bar(total: int, initial: int, quiet: bool, desc: str):
    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit="run", disable=disable, leave=False,
                dynamic_ncols=True, smoothing=0.05)


def run_sweep(sweep: Sweep | str | os.PathLike, out: str | os.PathLike | None = None, *, workers: int | None = None,
              scheduler: str | None = None, scheduler_file: str | None = None, executor=None, client=None,
              quiet: bool = False, retry_failed: bool = False, progress=None, analyse: bool = True,
              task=None, allow_code_change: bool = False, connect_timeout: float | None = None,
              memory_limit: float | None = None, backend=None) -> SweepResult:
    """Run a sweep (or what is missing of it) and write every output file into `out`.

    Back-end: `executor` (any concurrent.futures.Executor), else a Dask cluster (`client`, `scheduler`
    address or `scheduler_file`, connecting for at most `connect_timeout` seconds), else `workers` local
    processes (default: the cores; 1: in this process). `backend`: an `analysis.execution.Backend` to
    use instead (the sweep closes it at the end, like its own; the claims lab passes one whose close
    does nothing, to share its worker processes between sweeps). `progress(finished, failed, total)` is
    called after each run. `task` replaces the function that executes one run in a worker (default
    `_task`; same signature and result), e.g. in tests. Resuming with other model code than the
    directory's is refused unless `allow_code_change`. `memory_limit` (bytes; default that of the Sweep,
    else model.footprint.default_limit()) bounds the memory of the runs in flight on this machine."""
    t_start = time.perf_counter()
    task = _task if task is None else task
    sw = sweep if isinstance(sweep, Sweep) else load_sweep(sweep, memory_limit=memory_limit)
    out = Path(out) if out is not None else Path("results") / "sweeps" / sw.name
    limit = memory_limit if memory_limit is not None else sw.memory_limit
    limit = footprint.default_limit() if limit is None else float(limit)
    dask = backend is None and executor is None and (client is not None or scheduler is not None
                                                     or scheduler_file is not None)
    if backend is not None:
        local = started = local_slots(backend)  # a lent pool: its processes are running already
    else:
        local = 1 if dask or executor is not None else (default_workers() if workers is None else max(1, int(workers)))
        started = min(local, sw.n_runs)  # _execute starts no more processes than there are runs
    if started > 1 and backend is None:
        check_workers(started, memory_limit=limit)
    at_once = min(local, sw.n_runs)
    idle = max(0, started - at_once) * footprint.BASE  # processes started beyond the runs still hold the program
    if sw.peak_bytes * at_once + idle > limit:
        extra = f" and {started - at_once} idle worker processes" if idle else ""
        raise ScenarioError(f"--workers {local}" if workers is not None else sw.source, "",
                            f"{at_once} runs at once{extra} need about {(sw.peak_bytes * at_once + idle) / 1e9:.1f} GB "
                            f"of memory ({sw.peak_bytes / 1e9:.1f} GB each run), more than the limit of "
                            f"{limit / 1e9:.1f} GB; use fewer --workers, or raise --memory-limit if this machine has "
                            "the memory")
    if dask:
        # connect first: a wrong address is the user's error, reported before anything is written
        backend = make_backend(scheduler=scheduler, scheduler_file=scheduler_file, client=client,
                               connect_timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
    try:
        lock, _, resumed = open_out(sw, out, allow_code_change=allow_code_change)
    except BaseException as e:
        if backend is not None:
            backend.close()
        if disk_full(e):
            raise SweepAborted(_full_message(out, e, started=False)) from None
        raise
    try:
        return _execute(sw, out, backend, resumed, t_start, workers=workers, executor=executor, quiet=quiet,
                        retry_failed=retry_failed, progress=progress, analyse=analyse, task=task, memory_limit=limit)
    except OSError as e:
        if disk_full(e):
            raise SweepAborted(_full_message(out, e)) from None
        raise
    finally:
        if lock is not None:
            lock.close()


def _full_message(out: Path, e: OSError, started: bool = True) -> str:
    if not started:
        return f"no space left on the device of {out} ({e.strerror}): nothing was run and nothing half-written is left"
    return (f"no space left on the device of {out} ({e.strerror}): the sweep stopped; every finished run is kept "
            "and nothing half-written is left, so after freeing space the same command resumes where it stopped")


def _execute(sw: Sweep, out: Path, backend, resumed: bool, t_start: float, *, workers, executor, quiet,
             retry_failed, progress, analyse, task, memory_limit=None) -> SweepResult:
    """The sweep in `out` (locked and prepared by run_sweep): what is left to run, run on the back-end
    (started here unless given), then the results. Its steps: `_pending`, `_start`, `_Loop` (submit,
    collect, failure handling, progress), `_finish`."""
    todo, n_done, n_failed = _pending(sw, out, retry_failed)
    if not quiet:
        for w in sw.warnings:
            print(f"warning: {sw.source}: {w}", file=sys.stderr)
    ptypes = param_types(sw)
    loop = None
    startup_s = 0.0
    desc = "nothing to run"
    if not todo and backend is not None:
        backend.close()
    if todo:
        t_b = time.perf_counter()
        backend = _start(backend, len(todo), workers, executor)
        startup_s = time.perf_counter() - t_b
        desc = backend.describe()
        if not quiet:
            state = f"resuming: {n_done} finished, {n_failed} failed, " if resumed else ""
            print(f"sweep {sw.name}: {sw.size()}; "
                  f"{state}{len(todo)} to run on {desc} -> {out}", file=sys.stderr)
        loop = _Loop(sw, out, backend, task, ptypes, memory_limit, progress, quiet, n_done, n_failed)
        loop.run(todo)
        n_done, n_failed = loop.n_done, loop.n_failed
    return _finish(sw, out, backend, t_start, n_done=n_done, n_failed=n_failed, ran=loop.ran if loop else 0,
                   model_s=loop.model_s if loop else 0.0, startup_s=startup_s, desc=desc, quiet=quiet,
                   retry_failed=retry_failed, analyse=analyse)


def _pending(sw: Sweep, out: Path, retry_failed: bool) -> tuple[deque, int, int]:
    """What is left to run in `out` (a queue of runs: run id, point, replication, parameters, seed) and
    how many runs finished and failed before. Leftover temporary files go; with `retry_failed` the
    failures are forgotten; resuming trusts no file: each is checked against the ledger, and damaged
    ones are run again (with a warning)."""
    _clean_temp(out)
    failed = read_failed(out)
    if retry_failed and failed:
        failed = {}
        (out / "failed.jsonl").unlink()
    done, damaged = verify_runs(sw, out)  # resuming trusts no file: each is checked against the ledger
    if damaged:
        shown = "; ".join(f"{rid}: {why}" for rid, why in damaged[:3])
        more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        print(f"warning: {out}: {len(damaged)} run file{'s were' if len(damaged) != 1 else ' was'} damaged and "
              f"will be run again ({shown}{more})", file=sys.stderr)
    todo = deque((rid, p, r, params, s) for rid, p, r, params, s in sw.runs() if rid not in done and rid not in failed)
    n_done = sum(1 for rid, *_ in sw.runs() if rid in done)
    n_failed = sum(1 for rid, *_ in sw.runs() if rid in failed)
    return todo, n_done, n_failed


def _start(backend, n_todo: int, workers, executor):
    """The back-end to run on: the one given, else a new one with no more worker processes than runs to do."""
    if backend is None:  # no more worker processes than runs to do
        n = default_workers() if workers is None else max(1, int(workers))
        backend = make_backend(workers=n if executor is not None else min(n, n_todo), executor=executor)
    return backend


class _Loop:
    """The runs of one call on one back-end: submit them (keeping the back-end's capacity in flight),
    collect the finished ones (each written atomically, then recorded in the ledger), record failures
    (failed.jsonl), find the culprit when a worker process dies (the runs it took with it are run again one
    at a time), and report progress (the bar and the `progress` callback)."""

    def __init__(self, sw: Sweep, out: Path, backend, task, ptypes: dict, memory_limit, progress, quiet: bool,
                 n_done: int, n_failed: int):
        self.sw, self.out, self.backend, self.task, self.progress = sw, out, backend, task, progress
        self.n_done, self.n_failed = n_done, n_failed
        self.ran = 0  # runs executed (finished or failed)
        self.model_s = 0.0  # time they spent inside the worker function
        self.bar = _bar(sw.n_runs, n_done + n_failed, quiet, sw.name)
        if n_failed:
            self.bar.set_postfix(failed=n_failed, refresh=False)
        self.fail_fh = _Appender(out / "failed.jsonl")
        self.steps = sw.base.get("steps")
        self.meta = {"ptypes": ptypes, "memory_limit": memory_limit}
        self.inflight: dict = {}  # future -> run
        self.ready: queue.SimpleQueue = queue.SimpleQueue()  # futures, as they finish (done callbacks)
        self.suspects: deque = deque()  # runs lost with a dead worker process, to run one at a time
        self.isolating = False  # a suspect runs alone

    def run(self, todo: deque) -> None:
        """Run `todo` to the end; the back-end is closed afterwards (its runs cancelled on an exception)."""
        blas = single_threaded_blas()  # the same numerics in this process as in the workers
        self.meta["plugins"] = loaded_plugins()
        try:
            while todo or self.inflight or self.suspects:
                self.submit_next(todo)
                finished = self.collect()
                if not finished:
                    continue
                broken = [run for f in finished if (run := self.record(f)) is not None]
                if broken:
                    self.worker_died(broken)
        except BaseException:
            self.bar.close()
            self.fail_fh.close()
            self.backend.close(cancel=True)
            raise
        finally:
            if blas is not None:
                blas.restore_original_limits()
        self.bar.close()
        self.fail_fh.close()
        self.backend.close()

    def submit(self, run) -> None:
        meta = {"point": run[1], "replication": run[2], "ptypes": self.meta["ptypes"],
                "memory_limit": self.meta["memory_limit"], "plugins": self.meta["plugins"]}
        f = self.backend.executor.submit(self.task, run[0], self.sw.base, run[3], run[4], self.steps,
                                         self.sw.record, meta)
        self.inflight[f] = run
        f.add_done_callback(self.ready.put)

    def submit_next(self, todo: deque) -> None:
        """After a worker died: the suspects one at a time, to find the culprit; else fill the back-end."""
        if self.suspects:
            if not self.inflight:
                self.submit(self.suspects.popleft())
                self.isolating = True
        elif not self.isolating or not self.inflight:
            self.isolating = False
            cap = self.backend.capacity()
            while todo and len(self.inflight) < cap:
                self.submit(todo.popleft())

    def collect(self) -> list:
        """The futures finished by now, waiting up to a second for the first (empty: none yet)."""
        try:
            finished = [self.ready.get(timeout=1.0)]
        except queue.Empty:
            return []
        while not self.ready.empty():
            finished.append(self.ready.get())
        return finished

    def record(self, f):
        """One finished future: its run written (or its failure recorded). Returns the run when the pool
        broke under it (a worker process died), else None."""
        run = self.inflight.pop(f, None)
        if run is None:  # already handled with a broken pool
            return None
        try:
            res = f.result()
        except BrokenProcessPool:
            return run
        except Exception as e:  # the back-end failed, not the run (run_one's errors are returned)
            if type(e).__name__ != "KilledWorker":  # e.g. the connection to the cluster is lost
                raise SweepAborted(f"the back-end failed ({type(e).__name__}: {e}); finished runs are "
                                   "kept, run the same command again to resume") from e
            # Dask gave up on this run after it killed several workers (e.g. out of memory)
            res = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": "", "runtime_s": 0.0}
        self.ran += 1
        self.model_s += float(res.get("runtime_s", 0.0))
        if res["ok"]:
            write_bytes_atomic(self.out / "runs" / f"{run[0]}.parquet", res["parquet"])
            append_lines(self.out / LEDGER, [ledger_line(run[0], res["parquet"], res["rows"])])
            self.n_done += 1
        else:
            self.failure(run, res["error"], res.get("traceback", ""))
        self.advance()
        return None

    def failure(self, run, error: str, tb: str = "") -> None:
        """A failed run, recorded in failed.jsonl (flushed at once) and on the bar."""
        rid, p, r, params, seed = run
        rec = {"run_id": rid, "point": p, "replication": r, "parameters": params, "seed": seed,
               "error": error, "traceback": tb}
        self.fail_fh.write(json.dumps(rec, allow_nan=False, default=str) + "\n")
        self.fail_fh.flush()
        self.n_failed += 1
        self.bar.set_postfix(failed=self.n_failed, refresh=False)

    def worker_died(self, broken: list) -> None:
        """A worker process died: every run in flight is lost with the pool, which is restarted. A run
        that was alone (a suspect) is the culprit: a failure; else all lost runs become suspects."""
        broken += list(self.inflight.values())
        self.inflight.clear()
        if not self.backend.can_restart:
            raise SweepAborted("a worker process died and the executor cannot be restarted; finished "
                               "runs are kept, run the same command again to resume")
        self.backend.restart()
        if self.isolating and len(broken) == 1:
            self.failure(broken[0], "the worker process died while running it (out of memory, or a crash "
                                    "in native code)")
            self.ran += 1
            self.advance()
        else:
            self.suspects.extend(sorted(broken, key=lambda x: x[0]))

    def advance(self) -> None:
        """Progress: one more run finished or failed."""
        self.bar.update(1)
        if self.progress is not None:
            self.progress(self.n_done, self.n_failed, self.sw.n_runs)


def _finish(sw: Sweep, out: Path, backend, t_start: float, *, n_done: int, n_failed: int, ran: int, model_s: float,
            startup_s: float, desc: str, quiet: bool, retry_failed: bool, analyse: bool) -> SweepResult:
    """The results of the sweep (analysis/sweep/results.py), its last lines, and what it did."""
    files = finish(sw, out, quiet=quiet, analyse=analyse)
    wall = time.perf_counter() - t_start
    if not quiet:
        print(f"wrote {out}: {n_done} runs finished, {n_failed} failed ({wall:.1f} s)", file=sys.stdout)
    if n_failed:
        print(f"warning: {n_failed} of {sw.n_runs} runs failed; see {out / 'failed.jsonl'}"
              f"{'' if retry_failed else ' (re-run with --retry-failed to run them again)'}", file=sys.stderr)
    startup = getattr(backend, "startup_s", 0.0) if backend is not None else 0.0
    return SweepResult(out=out, total=sw.n_runs, finished=n_done, failed=n_failed, ran=ran, wall_s=wall,
                       model_s=model_s, startup_s=max(startup, 0.0) or startup_s, backend=desc, files=files)
