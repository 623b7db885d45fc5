"""The one figure layer: every figure of a run, the browser app, calibration, sweeps and the claims reports.

Each `fig_*` function returns a `matplotlib.figure.Figure` built without pyplot (thread-safe in a
server, usable in a notebook); `figure_png` renders one to PNG bytes and `save` writes one to a file.
`run_figures` lists the figures of `python run.py run` (analysis/outputs.py writes them).

Conventions: every metric panel takes its title, y-label (the unit) and one-line meaning from the
metric dictionary (model/metric_dictionary.py); interventions and shocks are shaded periods on
time axes, labelled in a legend (`intervention_periods`); legends sit outside the data.
"""

from __future__ import annotations

import math
import textwrap
import threading
import weakref
from dataclasses import dataclass
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

from model import metric_dictionary as MD

# Acuto and Rayner (2016): shares of 170 networks by main theme. They report no share for the other themes.
ACUTO_RAYNER = {"climate": 0.29, "poverty": 0.16, "culture": 0.11, "peace": 0.11, "gender": 0.08}
ACUTO_RAYNER_LABEL = "Acuto & Rayner (2016)"

# Key metrics of a run's figure; the first six (HEADLINE) are the headline metrics of the app's panel.
KEY_METRICS = ["fragmentation_index", "duplication_ratio", "north_south_gap", "nonmember_access",
               "high_politics_index", "funding_gini", "n_networks", "mean_memberships", "share_unaffiliated",
               "standards_per_issue", "size_gap", "agenda_misalignment"]
HEADLINE = KEY_METRICS[:6]

RULE_MARKERS = {"open": "o", "threshold": "s", "invitation": "^", "competitive": "D"}

# Issue colours: tab10 without its grey (grey is kept for markers, edges and references), then tab20's
# lighter tones without theirs.
_TAB10 = [0, 1, 2, 3, 4, 5, 6, 8, 9]
_TAB20_LIGHT = [1, 3, 5, 7, 9, 11, 13, 17, 19]


