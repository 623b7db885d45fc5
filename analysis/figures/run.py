"""The figures of one run (`python run.py run`, analysis/outputs.py writes them; the app shows them too):
the network ecosystem, the cities, the metrics over time (one run or several compared, with bands),
theme shares. `run_figures` lists the run's figures.

Each `fig_*` function returns a `matplotlib.figure.Figure` built without pyplot (thread-safe in a
server, usable in a notebook).
"""

from __future__ import annotations

import math
import re
import textwrap
import weakref

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from matplotlib.ticker import MaxNLocator

from analysis.figures.style import (
    ACUTO_RAYNER,
    ACUTO_RAYNER_LABEL,
    HEADLINE,
    KEY_METRICS,
    RULE_MARKERS,
    Period,
    _legend_columns,
    _legend_rows,
    _margins,
    _period_colours,
    intervention_periods,
    issue_colours,
    mark_periods,
)
from model import metric_dictionary as MD
from model.state import RULES

# ---------------------------------------------------------------------------------------------
# The network ecosystem

# caches that live as long as the model object (layouts stay stable from step to step)
_NET_POS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CITY_XY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def when(model) -> str:
    """The year a running model has reached, or 'before 1980' at step 0 (the state before the first year)."""
    return str(model.year) if model.steps else f"before {model.cfg.start_year}"


def active_networks(model) -> np.ndarray:
    """The operating networks (active and with members): the ones the metrics count (n_networks)."""
    return np.flatnonzero(model.networks.operating())


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
    real = set(getattr(model, "catalogue_index", {}).values())
    g = nx.Graph()
    for k in ids:
        g.add_node(int(k), theme=model.issue_names[int(nets.theme[k])], rule=_rule(nets.rule[k]),
                   members=int(nets.members[k]), name=nets.names[k], real=int(k) in real)
    if len(ids) > 1 and len(model.memberships):
        S = model.memberships.matrix(model.cities.n, nets.n)[:, ids]
        shared = (S.T @ S).toarray()
        np.fill_diagonal(shared, 0)
        a, b = np.nonzero(np.triu(shared))
        g.add_weighted_edges_from(zip(ids[a].tolist(), ids[b].tolist(), shared[a, b].astype(float).tolist()))
    return g, n_active


def _rule(r) -> str:
    return RULES[int(r)]


ISOLATE_ROW = -1.32  # y of the row of networks that share no member with any other shown network


def network_layout(model, g: nx.Graph) -> dict:
    """Display positions: networks that share members with others fill a disc of radius 1 (a spring
    layout that starts from the previous step's positions, its distances replaced by their rank so
    that loosely tied networks do not squeeze the dense core); networks that share no member with any
    other shown network stand in a row below the disc instead of ringing it."""
    if g.number_of_nodes() == 0:
        return {}
    linked = [n for n in g.nodes if g.degree(n) > 0]
    isolates = sorted(n for n in g.nodes if g.degree(n) == 0)
    pos: dict = {}
    if linked:
        prev = _NET_POS.get(model, {})
        for _, _, d in g.edges(data=True):
            d["w"] = math.log1p(d["weight"])
        H = g.subgraph(linked) if isolates else g  # a view, not a copy (a copy took a tenth of the panel's time)
        init = {n: prev[n] for n in H.nodes if n in prev}
        rng = np.random.default_rng(len(H))
        for n in H.nodes:
            if n not in init:
                # a new network starts where its placed neighbours are, pulled by shared members
                placed = [(init[m], H[n][m]["weight"]) for m in H[n] if m in init]
                if placed:
                    w = np.array([wt for _, wt in placed], dtype=float)
                    centre = np.average(np.array([p for p, _ in placed]), axis=0, weights=w)
                    init[n] = centre + rng.normal(0.0, 0.05, size=2)
                else:
                    init[n] = rng.uniform(-1, 1, size=2)
        k = 1.6 / math.sqrt(max(H.number_of_nodes(), 1))
        raw = nx.spring_layout(H, pos=init, k=k, weight="w", iterations=12 if prev else 60, seed=1)
        raw = {n: np.asarray(p) for n, p in raw.items()}
        raw = _align(raw, prev)
        _NET_POS[model] = raw  # raw positions: the next step starts from them
        pos.update(_spread(raw))
    if isolates:
        xs = np.linspace(-1, 1, len(isolates)) if len(isolates) > 1 else np.zeros(1)
        for x, n in zip(xs, isolates):
            pos[n] = np.array([x, ISOLATE_ROW])
    return pos


