"""The figure layer (analysis/figures.py) by its artists, not its pixels: y-labels with units and
meanings from the metric dictionary, interventions as labelled shaded periods, grouped theme bars,
calibration legends that name every marker and sit beside the data, a readable network graph, and
texts that do not overlap. The live (blitted) figures of the app give the image a full redraw gives."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle

from analysis import figures as F
from analysis.server import controls as C
from model import metric_dictionary as MD
from model.api import run_scenario
from model.loading import load_scenario
from model.model import CityDiplomacyModel

SMALL = {"cities.n": 300, "cities.n_countries": 25, "steps": 25, "networks.initial": 15}
IVS = [{"kind": "cross_network_platform", "start": 1990}, {"kind": "secretariat_exchange", "start": 1990},
       {"kind": "pandemic", "start": 2000, "end": 2002}]


@pytest.fixture(scope="module")
def res():
    return run_scenario(load_scenario(None, overrides={**SMALL, "interventions": IVS}), keep_model=True)


def _texts(fig) -> list:
    """Every text a figure draws (titles, labels, tick labels in view, notes, legends), after drawing it."""
    FigureCanvasAgg(fig).draw()
    out = list(fig.texts)
    if fig._suptitle is not None:
        out.append(fig._suptitle)
    legends = list(fig.legends)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label] + list(ax.texts)
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for tick in axis.get_major_ticks():
                if lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    out += [tick.label1, tick.label2]
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for leg in legends:
        out += list(leg.get_texts()) + [leg.get_title()]
    seen, keep = set(), []
    for t in out:
        if id(t) not in seen and t.get_visible() and t.get_text().strip():
            seen.add(id(t))
            keep.append(t)
    return keep


def overlapping_texts(fig, tol: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap by more than `tol` pixels each way."""
    r = FigureCanvasAgg(fig).get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in _texts(fig)]
    bad = []
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            dx = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            dy = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            if dx > tol and dy > tol:
                bad.append((a, b))
    return bad


def _legend_labels(fig) -> set[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return {t.get_text() for leg in legends for t in leg.get_texts()}


# ------------------------------------------------------------------------------ periods
def test_intervention_periods_merge_same_years_and_label_them():
    periods = F.intervention_periods(load_scenario(None, overrides={"interventions": IVS}).interventions)
    assert [(p.start, p.end, p.remedy) for p in periods] == [(1990, None, True), (2000, 2002, False)]
    assert periods[0].text() == "from 1990: Cross-network platform + Secretariat exchange"
    assert periods[1].text() == "2000-2002: Pandemic"
    hist = F.intervention_periods(load_scenario(C.ROOT / "scenarios" / "history.yaml").interventions)
    assert "2017-2020: National withdrawal (US, climate)" in [p.text() for p in hist]
    assert "from 2019: Funding withdrawal (100 Resilient Cities)" in [p.text() for p in hist]


def test_run_metrics_figure_has_units_meanings_and_shaded_periods(res):
    figs = dict(F.run_figures(res))
    fig = figs["metrics.png"]()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert len(axes) == len(F.KEY_METRICS)
    for ax, name in zip(axes, F.KEY_METRICS):
        meta = MD.describe(name)
        assert ax.get_title() == meta.title and ax.get_ylabel() == meta.unit
        notes = " ".join(t.get_text() for t in ax.texts).replace("\n", " ")
        assert notes == meta.meaning, name  # the one-line meaning under the title
        spans = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(spans) == 2, name  # the platform + exchange period and the pandemic
        assert sorted((p.get_x() + 0.5, p.get_x() + p.get_width() - 0.5) for p in spans) == [
            (1990, res.scenario.end_year), (2000, 2002)], name
    labels = _legend_labels(fig)
    assert {"from 1990: Cross-network platform + Secretariat exchange", "2000-2002: Pandemic"} <= labels
    assert overlapping_texts(fig) == []


def test_periods_after_the_last_year_are_left_out():
    r = run_scenario(load_scenario(None, overrides={**SMALL, "steps": 5, "interventions": IVS}))
    fig = F.fig_timeseries(r.timeseries, periods=F.intervention_periods(r.scenario.interventions))
    assert not any(ax.patches for ax in fig.axes)  # both start after 1984
    assert not _legend_labels(fig)


def test_funding_figure_marks_periods_and_names_its_unit(res):
    fig = dict(F.run_figures(res))["funding_by_issue.png"]()
    ax = fig.axes[0]
    assert ax.get_ylabel() == MD.describe("funding_share_climate").unit
    assert {"from 1990: Cross-network platform + Secretariat exchange", "2000-2002: Pandemic"} <= _legend_labels(fig)


# ------------------------------------------------------------------------------ theme shares
def test_theme_shares_are_grouped_with_a_note_for_unreported_themes(res):
    issues = res.scenario.issue_names
    shares = {i: float(res.timeseries[f"theme_share_{i}"].iloc[-1]) for i in issues}
    other = {i: v / 2 for i, v in shares.items()}
    fig = F.fig_theme_shares(shares, 2004, other=other, labels=("A", "B"),
                             shares_range={i: (v * 0.9, v * 1.1) for i, v in shares.items()})
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers if hasattr(c, "patches")}
    assert set(bars) == {"A 2004", "B", F.ACUTO_RAYNER_LABEL}
    a, b, ref = bars["A 2004"].patches, bars["B"].patches, bars[F.ACUTO_RAYNER_LABEL].patches
    assert len(a) == len(b) == len(issues) and len(ref) == len(F.ACUTO_RAYNER)
    for j, i in enumerate(issues):  # each group: A, then B, then the reference, side by side
        assert b[j].get_x() == pytest.approx(a[j].get_x() + a[j].get_width())
        if i in F.ACUTO_RAYNER:
            k = [x for x in issues if x in F.ACUTO_RAYNER].index(i)
            assert ref[k].get_x() == pytest.approx(b[j].get_x() + b[j].get_width())
    missing = [i for i in issues if i not in F.ACUTO_RAYNER]
    assert any(all(i in t.get_text() for i in missing) and "report no share" in t.get_text() for t in fig.texts)
    leg = ax.get_legend()
    FigureCanvasAgg(fig).draw()
    assert leg.get_window_extent().y0 >= ax.get_window_extent().y1 - 1  # the legend sits above the bars
    assert overlapping_texts(fig) == []


