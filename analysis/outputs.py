"""Writing one run's files (INTERFACE.md): everything goes into a hidden temporary directory
beside the target, which is renamed into place only when complete, so an interrupted or failed
run never leaves a directory that looks finished."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


def write_run(model, out: Path, runtime_s: float, resolved: str, figures: bool = True) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        (tmp / "config.yaml").write_text(resolved)
        ts = model.timeseries()
        ts.to_parquet(tmp / "timeseries.parquet", index=False)
        ts.to_csv(tmp / "timeseries.csv", index=False)
        model.networks_table().to_parquet(tmp / "networks.parquet", index=False)
        model.cities_table().to_parquet(tmp / "cities.parquet", index=False)
        if figures:
            from analysis.figures import write_run_figures

            write_run_figures(model, tmp / "figures")
        summary = {"scenario": model.cfg.name, "seed": model.cfg.seed, "steps": int(model.steps),
                   "final": model.final_metrics(), "runtime_s": round(runtime_s, 3)}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        if out.exists():
            out.rmdir()  # only ever an empty directory here (checked by the caller)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