def _align(pos: dict, prev: dict) -> dict:
    """Turn and shift ``pos`` so that the networks shown last step sit as close as possible to where
    they were (orthogonal Procrustes on the common nodes): the spring layout is free to rotate the
    whole picture, and a rotation would read as every network moving."""
    common = [n for n in pos if n in prev]
    if len(common) < 3:
        return pos
    a = np.array([pos[n] for n in common])
    b = np.array([prev[n] for n in common])
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    rot = u @ vt
    return {n: (p - ca) @ rot + cb for n, p in pos.items()}


def _spread(pos: dict) -> dict:
    """Same directions from the centre, distances replaced by their rank spread evenly over a disc."""
    nodes = list(pos)
    if len(nodes) == 1:
        return {nodes[0]: np.zeros(2)}
    if len(nodes) == 2:
        return {nodes[0]: np.array([-0.5, 0.0]), nodes[1]: np.array([0.5, 0.0])}
    xy = np.array([pos[n] for n in nodes])
    d = xy - np.median(xy, axis=0)
    r = np.hypot(d[:, 0], d[:, 1])
    rank = np.empty(len(r))
    rank[np.argsort(r, kind="stable")] = np.arange(len(r))
    r_new = np.sqrt((rank + 0.5) / len(r))
    unit = d / np.maximum(r, 1e-12)[:, None]
    return {n: unit[i] * r_new[i] for i, n in enumerate(nodes)}


def short_name(name: str, width: int = 22) -> str:
    """A network's name for a label: its abbreviation in parentheses or before ' - ', else its first words."""
    m = re.search(r"\(([^()]{2,14})\)", name)
    if m and " " not in m.group(1).strip():
        return m.group(1).strip()
    head = re.split(r" \(| - ", name)[0].strip()
    return head if len(head) <= width else textwrap.shorten(head, width, placeholder="…")


def _node_size(members: float, mmax: float) -> float:
    return 15 + 330 * math.sqrt(max(members, 0) / max(mmax, 1))


def _size_values(mmax: int) -> list[int]:
    """Three round member counts to show in the size legend (at most the largest network)."""
    out = []
    for target in (mmax, mmax / 5, mmax / 40):
        if target < 1:
            continue
        e = 10 ** math.floor(math.log10(target))
        v = max(m * e for m in (1, 2, 5) if m * e <= target)
        if int(v) not in out:
            out.append(int(v))
    return sorted(out)


def _network_frame(model, figsize, dpi, scale: int):
    """The parts of the network figure that do not change from step to step: the axes, the theme
    and rule legend and the size legend for node sizes relative to `scale` members."""
    fig = Figure(figsize=figsize, dpi=dpi)
    w = figsize[0]
    legend_w = 1.55  # inches for the legends on the right
    ax = fig.add_axes([0.01, 0.02, 1 - legend_w / w - 0.02, 0.88])
    ax.set_axis_off()
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(ISOLATE_ROW - 0.2, 1.15)
    ax.set_aspect("equal", adjustable="box", anchor="C")
    colours = issue_colours(model.issue_names)
    white = {"ls": "", "markerfacecolor": "white", "markeredgecolor": "black", "color": "black"}
    header = {"color": "none"}
    handles = ([Line2D([], [], **header, marker="", label="theme")]
               + [Patch(color=colours[i], label=i) for i in model.issue_names]
               + [Line2D([], [], **header, marker="", label="rule")]
               + [Line2D([], [], marker=m, label=r, **white) for r, m in RULE_MARKERS.items()]
               + [Line2D([], [], **header, marker="", label="shared members")]
               + [Line2D([], [], color=(0.3, 0.3, 0.3, 0.3), lw=0.6, label="a few"),
                  Line2D([], [], color=(0.3, 0.3, 0.3, 0.5), lw=2.5, label="the most")])
    leg = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1 - legend_w / w, 0.92), fontsize=7,
                     frameon=False, handlelength=1.2, labelspacing=0.3)
    for t in leg.get_texts():
        if t.get_text() in ("theme", "rule", "shared members"):
            t.set_fontweight("bold")
    vals = _size_values(scale)
    sax = fig.add_axes([1 - legend_w / w, 0.02, legend_w / w - 0.01, 0.16])
    sax.set_axis_off()
    xs = np.linspace(0.15, 0.85, len(vals))
    sax.scatter(xs, np.full(len(vals), 0.62), s=[_node_size(v, scale) for v in vals], facecolors="white",
                edgecolors="black", linewidths=0.5)
    for x, v in zip(xs, vals):
        sax.text(x, 0.12, f"{v:,}", ha="center", va="bottom", fontsize=6.5)
    sax.text(0.0, 1.0, "members", fontsize=7, fontweight="bold", va="top", transform=sax.transAxes)
    sax.set_xlim(0, 1)
    sax.set_ylim(0, 1.05)
    return fig, ax


