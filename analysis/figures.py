"""Figures of one run: key metrics over time, theme shares, funding by issue, the network graph,
and a world map of cities when they have coordinates (real cities)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

# Acuto and Rayner (2016), as cited in CLAIMS.md C7: shares of 170 networks by main theme.
ACUTO_RAYNER = {"climate": 0.29, "poverty": 0.16, "culture": 0.11, "peace": 0.11, "gender": 0.08}

KEY_METRICS = [
    ("n_networks", "active networks"), ("mean_memberships", "memberships per city"),
    ("share_unaffiliated", "share of cities in no network"), ("fragmentation_index", "fragmentation index"),
    ("duplication_ratio", "duplication ratio"), ("standards_per_issue", "standards per issue"),
    ("north_south_gap", "capability gap North - South"), ("size_gap", "capability gap large - small"),
    ("nonmember_access", "non-member access (1 = no gap)"), ("high_politics_index", "national stance, high politics"),
    ("funding_gini", "funding Gini across networks"), ("agenda_misalignment", "agenda misalignment"),
]

RULE_MARKERS = {"open": "o", "threshold": "s", "invitation": "^", "competitive": "D"}


def issue_colours(issues: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {nm: cmap(j % 10) for j, nm in enumerate(issues)}


def plot_metrics(ts: pd.DataFrame, path: Path):
    cols = [(c, t) for c, t in KEY_METRICS if c in ts]
    n = len(cols)
    ncol = 4
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.6 * nrow), sharex=True)
    for ax, (c, title) in zip(axes.flat, cols):
        ax.plot(ts["year"], ts[c], color="tab:blue", lw=1.8)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Key metrics over time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _stacked(ts: pd.DataFrame, prefix: str, issues: list[str], title: str, path: Path, reference: dict | None = None):
    colours = issue_colours(issues)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    ys = [ts[f"{prefix}{i}"].to_numpy() for i in issues]
    ax.stackplot(ts["year"], ys, labels=issues, colors=[colours[i] for i in issues], alpha=0.85)
    if reference:
        x = ts["year"].iloc[-1] + 1.5
        cum = 0.0
        for i in issues:
            if i in reference:
                ax.plot([x - 0.6, x + 0.6], [cum + reference[i]] * 2, color=colours[i], lw=3)
            cum += reference.get(i, 0.0) if i in reference else 0.0
        ax.text(x, 1.01, "Acuto &\nRayner", ha="center", va="bottom", fontsize=8)
        ax.set_xlim(ts["year"].iloc[0], x + 1)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_network_graph(networks: pd.DataFrame, shared: np.ndarray | None, issues: list[str], path: Path, top: int = 80):
    """Active networks as nodes (colour: theme; marker: rule; size: members), edges: shared members."""
    act = networks[networks["dissolved"].isna()].sort_values("members", ascending=False).head(top)
    g = nx.Graph()
    ids = act["network_id"].to_numpy()
    for _, r in act.iterrows():
        g.add_node(int(r.network_id), theme=r.theme, rule=r.rule, members=int(r.members))
    if shared is not None and len(ids) > 1:
        sub = shared[np.ix_(ids, ids)]
        thr = max(1.0, np.quantile(sub[sub > 0], 0.5)) if (sub > 0).any() else 1.0
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                if sub[a, b] >= thr:
                    g.add_edge(int(ids[a]), int(ids[b]), weight=float(sub[a, b]))
    fig, ax = plt.subplots(figsize=(9, 7))
    if g.number_of_nodes():
        pos = nx.spring_layout(g, seed=1, k=1.2 / np.sqrt(max(g.number_of_nodes(), 1)))
        nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.15, width=0.6)
        colours = issue_colours(issues)
        for rule, marker in RULE_MARKERS.items():
            nodes = [n for n, d in g.nodes(data=True) if d["rule"] == rule]
            if not nodes:
                continue
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_shape=marker, ax=ax,
                                   node_color=[colours[g.nodes[n]["theme"]] for n in nodes],
                                   node_size=[20 + 400 * np.sqrt(g.nodes[n]["members"] / max(act["members"].max(), 1)) for n in nodes],
                                   edgecolors="black", linewidths=0.4)
        handles = [plt.Line2D([], [], marker="o", ls="", color=colours[i], label=i) for i in issues]
        handles += [plt.Line2D([], [], marker=m, ls="", color="grey", label=r) for r, m in RULE_MARKERS.items()]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.set_title(f"Network ecosystem at the end (top {min(top, len(act))} active networks by members; edges: shared members)")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_world_map(cities: pd.DataFrame, path: Path):
    """Cities at their coordinates (equirectangular; no tiles, no network access): size by
    population, colour by number of memberships."""
    fig, ax = plt.subplots(figsize=(12, 6.2))
    order = cities.sort_values("memberships")
    size = 1.5 + 60 * np.sqrt(order["population"] / order["population"].max())
    sc = ax.scatter(order["lon"], order["lat"], s=size, c=order["memberships"], cmap="viridis",
                    vmin=0, vmax=max(1, int(order["memberships"].quantile(0.99))), alpha=0.75, linewidths=0)
    fig.colorbar(sc, ax=ax, shrink=0.8, label="memberships")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 80)
    ax.set_aspect("equal")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.grid(alpha=0.2)
    n0 = int((cities["memberships"] == 0).sum())
    ax.set_title(f"{len(cities):,} cities by population and memberships ({n0:,} in no network)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_run_figures(model, outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    ts = model.timeseries()
    issues = model.issue_names
    files = [outdir / "metrics.png", outdir / "theme_shares.png", outdir / "funding_by_issue.png", outdir / "network_graph.png"]
    plot_metrics(ts, files[0])
    _stacked(ts, "theme_share_", issues, "Theme shares of active networks (bar: Acuto and Rayner 2016)", files[1], ACUTO_RAYNER)
    _stacked(ts, "funding_share_", issues, "Funding by issue (grants weighted by network agendas)", files[2])
    S = model.membership_matrix()
    shared = (S.T @ S).toarray() if model.networks.n else None
    plot_network_graph(model.networks_table(), shared, issues, files[3])
    cities = model.cities_table()
    if "lat" in cities:
        files.append(outdir / "world_map.png")
        plot_world_map(cities, files[-1])
    return files