def issue_colours(issues: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    palette = [colormaps["tab10"](j) for j in _TAB10] + [colormaps["tab20"](j) for j in _TAB20_LIGHT]
    return {nm: palette[j % len(palette)] for j, nm in enumerate(issues)}


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes (what the browser receives)."""
    import io

    buf = io.BytesIO()
    # light compression: zlib's default level costs more time than sending a larger image locally
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def save(fig: Figure, path: Path, dpi: int | None = None) -> Path:
    """Write a figure as PNG (at the figure's own dpi unless `dpi` is given; light compression: about
    half the encoding time of zlib's default for files some 10% larger)."""
    fig.savefig(path, dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return Path(path)


def metric_title(name: str) -> str:
    return MD.title(name)


def metric_unit(name: str) -> str:
    m = MD.get(name)
    return m.unit if m is not None else ""


# ---------------------------------------------------------------------------------------------
# Interventions and shocks as shaded periods on time axes


@dataclass(frozen=True)
class Period:
    """Years in which one or more interventions act (`end` None: to the end of the run)."""

    start: int
    end: int | None
    label: str
    remedy: bool

    def text(self) -> str:
        years = f"{self.start}-{self.end}" if self.end is not None and self.end != self.start else (
            f"{self.start}" if self.end is not None else f"from {self.start}")
        return f"{years}: {self.label}"


_REMEDY_COLOURS = ["#2ca25f", "#3182bd", "#66c2a4", "#6baed6", "#238b45", "#9ecae1"]
_SHOCK_COLOURS = ["#de2d26", "#fd8d3c", "#c51b8a", "#fc9272", "#e6550d", "#fa9fb5"]


def _iv_label(kind: str, params: dict) -> str:
    from model.interventions import REGISTRY

    cls = REGISTRY.get(kind)
    label = cls.label if cls is not None and cls.label else kind
    detail = [str(params[k]) for k in ("country", "issue", "network") if params.get(k) not in (None, "")]
    return f"{label} ({', '.join(detail)})" if detail else label


def intervention_periods(interventions) -> list[Period]:
    """The shaded periods of a run: its interventions (InterventionConfig, plug-in instances with a
    `cfg`, or mappings with kind/start/end/params), those with the same years merged into one
    labelled period (a shock's colour if any of them is a shock, else a remedy's)."""
    from model.interventions import REGISTRY

    groups: dict[tuple, list[str]] = {}
    remedy: dict[tuple, bool] = {}
    for iv in interventions or []:
        cfg = getattr(iv, "cfg", iv)
        get = cfg.get if isinstance(cfg, dict) else lambda k, d=None, c=cfg: getattr(c, k, d)
        kind, start, end, params = get("kind"), get("start"), get("end"), get("params") or {}
        cls = REGISTRY.get(kind)
        label = _iv_label(kind, params)
        key = (int(start), None if end is None else int(end))
        remedy[key] = remedy.get(key, True) and bool(cls is not None and cls.remedy)
        if label not in groups.setdefault(key, []):
            groups[key].append(label)
    keys = sorted(groups, key=lambda k: (k[0], k[1] if k[1] is not None else 10**9))
    return [Period(s, e, " + ".join(groups[(s, e)]), remedy[(s, e)]) for s, e in keys]


def _period_colours(periods: list[Period]) -> list[str]:
    out, nr, ns = [], 0, 0
    for p in periods:
        if p.remedy:
            out.append(_REMEDY_COLOURS[nr % len(_REMEDY_COLOURS)])
            nr += 1
        else:
            out.append(_SHOCK_COLOURS[ns % len(_SHOCK_COLOURS)])
            ns += 1
    return out


def mark_periods(axes, periods: list[Period], last_year: int | None, first_year: int | None = None) -> list[Patch]:
    """Shade each period on every axes in `axes` (years [start - 0.5, end + 0.5]); returns one legend
    handle per period that falls within the years shown."""
    handles = []
    for p, colour in zip(periods, _period_colours(periods)):
        if last_year is not None and p.start > last_year:
            continue  # starts after the run's last year: it never acts
        end = p.end if p.end is not None else last_year if last_year is not None else p.start
        if last_year is not None:
            end = min(end, last_year)
        lo = p.start if first_year is None else max(p.start, first_year)
        for ax in axes:
            ax.axvspan(lo - 0.5, end + 0.5, color=colour, alpha=0.13, lw=0, zorder=0)
        handles.append(Patch(facecolor=colour, alpha=0.35, edgecolor="none", label=p.text()))
    return handles


# ---------------------------------------------------------------------------------------------
# Layout helpers


def _margins(fig: Figure, top_in: float, bottom_in: float, left_in: float = 0.55, right_in: float = 0.15,
             wspace: float = 0.45, hspace_in: float | None = None, nrows: int = 1):
    """subplots_adjust with margins in inches (figure sizes vary; text sizes do not)."""
    w, h = fig.get_size_inches()
    kw = {"left": left_in / w, "right": 1 - right_in / w, "top": 1 - top_in / h, "bottom": bottom_in / h,
          "wspace": wspace}
    if hspace_in is not None and nrows > 1:
        cell = (h - top_in - bottom_in - hspace_in * (nrows - 1)) / nrows
        kw["hspace"] = hspace_in / max(cell, 0.1)
    fig.subplots_adjust(**kw)


def _legend_columns(texts: list[str], width_in: float, font: float = 6.5, most: int = 3) -> int:
    """How many legend columns fit the figure's width (labels' widths estimated from the font size)."""
    longest = max((len(t) for t in texts), default=0) * font * 0.56 / 72 + 0.45 * font / 6.5
    return max(1, min(most, int((width_in - 0.1) // max(longest, 0.1))))


def _legend_rows(n: int, ncol: int) -> int:
    return max(1, math.ceil(n / max(ncol, 1))) if n else 0


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
    from model.state import RULES

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
    import re

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
    from scipy.spatial import ConvexHull, QhullError

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
        from matplotlib.collections import PolyCollection

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
        from matplotlib.patches import Polygon

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


# ---------------------------------------------------------------------------------------------
# Live figures of the browser app: each is drawn in full once, then after each step only the
# artists that move are drawn again over the saved background ("blitting"), a few times faster.


class Blitter:
    """A figure whose still part is drawn once (the background) and whose `dynamic` artists are drawn
    over it for each PNG. `invalidate()` when the still part changed; `invalidate(ax)` when only one
    axes changed (e.g. its y limits): then only that axes is drawn again, within its own box."""

    def __init__(self, fig: Figure, dynamic: list | None = None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig, self.dynamic = fig, list(dynamic or [])
        self.canvas = FigureCanvasAgg(fig)
        self.background = self.blank = None
        self.stale: set = set()
        self.boxes: dict = {}  # axes -> its box (display coordinates) when last drawn

    def invalidate(self, ax=None):
        if ax is None:
            self.background = None
        else:
            self.stale.add(ax)

    def _blank(self):
        """The empty figure (its face only), to wipe one axes' box before drawing it again."""
        kids = [a for a in self.fig.get_children() if a is not self.fig.patch and a.get_visible()]
        for a in kids:
            a.set_visible(False)
        self.canvas.draw()
        blank = self.canvas.copy_from_bbox(self.fig.bbox)
        for a in kids:
            a.set_visible(True)
        return blank

    def _box(self, ax, renderer):
        return ax.get_tightbbox(renderer)

    def _draw_still(self):
        for a in self.dynamic:
            a.set_visible(False)
        self.canvas.draw()
        renderer = self.canvas.get_renderer()
        self.boxes = {ax: self._box(ax, renderer) for ax in self.fig.axes}
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.stale.clear()
        for a in self.dynamic:
            a.set_visible(True)

    def _redraw_axes(self):
        from matplotlib.transforms import Bbox

        if self.blank is None:
            self.blank = self._blank()
        renderer = self.canvas.get_renderer()
        self.canvas.restore_region(self.background)
        w, h = self.canvas.get_width_height(physical=True)
        hidden = [a for a in self.dynamic if getattr(a, "axes", None) in self.stale]
        for a in hidden:
            a.set_visible(False)
        for ax in self.stale:
            new = self._box(ax, renderer)
            box = Bbox.union([b for b in (self.boxes.get(ax), new) if b is not None])
            x0, y0 = max(0, math.floor(box.x0) - 2), max(0, math.floor(box.y0) - 2)
            x1, y1 = min(w, math.ceil(box.x1) + 2), min(h, math.ceil(box.y1) + 2)
            self.canvas.restore_region(self.blank, bbox=(x0, h - y1, x1, h - y0), xy=(0, 0))
            ax.draw(renderer)
            self.boxes[ax] = new
        for a in hidden:
            a.set_visible(True)
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.stale.clear()

    def png(self) -> bytes:
        import io

        from PIL import Image

        if self.background is None:
            self._draw_still()
        elif self.stale:
            self._redraw_axes()
        else:
            self.canvas.restore_region(self.background)
        renderer = self.canvas.get_renderer()
        for a in self.dynamic:
            a.draw(renderer)
        w, h = self.canvas.get_width_height(physical=True)
        buf = io.BytesIO()
        Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
            buf, format="png", compress_level=1)
        return buf.getvalue()


_LIVE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {figure name: state}
_LIVE_LOCK = threading.RLock()


# PNGs of step 0 (the starting state, the same for every session of a scenario): a new browser session
# gets them at once, and its live figures are built at its first Step (which draws them in full anyway).
_STEP0: dict = {}


def _step0_png(model, name: str, make, *key) -> bytes | None:
    """The cached PNG of a model at step 0 without live state yet (None otherwise); `make()` draws it."""
    if model.steps or name in _LIVE.get(model, {}):
        return None
    k = (name, model.cfg.model_dump_json(), repr(intervention_periods(model.interventions)), repr(key))
    if k not in _STEP0:
        if len(_STEP0) > 64:
            _STEP0.clear()
        _STEP0[k] = make()
    return _STEP0[k]


def _fit_ylim(ax, y: np.ndarray, tight: bool = False, bounds=None) -> bool:
    """Widen the y limits when the data leave them, with room to spare (half the data's span, or a
    fifth of their size) but not far past the metric's possible range (`bounds`: a dictionary entry);
    or (`tight`) set them around the data. True when they changed."""
    y = y[np.isfinite(y)]
    if not len(y):
        return False
    lo, hi = ax.get_ylim()
    ymin, ymax = float(y.min()), float(y.max())
    span = max(ymax - ymin, abs(ymax) * 0.05, 1e-6)
    if tight:
        new_lo, new_hi = ymin - 0.25 * span, ymax + 0.25 * span
    else:
        edge = 0.02 * (hi - lo)
        near_lo, near_hi = ymin < lo + edge, ymax > hi - edge
        if not (near_lo or near_hi):
            return False  # inside, clear of the edges
        pad = max(0.5 * span, 0.2 * max(abs(ymin), abs(ymax)))
        new_lo, new_hi = (ymin - pad if near_lo else lo), (ymax + pad if near_hi else hi)
    margin = 0.03 * (new_hi - new_lo)
    if bounds is not None and bounds.low is not None:
        new_lo = max(new_lo, bounds.low - margin)
    if bounds is not None and bounds.high is not None:
        new_hi = min(new_hi, bounds.high + margin)
    ax.set_ylim(new_lo, new_hi)
    return True


def _timeseries_state(model, **kw) -> dict:
    ts = years_run(model.timeseries())
    years = (model.cfg.start_year, model.cfg.end_year)
    periods = intervention_periods(model.interventions)
    live = _LIVE.setdefault(model, {})
    st = live.get("timeseries")
    if st is None or st["periods"] != periods or st.get("kw") != kw:
        fig = fig_timeseries(ts, years=years, periods=periods, **kw)
        lines = [(ax, col, ax.lines[0], ax.lines[1]) for ax, col in zip(fig.axes, HEADLINE)]
        st = live["timeseries"] = {"fig": fig, "periods": periods, "kw": kw, "lines": lines, "fitted": len(ts) >= 1,
                                   "blit": Blitter(fig, [a for _, _, ln, dot in lines for a in (ln, dot)])}
        for ax, col, _, _ in lines:
            if len(ts):  # built after the first step (the step-0 image is shared): limits around the data
                _fit_ylim(ax, ts[col].to_numpy(dtype=float), tight=True, bounds=MD.describe(col))
            ax.set_autoscaley_on(False)
        return st
    x = ts["year"].to_numpy()
    changed = False
    if len(ts) >= 1 and not st["fitted"]:  # the first step: drop the hint, fit every axis to the data
        for t in [t for ax in st["fig"].axes for t in ax.texts if t.get_gid() == "hint"]:
            t.remove()
        st["fitted"] = changed = first = True
    else:
        first = False
    for ax, col, line, dot in st["lines"]:
        y = ts[col].to_numpy(dtype=float)
        line.set_data(x, y)
        dot.set_data(x[-1:], y[-1:])
        if _fit_ylim(ax, y, tight=first, bounds=MD.describe(col)):
            st["blit"].invalidate(ax)
    if changed:
        st["blit"].invalidate()
    return st


def fig_timeseries_live(model, **kw) -> Figure:
    """`fig_timeseries` of a running model over its whole span of years, with its interventions
    shaded, kept from step to step: later calls only move the lines (and widen the y limits when
    the data leave them); a new intervention draws the figure again."""
    with _LIVE_LOCK:
        return _timeseries_state(model, **kw)["fig"]


def timeseries_png_live(model, **kw) -> bytes:
    """PNG of `fig_timeseries_live` (`kw`: fig_timeseries' layout: ncols, figsize, font), blitted: only the
    lines are drawn again after a step."""
    with _LIVE_LOCK:
        first = _step0_png(model, "timeseries", lambda: figure_png(fig_timeseries(
            years_run(model.timeseries()), years=(model.cfg.start_year, model.cfg.end_year),
            periods=intervention_periods(model.interventions), **kw)), kw)
        return first if first is not None else _timeseries_state(model, **kw)["blit"].png()


def network_png_live(model, max_nodes: int = 60, figsize=(6.4, 4.6), dpi: int = 90, labels: int = 12) -> bytes:
    """PNG of `fig_network` for a running model: legends and frame drawn once (again when the size
    scale changes), the graph of this step drawn over them."""
    with _LIVE_LOCK:
        live = _LIVE.setdefault(model, {})
        scale = _network_scale(model)
        st = live.get("network")
        if st is None or st["scale"] != scale or st["size"] != (figsize, dpi):
            fig, ax = _network_frame(model, figsize, dpi, scale)
            st = live["network"] = {"fig": fig, "ax": ax, "scale": scale, "size": (figsize, dpi),
                                    "blit": Blitter(fig)}
        for a in st["blit"].dynamic:
            a.remove()
        st["blit"].dynamic = _network_artists(model, st["fig"], st["ax"], max_nodes, scale, labels)
        return st["blit"].png()


def city_png_live(model, colour_by: str = "memberships", **kw) -> bytes:
    """PNG of `fig_city_map` for a running model: map, labels and colour bar drawn once (again when
    the top of the colour scale changes), the cities' colours and the title drawn over them."""
    with _LIVE_LOCK:
        live = _LIVE.setdefault(model, {})
        val, top, _, label = city_values(model, colour_by)
        key = f"cities-{colour_by}"
        first = _step0_png(model, key, lambda: figure_png(fig_city_map(model, colour_by, top=top, **kw)), kw)
        if first is not None:
            return first
        st = live.get(key)
        if st is None or st["top"] != top:
            fig = fig_city_map(model, colour_by, top=top, **kw)
            sc, title = fig.axes[0].collections[0], fig._suptitle
            st = live[key] = {"fig": fig, "top": top, "scatter": sc, "title": title,
                              "order": _city_sample(model, kw.get("max_points", 8000)), "blit": Blitter(fig, [sc, title])}
        else:
            st["scatter"].set_array(val[st["order"]])
            st["title"].set_text(_city_title(model, city_positions(model)[1], label, len(st["order"])))
        return st["blit"].png()


def theme_png_live(model, shares: dict[str, float], figsize=(6.4, 3.6)) -> bytes:
    """PNG of `fig_theme_shares` for a running model: axes, reference bars and legend drawn once (again
    when a share passes the top of the axis), the model's bars and the title drawn over them."""
    with _LIVE_LOCK:
        live = _LIVE.setdefault(model, {})
        first = _step0_png(model, "themes", lambda: figure_png(fig_theme_shares(
            shares, None, labels=("model",), title=f"Theme shares, {when(model)}, vs Acuto & Rayner", figsize=figsize)),
            figsize, tuple(shares.values()))
        if first is not None:
            return first
        st = live.get("themes")
        title = f"Theme shares, {when(model)}, vs Acuto & Rayner"
        if st is None or max(shares.values(), default=0.0) > st["top"] or st["size"] != figsize:
            fig = fig_theme_shares(shares, None, labels=("model",), title=title, figsize=figsize)
            ax = fig.axes[0]
            bars = next(c for c in ax.containers if c.get_label() == "model")
            st = live["themes"] = {"fig": fig, "bars": bars, "top": ax.get_ylim()[1], "size": figsize,
                                   "blit": Blitter(fig, list(bars.patches) + [fig._suptitle])}
        else:
            for b, i in zip(st["bars"].patches, shares):
                b.set_height(shares[i])
            st["fig"]._suptitle.set_text(title)
        return st["blit"].png()


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


# ---------------------------------------------------------------------------------------------
# Claims
#
# The figures of the claims lab (analysis/claims/report.py). Each takes plain numbers (means, bands,
# effects and intervals), so that the report, the app's Claims page and a notebook draw the same.

VERDICT_COLOURS = {"supported": "#1a9850", "contradicted": "#d73027", "negligible": "#4575b4",
                   "undetermined": "#666666"}


def metric_axis_label(name: str) -> str:
    """A metric's title and unit from the metric dictionary ('Size gap [capability difference (-1 to 1)]');
    a name the dictionary does not know stays as it is."""
    meta = MD.get(name)
    return f"{meta.title} [{meta.unit}]" if meta is not None else name


def metric_label(name: str) -> str:
    """`name` with each word that is a metric's name replaced by its title from the metric dictionary
    ('C3 size_gap (mechanism off)' -> 'C3 Capability gap large - small (mechanism off)')."""
    def one(word: str) -> str:
        core = word.rstrip(":,;.")
        return MD.get(core).title + word[len(core):] if core and MD.get(core) is not None else word

    return " ".join(one(w) for w in name.split(" "))


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
    """Effects with their 95% intervals in threshold units, one row each (`rows`: label, effect, low, high,
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


def fig_claim_uncertainty(samples: pd.DataFrame, effect_units: np.ndarray, verdicts: list[str], box: dict | None,
                          metric: str, figsize=None, dpi: int = 100) -> Figure:
    """The uncertainty space: for each sampled parameter, the effect of every sample (in threshold units,
    predicted direction > 0) against the parameter's value, coloured by verdict; PRIM's box limits
    where the claim holds are shaded."""
    cols = list(samples.columns)
    k = max(1, len(cols))
    ncols = min(k, 4)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=figsize or (max(2.9 * ncols + 0.5, 5.5), 2.7 * nrows + 0.6), dpi=dpi)
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
    lines = _panel_title(fig, f"Uncertainty space: {metric} effect at each sample (shaded: PRIM's box where it holds)")
    height = fig.get_figheight()
    below = 1 - (0.1 + 0.16 * lines) / height  # the legend on its own line under the title
    handles = [Line2D([], [], color=col, marker="o", lw=0, label=v) for v, col in VERDICT_COLOURS.items()]
    handles += [Patch(color=VERDICT_COLOURS["supported"], alpha=0.12, label="PRIM's box"),
                Line2D([], [], color="black", ls="--", lw=0.8, label="±1: the smallest effect that matters")]
    fig.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.01, below),
               ncol=5 if fig.get_figwidth() >= 8 else 3)
    fig.subplots_adjust(left=max(0.08, 0.6 / fig.get_figwidth()), right=0.98, top=below - 0.45 / height,
                        bottom=0.16 / nrows + 0.05, wspace=0.3, hspace=0.45)
    return fig