def _network_artists(model, fig, ax, max_nodes: int, scale: int, labels: int) -> list:
    """Draw what changes each step (title, edges, nodes, names) into the frame; returns the artists."""
    g, n_active = network_graph(model, max_nodes)
    colours = issue_colours(model.issue_names)
    shown = g.number_of_nodes()
    sample = f"largest {shown} of {n_active} operating networks" if shown < n_active else f"{n_active} operating networks"
    out = [fig.text(0.02, 0.98, f"Network ecosystem, {when(model)}: {sample}", fontsize=10, ha="left", va="top")]
    if not shown:
        out.append(ax.text(0.5, 0.5, "no operating networks", ha="center", va="center", transform=ax.transAxes))
        return out
    pos = network_layout(model, g)
    edges = strongest_edges(g, EDGES_PER_NODE)
    if edges:
        wts = np.array([g.edges[a, b]["weight"] for a, b in edges])
        segs = [(pos[a], pos[b]) for a, b in edges]
        rel = np.log1p(wts) / np.log1p(wts.max())
        out.append(ax.add_collection(LineCollection(segs, linewidths=0.3 + 2.2 * rel, zorder=1,
                                                    colors=[(0.3, 0.3, 0.3, 0.06 + 0.45 * r) for r in rel])))
    for rule, marker in RULE_MARKERS.items():
        nodes = [n for n, d in g.nodes(data=True) if d["rule"] == rule]
        if not nodes:
            continue
        xy = np.array([pos[n] for n in nodes])
        out.append(ax.scatter(xy[:, 0], xy[:, 1], marker=marker, zorder=2,
                              s=[_node_size(g.nodes[n]["members"], scale) for n in nodes],
                              c=[colours[g.nodes[n]["theme"]] for n in nodes], edgecolors="black", linewidths=0.5))
    isolates = any(p[1] == ISOLATE_ROW for p in pos.values())
    if isolates:
        out.append(ax.text(-1.18, ISOLATE_ROW + 0.13, "no shared members with the networks shown:", fontsize=6.5,
                           color="0.35", va="bottom"))
    # room for the row of isolates only when there is one (the axes are invisible: no redraw needed)
    ax.set_ylim(ISOLATE_ROW - 0.2 if isolates else -1.15, 1.15)
    ax.apply_aspect()
    out += _label_real_networks(ax, fig, g, pos, scale, labels)
    return out


EDGES_PER_NODE = 4  # links drawn: each network's strongest few (the layout uses them all)


def strongest_edges(g: nx.Graph, per_node: int) -> list[tuple[int, int]]:
    """The edges to draw: the union of each node's `per_node` edges with the most shared members (a
    readable picture of the strongest ties instead of a hairball of every shared member)."""
    keep = set()
    for n in g.nodes:
        nbrs = sorted(g[n].items(), key=lambda kv: (-kv[1]["weight"], kv[0]))[:per_node]
        keep.update((min(n, m), max(n, m)) for m, _ in nbrs)
    return sorted(keep)


def _network_scale(model) -> int:
    """Members that the largest marker stands for: the largest shown network's, rounded up to 1, 2 or 5 x 10^k."""
    act = active_networks(model)
    top = int(model.networks.members[act].max()) if len(act) else 1
    e = 10 ** math.floor(math.log10(max(top, 1)))
    return int(min(m * e for m in (1, 2, 5, 10) if m * e >= top))


def fig_network(model, max_nodes: int = 60, figsize=(6.4, 4.6), dpi: int = 90, labels: int = 12) -> Figure:
    """Network ecosystem: active networks as nodes (colour: theme; marker: rule; size: members, with a
    size legend); edges: shared members (width and darkness grow with their number; each network's
    `EDGES_PER_NODE` strongest links are drawn, the layout uses all of them). Real (catalogue)
    networks are labelled by name, the largest `labels` of them where their labels do not overlap."""
    scale = _network_scale(model)
    fig, ax = _network_frame(model, figsize, dpi, scale)
    _network_artists(model, fig, ax, max_nodes, scale, labels)
    return fig


