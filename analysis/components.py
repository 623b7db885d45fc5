"""What the browser app (analysis/app.py) shows, without the browser: scenario building from the
app's controls, and one matplotlib figure builder per panel.

Everything here is plain Python + matplotlib (no Solara), so that the panels can be tested and
reused in notebooks: each `fig_*` function takes a model (or time series) and returns a
`matplotlib.figure.Figure` built without pyplot (thread-safe in a server).
"""

from __future__ import annotations

import copy
import math
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

from analysis.figures import ACUTO_RAYNER, RULE_MARKERS, issue_colours
from model.config import Scenario, ScenarioError, apply_overrides, read_yaml, validate_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = ROOT / "scenarios"

# The six key metrics of the time-series panel (MODEL.md section 6), with readable titles.
KEY_METRICS = [
    ("fragmentation_index", "Fragmentation index"),
    ("duplication_ratio", "Duplication ratio"),
    ("north_south_gap", "North - South capability gap"),
    ("nonmember_access", "Non-member access (1 = no gap)"),
    ("high_politics_index", "High-politics index"),
    ("funding_gini", "Funding Gini across networks"),
]


@dataclass(frozen=True)
class Lever:
    """A slider or switch of the app that sets one dotted scenario field."""

    param: str  # keyword of the app model (a valid identifier)
    path: str  # dotted scenario field
    label: str
    kind: str  # "float" or "bool"
    min: float = 0.0
    max: float = 1.0
    step: float = 0.05


LEVERS = [
    Lever("pool", "resources.pool", "Funding pool (M USD/yr)", "float", 0.0, 600.0, 1.0),
    Lever("convergence", "networks.convergence", "Convergence (follow the money)", "float", step=0.01),
    Lever("invitation_share", "networks.invitation_share", "Invitation-only share", "float", 0.0, 0.8, 0.01),
    Lever("openness_closed", "networks.openness_closed", "Openness of closed networks", "float", step=0.01),
    Lever("partnered_share", "networks.partnered_share", "Partner share (networks with partners)", "float", step=0.01),
    Lever("city_first", "governance.city_first", "City first (governance)", "float", step=0.01),
    Lever("spillover_down", "spillover.down", "Spillover down (to residents)", "bool"),
    Lever("spillover_up", "spillover.up", "Spillover up (to national stance)", "bool"),
    Lever("spillover_horizontal", "spillover.horizontal", "Spillover across networks", "bool"),
]

# Remedies of MODEL.md section 5: each switch adds one intervention with its default parameters.
REMEDIES = {
    "cross_network_platform": "Cross-network platform",
    "secretariat_exchange": "Secretariat exchange",
    "io_framework": "IO framework (pooled funding)",
    "city_first": "City-first governance",
    "open_knowledge": "Open knowledge",
    "extend_services": "Extend services to non-members",
}


