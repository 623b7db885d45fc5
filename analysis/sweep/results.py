"""Sweep results: each run's tidy table, then results.parquet (every finished run, manifest order)
and summary.csv (per design point and metric: n, mean, sd, 95% CI kept inside the metric's possible
range, whether n is enough for the interval to mean much), a figure of grid sweeps (sweep_grid.png)
and the sensitivity indices of sobol and morris designs."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.sweep.plan import Sweep
from model import metric_dictionary

RELIABLE_N = 3  # below this many runs, a 95% t interval says little (summary.csv's `reliable`)


def run_table(run_id: str, point: int, rep: int, params: dict, seed: int, frame: pd.DataFrame,
              ptypes: dict[str, str]) -> pa.Table:
    """The tidy table of one run: run_id, point, replication, parameters..., seed, step, year, metrics..."""
    n = len(frame)
    cols = {"run_id": pa.array([run_id] * n, pa.string()), "point": pa.array(np.full(n, point, np.int64)),
            "replication": pa.array(np.full(n, rep, np.int64))}
    for k, tname in ptypes.items():
        typ = pa.type_for_alias(tname)
        cols[k] = pa.array([_param_value(params[k], typ)] * n, typ)
    cols["seed"] = pa.array(np.full(n, seed, np.int64))
    for name in frame.columns:
        cols[name] = pa.array(frame[name].to_numpy())
    return pa.table(cols)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _param_arrow_type(values: list) -> pa.DataType:
    vals = [v for v in values if v is not None]
    if vals and all(isinstance(v, bool) for v in vals):
        return pa.bool_()
    if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return pa.float64()
    return pa.string()


def _param_value(v, typ: pa.DataType):
    if v is None:
        return None
    if typ == pa.string():
        return v if isinstance(v, str) else json.dumps(v)
    if typ == pa.float64():
        return float(v)
    return v


def param_types(sw: Sweep) -> dict[str, str]:
    """Column type of each varied parameter, from all its values: bool, int64, double or string."""
    return {k: str(_param_arrow_type([p[k] for p in sw.points])) for k in sw.paths}


@functools.lru_cache(maxsize=1024)
def _t975(n: int) -> float:
    """97.5% quantile of Student's t with n - 1 degrees of freedom (scipy.special: no scipy.stats import)."""
    from scipy.special import stdtrit

    return float(stdtrit(n - 1, 0.975)) if n > 1 else float("nan")


def finish(sw: Sweep, out: Path, quiet: bool = False, analyse: bool = True) -> list[str]:
    """Assemble results.parquet and summary.csv from runs/ (streaming: one run in memory at a time),
    and for sobol and morris designs write the sensitivity indices."""
    means = write_results(sw, out)
    files = ["manifest.json", "results.parquet", "results.csv", "summary.csv"]
    if (out / "failed.jsonl").exists():
        files.append("failed.jsonl")
    if analyse and sw.spec.design.kind == "grid" and sw.paths:
        files += write_grid_figure(sw, out)
    if analyse and sw.spec.design.kind in ("sobol", "morris"):
        from analysis.sweep.sensitivity import write_sensitivity

        files += write_sensitivity(sw, means, out, quiet=quiet)
    return files


