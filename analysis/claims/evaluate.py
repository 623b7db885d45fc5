"""From a claim's finished sweeps to its numbers: effects, intervals, verdicts, conditions.

`evaluate(plan, dirs)` reads the results of the claim's sweeps (results.parquet, written by the sweep
engine) and returns a `ClaimResult`: the record that goes into claims.json (analysis/claims/report.py
describes its fields) and the series the figures draw. The statistics are in statistics.py, the
verdict rule in verdict.py, the conditions in conditions.py. Only replications where both arms of a
contrast finished are paired; runs that failed are counted in `design.failed_runs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import skew

from analysis.claims.conditions import moderator_sentence, transitions, uncertainty_summary
from analysis.claims.plan import Arm, ClaimPlan, describe_layer
from analysis.claims.statistics import (
    Effect,
    look_confidence,
    paired_effect,
    pairs,
    replications_needed,
    rng_for,
    verdict_p,
    window_mean,
)
from analysis.claims.verdict import (
    CONTRADICTED,
    NEGLIGIBLE,
    SUPPORTED,
    UNDETERMINED,
    describe,
    in_threshold_units,
    sign,
    sign_settled,
    verdict,
)
from analysis.sweep.store import read_failed
from model.loading import PROJECT_ROOT


@dataclass
class ClaimResult:
    plan: ClaimPlan
    record: dict
    years: np.ndarray
    runs: dict = field(default_factory=dict)  # (point, sweep name) -> {metric: R x T array}

    def series(self, arm: Arm | None, metric: str, lhs: bool = False) -> np.ndarray | None:
        if arm is None:
            return None
        return self.runs[("lhs" if lhs else "main", arm.point)][metric]


def read_runs(sweep, out: Path, years: np.ndarray) -> dict[int, dict[str, np.ndarray]]:
    """{point: {metric: array (replications x years)}} from a finished sweep directory (NaN: missing run)."""
    R, T = sweep.replications, len(years)
    cols = ["point", "replication", "year", *sweep.metrics]
    path = Path(out) / "results.parquet"
    df = pd.read_parquet(path, columns=cols) if path.exists() else pd.DataFrame(columns=cols)
    out_: dict[int, dict[str, np.ndarray]] = {p: {m: np.full((R, T), np.nan) for m in sweep.metrics}
                                              for p in range(sweep.n_points)}
    if len(df):
        pi = df["point"].to_numpy(np.int64)
        ri = df["replication"].to_numpy(np.int64)
        ti = np.searchsorted(years, df["year"].to_numpy(np.int64))
        ok = (ti < T) & (years[np.minimum(ti, T - 1)] == df["year"].to_numpy(np.int64))
        for m in sweep.metrics:
            v = pd.to_numeric(df[m], errors="coerce").to_numpy(float)
            for p in np.unique(pi):
                sel = ok & (pi == p)
                out_[int(p)][m][ri[sel], ti[sel]] = v[sel]
    return out_


def outcome_values(runs: np.ndarray, years: np.ndarray, window: list[int]) -> np.ndarray:
    """Each replication's outcome: the metric's mean over the window (NaN for a missing run)."""
    return np.array([window_mean(years, row, window[0], window[1]) if np.isfinite(row).any() else np.nan
                     for row in runs])


def _effect_record(e: Effect, o, with_verdict: bool = True) -> dict:
    d = e.as_dict()
    if with_verdict:
        v = verdict(e.ci_low, e.ci_high, o.threshold, o.direction)
        d["verdict"] = v
        d["verdict_text"] = describe(v, e.ci_low, e.ci_high, e.identical)
        d["sign_settled"] = sign_settled(e.ci_low, e.ci_high) if v == NEGLIGIBLE else None
        d["effect_in_threshold_units"] = (in_threshold_units(e.effect, o.threshold, o.direction)
                                          if math.isfinite(e.effect) else None)
    return d


def _judged(e: Effect, o, name: str, conf: float) -> dict:
    """A contrast's outcome as claims.json records it: the outcome, its effect and verdict, and (undetermined)
    the replications that would decide it."""
    rec = {"metric": o.metric, "name": name, "direction": o.direction, "threshold": o.threshold,
           **_effect_record(e, o)}
    rec["replications_needed"] = (replications_needed(e.effect, e.sd_d, o.threshold, o.direction, conf)
                                  if rec["verdict"] == UNDETERMINED else None)
    return rec


def all_runs(plan: ClaimPlan, dirs: dict[str, Path], years: np.ndarray) -> dict:
    """{(sweep, point): {metric: array (replications x years)}}: the main sweep's arms with the rows of every
    later block appended (plan.n_used rows; NaN where an arm has no run, e.g. a moderator beyond the initial
    replications), and the uncertainty samples."""
    N = plan.n_used
    main = read_runs(plan.main, dirs[plan.id], years)
    runs = {}
    for p, v in main.items():
        runs[("main", p)] = {m: np.vstack([a, np.full((N - a.shape[0], a.shape[1]), np.nan)]) for m, a in v.items()}
    for b in plan.blocks:
        br = read_runs(b.sweep, dirs[b.name], years)
        for p_main, p_block in b.points.items():
            for m in plan.metrics:
                runs[("main", p_main)][m][b.start:b.stop] = br[p_block][m]
    if plan.lhs is not None:
        runs.update({("lhs", p): v for p, v in read_runs(plan.lhs, dirs[f"{plan.id}-lhs"], years).items()})
    return runs


def _failed(out: Path) -> int:
    return len(read_failed(Path(out), rewrite=False))


def evaluate(plan: ClaimPlan, dirs: dict[str, Path]) -> ClaimResult:
    """The claim's record and series from its sweep directories ({sweep name: directory})."""
    spec = plan.spec
    start = int(plan.base["start_year"])
    years = np.arange(start, start + plan.steps, dtype=np.int64)
    res = ClaimResult(plan=plan, record={}, years=years, runs=all_runs(plan, dirs, years))
    K = len(plan.looks) or 1
    conf = look_confidence(K)  # the contrast's arms are looked at up to K times (sequential.py)
    y = _Outcomes(res, years)
    outcomes = _contrast(plan, y, conf, K)
    primary = outcomes[0]
    mech = _mechanism_off(plan, y, conf, outcomes)
    no_net = _no_network(plan, y)
    gradient = _gradient(plan, y)
    mods = _moderators(plan, y)
    unc = _uncertainty(plan, y, mods)
    also = _also(plan, y, conf)
    levels = _levels(plan, y, conf)
    sentences = [mo["outcomes"][0]["sentence"] for mo in mods] + ([unc["sentence"]] if unc else [])
    res.record = {
        "id": plan.id, "claim": spec.id, **_world(plan), "title": spec.title, "statement": spec.statement,
        "source": spec.source,
        "file": display_path(plan.source), "operationalisation": spec.operationalisation,
        "design": _design(plan, dirs, years),
        **{k: primary[k] for k in ("metric", "direction", "threshold", "years", "effect", "ci_low", "ci_high", "n",
                                   "confidence", "identical", "verdict", "verdict_text", "sign_settled",
                                   "replications_needed", "p_value", "skewness", "d_z", "glass",
                                   "through_mechanism", "through_mechanism_reason")},
        "sequential": _sequential(plan, conf, primary["verdict"]),
        "part_of": spec.part_of,
        "outcomes": outcomes, "mechanism_off": mech, "also": also, "levels": levels,
        "no_network": no_net, "gradient": gradient,
        "conditions": {"moderators": mods, "uncertainty": unc, "sentences": sentences},
    }
    return res


