"""The figures of the calibration report (analysis/calibration.py): the number of networks and the theme
shares of the model against the historical facts.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analysis.figures.run import fig_theme_shares
from analysis.figures.style import Period, mark_periods, metric_unit

# ---------------------------------------------------------------------------------------------
# Calibration


def fig_network_count(years: np.ndarray, counts: np.ndarray, facts: list, figsize=(9, 4.8), dpi: int = 110,
                      periods: list[Period] = ()) -> Figure:
    """Active networks over time across replications (mean and 95% band) against the known counts
    (`facts`: calibration facts on n_networks; a point with its tolerance for `approx`, a triangle
    for a lower (`at_least`) or upper (`at_most`) bound). Every marker is in the legend, which sits
    beside the plot, not over the data; `periods` (the scenario's events) are shaded."""
    fig = Figure(figsize=figsize, dpi=dpi)
    w, h = figsize
    ax = fig.add_axes([0.7 / w, 0.55 / h, 1 - 3.6 / w, 1 - 1.0 / h])
    ax.fill_between(years, np.percentile(counts, 2.5, axis=0), np.percentile(counts, 97.5, axis=0), alpha=0.25,
                    color="tab:blue", lw=0, label=f"model: 95% of {len(counts)} replications")
    ax.plot(years, counts.mean(axis=0), lw=2, color="tab:blue", label="model: mean")
    kinds = {"approx": ("o", "known count ± tolerance"), "at_least": ("^", "known lower bound (at least)"),
             "at_most": ("v", "known upper bound (at most)")}
    seen = set()
    for f in facts:
        marker, label = kinds[f.relation]
        lab = label if f.relation not in seen else None
        seen.add(f.relation)
        if f.relation == "approx":
            ax.errorbar([f.year], [f.target], yerr=[[f.tolerance], [f.tolerance]], fmt=marker, color="black",
                        capsize=4, label=lab, zorder=4)
        else:
            ax.plot([f.year], [f.target], marker, color="black", ms=7, ls="", label=lab, zorder=4)
    handles = mark_periods([ax], list(periods or []), int(years[-1]) if len(years) else None) if periods else []
    ax.set_xlabel("year")
    ax.set_ylabel(metric_unit("n_networks"))
    ax.set_title("Number of international city networks: model against known points", fontsize=10, loc="left")
    h1, l1 = ax.get_legend_handles_labels()
    ax.legend(h1 + handles, l1 + [p.get_label() for p in handles], loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def fig_theme_calibration(issues: list[str], shares: np.ndarray, year: int, figsize=(9, 4.8), dpi: int = 110) -> Figure:
    """Theme shares in `year` across replications (mean, and the 2.5-97.5 percentile range as error
    bars) against Acuto and Rayner."""
    mean = {i: float(v) for i, v in zip(issues, shares.mean(axis=0))}
    lo, hi = np.percentile(shares, 2.5, axis=0), np.percentile(shares, 97.5, axis=0)
    rng = {i: (float(a), float(b)) for i, a, b in zip(issues, lo, hi)}
    return fig_theme_shares(mean, year, figsize=figsize, dpi=dpi, shares_range=rng, labels=("model mean",),
                            range_label=f"error bars: 95% of {len(shares)} replications",
                            title="Theme shares: model against Acuto and Rayner")