def write_results(sw: Sweep, out: Path) -> np.ndarray:
    """Write results.parquet (every finished run, manifest order), the same table as results.csv, and
    summary.csv (per design point and metric, final step: n, mean, sd, 95% CI). Returns the replicate means
    (points x metrics)."""
    runs_dir = out / "runs"
    ptypes = param_types(sw)
    M = len(sw.metrics)
    means = np.full((sw.n_points, M), np.nan)
    res_tmp = out / f".results.parquet.tmp-{os.getpid()}"
    csv_tmp = out / f".results.csv.tmp-{os.getpid()}"
    sum_tmp = out / f".summary.csv.tmp-{os.getpid()}"
    schema = None
    pw = None
    try:
        with open(sum_tmp, "w", newline="", encoding="utf-8") as fh, \
                open(csv_tmp, "w", newline="", encoding="utf-8") as rfh:
            cw = csv.writer(fh)
            cw.writerow(["point", *sw.paths, "metric", "n", "mean", "sd", "ci_low", "ci_high", "reliable", "clipped"])
            finals: list[np.ndarray] = []
            current = 0

            def flush(point: int, rows: list[np.ndarray]):
                X = np.vstack(rows) if rows else np.empty((0, M))
                params = sw.points[point]
                for j, m in enumerate(sw.metrics):
                    x = X[:, j][np.isfinite(X[:, j])] if len(X) else np.empty(0)
                    n = len(x)
                    mean = float(x.mean()) if n else float("nan")
                    sd = float(x.std(ddof=1)) if n > 1 else float("nan")
                    half = _t975(n) * sd / math.sqrt(n) if n > 1 else float("nan")
                    means[point, j] = mean
                    lo, hi, clipped = _bounded_interval(m, mean - half, mean + half)
                    cw.writerow([point, *[params[k] for k in sw.paths], m, n, _fmt(mean), _fmt(sd),
                                 _fmt(lo), _fmt(hi), n >= RELIABLE_N, clipped])

            for rid, p, r, params, seed in sw.runs():
                if p != current:
                    flush(current, finals)
                    finals, current = [], p
                f = runs_dir / f"{rid}.parquet"
                if not f.exists():
                    continue
                t = pq.read_table(f)
                if schema is None:
                    schema = t.schema
                    pw = pq.ParquetWriter(res_tmp, schema)
                elif t.schema != schema:
                    t = t.select(schema.names).cast(schema)
                pw.write_table(t)
                t.to_pandas().to_csv(rfh, header=rfh.tell() == 0, index=False)
                last = t.slice(t.num_rows - 1, 1)
                finals.append(np.array([_as_float(last.column(m)[0].as_py()) for m in sw.metrics], dtype=float))
            if sw.n_points:
                flush(current, finals)
        if pw is None:  # no run finished: an empty table with the columns
            empty = run_table("", 0, 0, sw.points[0], 0, pd.DataFrame(
                {"step": pd.Series([], dtype="int64"), "year": pd.Series([], dtype="int64"),
                 **{m: pd.Series([], dtype="float64") for m in sw.metrics}}), ptypes) if sw.n_points else pa.table({})
            pq.write_table(empty, res_tmp)
            empty.to_pandas().to_csv(csv_tmp, index=False)
        else:
            pw.close()
            pw = None
        os.replace(res_tmp, out / "results.parquet")
        os.replace(csv_tmp, out / "results.csv")
        os.replace(sum_tmp, out / "summary.csv")
    finally:
        if pw is not None:
            pw.close()
        res_tmp.unlink(missing_ok=True)
        csv_tmp.unlink(missing_ok=True)
        sum_tmp.unlink(missing_ok=True)
    return means


def _bounded_interval(metric: str, lo: float, hi: float) -> tuple[float, float, bool]:
    """A 95% interval cut at the metric's possible range (the metric dictionary's low and high): a
    share's interval never goes below 0 or above 1. Returns (low, high, whether it was cut)."""
    meta = metric_dictionary.get(metric)
    if meta is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi, False
    clo, chi = meta.clip(lo), meta.clip(hi)
    return clo, chi, (clo, chi) != (lo, hi)


def write_grid_figure(sw: Sweep, out: Path, quiet: bool = True) -> list[str]:
    """sweep_grid.png: each recorded metric's final value against each varied parameter (mean and band,
    analysis.figures.fig_sweep_grid), from summary.csv. Written through a temporary file."""
    from analysis.figures import fig_sweep_grid

    summary = pd.read_csv(out / "summary.csv")
    if not len(summary) or summary["mean"].isna().all():
        return []
    fig = fig_sweep_grid(summary, list(sw.paths), list(sw.metrics))
    tmp = out / f".sweep_grid.png.tmp-{os.getpid()}.png"
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, out / "sweep_grid.png")
    finally:
        tmp.unlink(missing_ok=True)
    return ["sweep_grid.png"]


def _as_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else repr(float(x))