# ------------------------------------------------------------------------------ calibration
def test_calibration_figures_name_every_marker_and_keep_the_legend_off_the_data():
    facts = [SimpleNamespace(year=1985, target=55, tolerance=15, relation="approx"),
             SimpleNamespace(year=2015, target=200, tolerance=0, relation="at_least"),
             SimpleNamespace(year=2020, target=300, tolerance=60, relation="approx")]
    years = np.arange(1980, 2025)
    counts = np.vstack([np.linspace(40, 320, len(years)) + k for k in range(4)])
    periods = [F.Period(2020, 2021, "Pandemic", False)]
    fig = F.fig_network_count(years, counts, facts, periods=periods)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == sorted(["model: 95% of 4 replications", "model: mean", "known count ± tolerance",
                                     "known lower bound (at least)", "2020-2021: Pandemic"])  # each marker once
    FigureCanvasAgg(fig).draw()
    assert ax.get_legend().get_window_extent().x0 > ax.get_window_extent().x1  # beside the plot, not on it
    assert ax.get_ylabel() == MD.describe("n_networks").unit
    shares = np.array([[0.3, 0.2, 0.1], [0.25, 0.22, 0.12]])
    fig = F.fig_theme_calibration(["climate", "health", "peace"], shares, 2016)
    ax = fig.axes[0]
    assert {"model mean 2016", F.ACUTO_RAYNER_LABEL} == {t.get_text() for t in ax.get_legend().get_texts()}
    assert "95% of 2 replications" in ax.get_legend().get_title().get_text()
    assert any("health" in t.get_text() for t in fig.texts)  # Acuto and Rayner report no share for health
    assert overlapping_texts(fig) == []


# ------------------------------------------------------------------------------ the network graph
def test_network_graph_has_a_size_legend_names_real_networks_and_a_row_of_isolates(res):
    model = res.model
    fig = F.fig_network(model)
    size_ax = fig.axes[1]
    assert "members" in [t.get_text() for t in size_ax.texts]
    sizes = size_ax.collections[0].get_sizes()
    assert len(sizes) >= 2 and np.all(np.diff(sizes) > 0)
    # node colours are theme colours, none of them grey (grey is for edges and rule markers)
    for rgba in F.issue_colours(model.issue_names).values():
        r, g, b = rgba[:3]
        assert max(r, g, b) - min(r, g, b) > 0.15, rgba
    from matplotlib.lines import Line2D

    rule_handles = [h for h in fig.legends[0].legend_handles
                    if isinstance(h, Line2D) and h.get_marker() in F.RULE_MARKERS.values()]
    assert len(rule_handles) == len(F.RULE_MARKERS)
    assert all(h.get_markerfacecolor() == "white" for h in rule_handles)
    # a model with real (catalogue) networks: their names are on the graph
    names = {int(k): nm for k, nm in enumerate(model.networks.names[:model.networks.n])}
    biggest = int(F.active_networks(model)[np.argmax(model.networks.members[F.active_networks(model)])])
    model.catalogue_index = {names[biggest]: biggest}
    try:
        fig = F.fig_network(model)
        assert F.short_name(names[biggest]) in [t.get_text() for t in fig.axes[0].texts]
    finally:
        model.catalogue_index = {}
    assert overlapping_texts(fig) == []


