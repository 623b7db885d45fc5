"""The browser app: the city-diplomacy model in Mesa's Solara visualisation.

Start it with `python run.py serve [SCENARIO.yaml] [--host 127.0.0.1] [--port 8765]` (or
`solara run analysis/server/app.py`; the scenario then comes from $CITYDIP_SCENARIO, default
scenarios/baseline.yaml). It works offline: Solara's JavaScript comes from the solara-assets
package, the figures are PNG images drawn on the server by matplotlib (analysis/figures/).

The page is built from Mesa's SolaraViz parts: Mesa's ModelController (Reset, Play, Step) drives
an `AppModel` built from the sidebar's controls (keyword arguments, as Mesa needs); the main
area has one tab per entry of `PAGES`, each named for what it shows (Mesa's own SolaraViz can only
number its pages "Page 0", "Page 1"):

- Explore: the key metrics over time (with the run's interventions shaded), the network
  ecosystem, theme shares against Acuto and Rayner, the cities, the top networks and the run's
  settings (with a switch to start a remedy in the running model from the next year);
- Compare: two scenarios or lever settings, each run with several seeds, side by side with bands;
- Claims: a claim of the literature (scenarios/claims/) run on a few seeds in the background, both
  arms over time with bands, its effect with its interval and verdict (supported, contradicted,
  negligible or undetermined, with its plain sentence), or a claims.json written by
  `python run.py claims` opened for reading (analysis/server/claims_page.py).

Controls take effect on Reset; until then a note says which changes are pending. Picking a
scenario file sets the seed and the levers to that file's values.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from html import escape
from pathlib import Path

import markdown
import pandas as pd
from mesa.visualization import Slider

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `solara run analysis/server/app.py` from anywhere
    sys.path.insert(0, str(ROOT))

import reacton.ipywidgets as rw
import solara
import solara.lab
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import force_update, update_counter

from analysis import figures as F
from analysis.server import controls as C
from analysis.server.claims_page import ClaimsPage
from model import CityDiplomacyModel
from model import metric_dictionary as MD
from model.api import run_scenario
from model.config import ScenarioError
from model.loading import parse_overrides
from model.randomness import replication_seeds

# Solara warns, for every browser connection over plain http, that its session cookie falls back to
# samesite=lax (12 lines each time). On the loopback address, the default, that is what should happen:
# the terminal stays quiet.
warnings.filterwarnings("ignore", message="Cookies with samesite=none require https", category=UserWarning)

ENV_SCENARIO = "CITYDIP_SCENARIO"
START_FILE = Path(os.environ.get(ENV_SCENARIO) or ROOT / "scenarios" / "baseline.yaml").resolve()
START_LABEL = C.display_path(START_FILE)
BASE_CFG, _ = C.build_scenario(START_FILE)
SCENARIOS = C.list_scenarios(START_FILE)
BASE_LEVERS = {lev.param: C.lever_value(BASE_CFG, lev.path) for lev in C.LEVERS}
CURRENT = "current run (sidebar settings)"
DEFAULT_SEEDS = 5

# Panel sizes for a 1366 x 768 screen (a classroom projector): each of the Explore page's two columns is
# about 460 px wide, so figures 5.1 in wide at 90 dpi are shown at their own size, and their text at
# 9-11 px stays readable; the key metrics in two columns of three.
PANEL_SIZE = {"network": (5.1, 4.3), "cities": (5.1, 3.5), "themes": (5.1, 3.3)}
EXPLORE_METRICS_KW = {"ncols": 2, "figsize": (5.1, 6.6), "font": 9.0}
# the Compare page's right column (3/5 of the main area) is about 560 px wide
COMPARE_METRICS_KW = {"ncols": 2, "figsize": (6.2, 7.0), "font": 9.0}
COMPARE_THEMES_SIZE = (6.2, 3.4)

# One switch per remedy of the intervention registry (controls.REMEDIES: the kinds marked `remedy`), named
# remedy_<kind>, off by default: a new remedy appears in the app without editing it.
REMEDY_SWITCHES = [f"remedy_{kind}" for kind in C.REMEDIES]


class AppModel(CityDiplomacyModel):
    """CityDiplomacyModel built from the app's controls (keyword arguments, as Mesa's controller needs).

    Every control defaults to None, "keep the scenario file's own value"; a value equal to the
    picked file's own value is treated the same way, so that the file runs as written. The remedy
    switches (REMEDY_SWITCHES, default False) are keyword arguments too; the signature names each one.
    """

    def __init__(self, scenario_file: str = START_LABEL, seed=None, pool=None, convergence=None,
                 invitation_share=None, openness_closed=None, partnered_share=None, city_first=None,
                 spillover_down=None, spillover_up=None, spillover_horizontal=None, remedy_start=None,
                 **remedies):
        for name in remedies:
            if name not in REMEDY_SWITCHES:
                raise TypeError(f"AppModel.__init__() got an unexpected keyword argument '{name}'")
        controls = {k: v for k, v in locals().items() if k not in ("self", "__class__", "remedies", "name")}
        controls.update({name: remedies.get(name, False) for name in REMEDY_SWITCHES})
        cfg, label, overrides, notes = scenario_from_controls(controls)
        super().__init__(cfg, rng=cfg.seed)  # the scenario's seed (shown in the app), not a fresh one
        self.scenario_file = label
        self.app_overrides = overrides
        self.app_notes = notes
        self.live_remedies: list[tuple[str, int]] = []


def _signature_with_switches(init):
    """`init`'s signature with one keyword argument per remedy switch in place of **remedies (what Mesa's
    controller and its parameter check read)."""
    sig = inspect.signature(init)
    params = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False) for name in REMEDY_SWITCHES]
    return sig.replace(parameters=params)


AppModel.__init__.__signature__ = _signature_with_switches(AppModel.__init__)


def _parse_seed(seed):
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    try:
        v = int(str(seed).strip())
    except ValueError:
        return None
    return v if v >= 0 else None


def controls_to_overrides(controls: dict, base=None) -> tuple[dict, list[str], list[str], int | None]:
    """(dotted overrides, remedies, notes, remedy start year) from the app's control values; a
    control equal to the value of `base` (the picked file's scenario; default: the served file's)
    is no override."""
    base = BASE_CFG if base is None else base
    overrides, notes = {}, []
    for lev in C.LEVERS:
        v = controls.get(lev.param)
        if v is None:
            continue
        v = bool(v) if lev.kind == "bool" else float(v)
        own = C.lever_value(base, lev.path)
        untouched = v == own if lev.kind == "bool" else abs(v - own) <= lev.step / 2 + 1e-9  # slider snapping
        if not untouched:
            overrides[lev.path] = v
    seed = controls.get("seed")
    seed_value = _parse_seed(seed)
    if seed_value is None and seed not in (None, ""):
        notes.append(f"seed {seed!r} is not a whole number >= 0; the scenario's seed is used")
    elif seed_value is not None and seed_value != base.seed:
        overrides["seed"] = seed_value
    remedies = [k for k in C.REMEDIES if controls.get(f"remedy_{k}")]
    rs = controls.get("remedy_start")
    start = None if rs in (None, base.start_year) else int(rs)
    return overrides, remedies, notes, start


def scenario_from_controls(controls: dict):
    """(scenario, file label, overrides, notes) for the app's control values; a wrong file or
    value falls back to the starting scenario with a note (shown in the Run panel)."""
    label = controls.get("scenario_file") or START_LABEL
    try:
        base = C.file_scenario(label)
        overrides, remedies, notes, start = controls_to_overrides(controls, base)
        cfg, more = C.build_scenario(C.resolve_path(label), overrides, remedies, start)
    except ScenarioError as e:
        overrides, remedies, notes, start = controls_to_overrides(controls)
        notes.append(f"error: {e}; running {START_LABEL} instead")
        label = START_LABEL
        cfg, more = C.build_scenario(START_FILE)
        overrides = {}
    return cfg, label, overrides, notes + more


def initial_controls() -> dict:
    """The sidebar's values at start: the served file's seed and levers, no remedy."""
    out = C.sidebar_values(BASE_CFG, START_LABEL)
    out.update({f"remedy_{k}": False for k in C.REMEDIES})
    out["remedy_start"] = BASE_CFG.start_year
    return out


def pending_changes(controls: dict, model) -> list[str]:
    """What Reset would change: the settings whose value in the sidebar differs from the running
    model's (empty when the sidebar matches the model)."""
    cfg, label, _, _ = scenario_from_controls(controls)
    out = []
    if label != model.scenario_file:
        out.append(f"scenario file {label}")
    if cfg.seed != model.cfg.seed:
        out.append(f"seed {cfg.seed}")
    for lev in C.LEVERS:
        a, b = C.lever_value(cfg, lev.path), C.lever_value(model.cfg, lev.path)
        if a != b:
            out.append(lev.text(a) if lev.kind != "bool" else f"{lev.label} {'on' if a else 'off'}")
    if label == model.scenario_file:
        mine = [(iv.kind, iv.start) for iv in cfg.interventions]
        theirs = [(iv.kind, iv.start) for iv in model.cfg.interventions]
        if mine != theirs:
            out.append("remedies")
    return out