@dataclass
class _Outcomes:
    """An arm's outcome per replication (outcome_values of its series): what every step of `evaluate` pairs."""

    res: ClaimResult
    years: np.ndarray

    def __call__(self, arm: Arm | None, o, lhs: bool = False) -> np.ndarray:
        return outcome_values(self.res.series(arm, o.metric, lhs=lhs), self.years, o.years)


def _contrast(plan: ClaimPlan, y: _Outcomes, conf: float, K: int) -> list[dict]:
    """The contrast (treatment minus control) of every outcome; the primary (first) one with its p-value."""
    spec = plan.spec
    ctrl, trt = plan.find("main", "control"), plan.find("main", "treatment")
    outcomes = []
    for o, name in zip(spec.outcomes, spec.outcome_names()):
        e = paired_effect(y(trt, o), y(ctrl, o), rng_for(spec.id, o.metric, "main"), conf)
        outcomes.append({**_judged(e, o, name, conf), "years": list(o.years), "why": o.why,
                         "reference": o.reference, "reference_source": o.reference_source})
    primary = outcomes[0]
    t_p, c_p = pairs(y(trt, spec.outcomes[0]), y(ctrl, spec.outcomes[0]))
    o0 = spec.outcomes[0]
    d = t_p - c_p
    primary["p_value"] = verdict_p(d, (spec.id, o0.metric, "main"), o0.threshold, o0.direction, K)
    # the sequential guarantee assumes intervals that cover: strongly skewed differences cover less (docs/claims.md)
    primary["skewness"] = (float(skew(d, bias=False)) if len(d) >= 3 and np.ptp(d) > 0 else None)
    return outcomes


