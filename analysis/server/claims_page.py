"""The browser app's Claims tab (`ClaimsPage`, the third entry of `PAGES` in analysis/server/app.py).

Pick a claim (scenarios/claims/*.yaml), run its control and treatment arms for a few seeds in the
background with a progress bar, and see both arms' outcome over time with 95% bands and the paired
effect with its 95% interval and verdict (supported, contradicted, negligible or undetermined, each
with its plain sentence from analysis/claims/verdict.py): the same statistics, verdict rule and
figures as `python run.py claims`, but only the main contrast, on few seeds (for the conditions,
the mechanism-off arm and the full replications run the command line). The page can also open a
finished claims.json and show its verdicts (with the Holm-adjusted verdict and the number of pairs
used where the file has them).

The logic (`run_claim_arms`, `read_claims_json`, the HTML and figures) is plain Python, testable
without a browser; the Solara components at the end only draw it.
"""

from __future__ import annotations

import copy
import functools
import json
from html import escape
from pathlib import Path

import numpy as np

from analysis import figures as F
from analysis.claims import default_files
from analysis.claims.evaluate import outcome_values
from analysis.claims.plan import load_claim
from analysis.claims.statistics import mean_band, paired_effect, rng_for
from analysis.claims.verdict import EXPLAIN, describe, in_threshold_units, verdict
from analysis.server.controls import check_memory
from model.api import run_scenario
from model.config import ScenarioError
from model.loading import validate_scenario
from model.randomness import replication_seeds

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = ROOT / "results" / "claims" / "claims.json"


def claim_choices() -> dict[str, Path]:
    """{'C1: Fragmentation by competition': path} for the shipped claim files that validate."""
    out = {}
    for f in default_files():
        try:
            p = load_claim(f, quick=True)
        except ScenarioError:
            continue
        out[f"{p.claim}: {p.spec.title}"] = f
    return out


@functools.lru_cache(maxsize=64)
def claim_worlds(path) -> list[str]:
    """The names of a claim file's worlds ([] for a file without worlds, or one that does not validate); read
    once per file, as the claim picker's choices are (the controls ask on every render)."""
    from analysis.claims.spec import validate_spec
    from model.loading import read_yaml

    try:
        return [w.name for w in validate_spec(read_yaml(path), str(path)).worlds]
    except ScenarioError:
        return []


def world_text(plan) -> str:
    """The plan's world in words: its name and size (synthetic: the number of cities; real: the floor)."""
    c = plan.base["cities"]
    size = (f"{c['n']:,} cities" if c["source"] == "synthetic"
            else f"real cities of {c['min_population']:,.0f} people or more")
    name = f"{plan.world.name} world: " if plan.world is not None else ""
    return f"{name}{size}, {plan.steps} years"


def run_claim_arms(path, seeds: int = 4, quick: bool = True, progress=None, world: str | None = None) -> dict:
    """Run a claim's control and treatment arms for `seeds` common seeds (the claim's replication seeds)
    and return, per outcome, the arms' series, the paired effect, its interval and the verdict.
    `quick`: the claim's quick world; `world`: which of the claim's worlds (default: its first);
    `progress(done, total)` after each run."""
    plan = load_claim(path, quick=quick, world=world)
    ctrl, trt = plan.find("main", "control"), plan.find("main", "treatment")
    for arm in (ctrl, trt):  # the app's memory limit, as for every model it builds
        check_memory(validate_scenario(copy.deepcopy(arm.data), str(path)), str(path))
    seed_list = replication_seeds(plan.spec.seed, seeds)
    metrics = plan.metrics
    start = int(plan.base["start_year"])
    years = np.arange(start, start + plan.steps)
    runs = {a: {m: np.full((seeds, len(years)), np.nan) for m in metrics} for a in ("control", "treatment")}
    total, done = 2 * seeds, 0
    for r, s in enumerate(seed_list):
        for name, arm in (("control", ctrl), ("treatment", trt)):
            ts = run_scenario(arm.data, seed=s, tables=False).timeseries
            ts = ts[ts["step"] >= 1]  # the years run (step 0 is the state before the first year)
            for m in metrics:
                runs[name][m][r, :] = ts[m].to_numpy(float)
            done += 1
            if progress is not None:
                progress(done, total)
    outcomes = []
    for o, name in zip(plan.spec.outcomes, plan.spec.outcome_names()):
        t = outcome_values(runs["treatment"][o.metric], years, o.years)
        c = outcome_values(runs["control"][o.metric], years, o.years)
        e = paired_effect(t, c, rng_for(plan.id, o.metric, "main"))
        ok = np.isfinite(t) & np.isfinite(c)
        identical = bool(ok.any() and np.array_equal(t[ok], c[ok]))  # every pair the same: no difference
        outcomes.append({"outcome": o, "name": name, "effect": e, "identical": identical,
                         "verdict": verdict(e.ci_low, e.ci_high, o.threshold, o.direction)})
    return {"plan": plan, "years": years, "runs": runs, "seeds": seed_list, "outcomes": outcomes, "quick": quick}


