"""The sweep loop: submit the missing runs to an execution back-end (analysis/execution.py), write
each finished run atomically, record failures, and assemble the results at the end.

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
import traceback
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.execution import default_workers
from analysis.outputs import disk_full, write_bytes_atomic
from analysis.sweep.plan import Sweep, load_sweep
from analysis.sweep.results import finish, param_types, parquet_bytes, run_table
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
from model.api import run_scenario
from model.interventions import loaded_plugins
from model.loading import load_scenario
from model.metrics import metric_names


def run_one(base: dict | str | os.PathLike | None, overrides: dict, seed: int, steps: int | None = None,
            record: dict | None = None, memory_limit: float | None = None) -> pd.DataFrame:
    """One run: the base scenario (a resolved dict, or a path) with `overrides` and `seed`, run for
    `steps` (default: the scenario's) by `model.api.run_scenario`. Returns `step`, `year` and the
    recorded metrics (every step, or only the final one). Same inputs, same output, in any process.
    With `memory_limit` (bytes), a scenario estimated to need more is refused before it is built."""
    ov = dict(overrides)
    if steps is not None and "steps" not in ov:
        ov["steps"] = int(steps)
    cfg = load_scenario(base, overrides=ov, source="sweep" if isinstance(base, dict) else None, override_source="sweep")
    if memory_limit is not None:
        from model import footprint

        footprint.check(cfg, "sweep", memory_limit)
    res = run_scenario(cfg, seed=seed, tables=False)
    ts = res.timeseries
    record = record or {}
    cols = ["step", "year"] + list(record.get("metrics") or metric_names(cfg.issue_names))
    ts = ts[cols]
    if not record.get("every_step", True):
        ts = ts.iloc[[-1]]
    return ts.reset_index(drop=True)


def _task(run_id: str, base, overrides: dict, seed: int, steps, record: dict, meta: dict) -> dict:
    """What a worker executes for one run: the model (run_one), then the run's tidy table as Parquet
    bytes (so the parent only writes a file). Never raises for a failing run: returns the error.
    `meta`: point, replication, the column type of each parameter ({path: arrow type name}) and the
    plug-ins loaded in the sweep's process (model.interventions.loaded_plugins: their source travels
    with the run, so that local worker processes and Dask workers register them first)."""
    t0 = time.perf_counter()
    try:
        if meta.get("plugins"):  # the caller's plug-ins, registered here before the scenario is validated
            from model.interventions import ensure_plugins

            ensure_plugins(meta["plugins"])
        df = run_one(base, overrides, seed, steps, record, memory_limit=meta.get("memory_limit"))
    except Exception as e:  # noqa: BLE001 - recorded in failed.jsonl; the sweep goes on
        return {"run_id": run_id, "ok": False, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=20), "runtime_s": time.perf_counter() - t0}
    runtime = time.perf_counter() - t0
    table = run_table(run_id, meta["point"], meta["replication"], overrides, seed, df, meta["ptypes"])
    return {"run_id": run_id, "ok": True, "parquet": parquet_bytes(table), "rows": table.num_rows,
            "runtime_s": runtime}


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
    from tqdm import tqdm

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
    from analysis.execution import CONNECT_TIMEOUT, local_slots, make_backend
    from model import footprint
    from model.config import ScenarioError

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
        from analysis.execution import check_workers

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
    from analysis.execution import make_backend, single_threaded_blas

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
    if not quiet:
        for w in sw.warnings:
            print(f"warning: {sw.source}: {w}", file=sys.stderr)
    ptypes = param_types(sw)
    model_s = 0.0
    ran = 0
    startup_s = 0.0
    desc = "nothing to run"
    if not todo and backend is not None:
        backend.close()
    if todo:
        t_b = time.perf_counter()
        if backend is None:  # no more worker processes than runs to do
            n = default_workers() if workers is None else max(1, int(workers))
            backend = make_backend(workers=n if executor is not None else min(n, len(todo)), executor=executor)
        startup_s = time.perf_counter() - t_b
        desc = backend.describe()
        if not quiet:
            state = f"resuming: {n_done} finished, {n_failed} failed, " if resumed else ""
            print(f"sweep {sw.name}: {sw.size()}; "
                  f"{state}{len(todo)} to run on {desc} -> {out}", file=sys.stderr)
        bar = _bar(sw.n_runs, n_done + n_failed, quiet, sw.name)
        if n_failed:
            bar.set_postfix(failed=n_failed, refresh=False)
        fail_fh = _Appender(out / "failed.jsonl")
        blas = single_threaded_blas()  # the same numerics in this process as in the workers
        steps = sw.base.get("steps")
        inflight: dict = {}  # future -> run
        ready: queue.SimpleQueue = queue.SimpleQueue()  # futures, as they finish (done callbacks)
        suspects: deque = deque()
        isolating = False

        plugins = loaded_plugins()

        def submit(run):
            meta = {"point": run[1], "replication": run[2], "ptypes": ptypes, "memory_limit": memory_limit,
                    "plugins": plugins}
            f = backend.executor.submit(task, run[0], sw.base, run[3], run[4], steps, sw.record, meta)
            inflight[f] = run
            f.add_done_callback(ready.put)

        def failure(run, error: str, tb: str = ""):
            nonlocal n_failed
            rid, p, r, params, seed = run
            rec = {"run_id": rid, "point": p, "replication": r, "parameters": params, "seed": seed,
                   "error": error, "traceback": tb}
            fail_fh.write(json.dumps(rec, allow_nan=False, default=str) + "\n")
            fail_fh.flush()
            n_failed += 1
            bar.set_postfix(failed=n_failed, refresh=False)

        try:
            while todo or inflight or suspects:
                if suspects:  # after a worker died: run the suspects one at a time to find the culprit
                    if not inflight:
                        submit(suspects.popleft())
                        isolating = True
                elif not isolating or not inflight:
                    isolating = False
                    cap = backend.capacity()
                    while todo and len(inflight) < cap:
                        submit(todo.popleft())
                try:
                    finished = [ready.get(timeout=1.0)]
                except queue.Empty:
                    continue
                while not ready.empty():
                    finished.append(ready.get())
                broken = []
                for f in finished:
                    run = inflight.pop(f, None)
                    if run is None:  # already handled with a broken pool
                        continue
                    try:
                        res = f.result()
                    except BrokenProcessPool:
                        broken.append(run)
                        continue
                    except Exception as e:  # the back-end failed, not the run (run_one's errors are returned)
                        if type(e).__name__ != "KilledWorker":  # e.g. the connection to the cluster is lost
                            raise SweepAborted(f"the back-end failed ({type(e).__name__}: {e}); finished runs are "
                                               "kept, run the same command again to resume") from e
                        # Dask gave up on this run after it killed several workers (e.g. out of memory)
                        res = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": "", "runtime_s": 0.0}
                    ran += 1
                    model_s += float(res.get("runtime_s", 0.0))
                    if res["ok"]:
                        write_bytes_atomic(out / "runs" / f"{run[0]}.parquet", res["parquet"])
                        append_lines(out / LEDGER, [ledger_line(run[0], res["parquet"], res["rows"])])
                        n_done += 1
                    else:
                        failure(run, res["error"], res.get("traceback", ""))
                    bar.update(1)
                    if progress is not None:
                        progress(n_done, n_failed, sw.n_runs)
                if broken:  # a worker process died: every run in flight is lost with the pool
                    broken += list(inflight.values())
                    inflight.clear()
                    if not backend.can_restart:
                        raise SweepAborted("a worker process died and the executor cannot be restarted; finished "
                                           "runs are kept, run the same command again to resume")
                    backend.restart()
                    if isolating and len(broken) == 1:
                        failure(broken[0], "the worker process died while running it (out of memory, or a crash "
                                           "in native code)")
                        ran += 1
                        bar.update(1)
                        if progress is not None:
                            progress(n_done, n_failed, sw.n_runs)
                    else:
                        suspects.extend(sorted(broken, key=lambda x: x[0]))
        except BaseException:
            bar.close()
            fail_fh.close()
            backend.close(cancel=True)
            raise
        finally:
            if blas is not None:
                blas.restore_original_limits()
        bar.close()
        fail_fh.close()
        backend.close()
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