def model_params() -> dict:
    """The controls in Mesa's model_params format (used by tests and notebooks that drive the app
    with Mesa's own ModelCreator): scenario picker, seed, levers, remedies."""
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
# The sidebar: scenario file, seed, levers, remedies (controlled by one reactive dict of values)


def _slider_max(lev) -> float:
    """A slider's top: the lever's range, widened to the largest value of any offered scenario."""
    vals = [lev.max]
    for label in SCENARIOS:
        try:
            vals.append(float(C.lever_value(C.file_scenario(label), lev.path)))
        except ScenarioError:
            continue
    return max(vals)


@solara.component
def Controls(model, params: solara.Reactive):
    """The sidebar's controls. Picking a scenario file sets the seed and levers to its values; every
    change waits for Reset, and a note says so."""
    values = params.value

    def set_value(name, value):
        params.set({**params.value, name: value})

    def pick_file(label):
        try:
            cfg = C.file_scenario(label)
        except ScenarioError as e:
            set_value("scenario_file", label)
            set_error(str(e))
            return
        set_error("")
        new = {**params.value, **C.sidebar_values(cfg, label)}
        rs = new.get("remedy_start")
        if rs is None or not cfg.start_year <= int(rs) <= cfg.end_year:
            new["remedy_start"] = cfg.start_year
        params.set(new)

    error, set_error = solara.use_state("")
    key = tuple(sorted((k, str(v)) for k, v in values.items()))
    pending = solara.use_memo(lambda: pending_changes(values, model), [key, id(model)])
    try:
        file_cfg = C.file_scenario(values["scenario_file"])
    except ScenarioError:
        file_cfg = BASE_CFG
    if pending:
        solara.Warning(f"Pending until Reset: {', '.join(pending)}.", dense=True,
                       classes=["citydip-pending"])
    solara.Select("Scenario file", values=SCENARIOS, value=values["scenario_file"], on_value=pick_file)
    if error:
        solara.Error(error, dense=True)
    seed_msg = C.seed_error(values.get("seed"))
    solara.InputText("Seed", value=str(values.get("seed", "")), on_value=lambda v: set_value("seed", v),
                     continuous_update=True, error=bool(seed_msg), classes=["citydip-seed"])
    if seed_msg:  # the field turns red; the message stands under it
        solara.Error(f"{seed_msg}; Reset keeps the scenario's seed until it is one.", dense=True,
                     classes=["citydip-input-error"])
    for lev in C.LEVERS:
        if lev.kind == "bool":
            solara.Checkbox(label=lev.label, value=bool(values.get(lev.param)),
                            on_value=lambda v, n=lev.param: set_value(n, v))
        else:
            solara.SliderFloat(lev.text(values.get(lev.param, 0.0)), value=float(values.get(lev.param, 0.0)),
                               min=lev.min, max=_slider_max(lev), step=lev.step,
                               on_value=lambda v, n=lev.param: set_value(n, v))
    solara.HTML(tag="div", unsafe_innerHTML="<b style='font-size:13px'>Remedies</b> (added to the file's "
                "interventions, default parameters)")
    for kind, label in C.REMEDIES.items():
        solara.Checkbox(label=f"Remedy: {label}", value=bool(values.get(f"remedy_{kind}")),
                        on_value=lambda v, n=f"remedy_{kind}": set_value(n, v))
    start = int(values.get("remedy_start") or file_cfg.start_year)
    solara.SliderInt(f"Remedies start: {start}", value=start, min=file_cfg.start_year, max=file_cfg.end_year,
                     on_value=lambda v: set_value("remedy_start", v))


