"""The browser app: Mesa's SolaraViz server for the city-diplomacy model.

Start it with `python run.py serve [SCENARIO.yaml] [--host 127.0.0.1] [--port 8765]` (or
`solara run analysis/server/app.py`; the scenario then comes from $CITYDIP_SCENARIO, default
scenarios/baseline.yaml). It works offline: Solara's JavaScript comes from the solara-assets
package, the figures are PNG images drawn on the server by matplotlib.

Page 0 (explore): the sidebar holds Mesa's Reset / Play / Step and the controls (scenario file,
seed, levers, spillover channels, remedies); the main area shows the network ecosystem, the
cities, the key metrics over time, theme shares against Acuto and Rayner, the top networks and
the run's settings (with a switch to start a remedy in the running model from the next year).
Page 1 (compare): two scenarios or lever settings run side by side on the same metrics.

Controls take effect on Reset. A control left at its starting value (the value in the scenario
given to `serve`) keeps the picked scenario's own value; the "Run" panel shows what the current
model really uses.
"""

from __future__ import annotations

import os
import sys
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `solara run analysis/server/app.py` from anywhere
    sys.path.insert(0, str(ROOT))

import ipywidgets
import reacton.ipywidgets as rw
import solara
import solara.lab
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import force_update, update_counter

from analysis import figures as F
from analysis.server import controls as C
from analysis.server.claims_page import ClaimsControls, ClaimsFigures
from model import CityDiplomacyModel
from model.api import run_scenario
from model.config import ScenarioError
from model.loading import parse_overrides

ENV_SCENARIO = "CITYDIP_SCENARIO"
START_FILE = Path(os.environ.get(ENV_SCENARIO) or ROOT / "scenarios" / "baseline.yaml").resolve()
START_LABEL = C.display_path(START_FILE)
BASE_CFG, _ = C.build_scenario(START_FILE)
SCENARIOS = C.list_scenarios(START_FILE)
BASE_LEVERS = {lev.param: C.lever_value(BASE_CFG, lev.path) for lev in C.LEVERS}
CURRENT = "current run (sidebar settings)"


class AppModel(CityDiplomacyModel):
    """CityDiplomacyModel built from the app's controls (keyword arguments, as SolaraViz needs).

    Every control defaults to None, "keep the scenario's own value"; a value equal to the starting
    value of the control (the scenario given to `serve`) is treated the same way, so that picking
    another scenario file without touching a lever runs that file as written.
    """

    def __init__(self, scenario_file: str = START_LABEL, seed=None, pool=None, convergence=None,
                 invitation_share=None, openness_closed=None, partnered_share=None, city_first=None,
                 spillover_down=None, spillover_up=None, spillover_horizontal=None,
                 remedy_cross_network_platform=False, remedy_secretariat_exchange=False,
                 remedy_io_framework=False, remedy_city_first=False, remedy_open_knowledge=False,
                 remedy_extend_services=False, remedy_start=None):
        controls = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        cfg, label, overrides, notes = scenario_from_controls(controls)
        super().__init__(cfg)
        self.scenario_file = label
        self.app_overrides = overrides
        self.app_notes = notes
        self.live_remedies: list[tuple[str, int]] = []


def _parse_seed(seed):
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    try:
        v = int(str(seed).strip())
    except ValueError:
        return None
    return v if v >= 0 else None


def controls_to_overrides(controls: dict) -> tuple[dict, list[str], list[str], int | None]:
    """(dotted overrides, remedies, notes, remedy start year) from the app's control values."""
    overrides, notes = {}, []
    for lev in C.LEVERS:
        v = controls.get(lev.param)
        if v is None:
            continue
        v = bool(v) if lev.kind == "bool" else float(v)
        base = BASE_LEVERS[lev.param]
        untouched = v == base if lev.kind == "bool" else abs(v - base) <= lev.step / 2 + 1e-9  # slider snapping
        if not untouched:
            overrides[lev.path] = v
    seed = controls.get("seed")
    seed_value = _parse_seed(seed)
    if seed_value is None and seed not in (None, ""):
        notes.append(f"seed {seed!r} is not a whole number >= 0; the scenario's seed is used")
    elif seed_value is not None and seed_value != BASE_CFG.seed:
        overrides["seed"] = seed_value
    remedies = [k for k in C.REMEDIES if controls.get(f"remedy_{k}")]
    rs = controls.get("remedy_start")
    start = None if rs in (None, BASE_CFG.start_year) else int(rs)
    return overrides, remedies, notes, start