# The figures are about as wide as the tab's right column (about 560 px on a 1366 px screen) at 90 dpi, so
# that their text is shown at its own size (8-9 pt: 10-11 px), not scaled down; the effects figure's
# legend of the four verdicts sits in two columns under its title, so that it fits that width.
OVER_TIME_SIZE = (6.0, 4.4)


def result_figures(res: dict) -> list[bytes]:
    """PNGs: the effects and intervals, then each outcome over time (both arms with bands, the difference)."""
    plan, years, runs = res["plan"], res["years"], res["runs"]
    rows = []
    for x in res["outcomes"]:
        o, e = x["outcome"], x["effect"]
        u = [in_threshold_units(v, o.threshold, o.direction) if np.isfinite(v) else None
             for v in (e.effect, e.ci_low, e.ci_high)]
        lo, hi = sorted((u[1], u[2])) if None not in u[1:] else (None, None)
        rows.append({"label": x.get("name", o.metric), "effect": u[0], "low": lo, "high": hi, "verdict": x["verdict"]})
    pngs = [F.figure_png(F.fig_claims_forest(rows, title=f"{plan.id}: effects and 95% intervals "
                                                         f"({len(res['seeds'])} seeds)", dpi=90, font=8.5))]
    for x in res["outcomes"]:
        o = x["outcome"]
        c, t = runs["control"][o.metric], runs["treatment"][o.metric]
        arms = [("control: " + plan.labels["control"][:60], *mean_band(c)),
                ("treatment: " + plan.labels["treatment"][:60], *mean_band(t))]
        pngs.append(F.figure_png(F.fig_claim_over_time(years, arms, mean_band(t - c), o.metric, list(o.years),
                                                       o.threshold, o.direction, reference=o.reference,
                                                       figsize=OVER_TIME_SIZE, dpi=90)))
    return pngs