def test_isolated_networks_stand_in_a_row_below_the_disc():
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(6))
    g.add_weighted_edges_from([(0, 1, 3), (1, 2, 1), (2, 0, 2)])
    class Model:  # the layout cache is keyed (weakly) by the model object
        pass

    model = Model()
    pos = F.network_layout(model, g)
    assert all(np.hypot(*pos[n]) <= 1.0 + 1e-9 for n in (0, 1, 2))
    assert all(pos[n][1] == F.ISOLATE_ROW for n in (3, 4, 5))
    assert len({round(pos[n][0], 6) for n in (3, 4, 5)}) == 3


def test_short_names():
    assert F.short_name("International Union of Local Authorities (IULA)") == "IULA"
    assert F.short_name("ICLEI - Local Governments for Sustainability") == "ICLEI"
    assert F.short_name("Metropolis (World Association of the Major Metropolises)") == "Metropolis"
    assert len(F.short_name("C40 Cities Climate Leadership Group")) <= 22


# ------------------------------------------------------------------------------ compare (several seeds)
def test_compare_figure_shows_mean_and_band_per_side_without_overlapping_labels():
    cfg = load_scenario(None, overrides=SMALL)
    a = [run_scenario(cfg, seed=s, tables=False).timeseries for s in (1, 2, 3)]
    b = [run_scenario(cfg, seed=s, tables=False, overrides={"resources.pool": 20}).timeseries for s in (1, 2, 3)]
    fig = F.fig_compare([("A", a), ("B", b)], periods=[F.Period(1990, None, "Open knowledge", True)])
    for ax, name in zip(fig.axes, F.HEADLINE):
        assert ax.get_ylabel() == MD.describe(name).unit
        bands = [c for c in ax.collections if c.get_paths()]
        assert len(bands) == 2 and len(ax.lines) == 2
        mean_a = np.vstack([t[name][t["step"] >= 1] for t in a]).mean(axis=0)  # step 0 is not drawn
        assert np.allclose(ax.lines[0].get_ydata(), mean_a, equal_nan=True)
        assert ax.get_xlim()[0] >= cfg.start_year - 0.5
    assert {"A: mean (range of 3 seeds)", "B: mean (range of 3 seeds)", "from 1990: Open knowledge"} <= _legend_labels(fig)
    assert overlapping_texts(fig) == []


# ------------------------------------------------------------------------------ live figures (the app)
def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_live_figures_give_the_image_of_a_full_redraw():
    """The app draws its panels by blitting; after every step the image equals (but for a handful of
    pixels where a moving line crosses a spine) a full redraw of the same figure."""
    m = CityDiplomacyModel.from_scenario(load_scenario(C.ROOT / "scenarios" / "remedies.yaml", overrides={"cities.n": 400}))
    F.timeseries_png_live(m)
    for _ in range(8):
        m.step()
        if m.steps not in (1, 2, 3, 5, 8):  # early steps: limits widen, axes are drawn again
            continue
        pngs = {"ts": F.timeseries_png_live(m), "net": F.network_png_live(m), "city": F.city_png_live(m, "practice"),
                "themes": F.theme_png_live(m, C.current_theme_shares(m))}
        live = F._LIVE[m]
        figs = {"ts": live["timeseries"]["fig"], "net": live["network"]["fig"], "city": live["cities-practice"]["fig"],
                "themes": live["themes"]["fig"]}
        for k, png in pngs.items():
            a, b = _pixels(png), _pixels(F.figure_png(figs[k]))
            assert a.shape == b.shape, k
            assert (np.abs(a - b).max(axis=2) > 40).mean() < 0.002, (k, m.steps)
    for ax, name in zip(live["timeseries"]["fig"].axes, F.HEADLINE):  # the data drawn stay inside the limits
        y = F.years_run(m.timeseries())[name].to_numpy()
        lo, hi = ax.get_ylim()
        assert lo <= np.nanmin(y) and np.nanmax(y) <= hi, name