def scenario_from_controls(controls: dict):
    """(scenario, file label, overrides, notes) for the app's control values; a wrong file or
    value falls back to the starting scenario with a note (shown in the Run panel)."""
    overrides, remedies, notes, start = controls_to_overrides(controls)
    label = controls.get("scenario_file") or START_LABEL
    try:
        cfg, more = C.build_scenario(C.resolve_path(label), overrides, remedies, start)
    except ScenarioError as e:
        notes.append(f"error: {e}; running {START_LABEL} instead")
        label = START_LABEL
        cfg, more = C.build_scenario(START_FILE)
    return cfg, label, overrides, notes + more


def model_params() -> dict:
    """SolaraViz controls: scenario picker, seed, levers (sliders and switches), remedies."""
    p: dict = {
        "scenario_file": {"type": "Select", "value": START_LABEL, "values": SCENARIOS, "label": "Scenario file"},
        "seed": {"type": "InputText", "value": str(BASE_CFG.seed), "label": "Seed"},
    }
    for lev in C.LEVERS:
        v = BASE_LEVERS[lev.param]
        if lev.kind == "bool":
            p[lev.param] = {"type": "Checkbox", "value": bool(v), "label": lev.label}
        else:
            p[lev.param] = Slider(lev.label, value=float(v), min=lev.min, max=max(lev.max, float(v)), step=lev.step,
                                  dtype=float)
    for kind, label in C.REMEDIES.items():
        p[f"remedy_{kind}"] = {"type": "Checkbox", "value": False, "label": f"Remedy: {label}"}
    p["remedy_start"] = Slider("Remedies start (year)", value=BASE_CFG.start_year, min=BASE_CFG.start_year,
                               max=BASE_CFG.end_year, step=1, dtype=int)
    return p


# ---------------------------------------------------------------------------------------------
# Components of page 0 (each receives the current model; Mesa re-renders them after each step)


@solara.component
def PngFigure(build, dependencies: list, alt: str = ""):
    """A matplotlib figure (or PNG bytes) made by `build()`, shown as a PNG that fills the panel's width;
    drawn again only when `dependencies` change."""
    def draw():
        out = build()
        return out if isinstance(out, bytes) else F.figure_png(out)

    png = solara.use_memo(draw, dependencies)
    return rw.Image(value=png, format="png", layout=ipywidgets.Layout(width="100%", height="auto"),
                    _dom_classes=["citydip-figure", f"citydip-{alt}"] if alt else ["citydip-figure"])


def _deps(model) -> list:
    return [id(model), model.steps, update_counter.value]


@solara.component
def NetworkPanel(model):
    update_counter.get()
    PngFigure(lambda: F.fig_network(model), _deps(model), alt="network")


@solara.component
def CityPanel(model):
    update_counter.get()
    colour_by, set_colour_by = solara.use_state("memberships")
    with solara.Column(gap="0px"):
        solara.ToggleButtonsSingle(value=colour_by, values=["memberships", "practice"], on_value=set_colour_by,
                                   dense=True)
        PngFigure(lambda: F.fig_city_map(model, colour_by=colour_by), _deps(model) + [colour_by], alt="cities")


@solara.component
def MetricsPanel(model):
    update_counter.get()
    PngFigure(lambda: F.timeseries_png_live(model), _deps(model), alt="metrics")


@solara.component
def ThemePanel(model):
    update_counter.get()
    PngFigure(lambda: F.fig_theme_shares(C.current_theme_shares(model), model.year), _deps(model), alt="themes")


