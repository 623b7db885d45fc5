"""The browser app's panels without a browser: each figure builder on a small model (what it
draws), the scenario building behind the controls, and the Solara components rendered with
solara's test renderer (Step and Reset through Mesa's ModelController)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from analysis import figures as F
from analysis.figures import ACUTO_RAYNER
from analysis.server import controls as C
from model import metric_dictionary as MD
from model.config import ScenarioError
from model.loading import load_scenario
from model.model import CityDiplomacyModel

SMALL = {"cities.n": 200, "cities.n_countries": 20, "steps": 8, "networks.initial": 12, "start_year": 2000}
BASELINE = C.ROOT / "scenarios" / "baseline.yaml"
SMALL_FILE = str(C.ROOT / "tests" / "data" / "small.yaml")  # 300 cities, 20 steps


@pytest.fixture
def model():
    m = CityDiplomacyModel.from_scenario(load_scenario(None, overrides=dict(SMALL)))
    for _ in range(4):
        m.step()
    return m


def _scatter_points(ax) -> int:
    from matplotlib.collections import PathCollection

    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


# ------------------------------------------------------------------------------ network ecosystem
def test_network_graph_nodes_are_active_networks_and_edges_shared_members(model):
    g, n_active = F.network_graph(model, max_nodes=1000)
    act = F.active_networks(model)
    assert n_active == len(act) == g.number_of_nodes() > 0
    S = model.memberships.matrix(model.cities.n, model.networks.n).toarray()
    for a, b, d in g.edges(data=True):
        assert d["weight"] == int((S[:, a] * S[:, b]).sum()) > 0
    # every pair with shared members has its edge
    sub = S[:, act].T @ S[:, act]
    np.fill_diagonal(sub, 0)
    assert g.number_of_edges() == int((np.triu(sub) > 0).sum())
    for k, d in g.nodes(data=True):
        assert d["members"] == model.networks.members[k]
        assert d["theme"] == model.issue_names[model.networks.theme[k]]


def test_network_figure_draws_every_active_network_with_theme_and_rule_legend(model):
    fig = F.fig_network(model)
    ax = fig.axes[0]
    assert _scatter_points(ax) == len(F.active_networks(model))
    labels = {t.get_text() for leg in fig.legends for t in leg.get_texts()}
    assert set(model.issue_names) <= labels and {"open", "threshold", "invitation", "competitive"} <= labels
    assert str(model.year) in fig.texts[0].get_text()
    assert F.figure_png(fig)[:4] == b"\x89PNG"


def test_network_figure_samples_the_largest_networks_at_scale(model):
    fig = F.fig_network(model, max_nodes=5)
    assert _scatter_points(fig.axes[0]) == 5
    assert f"largest 5 of {len(F.active_networks(model))}" in fig.texts[0].get_text()
    g, _ = F.network_graph(model, max_nodes=5)
    act = F.active_networks(model)
    assert min(model.networks.members[list(g.nodes)]) >= np.sort(model.networks.members[act])[-5]


def test_network_layout_is_stable_between_steps(model):
    g, _ = F.network_graph(model)
    pos1 = F.network_layout(model, g)
    model.step()
    g2, _ = F.network_graph(model)
    pos2 = F.network_layout(model, g2)
    common = [k for k in pos1 if k in pos2]
    assert common
    moved = np.median([np.linalg.norm(pos1[k] - pos2[k]) for k in common])
    assert moved < 0.5  # nodes stay near where they were


# ------------------------------------------------------------------------------ cities
def test_city_layout_by_region_without_coordinates(model):
    fig = F.fig_city_map(model)
    ax = fig.axes[0]
    assert _scatter_points(ax) == model.cities.n
    texts = {t.get_text() for t in ax.texts}
    assert {r for r in model.region_names if (model.cities.region == model.region_names.index(r)).any()} <= texts
    # colours follow memberships
    sc = ax.collections[0]
    per_city = np.bincount(model.memberships.city, minlength=model.cities.n)
    order = np.argsort(model.cities.population)
    assert np.allclose(np.asarray(sc.get_array()), per_city[order])
    assert "layout by region" in fig._suptitle.get_text()
    # regions do not overlap: cities of one region lie closer to their own centre than to others'
    xy, real = F.city_positions(model)
    assert not real
    centres = np.array([xy[model.cities.region == r].mean(axis=0) for r in range(model.n_regions)])
    nearest = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == model.cities.region).mean() > 0.99


def test_city_map_colours_by_practice_and_uses_coordinates_when_present(model):
    fig = F.fig_city_map(model, colour_by="practice")
    sc = fig.axes[0].collections[0]
    order = np.argsort(model.cities.population)
    assert np.allclose(np.asarray(sc.get_array()), model.cities.practice.mean(axis=1)[order])
    m2 = CityDiplomacyModel.from_scenario(load_scenario(None, overrides=dict(SMALL)))
    rng = np.random.default_rng(0)
    m2.cities.lat = rng.uniform(-50, 70, m2.cities.n)
    m2.cities.lon = rng.uniform(-170, 170, m2.cities.n)
    fig = F.fig_city_map(m2)
    assert "map" in fig._suptitle.get_text() and "layout" not in fig._suptitle.get_text()
    assert fig.axes[0].get_xlim() == (-180, 180)


def test_city_map_samples_at_world_scale(model):
    fig = F.fig_city_map(model, max_points=50)
    assert _scatter_points(fig.axes[0]) == 50
    sizes = np.sort(fig.axes[0].collections[0].get_sizes())
    all_sizes = np.sort(F.fig_city_map(model, max_points=10_000).axes[0].collections[0].get_sizes())
    assert sizes[-12:] == pytest.approx(all_sizes[-12:])  # the largest cities are always in the sample
    assert f"50 of {model.cities.n} shown" in fig._suptitle.get_text()


# ------------------------------------------------------------------------------ time series and themes
def test_timeseries_shows_the_six_key_metrics(model):
    ts = model.timeseries()
    fig = F.fig_timeseries(ts, years=(2000, 2007))
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes]  # (wrapped to the panel's width)
    assert titles == [MD.describe(n).title for n in F.HEADLINE]
    for ax, col in zip(fig.axes, F.HEADLINE):
        line = ax.lines[0]
        assert np.allclose(line.get_ydata(), ts[col].to_numpy()[1:], equal_nan=True)  # step 0 is not drawn
        assert line.get_xdata()[0] == 2000
        assert ax.get_xlim()[0] < 2000 and ax.get_xlim()[1] > 2007
        assert ax.get_ylabel() == MD.describe(col).unit  # the unit from the metric dictionary
    other = ts.assign(**{c: ts[c] * 0.5 for c in F.HEADLINE})
    fig2 = F.fig_timeseries(ts, other, labels=("A", "B"))
    assert all(len([ln for ln in ax.lines if len(ln.get_xdata()) > 1]) == 2 for ax in fig2.axes)
    assert {t.get_text() for t in fig2.legends[0].get_texts()} == {"A", "B"}


def test_live_timeseries_moves_the_lines_of_one_figure(model):
    fig = F.fig_timeseries_live(model)
    model.step()
    again = F.fig_timeseries_live(model)
    assert again is fig
    ts = F.years_run(model.timeseries())
    for ax, col in zip(again.axes, F.HEADLINE):
        assert np.allclose(ax.lines[0].get_ydata(), ts[col].to_numpy(), equal_nan=True)
        lo, hi = ax.get_ylim()
        assert lo <= ts[col].min() and hi >= ts[col].max()
    assert F.timeseries_png_live(model)[:4] == b"\x89PNG"


def test_timeseries_before_the_first_step_says_what_to_do():
    m = CityDiplomacyModel.from_scenario(load_scenario(None, overrides=dict(SMALL)))
    assert len(m.timeseries()) == 1  # the starting state only
    fig = F.fig_timeseries(m.timeseries())
    assert any("Step" in t.get_text() for t in fig.axes[0].texts)
    m.step()
    assert not any("Step" in t.get_text() for t in F.fig_timeseries(m.timeseries()).axes[0].texts)


def test_theme_shares_match_the_metrics_and_acuto_rayner(model):
    shares = C.current_theme_shares(model)
    last = model.records[-1]
    assert shares == pytest.approx({i: last[f"theme_share_{i}"] for i in model.issue_names})
    assert sum(shares.values()) == pytest.approx(1.0)
    fig = F.fig_theme_shares(shares, model.year)
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers}
    model_bars, ref_bars = bars[f"model {model.year}"], bars[F.ACUTO_RAYNER_LABEL]
    assert [b.get_height() for b in model_bars] == pytest.approx([shares[i] for i in model.issue_names])
    # grouped: each reference bar stands right beside its theme's model bar, only for the themes they report
    reported = [i for i in model.issue_names if i in ACUTO_RAYNER]
    assert [b.get_height() for b in ref_bars] == pytest.approx([ACUTO_RAYNER[i] for i in reported])
    for b, i in zip(ref_bars, reported):
        mine = model_bars[model.issue_names.index(i)]
        assert b.get_x() == pytest.approx(mine.get_x() + mine.get_width())
    assert [t.get_text() for t in ax.get_xticklabels()] == model.issue_names
    assert F.ACUTO_RAYNER_LABEL in {t.get_text() for t in ax.get_legend().get_texts()}
    note = " ".join(t.get_text() for t in fig.texts)
    assert "report no share for" in note and all(i in note for i in model.issue_names if i not in ACUTO_RAYNER)
    assert ax.get_ylabel() == MD.describe("theme_share_climate").unit


def test_top_networks_table(model):
    tab = C.top_networks(model, 5)
    assert list(tab.columns) == ["name", "theme", "rule", "members", "funds"]
    assert len(tab) == min(5, len(F.active_networks(model)))
    assert tab["members"].is_monotonic_decreasing
    act = F.active_networks(model)
    assert tab["members"].iloc[0] == model.networks.members[act].max()
    assert set(tab["name"]) <= {model.networks.names[k] for k in act}


# ------------------------------------------------------------------------------ controls -> scenario
def test_build_scenario_levers_and_remedies():
    cfg, notes = C.build_scenario(BASELINE, {"resources.pool": 60.0, "spillover.up": False},
                                  ["cross_network_platform", "open_knowledge"])
    assert cfg.resources.pool == 60.0 and cfg.spillover.up is False and notes == []
    assert [(iv.kind, iv.start, iv.end) for iv in cfg.interventions] == [
        ("cross_network_platform", cfg.start_year, None), ("open_knowledge", cfg.start_year, None)]
    cfg, notes = C.build_scenario(BASELINE, None, ["city_first"], remedy_start=3000)
    assert cfg.interventions[0].start == cfg.end_year and notes
    # every lever names a real field; every remedy is a registered intervention
    for lev in C.LEVERS:
        C.lever_value(cfg, lev.path)
    cfg, _ = C.build_scenario(BASELINE, None, list(C.REMEDIES))
    assert len(cfg.interventions) == len(C.REMEDIES)


def test_build_scenario_keeps_the_file_interventions_and_caps_invitation_share():
    remedies_file = C.ROOT / "scenarios" / "remedies.yaml"
    n0 = len(load_scenario(remedies_file).interventions)
    cfg, _ = C.build_scenario(remedies_file, None, ["io_framework"])
    assert len(cfg.interventions) == n0 + 1 and cfg.interventions[-1].kind == "io_framework"
    cfg, notes = C.build_scenario(BASELINE, {"networks.invitation_share": 0.95})
    n = cfg.networks
    assert n.invitation_share + n.competitive_share + n.threshold_share == pytest.approx(1.0)
    assert "capped" in notes[0]


def test_build_scenario_errors_name_the_file(tmp_path):
    with pytest.raises(ScenarioError, match="missing.yaml"):
        C.build_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="resources.nope"):
        C.build_scenario(BASELINE, {"resources.nope": 1})
    with pytest.raises(ScenarioError, match="unknown remedy"):
        C.build_scenario(BASELINE, None, ["pandemic_party"])


def test_the_app_refuses_scenarios_over_its_memory_limit(monkeypatch):
    """Every model the app builds (sidebar, Compare sides) goes through build_scenario, which applies
    the limit `run.py serve --memory-limit` passes on; a Claims page arm is checked the same way."""
    from analysis.claims import default_files
    from analysis.server.claims_page import run_claim_arms

    monkeypatch.setenv(C.MEMORY_ENV, repr(0.05e9))
    with pytest.raises(ScenarioError, match="more than the limit of 0.1 GB.*run.py serve --memory-limit"):
        C.build_scenario(BASELINE)
    with pytest.raises(ScenarioError, match="more than the limit"):
        run_claim_arms(default_files()[0], seeds=2)
    monkeypatch.setenv(C.MEMORY_ENV, repr(2e9))
    cfg, _ = C.build_scenario(BASELINE, {"cities.n": 1000})
    assert cfg.cities.n == 1000
    with pytest.raises(ScenarioError, match=r"more than the limit of 2.0 GB \(200000 cities"):
        C.build_scenario(BASELINE, {"cities.n": 200000, "networks.initial": 5000, "networks.founders": 10000})


def test_build_scenario_from_a_resolved_scenario():
    base = load_scenario(BASELINE, {"resources.pool": 77})
    cfg, _ = C.build_scenario(base, {"seed": 5}, ["secretariat_exchange"])
    assert cfg.resources.pool == 77 and cfg.seed == 5 and cfg.interventions[0].kind == "secretariat_exchange"


def test_list_scenarios_offers_valid_files_and_the_served_one(tmp_path):
    names = C.list_scenarios()
    assert "scenarios/baseline.yaml" in names
    for label in names:
        load_scenario(C.resolve_path(label))
    extra = tmp_path / "mine.yaml"
    extra.write_text("name: mine\ncities: {n: 50}\n")
    assert C.list_scenarios(extra)[0] == str(extra.resolve())


def test_remedy_now_starts_next_year(model):
    inst = C.add_remedy_now(model, "open_knowledge")
    assert inst.start == model.year + 1 and not inst.begun
    model.step()
    assert inst.begun and inst in model.interventions
    with pytest.raises(ValueError):
        C.add_remedy_now(model, "nope")


# ------------------------------------------------------------------------------ speed
def test_a_baseline_step_renders_in_under_a_second():
    """Step the baseline (2,000 cities) and draw every panel to PNG: under a second of CPU time
    (process time, so that other jobs on a loaded machine do not make the test flaky)."""
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE))
    for _ in range(15):
        m.step()
    F.figure_png(F.fig_timeseries(m.timeseries()))  # warm up fonts and caches
    F.fig_network(m)
    cpu = []
    for _ in range(3):
        t = time.process_time()
        m.step()
        F.timeseries_png_live(m)
        for fig in (F.fig_network(m), F.fig_city_map(m), F.fig_theme_shares(C.current_theme_shares(m), m.year)):
            F.figure_png(fig)
        C.top_networks(m)
        cpu.append(time.process_time() - t)
    assert min(cpu) < 1.0, cpu


# ------------------------------------------------------------------------------ Solara components
solara = pytest.importorskip("solara")


@pytest.fixture(scope="module")
def app():
    from analysis.server import app as app_module

    return app_module


def test_app_model_maps_controls_to_the_scenario(app):
    m = app.AppModel(pool=60.0, spillover_down=False, remedy_open_knowledge=True, seed="7")
    assert m.cfg.resources.pool == 60.0 and m.cfg.spillover.down is False and m.cfg.seed == 7
    assert [iv.kind for iv in m.cfg.interventions] == ["open_knowledge"]
    assert m.cfg.interventions[0].start == m.cfg.start_year
    # the sidebar's starting values reproduce the served file exactly
    params = app.initial_controls()
    assert app.controls_to_overrides(params) == ({}, [], [], None)
    assert app.scenario_from_controls(params)[0] == load_scenario(BASELINE)
    # picking another file sets the sidebar to that file's values, which run it as written
    world = "scenarios/world_scale.yaml"
    params.update(C.sidebar_values(C.file_scenario(world), world))
    assert params["pool"] == 400.0
    cfg, label, overrides, notes = app.scenario_from_controls(params)
    assert cfg == load_scenario(C.ROOT / world)
    assert label == world and overrides == {} and notes == []
    params["pool"] += 0.004  # slider snapping: still untouched
    params["city_first"] = 0.5
    assert app.controls_to_overrides(params, C.file_scenario(world))[0] == {"governance.city_first": 0.5}


def test_pending_changes_say_what_reset_would_change(app):
    m = app.AppModel()
    params = app.initial_controls()
    assert app.pending_changes(params, m) == []
    params["pool"] = 60.0
    params["remedy_city_first"] = True
    pending = app.pending_changes(params, m)
    assert pending == ["Funding pool: 60 M USD/yr", "remedies"]
    params.update(C.sidebar_values(C.file_scenario("scenarios/remedies.yaml"), "scenarios/remedies.yaml"))
    assert app.pending_changes(params, m)[0] == "scenario file scenarios/remedies.yaml"
    m2 = app.AppModel(**params)
    assert app.pending_changes(params, m2) == []


def test_app_model_reports_bad_input_instead_of_failing(app):
    m = app.AppModel(seed="x1", scenario_file="scenarios/does-not-exist.yaml")
    assert m.scenario_file == app.START_LABEL
    assert any("seed" in n for n in m.app_notes) and any("does-not-exist" in n for n in m.app_notes)


def test_model_params_fit_the_model_signature(app):
    from mesa.visualization.solara_viz import _check_model_params

    params = app.model_params()
    _check_model_params(app.AppModel.__init__, params)
    assert {f"remedy_{k}" for k in C.REMEDIES} <= set(params)
    assert {lev.param for lev in C.LEVERS} <= set(params)
    assert params["scenario_file"]["values"] == app.SCENARIOS


def _images(rc):
    import ipywidgets

    return rc.find(ipywidgets.Image).widgets


def _html(rc) -> str:
    from solara.widgets import HTML

    return " ".join(w.unsafe_innerHTML or "" for w in rc.find(HTML).widgets)


@pytest.mark.parametrize("panel", ["NetworkPanel", "CityPanel", "MetricsPanel", "ThemePanel"])
def test_figure_panels_render(app, panel):
    m = app.AppModel(scenario_file="scenarios/baseline.yaml")
    m.step()
    _box, rc = solara.render(getattr(app, panel)(m), handle_error=False)
    imgs = _images(rc)
    assert len(imgs) == 1 and bytes(imgs[0].value)[:4] == b"\x89PNG"
    rc.close()


def test_table_and_run_panels_render(app):
    import ipyvuetify as v

    m = app.AppModel(remedy_city_first=True)
    m.step()
    _box, rc = solara.render(app.TopNetworksPanel(m), handle_error=False)
    html = _html(rc)
    for name in C.top_networks(m, 10)["name"]:
        assert name in html
    rc.close()
    _box, rc = solara.render(app.RunPanel(m), handle_error=False)
    text = _html(rc)
    assert f"Year {m.year}" in text and "city_first 1980+" in text
    rc.find(v.Btn, children=["Start from next year"]).widget.click()
    assert m.interventions[-1].start == m.year + 1
    rc.close()


def test_step_and_reset_through_mesa_controller(app):
    import ipyvuetify as v
    from mesa.visualization.solara_viz import ModelController

    model = solara.reactive(app.AppModel())
    params = solara.reactive({"pool": 60.0, "remedy_extend_services": True})
    _box, rc = solara.render(ModelController(model, model_parameters=params, play_interval=solara.reactive(100),
                                            render_interval=solara.reactive(1), use_threads=solara.reactive(False)),
                            handle_error=False)
    first = model.value
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.value.steps == 1 and len(model.value.records) == 2  # the starting state and step 1
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert model.value is not first and model.value.steps == 0
    assert model.value.cfg.resources.pool == 60.0
    assert [iv.kind for iv in model.value.cfg.interventions] == ["extend_services"]
    rc.close()


def test_compare_page_runs_several_seeds_per_side(app):
    import ipyvuetify as v

    from model.randomness import replication_seeds

    m = app.AppModel(scenario_file=SMALL_FILE)
    assert m.cfg.cities.n == 300
    assert app.cmp_seeds.value == app.DEFAULT_SEEDS == 5
    assert app.cmp_b_rem.value != list(C.REMEDIES)  # side B does not start with every remedy

    @solara.component
    def ComparePage():
        with solara.Columns([1, 1]):
            app.CompareControls(m)
            app.CompareResults(m)

    app.cmp_result.set(None)
    app.cmp_seeds.set(3)
    try:
        _box, rc = solara.render(ComparePage(), handle_error=False)
        assert "Run both" in _html(rc) and not _images(rc)
        rc.find(v.Btn, children=["Run both"]).widget.click()
        deadline = time.time() + 120
        while time.time() < deadline and (len(_images(rc)) < 2 or "B - A" not in _html(rc)):
            time.sleep(0.2)
        assert len(_images(rc)) == 2
        html = _html(rc)
        assert "Fragmentation index" in html and "B - A" in html and "3 seeds per side" in html
        (_, ra, ca), (_, rb, cb), seeds = app.cmp_result.value
        assert seeds == replication_seeds(m.cfg.seed, 3)
        assert len(ra) == len(rb) == 3 and all(len(r) == 21 for r in ra + rb)  # steps 0..20
        assert ca.interventions == [] and [iv.kind for iv in cb.interventions] == [next(iter(C.REMEDIES))]
        # the seeds differ, so the runs of a side differ
        assert not ra[0]["n_memberships"].equals(ra[1]["n_memberships"])
        rc.close()
    finally:
        app.cmp_seeds.set(app.DEFAULT_SEEDS)


def test_run_side_applies_overrides_and_remedies(app):
    m = app.AppModel(scenario_file=SMALL_FILE)
    label, runs, cfg = app.run_side(m, app.CURRENT, "resources.pool=50\nnetworks.convergence=0.2", ["city_first"],
                                    seeds=[1, 2])
    assert cfg.resources.pool == 50 and cfg.networks.convergence == 0.2
    assert [iv.kind for iv in cfg.interventions] == ["city_first"]
    assert len(runs) == 2 and all(len(ts) == cfg.steps + 1 for ts in runs) and "resources.pool=50" in label
    with pytest.raises(ScenarioError, match="overrides resources.pool"):
        app.run_side(m, app.CURRENT, "resources.pool", [])


def test_compare_table_has_means_and_ranges():
    import pandas as pd

    a = [pd.DataFrame({c: [0.0, v] for c in F.HEADLINE + ["n_networks", "share_unaffiliated"]}) for v in (1.0, 2.0)]
    b = [pd.DataFrame({c: [0.0, v] for c in F.HEADLINE + ["n_networks", "share_unaffiliated"]}) for v in (5.0, 6.0)]
    tab = C.compare_table(a, b)
    row = tab.iloc[0]
    assert row["metric"] == MD.title(F.HEADLINE[0])
    assert row["A"] == "1.5 (1 to 2)" and row["B"] == "5.5 (5 to 6)" and row["B - A"] == "4"
    # two seeds per side cannot show the noise between seeds: no "apart" column, and the note says why
    assert "apart" not in tab.columns
    assert "at least 3 seeds per side" in C.apart_note(2, 2)
    a3 = a + [a[0].assign(**{c: [0.0, 1.5] for c in a[0].columns})]
    b3 = b + [b[0].assign(**{c: [0.0, 5.5] for c in b[0].columns})]
    assert C.compare_table(a3, b3).iloc[0]["apart"] == "yes"
    assert C.compare_table(a3, a3).iloc[0]["apart"] == "no"
    assert "do not overlap" in C.apart_note(3, 3)
    one = C.compare_table(a[:1], b[:1])
    assert "apart" not in one.columns and one.iloc[0]["A"] == "1"  # one seed per side: never "apart: yes"


def test_pages_are_named_tabs(app):
    import ipyvuetify as v

    from analysis.server.claims_page import ClaimsPage

    assert [name for name, _ in app.PAGES] == ["Explore", "Compare", "Claims", "About"]
    assert dict(app.PAGES)["Claims"] is ClaimsPage
    m = app.AppModel(scenario_file=SMALL_FILE)
    _box, rc = solara.render(app.PageTabs(m), handle_error=False)
    tabs = [w.children[0] for w in rc.find(v.Tab).widgets]
    assert tabs == ["Explore", "Compare", "Claims", "About"]
    assert _images(rc)  # Explore first
    # each tab draws its own page: Compare's Run both, Claims' claim picker and Run both arms
    rc.find(v.Tabs).widget.v_model = 1
    rc.find(v.Btn, children=["Run both"]).wait_for(timeout=10)
    rc.find(v.Tabs).widget.v_model = 2
    rc.find(v.Btn, children=["Run both arms"]).wait_for(timeout=10)
    assert rc.find(v.Select, label="Claim").widget.v_model.startswith("C1: ")
    assert not rc.find(v.Btn, children=["Run both"]) and "Pick a claim" in _html(rc)
    rc.find(v.Tabs).widget.v_model = 3
    rc.find(v.Btn, children=["Open docs/ODD.md"]).wait_for(timeout=10)
    assert "Three questions to try first" in _html(rc)
    rc.close()


def _wait(cond, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline and not cond():
        time.sleep(0.2)
    return cond()


def test_claims_tab_runs_a_shipped_claim_and_gives_its_verdict(app):
    """The Claims tab as the app registers it: pick a shipped claim, run both arms on two seeds in the
    background, see the verdict of each outcome (one of the four words, in its colour, with its plain
    sentence), the effects figure and each outcome over time; the same numbers as run_claim_arms."""
    import ipyvuetify as v

    from analysis.claims.verdict import EXPLAIN, VERDICTS
    from analysis.server import claims_page as CP

    pick = next(k for k in CP.CHOICES if k.startswith("C3: "))
    CP.claim_result.set(None)
    CP.json_doc.set(None)
    CP.claim_seeds.set(2)
    m = app.AppModel(scenario_file=SMALL_FILE)
    try:
        _box, rc = solara.render(dict(app.PAGES)["Claims"](m), handle_error=False)
        assert not _images(rc) and "Pick a claim" in _html(rc)
        rc.find(v.Select, label="Claim").widget.v_model = pick
        assert CP.claim_pick.value == pick
        rc.find(v.Btn, children=["Run both arms"]).widget.click()
        assert _wait(lambda: CP.claim_result.value is not None and "citydip-verdict" in _html(rc))
        res = CP.claim_result.value
        assert res["plan"].claim == "C3" and res["plan"].world.name == "synthetic" and len(res["seeds"]) == 2 and CP.claim_done.value == (4, 4)
        assert _wait(lambda: len(_images(rc)) == 1 + len(res["outcomes"]), 30)  # effects, then each outcome
        assert all(bytes(w.value)[:4] == b"\x89PNG" for w in _images(rc))
        html = _html(rc)
        assert "C3: Spillover from the middle" in html and "2 seeds per arm, quick size (synthetic world: 300 cities" in html
        again = CP.run_claim_arms(CP.CHOICES[pick], seeds=2)  # the page shows what the logic computes
        for x, y in zip(res["outcomes"], again["outcomes"], strict=True):
            v_ = x["verdict"]
            assert v_ == y["verdict"] and v_ in VERDICTS
            assert f"citydip-verdict-{v_}" in html and EXPLAIN[v_] in html and F.VERDICT_COLOURS[v_] in html
            e = x["effect"]
            assert f">{e.effect:+.4g}<" in html and f"[{e.ci_low:+.4g}, {e.ci_high:+.4g}]" in html
        assert "inconclusive" not in html
        rc.close()
    finally:
        CP.claim_seeds.set(4)
        CP.claim_result.set(None)


def test_claims_tab_opens_a_claims_json(app, tmp_path):
    """A claims.json written by the claims runner opens on the Claims tab: its claims, their verdicts with
    their sentences and its figure; the Holm-adjusted verdict and the pairs used get columns only when the
    file has them; a wrong path is an error that names it."""
    import json

    import ipyvuetify as v
    import yaml

    from analysis.claims.plan import load_claim
    from analysis.claims.runner import run_claims
    from analysis.claims.verdict import EXPLAIN
    from analysis.server import claims_page as CP

    claim = {"id": "T1", "title": "Funding raises capability", "statement": "More funding raises capability.",
             "source": "a test", "scenario": str(BASELINE), "set": {"cities.n": 120, "networks.initial": 8},
             "steps": 8, "seed": 3, "replications": 3, "quick": {"replications": 3, "set": {"cities.n": 100}},
             "arms": {"control": {"set": {"resources.pool": 30}}, "treatment": {"set": {"resources.pool": 400}}},
             "outcomes": [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.002,
                           "years": [1984, 1987]}],
             "mechanism_off": {"description": "networks produce no knowledge", "set": {"knowledge.production": 0}}}
    f = tmp_path / "t1.yaml"
    f.write_text(yaml.safe_dump(claim, sort_keys=False))
    run_claims([load_claim(f, quick=True)], tmp_path / "out", quiet=True, workers=1)
    path = tmp_path / "out" / "claims.json"
    doc = json.loads(path.read_text())
    rec = doc["claims"][0]
    CP.claim_result.set(None)
    CP.json_doc.set(None)
    m = app.AppModel(scenario_file=SMALL_FILE)
    try:
        _box, rc = solara.render(dict(app.PAGES)["Claims"](m), handle_error=False)
        rc.find(v.TextField, label="claims.json of a finished run").widget.v_model = str(path)
        rc.find(v.Btn, children=["Open claims.json"]).widget.click()
        assert _wait(lambda: "citydip-claims-json" in _html(rc), 30)
        html = _html(rc)
        assert "Funding raises capability" in html and "mean_capacity" in html
        assert f"citydip-verdict-{rec['verdict']}" in html and EXPLAIN[rec["verdict"]] in html
        # a claims.json of version 0.3: the Holm-adjusted headline and the replications used
        assert "verdict (Holm)" in html and "n used" in html
        assert f"<td>{rec['sequential']['n_used']}</td>" in html
        assert any("citydip-claims-json" in w._dom_classes for w in _images(rc))
        # an older claims.json (version 0.2: one verdict, no sequential procedure) shows its one verdict
        old = json.loads(json.dumps(doc))
        for c in old["claims"]:
            for k in ("verdict_adjusted", "sequential"):
                c.pop(k, None)
        old["claims"][0]["verdict"] = "undetermined"
        old["claims"][0].setdefault("conditions", {})["sentences"] = ["T1 holds where the pool is large."]
        older = tmp_path / "older.json"
        older.write_text(json.dumps(old))
        rc.find(v.TextField, label="claims.json of a finished run").widget.v_model = str(older)
        rc.find(v.Btn, children=["Open claims.json"]).widget.click()
        assert _wait(lambda: "T1 holds where the pool is large." in _html(rc), 30)
        html = _html(rc)
        assert "verdict (Holm)" not in html and "n used" not in html and "citydip-verdict-undetermined" in html
        # a wrong file: the error names it
        rc.find(v.TextField, label="claims.json of a finished run").widget.v_model = str(tmp_path / "none.json")
        rc.find(v.Btn, children=["Open claims.json"]).widget.click()
        rc.find(v.Alert).wait_for(timeout=10)
        assert "none.json" in str(rc.find(v.Alert).widget.children)
        rc.close()
    finally:
        CP.json_doc.set(None)
        CP.json_error.set("")
        CP.json_path.set(str(CP.DEFAULT_JSON))


def test_sidebar_controls_show_values_and_pending_note(app):
    import ipyvuetify as v

    m = app.AppModel()
    params = solara.reactive(app.initial_controls())
    _box, rc = solara.render(app.Controls(m, params), handle_error=False)
    labels = [w.label for w in rc.find(v.Slider).widgets]
    assert "Funding pool: 120 M USD/yr" in labels
    assert not rc.find(v.Alert).widgets
    params.set({**params.value, "pool": 60.0})
    rc.find(v.Alert).wait_for(timeout=5)
    assert "Pending until Reset: Funding pool: 60 M USD/yr" in str(rc.find(v.Alert).widget.children)
    assert "Funding pool: 60 M USD/yr" in [w.label for w in rc.find(v.Slider).widgets]
    rc.close()


# ------------------------------------------------------------------------------ run.py serve
def test_serve_rejects_bad_input_before_starting(tmp_path, capsys):
    import run

    assert run.main(["serve", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert run.main(["serve", "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


def test_serve_help_says_what_binding_to_all_interfaces_exposes(capsys):
    import run

    with pytest.raises(SystemExit):
        run.main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "127.0.0.1" in out and "0.0.0.0 exposes the app" in out


def test_serve_starts_solara_on_loopback_offline(monkeypatch, capsys):
    import run

    seen = {}

    def fake_execve(path, argv, env):
        seen.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(run.os, "execve", fake_execve)
    monkeypatch.delenv("SOLARA_TELEMETRY_MIXPANEL_ENABLE", raising=False)
    with pytest.raises(SystemExit):
        run.main(["serve", "scenarios/remedies.yaml", "--port", "9001"])
    argv, env = seen["argv"], seen["env"]
    assert argv[1:4] == ["-m", "solara", "run"] and argv[4].endswith("analysis/server/app.py")
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "9001"
    assert "--no-check-version" in argv and "--no-open" in argv
    assert env["CITYDIP_SCENARIO"] == str((C.ROOT / "scenarios" / "remedies.yaml").resolve())
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert str(C.ROOT) in env["PYTHONPATH"].split(os.pathsep)


# ------------------------------------------------------------------------------ a class can use it
def test_about_page_says_what_to_try_and_opens_the_docs(app):
    import ipyvuetify as v

    m = app.AppModel(scenario_file=SMALL_FILE)
    _box, rc = solara.render(app.AboutPage(m), handle_error=False)
    html = _html(rc)
    assert "What this is" in html and html.count("<li><b>") == 3  # three guided questions
    for path, heading in (("docs/ODD.md", "ODD description of the model"), ("docs/claims.md", "C1")):
        rc.find(v.Btn, children=[f"Open {path}"]).widget.click()
        card = next(w for w in rc.find(v.Card).widgets if "citydip-doc" in (w.class_ or ""))
        assert card.children[0].children == [path]  # the document, in the page (the app works offline)
        assert heading in str(card.children[1].children[0].unsafe_innerHTML)
    rc.find(v.Btn, children=["Hide docs/claims.md"]).widget.click()
    assert not [w for w in rc.find(v.Card).widgets if "citydip-doc" in (w.class_ or "")]
    rc.close()


def test_seed_and_overrides_are_checked_in_the_page(app):
    """A seed that is not a whole number and a typo in a Compare override each give one message in the
    page, naming the field; Run both is disabled until the overrides are right; nothing raises."""
    import ipyvuetify as v

    assert C.seed_error("7") == "" and C.seed_error("") == "" and C.seed_error(None) == ""
    msg = C.seed_error("abc")
    assert msg.startswith("Seed:") and "whole number" in msg and "'abc'" in msg
    assert C.seed_error("-3") and C.seed_error("1.5")
    m = app.AppModel(scenario_file=SMALL_FILE)
    params = solara.reactive({**app.initial_controls(), "seed": "abc"})
    _box, rc = solara.render(app.Controls(m, params), handle_error=False)
    assert rc.find(v.TextField, label="Seed").widget.error_messages == [msg] or "Seed: expected" in str(
        [w.children for w in rc.find(v.Alert).widgets])
    assert any("Seed: expected a whole number" in str(w.children) for w in rc.find(v.Alert).widgets)
    rc.close()
    # Compare: a misspelt field names the side, the override and the fields expected
    err = app.side_error(m, app.CURRENT, "resources.pol=60", "B")
    assert err.startswith("B, overrides: overrides resources.pol=60: unknown field 'pol'") and "pool" in err
    assert "expected a number" in app.side_error(m, app.CURRENT, "resources.pool=abc", "A")
    assert "expected dotted.key=VALUE" in app.side_error(m, app.CURRENT, "resources.pool", "A")
    assert app.side_error(m, app.CURRENT, "resources.pool=60", "A") == ""
    app.cmp_b_over.set("resources.pol=60")
    try:
        _box, rc = solara.render(app.CompareControls(m), handle_error=False)
        assert any("unknown field 'pol'" in str(w.children) for w in rc.find(v.Alert).widgets)
        assert rc.find(v.Btn, children=["Run both"]).widget.disabled
        rc.close()
    finally:
        app.cmp_b_over.set("")


def test_side_b_shows_the_files_remedies_and_never_doubles_one(app):
    """remedies.yaml already has a cross-network platform from 2000: picking it for side B lists its own
    remedies, drops the platform from B's extra remedies, and a run adds no second one."""
    import ipyvuetify as v

    m = app.AppModel(scenario_file=SMALL_FILE)
    own = C.scenario_remedies(C.file_scenario("scenarios/remedies.yaml"))
    assert ("cross_network_platform", 2000) in own
    cfg, added = app.side_scenario(m, "scenarios/remedies.yaml", "", ["cross_network_platform", "io_framework"])
    assert added == ["io_framework"]
    kinds = [iv.kind for iv in cfg.interventions]
    assert kinds.count("cross_network_platform") == 1 and kinds.count("io_framework") == 1
    src, over, rem = solara.reactive(app.CURRENT), solara.reactive(""), solara.reactive(["cross_network_platform"])
    _box, rc = solara.render(app.Side(m, "B", src, over, rem), handle_error=False)
    rc.find(v.Select, label="Scenario").widget.v_model = "scenarios/remedies.yaml"
    assert src.value == "scenarios/remedies.yaml" and rem.value == []
    html = _html(rc)
    assert "Remedies of the scenario itself: Cross-network platform from 2000" in html
    offered = rc.find(v.Select, label="More remedies (from the first year)").widget.items
    assert "cross_network_platform" not in [o if isinstance(o, str) else o.get("value") for o in offered]
    rc.close()