# ------------------------------------------------------------------------------ step 0 and figure defects
def test_run_figures_start_at_the_first_simulated_year_without_step_0(res):
    """Step 0 (the state before the first year, flows empty) is not drawn: the axes of metrics.png and
    funding_by_issue.png start at the scenario's first year, with no jump from 0 and no wedge."""
    first = res.scenario.start_year
    assert int(res.timeseries["year"].iloc[0]) == first - 1
    figs = dict(F.run_figures(res))
    fig = figs["metrics.png"]()
    for ax in [a for a in fig.axes if a.get_visible() and a.lines]:
        assert ax.lines[0].get_xdata()[0] == first and ax.get_xlim()[0] >= first - 0.5
    fund = figs["funding_by_issue.png"]()
    ax = fund.axes[0]
    assert ax.get_xlim()[0] == first
    assert ax.get_xlabel() == "year" and overlapping_texts(fund) == []  # the year label clear of the legend


def test_network_graph_counts_operating_networks_and_explains_its_links(res):
    """The network figure counts what the metrics count (n_networks: operating networks) and its legend
    says what a line means (shared members, few to many)."""
    model = res.model
    fig = F.fig_network(model, max_nodes=10)
    n_op = int(model.networks.operating().sum())
    assert n_op == res.timeseries["n_networks"].iloc[-1]
    assert f"of {n_op} operating networks" in fig.texts[0].get_text()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"shared members", "a few", "the most"} <= set(labels)
    lines = [h for h, t in zip(fig.legends[0].legend_handles, labels) if t in ("a few", "the most")]
    assert lines[0].get_linewidth() < lines[1].get_linewidth()


def test_world_map_draws_the_land_from_the_cities_and_a_size_legend(res):
    """Real cities: each country drawn as the convex hull of its cities (no coastline data is installed),
    and a legend of marker sizes by population."""
    model = res.model
    rng = np.random.default_rng(0)
    model.cities.lat = rng.uniform(-50, 70, model.cities.n)
    model.cities.lon = rng.uniform(-170, 170, model.cities.n)
    F._CITY_XY.pop(model, None)
    try:
        hulls = F.country_hulls(model)
        assert len(hulls) > 5 and all(h.shape[1] == 2 and len(h) >= 3 for h in hulls)
        fig = F.fig_city_map(model, figsize=(12, 6.4), dpi=60)
        from matplotlib.collections import PolyCollection

        assert any(isinstance(c, PolyCollection) and len(c.get_paths()) == len(hulls) for c in fig.axes[0].collections)
        leg = fig.legends[0]
        assert leg.get_title().get_text() == "size: population"
        texts = [t.get_text() for t in leg.get_texts()]
        assert "country: hull of its cities" in texts and len(texts) >= 3
        assert overlapping_texts(fig) == []
    finally:
        model.cities.lat = model.cities.lon = None
        F._CITY_XY.pop(model, None)


def test_claim_figures_name_metrics_by_title_and_unit_and_explain_bands():
    rows = [{"label": "size_gap", "effect": 1.5, "low": 0.8, "high": 2.2, "verdict": "supported"},
            {"label": "fragmentation_index (mechanism off)", "effect": 0.2, "low": -0.5, "high": 0.9,
             "verdict": "negligible", "hollow": True}]
    fig = F.fig_claims_forest(rows, figsize=(5.2, 3.2), dpi=90)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["Fragmentation index (mechanism off)", MD.describe("size_gap").title]
    assert {"supported", "contradicted", "negligible", "undetermined", "mechanism off"} <= _legend_labels(fig)
    assert min(t.get_fontsize() for t in fig.legends[0].get_texts()) >= 8  # larger text at a narrower width
    assert overlapping_texts(fig) == []
    r = FigureCanvasAgg(fig).get_renderer()
    assert fig.legends[0].get_window_extent(r).x1 <= fig.bbox.x1  # the four verdicts fit the width
    panels = [{"metric": "size_gap", "effect": [0.01, 0.03], "low": [-0.01, 0.02], "high": [0.03, 0.04],
               "threshold": 0.01, "direction": "increase", "verdict": ["undetermined", "supported"],
               "transitions": [{"at": 0.2}]}]
    cond = F.fig_claim_conditions("networks.invitation_share", [0.1, 0.3], panels)
    ax = cond.axes[0]
    meta = MD.describe("size_gap")
    assert ax.get_title().startswith(meta.title) and meta.unit in ax.get_ylabel()
    assert {"smaller than the smallest effect that matters", "where the verdict changes"} <= _legend_labels(cond)
    assert overlapping_texts(cond) == []
    grad = F.fig_claim_gradient("resources.pool", [60, 120], panels)
    assert grad.axes[0].get_title().startswith(meta.title)
    assert "smaller than the smallest effect that matters" in _legend_labels(grad)
    yrs = np.arange(2000, 2010)
    m = np.linspace(0, 1, 10)
    ot = F.fig_claim_over_time(yrs, [("control", m, m, m), ("treatment", m, m, m)], (m, m, m), "size_gap",
                               [2005, 2009], 0.01, "increase", figsize=(6.0, 4.4), dpi=90)
    assert ot.axes[0].get_ylabel() == meta.unit and meta.title in ot._suptitle.get_text()
    assert "years averaged (2005-2009)" in _legend_labels(ot)


