"""The figure of a grid sweep (analysis/sweep/results.py): each metric against each varied parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.figures.run import SIDE_COLOURS
from analysis.figures.style import KEY_METRICS, _margins, metric_title, metric_unit

# ---------------------------------------------------------------------------------------------
# Sweeps


def fig_sweep_grid(summary: pd.DataFrame, params: list[str], metrics: list[str], max_metrics: int = 12,
                   max_lines: int = 6, dpi: int = 100) -> Figure:
    """A grid sweep at a glance: one panel per metric (rows) and varied parameter (columns), the
    metric's final value (mean over replications) against the parameter. With one other parameter of
    at most `max_lines` values, one line per value of it, banded by the 95% interval of summary.csv;
    otherwise the mean over the other parameters, banded by the range of their design points' means.
    `summary`: the rows of summary.csv. At most `max_metrics` metrics (key metrics first)."""
    order = [m for m in KEY_METRICS if m in metrics] + [m for m in metrics if m not in KEY_METRICS]
    shown = order[:max_metrics]
    nrows, ncols = len(shown), max(len(params), 1)
    fig = Figure(figsize=(3.3 * ncols + 1.6, 1.9 * nrows + 1.1), dpi=dpi)
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    legend = {}
    for r, m in enumerate(shown):
        rows = summary[summary["metric"] == m]
        for c, p in enumerate(params):
            ax = axes[r, c]
            others = [q for q in params if q != p]
            xs_all = sorted(rows[p].dropna().unique(), key=_sort_key)
            pos = {v: j for j, v in enumerate(xs_all)}
            numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in xs_all)
            xv = float if numeric else pos.__getitem__
            groups = rows.groupby(others, dropna=False, sort=True) if others else [((), rows)]
            n_groups = rows[others].drop_duplicates().shape[0] if others else 1
            if len(others) <= 1 and n_groups <= max_lines:
                for j, (key, sub) in enumerate(groups):
                    sub = sub.sort_values(p, key=lambda s: s.map(_sort_key))
                    x = [xv(v) for v in sub[p]]
                    colour = SIDE_COLOURS[j % len(SIDE_COLOURS)] if n_groups <= 4 else None
                    line, = ax.plot(x, sub["mean"], marker="o", ms=3, lw=1.3, color=colour)
                    ax.fill_between(x, sub["ci_low"].astype(float), sub["ci_high"].astype(float),
                                    color=line.get_color(), alpha=0.18, lw=0)
                    if others and r == 0:
                        k = key[0] if isinstance(key, tuple) else key
                        legend.setdefault(c, []).append(Line2D([], [], color=line.get_color(), marker="o", ms=3,
                                                               label=f"{others[0]} = {k:g}" if isinstance(
                                                                   k, (int, float)) else f"{others[0]} = {k}"))
                if not others:
                    legend.setdefault(c, [Line2D([], [], color="tab:blue", marker="o", ms=3,
                                                 label="mean; band: 95% interval")])
            else:
                g = rows.groupby(p)["mean"]
                stats = pd.DataFrame({"mean": g.mean(), "lo": g.min(), "hi": g.max()})
                stats = stats.loc[sorted(stats.index, key=_sort_key)]
                x = [xv(v) for v in stats.index]
                ax.plot(x, stats["mean"], marker="o", ms=3, lw=1.3, color="tab:blue")
                ax.fill_between(x, stats["lo"], stats["hi"], color="tab:blue", alpha=0.18, lw=0)
                legend.setdefault(c, [Line2D([], [], color="tab:blue", marker="o", ms=3,
                                             label="mean over the other parameters; band: their range")])
            if not numeric:
                ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.set_ylabel(metric_unit(m), fontsize=7)
            ax.set_title(metric_title(m), fontsize=8)
            if r == nrows - 1:
                ax.set_xlabel(p, fontsize=8)
    h = fig.get_size_inches()[1]
    rows_leg = max((len(v) for v in legend.values()), default=0)
    titled = len(params) > 1 and any(len(v) > 1 for v in legend.values())
    # x label (about 0.35 in under the axes), then the legend: its rows, its title (the band note), padding
    _margins(fig, top_in=0.55, bottom_in=0.45 + 0.17 * (rows_leg + titled) + 0.12, left_in=0.6, wspace=0.35,
             hspace_in=0.5, nrows=nrows)
    for c, handles in legend.items():
        left = axes[-1, c].get_position().x0
        banded = len(params) > 1 and len(handles) > 1
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(left, 0.005), fontsize=7, frameon=False,
                   title="bands: 95% intervals of the mean" if banded else None, title_fontsize=7)
    more = f" (first {len(shown)} of {len(metrics)} metrics; all are in summary.csv)" if len(shown) < len(metrics) else ""
    n_min = int(summary["n"].min()) if len(summary) else 0
    few = f"; {n_min} run{'s' if n_min != 1 else ''} per point: intervals unreliable" if n_min < 3 else ""
    fig.suptitle(f"Final values against each varied parameter{more}{few}", fontsize=10, x=0.01, ha="left",
                 y=1 - 0.08 / h)
    return fig


def _sort_key(v):
    return (0, float(v), "") if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else (1, 0.0, str(v))
