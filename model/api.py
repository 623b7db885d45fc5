"""Running a scenario: `run_scenario` (the one function every command uses) and the flat `run(**params)`.

`run_scenario(scenario, ...)` builds the model, runs it and returns its outputs (`RunOutputs`); the
command line's `run`, sweeps, calibration, the claims lab, the browser app's comparison and the
baseline test all call it, so that "one run" means the same everywhere.

`run(**flat_params)` is the flat, picklable entry point for EMA Workbench, SALib and Dask. Parameter
names use `__` for nesting (`resources__pool=50`); `steps` and `seed` are top-level fields too;
`scenario` names a YAML file (default: `scenarios/baseline.yaml` when it exists, else all defaults).
Returns every final metric as a float and `timeseries` as a DataFrame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from model.config import Scenario
from model.loading import load_scenario

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


@dataclass
class RunOutputs:
    """What one run produced: the time series (one row per step), the end-of-run tables, the final
    metrics, end-of-run statistics that are not time-series metrics, and the run time."""

    scenario: Scenario
    timeseries: pd.DataFrame
    final: dict[str, float]
    statistics: dict[str, float]
    runtime_s: float
    networks: pd.DataFrame | None = None
    cities: pd.DataFrame | None = None
    named_networks: pd.DataFrame | None = None  # catalogue networks per step (empty without a catalogue)
    model: Any = field(default=None, repr=False)  # the model itself, when asked for (keep_model)


def run_scenario(scenario: Scenario | str | Path | dict | None, *, overrides: dict[str, Any] | None = None,
                 seed: int | None = None, steps: int | None = None, tables: bool = True,
                 keep_model: bool = False, progress=None) -> RunOutputs:
    """Run one scenario to its end and return its outputs.

    `scenario`: a validated Scenario, a YAML path, a mapping of fields (e.g. a resolved scenario) or
    None (defaults); `overrides` (dotted paths), `seed` and `steps` are applied on top. `tables`:
    also the networks, cities and named-networks tables; `keep_model`: keep the model object (for
    figures); `progress(model)` is called after each step. Same inputs, same outputs, in any process.
    """
    from model import metrics
    from model.model import CityDiplomacyModel

    ov = dict(overrides or {})
    if seed is not None:
        ov["seed"] = int(seed)
    if steps is not None:
        ov["steps"] = int(steps)
    if isinstance(scenario, Scenario) and set(ov) <= {"seed"} and _valid_seed(ov.get("seed", 0)):
        # a validated scenario with another seed only: nothing else depends on the seed, so it is not validated
        # again (a sweep's run validates its scenario once)
        cfg = scenario.model_copy(update=ov) if ov else scenario
    elif isinstance(scenario, Scenario):
        cfg = load_scenario(scenario.model_dump(mode="json"), ov, source=f"scenario {scenario.name}")
    else:
        cfg = load_scenario(scenario, ov)
    t0 = time.perf_counter()
    m = CityDiplomacyModel(cfg, rng=cfg.seed)
    m.run(progress=progress)
    runtime = time.perf_counter() - t0
    out = RunOutputs(scenario=cfg, timeseries=m.timeseries(), final=m.final_metrics(),
                     statistics={"budget_share_under_1pct": metrics.budget_share_under_1pct(m)},
                     runtime_s=runtime, named_networks=m.named_networks_history())
    if tables:
        out.networks, out.cities = m.networks_table(), m.cities_table()
    if keep_model:
        out.model = m
    return out


def _valid_seed(seed) -> bool:
    """A seed the scenario schema accepts as it is (an int, not a bool, in 0 .. 2**63 - 1); anything else goes
    through validation and its message."""
    return isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= 2**63 - 1


def run(scenario: str | None = None, **flat_params: Any) -> dict[str, Any]:
    """Flat entry point: every final metric as a float, and "timeseries" as a DataFrame."""
    path = scenario if scenario is not None else (BASELINE if BASELINE.exists() else None)
    # numpy scalars (from samplers) as Python numbers: fields are strict, and np.int64 is no int
    overrides = {k.replace("__", "."): (v.item() if hasattr(v, "item") and hasattr(v, "dtype") and v.ndim == 0 else v)
                 for k, v in flat_params.items()}
    res = run_scenario(path, overrides=overrides, tables=False)
    out: dict[str, Any] = dict(res.final)
    out["timeseries"] = res.timeseries
    return out