def _mechanism_off(plan: ClaimPlan, y: _Outcomes, conf: float, outcomes: list[dict]) -> dict:
    """The contrast with the mechanism off and the mechanism's part of the effect; sets each outcome's
    `through_mechanism` (and its reason)."""
    spec = plan.spec
    ctrl, trt = plan.find("main", "control"), plan.find("main", "treatment")
    oc, ot = plan.find("off", "control"), plan.find("off", "treatment")
    off_out = []
    for o, name in zip(spec.outcomes, spec.outcome_names()):
        e = paired_effect(y(ot, o), y(oc, o), rng_for(spec.id, o.metric, "mechanism_off"), conf)
        # the mechanism's part of the effect: seed by seed, the effect with it minus the effect without it
        part = paired_effect(y(trt, o) - y(ctrl, o), y(ot, o) - y(oc, o),
                             rng_for(spec.id, o.metric, "mechanism_contribution"), conf)
        contribution = {k: v for k, v in _effect_record(part, o).items()
                        if k in ("effect", "ci_low", "ci_high", "n", "confidence", "identical", "verdict",
                                 "verdict_text", "effect_in_threshold_units")}
        off_out.append({"metric": o.metric, "name": name, **_effect_record(e, o), "contribution": contribution})
    mech = {"description": spec.mechanism_off.description, "changes": _changes(spec.mechanism_off),
            **{k: off_out[0][k] for k in ("metric", "effect", "ci_low", "ci_high", "n", "verdict", "verdict_text",
                                          "contribution")},
            "outcomes": off_out}
    # the mechanism-off arms were tested when they differ in some outcome of the claim (an outcome can be
    # identical in them because the mechanism off removes it altogether, e.g. no one is excluded without cuts)
    tested = any(not x.get("identical", False) and x.get("n", 0) > 0 for x in off_out)
    for out, off, o in zip(outcomes, off_out, spec.outcomes):  # through its mechanism: asked of every outcome
        out["through_mechanism"], out["through_mechanism_reason"] = through_mechanism(out, off, o.threshold,
                                                                                      arms_differ=tested)
    return mech


ARM_OF = {"treatment": ("main", "treatment"), "control": ("main", "control"),
          "treatment_off": ("off", "treatment"), "control_off": ("off", "control")}


def _also(plan: ClaimPlan, y: _Outcomes, conf: float) -> list[dict]:
    """Further contrasts between the four arms (spec `also`), each outcome with its verdict at the contrast's
    confidence (the four arms are looked at together); exploratory (outside Holm's family)."""
    spec = plan.spec
    out = []
    for c in spec.also:
        a_t, a_c = plan.find(*ARM_OF[c.treatment]), plan.find(*ARM_OF[c.control])
        rows = []
        for o, name in zip(spec.outcomes, spec.outcome_names()):
            e = paired_effect(y(a_t, o), y(a_c, o), rng_for(spec.id, o.metric, f"also:{c.name}"), conf)
            rows.append(_judged(e, o, name, conf))
        out.append({"name": c.name, "label": c.label, "treatment": c.treatment, "control": c.control,
                    "why": c.why, "outcomes": rows})
    return out


