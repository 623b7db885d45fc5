"""The one figure layer: every figure of a run, the browser app, calibration and the claims reports.

Each `fig_*` function returns a `matplotlib.figure.Figure` built without pyplot (thread-safe in a
server, usable in a notebook); `figure_png` renders one to PNG bytes and `save` writes one to a file.
`write_run_figures` writes the figures of `python run.py run`.
"""

from __future__ import annotations

import math
import threading
import weakref
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

# Acuto and Rayner (2016): shares of 170 networks by main theme (docs/claims.md, C7).
ACUTO_RAYNER = {"climate": 0.29, "poverty": 0.16, "culture": 0.11, "peace": 0.11, "gender": 0.08}

# Key metrics with readable titles; the first six (HEADLINE) are the headline metrics of the app's panel.
KEY_METRICS = [
    ("fragmentation_index", "Fragmentation index"),
    ("duplication_ratio", "Duplication ratio"),
    ("north_south_gap", "North - South capability gap"),
    ("nonmember_access", "Non-member access (1 = no gap)"),
    ("high_politics_index", "High-politics index"),
    ("funding_gini", "Funding Gini across networks"),
    ("n_networks", "Active networks"),
    ("mean_memberships", "Memberships per city"),
    ("share_unaffiliated", "Share of cities in no network"),
    ("standards_per_issue", "Standards per issue"),
    ("size_gap", "Capability gap large - small"),
    ("agenda_misalignment", "Agenda misalignment"),
]
HEADLINE = KEY_METRICS[:6]

RULE_MARKERS = {"open": "o", "threshold": "s", "invitation": "^", "competitive": "D"}


