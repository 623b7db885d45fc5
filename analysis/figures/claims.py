"""The figures of the claims lab (analysis/claims/report.py; the app's Claims page): both arms over time,
effects against the smallest effect that matters, gradients, conditions, the uncertainty space.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from analysis.figures.style import VERDICT_COLOURS, metric_label
from model import metric_dictionary as MD

# ---------------------------------------------------------------------------------------------
# Claims
#
# The figures of the claims lab (analysis/claims/report.py). Each takes plain numbers (means, bands,
# effects and intervals), so that the report, the app's Claims page and a notebook draw the same.

def _positions(values: list) -> tuple[np.ndarray, list[str] | None]:
    """x positions of moderator values: the numbers themselves, or 0..k-1 with labels for text and booleans."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float), None
    return np.arange(len(values), dtype=float), [str(v) for v in values]


def fig_claim_over_time(years: np.ndarray, arms: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                        diff: tuple[np.ndarray, np.ndarray, np.ndarray], metric: str, window: list[int],
                        threshold: float, direction: str, reference: float | None = None, title: str = "",
                        figsize=(7.5, 5.2), dpi: int = 100) -> Figure:
    """An outcome over time. Top: each arm's mean across replications with its 95% band (`arms`: label,
    mean, low, high; the first two are control and treatment). Bottom: the paired difference treatment -
    control per year with its 95% band, the band of effects smaller than the threshold, and the years
    over which the outcome is averaged (shaded)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    top, bot = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    colours = ["#4575b4", "#f46d43", "#7f7f7f", "#984ea3"]
    for (label, m, lo, hi), col in zip(arms, colours):
        ls = "-" if col != "#7f7f7f" else ":"
        top.plot(years, m, color=col, lw=1.6, ls=ls, label=label)
        top.fill_between(years, lo, hi, color=col, alpha=0.2, lw=0)
    if reference is not None:
        top.axhline(reference, color="black", ls="--", lw=1, label=f"reference {reference:g}")
    for ax in (top, bot):
        ax.axvspan(window[0] - 0.5, window[1] + 0.5, color="#fee08b", alpha=0.35, lw=0)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    top.set_ylabel(MD.get(metric).unit if MD.get(metric) else metric, fontsize=8)
    top.legend(fontsize=8, frameon=False, loc="best")
    m, lo, hi = diff
    bot.axhspan(-threshold, threshold, color="#d9d9d9", alpha=0.6, lw=0, label=f"|effect| < {threshold:g}")
    bot.axhline(0, color="black", lw=0.8)
    bot.plot(years, m, color="black", lw=1.4, label="treatment - control (paired)")
    bot.fill_between(years, lo, hi, color="black", alpha=0.15, lw=0)
    bot.set_ylabel("difference", fontsize=8)
    bot.set_xlabel("year", fontsize=8)
    h, _ = bot.get_legend_handles_labels()
    bot.legend(handles=h + [Patch(color="#fee08b", alpha=0.5, lw=0, label=f"years averaged ({window[0]}-{window[1]})")],
               fontsize=8, frameon=False, loc="best")
    bot.xaxis.set_major_locator(MaxNLocator(8, integer=True))
    text = metric_label(title) if title else (f"{metric_label(metric)}: both arms over time ({direction} predicted; "
                     f"years {window[0]}-{window[1]} averaged)")
    fig.suptitle("\n".join(textwrap.wrap(text, max(30, int(fig.get_figwidth() * 72 / (9 * 0.55))))),
                 fontsize=9, x=0.02, ha="left", va="top", y=0.99)
    lines = fig._suptitle.get_text().count("\n") + 1
    fig.subplots_adjust(left=0.11, right=0.98, top=1 - (0.12 + 0.17 * lines) / fig.get_figheight(), bottom=0.09,
                        hspace=0.08)
    return fig


def fig_claims_forest(rows: list[dict], title: str = "Effects against the smallest effect that matters",
                      figsize=None, dpi: int = 100, font: float = 8.0) -> Figure:
    """Effects with their intervals in threshold units, one row each (`rows`: label, effect, low, high,
    verdict, optional hollow=True for a mechanism-off row). 1 is the smallest effect that matters in the
    predicted direction, -1 the same the other way; colour: the verdict. Beyond +-6 the axis is
    logarithmic (symlog), so that large effects do not hide the threshold. Row labels that are metric
    names show the metric dictionary's titles. The verdicts' legend sits under the title in two
    columns, so that the figure can be drawn narrow (the app: 5.2 in) with text of `font` points."""
    n = max(1, len(rows))
    mechanism = any(r.get("hollow") for r in rows)
    leg_rows = 3 if mechanism else 2
    width = (figsize or (6.0,))[0]
    title = "\n".join(textwrap.wrap(title, max(30, int(width * 72 / ((font + 1.5) * 0.55)))))
    top_in = 0.12 + (title.count("\n") + 1) * (font + 1.5) * 1.3 / 72 + leg_rows * font * 1.45 / 72 + 0.15
    height = top_in + 0.35 + 2.4 * font / 72 + 0.15 + 0.27 * n * font / 7
    if figsize is not None and figsize[1] is None:  # a width, the height from the rows
        figsize = (figsize[0], height)
    fig = Figure(figsize=figsize or (6.0, height), dpi=dpi)
    w, h = fig.get_size_inches()
    labels = [metric_label(str(r["label"])) for r in rows]
    label_w = min(0.45 * w, max(len(t) for t in labels) * font * 0.55 / 72 + 0.25) if labels else 1.0
    bottom_in = 0.35 + 2.4 * font / 72  # two lines of x label under the tick labels
    ax = fig.add_axes([label_w / w, bottom_in / h, 1 - label_w / w - 0.2 / w, 1 - (bottom_in + top_in) / h])
    finite = [abs(v) for r in rows for v in (r["effect"], r["low"], r["high"]) if v is not None and math.isfinite(v)]
    lim = max([2.0] + finite) * 1.15
    ax.axvspan(1, lim, color=VERDICT_COLOURS["supported"], alpha=0.08, lw=0)
    ax.axvspan(-lim, -1, color=VERDICT_COLOURS["contradicted"], alpha=0.08, lw=0)
    for x in (-1, 1):
        ax.axvline(x, color="black", ls="--", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    for i, r in enumerate(rows):
        yv = n - 1 - i
        col = VERDICT_COLOURS.get(r.get("verdict"), "black")
        e, lo, hi = r["effect"], r["low"], r["high"]
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            ax.plot([lo, hi], [yv, yv], color=col, lw=2.2, solid_capstyle="butt")
        if e is not None and math.isfinite(e):
            ax.plot([e], [yv], "o", ms=6, color=col, markerfacecolor="white" if r.get("hollow") else col,
                    markeredgewidth=1.6)
    ax.set_yticks(range(n), labels[::-1], fontsize=font)
    ax.set_ylim(-0.7, n - 0.3)
    if lim > 6:
        ax.set_xscale("symlog", linthresh=2.0, linscale=1.5)
        ticks = [t for t in (-1000, -100, -30, -10, -5, -2, -1, 0, 1, 2, 5, 10, 30, 100, 1000) if abs(t) <= lim]
        ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(-lim, lim)
    ax.tick_params(axis="x", labelsize=font)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("effect / smallest effect that matters\n(> 0: in the predicted direction)", fontsize=font)
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLOURS.items()]
    if mechanism:
        handles.append(Line2D([], [], color="black", marker="o", markerfacecolor="white", lw=0, label="mechanism off"))
    title_h = 0.1 + (title.count("\n") + 1) * (font + 1.5) * 1.3 / 72
    fig.legend(handles=handles, fontsize=font, frameon=False, loc="upper left", bbox_to_anchor=(0.02, 1 - title_h / h),
               ncol=2, borderaxespad=0, handlelength=1.8, columnspacing=1.5)
    fig.suptitle(title, fontsize=font + 1.5, x=0.02, y=1 - 0.06 / h, ha="left", va="top")
    return fig


def _effect_panels(values: list, panels: list[dict], figsize, dpi: int, height: float):
    """One axis per outcome panel over the values of a parameter, each with the threshold band (grey:
    effects smaller than the smallest that matters) and zero drawn; returns the figure, the x
    positions, the tick labels (None for numbers) and, per panel, (axis, panel, (effect, low, high))."""
    k = max(1, len(panels))
    fig = Figure(figsize=figsize or (max(3.3 * k + 0.6, 5.0), height), dpi=dpi)
    axes = np.atleast_1d(fig.subplots(1, k))
    x, labels = _positions(values)
    rows = []
    for ax, p in zip(axes, panels):
        t = p["threshold"]
        ax.axhspan(-t, t, color="#d9d9d9", alpha=0.6, lw=0)
        ax.axhline(0, color="black", lw=0.8)
        rows.append((ax, p, tuple(np.asarray(p[c], dtype=float) for c in ("effect", "low", "high"))))
    return fig, x, labels, rows


def fig_claim_gradient(parameter: str, values: list, panels: list[dict], figsize=None, dpi: int = 100) -> Figure:
    """A gradient claim: per outcome (`panels`: metric, effect, low, high per level, threshold, direction),
    the paired effect of each level against the first with its 95% interval, and the threshold band."""
    fig, x, labels, rows = _effect_panels(values, panels, figsize, dpi, 3.3)
    for ax, p, (e, lo, hi) in rows:
        ax.fill_between(x, lo, hi, color="#4575b4", alpha=0.25, lw=0)
        ax.plot(x, e, "o-", color="#4575b4", lw=1.5, ms=4)
        _label_effect_axis(ax, p, parameter, x, labels)
    lines = _panel_title(fig, f"Gradient over {parameter}: effect of each level against {parameter} = {values[0]}")
    below = 0.97 - 0.05 * lines
    fig.legend(handles=[Line2D([], [], color="#4575b4", marker="o", ms=4, lw=1.5, label="effect"),
                        Patch(color="#4575b4", alpha=0.25, lw=0, label="its 95% interval"),
                        Patch(color="#d9d9d9", alpha=0.6, lw=0, label="smaller than the smallest effect that matters")],
               fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.01, below), ncol=3)
    fig.subplots_adjust(left=max(0.09, 0.6 / fig.get_figwidth()), right=0.98, top=below - 0.1, bottom=0.17,
                        wspace=0.35)
    return fig


def _panel_title(fig, text: str) -> int:
    """The figure's title at the top left, wrapped to the figure's width; returns its number of lines."""
    lines = textwrap.wrap(text, max(30, int(fig.get_figwidth() * 15)))
    fig.suptitle("\n".join(lines), fontsize=8, x=0.02, y=0.98, ha="left", va="top")
    return len(lines)


def _label_effect_axis(ax, panel: dict, parameter: str, x, labels):
    """Title (metric and predicted direction), x label, ticks and grid of one effect panel."""
    ax.set_title(f"{metric_label(panel['metric'])} ({panel['direction']} predicted)", fontsize=8)
    meta = MD.get(panel["metric"])
    ax.set_ylabel(f"effect [{meta.unit}]" if meta is not None else "effect", fontsize=7)
    ax.set_xlabel(parameter, fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if labels:
        ax.set_xticks(x, labels)


def fig_claim_conditions(parameter: str, values: list, panels: list[dict], figsize=None, dpi: int = 100) -> Figure:
    """A moderator: per outcome (`panels`: metric, effect, low, high, verdict per value, threshold, direction,
    transitions), the effect and 95% interval at each value, coloured by verdict, the threshold band
    (effects smaller than the smallest effect that matters) and the interpolated values where the
    verdict changes (dotted lines)."""
    fig, x, labels, rows = _effect_panels(values, panels, figsize, dpi, 3.7)
    for ax, p, (e, lo, hi) in rows:
        ax.plot(x, e, color="#4d4d4d", lw=1, alpha=0.7)
        for xi, ei, l, h, v in zip(x, e, lo, hi, p["verdict"]):
            col = VERDICT_COLOURS.get(v, "black")
            if math.isfinite(l) and math.isfinite(h):
                ax.plot([xi, xi], [l, h], color=col, lw=2.2)
            ax.plot([xi], [ei], "o", color=col, ms=5)
        for tr in p.get("transitions", []):
            if tr.get("at") is not None:
                ax.axvline(tr["at"], color="black", ls=":", lw=1)
        _label_effect_axis(ax, p, parameter, x, labels)
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLOURS.items()]
    handles += [Patch(color="#d9d9d9", alpha=0.6, lw=0, label="smaller than the smallest effect that matters"),
                Line2D([], [], color="black", ls=":", lw=1, label="where the verdict changes")]
    lines = _panel_title(fig, f"Conditions: the effect (treatment - control, 95% interval) along {parameter}")
    # the legend on its own line under the title (beside it, a long parameter name runs into it)
    below = 0.97 - 0.05 * lines
    fig.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.01, below), ncol=3)
    fig.subplots_adjust(left=max(0.09, 0.6 / fig.get_figwidth()), right=0.98, top=below - 0.2, bottom=0.17, wspace=0.35)
    return fig


def fig_claim_uncertainty(samples: pd.DataFrame, effect_units: np.ndarray, box: dict | None, metric: str,
                          ranking: list[dict] | None = None, noise_floor: float | None = None, figsize=None,
                          dpi: int = 100) -> Figure:
    """The uncertainty space: for each sampled parameter, the point effect of every sample (in threshold
    units, predicted direction > 0) against the parameter's value, filled where it reaches the threshold;
    PRIM's box limits where it reaches it shaded; with a Morris ranking, a first panel of mu* per parameter
    (the parameters' panels then in the ranking's order)."""
    cols = list(samples.columns)
    if ranking:
        order = [r["parameter"] for r in ranking if r["parameter"] in cols]
        cols = order + [c for c in cols if c not in order]
    k = max(1, len(cols)) + (1 if ranking else 0)
    ncols = min(k, 4)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=figsize or (max(2.9 * ncols + 0.5, 5.5), 2.7 * nrows + 0.6), dpi=dpi)
    axes = list(np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel())
    eff = np.asarray(effect_units, dtype=float)
    reach = np.nan_to_num(eff) >= 1
    good, rest = VERDICT_COLOURS["supported"], VERDICT_COLOURS["undetermined"]
    limits = (box or {}).get("limits", {})
    if ranking:
        ax = axes.pop(0)
        names = [r["parameter"] for r in ranking][::-1]
        mu = [r["mu_star"] for r in ranking][::-1]
        sd = [r["sigma"] for r in ranking][::-1]
        ax.barh(range(len(names)), mu, color="#4575b4", alpha=0.8, label="mu*")
        ax.scatter(sd, range(len(names)), color="black", s=12, zorder=3, label="sigma")
        if noise_floor is not None and np.isfinite(noise_floor):
            ax.axvline(noise_floor, color="#d73027", ls="--", lw=0.9, label="noise floor of mu*")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([n.rsplit(".", 1)[-1] for n in names], fontsize=6)
        ax.set_xlabel("Morris mu* of the effect (metric units)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, frameon=False, loc="lower right")
        ax.grid(alpha=0.3, axis="x")
    for ax, c in zip(axes, cols):
        if c in limits:
            ax.axvspan(limits[c][0], limits[c][1], color=good, alpha=0.12, lw=0)
        ax.axhline(1, color="black", ls="--", lw=0.8)
        ax.axhline(-1, color="black", ls="--", lw=0.8)
        ax.axhline(0, color="black", lw=0.6)
        x = samples[c].to_numpy(dtype=float)
        y = np.clip(eff, -50, 50)
        ax.scatter(x[reach], y[reach], color=good, s=16)
        ax.scatter(x[~reach], y[~reach], facecolors="none", edgecolors=rest, s=16)
        ax.set_xlabel(c, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(cols):]:
        ax.axis("off")
    axes[0].set_ylabel("point effect / threshold", fontsize=7)
    lines = _panel_title(fig, f"Uncertainty space: {metric}, the point effect at each sample (shaded: PRIM's box "
                              "where it reaches the threshold)")
    height = fig.get_figheight()
    below = 1 - (0.1 + 0.16 * lines) / height  # the legend on its own line under the title
    handles = [Line2D([], [], color=good, marker="o", lw=0, label="reaches the threshold"),
               Line2D([], [], markeredgecolor=rest, markerfacecolor="none", marker="o", lw=0, label="falls short"),
               Patch(color=good, alpha=0.12, label="PRIM's box"),
               Line2D([], [], color="black", ls="--", lw=0.8, label="±1: the smallest effect that matters")]
    fig.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.01, below),
               ncol=4 if fig.get_figwidth() >= 8 else 2)
    fig.subplots_adjust(left=max(0.12, 0.9 / fig.get_figwidth()), right=0.98, top=below - 0.45 / height,
                        bottom=0.16 / nrows + 0.05, wspace=0.45, hspace=0.5)
    return fig