# ---------------------------------------------------------------------------------------------
# Components of the Explore page (each receives the current model; they draw again after each step)


@solara.component
def PngFigure(build, dependencies: list, alt: str = ""):
    """A matplotlib figure (or PNG bytes) made by `build()`, shown as a PNG that fills the panel's width;
    drawn again only when `dependencies` change."""
    def draw():
        out = build()
        return out if isinstance(out, bytes) else F.figure_png(out)

    png = solara.use_memo(draw, dependencies)
    # sized by the page's CSS (.citydip-figure), not by an ipywidgets Layout: a Layout made at each render
    # is a new widget sent to the browser with every step
    return rw.Image(value=png, format="png",
                    _dom_classes=["citydip-figure", f"citydip-{alt}"] if alt else ["citydip-figure"])


def _deps(model, tick: int) -> list:
    return [id(model), model.steps, tick]


def metric_caption(names: list[str]) -> str:
    """HTML lines that explain metric panels from the metric dictionary: title, unit and meaning."""
    items = []
    for n in names:
        m = MD.describe(n)
        items.append(f"<li title='{escape(m.name)} (docs/ODD.md section {m.odd})'><b>{escape(m.title)}</b> "
                     f"<span style='color:#666'>[{escape(m.unit)}]</span>: {escape(m.meaning)}</li>")
    return ("<ul class='citydip-caption' style='font-size:11.5px;line-height:1.3;margin:2px 0 6px 16px;"
            "padding:0'>" + "".join(items) + "</ul>")


def _caption(text: str) -> str:
    return f"<div class='citydip-caption' style='font-size:11.5px;line-height:1.3;margin:2px 0 6px'>{text}</div>"


@solara.component
def NetworkPanel(model, tick: int = 0):
    with solara.Column(gap="0px"):
        PngFigure(lambda: F.network_png_live(model, figsize=PANEL_SIZE["network"]), _deps(model, tick), alt="network")
        solara.HTML(tag="div", unsafe_innerHTML=_caption(
            "Each node is an operating network (active, with members; the 60 largest when there are more): colour its theme, marker its "
            "membership rule, size its members; lines join networks that share members (each network's four "
            "strongest links; darker: more shared members). Real "
            "networks carry their names; networks that share no member with the others shown stand in a row below."))


