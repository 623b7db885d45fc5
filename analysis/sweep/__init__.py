"""Batch sweeps: `python run.py sweep SWEEP.yaml` (docs/sweeps.md).

A sweep file names a base scenario, the parameters to vary (dotted paths of the scenario schema),
a design (grid, paired, lhs, sobol, morris), replications, steps and what to record. The package,
one module per concern:

    spec.py         the sweep file format (pydantic) and its JSON Schema
    designs.py      design points: grid, paired, lhs (scipy.stats.qmc), sobol and morris (SALib)
    plan.py         a validated sweep: base scenario, points, seeds, runs; what `check` prints
    store.py        the output directory: lock, manifest (with the code), resume (run files verified), failed.jsonl
    loop.py         the loop: submit missing runs to an execution back-end, write each atomically
    task.py         what a worker runs for one run: the model, then the run's table as Parquet bytes
    results.py      results.parquet, summary.csv and the grid figure
    sensitivity.py  Sobol' and Morris indices (SALib) with plots

Files in the output directory:

    manifest.json        the full design (run id -> parameters, seed), written before any run starts
    runs/<run_id>.parquet  one per finished run, written atomically (temporary file, fsync, then os.replace)
    ledger.jsonl         one line per finished run: bytes and SHA-256 of its file (checked on resume)
    .lock                held while a sweep writes into the directory
    failed.jsonl         runs that raised: run id, point, replication, parameters, seed, error, traceback
    results.parquet      tidy: run_id, point, replication, parameters..., seed, step, year, metrics...
    summary.csv          per design point and metric (final step): n, mean, sd, 95% CI (within the metric's
                         range), reliable (n >= 3), clipped
    sweep_grid.png       grid designs: each metric against each varied parameter
    sensitivity.csv/.png sobol and morris designs: indices per metric and parameter
"""

import importlib

# The names below are imported on first use (PEP 562), so that `run` and `check`, which only ask
# whether a file is a sweep file (spec.is_sweep_data), do not import the whole sweep machinery.
_WHERE = {"SweepAborted": "loop", "SweepResult": "loop", "_task": "task", "run_one": "task", "run_sweep": "loop",
          "Sweep": "plan", "check_text": "plan", "describe": "plan", "load_sweep": "plan", "sweep_from_points": "plan",
          "SweepSpec": "spec", "is_sweep_data": "spec", "json_schema": "spec"}

__all__ = ["Sweep", "SweepAborted", "SweepResult", "SweepSpec", "_task", "check_text", "describe", "is_sweep_data",
           "json_schema", "load_sweep", "replication_seeds", "run_one", "run_sweep", "sweep_from_points"]


def __getattr__(name: str):
    if name == "replication_seeds":
        from model.randomness import replication_seeds

        return replication_seeds
    if name in _WHERE:
        return getattr(importlib.import_module(f"analysis.sweep.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'analysis.sweep' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