def level_verdict(ci_low: float, ci_high: float, tolerance: float) -> str:
    """A level against the literature: supported when every distance the interval allows is below the
    tolerance, contradicted when every one is above it, undetermined otherwise (a distance has no sign, so no
    `negligible`)."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return UNDETERMINED
    if ci_high < tolerance:
        return SUPPORTED
    if ci_low > tolerance:
        return CONTRADICTED
    return UNDETERMINED


def level_distance(values: dict[str, np.ndarray], reference: dict[str, float]) -> np.ndarray:
    """Per replication, the root mean square over the metrics of (window mean - reference); NaN where a
    metric is missing."""
    sq = np.vstack([(values[m] - r) ** 2 for m, r in reference.items()])
    return np.sqrt(sq.mean(axis=0))


def _levels(plan: ClaimPlan, y: _Outcomes, conf: float) -> list[dict]:
    """Levels judged against the literature (spec `levels`): the distance per replication, its mean and
    interval at the contrast's confidence, and the verdict against the tolerance."""
    spec = plan.spec
    out = []
    for lv in spec.levels:
        arm = plan.find("main", lv.arm)
        vals = {m: outcome_values(y.res.series(arm, m), y.years, lv.years) for m in lv.reference}
        dist = level_distance(vals, lv.reference)
        e = paired_effect(dist, np.zeros_like(dist), rng_for(spec.id, lv.name, "level"), conf)
        v = level_verdict(e.ci_low, e.ci_high, lv.tolerance)
        out.append({"name": lv.name, "label": lv.label, "arm": lv.arm, "years": list(lv.years),
                    "tolerance": lv.tolerance, "source": lv.source, "why": lv.why,
                    "distance": e.effect, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n,
                    "confidence": conf, "verdict": v,
                    "metrics": [{"metric": m, "reference": r, "model": _mean(vals[m])}
                                for m, r in lv.reference.items()]})
    return out


def _no_network(plan: ClaimPlan, y: _Outcomes) -> dict | None:
    """Both arms against the world without the network (None when the claim has no such arm)."""
    spec = plan.spec
    nn = plan.find("no_network", "no_network")
    if nn is None:
        return None
    ctrl, trt = plan.find("main", "control"), plan.find("main", "treatment")
    rows = []
    for o in spec.outcomes:
        base_y = y(nn, o)
        rows.append({"metric": o.metric,
                     "no_network_mean": _mean(base_y),
                     "control_minus_no_network": _effect_record(
                         paired_effect(y(ctrl, o), base_y, rng_for(spec.id, o.metric, "no_network:control")), o,
                         with_verdict=False),
                     "treatment_minus_no_network": _effect_record(
                         paired_effect(y(trt, o), base_y, rng_for(spec.id, o.metric, "no_network:treatment")), o,
                         with_verdict=False)})
    return {"description": spec.no_network.description, "changes": _changes(spec.no_network), "outcomes": rows}


def _gradient(plan: ClaimPlan, y: _Outcomes) -> dict | None:
    """Each level of a gradient claim against its control (None for a claim of two arms)."""
    spec = plan.spec
    if spec.gradient is None:
        return None
    g = spec.gradient
    ctrl, trt = plan.find("main", "control"), plan.find("main", "treatment")
    level_arms = [ctrl] + [plan.find("level", "level", level=j) for j in range(1, len(g.values) - 1)] + [trt]
    gout = []
    for o in spec.outcomes:
        base_y = y(ctrl, o)
        levels = []
        for j, (v, a) in enumerate(zip(g.values, level_arms)):
            e = paired_effect(y(a, o), base_y, rng_for(spec.id, o.metric, f"level:{j}"))
            levels.append({"value": v, "mean": e.treatment_mean, "effect": e.effect, "ci_low": e.ci_low,
                           "ci_high": e.ci_high, "n": e.n})
        gout.append({"metric": o.metric, "levels": levels})
    return {"parameter": g.parameter, "values": list(g.values), "outcomes": gout}