def _label_real_networks(ax, fig, g, pos, mmax, limit: int):
    """Names of the largest real networks beside their nodes, skipping any label that would overlap
    one already placed (boxes estimated from the font size)."""
    real = sorted((n for n, d in g.nodes(data=True) if d.get("real")), key=lambda n: -g.nodes[n]["members"])
    texts: list = []
    if not real or limit <= 0:
        return texts
    fs = 6.5
    bbox = ax.get_position()
    w_in, h_in = fig.get_size_inches()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    # data units per point, with the equal aspect: the larger of the two scales
    per_pt = max((x1 - x0) / (bbox.width * w_in * 72), (y1 - y0) / (bbox.height * h_in * 72))
    placed: list[tuple[float, float, float, float]] = []
    for n in real[:limit * 2]:
        if len(placed) >= limit:
            break
        text = short_name(g.nodes[n]["name"])
        x, y = pos[n]
        r = math.sqrt(_node_size(g.nodes[n]["members"], mmax)) / 2 * per_pt
        wdt, hgt = len(text) * fs * 0.55 * per_pt, fs * 1.25 * per_pt
        box = (x + r, y - hgt / 2, x + r + wdt, y + hgt / 2)
        if box[2] > x1:
            box = (x - r - wdt, box[1], x - r, box[3])
        if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in placed):
            continue
        placed.append(box)
        texts.append(ax.text(box[0], y, text, fontsize=fs, va="center", ha="left", zorder=3,
                             bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none",
                                   "alpha": 0.7}))
    return texts


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


def city_values(model, colour_by: str = "memberships") -> tuple[np.ndarray, float, str, str]:
    """(value per city, top of the colour scale, colour map, label): memberships (top: the most
    memberships of a city, rounded up to a multiple of 5, so that the scale, and with it the app's
    still part of the map, changes rarely) or mean practice over all issues (top: the highest,
    rounded up to 0.1)."""
    c = model.cities
    if colour_by == "practice":
        val = c.practice.mean(axis=1)
        return val, max(math.ceil(float(val.max()) * 10 - 1e-9) / 10, 0.1), "viridis", "mean practice"
    val = np.bincount(model.memberships.city, minlength=c.n).astype(float)
    return val, max(5.0 * math.ceil(float(val.max()) / 5.0), 5.0), "plasma", "memberships"


def _city_sample(model, max_points: int) -> np.ndarray:
    """The cities drawn, smallest first (large cities on top): all of them, or at world scale the
    largest quarter of `max_points` plus a fixed random sample of the rest."""
    c = model.cities
    idx = np.arange(c.n)
    if c.n > max_points:
        big = np.argsort(-c.population, kind="stable")[: max_points // 4]
        rest = np.setdiff1d(idx, big)
        pick = np.random.default_rng(0).choice(rest, max_points - len(big), replace=False)
        idx = np.sort(np.concatenate([big, pick]))
    return idx[np.argsort(c.population[idx], kind="stable")]


def _city_title(model, real: bool, label: str, shown: int) -> str:
    where = "map" if real else "layout by region"
    sample = f" ({shown} of {model.cities.n} shown)" if shown < model.cities.n else ""
    return f"Cities, {when(model)}: {where}, colour: {label}{sample}\n(dark outline: Global North)"


def country_hulls(model) -> list[np.ndarray]:
    """For real cities: each country's outline drawn as the convex hull of its cities' coordinates (lon,
    lat; countries with at least three cities). No coastline data ships with the installed packages, so
    the land is shown by where the cities are: a hull is not a border."""
    from scipy.spatial import ConvexHull, QhullError  # lazy: scipy for this one figure, not every run's start

    c = model.cities
    xy = np.column_stack([c.lon, c.lat]).astype(float)
    out = []
    for k in np.unique(c.country):
        pts = xy[c.country == k]
        if len(pts) < 3:
            continue
        try:
            hull = ConvexHull(pts)
        except (QhullError, ValueError):
            continue  # all on a line
        out.append(pts[hull.vertices])
    return out


def _population_sizes(model, pop: np.ndarray) -> np.ndarray:
    cfg = model.cfg.cities
    return 2 + 40 * (np.log(pop) - math.log(cfg.pop_min)) / max(math.log(cfg.pop_max / cfg.pop_min), 1e-9)


def _population_legend(model, ii: np.ndarray) -> list:
    """Legend handles for marker sizes: three round populations within those shown."""
    pop = model.cities.population[ii]
    out = []
    for target in (float(np.quantile(pop, 0.5)), float(np.quantile(pop, 0.99)), float(pop.max())):
        e = 10 ** math.floor(math.log10(max(target, 1)))
        v = max(m * e for m in (1, 2, 5) if m * e <= target)
        if v not in [h[0] for h in out]:
            out.append((v, float(_population_sizes(model, np.array([v]))[0])))
    return [Line2D([], [], ls="", marker="o", markersize=math.sqrt(s), markerfacecolor="0.6", markeredgecolor="0.3",
                   markeredgewidth=0.4, label=f"{v / 1e6:g} M" if v >= 1e6 else f"{v / 1e3:g} k") for v, s in out]


def fig_city_map(model, colour_by: str = "memberships", figsize=(6.4, 3.9), dpi: int = 90, max_points: int = 8000,
                 top: float | None = None) -> Figure:
    """World map of cities (real coordinates) or layout by region (synthetic), coloured by the
    number of memberships or by mean practice (`city_values`; `top` fixes the top of the colour
    scale); size grows with population."""
    c = model.cities
    xy, real = city_positions(model)
    fig = Figure(figsize=figsize, dpi=dpi)
    h = figsize[1]
    ax = fig.add_axes([0.01, 0.42 / h, 0.84, 1 - 0.9 / h])  # room for the size legend below, the title above
    cax = fig.add_axes([0.87, 0.5 / h, 0.025, 1 - 1.1 / h])
    val, auto_top, cmap, label = city_values(model, colour_by)
    norm = Normalize(0, auto_top if top is None else top)
    ii = _city_sample(model, max_points)
    size = _population_sizes(model, c.population[ii])
    north = c.north[ii].astype(bool)
    # an outline only for the North (no stroke at all for the others: a third faster to draw)
    ax.scatter(xy[ii, 0], xy[ii, 1], c=val[ii], s=size, cmap=cmap, norm=norm, linewidths=np.where(north, 0.2, 0.0),
               edgecolors=np.where(north[:, None], np.array([[0, 0, 0, 0.55]]), np.array([[1, 1, 1, 0.0]])))
    if real:  # the land, as far as the cities show it: each country's convex hull (not a border), under them

        ax.add_collection(PolyCollection(country_hulls(model), facecolors="0.92", edgecolors="0.7", linewidths=0.4,
                                         zorder=0))
    if real:
        ax.set_xlim(-180, 180)
        ax.set_ylim(-60, 80)
        ax.set_xlabel("longitude", fontsize=7)
    else:
        for r, name in enumerate(model.region_names):
            sel = c.region == r
            if sel.any():
                top_y = xy[sel, 1].max()
                ax.text(xy[sel, 0].mean(), top_y + 3, name, ha="center", va="bottom", fontsize=8, color="0.25")
        ax.set_xlim(xy[:, 0].min() - 12, xy[:, 0].max() + 12)
        ax.set_ylim(xy[:, 1].min() - 6, xy[:, 1].max() + 12)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, label=label)
    handles = _population_legend(model, ii)
    if real:
        handles.append(Polygon([[0, 0]], facecolor="0.92", edgecolor="0.7", label="country: hull of its cities"))
    fig.legend(handles=handles, title="size: population", fontsize=7, title_fontsize=7, loc="lower left",
               bbox_to_anchor=(0.01, 0.02 / h), frameon=False, ncol=len(handles), handletextpad=0.3, columnspacing=0.9,
               borderaxespad=0, alignment="left")
    fig.suptitle(_city_title(model, real, label, len(ii)), fontsize=9, x=0.02, ha="left")
    return fig


