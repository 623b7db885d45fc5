"""Sensitivity indices of sobol and morris sweeps (SALib), per metric, on the replicate mean of each
design point's final-step value.

    sensitivity.csv   sobol:  metric, parameter, S1, S1_conf, ST, ST_conf   (CIs at design.conf_level)
                      morris: metric, parameter, mu, mu_star, mu_star_conf, sigma
    sensitivity_s2.csv  sobol with second_order: metric, parameter_1, parameter_2, S2, S2_conf
    sensitivity.png   up to 8 metrics: one panel per metric (sobol: S1 and ST bars with CIs; morris:
                      mu* against sigma); more metrics: heatmaps of ST (sobol) or mu* / max mu* (morris)

Indices are computed in the unit hypercube the design was sampled in (each parameter's [0, 1]
quantile scale), so morris mu* is "change of the metric over one design step of the whole range".
A metric with a design point that has no finished run is skipped (with a warning).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

MAX_PANELS = 8


def analyse(sw, means: np.ndarray) -> tuple[list[dict], list[dict], list[str]]:
    """(rows of sensitivity.csv, rows of sensitivity_s2.csv, skipped metrics)."""
    from analysis.sweep.designs import salib_problem

    d = sw.spec.design
    problem = salib_problem(sw.paths)
    seed = sw.spec.seed if d.seed is None else d.seed
    rows, rows2, skipped = [], [], []
    for j, m in enumerate(sw.metrics):
        y = means[:, j]
        if not np.all(np.isfinite(y)):
            skipped.append(m)
            continue
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if d.kind == "sobol":
                from SALib.analyze import sobol

                res = sobol.analyze(problem, y, calc_second_order=d.second_order, num_resamples=d.num_resamples,
                                    conf_level=d.conf_level, seed=seed)
                for i, k in enumerate(sw.paths):
                    rows.append({"metric": m, "parameter": k, "S1": res["S1"][i], "S1_conf": res["S1_conf"][i],
                                 "ST": res["ST"][i], "ST_conf": res["ST_conf"][i]})
                if d.second_order:
                    for a in range(len(sw.paths)):
                        for b in range(a + 1, len(sw.paths)):
                            rows2.append({"metric": m, "parameter_1": sw.paths[a], "parameter_2": sw.paths[b],
                                          "S2": res["S2"][a, b], "S2_conf": res["S2_conf"][a, b]})
            else:
                from SALib.analyze import morris

                res = morris.analyze(problem, sw.unit, y, num_resamples=d.num_resamples, conf_level=d.conf_level,
                                     num_levels=d.num_levels, seed=seed)
                for i, k in enumerate(sw.paths):
                    rows.append({"metric": m, "parameter": k, "mu": res["mu"][i], "mu_star": res["mu_star"][i],
                                 "mu_star_conf": res["mu_star_conf"][i], "sigma": res["sigma"][i]})
    return rows, rows2, skipped


def _write_csv(path: Path, rows: list[dict], columns: list[str]):
    import io

    from analysis.outputs import write_text_atomic

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r[c]) for c in columns])
    write_text_atomic(path, buf.getvalue())


def _fmt(v):
    if isinstance(v, str):
        return v
    v = float(v)
    return "" if not math.isfinite(v) else repr(v)


def write_sensitivity(sw, means: np.ndarray, out: Path, quiet: bool = False) -> list[str]:
    kind = sw.spec.design.kind
    rows, rows2, skipped = analyse(sw, means)
    if skipped:
        print(f"warning: sensitivity indices skipped for {len(skipped)} metric(s) with design points that have no "
              f"finished run: {', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}", file=sys.stderr)
    cols = (["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"] if kind == "sobol"
            else ["metric", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"])
    _write_csv(out / "sensitivity.csv", rows, cols)
    files = ["sensitivity.csv"]
    if kind == "sobol" and sw.spec.design.second_order:
        _write_csv(out / "sensitivity_s2.csv", rows2, ["metric", "parameter_1", "parameter_2", "S2", "S2_conf"])
        files.append("sensitivity_s2.csv")
    if rows:
        plot(rows, kind, sw.paths, out / "sensitivity.png", title=f"{sw.name}: {kind} sensitivity "
             f"({sw.size()})")
        files.append("sensitivity.png")
    return files


def plot(rows: list[dict], kind: str, params: list[str], path: Path, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    by = {(r["metric"], r["parameter"]): r for r in rows}
    short = [p.split(".")[-1] for p in params]
    if len(set(short)) < len(short):  # the last part of the path is ambiguous: show whole paths
        short = list(params)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}.png"
    if len(metrics) <= MAX_PANELS:
        ncol = min(2, len(metrics))
        nrow = math.ceil(len(metrics) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 * ncol, 0.45 * len(params) * nrow + 1.6 * nrow),
                                 squeeze=False)
        for ax, m in zip(axes.flat, metrics):
            rs = [by[(m, p)] for p in params]
            if kind == "sobol":
                y = np.arange(len(params))
                ax.barh(y - 0.2, [r["S1"] for r in rs], 0.4, xerr=[_nz(r["S1_conf"]) for r in rs], label="S1",
                        color="tab:blue", capsize=2)
                ax.barh(y + 0.2, [r["ST"] for r in rs], 0.4, xerr=[_nz(r["ST_conf"]) for r in rs], label="ST",
                        color="tab:orange", capsize=2)
                ax.set_yticks(y, short)
                ax.invert_yaxis()
                ax.axvline(0, color="grey", lw=0.6)
                ax.set_xlabel("index")
                ax.legend(fontsize=8, loc="lower right")
            else:
                x = [r["mu_star"] for r in rs]
                s = [r["sigma"] for r in rs]
                ax.errorbar(x, s, xerr=[_nz(r["mu_star_conf"]) for r in rs], fmt="o", color="tab:blue", ms=4,
                            capsize=2, lw=0.8)
                for xi, si, lab in zip(x, s, short):
                    ax.annotate(lab, (xi, si), fontsize=7, xytext=(3, 3), textcoords="offset points")
                hi = max([v for v in x + s if np.isfinite(v)] + [1e-12])
                ax.plot([0, hi], [0, hi], ls=":", color="grey", lw=0.8)
                ax.set_xlabel("mu* (mean |elementary effect|)")
                ax.set_ylabel("sigma")
            ax.set_title(m, fontsize=10)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(metrics):]:
            ax.axis("off")
    else:
        if kind == "sobol":
            mats = [("S1", np.array([[by[(m, p)]["S1"] for p in params] for m in metrics])),
                    ("ST", np.array([[by[(m, p)]["ST"] for p in params] for m in metrics]))]
        else:
            mu = np.array([[by[(m, p)]["mu_star"] for p in params] for m in metrics], dtype=float)
            with np.errstate(all="ignore"):
                mats = [("mu* / largest mu* of the metric", mu / np.nanmax(np.where(mu > 0, mu, np.nan), axis=1,
                                                                          keepdims=True))]
        fig, axes = plt.subplots(1, len(mats), figsize=(1.0 + 0.55 * len(params) * len(mats) + 3 * len(mats),
                                                        0.25 * len(metrics) + 2.5), squeeze=False)
        for ax, (lab, A) in zip(axes.flat, mats):
            im = ax.imshow(np.clip(np.nan_to_num(A, nan=0.0), 0, 1), vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(params)), short, rotation=60, ha="right", fontsize=8)
            ax.set_yticks(range(len(metrics)), metrics, fontsize=7)
            ax.set_title(lab, fontsize=10)
            fig.colorbar(im, ax=ax, fraction=0.04)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _nz(v) -> float:
    v = float(v)
    return v if math.isfinite(v) else 0.0
