"""Running claims: every arm of every claim through the sweep engine, then the outputs.

`run_claims(plans, out)` runs each claim's sweeps (analysis/claims/plan.py) with `run_sweep` into
`out/sweeps/<claim id>/` and `out/sweeps/<claim id>-lhs/` (manifest, one file per run, resume after
a kill), on one execution back-end shared by all of them (local worker processes, a Dask cluster,
or a given executor), with one progress bar over all runs. Then it evaluates every claim
(evaluate.py) and writes claims.json, report.md, report.html and figures/ (report.py).

Running the same command again into the same directory runs only what is missing and writes the
same claims.json. A directory that holds another claim's runs under the same id is refused (the
sweep manifest's fingerprint names the first difference).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from analysis.claims.evaluate import ClaimResult, evaluate
from analysis.claims.plan import ClaimPlan
from analysis.claims.report import write_outputs
from model.config import ScenarioError

OUTPUTS = ("claims.json", "report.md", "report.html")


def check_out(out: Path, flag: str = "--out"):
    """DIR must be new, empty, or a claims directory (one with sweeps/), and writable: the checks of
    every output directory (analysis/outputs.check_output_dir: links, read-only mounts, names too long)
    made before anything runs."""
    from analysis.outputs import check_output_dir

    where = f"{flag} {out}"
    check_output_dir(out, flag=flag, resume=True)
    if out.is_dir():
        entries = [p for p in out.iterdir() if not p.name.startswith(".")]
        if entries and not (out / "sweeps").is_dir():
            raise ScenarioError(where, "", "already exists, is not empty and holds no claims run (no sweeps/); "
                                           "choose a new directory or remove it")


def _lock(out: Path):
    from analysis.sweep.store import _lock as lock

    return lock(out, ".claims.lock", "run.py claims")


def _backend(workers, scheduler, scheduler_file, executor, client, connect_timeout=None):
    """One back-end for every sweep of the run: kwargs for run_sweep, and what to close at the end."""
    from analysis.execution import DaskBackend, LocalBackend, SharedBackend, default_workers

    if executor is not None:
        return {"executor": executor, "workers": workers}, None
    if client is not None:
        return {"client": client}, None
    if scheduler is not None or scheduler_file is not None:
        from analysis.execution import CONNECT_TIMEOUT

        b = DaskBackend(address=scheduler, scheduler_file=scheduler_file,
                        timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
        return {"backend": SharedBackend(b)}, b
    n = default_workers() if workers is None else int(workers)
    if n <= 1:
        return {"workers": 1}, None
    b = LocalBackend(n)  # restartable: a worker that dies is found and its run recorded, as in any sweep
    return {"backend": SharedBackend(b)}, b


def run_claims(plans: list[ClaimPlan], out, *, workers: int | None = None, scheduler: str | None = None,
               scheduler_file: str | None = None, executor=None, client=None, quiet: bool = False,
               command: str = "", task=None, write: bool = True, allow_code_change: bool = False,
               connect_timeout: float | None = None, memory_limit: float | None = None,
               out_flag: str = "--out") -> list[ClaimResult]:
    """Run (or resume) every claim's sweeps into `out`, evaluate them and write the outputs (`write=False`:
    only return the results; the sweeps stay in `out/sweeps/`). `task` replaces the sweep's worker function
    (tests). `allow_code_change`, `connect_timeout` and `memory_limit` are those of run_sweep."""
    from tqdm import tqdm

    from analysis.sweep import run_sweep

    out = Path(out)
    if not plans:
        raise ScenarioError("--only", "", "no claims to run")
    check_out(out, out_flag)
    quick = plans[0].quick
    t0 = time.perf_counter()
    sweeps = [(name, sw) for p in plans for name, sw in p.sweeps()]
    total = sum(sw.n_runs for _, sw in sweeps)
    kwargs, backend = _backend(workers, scheduler, scheduler_file, executor, client, connect_timeout)
    lock = None
    try:
        (out / "sweeps").mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
        for name in OUTPUTS:  # a result of an earlier command must not look like this one's
            (out / name).unlink(missing_ok=True)
        if not quiet:
            where = backend.describe() if backend is not None else (
                "1 worker (in this process)" if kwargs.get("workers") == 1 else "the given back-end")
            print(f"claims ({'quick' if quick else 'full'} run): {len(plans)} claim{'s' if len(plans) != 1 else ''}, "
                  f"{total} runs on {where} -> {out}", file=sys.stderr)
        pre = [len(list((out / "sweeps" / name / "runs").glob("*.parquet")))
               if (out / "sweeps" / name / "runs").is_dir() else 0 for name, _ in sweeps]  # done before (resume)
        bar = tqdm(total=total, initial=min(sum(pre), total), desc="claims", unit="run",
                   disable=quiet or not sys.stderr.isatty(), leave=False, dynamic_ncols=True, smoothing=0.05)
        offset = 0
        try:
            for k, (name, sw) in enumerate(sweeps):
                bar.set_description(f"claims {name}")
                later = offset + sum(pre[k + 1:])  # finished runs of this sweep are added to this

                def progress(done, failed, n, _o=later):
                    bar.n = min(_o + done + failed, total)
                    bar.refresh()

                run_sweep(sw, out / "sweeps" / name, quiet=True, progress=progress, analyse=False, task=task,
                          allow_code_change=allow_code_change, memory_limit=memory_limit, **kwargs)
                offset += sw.n_runs
                bar.n = min(later + sw.n_runs, total)
                bar.refresh()
        finally:
            bar.close()
        dirs = {name: out / "sweeps" / name for name, _ in sweeps}
        if not quiet:
            print(f"claims: the runs are done; evaluating {len(plans)} claim{'s' if len(plans) != 1 else ''} and "
                  "writing the report", file=sys.stderr)
        results = [evaluate(p, dirs) for p in plans]
        if write:
            write_outputs(results, out, quick, command=command)
    except BaseException as e:
        if backend is not None:
            backend.close(cancel=not isinstance(e, ScenarioError))
            backend = None
        raise
    finally:
        if backend is not None:
            backend.close()
        if lock is not None:
            lock.close()
    failed = sum(r.record["design"]["failed_runs"] for r in results)
    if failed:
        print(f"warning: {failed} runs failed (see failed.jsonl under {out / 'sweeps'}); their pairs are left out",
              file=sys.stderr)
    if not quiet:
        counts = {}
        for r in results:
            counts[r.record["verdict"]] = counts.get(r.record["verdict"], 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        print(f"wrote {out}: {len(results)} claims ({summary}) in {time.perf_counter() - t0:.1f} s"
              + (" [QUICK RUN]" if quick else ""))
    return results
