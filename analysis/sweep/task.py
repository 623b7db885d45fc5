"""What a worker process executes for one run of a sweep: the model (`run_one`), then the run's tidy
table as Parquet bytes (`_task`), so that the parent (analysis/sweep/loop.py) only writes a file.

The worker side of the sweep, apart from the loop: the execution back-ends (analysis/execution.py)
load this module in their worker processes before any run, and it imports neither the loop nor them.
"""

from __future__ import annotations

import os
import time
import traceback

import pandas as pd

from analysis.sweep.results import parquet_bytes, run_table
from model import footprint
from model.api import run_scenario
from model.interventions import ensure_plugins
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
            ensure_plugins(meta["plugins"])
        df = run_one(base, overrides, seed, steps, record, memory_limit=meta.get("memory_limit"))
    except Exception as e:  # noqa: BLE001 - recorded in failed.jsonl; the sweep goes on
        return {"run_id": run_id, "ok": False, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=20), "runtime_s": time.perf_counter() - t0}
    runtime = time.perf_counter() - t0
    table = run_table(run_id, meta["point"], meta["replication"], overrides, seed, df, meta["ptypes"])
    return {"run_id": run_id, "ok": True, "parquet": parquet_bytes(table), "rows": table.num_rows,
            "runtime_s": runtime}