@solara.component
def CityPanel(model, tick: int = 0):
    colour_by, set_colour_by = solara.use_state("memberships")
    with solara.Column(gap="0px"):
        solara.ToggleButtonsSingle(value=colour_by, values=["memberships", "practice"], on_value=set_colour_by,
                                   dense=True)
        PngFigure(lambda: F.city_png_live(model, colour_by, figsize=PANEL_SIZE["cities"]), _deps(model, tick) + [colour_by],
                  alt="cities")
        solara.HTML(tag="div", unsafe_innerHTML=_caption(
            "Every city (a sample at world scale): real cities at their coordinates, synthetic ones laid out by "
            "region with the largest in the middle. Colour: its number of memberships, or its mean practice "
            "(0-1) over all issues."))


@solara.component
def MetricsPanel(model, tick: int = 0):
    with solara.Column(gap="0px"):
        PngFigure(lambda: F.timeseries_png_live(model, **EXPLORE_METRICS_KW), _deps(model, tick), alt="metrics")
        solara.HTML(tag="div", unsafe_innerHTML=metric_caption(F.HEADLINE))


@solara.component
def ThemePanel(model, tick: int = 0):
    with solara.Column(gap="0px"):
        PngFigure(lambda: F.theme_png_live(model, C.current_theme_shares(model), figsize=PANEL_SIZE["themes"]),
                  _deps(model, tick), alt="themes")
        meta = MD.describe(f"theme_share_{model.issue_names[0]}")
        solara.HTML(tag="div", unsafe_innerHTML=_caption(
            f"<b>Theme shares</b> [{escape(meta.unit)}]: share of operating networks whose primary theme is each issue, "
            "beside the shares Acuto and Rayner (2016) report for 170 networks (they report five themes)."))


@solara.component
def TopNetworksPanel(model, tick: int = 0):
    tab = C.top_networks(model, 10)
    title = f"Top networks by members, {F.when(model)}"
    html = tab.to_html(index=False, border=0, classes="citydip-table", float_format=lambda x: f"{x:,.2f}")
    solara.HTML(tag="div", unsafe_innerHTML=f"<h4 style='margin:4px 0'>{title}</h4>{TABLE_CSS}{html}"
                "<div style='font-size:11px;color:#666'>funds: yearly income, million USD</div>")


TABLE_CSS = """<style>
.citydip-table {border-collapse: collapse; font-size: 12px; width: 100%;}
.citydip-table th, .citydip-table td {padding: 2px 6px; text-align: left; border-bottom: 1px solid #ddd;}
.citydip-table td:nth-child(n+2) {white-space: nowrap;}
</style>"""