@solara.component
def TopNetworksPanel(model):
    update_counter.get()
    tab = C.top_networks(model, 10)
    title = f"Top networks by members, {model.year}"
    html = tab.to_html(index=False, border=0, classes="citydip-table", float_format=lambda x: f"{x:,.2f}")
    solara.HTML(tag="div", unsafe_innerHTML=f"<h4 style='margin:4px 0'>{title}</h4>{TABLE_CSS}{html}")


TABLE_CSS = """<style>
.citydip-table {border-collapse: collapse; font-size: 12px; width: 100%;}
.citydip-table th, .citydip-table td {padding: 2px 6px; text-align: left; border-bottom: 1px solid #ddd;}
.citydip-table td:nth-child(4), .citydip-table td:nth-child(5) {text-align: right;}
</style>"""


@solara.component
def RunPanel(model):
    """What the current model runs: file, year, levers, interventions; start a remedy now."""
    update_counter.get()
    cfg = model.cfg
    chosen, set_chosen = solara.use_state(next(iter(C.REMEDIES)))
    message, set_message = solara.use_state("")
    done = model.steps
    active = int(model.networks.active[:model.networks.n].sum())
    levers = ", ".join(f"{lev.path.split('.')[-1]} <b>{_fmt(C.lever_value(cfg, lev.path))}</b>" for lev in C.LEVERS)
    ivs = "; ".join(f"{iv.cfg.kind} {iv.start}" + (f"-{iv.end}" if iv.end is not None else "+")
                    for iv in model.interventions)
    solara.HTML(tag="div", unsafe_innerHTML=(
        f"<div class='citydip-run' style='font-size:13px;line-height:1.45'>"
        f"<b>Run</b> <code>{escape(cfg.name)}</code> from <code>{escape(model.scenario_file)}</code>, seed {cfg.seed}<br>"
        f"<b class='citydip-year'>{f'Year {model.year}' if done else f'Start (before {cfg.start_year})'}</b>, "
        f"<span class='citydip-step'>step {done} of {cfg.steps}</span>; {cfg.cities.n:,} cities, "
        f"{active} active networks<br><b>Levers:</b> {levers}<br>"
        f"<b>Interventions:</b> <span class='citydip-interventions'>{escape(ivs or 'none')}</span></div>"))
    for note in model.app_notes:
        solara.Warning(note, dense=True)

    def start_now():
        try:
            inst = C.add_remedy_now(model, chosen)
        except (ValueError, ScenarioError) as e:
            set_message(str(e))
            return
        model.live_remedies.append((chosen, inst.start))
        set_message(f"{chosen} starts in {inst.start}")
        force_update()

    with solara.Row(style={"align-items": "center"}):
        solara.Select("Remedy", values=list(C.REMEDIES), value=chosen, on_value=set_chosen, dense=True,
                      style={"max-width": "260px"})
        solara.Button("Start from next year", on_click=start_now, color="secondary", outlined=True, dense=True,
                      disabled=model.steps >= cfg.steps)
    if message:
        solara.Text(message, style={"font-size": "12px"})


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}"


# ---------------------------------------------------------------------------------------------
# Page 1: comparison


def run_side(model, source: str, overrides_text: str, remedies: list[str]):
    """Run one side of the comparison to the end; returns (label, time series, scenario)."""
    base = model.cfg if source == CURRENT else C.resolve_path(source)
    cfg, _ = C.build_scenario(base, parse_overrides(overrides_text, source="overrides"), remedies)
    res = run_scenario(cfg, tables=False)
    name = "current run" if source == CURRENT else Path(source).stem
    extra = [s.strip() for s in (overrides_text or "").replace(";", "\n").splitlines() if s.strip()]
    label = " + ".join([name] + extra + ([f"{len(remedies)} remedies"] if remedies else []))
    return label, res.timeseries, cfg