def _moderators(plan: ClaimPlan, y: _Outcomes) -> list[dict]:
    """Conditions: the contrast at each value of each moderator, where its verdict changes, in a sentence."""
    spec = plan.spec
    mods = []
    for m, mod in enumerate(plan.moderators):
        mouts = []
        for o in spec.outcomes:
            effs = []
            for j in range(len(mod.values)):
                a_c = plan.find("moderator", "control", moderator=m, value=j)
                a_t = plan.find("moderator", "treatment", moderator=m, value=j)
                effs.append(paired_effect(y(a_t, o), y(a_c, o), rng_for(spec.id, o.metric, f"moderator:{m}:{j}")))
            lows, highs = [e.ci_low for e in effs], [e.ci_high for e in effs]
            vds = [verdict(e.ci_low, e.ci_high, o.threshold, o.direction) for e in effs]
            trans = transitions(list(mod.values), lows, highs, vds, o.threshold, o.direction)
            mouts.append({"metric": o.metric, "effect": [e.effect for e in effs], "ci_low": lows, "ci_high": highs,
                          "n": [e.n for e in effs], "verdict": vds, "transitions": trans,
                          "sentence": moderator_sentence(spec.id, o.metric, mod.parameter, list(mod.values),
                                                         [e.effect for e in effs], vds, trans, o.threshold,
                                                         o.direction)})
        mods.append({"parameter": mod.parameter, "values": list(mod.values), "outcomes": mouts})
    return mods


def _uncertainty(plan: ClaimPlan, y: _Outcomes, mods: list[dict]) -> dict | None:
    """Conditions: the primary outcome's point effect over the samples of the uncertainty space, the
    parameters' ranking, PRIM's box and what the verdict rests on (None without a space), beside the
    primary's turning points along the moderators (`mods`, at every other parameter's default)."""
    if plan.lhs is None:
        return None
    spec = plan.spec
    u = spec.uncertainty
    o = spec.outcomes[0]
    effs = []
    for s in range(len(plan.lhs_values)):
        a_c = plan.find("lhs", "control", sample=s)
        a_t = plan.find("lhs", "treatment", sample=s)
        effs.append(paired_effect(y(a_t, o, lhs=True), y(a_c, o, lhs=True), rng_for(spec.id, o.metric, f"lhs:{s}")))
    bounds = {k: [b.low, b.high] for k, b in u.parameters.items()}
    basis = {k: b.basis for k, b in u.parameters.items()}
    morris = u.design == "morris"
    summ = uncertainty_summary(plan.id, o.metric, plan.lhs_values, [e.effect for e in effs], o.threshold,
                               o.direction, u.density, bounds, basis,
                               unit=plan.lhs_unit if morris else None, levels=u.levels if morris else None,
                               se=[e.sd_d / math.sqrt(e.n) if e.sd_d is not None and e.n else None for e in effs],
                               moderator_turns={mo["parameter"]: [t["at"] for t in mo["outcomes"][0]["transitions"]
                                                                  if t.get("at") is not None] for mo in mods})
    return {"metric": o.metric, "parameters": bounds, "design": u.design, "replications": plan.lhs_replications,
            "density": u.density, "threshold": o.threshold, "direction": o.direction,
            "assumptions": {k: {"low": b.low, "high": b.high, "basis": b.basis, "source": b.source, "why": b.why}
                            for k, b in u.parameters.items()},
            **summ,
            "sample_values": plan.lhs_values, "sample_effect": [e.effect for e in effs],
            "sample_ci_low": [e.ci_low for e in effs], "sample_ci_high": [e.ci_high for e in effs]}


def _design(plan: ClaimPlan, dirs: dict[str, Path], years: np.ndarray) -> dict:
    """The record's `design`: arms, base, years, replications, runs and failed runs."""
    spec = plan.spec
    failed = _failed(dirs[plan.id]) + (_failed(dirs[f"{plan.id}-lhs"]) if plan.lhs is not None else 0)
    return {"kind": "arms" if spec.arms is not None else "gradient",
            "control": plan.labels["control"], "treatment": plan.labels["treatment"],
            "arms_differ_in": plan.arm_differences(),
            "base_scenario": plan.base.get("name"), "cities": plan.base["cities"]["n"]
            if plan.base["cities"]["source"] == "synthetic" else f"real (>= {plan.base['cities']['min_population']:g})",
            "years_run": [int(years[0]), int(years[-1])], "steps": plan.steps, "seed": spec.seed,
            "replications": plan.replications, "uncertainty_replications": plan.lhs_replications or None,
            "runs": plan.n_runs, "failed_runs": failed,
            "removed": {_arm_name(a): a.removed for a in plan.arms if a.removed and a.role in ("main", "off", "no_network")}}