@solara.component
def RunPanel(model, tick: int = 0):
    """What the current model runs: file, year, levers, interventions; start a remedy now."""
    cfg = model.cfg
    chosen, set_chosen = solara.use_state(next(iter(C.REMEDIES)))
    message, set_message = solara.use_state("")
    done = model.steps
    active = int(model.networks.operating().sum())  # as the metrics count them (n_networks)
    levers = ", ".join(f"{lev.path.split('.')[-1]} <b>{_fmt(C.lever_value(cfg, lev.path))}</b>" for lev in C.LEVERS)
    ivs = "; ".join(f"{iv.cfg.kind} {iv.start}" + (f"-{iv.end}" if iv.end is not None else "+")
                    for iv in model.interventions)
    solara.HTML(tag="div", unsafe_innerHTML=(
        f"<div class='citydip-run' style='font-size:13px;line-height:1.45'>"
        f"<b>Run</b> <code>{escape(cfg.name)}</code> from <code>{escape(model.scenario_file)}</code>, seed {cfg.seed}<br>"
        f"<b class='citydip-year'>{f'Year {model.year}' if done else f'Start (before {cfg.start_year})'}</b>, "
        f"<span class='citydip-step'>step {done} of {cfg.steps}</span>; "
        f"<span class='citydip-city-count'>{model.cities.n:,} cities</span>, "
        f"{active} operating networks<br><b>Levers:</b> {levers}<br>"
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
    RunDownloads(model)


@solara.component
def RunDownloads(model):
    """The run's data so far (CSV) and its key-metrics figure (PNG), made when clicked. A component of its
    own that does not follow the steps, so that a Step does not draw the buttons again."""
    cfg = model.cfg

    def figure():
        return F.figure_png(F.fig_timeseries(model.timeseries(), years=(cfg.start_year, cfg.end_year),
                                             periods=F.intervention_periods(model.interventions), **EXPLORE_METRICS_KW))

    with solara.Row(classes=["citydip-downloads"], style={"flex-wrap": "wrap", "row-gap": "6px"}):
        solara.FileDownload(lambda: model.timeseries().to_csv(index=False), filename=f"{cfg.name}-seed{cfg.seed}.csv",
                            label="Download the run's data (CSV)", mime_type="text/csv")
        solara.FileDownload(figure, filename=f"{cfg.name}-seed{cfg.seed}-key-metrics.png",
                            label="Download the figure (PNG)", mime_type="image/png")


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}"


FOOTER_ROOM = "<div class='citydip-footer-room' style='height:24px'></div>"

# Solara's "This website runs on Solara" banner stays at the bottom right of the window over whatever
# scrolls beneath it (figures included): it is hidden, and the sidebar credits Mesa and Solara instead.
PAGE_CSS = """
.citydip-figure {width: 100%; height: auto;}
.v-application--wrap > div > div[style*="position: absolute"][style*="bottom: 0px"] {display: none;}
.v-input__slider .v-input__slot {flex-wrap: wrap;}
.v-input__slider .v-input__slot > .v-label {flex: 0 0 100%; margin-bottom: -4px; white-space: normal;}
"""  # second rule: a slider's label (with its value and unit) on its own line, the slider at full width


@solara.component
def ExplorePage(model):
    """The Explore tab. It alone follows Mesa's update counter and hands it to its panels as `tick`: each
    reactive listener is a render pass of its own, so six panels listening made six passes over the
    whole page per Step; one listener makes one."""
    tick = update_counter.get()
    with solara.Columns([1, 1], gutters_dense=True):
        with solara.Column(gap="8px"):
            MetricsPanel(model, tick)
            ThemePanel(model, tick)
            TopNetworksPanel(model, tick)
        with solara.Column(gap="8px"):
            NetworkPanel(model, tick)
            CityPanel(model, tick)
            RunPanel(model, tick)
    solara.HTML(tag="div", unsafe_innerHTML=FOOTER_ROOM)


# ---------------------------------------------------------------------------------------------
# The Compare page


def side_base(model, source: str):
    """The scenario a Compare side starts from: the current run's or a file's (as written)."""
    return model.cfg if source == CURRENT else C.file_scenario(source)


def side_scenario(model, source: str, overrides_text: str, remedies: list[str]):
    """(scenario, remedies added) of one Compare side: its base with the overrides and the chosen
    remedies the base does not already have (a remedy is never added twice). Raises ScenarioError
    with a message that names the field."""
    base = model.cfg if source == CURRENT else C.resolve_path(source)
    own = side_base(model, source)
    added = C.new_remedies(own, remedies)
    cfg, _ = C.build_scenario(base, parse_overrides(overrides_text, source="overrides"), added)
    return cfg, added


def side_error(model, source: str, overrides_text: str, name: str) -> str:
    """'' when a Compare side can run, else one readable message naming the side and the field."""
    try:
        side_scenario(model, source, overrides_text, [])
    except ScenarioError as e:
        return f"{name}, overrides: " + str(e).replace(str(C.ROOT) + "/", "")
    return ""


def run_side(model, source: str, overrides_text: str, remedies: list[str], seeds: list[int] | None = None,
             progress=None):
    """Run one side of the comparison to the end with each seed of `seeds` (default: the side's own
    seed); returns (label, [time series, one per seed], scenario). `progress()` after each run."""
    cfg, added = side_scenario(model, source, overrides_text, remedies)
    runs = []
    for s in seeds if seeds else [cfg.seed]:
        runs.append(run_scenario(cfg, seed=s, tables=False).timeseries)
        if progress is not None:
            progress()
    name = "current run" if source == CURRENT else Path(source).stem
    extra = [s.strip() for s in (overrides_text or "").replace(";", "\n").splitlines() if s.strip()]
    label = " + ".join([name] + extra + [C.REMEDIES[r] for r in added])
    own = C.scenario_remedies(side_base(model, source))
    if own:
        label += " (its own remedies: " + ", ".join(f"{C.REMEDIES[k]} from {y}" for k, y in own) + ")"
    return label, runs, cfg


@solara.component
def Side(model, title: str, source, overrides, remedies):
    """One Compare side: scenario, overrides (checked as they are typed), remedies. The scenario's own
    remedies are listed and not offered again, so that none is added twice."""
    try:
        own = C.scenario_remedies(side_base(model, source.value))
    except ScenarioError:
        own = []
    own_kinds = {k for k, _ in own}
    offered = [k for k in C.REMEDIES if k not in own_kinds]

    def pick(label):
        source.set(label)
        try:
            theirs = {k for k, _ in C.scenario_remedies(side_base(model, label))}
        except ScenarioError:
            theirs = set()
        remedies.set([k for k in remedies.value if k not in theirs])  # never twice
    err = solara.use_memo(lambda: side_error(model, source.value, overrides.value, title),
                          [source.value, overrides.value, id(model)])
    with solara.Card(title, margin=0, style={"margin-bottom": "8px"}, classes=[f"citydip-side-{title}"]):
        solara.Select("Scenario", values=[CURRENT] + SCENARIOS, value=source.value, on_value=pick)
        solara.InputTextArea("Overrides (dotted.key=value, one a line)", value=overrides, rows=2,
                             continuous_update=True, error=bool(err))
        if err:
            solara.Error(err, dense=True, classes=["citydip-input-error"])
        if own:
            solara.HTML(tag="div", unsafe_innerHTML=(
                "<div class='citydip-own-remedies' style='font-size:12px;color:#444'>Remedies of the scenario itself: "
                + escape(", ".join(f"{C.REMEDIES[k]} from {y}" for k, y in own)) + "</div>"))
        solara.SelectMultiple("More remedies (from the first year)", [k for k in remedies.value if k in offered],
                              offered, on_value=remedies.set)


# The comparison's state: module-level reactive variables hold one value per browser session.
cmp_a_src = solara.reactive(CURRENT)
cmp_b_src = solara.reactive(CURRENT)
cmp_a_over = solara.reactive("")
cmp_b_over = solara.reactive("")
cmp_a_rem = solara.reactive([])
cmp_b_rem = solara.reactive([next(iter(C.REMEDIES))])  # one remedy, so that A and B differ at first
cmp_seeds = solara.reactive(DEFAULT_SEEDS)
cmp_done = solara.reactive(0)
cmp_result = solara.reactive(None)  # ((label, [timeseries...], scenario) of A, of B, seeds)


@solara.component
def CompareControls(model):
    """Left part of the comparison: what A and B are, how many seeds, Run both."""

    def run_both():
        n = max(1, int(cmp_seeds.value))
        seeds = replication_seeds(model.cfg.seed, n)
        cmp_done.set(0)

        def tick():
            cmp_done.set(cmp_done.value + 1)

        try:
            a = run_side(model, cmp_a_src.value, cmp_a_over.value, cmp_a_rem.value, seeds, tick)
            b = run_side(model, cmp_b_src.value, cmp_b_over.value, cmp_b_rem.value, seeds, tick)
        except (ScenarioError, ValueError, MemoryError) as e:  # shown in the page, not as a traceback
            return str(e).replace(str(C.ROOT) + "/", "")
        cmp_result.set((a, b, seeds))
        return ""

    task = solara.lab.use_task(run_both, dependencies=None, raise_error=False)
    sides = (cmp_a_src.value, cmp_a_over.value, cmp_b_src.value, cmp_b_over.value)
    errors = solara.use_memo(lambda: [e for e in (side_error(model, sides[0], sides[1], "A"),
                                                  side_error(model, sides[2], sides[3], "B")) if e],
                             [*sides, id(model)])  # not again at each progress tick
    solara.HTML(tag="div", unsafe_innerHTML=(
        "<h3>Compare two runs</h3><p style='font-size:13px'>Each side: a scenario file or the current run's "
        "settings (the sidebar's, as of the last Reset), optional overrides such as <code>resources.pool=60</code> "
        "and remedies from the first year. Both sides run with the same seeds, so that the bands show the "
        "noise between seeds and a difference between A and B can be judged against it.</p>"))
    Side(model, "A", cmp_a_src, cmp_a_over, cmp_a_rem)
    Side(model, "B", cmp_b_src, cmp_b_over, cmp_b_rem)
    solara.SliderInt(f"Seeds per side: {cmp_seeds.value}", value=cmp_seeds, min=1, max=20)
    if cmp_seeds.value < C.MIN_SEEDS_APART:
        solara.Text(f"With fewer than {C.MIN_SEEDS_APART} seeds per side the table cannot say whether A and B "
                    "are apart.", style={"font-size": "12px", "color": "#8a5a00"})
    solara.Button("Run both", on_click=lambda: task(), color="primary", disabled=task.pending or bool(errors))
    if errors:
        solara.Text("Fix the overrides above to run.", style={"font-size": "12px"})
    total = 2 * max(1, int(cmp_seeds.value))
    solara.ProgressLinear(100 * cmp_done.value / total if task.pending else False)
    if task.pending:
        solara.Text(f"{cmp_done.value} of {total} runs done", style={"font-size": "12px"})
    if task.finished and task.value:
        solara.Error(task.value, classes=["citydip-input-error"])
    if task.error:  # anything unforeseen: its message, not a traceback
        solara.Error(f"The comparison failed: {task.exception}")


def compare_table_html(tab) -> str:
    """The comparison table as HTML that fits a half page: each side's range under its mean, in small type."""
    def cell(col, v):
        v = escape(str(v))
        if col in ("A", "B") and " (" in v:
            mean, rng = v.split(" (", 1)
            return f"{mean}<br><span style='font-size:10.5px;color:#666'>({rng}</span>"
        return v
    head = "".join(f"<th>{escape(c)}</th>" for c in tab.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(c, r[c])}</td>" for c in tab.columns) + "</tr>"
                   for _, r in tab.iterrows())
    return f"<table class='citydip-table citydip-compare-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compare_csv(result) -> str:
    """Every run of both sides as one CSV: side, label, seed, then the time series' columns."""
    (la, ra, _), (lb, rb, _), seeds = result
    frames = []
    for side, label, runs in (("A", la, ra), ("B", lb, rb)):
        for seed, ts in zip(seeds, runs):
            frames.append(ts.assign(side=side, label=label, seed=seed))
    df = pd.concat(frames, ignore_index=True)
    return df[["side", "label", "seed"] + [c for c in df.columns if c not in ("side", "label", "seed")]].to_csv(index=False)