@solara.component
def Side(title: str, source, overrides, remedies):
    with solara.Card(title, margin=0, style={"margin-bottom": "8px"}):
        solara.Select("Scenario", values=[CURRENT] + SCENARIOS, value=source)
        solara.InputTextArea("Overrides (dotted.key=value, one a line)", value=overrides, rows=2,
                             continuous_update=True)
        solara.SelectMultiple("Remedies (from the first year)", remedies, list(C.REMEDIES), dense=True)


# The comparison's state: module-level reactive variables hold one value per browser session.
cmp_a_src = solara.reactive(CURRENT)
cmp_b_src = solara.reactive(CURRENT)
cmp_a_over = solara.reactive("")
cmp_b_over = solara.reactive("")
cmp_a_rem = solara.reactive([])
cmp_b_rem = solara.reactive(list(C.REMEDIES))
cmp_result = solara.reactive(None)  # ((label, timeseries, scenario) of A, of B)


@solara.component
def CompareControls(model):
    """Left half of the comparison: what A and B are, Run both, and the final values."""

    def run_both():
        a = run_side(model, cmp_a_src.value, cmp_a_over.value, cmp_a_rem.value)
        b = run_side(model, cmp_b_src.value, cmp_b_over.value, cmp_b_rem.value)
        cmp_result.set((a, b))
        return True

    task = solara.lab.use_task(run_both, dependencies=None, raise_error=False)
    solara.HTML(tag="div", unsafe_innerHTML=(
        "<h3>Compare two runs</h3><p style='font-size:13px'>Each side: a scenario file or the current run's "
        "settings (the sidebar's, as of the last Reset), optional overrides such as <code>resources.pool=60</code> "
        "and remedies from the first year. Both run to the end with their scenario's seed.</p>"))
    Side("A", cmp_a_src, cmp_a_over, cmp_a_rem)
    Side("B", cmp_b_src, cmp_b_over, cmp_b_rem)
    solara.Button("Run both", on_click=lambda: task(), color="primary", disabled=task.pending)
    solara.ProgressLinear(task.pending)
    if task.error:
        solara.Error(f"{task.exception}")
    result = cmp_result.value
    if result is not None:
        (la, ta, _), (lb, tb, _) = result
        tab = C.final_table(ta, tb, labels=("A", "B"))
        solara.HTML(tag="div", unsafe_innerHTML=(
            f"<p style='font-size:12px;margin-top:8px'>A: {escape(la)}<br>B: {escape(lb)}<br>final year</p>"
            + TABLE_CSS + tab.to_html(index=False, border=0, classes="citydip-table", float_format=lambda x: f"{x:.4g}")))


@solara.component
def CompareFigures(model):
    """Right half of the comparison: the key metrics and theme shares of A and B on the same axes."""
    result = cmp_result.value
    if result is None:
        solara.HTML(tag="p", unsafe_innerHTML="Choose A and B on the left and press <b>Run both</b>.")
        return
    (la, ta, ca), (lb, tb, cb) = result
    labels = (f"A: {la}", f"B: {lb}")
    PngFigure(lambda: F.fig_timeseries(ta, tb, labels=labels), [id(result)], alt="compare-metrics")
    PngFigure(lambda: F.fig_theme_shares(C.theme_shares_from_ts(ta, ca.issue_names), None,
                                         other=C.theme_shares_from_ts(tb, cb.issue_names), labels=labels),
              [id(result)], alt="compare-themes")


# ---------------------------------------------------------------------------------------------

COMPONENTS = [
    (MetricsPanel, 0), (NetworkPanel, 0), (ThemePanel, 0), (CityPanel, 0), (TopNetworksPanel, 0), (RunPanel, 0),
    (CompareControls, 1), (CompareFigures, 1), (ClaimsControls, 2), (ClaimsFigures, 2),
]


@solara.component
def Page():
    """One model per browser session."""
    model = solara.use_memo(AppModel, [])
    SolaraViz(model, components=COMPONENTS, model_params=model_params(), name="City diplomacy",
              play_interval=150)


page = Page