def test_sweep_grid_x_label_clears_the_band_note():
    import pandas as pd

    rows = []
    for p, (pool, gamma) in enumerate([(60, 1.0), (60, 2.0), (180, 1.0), (180, 2.0)]):
        for m, base in (("fragmentation_index", 0.5), ("n_networks", 40.0)):
            rows.append({"point": p, "resources.pool": pool, "resources.gamma": gamma, "metric": m, "n": 3,
                         "mean": base + pool / 1000 + gamma / 10, "sd": 0.01, "ci_low": base, "ci_high": base + 0.4})
    fig = F.fig_sweep_grid(pd.DataFrame(rows), ["resources.pool", "resources.gamma"],
                           ["n_networks", "fragmentation_index"])
    assert any(leg.get_title().get_text().startswith("bands: 95%") for leg in fig.legends)
    assert overlapping_texts(fig) == []


def test_step_0_pngs_are_shared_between_sessions_and_the_live_figures_start_at_the_first_step():
    """Every new session of a scenario starts from the same state: its step-0 images are drawn once and
    reused (the page appears sooner); the live figures are built at the first Step, as a full redraw
    gives them."""
    cfg = load_scenario(None, overrides={**SMALL, "cities.n": 200})
    a, b = CityDiplomacyModel.from_scenario(cfg), CityDiplomacyModel.from_scenario(cfg)
    kw = {"ncols": 2, "figsize": (5.1, 6.6), "font": 9.0}
    first = F.timeseries_png_live(a, **kw)
    assert F.timeseries_png_live(b, **kw) is first  # the same bytes object: not drawn again
    assert F.city_png_live(b, "memberships") is F.city_png_live(a, "memberships")
    assert "timeseries" not in F._LIVE.get(b, {})
    b.step()
    png = F.timeseries_png_live(b, **kw)
    fig = F._LIVE[b]["timeseries"]["fig"]
    assert png != first and (np.abs(_pixels(png) - _pixels(F.figure_png(fig))).max(axis=2) > 40).mean() < 0.002
    other = CityDiplomacyModel.from_scenario(load_scenario(None, overrides={**SMALL, "cities.n": 200, "seed": 99}))
    assert F.city_png_live(other, "memberships") is not F.city_png_live(a, "memberships")  # another world


def test_metric_names_in_claim_titles_become_their_titles():
    title = MD.describe("size_gap").title
    assert F.metric_label("C6 size_gap: arms over time") == f"C6 {title}: arms over time"
    assert F.metric_label("size_gap (mechanism off)") == f"{title} (mechanism off)"
    assert F.metric_label("not_a_metric") == "not_a_metric"


def test_live_metrics_built_at_the_first_step_fit_their_data():
    m = CityDiplomacyModel.from_scenario(load_scenario(None, overrides={**SMALL, "cities.n": 200}))
    F.timeseries_png_live(m)  # step 0: the shared image, no live figure yet
    m.step()
    F.timeseries_png_live(m)
    ts = F.years_run(m.timeseries())
    for ax, name in zip(F._LIVE[m]["timeseries"]["fig"].axes, F.HEADLINE):
        y = float(ts[name].iloc[0])
        if np.isfinite(y):
            lo, hi = ax.get_ylim()
            assert lo < y < hi and hi - lo < max(0.5 * abs(y), 1e-3) + 1e-9, (name, lo, hi, y)  # not 0-1
