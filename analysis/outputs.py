"""Writing results so that nothing half-written ever looks complete.

- `atomic_directory(out)`: everything goes into a hidden temporary directory beside `out`, which is
  renamed into place only when the block finishes (an exception removes it). `run`, `calibrate` and
  `claims` write their output directories through it.
- `write_text_atomic`, `write_bytes_atomic`: one file, through a temporary file and `os.replace`.
- `write_run`: the files of one run (docs: README, "Running scenarios").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes):
    """Write `data` to `path` through a hidden temporary file beside it (then os.replace)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str):
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(out: Path):
    """Yield a fresh hidden directory beside `out`; on success it becomes `out` (which must be absent
    or an empty directory), on any exception it is removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            out.rmdir()  # only ever an empty directory here (checked by the caller)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(res, out: Path, resolved: str, figures: bool = True, progress=None) -> Path:
    """The files of one run (`res`: model.api.RunOutputs with its tables and, for figures, its model):
    config.yaml, timeseries.parquet/.csv, networks.parquet, cities.parquet, named_networks.parquet (runs
    with a catalogue of real networks), metrics.csv (the metric dictionary), summary.json and figures/.
    `progress(done, total, what)` is called before each file or figure is written."""
    from model import metric_dictionary

    cfg = res.scenario
    with atomic_directory(out) as tmp:
        ts = res.timeseries

        def tables():
            (tmp / "config.yaml").write_text(resolved)
            ts.to_parquet(tmp / "timeseries.parquet", index=False)
            ts.to_csv(tmp / "timeseries.csv", index=False)
            res.networks.to_parquet(tmp / "networks.parquet", index=False)
            res.cities.to_parquet(tmp / "cities.parquet", index=False)
            if cfg.networks.catalogue and res.named_networks is not None:
                res.named_networks.to_parquet(tmp / "named_networks.parquet", index=False)
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
        summary = {"scenario": cfg.name, "seed": cfg.seed, "steps": len(ts),
                   "final": res.final, "runtime_s": round(res.runtime_s, 3)}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        if progress is not None:
            progress(len(stages), len(stages), "done")
    return Path(out)


def _figure(draw, path: Path):
    from analysis.figures import save

    path.parent.mkdir(parents=True, exist_ok=True)
    save(draw(), path)