def _world(plan: ClaimPlan) -> dict:
    """The record's world: its name, label and why (None for a claim file without worlds)."""
    w = plan.world
    return {"world": w and w.name, "world_label": w and w.label, "world_why": w and w.why}


def _arm_name(a: Arm) -> str:
    return {"main": a.arm, "off": f"{a.arm} (mechanism off)", "no_network": "no network"}[a.role]


def _sequential(plan: ClaimPlan, conf: float, primary_verdict: str) -> dict:
    """The record's `sequential`: looks, replications used, confidence and why it stopped."""
    return {"looks": list(plan.looks), "max_replications": plan.looks[-1] if plan.looks else plan.replications,
            "n_used": plan.n_used, "confidence": conf,
            "stopped": stop_reason(plan, primary_verdict),
            "extended_arms": "control, treatment and both mechanism-off arms",
            "initial_only": "gradient levels, the no-network arm, moderators and uncertainty samples"}


def through_mechanism(outcome: dict, off: dict, threshold: float, arms_differ: bool = False) -> tuple[bool | None, str]:
    """Whether a decided effect (supported or contradicted) holds through the mechanism the claim names, and
    why (docs/claims.md). With v the outcome's verdict: yes when the effect is gone with the mechanism off
    (every effect that interval allows falls short of the threshold in v's direction; it may go the other
    way) and the mechanism's own part of the effect (with it minus without it, seed by seed) has the same
    verdict v (an outcome identical in the mechanism-off arms counts as gone when those arms differ in another
    outcome of the claim, `arms_differ`: the mechanism off removed it, the arms were not frozen); NO when the effect with the mechanism off still has verdict v (it comes from elsewhere); None
    (cannot tell) when the mechanism-off arms do not differ at all (no test) or the intervals leave it open.
    A negligible or undetermined effect has nothing to attribute: None, with the reason."""
    v = outcome["verdict"]
    if v == NEGLIGIBLE:
        return None, "n/a: the effect is negligible, there is no effect that matters to attribute"
    if v not in (SUPPORTED, CONTRADICTED):
        return None, "n/a: the effect is undetermined"
    lo, hi = off.get("ci_low"), off.get("ci_high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None, "cannot tell: no interval with the mechanism off"
    if off["verdict"] == v:
        return False, f"the effect is still {v} with the mechanism off: it comes from elsewhere"
    if (off.get("identical") or hi - lo <= 1e-12 * max(1.0, abs(lo))) and not arms_differ:
        return None, "cannot tell: the mechanism-off arms give identical outcomes in every pair: nothing was tested"
    s = sign(outcome["direction"])
    a, b = sorted((s * lo, s * hi))
    gone = b < threshold if v == SUPPORTED else a > -threshold
    if gone and off["contribution"]["verdict"] == v:
        return True, f"gone with the mechanism off, and the mechanism's part is {v}"
    if gone and off["contribution"]["verdict"] == NEGLIGIBLE:
        return None, ("in part: gone with the mechanism off, but the mechanism's own part is smaller than the "
                      "threshold: neither the mechanism alone nor the rest alone makes an effect that matters")
    return None, ("cannot tell: the intervals leave it open (the effect with the mechanism off, or the "
                  "mechanism's part, is not decided)")


def stop_reason(plan: ClaimPlan, primary_verdict: str) -> str:
    """Why the sequential procedure stopped where it did (or, in a run not yet finished, where it stands)."""
    n, last = plan.n_used, (plan.looks[-1] if plan.looks else plan.replications)
    if len(plan.looks) <= 1:
        return f"one look ({n} replications): no further blocks planned"
    if primary_verdict != UNDETERMINED:
        return f"the primary verdict was decided at {n} replications (look {plan.looks.index(n) + 1} of {len(plan.looks)})"
    if n >= last:
        return f"the cap of {last} replications was reached with the primary verdict undetermined"
    return f"stopped at {n} replications, before the cap of {last}"


def display_path(path: str) -> str:
    """A claim file's path relative to the project root when it lies inside it (scenarios/claims/C1.yaml)."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def _changes(layer) -> str:
    return describe_layer(layer, "no change")
