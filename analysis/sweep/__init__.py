"""Batch sweeps: `python run.py sweep SWEEP.yaml` (docs/sweeps.md).

A sweep file names a base scenario, the parameters to vary (dotted paths of the scenario schema),
a design (grid, paired, lhs, sobol, morris), replications, steps and what to record. The package,
one module per concern:

    spec.py         the sweep file format (pydantic) and its JSON Schema
    designs.py      design points: grid, paired, lhs (scipy.stats.qmc), sobol and morris (SALib)
    plan.py         a validated sweep: base scenario, points, seeds, runs; what `check` prints
    store.py        the output directory: manifest, resume, lock, failed.jsonl
    loop.py         the loop: submit missing runs to an execution back-end, write each atomically
    results.py      results.parquet and summary.csv
    sensitivity.py  Sobol' and Morris indices (SALib) with plots

Files in the output directory:

    manifest.json        the full design (run id -> parameters, seed), written before any run starts
    runs/<run_id>.parquet  one per finished run, written atomically (temporary file, then os.replace)
    failed.jsonl         runs that raised: run id, point, replication, parameters, seed, error, traceback
    results.parquet      tidy: run_id, point, replication, parameters..., seed, step, year, metrics...
    summary.csv          per design point and metric (final step): n, mean, sd, 95% CI
    sensitivity.csv/.png sobol and morris designs: indices per metric and parameter
"""

from analysis.sweep.loop import SweepAborted, SweepResult, _task, run_one, run_sweep
from analysis.sweep.plan import Sweep, check_text, describe, load_sweep, sweep_from_points
from analysis.sweep.spec import SweepSpec, is_sweep_data, json_schema
from model.randomness import replication_seeds

__all__ = ["Sweep", "SweepAborted", "SweepResult", "SweepSpec", "_task", "check_text", "describe", "is_sweep_data",
           "json_schema", "load_sweep", "replication_seeds", "run_one", "run_sweep", "sweep_from_points"]