def lever_value(cfg: Scenario, path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def list_scenarios(extra: str | Path | None = None) -> list[str]:
    """Scenario files the picker offers: the valid scenarios in scenarios/ (sweep files and broken
    files are skipped) plus `extra` (the file given to `serve`) when it lies elsewhere."""
    out = []
    for p in sorted(SCENARIO_DIR.glob("*.y*ml")):
        try:
            validate_scenario(read_yaml(p), str(p))
        except Exception:  # noqa: BLE001, S112 - anything unreadable or invalid is simply not offered
            continue
        out.append(display_path(p))
    if extra is not None:
        label = display_path(Path(extra))
        if label not in out:
            out.insert(0, label)
    return out


def display_path(p: Path) -> str:
    p = Path(p).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def resolve_path(label: str) -> Path:
    p = Path(label)
    return p if p.is_absolute() else ROOT / p


def build_scenario(source: str | Path | Scenario, overrides: dict[str, Any] | None = None,
                   remedies: list[str] | tuple = (), remedy_start: int | None = None) -> tuple[Scenario, list[str]]:
    """The scenario of `source` (a YAML file or a resolved Scenario) with dotted `overrides`, plus one
    intervention per remedy starting in `remedy_start` (default: the first simulated year; clamped
    to the simulated years).

    Returns (scenario, notes): notes say what was adjusted so that the scenario stays valid.
    Raises ScenarioError (naming the file) when the file or an override is wrong.
    """
    if isinstance(source, Scenario):
        src, data = f"scenario {source.name}", source.model_dump(mode="json")
    else:
        src, data = str(source), read_yaml(source)
    notes: list[str] = []
    ov = dict(overrides or {})
    if "networks.invitation_share" in ov:
        # the rule shares must sum to at most 1: cap the invitation share instead of failing
        base = validate_scenario(copy.deepcopy(data), src)
        room = 1.0 - base.networks.competitive_share - base.networks.threshold_share
        if ov["networks.invitation_share"] > room + 1e-12:
            notes.append(f"invitation share capped at {room:.2f} (competitive + threshold shares take the rest)")
            ov["networks.invitation_share"] = round(room, 6)
    apply_overrides(data, ov, source=src)
    if remedies:
        probe = validate_scenario(copy.deepcopy(data), src)
        first, last = probe.start_year, probe.end_year
        year = first if remedy_start is None else min(max(int(remedy_start), first), last)
        if remedy_start is not None and year != int(remedy_start):
            notes.append(f"remedies start in {year} (the run covers {first}-{last})")
        ivs = list(data.get("interventions") or [])
        for kind in remedies:
            if kind not in REMEDIES:
                raise ScenarioError(src, "interventions", f"unknown remedy '{kind}'; expected one of: {', '.join(REMEDIES)}")
            ivs.append({"kind": kind, "start": year})
        data["interventions"] = ivs
    return validate_scenario(data, src), notes


def add_remedy_now(model, kind: str):
    """Switch a remedy on in a running model from the next simulated year on (to the end)."""
    from model.config import InterventionConfig
    from model.interventions import validate_intervention

    if kind not in REMEDIES:
        raise ValueError(f"unknown remedy {kind!r}")
    year = model.year + 1
    if year > model.cfg.end_year:
        raise ValueError("the run is over; press Reset first")
    iv = InterventionConfig(kind=kind, start=year)
    inst = validate_intervention(iv, model.cfg, f"interventions.{len(model.interventions)}", "app")
    model.interventions.append(inst)
    return inst


# ---------------------------------------------------------------------------------------------
# Panel data


def active_networks(model) -> np.ndarray:
    n = model.networks.n
    return np.flatnonzero(model.networks.active[:n])


def top_networks(model, n: int = 10) -> pd.DataFrame:
    """The n largest active networks: name, theme, rule, members, funds (million USD)."""
    tab = model.networks_table()
    tab = tab[tab["dissolved"].isna()].sort_values(["members", "funds"], ascending=False).head(n)
    out = tab[["name", "theme", "rule", "members", "funds"]].reset_index(drop=True)
    out["funds"] = out["funds"].astype(float).round(2)
    return out


def current_theme_shares(model) -> dict[str, float]:
    """Share of active networks by primary theme (the theme_share_* metrics, for the current state)."""
    act = active_networks(model)
    k = len(model.issue_names)
    if len(act) == 0:
        return {i: 0.0 for i in model.issue_names}
    counts = np.bincount(model.networks.theme[act], minlength=k)[:k]
    return {nm: float(c) / len(act) for nm, c in zip(model.issue_names, counts)}


# caches that live as long as the model object (layouts stay stable from step to step)
_NET_POS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CITY_XY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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
        S = model.membership_matrix()[:, ids]
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


def fig_timeseries(ts: pd.DataFrame, other: pd.DataFrame | None = None, labels=("run", "B"),
                   years: tuple[int, int] | None = None, figsize=(6.4, 3.9), dpi: int = 90) -> Figure:
    """The six key metrics over time (2 x 3); with `other`, both runs on the same axes.
    `years` (first, last) fixes the x axis to the whole run, so that the lines grow step by step."""
    fig = Figure(figsize=figsize, dpi=dpi)
    axes = fig.subplots(2, 3, sharex=True)
    for ax, (col, title) in zip(axes.flat, KEY_METRICS):
        ax.set_title(title, fontsize=8)
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
    if ts is None or not len(ts):
        axes.flat[0].text(0.5, 0.5, "press Step or Play", ha="center", va="center", transform=axes.flat[0].transAxes,
                          fontsize=8)
    if other is not None:
        h, lab = axes.flat[0].get_legend_handles_labels()
        if h:
            fig.legend(h, lab, loc="upper right", fontsize=7, ncol=2, frameon=False)
    fig.suptitle("Key metrics over time", fontsize=10, x=0.02, ha="left")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.86, wspace=0.32, hspace=0.38)
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
        for ax, (col, _) in zip(fig.axes, KEY_METRICS):
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


def final_table(a: pd.DataFrame, b: pd.DataFrame, labels=("A", "B")) -> pd.DataFrame:
    """Final values of the key metrics for two runs and their difference (B - A)."""
    rows = []
    for col, title in KEY_METRICS + [("n_networks", "Active networks"), ("share_unaffiliated", "Share of cities in no network")]:
        va = float(a[col].iloc[-1]) if len(a) else float("nan")
        vb = float(b[col].iloc[-1]) if len(b) else float("nan")
        rows.append({"metric": title, labels[0]: round(va, 4), labels[1]: round(vb, 4), "B - A": round(vb - va, 4)})
    return pd.DataFrame(rows)


def theme_shares_from_ts(ts: pd.DataFrame, issues: list[str]) -> dict[str, float]:
    return {i: float(ts[f"theme_share_{i}"].iloc[-1]) if len(ts) else 0.0 for i in issues}


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes (what the browser receives)."""
    import io

    buf = io.BytesIO()
    # light compression: zlib's default level costs more time than sending a larger image locally
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()
