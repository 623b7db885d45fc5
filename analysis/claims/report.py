"""The outputs of a claims run: claims.json, report.md, a self-contained report.html and figures/.

claims.json (format `city-diplomacy-claims`): `mode` (quick or full), `quick`, a `notice` for quick
runs, the verdict rule, and one record per claim: id, title, statement, source, file,
operationalisation, design (arms, replications, steps, runs, failed runs), the primary outcome's
metric, direction, threshold, years, effect, ci_low, ci_high, n, verdict, d_z and glass; every
outcome with the same fields and the arms' means; the mechanism-off result; the no-network
counterfactual; the gradient levels; and the conditions (moderators with their effects, verdicts,
transitions and sentences; the uncertainty space with its share supported and PRIM box). NaN is
written as null. claims.json holds no time stamps and no paths but the claim files' own, so the
same runs give the same file (also after a resumed run).

report.md and report.html carry the same content: a summary table of verdicts, the summary figure,
then one section per claim. The HTML embeds every figure as a base64 data URI and loads nothing.
outcomes.csv has one row per claim, outcome and contrast (for spreadsheets). Files are written
atomically; claims.json last.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import shutil
import sys
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import figures as F
from analysis.claims.conditions import fmt, signed
from analysis.claims.evaluate import ClaimResult
from analysis.claims.statistics import CONFIDENCE, RESAMPLES, mean_band
from analysis.claims.verdict import EXPLAIN, VERDICTS, in_threshold_units
from analysis.outputs import write_bytes_atomic, write_text_atomic
from model.config import ScenarioError

FORMAT = "city-diplomacy-claims"
FORMAT_VERSION = 2  # 2: four verdicts, replications until decided, Holm, through its mechanism per outcome
QUICK_NOTICE = ("QUICK RUN: fewer replications and a smaller world than the full run; for checking that the "
                "claims lab works, not for citing. The full run (python run.py claims) is the one to cite.")
RULE = ("four verdicts from the interval of the paired effect, turned into the predicted direction: supported when "
        "it lies wholly at or beyond the smallest effect that matters in the predicted direction; contradicted when "
        "it lies wholly at or beyond it the other way; negligible when it lies wholly inside (-threshold, "
        "+threshold), whatever the effect is it is smaller than what matters (its sign settled when the interval "
        "excludes zero); undetermined when it reaches across a threshold (more runs would decide). Arms whose runs "
        "are identical in every pair say so: no difference")
STATS = (f"paired differences d_r = T_r - C_r of each run's outcome averaged over the stated years, replication r "
         f"of both arms with the same seed; effect = mean(d); d_z = mean(d)/sd(d); glass = mean(d)/sd(C); the "
         f"interval of mean(d) is the wider of the paired bootstrap (scipy.stats.bootstrap, BCa, {RESAMPLES} "
         f"resamples, generator fixed by claim id, metric and contrast) and the Student t interval. Replications "
         f"until decided: a claim starts with its replications (20) and, while its primary verdict is undetermined, "
         f"doubles them (20, 40, 80, 160) up to its cap; with K planned looks every interval of the contrast's arms "
         f"is at confidence 1 - {1 - CONFIDENCE:.2g}/K (Bonferroni over the looks), so whatever look it stops at, "
         f"the interval covers with probability at least {CONFIDENCE:.0%} when each look's interval covers as "
         f"stated (normal or moderately skewed differences; the report warns where the differences are strongly "
         f"skewed). A claim goes on while its Holm-adjusted primary is undetermined. Multiplicity: the primaries of one run "
         f"are one family; the headline verdict is Holm-adjusted (a verdict Holm does not keep is undetermined), the "
         f"unadjusted one is shown beside it. Secondary outcomes, the mechanism-off contrast, moderators and the "
         f"uncertainty space are exploratory (unadjusted, {CONFIDENCE:.0%} intervals where no later blocks run)")
SKEW_WARN = 1.0  # |sample skewness| of the primary's paired differences above which the report warns

MEANINGS = [f"{v}: {EXPLAIN[v]}" for v in VERDICTS] + [
    ("no difference: identical runs: the two arms gave the same outcome in every pair (the interval is the single "
    "point 0).")]


def clean(obj):
    """JSON-ready: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [clean(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def claims_document(results: list[ClaimResult], quick: bool, provenance: dict | None = None) -> dict:
    doc = {"format": FORMAT, "version": FORMAT_VERSION, "schema_version": FORMAT_VERSION,
           "mode": "quick" if quick else "full", "quick": quick}
    if quick:
        doc["notice"] = QUICK_NOTICE
    if provenance is not None:
        doc["provenance"] = provenance
    doc["replications"] = sorted({r.plan.replications for r in results})
    doc["verdict_rule"] = RULE
    doc["verdicts"] = {v: EXPLAIN[v] for v in VERDICTS}
    doc["statistics"] = STATS
    doc["claims"] = [r.record for r in results]
    doc["worlds"] = worlds_table(results)
    return clean(doc)


# ---------------------------------------------------------------------------------------------
# Figures


def _arm_band(res: ClaimResult, arm, metric: str):
    x = res.series(arm, metric)
    return mean_band(x, axis=0)


def claim_figures(res: ClaimResult) -> dict[str, bytes]:
    """{file name: PNG bytes} of one claim's figures."""
    plan, rec = res.plan, res.record
    cid = plan.id
    out: dict[str, bytes] = {}
    ctrl, trt = plan.find("main", "control"), plan.find("main", "treatment")
    nn = plan.find("no_network", "no_network")
    for o, name in zip(plan.spec.outcomes, plan.spec.outcome_names()):
        arms = [("control: " + _short(plan.labels["control"]), *_arm_band(res, ctrl, o.metric)),
                ("treatment: " + _short(plan.labels["treatment"]), *_arm_band(res, trt, o.metric))]
        if nn is not None:
            arms.append(("no networks", *_arm_band(res, nn, o.metric)))
        diff = mean_band(res.series(trt, o.metric) - res.series(ctrl, o.metric), axis=0)
        fig = F.fig_claim_over_time(res.years, arms, diff, o.metric, list(o.years), o.threshold, o.direction,
                                    reference=o.reference,
                                    title=f"{cid} {name}: arms over time ({o.direction} predicted; "
                                          f"window {o.years[0]}-{o.years[1]} shaded)")
        out[f"{cid}_{name.replace(' ', '_')}_over_time.png"] = F.figure_png(fig)
    rows = []
    for k, (oc, off) in enumerate(zip(rec["outcomes"], rec["mechanism_off"]["outcomes"])):
        extra = [(c["outcomes"][k], f"{_oname(oc)} ({c['name']})", True) for c in rec.get("also") or []]
        for r, label, hollow in ((oc, _oname(oc), False), (off, f"{_oname(oc)} (mechanism off)", True), *extra):
            rows.append({"label": label, "verdict": r["verdict"], "hollow": hollow,
                         **_units(r, oc["threshold"], oc["direction"])})
    conf = rec.get("confidence") or CONFIDENCE
    out[f"{cid}_effects.png"] = F.figure_png(F.fig_claims_forest(
        rows, title=f"{cid}: effects and {100 * conf:.4g}% intervals (n = {rec['n']})"))
    if rec["gradient"] is not None:
        g = rec["gradient"]
        panels = [{"metric": go["metric"], "effect": [lv["effect"] for lv in go["levels"]],
                   "low": [_nan(lv["ci_low"]) for lv in go["levels"]], "high": [_nan(lv["ci_high"]) for lv in go["levels"]],
                   "threshold": o.threshold, "direction": o.direction}
                  for go, o in zip(g["outcomes"], plan.spec.outcomes)]
        out[f"{cid}_gradient.png"] = F.figure_png(F.fig_claim_gradient(g["parameter"], g["values"], panels))
    for m, mod in enumerate(rec["conditions"]["moderators"]):
        panels = [{"metric": mo["metric"], "effect": [_nan(x) for x in mo["effect"]],
                   "low": [_nan(x) for x in mo["ci_low"]], "high": [_nan(x) for x in mo["ci_high"]],
                   "verdict": mo["verdict"], "transitions": mo["transitions"], "threshold": o.threshold,
                   "direction": o.direction}
                  for mo, o in zip(mod["outcomes"], plan.spec.outcomes)]
        out[f"{cid}_conditions_{m}.png"] = F.figure_png(F.fig_claim_conditions(mod["parameter"], mod["values"], panels))
    unc = rec["conditions"]["uncertainty"]
    if unc is not None:
        o = plan.spec.outcomes[0]
        eff = [in_threshold_units(e, o.threshold, o.direction) if e is not None and math.isfinite(e) else np.nan
               for e in unc["sample_effect"]]
        fig = F.fig_claim_uncertainty(pd.DataFrame(unc["sample_values"]), np.array(eff), unc["box"], o.metric,
                                      ranking=unc.get("ranking"), noise_floor=unc.get("noise_floor"))
        out[f"{cid}_uncertainty.png"] = F.figure_png(fig)
    return out


def summary_figure(results: list[ClaimResult]) -> bytes:
    rows = []
    for r in results:
        rec = r.record
        for oc, off in zip(rec["outcomes"], rec["mechanism_off"]["outcomes"]):
            rows.append({"label": f"{rec['id']} {_oname(oc)}", "verdict": oc["verdict"],
                         **_units(oc, oc["threshold"], oc["direction"])})
            rows.append({"label": f"{rec['id']} {_oname(oc)} (mech. off)", "verdict": off["verdict"], "hollow": True,
                         **_units(off, oc["threshold"], oc["direction"])})
    confs = sorted({r.record.get("confidence") or CONFIDENCE for r in results})
    conf = "/".join(f"{100 * c:.4g}%" for c in confs)
    # wide enough that the longest labels (a metric's title, its window, "(mech. off)") are not cut
    fig = F.fig_claims_forest(rows, title=f"All claims: effect and {conf} interval (1 - 0.05/K for K looks) against "
                                          "the smallest effect that matters (filled: claim; hollow: mechanism off)",
                              figsize=(8.0, None))
    return F.figure_png(fig)


def _nan(x):
    return float("nan") if x is None else x


def _units(r: dict, threshold: float, direction: str) -> dict:
    def u(x):
        return in_threshold_units(x, threshold, direction) if x is not None and math.isfinite(x) else None
    lo, hi = u(r["ci_low"]), u(r["ci_high"])
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    return {"effect": u(r["effect"]), "low": lo, "high": hi}


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


# ---------------------------------------------------------------------------------------------
# The report as blocks, rendered to Markdown and to HTML


THROUGH = ("Mechanism off: the same contrast with the claim's mechanism switched off in both arms. The "
           "mechanism's part: seed by seed, the effect with the mechanism minus the effect without it, judged by "
           "the same rule. A decided effect (supported or contradicted) holds through its mechanism when it is gone "
           "with the mechanism off (every effect that interval allows falls short of the threshold in the "
           "effect's direction) and the mechanism's part has the same verdict; NO when the effect keeps its "
           "verdict without the mechanism (it comes from elsewhere); in part when it is gone with the mechanism off "
           "but the mechanism's own part is negligible (neither alone makes an effect that matters); otherwise the "
           "runs cannot tell (also when the mechanism-off arms do not differ at all). A negligible or undetermined effect has nothing to attribute.")


def _through(rec: dict, adjusted: bool = False) -> str:
    key = "through_mechanism_adjusted" if adjusted and "through_mechanism_adjusted" in rec else "through_mechanism"
    x = rec[key]
    if x is None:
        return rec[f"{key}_reason"]
    return "yes" if x else "NO: " + rec[f"{key}_reason"]


def _verdict_word(r: dict, key: str = "verdict") -> str:
    """'SUPPORTED', 'NEGLIGIBLE (positive, sign settled)', 'NEGLIGIBLE (no difference: identical runs)'."""
    v = str(r.get(key))
    text = str(r.get(f"{key}_text") or v)
    if text == v:
        return v.upper()
    if text.startswith(v):
        return v.upper() + text[len(v):]
    return f"{v.upper()} ({text})"


def _ci(r: dict) -> str:
    if r.get("effect") is None:
        return "n/a"
    if r.get("ci_low") is None:
        return f"{signed(r['effect'])} [no interval]"
    return f"{signed(r['effect'])} [{signed(r['ci_low'])}, {signed(r['ci_high'])}]"


def report_blocks(results: list[ClaimResult], quick: bool, command: str, figures: dict[str, bytes],
                  stamp_lines: list[str] | None = None) -> list[tuple]:
    b: list[tuple] = [("h", 1, "Claims lab report" + (" (QUICK RUN)" if quick else ""))]
    if quick:
        b.append(("notice", QUICK_NOTICE))
    for line in stamp_lines or []:
        b.append(("p", line))
    reps = sorted({r.plan.replications for r in results})
    used = ", ".join(f"{r.plan.id} {r.record['sequential']['n_used']}" for r in results)
    if not stamp_lines:
        b.append(("p", f"Command: {command}" if command else "Command: python run.py claims"))
    b.append(("p", (f"Mode: {'quick' if quick else 'full'}; replications per arm at the first look: "
                    f"{', '.join(map(str, reps))}; used (the contrast's arms, at the look where the procedure "
                    f"stopped): {used}. Every arm of a claim runs with the same seeds (common random numbers).")))
    b.append(("p", f"Verdict rule: {RULE}."))
    b.append(("list", "What the verdicts mean", MEANINGS))
    b.append(("p", (f"Statistics: {STATS}. For a metric that is a gap between groups the paired difference is a "
                    "difference in differences.")))
    b.append(("h", 2, "Summary"))
    rows = []
    for r in results:
        rec = r.record
        title = rec["title"] + (f" (part of {rec['part_of']})" if rec.get("part_of") else "")
        units = _units(rec, rec["threshold"], rec["direction"])
        rows.append([rec["id"], title, _oname(rec["outcomes"][0]), rec["direction"], fmt(rec["threshold"]),
                     _ci(rec), fmt(units["effect"], 2) if units["effect"] is not None else "n/a", str(rec["n"]),
                     _verdict_word(rec, "verdict_adjusted"), _verdict_word(rec),
                     _p(rec.get("p_adjusted")), _through(rec, adjusted=True)])
    fam = len(results)
    b.append(("table", ["claim", "title", "primary metric", "predicted", "threshold",
                        f"effect [{_conf(results)} CI]", "effect / threshold", "n", f"verdict (Holm over {fam} primar{'y' if fam == 1 else 'ies'})",
                        "unadjusted", "Holm p", "through its mechanism"], rows))
    b.append(("p", THROUGH))
    rows = []
    for r in results:
        rec = r.record
        for k, (oc, off) in enumerate(zip(rec["outcomes"], rec["mechanism_off"]["outcomes"])):
            rows.append([rec["id"], _oname(oc), "primary" if k == 0 else "exploratory", _ci(oc),
                         _verdict_word(oc), _verdict_word(off), _verdict_word(off["contribution"]),
                         _through(oc)])
    b.append(("h", 3, "Every outcome"))
    b.append(("table", ["claim", "outcome", "role", "effect [CI]", "verdict", "mechanism off", "mechanism's part",
                        "through its mechanism"], rows))
    rows = [[r.record["id"], c["name"], _oname(oc), _ci(oc), _verdict_word(oc)]
            for r in results for c in r.record.get("also") or [] for oc in c["outcomes"]]
    if rows:
        b.append(("h", 3, "Further contrasts (exploratory)"))
        b.append(("p", ALSO))
        b.append(("table", ["claim", "contrast", "outcome", "effect [CI]", "verdict"], rows))
    rows = [[r.record["id"], lv["label"], _level_ci(lv), fmt(lv["tolerance"]), lv["verdict"]]
            for r in results for lv in r.record.get("levels") or []]
    if rows:
        b.append(("h", 3, "Levels against the literature"))
        b.append(("p", LEVELS))
        b.append(("table", ["claim", "level", "distance [CI]", "tolerance", "verdict"], rows))
    b += worlds_blocks(results)
    b += rests_on_blocks(results)
    amended = [(r.record["id"], a) for r in results for a in r.record.get("amendments") or []]
    if amended:
        b.append(("h", 3, "Amendments"))
        b.append(("list", "Changes to what a claim promised, made after its runs started",
                  [f"{cid}, {a['date']}: " + "; ".join(f"{c['field']}: {_show(c['old'])} -> {_show(c['new'])}"
                                                       for c in a["changes"]) + f" (reason: {a['reason']})"
                   for cid, a in amended]))
    if "summary.png" in figures:
        b.append(("img", "summary.png", "All claims: effects and intervals against the threshold"))
    for r in results:
        b += _claim_blocks(r, figures)
    return b


WORLDS = ("Each claim runs in every world its file lists: every arm, the mechanism-off contrast, the no-network "
          "counterfactual and the uncertainty space. A world's primary verdict is Holm-adjusted over every "
          "claim and world of the run; the other outcomes' verdicts are unadjusted. 'The same verdict' says only "
          "that; the line adds when the effect is more than 1.5 times as large in one world or the intervals do not "
          "overlap. Otherwise it says how the verdicts differ, whether the effects have opposite signs, and where "
          "the effect matters (supported or contradicted). Thresholds are absolute and the same in every world, "
          "and each outcome's 'why' gives its level in the synthetic world: beside each effect stands its size "
          "relative to that world's control level, so a verdict that differs only because the control levels "
          "differ can be told from one whose effect differs.")


def claim_worlds(results: list[ClaimResult]) -> tuple[list[str], dict[str, dict[str, dict]]]:
    """(the worlds' names in order of appearance, {claim id: {world: record}}) of the records that have a
    world (claim files with worlds)."""
    names: list[str] = []
    by_claim: dict[str, dict[str, dict]] = {}
    for r in results:
        rec = r.record
        if rec.get("world") is None:
            continue
        if rec["world"] not in names:
            names.append(rec["world"])
        by_claim.setdefault(rec["claim"], {})[rec["world"]] = rec
    return names, by_claim


def _outcome_verdict(rec: dict, k: int) -> str:
    return rec["verdict_adjusted"] if k == 0 and "verdict_adjusted" in rec else rec["outcomes"][k]["verdict"]


def worlds_line(cells: dict[str, tuple]) -> str:
    """One line comparing an outcome across worlds ({world: (verdict, effect[, ci_low, ci_high])}): 'the same
    verdict in both worlds (supported)', with how much the effects differ in size where they do, or how the
    verdicts differ."""
    vs = {w: c[0] for w, c in cells.items()}
    n = len(cells)
    both = "both worlds" if n == 2 else f"all {n} worlds"
    if len(set(vs.values())) == 1:
        text = f"the same verdict in {both} ({next(iter(vs.values()))})"
        sized = {w: c for w, c in cells.items() if len(c) > 2 and c[1] is not None and math.isfinite(c[1])}
        if len(sized) >= 2:
            big = max(sized, key=lambda w: abs(sized[w][1]))
            small = min(sized, key=lambda w: abs(sized[w][1]))
            ratio = abs(sized[big][1]) / abs(sized[small][1]) if sized[small][1] else float("inf")
            apart = sized[big][2] is not None and sized[small][3] is not None and (
                min(sized[big][2], sized[big][3]) > max(sized[small][2], sized[small][3])
                or max(sized[big][2], sized[big][3]) < min(sized[small][2], sized[small][3]))
            if ratio > 1.5 or apart:
                text += (f", but the effect is {ratio:.1f} times as large in {big} as in {small}"
                         + (" (the intervals do not overlap)" if apart else ""))
        return text
    effs = [c[1] for c in cells.values() if c[1] is not None and math.isfinite(c[1])]
    flip = bool(effs) and min(effs) < 0 < max(effs)
    decided = [w for w, v in vs.items() if v in ("supported", "contradicted")]
    text = "differs: " + ", ".join(f"{v} in {w}" for w, v in vs.items())
    if flip:
        text += "; the effects have opposite signs"
    if decided and len(decided) < n:
        text += f"; it matters only in {', '.join(decided)}"
    return text


def worlds_table(results: list[ClaimResult]) -> list[dict]:
    """Per claim and outcome: each world's effect and verdict and the line comparing them (claims.json's
    `worlds`)."""
    names, by_claim = claim_worlds(results)
    rows = []
    for cid, recs in by_claim.items():
        first = next(iter(recs.values()))
        for k, oc in enumerate(first["outcomes"]):
            per = {w: {"verdict": _outcome_verdict(recs[w], k),
                       **{x: recs[w]["outcomes"][k].get(x) for x in ("effect", "ci_low", "ci_high", "control_mean")}}
                   for w in names if w in recs}
            cells = {w: (c["verdict"], c["effect"], c["ci_low"], c["ci_high"]) for w, c in per.items()}
            rows.append({"claim": cid, "outcome": _oname(oc), "role": "primary" if k == 0 else "exploratory",
                         "threshold": oc["threshold"], "worlds": per,
                         "summary": worlds_line(cells) if len(cells) > 1 else f"one world ({next(iter(cells))})"})
    return rows


def worlds_blocks(results: list[ClaimResult]) -> list[tuple]:
    names, by_claim = claim_worlds(results)
    if not by_claim:
        return []
    b: list[tuple] = [("h", 3, "Worlds side by side"), ("p", WORLDS)]
    labels, others = {}, []
    for cid, recs in by_claim.items():
        for w, rec in recs.items():
            mine = (rec.get("world_label") or w, rec.get("world_why") or "")
            first = labels.setdefault(w, mine)
            if mine != first:
                others.append(f"{cid}'s {w} world: {mine[0]}" + (f". {mine[1]}" if mine[1] else ""))
    b.append(("list", "Worlds", [f"{w}: {lab}" + (f". {why}" if why else "") for w, (lab, why) in labels.items()]
              + [f"except {x}" for x in others]))
    rows = []
    for row in worlds_table(results):
        cells = []
        for w in names:
            c = row["worlds"].get(w)
            rel = ""
            if (c is not None and c.get("control_mean") is not None and abs(c["control_mean"]) >= row["threshold"]
                    and c.get("effect") is not None and math.isfinite(c["effect"])):  # not against a level near 0
                rel = f" ({100 * c['effect'] / abs(c['control_mean']):+.1f}% of control {fmt(c['control_mean'])})"
            cells.append("-" if c is None else f"{c['verdict'].upper()} {_ci(c)}{rel}")
        rows.append([row["claim"], row["outcome"], row["role"], *cells, row["summary"]])
    b.append(("table", ["claim", "outcome", "role", *[f"{w}: verdict, effect [CI]" for w in names], "in the worlds"],
              rows))
    return b


RESTS = ("What each verdict rests on: over the claim's uncertainty space (Morris trajectories, a few replications "
         "per sample with common random numbers), the primary's point effect at each sample (the mean paired "
         "difference, not a verdict); the parameters ranked by Morris mu* (the mean absolute change of the effect "
         "when the parameter moves one grid step, in the metric's units); where a linear fit of the effect crosses "
         "the threshold along the leading parameter; the largest effect found; and PRIM's box of the parameters "
         "where the point effect reaches the threshold (density: the share inside that reach it; coverage: the "
         "share of those that reach it that are inside; no box on fewer than 5 samples). Every parameter is marked "
         "as taken from the literature or an assumption in the table of assumptions below.")


def rests_on_blocks(results: list[ClaimResult]) -> list[tuple]:
    uncs = [(r.record, r.record["conditions"]["uncertainty"]) for r in results
            if r.record["conditions"]["uncertainty"] is not None]
    if not uncs:
        return []
    b: list[tuple] = [("h", 3, "What each verdict rests on"), ("p", RESTS)]
    rows = []
    for rec, u in uncs:
        ranked = [x for x in (u.get("ranking") or []) if x.get("above_noise", True)][:3]
        lead = (", ".join(f"{x['parameter']} ({fmt(x['mu_star'], 2)})" for x in ranked)
                or ("none above the noise" if u.get("ranking") else "-"))
        floor = u.get("noise_floor")
        box = u["box"]
        if not box.get("found"):
            btxt = f"none ({box.get('reason')})"
        elif box.get("restricted"):
            btxt = ("" if box.get("density_reached", True) else "the densest box, below the density asked: ") + \
                "; ".join(f"{k} in [{fmt(v[0])}, {fmt(v[1])}]" for k, v in box["limits"].items()) + (
                f" (density {fmt(box['density'], 2)}, coverage {fmt(box['coverage'], 2)}, n {box['n_in_box']})")
        else:
            btxt = f"the whole space (density {fmt(box['density'], 2)}, n {box['n_in_box']})"
        if box.get("found") and box.get("base_density") is not None:
            btxt += f"; base density {fmt(box['base_density'], 2)}"
        turn = f"{u['turn_parameter']} = {fmt(u['turns_near'])}" if u.get("turns_near") is not None else "-"
        rows.append([rec["id"], u["metric"], str(u["samples"]), f"{100 * u['share_reaching']:.0f}%",
                     signed(u["ceiling"]) if u.get("ceiling") is not None else "n/a", lead,
                     fmt(floor, 2) if floor is not None else "-", turn, btxt])
    b.append(("table", ["claim", "primary", "samples", "reach the threshold", "largest effect", "leading parameters "
                        "(mu*)", "noise floor of mu*", "turns near", "PRIM's box"], rows))
    b.append(("list", "In a sentence", [u["rests_on"] for _, u in uncs]))
    seen, rows = set(), []
    for rec, u in uncs:
        cid = rec.get("claim") or rec["id"]
        for k, a in (u.get("assumptions") or {}).items():
            if (cid, k) in seen:
                continue
            seen.add((cid, k))
            rows.append([cid, k, f"{fmt(a['low'])} to {fmt(a['high'])}", a["basis"], a["source"] or "-", a["why"]])
    if rows:
        b.append(("h", 3, "Assumptions"))
        b.append(("p", "Every parameter of every uncertainty space: taken from the literature (with its source) or "
                       "an assumption of the model, its range and why."))
        b.append(("table", ["claim", "parameter", "range", "basis", "source", "why"], rows))
    return b


ALSO = ("Further contrasts compare two of a claim's four arms (treatment, control and their mechanism-off arms) "
        "with the same replications, intervals and verdict rule as the claim's contrast; they are outside Holm's "
        "family (exploratory).")
LEVELS = ("A level compares one arm with levels the literature reports: per replication, the distance is the root "
          "mean square over the listed metrics of (the model's mean over the years - the reported level). "
          "Supported: the whole interval of the distance lies below the tolerance; contradicted: the whole interval "
          "lies above it; undetermined otherwise (a distance has no sign, so there is no 'negligible').")


def _p(p) -> str:
    """A Holm-adjusted p-value; below 1e-10 (the floor of the p-value's search times the family) as '<1e-10'."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "<1e-10" if p < 1e-10 else fmt(p)


def _oname(oc: dict) -> str:
    """An outcome's name: its metric, or metric and years where one metric is an outcome over several windows."""
    return oc.get("name") or oc["metric"]


def _ofile(oc: dict) -> str:
    return _oname(oc).replace(" ", "_")


def _level_ci(lv: dict) -> str:
    if lv.get("ci_low") is None or not math.isfinite(lv["ci_low"]):
        return f"{fmt(lv['distance'])} [no interval]"
    return f"{fmt(lv['distance'])} [{fmt(lv['ci_low'])}, {fmt(lv['ci_high'])}]"


def _show(x) -> str:
    t = json.dumps(x, sort_keys=True, default=str)
    return t if len(t) <= 80 else t[:77] + "..."


def _conf(results: list[ClaimResult]) -> str:
    cs = sorted({r.record.get("confidence") for r in results if r.record.get("confidence") is not None})
    return "/".join(f"{100 * c:.4g}%" for c in cs) or f"{CONFIDENCE:.0%}"


def _claim_blocks(res: ClaimResult, figures: dict[str, bytes]) -> list[tuple]:
    rec = res.record
    cid = rec["id"]
    d = rec["design"]
    b: list[tuple] = [("h", 2, f"{cid}: {rec['title']}" + (f" (world: {rec['world_label']})" if rec.get("world") else ""))]
    if rec.get("part_of"):
        b.append(("p", f"Part of {rec['part_of']}: one part of that claim's contrast, run and judged on its own."))
    b.append(("p", (f"Verdict: {_verdict_word(rec, 'verdict_adjusted')} on {_oname(rec['outcomes'][0])} (effect {_ci(rec)}, "
                    f"{100 * rec['confidence']:.4g}% interval, n = {rec['n']}; {rec['direction']} predicted, smallest "
                    f"effect that matters {fmt(rec['threshold'])}). {EXPLAIN[rec['verdict_adjusted']]}")))
    if rec["verdict_adjusted"] != rec["verdict"]:
        b.append(("p", (f"Unadjusted, the verdict is {_verdict_word(rec)}; Holm's adjustment over the "
                       f"{len(rec['family'])} primaries of this run (p = {fmt(rec['p_value'])}, adjusted "
                       f"{fmt(rec['p_adjusted'])}) does not keep it.")))
    sq = rec["sequential"]
    seq = (f"Replications: {sq['n_used']} per arm of the contrast (looks planned at {', '.join(map(str, sq['looks']))}; "
           f"{sq['stopped']}).")
    if rec.get("replications_needed"):
        seq += (f" From the observed spread, about {rec['replications_needed']} replications would decide it "
                "(a rough guide: the interval's width falls with the square root of n; a higher cap adds a look, "
                "which widens every interval a little, so somewhat more).")
    sk = rec.get("skewness")
    if sk is not None and abs(sk) > SKEW_WARN:
        seq += (f" The paired differences are skewed (sample skewness {sk:+.2f}): with strongly skewed differences "
                "the interval covers less often than stated, so this verdict errs more often than 5% "
                "(docs/claims.md, 'Replications until decided').")
    b.append(("p", seq))
    b.append(("kv", "Claim", rec["statement"]))
    b.append(("kv", "Source", rec["source"]))
    if rec["operationalisation"]:
        b.append(("kv", "Operationalisation", rec["operationalisation"]))
    arms = [f"control: {d['control']}", f"treatment: {d['treatment']}",
            f"mechanism off (both arms): {rec['mechanism_off']['description']} [{rec['mechanism_off']['changes']}]"]
    if rec["no_network"] is not None:
        arms.append(f"no-network counterfactual (control arm): {rec['no_network']['description']} "
                    f"[{rec['no_network']['changes']}]")
    if d.get("arms_differ_in"):
        arms.append("the resolved control and treatment scenarios differ in: " + ", ".join(d["arms_differ_in"]))
    for arm, what in (d.get("removed") or {}).items():
        arms.append(f"removed from the world in the {arm} arm: " + "; ".join(what))
    b.append(("list", "Arms", arms))
    b.append(("p", f"Runs: base scenario {d['base_scenario']} ({d['cities']} cities, {d['years_run'][0]}-"
                   f"{d['years_run'][1]}), {d['replications']} replications per arm at the first look "
                   f"({rec['sequential']['n_used']} in the end for the contrast's four arms), seed entropy {d['seed']}, "
                   f"{d['runs']} runs in all" + (f", {d['failed_runs']} failed" if d["failed_runs"] else "") + "."))
    rows = []
    for k, (oc, off) in enumerate(zip(rec["outcomes"], rec["mechanism_off"]["outcomes"])):
        rows.append([_oname(oc) + ("" if k == 0 else " (exploratory)"), oc["direction"], fmt(oc["threshold"]),
                     f"{oc['years'][0]}-{oc['years'][1]}",
                     fmt(oc["control_mean"]), fmt(oc["treatment_mean"]), _ci(oc), fmt(oc["d_z"]), fmt(oc["glass"]),
                     str(oc["n"]), _verdict_word(oc), f"{_verdict_word(off)} ({_ci(off)})",
                     f"{_verdict_word(off['contribution'])} ({_ci(off['contribution'])})", _through(oc)])
    b.append(("table", ["outcome", "predicted", "threshold", "years", "control", "treatment",
                        f"effect [{100 * rec['confidence']:.4g}% CI]", "d_z", "glass", "n", "verdict", "mechanism off",
                        "mechanism's part", "through its mechanism"], rows))
    for oc in rec["outcomes"]:
        if oc["why"]:
            b.append(("kv", f"Why {_oname(oc)}", oc["why"]))
        if oc["reference"] is not None:
            b.append(("p", f"{_oname(oc)}: reference level {fmt(oc['reference'])}"
                           + (f" ({oc['reference_source']})" if oc["reference_source"] else "")
                           + f"; control arm {fmt(oc['control_mean'])}, treatment arm {fmt(oc['treatment_mean'])}."))
    if rec["no_network"] is not None:
        nrows = [[x["metric"], fmt(x["no_network_mean"]), _ci(x["control_minus_no_network"]),
                  _ci(x["treatment_minus_no_network"])] for x in rec["no_network"]["outcomes"]]
        b.append(("table", ["outcome", "no networks", "control - no networks [95% CI]",
                            "treatment - no networks [95% CI]"], nrows))
    for c in rec.get("also") or []:
        b.append(("p", f"Further contrast '{c['name']}' (exploratory): {c['label']} ({c['treatment']} minus "
                       f"{c['control']})." + (f" {c['why']}" if c.get("why") else "")))
        b.append(("table", ["outcome", "predicted", "threshold", f"effect [{100 * rec['confidence']:.4g}% CI]", "n",
                            "verdict"],
                  [[_oname(oc), oc["direction"], fmt(oc["threshold"]), _ci(oc), str(oc["n"]), _verdict_word(oc)]
                   for oc in c["outcomes"]]))
    for lv in rec.get("levels") or []:
        b.append(("p", f"Level '{lv['name']}': {lv['label']}. The {lv['arm']} arm over {lv['years'][0]}-"
                       f"{lv['years'][1]} against {lv['source']}: distance {_level_ci(lv)} "
                       f"({100 * lv['confidence']:.4g}% interval, n = {lv['n']}) against a tolerance of "
                       f"{fmt(lv['tolerance'])}: {lv['verdict']}." + (f" {lv['why']}" if lv.get("why") else "")))
        b.append(("table", ["metric", "literature", "model"],
                  [[m["metric"], fmt(m["reference"]), fmt(m["model"])] for m in lv["metrics"]]))
    b.append(("img", f"{cid}_effects.png", f"{cid}: effects and intervals"))
    for oc in rec["outcomes"]:
        b.append(("img", f"{cid}_{_ofile(oc)}_over_time.png", f"{cid}: {_oname(oc)} over time"))
    if rec["gradient"] is not None:
        g = rec["gradient"]
        b.append(("p", (f"Gradient over {g['parameter']}: levels {', '.join(fmt(v) for v in g['values'])}; "
                        "control is the first level, treatment the last.")))
        b.append(("img", f"{cid}_gradient.png", f"{cid}: gradient"))
    cond = rec["conditions"]
    if cond["moderators"] or cond["uncertainty"]:
        b.append(("h", 3, f"{cid}: conditions (exploratory)"))
        b.append(("p", (f"Exploratory: {CONFIDENCE:.0%} intervals at the first look's replications, not adjusted "
                       "for multiplicity.")))
    for m, mod in enumerate(cond["moderators"]):
        for mo in mod["outcomes"]:
            b.append(("p", mo["sentence"]))
        b.append(("img", f"{cid}_conditions_{m}.png", f"{cid}: conditions along {mod['parameter']}"))
    unc = cond["uncertainty"]
    if unc is not None:
        b.append(("p", unc["sentence"] + f" ({unc['replications']} replications per arm at each sample.)"))
        b.append(("p", "What it rests on: " + unc["rests_on"]))
        if unc.get("ranking"):
            b.append(("table", ["parameter", "basis", "mu* [conf]", "above the noise floor", "sigma", "mu"],
                      [[x["parameter"], unc["assumptions"].get(x["parameter"], {}).get("basis", "assumption"),
                        f"{fmt(x['mu_star'])} [±{fmt(x.get('mu_star_conf'))}]",
                        "yes" if x.get("above_noise", True) else f"no (floor {fmt(unc.get('noise_floor'))})",
                        fmt(x["sigma"]), signed(x["mu"])] for x in unc["ranking"]]))
        b.append(("img", f"{cid}_uncertainty.png", f"{cid}: uncertainty space"))
    return [blk for blk in b if blk[0] != "img" or blk[1] in figures]


def _md_cell(x: str) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def render_md(blocks: list[tuple]) -> str:
    out = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            out.append("#" * blk[1] + " " + blk[2])
        elif kind == "notice":
            out.append(f"> **{blk[1]}**")
        elif kind == "p":
            out.append(blk[1])
        elif kind == "kv":
            out.append(f"**{blk[1]}.** {blk[2]}")
        elif kind == "list":
            out.append(f"**{blk[1]}.**\n\n" + "\n".join(f"- {x}" for x in blk[2]))
        elif kind == "table":
            head, rows = blk[1], blk[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{blk[2]}](figures/{blk[1]})")
    return "\n\n".join(out) + "\n"


CSS = """
body {font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 1.5em auto;
      padding: 0 1em; color: #222; line-height: 1.45;}
table {border-collapse: collapse; font-size: 13px; margin: 0.8em 0;}
th, td {border-bottom: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top;}
th {background: #f3f3f3;}
img {max-width: 100%; height: auto; display: block; margin: 0.6em 0;}
.notice {background: #fff3cd; border: 2px solid #e0a800; padding: 0.6em 1em; font-weight: bold;}
.v-supported {color: #1a9850; font-weight: bold;} .v-contradicted {color: #d73027; font-weight: bold;}
.v-negligible {color: #4575b4; font-weight: bold;} .v-undetermined {color: #666; font-weight: bold;}
"""


def _verdict_cell(text: str) -> str:
    t = escape(str(text))
    for v in VERDICTS:
        if str(text).lower().startswith(v):
            return f"<span class='v-{v}'>{t}</span>"
    return t


def render_html(blocks: list[tuple], figures: dict[str, bytes], quick: bool) -> str:
    title = "Claims lab report" + (" (QUICK RUN)" if quick else "")
    out = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>", f"<title>{escape(title)}</title>",
           f"<style>{CSS}</style></head><body>"]
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            out.append(f"<h{blk[1]}>{escape(blk[2])}</h{blk[1]}>")
        elif kind == "notice":
            out.append(f"<p class='notice'>{escape(blk[1])}</p>")
        elif kind == "p":
            out.append(f"<p>{escape(blk[1])}</p>")
        elif kind == "kv":
            out.append(f"<p><b>{escape(blk[1])}.</b> {escape(blk[2])}</p>")
        elif kind == "list":
            items = "".join(f"<li>{escape(x)}</li>" for x in blk[2])
            out.append(f"<p><b>{escape(blk[1])}.</b></p><ul>{items}</ul>")
        elif kind == "table":
            head = "".join(f"<th>{escape(h)}</th>" for h in blk[1])
            body = "".join("<tr>" + "".join(f"<td>{_verdict_cell(c)}</td>" for c in row) + "</tr>" for row in blk[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(figures[blk[1]]).decode("ascii")
            out.append(f"<img alt='{escape(blk[2])}' src='data:image/png;base64,{data}'>")
    if quick:
        out.append(f"<p class='notice'>{escape(QUICK_NOTICE)}</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Writing


def _stamp_lines(provenance: dict | None) -> list[str]:
    if not provenance:
        return []
    from analysis.provenance import stamp_lines

    lines = list(stamp_lines(provenance))
    made = provenance.get("runs_made_by") or []
    if made and any(m.get("source_sha256") != provenance.get("source_sha256") for m in made):
        lines.append("The runs were made by other model code than the code that evaluated them (resumed with "
                     "--allow-code-change, recorded in each sweep's manifest.json): "
                     + "; ".join(f"version {m.get('version')}, source sha256 {str(m.get('source_sha256'))[:12]} "
                                 f"({m.get('sweeps')} sweeps)" for m in made) + ".")
    return lines


def _replace_dir(tmp: Path, final: Path):
    """Put the finished directory `tmp` in place of `final` (which may exist)."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_outputs(results: list[ClaimResult], out: Path, quick: bool, command: str = "",
                  provenance: dict | None = None) -> list[str]:
    """figures/, report.md, report.html, then claims.json (each atomically). Returns the files written."""
    out = Path(out)
    figures: dict[str, bytes] = {}
    for r in results:
        figures.update(claim_figures(r))
    if results:
        figures["summary.png"] = summary_figure(results)
    tmp = out / f".figures.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name, data in figures.items():
            (tmp / name).write_bytes(data)
        _replace_dir(tmp, out / "figures")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    blocks = report_blocks(results, quick, command, figures, _stamp_lines(provenance))
    write_text_atomic(out / "report.md", render_md(blocks))
    write_text_atomic(out / "report.html", render_html(blocks, figures, quick))
    write_text_atomic(out / "outcomes.csv", outcomes_table(results).to_csv(index=False))
    doc = claims_document(results, quick, provenance)
    write_bytes_atomic(out / "claims.json", (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode("utf-8"))
    return ["claims.json", "outcomes.csv", "report.md", "report.html", "figures/"]


def outcomes_table(results: list[ClaimResult]) -> pd.DataFrame:
    """One row per claim, outcome and contrast (the claim's, mechanism off, the mechanism's part): the table
    a spreadsheet opens (outcomes.csv). The primary's Holm-adjusted verdict is in its own column."""
    rows = []
    for r in results:
        rec = r.record
        also = rec.get("also") or []
        for k, (oc, off) in enumerate(zip(rec["outcomes"], rec["mechanism_off"]["outcomes"])):
            extra = [(f"also:{c['name']}", c["outcomes"][k]) for c in also]
            for contrast, e in (("claim", oc), ("mechanism_off", off), ("mechanism_part", off["contribution"]), *extra):
                rows.append({"claim": rec["id"], "world": rec.get("world"), "outcome": _oname(oc), "role": "primary" if k == 0 else "exploratory",
                             "contrast": contrast, "direction": oc["direction"], "threshold": oc["threshold"],
                             "effect": e.get("effect"), "ci_low": e.get("ci_low"), "ci_high": e.get("ci_high"),
                             "confidence": e.get("confidence"), "n": e.get("n"), "verdict": e.get("verdict"),
                             "verdict_text": e.get("verdict_text"),
                             "verdict_adjusted": rec["verdict_adjusted"] if (k == 0 and contrast == "claim") else None,
                             "through_mechanism": oc.get("through_mechanism") if contrast == "claim" else None})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Publishing a finished run's report into the documentation (docs/claims_report.md)

PUBLISHED_FIGURES = ("summary.png", "_effects.png")  # kept with the published report; the rest stay in the run


def _claims_count(claims: list[dict]) -> str:
    """'12 claims in 2 worlds (24 contrasts)' from claims.json's records, or '8 claims' without worlds."""
    ids = list(dict.fromkeys(c.get("claim") or c["id"] for c in claims))
    worlds = list(dict.fromkeys(c["world"] for c in claims if c.get("world")))
    text = f"{len(ids)} claim{'s' if len(ids) != 1 else ''}"
    return text + (f" in {len(worlds)} worlds ({len(claims)} contrasts)" if worlds else "")


def publish(claims_dir, dest, command: str = "") -> Path:
    """Copy the report.md of a finished claims run (`claims_dir`) to `dest` (a .md file), with the summary
    and each claim's effects figure copied beside it into `<dest stem>_figures/` and the other figures
    named (they stay in the run's figures/). A header says where the report comes from and how it was
    made. Refuses a directory without a finished run (no claims.json)."""
    src = Path(claims_dir)
    dest = Path(dest)
    doc_path = src / "claims.json"
    if not (doc_path.is_file() and (src / "report.md").is_file()):
        raise ScenarioError(str(src), "", "holds no finished claims run (claims.json and report.md); run "
                                          "python run.py claims first")
    doc = json.loads(doc_path.read_text())
    fig_dir = dest.parent / f"{dest.stem}_figures"
    kept = [p for p in sorted((src / "figures").glob("*.png")) if p.name.endswith(PUBLISHED_FIGURES)]
    text = (src / "report.md").read_text()

    def image(m):
        alt, name = m.group(1), Path(m.group(2)).name
        if name.endswith(PUBLISHED_FIGURES):
            return f"![{alt}]({fig_dir.name}/{name})"
        return f"*Figure `{name}` ({alt}): in the run's `figures/` directory.*"

    text = re.sub(r"!\[([^\]]*)\]\(figures/([^)]+)\)", image, text)
    root = Path(__file__).resolve().parents[2]

    def local_paths(m):  # a published document names no directory of the machine that made the run
        words = []
        for w in m.group(1).split(" "):
            core = w.strip("`.,;")  # the stamp writes the command as `...`.
            lead, tail = w[: len(w) - len(w.lstrip("`"))], w[len(w.rstrip("`.,;")):]
            p = Path(core)
            if core and p.is_absolute():
                try:
                    core = str(p.resolve().relative_to(root))
                except ValueError:
                    core = "DIR"
                w = lead + core + tail
            words.append(w)
        return "Command: " + " ".join(words)

    text = re.sub(r"^Command: (.*)$", local_paths, text, count=1, flags=re.MULTILINE)
    runs = sum(c["design"]["runs"] for c in doc["claims"])
    used = ", ".join(f"{c['id']} {(c.get('sequential') or {}).get('n_used', c['design']['replications'])}"
                     for c in doc["claims"])
    prov = doc.get("provenance") or {}
    head = (f"<!-- Published from a claims run by analysis/claims/report.py (publish); do not edit by hand. -->\n\n"
            f"This is the report of a {'QUICK' if doc.get('quick') else 'full'} claims run of model version "
            f"{prov.get('model_version', 'unknown')}: {_claims_count(doc['claims'])}, {runs:,} runs; replications per "
            f"arm of each claim's contrast (until decided): {used}. To make it again:\n\n"
            f"    {command or 'python run.py claims --out results/claims'}\n"
            f"    python -m analysis.claims.report --publish results/claims {dest}\n\n"
            "The summary and each claim's effects figure are beside this file; the other figures named below "
            "are in the run's `figures/` directory.\n\n")
    tmp = fig_dir.parent / f".{fig_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for p in kept:
            shutil.copyfile(p, tmp / p.name)
        _replace_dir(tmp, fig_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_text_atomic(dest, head + text)
    return dest


def assumptions_markdown(files=None) -> str:
    """The table of assumptions of the claim files (default: the shipped ones) as Markdown: per claim and
    parameter of its uncertainty space, the range, whether it is taken from the literature or an
    assumption, the source and why (docs/claims.md holds it; tests check that it is in step)."""
    from analysis.claims import default_files
    from analysis.claims.spec import validate_spec
    from model.loading import read_yaml

    rows = []
    for f in files or default_files():
        spec = validate_spec(read_yaml(f), str(f))
        if spec.uncertainty is None:
            continue
        for k, b in spec.uncertainty.parameters.items():
            rows.append([spec.id, f"`{k}`", f"{fmt(b.low)} to {fmt(b.high)}", b.basis, b.source or "-", b.why])
    return render_md([("table", ["claim", "parameter", "range", "basis", "source", "why"], rows)])


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis.claims.report",
                                 description="Publish a finished claims run's report (e.g. as docs/claims_report.md), "
                                             "or print the table of assumptions of the claim files.")
    ap.add_argument("--publish", nargs=2, metavar=("CLAIMS_DIR", "DEST_MD"))
    ap.add_argument("--assumptions", action="store_true", help="print the table of assumptions (Markdown)")
    ap.add_argument("--command", default="", help="the command that made the run (for the header)")
    a = ap.parse_args(argv)
    if a.assumptions:
        print(assumptions_markdown(), end="")
        return 0
    if a.publish is None:
        ap.error("give --publish CLAIMS_DIR DEST_MD or --assumptions")
    try:
        print(f"wrote {publish(a.publish[0], a.publish[1], a.command)}")
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