@solara.component
def CompareResults(model):
    """Right part of the comparison: the table of final values, the key metrics and theme shares of A and
    B (mean and range over seeds), and downloads."""
    result = cmp_result.value
    if result is None:
        solara.HTML(tag="p", unsafe_innerHTML="Choose A and B on the left and press <b>Run both</b>.")
        return
    (la, ra, ca), (lb, rb, cb), seeds = result
    tab = C.compare_table(ra, rb)
    solara.HTML(tag="div", unsafe_innerHTML=(
        f"<p class='citydip-compare-labels' style='font-size:12.5px;margin:4px 0'><b>A:</b> {escape(la)}<br>"
        f"<b>B:</b> {escape(lb)}<br>final year, {len(seeds)} seed{'s' if len(seeds) > 1 else ''} per side: mean "
        f"(lowest to highest over the seeds); {escape(C.apart_note(len(ra), len(rb)))}</p>" + TABLE_CSS
        + compare_table_html(tab)))
    periods = F.intervention_periods(ca.interventions) if ca.interventions == cb.interventions else []

    def metrics_fig():
        return F.fig_compare([("A", ra), ("B", rb)], periods=periods, **COMPARE_METRICS_KW)

    PngFigure(metrics_fig, [id(result)], alt="compare-metrics")
    solara.HTML(tag="div", unsafe_innerHTML=metric_caption(F.HEADLINE))

    def shares(runs, issues):
        per = [C.theme_shares_from_ts(r, issues) for r in runs]
        mean = {i: sum(p[i] for p in per) / len(per) for i in issues}
        rng = {i: (min(p[i] for p in per), max(p[i] for p in per)) for i in issues}
        return mean, rng

    (ma, ga), (mb, gb) = shares(ra, ca.issue_names), shares(rb, cb.issue_names)
    PngFigure(lambda: F.fig_theme_shares(ma, None, other=mb, labels=("A", "B"), shares_range=ga, other_range=gb,
                                         range_label=f"mean; error bars: range of {len(seeds)} seeds",
                                         figsize=COMPARE_THEMES_SIZE),
              [id(result)], alt="compare-themes")
    with solara.Row(classes=["citydip-downloads"], style={"flex-wrap": "wrap", "row-gap": "6px"}):
        solara.FileDownload(lambda: compare_csv(result), filename="compare-runs.csv",
                            label="Download the runs (CSV)", mime_type="text/csv")
        solara.FileDownload(lambda: F.figure_png(metrics_fig()), filename="compare-metrics.png",
                            label="Download the figure (PNG)", mime_type="image/png")