def test_downloads_give_the_runs_data_and_the_figure(app):
    import io

    import pandas as pd

    m = app.AppModel(scenario_file=SMALL_FILE)
    m.step()
    m.step()
    _box, rc = solara.render(app.RunPanel(m), handle_error=False)
    html = str([w for w in rc.find().widgets if "Download" in str(getattr(w, "children", ""))])
    assert "Download the run's data (CSV)" in html and "Download the figure (PNG)" in html
    rc.close()
    csv = pd.read_csv(io.StringIO(m.timeseries().to_csv(index=False)))
    assert list(csv["step"]) == [0, 1, 2]
    result = (("A", [m.timeseries()] * 3, m.cfg), ("B", [m.timeseries()] * 3, m.cfg), [1, 2, 3])
    both = pd.read_csv(io.StringIO(app.compare_csv(result)))
    assert list(both.columns[:3]) == ["side", "label", "seed"] and len(both) == 18
    assert set(both["side"]) == {"A", "B"} and sorted(set(both["seed"])) == [1, 2, 3]


def test_explore_panels_are_sized_for_a_classroom_screen(app):
    """At 1366 x 768 each Explore column is about 460 px wide: the figures are drawn at about that width
    (90 dpi), so that their text is shown at its own size: the key metrics in two columns, tick labels of
    at least 8 pt (10 px)."""
    m = app.AppModel(scenario_file=SMALL_FILE)
    m.step()
    fig = F.fig_timeseries_live(m, **app.EXPLORE_METRICS_KW)
    assert fig.get_figwidth() * fig.dpi <= 470
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(fig.axes) == 6 and len(rows) == 3  # two per row
    ax = fig.axes[0]
    assert min(t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()) >= 8
    assert ax.yaxis.label.get_fontsize() >= 8
    for w, _h in app.PANEL_SIZE.values():
        assert w * 90 <= 470