# ---------------------------------------------------------------------------------------------
# Time series and shares

SIDE_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
SIDE_STYLES = ["-", "--", "-.", ":"]


def years_run(ts: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of the simulated years: step 0 (the state before the first year, whose flow metrics
    are empty) is left out of time axes, so that a scenario "from 1980" starts at 1980."""
    if ts is None or "step" not in ts or not len(ts):
        return ts
    return ts[ts["step"] >= 1]


def _names(metrics) -> list[str]:
    """Metric names from names or (name, title) pairs."""
    return [m[0] if isinstance(m, tuple) else m for m in metrics]


def _metric_axes(metrics: list[str], ncols: int, figsize, dpi: int, meanings: bool, legend_rows: int, title: str,
                 years: tuple[int, int] | None, font: float = 7.0):
    """The grid of metric panels: title (from the dictionary) above each, its meaning under the title
    (when `meanings`), the unit as y-label; returns (fig, axes). Margins leave room for the
    suptitle above and `legend_rows` legend rows below."""
    nrows = max(1, math.ceil(len(metrics) / ncols))
    wrap = None
    lines = 0
    if figsize is None:
        figsize = (6.4, 3.9 * nrows / 2 + 0.16 * legend_rows)
    if meanings:
        panel_w = figsize[0] / ncols
        wrap = max(20, int(panel_w * 72 * 0.88 / (font * 0.56)))
        lines = max(len(textwrap.wrap(MD.describe(m).meaning, wrap, break_on_hyphens=False)) if MD.get(m) else 0
                    for m in metrics)
    fig = Figure(figsize=figsize, dpi=dpi)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    meaning_h = lines * font * 1.25 / 72
    # titles wrapped to the panel's width (narrow panels: two lines rather than cut at the figure's edge)
    title_chars = max(12, int((figsize[0] / ncols - 0.7 * font / 7) * 72 / ((font + 1) * 0.6)))
    titles = {col: "\n".join(textwrap.wrap(MD.get(col).title if MD.get(col) else col, title_chars)) for col in metrics}
    title_lines = max((t.count("\n") + 1 for t in titles.values()), default=1)
    for ax, col in zip(axes, metrics):
        meta = MD.get(col)
        ax.set_title(titles[col], fontsize=font + 1, linespacing=1.1,
                     pad=5 + (meaning_h * 72 + 2 if meanings else 0))
        if meanings and meta is not None:
            ax.annotate("\n".join(textwrap.wrap(meta.meaning, wrap, break_on_hyphens=False)), xy=(0.5, 1),
                        xycoords="axes fraction",
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=font - 0.5,
                        color="0.3", linespacing=1.1)
        ax.set_ylabel(meta.unit if meta else "", fontsize=font - 0.5, labelpad=2)
        ax.tick_params(labelsize=font - 0.5, pad=1.5)
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(alpha=0.3)
        if years is not None:
            ax.set_xlim(years[0] - 0.5, years[1] + 0.5)
    for ax in axes[len(metrics):]:
        ax.axis("off")
    panel_title_h = (font + 1) * (1.3 + 1.15 * (title_lines - 1)) / 72 + meaning_h + 0.09  # clears a top tick label
    _margins(fig, top_in=0.32 + panel_title_h, bottom_in=0.28 * font / 7 + 0.17 * font / 7 * legend_rows,
             left_in=0.5 * font / 7,
             wspace=0.55 if figsize[0] / ncols < 3 else 0.4, hspace_in=0.3 + panel_title_h, nrows=nrows)
    fig.suptitle(title, fontsize=max(10, font + 2), x=0.01, ha="left", y=1 - 0.06 / figsize[1])
    return fig, axes


def _bottom_legend(fig: Figure, handles: list, ncol: int, font: float = 7.0):
    if handles:
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.01, 0.005), ncol=ncol, fontsize=font - 0.5,
                   frameon=False, handlelength=1.6, columnspacing=1.2, borderaxespad=0.2)


def fig_timeseries(ts: pd.DataFrame, other: pd.DataFrame | None = None, labels=("run", "B"),
                   years: tuple[int, int] | None = None, metrics: list | None = None, ncols: int = 3,
                   figsize=None, dpi: int = 90, title: str = "Key metrics over time", periods: list[Period] = (),
                   meanings: bool = False, font: float = 7.0) -> Figure:
    """Metrics over time (default: the six headline metrics, 2 x 3); with `other`, both runs on the
    same axes. `years` (first, last) fixes the x axis to the whole run, so that the lines grow step by
    step; `periods` (intervention_periods) are shaded and listed in the legend below; `meanings`
    writes each metric's one-line meaning under its title; `font`: the panels' text size (points).
    Step 0 (the state before the first year) is not drawn (`years_run`)."""
    names = _names(HEADLINE if metrics is None else metrics)
    periods = list(periods or [])
    ts, other = years_run(ts), years_run(other)
    last = years[1] if years is not None else (int(ts["year"].iloc[-1]) if ts is not None and len(ts) else None)
    first = years[0] if years is not None else (int(ts["year"].iloc[0]) if ts is not None and len(ts) else None)
    texts = [p.text() for p in periods if last is None or p.start <= last] + (list(labels[:2]) if other is not None else [])
    ncol_leg = _legend_columns(texts, (figsize or (6.4,))[0], font)
    fig, axes = _metric_axes(names, ncols, figsize, dpi, meanings, _legend_rows(len(texts), ncol_leg), title, years,
                             font)
    run_handles = []
    for ax, col in zip(axes, names):
        for j, (df, lab) in enumerate(((ts, labels[0]), (other, labels[1]))):
            if df is None or col not in df or (j and not len(df)):
                continue  # (the first run's lines exist even without data: a live figure moves them)
            line, = ax.plot(df["year"], df[col], color=SIDE_COLOURS[j], ls=SIDE_STYLES[j], lw=1.6, label=lab)
            ax.plot(df["year"].iloc[-1:], df[col].iloc[-1:], "o", color=SIDE_COLOURS[j], ms=3)
            if ax is axes[0] and other is not None:
                run_handles.append(line)
    handles = mark_periods(axes[:len(names)], periods, last, first) if periods else []
    if ts is None or len(ts) < 1:  # nothing yet, or only the starting state (step 0)
        axes[0].text(0.5, 0.5, "press Step or Play", ha="center", va="center", transform=axes[0].transAxes,
                     fontsize=font + 1, gid="hint")
    _bottom_legend(fig, run_handles + handles, ncol_leg, font)
    return fig


def fig_compare(sides: list[tuple[str, list[pd.DataFrame]]], metrics: list | None = None, ncols: int = 3,
                figsize=None, dpi: int = 90, periods: list[Period] = (),
                title: str = "Key metrics over time: mean and range over seeds", font: float = 7.0) -> Figure:
    """Several runs per side (one per seed): each side's mean over its runs as a line and the range
    of its runs (lowest to highest value each year) as a band, so that a difference between sides
    can be judged against the noise between seeds."""
    names = _names(HEADLINE if metrics is None else metrics)
    periods = list(periods or [])
    sides = [(label, [years_run(r) for r in runs]) for label, runs in sides]
    frames = [f for _, runs in sides for f in runs if len(f)]
    years = (int(min(f["year"].iloc[0] for f in frames)), int(max(f["year"].iloc[-1] for f in frames))) if frames else None
    texts = [f"{label}: mean (range of {len(runs)} seeds)" for label, runs in sides] + [
        p.text() for p in periods if years is None or p.start <= years[1]]
    ncol_leg = _legend_columns(texts, (figsize or (6.4,))[0], font)
    fig, axes = _metric_axes(names, ncols, figsize, dpi, False, _legend_rows(len(texts), ncol_leg), title, years, font)
    handles = []
    for j, (label, runs) in enumerate(sides):
        runs = [r for r in runs if len(r)]
        if not runs:
            continue
        colour, ls = SIDE_COLOURS[j % len(SIDE_COLOURS)], SIDE_STYLES[j % len(SIDE_STYLES)]
        yr = runs[0]["year"].to_numpy()
        n = min(len(r) for r in runs)
        for ax, col in zip(axes, names):
            X = np.vstack([r[col].to_numpy()[:n] for r in runs])
            ax.fill_between(yr[:n], X.min(axis=0), X.max(axis=0), color=colour, alpha=0.2, lw=0)
            ax.plot(yr[:n], X.mean(axis=0), color=colour, ls=ls, lw=1.5)
        band = f"range of {len(runs)} seeds" if len(runs) > 1 else "1 seed: no band"
        handles.append(Line2D([], [], color=colour, ls=ls, lw=1.5, label=f"{label}: mean ({band})"))
    handles += mark_periods(axes[:len(names)], periods, years[1] if years else None) if periods else []
    _bottom_legend(fig, handles, ncol_leg, font)
    return fig



def fig_theme_shares(shares: dict[str, float], year=None, other: dict[str, float] | None = None, labels=("model", "B"),
                     figsize=(6.4, 3.6), dpi: int = 90, shares_range: dict | None = None,
                     other_range: dict | None = None, range_label: str = "", title: str | None = None) -> Figure:
    """Theme shares of active networks as grouped bars, one group per issue: the model (coloured by
    theme), optionally a second run B (hatched), and the shares Acuto and Rayner (2016) report for
    170 networks (hollow); themes they do not report get no reference bar and a note below.
    `shares_range`, `other_range`: {issue: (low, high)} drawn as error bars (e.g. across seeds)."""
    issues = list(shares)
    colours = issue_colours(issues)
    fig = Figure(figsize=figsize, dpi=dpi)
    w, h = figsize
    missing = [i for i in issues if i not in ACUTO_RAYNER]
    note_h = 0.22 if missing else 0.0
    ax = fig.add_axes([0.55 / w, (0.62 + note_h) / h, 1 - 0.7 / w, 1 - (0.62 + note_h + 0.78) / h])
    x = np.arange(len(issues))
    series = [(shares, shares_range, labels[0] + (f" {year}" if year is not None else ""), {})]
    if other is not None:
        series.append((other, other_range, labels[1], {"alpha": 0.55, "hatch": "//", "edgecolor": "white"}))
    k = len(series) + 1
    width = 0.8 / k
    for j, (vals, rng, lab, style) in enumerate(series):
        heights = [vals.get(i, 0.0) for i in issues]
        yerr = None
        if rng is not None:
            yerr = np.array([[max(0.0, vals[i] - rng[i][0]) for i in issues], [max(0.0, rng[i][1] - vals[i]) for i in issues]])
        ax.bar(x - 0.4 + width * (j + 0.5), heights, width, color=[colours[i] for i in issues], label=lab,
               yerr=yerr, error_kw={"lw": 0.8, "capsize": 2, "ecolor": "0.2"}, **style)
    ref_x = [x[j] - 0.4 + width * (k - 0.5) for j, i in enumerate(issues) if i in ACUTO_RAYNER]
    ax.bar(ref_x, [ACUTO_RAYNER[i] for i in issues if i in ACUTO_RAYNER], width, facecolor="none", edgecolor="black",
           linewidth=1.0, label=ACUTO_RAYNER_LABEL)
    ax.set_xticks(x, issues, rotation=30, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    tops = list(shares.values()) + list(ACUTO_RAYNER.values()) + list((other or {}).values()) + [0.1]
    for rng in (shares_range, other_range):
        tops += [hi for _, hi in (rng or {}).values()]
    ax.set_ylim(0, max(tops) * 1.1)
    ax.set_ylabel(MD.describe(f"theme_share_{issues[0]}").unit if issues else "share", fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=k, frameon=False, borderaxespad=0,
              title=range_label or None, title_fontsize=6.5)
    if missing:
        fig.text(0.55 / w, 0.06 / h, f"{ACUTO_RAYNER_LABEL} report no share for: {', '.join(missing)}.",
                 fontsize=6.5, color="0.3", ha="left", va="bottom")
    fig.suptitle(title or "Theme shares of operating networks vs Acuto & Rayner", fontsize=10, x=0.01, ha="left",
                 y=1 - 0.06 / h)
    return fig


def fig_shares_over_time(ts: pd.DataFrame, prefix: str, issues: list[str], title: str, ylabel: str | None = None,
                         figsize=(9, 4.8), dpi: int = 110, periods: list[Period] = ()) -> Figure:
    """Stacked shares by issue over time (`prefix`: theme_share_ or funding_share_), with the run's
    interventions shaded (legend below)."""
    colours = issue_colours(issues)
    fig = Figure(figsize=figsize, dpi=dpi)
    w, h = figsize
    ts = years_run(ts)
    last = int(ts["year"].iloc[-1]) if len(ts) else None
    shown = [p for p in periods if last is None or p.start <= last]
    rows = _legend_rows(len(shown), 2)
    legend_h = 0.2 * rows + (0.12 if rows else 0.0)  # the periods' legend sits under the x label
    ax = fig.add_axes([0.7 / w, (0.5 + legend_h) / h, 1 - 2.1 / w, 1 - (0.5 + legend_h + 0.45) / h])
    ys = [ts[f"{prefix}{i}"].to_numpy() for i in issues]
    ax.stackplot(ts["year"], ys, labels=issues, colors=[colours[i] for i in issues], alpha=0.85)
    ax.set_ylim(0, 1.0)
    if len(ts):
        ax.set_xlim(ts["year"].iloc[0], ts["year"].iloc[-1])
    ax.set_xlabel("year", fontsize=8)
    ax.set_ylabel(ylabel or (MD.describe(f"{prefix}{issues[0]}").unit if issues else "share"), fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    if shown:  # hatched outlines over the stack, so the shares stay readable
        handles = []
        for p, colour in zip(periods, _period_colours(periods)):
            if p not in shown:
                continue
            end = min(p.end if p.end is not None else last, last)
            ax.axvspan(p.start - 0.5, end + 0.5, facecolor="none", edgecolor=colour, hatch="///", lw=1.2, zorder=3)
            handles.append(Patch(facecolor="none", edgecolor=colour, hatch="///", label=p.text()))
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.6 / w, 0.03 / h), ncol=2, fontsize=7,
                   frameon=False, borderaxespad=0.1)
    return fig


# ---------------------------------------------------------------------------------------------
# The figures of one run


def run_figures(res) -> list[tuple[str, object]]:
    """(file name, builder) of each figure of `python run.py run` (`res`: model.api.RunOutputs; the
    network graph and the world map need its model)."""
    model, ts, cfg = res.model, res.timeseries, res.scenario
    issues = list(cfg.issue_names)
    run = years_run(ts)
    years = (int(run["year"].iloc[0]), int(run["year"].iloc[-1])) if len(run) else None
    periods = intervention_periods(cfg.interventions)
    final = {i: float(ts[f"theme_share_{i}"].iloc[-1]) if len(ts) else 0.0 for i in issues}
    out = [
        ("metrics.png", lambda: fig_timeseries(ts, years=years, metrics=KEY_METRICS, ncols=4, figsize=(16, 10.5),
                                               dpi=100, periods=periods, meanings=True,
                                               title=f"{cfg.name}: key metrics over time")),
        ("theme_shares.png", lambda: fig_theme_shares(final, year=years[1] if years else None, figsize=(9, 4.8),
                                                      dpi=110)),
        ("funding_by_issue.png", lambda: fig_shares_over_time(ts, "funding_share_", issues, "Funding by issue "
                                                              "(grants weighted by network agendas)", periods=periods)),
    ]
    if model is not None:
        out.append(("network_graph.png", lambda: fig_network(model, max_nodes=80, figsize=(10, 7.5), dpi=110,
                                                             labels=20)))
        if getattr(model.cities, "lat", None) is not None:
            out.append(("world_map.png", lambda: fig_city_map(model, figsize=(12, 6.4), dpi=110, max_points=40_000)))
    return out
