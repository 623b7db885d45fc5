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


def write_run(res, out: Path, resolved: str, figures: bool = True) -> Path:
    """The files of one run (`res`: model.api.RunOutputs with its tables and, for figures, its model)."""
    with atomic_directory(out) as tmp:
        (tmp / "config.yaml").write_text(resolved)
        ts = res.timeseries
        ts.to_parquet(tmp / "timeseries.parquet", index=False)
        ts.to_csv(tmp / "timeseries.csv", index=False)
        res.networks.to_parquet(tmp / "networks.parquet", index=False)
        res.cities.to_parquet(tmp / "cities.parquet", index=False)
        if figures:
            from analysis.figures import write_run_figures

            write_run_figures(res, tmp / "figures")
        summary = {"scenario": res.scenario.name, "seed": res.scenario.seed, "steps": int(ts["step"].iloc[-1]) if len(ts) else 0,
                   "final": res.final, "runtime_s": round(res.runtime_s, 3)}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return Path(out)