@solara.component
def ComparePage(model):
    with solara.Columns([2, 3], gutters_dense=True):
        with solara.Column():
            CompareControls(model)
        with solara.Column():
            CompareResults(model)
    solara.HTML(tag="div", unsafe_innerHTML=FOOTER_ROOM)


# ---------------------------------------------------------------------------------------------
# The About page: what the model is, three questions a class can answer with the app, the docs

DOCS = {"docs/ODD.md": "the model, described by the ODD protocol: every rule and every metric",
        "docs/claims.md": "the claims of the literature the model tests (C1-C8) and how each is judged"}

ABOUT_HTML = """
<div class='citydip-about' style='font-size:14px;line-height:1.5;max-width:60em'>
<h3>What this is</h3>
<p>An agent-based model of <b>city diplomacy</b>: cities join international city networks (C40, ICLEI,
UCLG and many synthetic ones), learn solutions through them and compete with other networks for a
limited pool of international funding. Each step is one year (1980-2024 in the baseline). The model
was built to test what the research literature claims about city networks: that competition for money
fragments them, that invitation-only "small circles" leave others out, that what cities learn spills
over to residents and national governments, and that remedies such as cross-network platforms help.</p>
<p><b>Explore</b> runs one world step by step (Step, Play; the sidebar's levers take effect on Reset).
<b>Compare</b> runs two settings side by side with several seeds each, so that a difference can be
told from chance. <b>Claims</b> tests one claim of the literature and gives its verdict.</p>
<h3>Three questions to try first</h3>
<ol>
<li><b>Does more money mean less fragmentation?</b> On <b>Compare</b>, leave A as the current run, write
<code>resources.pool=400</code> in B's overrides (and remove B's remedy), keep 5 seeds and press
<b>Run both</b>. Is the fragmentation index of B lower, and are the two ranges <i>apart</i>?</li>
<li><b>Who is left out by invitation-only networks?</b> On <b>Explore</b>, move <i>Invitation-only share</i>
to 0.6 in the sidebar, press <b>Reset</b> and <b>Play</b>. Watch non-member access (1 = no gap) and the
North - South capability gap; then compare 0.6 with 0.15 on <b>Compare</b>
(<code>networks.invitation_share=0.6</code>).</li>
<li><b>Does a cross-network platform cut duplication?</b> On <b>Compare</b>, give B the remedy
<i>Cross-network platform</i> and run both sides: look at the duplication ratio. Then open <b>Claims</b>,
pick <i>C4: Cooperation as remedy</i> and press <b>Run both arms</b>: is the claim supported,
contradicted, negligible or undetermined with the seeds you ran?</li>
</ol>
<p style='font-size:13px;color:#444'>The Run panel (Explore) and a finished comparison each have two buttons:
the run's data as CSV (one row a year, for a spreadsheet) and the key-metrics figure as PNG.</p>
<h3>Documentation</h3>
</div>"""