def issue_colours(issues: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {nm: cmap(j % 10) for j, nm in enumerate(issues)}


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes (what the browser receives)."""
    import io

    buf = io.BytesIO()
    # light compression: zlib's default level costs more time than sending a larger image locally
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def save(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write a figure as PNG."""
    fig.savefig(path, dpi=dpi)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# The network ecosystem

# caches that live as long as the model object (layouts stay stable from step to step)
_NET_POS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CITY_XY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def active_networks(model) -> np.ndarray:
    n = model.networks.n
    return np.flatnonzero(model.networks.active[:n])


def network_graph(model, max_nodes: int = 60):
    """Graph of the largest active networks (nodes) and their shared members (edge weight).

    At world scale only the `max_nodes` largest active networks are drawn (a sample that keeps the
    panel fast); returns (graph, number of active networks).
    """
    nets = model.networks
    act = active_networks(model)
    n_active = len(act)
    if n_active == 0:
        return nx.Graph(), 0
    order = act[np.argsort(-nets.members[act], kind="stable")]
    ids = np.sort(order[:max_nodes])
    g = nx.Graph()
    for k in ids:
        g.add_node(int(k), theme=model.issue_names[int(nets.theme[k])], rule=_rule(nets.rule[k]),
                   members=int(nets.members[k]), name=nets.names[k])
    if len(ids) > 1 and len(model.memberships):
        S = model.memberships.matrix(model.cities.n, nets.n)[:, ids]
        shared = (S.T @ S).toarray()
        np.fill_diagonal(shared, 0)
        a, b = np.nonzero(np.triu(shared))
        for i, j in zip(a, b):
            g.add_edge(int(ids[i]), int(ids[j]), weight=float(shared[i, j]))
    return g, n_active


def _rule(r) -> str:
    from model.state import RULES

    return RULES[int(r)]


def network_layout(model, g: nx.Graph) -> dict:
    """Spring layout that starts from the previous step's positions (nodes stay where they were)."""
    prev = _NET_POS.get(model, {})
    if g.number_of_nodes() == 0:
        return {}
    init = {n: prev[n] for n in g.nodes if n in prev}
    rng = np.random.default_rng(len(g))
    for n in g.nodes:
        if n not in init:
            init[n] = rng.uniform(-1, 1, size=2)
    H = g.copy()
    for _, _, d in H.edges(data=True):
        d["w"] = math.log1p(d["weight"])
    k = 1.6 / math.sqrt(max(g.number_of_nodes(), 1))
    pos = nx.spring_layout(H, pos=init, k=k, weight="w", iterations=25 if prev else 60, seed=1)
    pos = {n: np.asarray(p) for n, p in pos.items()}
    _NET_POS[model] = pos  # raw positions: the next step starts from them
    return _spread(pos)


def _spread(pos: dict) -> dict:
    """Display positions: same directions from the centre, distances replaced by their rank spread
    evenly over a disc, so that a few loosely tied networks do not squeeze the dense core."""
    nodes = list(pos)
    if len(nodes) < 3:
        return pos
    xy = np.array([pos[n] for n in nodes])
    d = xy - np.median(xy, axis=0)
    r = np.hypot(d[:, 0], d[:, 1])
    rank = np.empty(len(r))
    rank[np.argsort(r, kind="stable")] = np.arange(len(r))
    r_new = np.sqrt((rank + 0.5) / len(r))
    unit = d / np.maximum(r, 1e-12)[:, None]
    return {n: unit[i] * r_new[i] for i, n in enumerate(nodes)}


def fig_network(model, max_nodes: int = 60, figsize=(6.4, 4.6), dpi: int = 90) -> Figure:
    """Network ecosystem: active networks as nodes (colour: theme; marker: rule; size: members);
    edges: shared members (width and darkness grow with their number)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_axes([0.0, 0.0, 0.74, 0.9])
    ax.set_axis_off()
    g, n_active = network_graph(model, max_nodes)
    colours = issue_colours(model.issue_names)
    shown = g.number_of_nodes()
    sample = f"largest {shown} of {n_active} active networks" if shown < n_active else f"{n_active} active networks"
    fig.suptitle(f"Network ecosystem, {model.year}: {sample}", fontsize=10, x=0.02, ha="left")
    if shown:
        pos = network_layout(model, g)
        if g.number_of_edges():
            w = np.array([d["weight"] for _, _, d in g.edges(data=True)])
            segs = [(pos[a], pos[b]) for a, b in g.edges()]
            rel = np.log1p(w) / np.log1p(w.max())
            lc = LineCollection(segs, linewidths=0.3 + 2.2 * rel, colors=[(0.3, 0.3, 0.3, 0.08 + 0.5 * r) for r in rel],
                                zorder=1)
            ax.add_collection(lc)
        mmax = max(d["members"] for _, d in g.nodes(data=True)) or 1
        for rule, marker in RULE_MARKERS.items():
            nodes = [n for n, d in g.nodes(data=True) if d["rule"] == rule]
            if not nodes:
                continue
            xy = np.array([pos[n] for n in nodes])
            ax.scatter(xy[:, 0], xy[:, 1], marker=marker, zorder=2,
                       s=[15 + 330 * math.sqrt(g.nodes[n]["members"] / mmax) for n in nodes],
                       c=[colours[g.nodes[n]["theme"]] for n in nodes], edgecolors="black", linewidths=0.5)
        xy = np.array(list(pos.values()))
        pad = 0.12
        ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
        ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    else:
        ax.text(0.5, 0.5, "no active networks", ha="center", va="center", transform=ax.transAxes)
    themes = [Patch(color=colours[i], label=i) for i in model.issue_names]
    rules = [Line2D([], [], marker=m, ls="", color="grey", markeredgecolor="black", label=r) for r, m in RULE_MARKERS.items()]
    leg = fig.legend(handles=themes, title="theme", loc="upper left", bbox_to_anchor=(0.74, 0.9), fontsize=7,
                     title_fontsize=8, frameon=False)
    fig.add_artist(leg)
    fig.legend(handles=rules, title="rule (size: members)", loc="lower left", bbox_to_anchor=(0.74, 0.02), fontsize=7,
               title_fontsize=8, frameon=False)
    return fig


# Rough geographic centres (lon, lat) of the default regions, for the layout by region.


# ---------------------------------------------------------------------------------------------
# Cities

REGION_CENTRES = {
    "Africa": (20.0, 3.0), "Asia": (95.0, 35.0), "Europe": (15.0, 52.0), "Latin America": (-62.0, -15.0),
    "North America": (-100.0, 45.0), "Oceania": (140.0, -27.0),
}


def city_positions(model) -> tuple[np.ndarray, bool]:
    """(n x 2) positions of cities and whether they are real coordinates (lon, lat).

    With coordinates (real cities): lon/lat. Without (synthetic cities): a layout by region, each
    region a disc at its rough place on the globe, area proportional to its number of cities,
    largest cities at the centre (a sunflower spiral by decreasing population).
    """
    cached = _CITY_XY.get(model)
    if cached is not None:
        return cached
    c = model.cities
    if getattr(c, "lat", None) is not None and getattr(c, "lon", None) is not None:
        out = (np.column_stack([c.lon, c.lat]).astype(float), True)
        _CITY_XY[model] = out
        return out
    xy = np.zeros((c.n, 2))
    counts = np.bincount(c.region, minlength=model.n_regions)
    nmax = max(int(counts.max()), 1)
    golden = math.pi * (3 - math.sqrt(5))
    for r, name in enumerate(model.region_names):
        idx = np.flatnonzero(c.region == r)
        if not len(idx):
            continue
        if name in REGION_CENTRES:
            cx, cy = REGION_CENTRES[name]
        else:  # unknown region names: a ring of discs
            ang = 2 * math.pi * r / max(model.n_regions, 1)
            cx, cy = 110 * math.cos(ang), 50 * math.sin(ang)
        idx = idx[np.argsort(-c.population[idx], kind="stable")]
        radius = 27.0 * math.sqrt(len(idx) / nmax)
        j = np.arange(len(idx))
        rr = radius * np.sqrt((j + 0.5) / len(idx))
        th = j * golden
        xy[idx, 0] = cx + rr * np.cos(th) * 1.25
        xy[idx, 1] = cy + rr * np.sin(th)
    out = (xy, False)
    _CITY_XY[model] = out
    return out


def fig_city_map(model, colour_by: str = "memberships", figsize=(6.4, 3.9), dpi: int = 90, max_points: int = 8000) -> Figure:
    """World map of cities (real coordinates) or layout by region (synthetic), coloured by the
    number of memberships or by mean practice; size grows with population."""
    c = model.cities
    xy, real = city_positions(model)
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_axes([0.01, 0.02, 0.84, 0.86])
    cax = fig.add_axes([0.87, 0.12, 0.025, 0.66])
    if colour_by == "practice":
        val = c.practice.mean(axis=1)
        norm, cmap, label = Normalize(0, max(float(val.max()), 1e-9)), "viridis", "mean practice"
    else:
        val = np.bincount(model.memberships.city, minlength=c.n).astype(float)
        norm, cmap, label = Normalize(0, max(float(val.max()), 1.0)), "plasma", "memberships"
    idx = np.arange(c.n)
    if c.n > max_points:  # world scale: the largest quarter of the points plus a fixed random sample of the rest
        big = np.argsort(-c.population, kind="stable")[: max_points // 4]
        rest = np.setdiff1d(idx, big)
        pick = np.random.default_rng(0).choice(rest, max_points - len(big), replace=False)
        idx = np.sort(np.concatenate([big, pick]))
    size = 2 + 40 * (np.log(c.population[idx]) - math.log(model.cfg.cities.pop_min)) / max(
        math.log(model.cfg.cities.pop_max / model.cfg.cities.pop_min), 1e-9)
    order = np.argsort(c.population[idx])  # large cities on top
    ii = idx[order]
    ax.scatter(xy[ii, 0], xy[ii, 1], c=val[ii], s=size[order], cmap=cmap, norm=norm, linewidths=0.2,
               edgecolors=np.where(c.north[ii, None], np.array([[0, 0, 0, 0.55]]), np.array([[1, 1, 1, 0.0]])))
    if real:
        ax.set_xlim(-180, 180)
        ax.set_ylim(-60, 80)
        ax.set_xlabel("longitude", fontsize=7)
    else:
        for r, name in enumerate(model.region_names):
            sel = c.region == r
            if sel.any():
                top = xy[sel, 1].max()
                ax.text(xy[sel, 0].mean(), top + 3, name, ha="center", va="bottom", fontsize=8, color="0.25")
        ax.set_xlim(xy[:, 0].min() - 12, xy[:, 0].max() + 12)
        ax.set_ylim(xy[:, 1].min() - 6, xy[:, 1].max() + 12)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, label=label)
    where = "map" if real else "layout by region"
    sample = f" ({len(idx)} of {c.n} shown)" if len(idx) < c.n else ""
    fig.suptitle(f"Cities, {model.year}: {where}, colour: {label}{sample}\n(size: population; dark outline: Global North)",
                 fontsize=9, x=0.02, ha="left")
    return fig


# ---------------------------------------------------------------------------------------------
# Time series and shares

def fig_timeseries(ts: pd.DataFrame, other: pd.DataFrame | None = None, labels=("run", "B"),
                   years: tuple[int, int] | None = None, metrics: list[tuple[str, str]] | None = None,
                   ncols: int = 3, figsize=None, dpi: int = 90, title: str = "Key metrics over time") -> Figure:
    """Key metrics over time (default: the six headline metrics, 2 x 3); with `other`, both runs on
    the same axes. `years` (first, last) fixes the x axis to the whole run, so that the lines grow
    step by step."""
    metrics = HEADLINE if metrics is None else metrics
    nrows = max(1, math.ceil(len(metrics) / ncols))
    fig = Figure(figsize=figsize or (6.4, 3.9 * nrows / 2), dpi=dpi)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True))
    for ax, (col, label) in zip(axes.flat, metrics):
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(alpha=0.3)
        for df, colour, ls, lab in ((ts, "tab:blue", "-", labels[0]), (other, "tab:orange", "--", labels[1])):
            if df is None or col not in df or not len(df):
                continue
            ax.plot(df["year"], df[col], color=colour, ls=ls, lw=1.6, label=lab)
            ax.plot(df["year"].iloc[-1:], df[col].iloc[-1:], "o", color=colour, ms=3)
        if years is not None:
            ax.set_xlim(years[0] - 0.5, years[1] + 0.5)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    if ts is None or not len(ts):
        axes.flat[0].text(0.5, 0.5, "press Step or Play", ha="center", va="center", transform=axes.flat[0].transAxes,
                          fontsize=8)
    if other is not None:
        h, lab = axes.flat[0].get_legend_handles_labels()
        if h:
            fig.legend(h, lab, loc="upper right", fontsize=7, ncol=2, frameon=False)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=1 - 0.14 * 2 / (nrows + 0.5), wspace=0.32, hspace=0.38)
    return fig


_TS_FIG: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_TS_LOCK = threading.RLock()


def fig_timeseries_live(model, **kw) -> Figure:
    """`fig_timeseries` of a running model over its whole span of years, kept from step to step:
    later calls only move the lines (about a third faster than drawing a new figure)."""
    ts = model.timeseries()
    years = (model.cfg.start_year, model.cfg.end_year)
    if not len(ts):
        _TS_FIG.pop(model, None)
        return fig_timeseries(ts, years=years, **kw)
    with _TS_LOCK:
        fig = _TS_FIG.get(model)
        if fig is None:
            fig = _TS_FIG[model] = fig_timeseries(ts, years=years, **kw)
            return fig
        for ax, (col, _) in zip(fig.axes, HEADLINE):
            line, dot = ax.lines[0], ax.lines[1]
            line.set_data(ts["year"].to_numpy(), ts[col].to_numpy())
            dot.set_data(ts["year"].to_numpy()[-1:], ts[col].to_numpy()[-1:])
            ax.relim()
            ax.autoscale_view(scalex=False)
        return fig


def timeseries_png_live(model) -> bytes:
    """PNG of `fig_timeseries_live` (drawn under the figure's lock: one figure, many threads)."""
    with _TS_LOCK:
        return figure_png(fig_timeseries_live(model))


def fig_theme_shares(shares: dict[str, float], year=None, other: dict[str, float] | None = None, labels=("model", "B"),
                     figsize=(6.4, 3.6), dpi: int = 90) -> Figure:
    """Theme shares of active networks (one bar per issue, coloured by theme) against the shares
    Acuto and Rayner (2016) report for 170 networks (hollow bars)."""
    issues = list(shares)
    colours = issue_colours(issues)
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_axes([0.1, 0.2, 0.88, 0.68])
    x = np.arange(len(issues))
    width = 0.38 if other is None else 0.27
    ax.bar(x - width / 2 if other is None else x - width, [shares[i] for i in issues], width,
           color=[colours[i] for i in issues], label=labels[0] + (f" {year}" if year is not None else ""))
    if other is not None:
        ax.bar(x, [other.get(i, 0.0) for i in issues], width, color=[colours[i] for i in issues], alpha=0.5,
               hatch="//", edgecolor="white", label=labels[1])
    ref_x = x + width / 2 if other is None else x + width
    ref = [ACUTO_RAYNER.get(i, np.nan) for i in issues]
    ax.bar(ref_x, ref, width, facecolor="none", edgecolor="black", linewidth=1.0, label="Acuto & Rayner (2016)")
    ax.set_xticks(x, issues, rotation=35, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    top = max([v for v in shares.values()] + [v for v in ACUTO_RAYNER.values()] + list((other or {}).values()) + [0.1])
    ax.set_ylim(0, top * 1.18)
    ax.set_ylabel("share of active networks", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right", frameon=False)
    fig.suptitle("Theme shares of active networks vs Acuto & Rayner", fontsize=10, x=0.02, ha="left")
    return fig


def fig_shares_over_time(ts: pd.DataFrame, prefix: str, issues: list[str], title: str, ylabel: str = "share",
                         figsize=(9, 4.8), dpi: int = 110) -> Figure:
    """Stacked shares by issue over time (`prefix`: theme_share_ or funding_share_)."""
    colours = issue_colours(issues)
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_axes([0.08, 0.12, 0.72, 0.78])
    ys = [ts[f"{prefix}{i}"].to_numpy() for i in issues]
    ax.stackplot(ts["year"], ys, labels=issues, colors=[colours[i] for i in issues], alpha=0.85)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("year")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# Calibration


def fig_network_count(years: np.ndarray, counts: np.ndarray, facts: list, figsize=(8, 4.5), dpi: int = 110) -> Figure:
    """Active networks over time across replications (mean and 95% band) against the known counts
    (`facts`: calibration facts on n_networks)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_between(years, np.percentile(counts, 2.5, axis=0), np.percentile(counts, 97.5, axis=0), alpha=0.25,
                    label="model, 95% of replications")
    ax.plot(years, counts.mean(axis=0), lw=2, label="model, mean")
    for f in facts:
        ax.errorbar([f.year], [f.target], yerr=[[f.tolerance], [f.tolerance]] if f.relation == "approx" else None,
                    fmt="o" if f.relation == "approx" else "^", color="black", capsize=4)
    ax.plot([], [], "ok", label="known points (tolerance)")
    ax.set_xlabel("year")
    ax.set_ylabel("active networks")
    ax.set_title("Number of international city networks: model against known points")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fig_theme_calibration(issues: list[str], shares: np.ndarray, year: int, figsize=(9, 4.5), dpi: int = 110) -> Figure:
    """Theme shares in `year` across replications (mean and sd) against Acuto and Rayner."""
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(issues))
    col = issue_colours(issues)
    ax.bar(x - 0.2, shares.mean(axis=0), 0.4, yerr=shares.std(axis=0), color=[col[i] for i in issues],
           label=f"model {year}")
    ax.bar(x + 0.2, [ACUTO_RAYNER.get(i, np.nan) for i in issues], 0.4, color="lightgrey", edgecolor="black",
           label="Acuto and Rayner (2016)")
    ax.set_xticks(x, issues, rotation=30)
    ax.set_ylabel("share of networks by main theme")
    ax.set_title("Theme shares: model against Acuto and Rayner")
    ax.legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The figures of one run


def write_run_figures(res, outdir: Path) -> list[Path]:
    """The figures of `python run.py run` (`res`: model.api.RunOutputs with its model)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model, ts = res.model, res.timeseries
    issues = list(res.scenario.issue_names)
    files = []
    years = (int(ts["year"].iloc[0]), int(ts["year"].iloc[-1])) if len(ts) else None
    fig = fig_timeseries(ts, years=years, metrics=KEY_METRICS, ncols=4, figsize=(16, 8), dpi=110,
                         labels=(res.scenario.name, ""))
    files.append(save(fig, outdir / "metrics.png"))
    final = {i: float(ts[f"theme_share_{i}"].iloc[-1]) if len(ts) else 0.0 for i in issues}
    files.append(save(fig_theme_shares(final, year=years[1] if years else None, figsize=(9, 4.8), dpi=110),
                      outdir / "theme_shares.png"))
    files.append(save(fig_shares_over_time(ts, "funding_share_", issues, "Funding by issue (grants weighted by "
                                           "network agendas)", ylabel="share of grants"), outdir / "funding_by_issue.png"))
    if model is not None:
        files.append(save(fig_network(model, max_nodes=80, figsize=(10, 7.5), dpi=110), outdir / "network_graph.png"))
        if getattr(model.cities, "lat", None) is not None:
            files.append(save(fig_city_map(model, figsize=(12, 6.4), dpi=110, max_points=40_000),
                              outdir / "world_map.png"))
    return files


# ---------------------------------------------------------------------------------------------
# Claims
#
# The figures of the claims lab (analysis/claims/report.py). Each takes plain numbers (means, bands,
# effects and intervals), so that the report, the app's Claims page and a notebook draw the same.

VERDICT_COLOURS = {"supported": "#1a9850", "contradicted": "#d73027", "inconclusive": "#8c8c8c"}


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
        ax.tick_params(labelsize=7)
    top.set_ylabel(metric, fontsize=8)
    top.legend(fontsize=7, frameon=False, loc="best")
    m, lo, hi = diff
    bot.axhspan(-threshold, threshold, color="#d9d9d9", alpha=0.6, lw=0, label=f"|effect| < {threshold:g}")
    bot.axhline(0, color="black", lw=0.8)
    bot.plot(years, m, color="black", lw=1.4, label="treatment - control (paired)")
    bot.fill_between(years, lo, hi, color="black", alpha=0.15, lw=0)
    bot.set_ylabel("difference", fontsize=8)
    bot.set_xlabel("year", fontsize=8)
    bot.legend(fontsize=7, frameon=False, loc="best")
    bot.xaxis.set_major_locator(MaxNLocator(8, integer=True))
    fig.suptitle(title or f"{metric}: arms over time ({direction} predicted; window {window[0]}-{window[1]} shaded)",
                 fontsize=9, x=0.02, ha="left")
    fig.subplots_adjust(left=0.11, right=0.98, top=0.92, bottom=0.09, hspace=0.08)
    return fig


def fig_claims_forest(rows: list[dict], title: str = "Effects against the smallest effect that matters",
                      figsize=None, dpi: int = 100) -> Figure:
    """Effects with their 95% intervals in threshold units, one row each (`rows`: label, effect, low, high,
    verdict, optional hollow=True for a mechanism-off row). 1 is the smallest effect that matters in the
    predicted direction, -1 the same the other way; colour: the verdict. Beyond +-6 the axis is
    logarithmic (symlog), so that large effects do not hide the threshold."""
    n = max(1, len(rows))
    height = 1.35 + 0.3 * n
    fig = Figure(figsize=figsize or (7.5, height), dpi=dpi)
    h = fig.get_figheight()
    ax = fig.add_axes([0.4, 0.55 / h, 0.57, 1 - 1.1 / h])
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
    ax.set_yticks(range(n), [r["label"] for r in rows][::-1], fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    if lim > 6:
        ax.set_xscale("symlog", linthresh=2.0, linscale=1.5)
        ticks = [t for t in (-1000, -100, -30, -10, -5, -2, -1, 0, 1, 2, 5, 10, 30, 100, 1000) if abs(t) <= lim]
        ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(-lim, lim)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("effect / smallest effect that matters (> 0: the predicted direction)", fontsize=7)
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLOURS.items()]
    if any(r.get("hollow") for r in rows):
        handles.append(Line2D([], [], color="black", marker="o", markerfacecolor="white", lw=0, label="mechanism off"))
    fig.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.4, 1 - 0.28 / h),
               ncol=len(handles))
    fig.suptitle(title, fontsize=9, x=0.02, y=1 - 0.08 / h, ha="left", va="top")
    return fig


def fig_claim_gradient(parameter: str, values: list, panels: list[dict], figsize=None, dpi: int = 100) -> Figure:
    """A gradient claim: per outcome (`panels`: metric, effect, low, high per level, threshold, direction),
    the paired effect of each level against the first with its 95% interval, and the threshold band."""
    k = max(1, len(panels))
    fig = Figure(figsize=figsize or (3.3 * k + 0.6, 3.3), dpi=dpi)
    axes = np.atleast_1d(fig.subplots(1, k))
    x, labels = _positions(values)
    for ax, p in zip(axes, panels):
        t = p["threshold"]
        ax.axhspan(-t, t, color="#d9d9d9", alpha=0.6, lw=0)
        ax.axhline(0, color="black", lw=0.8)
        e, lo, hi = (np.asarray(p[c], dtype=float) for c in ("effect", "low", "high"))
        ax.fill_between(x, lo, hi, color="#4575b4", alpha=0.25, lw=0)
        ax.plot(x, e, "o-", color="#4575b4", lw=1.5, ms=4)
        ax.set_title(f"{p['metric']} ({p['direction']} predicted)", fontsize=8)
        ax.set_xlabel(parameter, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if labels:
            ax.set_xticks(x, labels)
    axes[0].set_ylabel(f"effect vs {parameter} = {values[0]}", fontsize=7)
    fig.suptitle(f"Gradient over {parameter}: effect of each level against the first (95% intervals; grey: "
                 "smaller than the threshold)", fontsize=8, x=0.02, ha="left")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.82, bottom=0.17, wspace=0.3)
    return fig


def fig_claim_conditions(parameter: str, values: list, panels: list[dict], figsize=None, dpi: int = 100) -> Figure:
    """A moderator: per outcome (`panels`: metric, effect, low, high, verdict per value, threshold, direction,
    transitions), the effect and 95% interval at each value, coloured by verdict, the threshold band
    (effects smaller than the smallest effect that matters) and the interpolated values where the
    verdict changes (dotted lines)."""
    k = max(1, len(panels))
    fig = Figure(figsize=figsize or (3.3 * k + 0.6, 3.4), dpi=dpi)
    axes = np.atleast_1d(fig.subplots(1, k))
    x, labels = _positions(values)
    for ax, p in zip(axes, panels):
        t = p["threshold"]
        ax.axhspan(-t, t, color="#d9d9d9", alpha=0.6, lw=0)
        ax.axhline(0, color="black", lw=0.8)
        e, lo, hi = (np.asarray(p[c], dtype=float) for c in ("effect", "low", "high"))
        ax.plot(x, e, color="#4d4d4d", lw=1, alpha=0.7)
        for xi, ei, l, h, v in zip(x, e, lo, hi, p["verdict"]):
            col = VERDICT_COLOURS.get(v, "black")
            if math.isfinite(l) and math.isfinite(h):
                ax.plot([xi, xi], [l, h], color=col, lw=2.2)
            ax.plot([xi], [ei], "o", color=col, ms=5)
        for tr in p.get("transitions", []):
            if tr.get("at") is not None:
                ax.axvline(tr["at"], color="black", ls=":", lw=1)
        ax.set_title(f"{p['metric']} ({p['direction']} predicted)", fontsize=8)
        ax.set_xlabel(parameter, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if labels:
            ax.set_xticks(x, labels)
    axes[0].set_ylabel("effect (treatment - control)", fontsize=7)
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, fontsize=7, frameon=False, loc="upper right", ncol=3)
    fig.suptitle(f"Conditions: the effect along {parameter}", fontsize=8, x=0.02, ha="left")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.8, bottom=0.17, wspace=0.3)
    return fig


def fig_claim_uncertainty(samples: pd.DataFrame, effect_units: np.ndarray, verdicts: list[str], box: dict | None,
                          metric: str, figsize=None, dpi: int = 100) -> Figure:
    """The uncertainty space: for each sampled parameter, the effect of every sample (in threshold units,
    predicted direction > 0) against the parameter's value, coloured by verdict; PRIM's box limits
    where the claim holds are shaded."""
    cols = list(samples.columns)
    k = max(1, len(cols))
    ncols = min(k, 4)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=figsize or (2.9 * ncols + 0.5, 2.7 * nrows + 0.6), dpi=dpi)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    eff = np.asarray(effect_units, dtype=float)
    colours = [VERDICT_COLOURS.get(v, "black") for v in verdicts]
    limits = (box or {}).get("limits", {})
    for ax, c in zip(axes, cols):
        if c in limits:
            ax.axvspan(limits[c][0], limits[c][1], color=VERDICT_COLOURS["supported"], alpha=0.12, lw=0)
        ax.axhline(1, color="black", ls="--", lw=0.8)
        ax.axhline(-1, color="black", ls="--", lw=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax.scatter(samples[c].to_numpy(dtype=float), np.clip(eff, -50, 50), c=colours, s=16)
        ax.set_xlabel(c, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(cols):]:
        ax.axis("off")
    axes[0].set_ylabel("effect / threshold", fontsize=7)
    fig.suptitle(f"Uncertainty space: {metric} effect at each sample (shaded: PRIM's box where it holds)",
                 fontsize=8, x=0.02, ha="left")
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.55 / (2.7 * nrows + 0.6), bottom=0.16 / nrows + 0.05,
                        wspace=0.3, hspace=0.45)
    return fig
