"""Flat, picklable entry point for EMA Workbench, SALib and Dask: `run(**flat_params)`.

Parameter names use `__` for nesting (`resources__pool=50`); `steps` and `seed` are top-level
fields too; `scenario` names a YAML file (default: `scenarios/baseline.yaml` when it exists, else
all defaults). Returns every final metric as a float and `timeseries` as a DataFrame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.config import load_scenario
from model.model import CityDiplomacyModel

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def run(scenario: str | None = None, **flat_params: Any) -> dict[str, Any]:
    path = scenario if scenario is not None else (BASELINE if BASELINE.exists() else None)
    overrides = {k.replace("__", "."): v for k, v in flat_params.items()}
    cfg = load_scenario(path, overrides=overrides)
    m = CityDiplomacyModel(cfg)
    m.run()
    out: dict[str, Any] = m.final_metrics()
    out["timeseries"] = m.timeseries()
    return out