def doc_html(path: str) -> str:
    """One of the project's documents as HTML, converted on the server (solara.Markdown would fetch its
    maths renderer from the internet; the app works offline)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    return ("<div class='citydip-doc-text' style='font-size:14px;line-height:1.5'>"
            + markdown.markdown(text, extensions=["tables", "fenced_code"]) + "</div>" + TABLE_CSS)


@solara.component
def AboutPage(model):
    shown, set_shown = solara.use_state("")
    solara.HTML(tag="div", unsafe_innerHTML=ABOUT_HTML)
    with solara.Column(gap="4px"):
        for path, what in DOCS.items():
            with solara.Row(style={"align-items": "center"}):
                solara.Button(f"{'Hide' if shown == path else 'Open'} {path}", text=True, color="primary",
                              on_click=lambda p=path: set_shown("" if shown == p else p), classes=["citydip-doc-link"])
                solara.Text(what, style={"font-size": "13px"})
    html = solara.use_memo(lambda: doc_html(shown) if shown else "", [shown])
    if shown:
        with solara.Card(shown, classes=["citydip-doc"], style={"max-height": "70vh", "overflow-y": "auto"}):
            solara.HTML(tag="div", unsafe_innerHTML=html)
    solara.HTML(tag="div", unsafe_innerHTML=FOOTER_ROOM)


# ---------------------------------------------------------------------------------------------
# The page: sidebar (Mesa's controller and the controls) and one named tab per page

# (name, component taking the model): one tab each, in this order; a new page is one more entry.
PAGES: list[tuple[str, object]] = [("Explore", ExplorePage), ("Compare", ComparePage), ("Claims", ClaimsPage),
                                   ("About", AboutPage)]


@solara.component
def PageTabs(model, pages=None):
    """One tab per page, named; only the shown page is drawn (as in Mesa's SolaraViz)."""
    pages = PAGES if pages is None else pages
    current, set_current = solara.use_state(0)
    with solara.v.Tabs(v_model=current, on_v_model=set_current):
        for name, _ in pages:
            solara.v.Tab(children=[name])
    pages[current][1](model)


@solara.component
def Page():
    """One model per browser session, driven by Mesa's ModelController."""
    model = solara.use_reactive(solara.use_memo(AppModel, []))
    params = solara.use_reactive(solara.use_memo(initial_controls, []))
    play_interval = solara.use_reactive(150)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    with solara.AppBar():
        solara.AppBarTitle("City diplomacy")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            solara.SliderInt(f"Play interval: {play_interval.value} ms", value=play_interval, min=1, max=500, step=10)
            solara.SliderInt(f"Steps per Step or frame: {render_interval.value}", value=render_interval, min=1,
                             max=45, step=1)
            ModelController(model, model_parameters=params, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
        with solara.Card("Scenario and levers (take effect on Reset)"):
            Controls(model.value, params)
        solara.HTML(tag="div", unsafe_innerHTML="<div style='font-size:12px;margin:4px 8px'>New here? The <b>About</b> "
                    "tab says what the model is and what to try first.</div>")
        solara.HTML(tag="div", unsafe_innerHTML="<div style='font-size:11px;color:#777;margin:4px 8px'>Built with "
                    "<a href='https://mesa.readthedocs.io'>Mesa</a> and <a href='https://solara.dev'>Solara</a></div>")
    solara.Style(PAGE_CSS)
    PageTabs(model.value)


def warm_up():
    """Build a model of the served scenario and draw every Explore panel once, a step apart, when the
    server starts: the compiled loops load, matplotlib reads its fonts and draws its first figures
    before the first browser connects, not while it waits (the page appears sooner)."""
    try:
        m = AppModel()
        for _ in range(2):
            F.timeseries_png_live(m, **EXPLORE_METRICS_KW)
            F.network_png_live(m, figsize=PANEL_SIZE["network"])
            F.city_png_live(m, "memberships", figsize=PANEL_SIZE["cities"])
            F.theme_png_live(m, C.current_theme_shares(m), figsize=PANEL_SIZE["themes"])
            C.top_networks(m, 10)
            m.step()
    except Exception as e:  # noqa: BLE001 - a warm-up that fails only costs time; the page will say what is wrong
        print(f"warm-up skipped: {e}", file=sys.stderr)


if os.environ.get(ENV_SCENARIO) and not os.environ.get("CITYDIP_NO_WARMUP"):  # served by `run.py serve`
    warm_up()

page = Page