def _num(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and np.isfinite(x) else None


def verdict_html(v, ci_low=None, ci_high=None, identical: bool = False) -> str:
    """A verdict as the page shows it: the word in its colour (analysis/figures/style.py VERDICT_COLOURS), with
    describe()'s qualifier ('negligible (positive, sign settled)', 'no difference: identical runs'); its plain
    sentence is its tooltip and stands beside it in the table's legend (`verdict_legend`). A word the rule
    does not know (an older file's) is shown as written."""
    v = str(v)
    colour = F.VERDICT_COLOURS.get(v, "#333")
    qualifier = ""
    if v in EXPLAIN:
        shown = describe(v, _num(ci_low), _num(ci_high), identical)
        qualifier = shown[len(v):] if shown.startswith(v) else f" ({shown})"
    title = f" title='{escape(EXPLAIN[v])}'" if v in EXPLAIN else ""
    return (f"<span class='citydip-verdict citydip-verdict-{escape(v)}' style='color:{colour};font-weight:bold'"
            f"{title}>{escape(v)}</span>{escape(qualifier)}")


def verdict_legend(verdicts) -> str:
    """Each verdict word that occurs, once, in its colour with its plain sentence (verdict.EXPLAIN) beside it."""
    seen = list(dict.fromkeys(str(v) for v in verdicts if str(v) in EXPLAIN))
    items = "".join(f"<li><span class='citydip-verdict' style='color:{F.VERDICT_COLOURS.get(v, '#333')};"
                    f"font-weight:bold'>{escape(v)}</span>: <span class='citydip-verdict-explain'>"
                    f"{escape(EXPLAIN[v])}</span></li>" for v in seen)
    return (f"<ul class='citydip-verdict-legend' style='font-size:12px;line-height:1.35;margin:4px 0 8px 16px;"
            f"padding:0'>{items}</ul>") if items else ""


def result_table(res: dict) -> str:
    """The outcomes as an HTML table: metric, predicted direction, threshold, effect and interval, n, verdict;
    below it each verdict that occurs with its sentence."""
    rows = []
    for x in res["outcomes"]:
        o, e = x["outcome"], x["effect"]
        ci = _effect_ci(e.effect, e.ci_low, e.ci_high)
        window = f" {o.years[0]}-{o.years[1]}" if x.get("name", o.metric) != o.metric else ""
        rows.append(f"<tr><td title='{escape(o.metric)}'>{escape(F.metric_title(o.metric) + window)}</td><td>{o.direction}</td>"
                    f"<td>{o.threshold:g}</td>"
                    f"<td>{ci}</td><td>{e.n}</td>"
                    f"<td>{verdict_html(x['verdict'], e.ci_low, e.ci_high, x.get('identical', False))}</td></tr>")
    return ("<div style='overflow-x:auto'><table class='citydip-table citydip-claim-result'><tr><th>outcome</th><th>predicted</th><th>threshold</th>"
            "<th>effect [95% CI]</th><th>n</th><th>verdict</th></tr>" + "".join(rows) + "</table></div>"
            + verdict_legend(x["verdict"] for x in res["outcomes"]))


def read_claims_json(path) -> dict:
    """A finished claims.json (run.py claims); a missing or wrong file is a ScenarioError naming it."""
    p = Path(str(path).strip()).expanduser()
    if not p.is_file():
        raise ScenarioError(str(p), "", "file not found; expected the claims.json of a finished run.py claims")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ScenarioError(str(p), "", f"cannot be read as JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != "city-diplomacy-claims":
        raise ScenarioError(str(p), "format", "is not a claims.json of run.py claims")
    return doc


def _effect_ci(eff, lo, hi) -> str:
    """'+0.1 [+0.05, +0.15]', breaking (if it must) between the effect and its interval only."""
    if eff is None:
        return "n/a"
    out = f"<span style='white-space:nowrap'>{eff:+.4g}</span>"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        out += f" <span style='white-space:nowrap'>[{lo:+.4g}, {hi:+.4g}]</span>"
    return out


def claims_json_html(doc: dict) -> str:
    """The verdicts of a claims.json as HTML (with the quick-run notice where it is one): one row per claim,
    the sentence of each verdict that occurs below the table, then each claim's conditions. The
    Holm-adjusted verdict (`verdict_adjusted`, the headline) and the replications the sequential procedure
    used (`sequential.n_used`) get their columns when some claim of the file has them (files of version 0.3
    and later); older files show their one verdict."""
    head = (f"<p class='citydip-quick' style='font-size:13px'><b>{escape(doc.get('notice', ''))}</b></p>"
            if doc.get("quick") else "")
    claims = doc.get("claims", [])
    holm = any("verdict_adjusted" in c for c in claims)
    used = any("n_used" in (c.get("sequential") or {}) for c in claims)
    rows, conditions, extra = [], [], []
    for c in claims:
        lo, hi = c.get("ci_low"), c.get("ci_high")
        off = c.get("mechanism_off") or {}
        part = f" <i>(part of {escape(str(c['part_of']))})</i>" if c.get("part_of") else ""
        cells = [(f"<b>{escape(str(c.get('id', '')))}</b> {escape(str(c.get('title', '')))}{part}<br>"
                  f"<span style='color:#555' title='{escape(str(c.get('metric', '')))}'>"
                  f"{escape(F.metric_title(str(c.get('metric', ''))))}</span>"),
                 _effect_ci(c.get("effect"), lo, hi), escape(str(c.get("n", "")))]
        if used:
            cells.append(escape(str((c.get("sequential") or {}).get("n_used", ""))))
        if holm:
            cells.append(verdict_html(c["verdict_adjusted"], lo, hi) if "verdict_adjusted" in c else "")
        cells.append(verdict_html(c.get("verdict"), lo, hi))
        cells.append(verdict_html(off["verdict"], off.get("ci_low"), off.get("ci_high")) if off.get("verdict") else "")
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
        for a in c.get("also") or []:
            o0 = (a.get("outcomes") or [{}])[0]
            extra.append(f"<li><b>{escape(str(c.get('id', '')))}</b> {escape(str(a.get('name', '')))}: "
                         f"{escape(str(a.get('label', '')))}: {_effect_ci(o0.get('effect'), o0.get('ci_low'), o0.get('ci_high'))} "
                         f"{verdict_html(o0.get('verdict'), o0.get('ci_low'), o0.get('ci_high'))}</li>")
        for lv in c.get("levels") or []:
            extra.append(f"<li><b>{escape(str(c.get('id', '')))}</b> level: {escape(str(lv.get('label', '')))}: "
                         f"distance {_effect_ci(lv.get('distance'), lv.get('ci_low'), lv.get('ci_high'))} against "
                         f"a tolerance of {lv.get('tolerance', float('nan')):g} "
                         f"{verdict_html(lv.get('verdict'), lv.get('ci_low'), lv.get('ci_high'))}</li>")
        sentences = (c.get("conditions") or {}).get("sentences", [])
        if sentences:
            conditions.append(f"<li><b>{escape(str(c.get('id', '')))}</b>: "
                              + " ".join(escape(x) for x in sentences) + "</li>")
    worlds = doc.get("worlds") or []
    names = list(dict.fromkeys(w for row in worlds for w in row.get("worlds", {})))
    side = ""
    if worlds:
        wrows = []
        for row in worlds:
            if row.get("role") != "primary":
                continue
            cells = []
            for w in names:
                x = row["worlds"].get(w)
                cells.append("-" if x is None else verdict_html(x["verdict"], x.get("ci_low"), x.get("ci_high"))
                             + "<br>" + _effect_ci(x.get("effect"), x.get("ci_low"), x.get("ci_high")))
            wrows.append(f"<tr><td><b>{escape(str(row['claim']))}</b><br><span style='color:#555'>"
                         f"{escape(F.metric_title(str(row['outcome']).split(' ')[0]))}</span></td>"
                         + "".join(f"<td>{c}</td>" for c in cells) + f"<td>{escape(str(row['summary']))}</td></tr>")
        side = ("<div class='citydip-claims-worlds' style='font-size:12px'><b>Worlds side by side (primary outcome; "
                "Holm-adjusted verdicts)</b><div style='overflow-x:auto'><table class='citydip-table'><tr><th>claim</th>"
                + "".join(f"<th>{escape(w)}</th>" for w in names) + "<th>in the worlds</th></tr>" + "".join(wrows)
                + "</table></div></div>")
    rests = [f"<li><b>{escape(str(c.get('id', '')))}</b>: {escape(str(c['conditions']['uncertainty']['rests_on']))}</li>"
             for c in claims if ((c.get("conditions") or {}).get("uncertainty") or {}).get("rests_on")]
    rests_html = (f"<div class='citydip-claims-rests' style='font-size:12px'><b>What each verdict rests on</b><ul "
                  f"style='margin:2px 0 8px 16px;padding:0'>{''.join(rests)}</ul></div>" if rests else "")
    heads = (["claim, metric", "effect [CI]", "n"] + (["n used"] if used else [])
             + (["verdict (Holm)", "unadjusted"] if holm else ["verdict"]) + ["mechanism off"])
    reps = doc.get("replications")
    reps = ", ".join(str(r) for r in reps) if isinstance(reps, list) else reps
    return (head + f"<p style='font-size:12px'>{escape(str(doc.get('mode', '')))} run, replications per arm "
            f"{escape(str(reps))}</p>" + side + rests_html + "<div style='overflow-x:auto'><table class='citydip-table citydip-claims-json'><tr>"
            + "".join(f"<th>{h}</th>" for h in heads) + "</tr>" + "".join(rows) + "</table></div>"
            + verdict_legend([c.get("verdict") for c in claims] + [c.get("verdict_adjusted") for c in claims if holm]
                             + [(c.get("mechanism_off") or {}).get("verdict") for c in claims])
            + (f"<div class='citydip-claims-also' style='font-size:12px'><b>Further contrasts (primary outcome) and "
               f"levels against the literature</b><ul style='margin:2px 0 8px 16px;padding:0'>{''.join(extra)}</ul></div>"
               if extra else "")
            + (f"<div class='citydip-claims-conditions' style='font-size:12px'><b>Conditions</b><ul style='margin:2px "
               f"0 8px 16px;padding:0'>{''.join(conditions)}</ul></div>" if conditions else ""))


def claims_json_figure(doc: dict) -> bytes:
    rows = []
    for c in doc.get("claims", []):
        for o in c.get("outcomes", []):
            u = [in_threshold_units(v, o["threshold"], o["direction"]) if v is not None else None
                 for v in (o["effect"], o["ci_low"], o["ci_high"])]
            lo, hi = sorted((u[1], u[2])) if None not in u[1:] else (None, None)
            rows.append({"label": f"{c['id']} {o.get('name') or o['metric']}", "effect": u[0], "low": lo, "high": hi,
                         "verdict": o["verdict"]})
    return F.figure_png(F.fig_claims_forest(rows, title="claims.json: effects and 95% intervals", dpi=90, font=8.5))


# ---------------------------------------------------------------------------------------------
# Solara components: ClaimsPage, the app's Claims tab (controls on the left, results on the right)

import ipywidgets  # the logic above needs no Solara
import reacton.ipywidgets as rw
import solara
import solara.lab

TABLE_CSS = """<style>
.citydip-table {border-collapse: collapse; font-size: 12px; width: 100%;}
.citydip-table th, .citydip-table td {padding: 2px 6px; text-align: left; vertical-align: top;
  border-bottom: 1px solid #ddd;}
</style>"""
MIN_SEEDS = 2  # an interval needs two pairs

# The page's state: module-level reactive variables hold one value per browser session.
CHOICES = claim_choices()
claim_pick = solara.reactive(next(iter(CHOICES), ""))
claim_world = solara.reactive("")  # one of the picked claim's worlds ("": its first)
claim_seeds = solara.reactive(4)
claim_quick = solara.reactive(True)
claim_progress = solara.reactive(0.0)  # percent of the runs done
claim_done = solara.reactive((0, 0))  # (runs done, runs in all)
claim_result = solara.reactive(None)
json_path = solara.reactive(str(DEFAULT_JSON))
json_doc = solara.reactive(None)
json_error = solara.reactive("")


@solara.component
def Png(png: bytes, alt: str):
    """PNG bytes shown at the panel's width."""
    rw.Image(value=png, format="png", layout=ipywidgets.Layout(width="100%", height="auto"),
             _dom_classes=["citydip-figure", f"citydip-{alt}"])


def result_heading(res: dict) -> str:
    """What was run: the claim, its statement, the two arms, seeds and world."""
    plan = res["plan"]
    return (f"<div class='citydip-claim-heading' style='font-size:12px;line-height:1.4'>"
            f"<b style='font-size:14px'>{escape(plan.claim)}: {escape(plan.spec.title)}</b><br>"
            f"{escape(plan.spec.statement)}<br><b>control:</b> {escape(plan.labels['control'])}<br>"
            f"<b>treatment:</b> {escape(plan.labels['treatment'])}<br>"
            f"<span class='citydip-claim-seeds'>{len(res['seeds'])} seeds per arm, "
            f"{'quick' if res['quick'] else 'full'} size ({escape(world_text(plan))})</span>: few seeds, for exploring; what to cite comes from "
            f"<span style='font-family:monospace;font-size:12px'>python run.py claims</span>.</div>")


@solara.component
def ClaimsControls(model):
    """Left column of the Claims tab: which claim, how many seeds, Run; open a claims.json."""

    def run():
        claim_progress.set(0.0)
        claim_done.set((0, 2 * int(claim_seeds.value)))

        def tick(done, total):
            claim_progress.set(100.0 * done / total)
            claim_done.set((done, total))

        path = CHOICES[claim_pick.value]
        ws = claim_worlds(path)
        res = run_claim_arms(path, seeds=int(claim_seeds.value), quick=bool(claim_quick.value), progress=tick,
                             world=claim_world.value if claim_world.value in ws else None)
        claim_result.set(res)
        return True

    task = solara.lab.use_task(run, dependencies=None, raise_error=False)

    def open_json():
        try:
            json_doc.set(read_claims_json(json_path.value))
            json_error.set("")
        except ScenarioError as e:
            json_doc.set(None)
            json_error.set(str(e))

    solara.HTML(tag="div", unsafe_innerHTML=(
        TABLE_CSS + "<div class='citydip-claims-intro'><h3>Claims</h3><p style='font-size:13px'>Run a claim's control and treatment arms on a few common seeds "
        "and see the paired effect, its 95% interval and the verdict (the rule of docs/claims.md). For the "
        "conditions, the mechanism-off arm and the replications to cite, run "
        "<span style='font-family:monospace;font-size:12px'>python run.py claims</span> and "
        "open its claims.json below.</p></div>"))
    if not CHOICES:
        solara.Warning("no valid claim files in scenarios/claims/")
    else:
        solara.Select("Claim", values=list(CHOICES), value=claim_pick, classes=["citydip-claim-pick"])
        ws = claim_worlds(CHOICES[claim_pick.value]) if claim_pick.value in CHOICES else []
        if ws:
            solara.Select("World", values=ws, value=claim_world.value if claim_world.value in ws else ws[0],
                          on_value=claim_world.set, classes=["citydip-claim-world"])
        solara.SliderInt(f"Seeds per arm: {claim_seeds.value}", value=claim_seeds, min=MIN_SEEDS, max=20)
        solara.Checkbox(label="Quick world (the claim's smaller world; uncheck for the full one)", value=claim_quick)
        solara.Button("Run both arms", on_click=lambda: task(), color="primary", disabled=task.pending)
        if task.pending:
            done, total = claim_done.value
            solara.ProgressLinear(claim_progress.value)
            solara.Text(f"{done} of {total} runs done", style={"font-size": "12px"}, classes=["citydip-claim-progress"])
        if task.error:
            solara.Error(f"{task.exception}")
    solara.HTML(tag="div", unsafe_innerHTML="<hr style='margin:12px 0 4px'>")
    solara.InputText("claims.json of a finished run", value=json_path, continuous_update=True)
    solara.Button("Open claims.json", on_click=open_json, outlined=True)
    if json_error.value:
        solara.Error(json_error.value)


@solara.component
def ClaimsFigures(model):
    """Right column of the Claims tab: the last run's verdicts and figures, then the opened claims.json."""
    res = claim_result.value
    doc = json_doc.value
    pngs = solara.use_memo(lambda: result_figures(res) if res is not None else [], [id(res)])
    doc_png = solara.use_memo(lambda: claims_json_figure(doc) if doc is not None else b"", [id(doc)])
    if res is not None:
        solara.HTML(tag="div", unsafe_innerHTML=result_heading(res) + TABLE_CSS + result_table(res))
        for i, png in enumerate(pngs):
            Png(png, alt="claim-effects" if i == 0 else "claim-over-time")
    if doc is not None:
        solara.HTML(tag="div", unsafe_innerHTML="<h4 style='margin:12px 0 4px'>Opened claims.json</h4>" + TABLE_CSS
                    + claims_json_html(doc))
        Png(doc_png, alt="claims-json")
    if res is None and doc is None:
        solara.HTML(tag="p", unsafe_innerHTML="Pick a claim and press <b>Run both arms</b>, or open a claims.json.")


@solara.component
def ClaimsPage(model):
    """The Claims tab: controls on the left, the verdicts and figures on the right."""
    with solara.Columns([2, 3], gutters_dense=True):
        with solara.Column():
            ClaimsControls(model)
        with solara.Column():
            ClaimsFigures(model)
    solara.HTML(tag="div", unsafe_innerHTML="<div class='citydip-footer-room' style='height:24px'></div>")
