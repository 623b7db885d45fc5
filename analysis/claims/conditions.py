"""Conditions of a claim: where its effect holds, vanishes or reverses.

- Along one moderator: the effect and interval at each value (computed by analysis/claims/evaluate.py),
  the values where the verdict changes, interpolated linearly between the two neighbouring values
  at the point where the bound that decides the verdict crosses the threshold, and one sentence
  generated from these numbers.
- Over an uncertainty space (Morris trajectories or a Latin hypercube of parameter values): at each
  sample the primary's point effect (the mean paired difference over the sample's replications, not
  its verdict: a few replications decide little, so verdicts would map power, not the effect).
  The share of samples whose point effect reaches the threshold; the largest effect found (a ceiling,
  stated when no sample reaches the threshold); the parameters ranked by their Morris elementary
  effects on the point effect (SALib: mu*, the mean absolute change of the effect over one grid step
  of the parameter's whole range, and sigma); where the effect turns (the value of the leading
  parameter at which a linear fit of the effect on every parameter, the others at their means,
  crosses the threshold); and the box of parameters where the effect reaches the threshold, found by
  PRIM (`ema_workbench.analysis.prim`): of the boxes on PRIM's peeling trajectory whose density
  (share of samples inside that reach it) reaches the claim's `density`, the one with the largest
  coverage; when none reaches it, the densest box; no box when it would hold fewer than
  MIN_BOX_SAMPLES samples.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from analysis.claims.verdict import CONTRADICTED, SUPPORTED, UNDETERMINED, VERDICTS, margin, sign


def fmt(x, digits: int = 3) -> str:
    """A number for sentences and tables: 3 significant digits; text and booleans as they are."""
    if isinstance(x, bool) or x is None:
        return {True: "true", False: "false", None: "n/a"}[x]
    if isinstance(x, str):
        return x
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def signed(x: float) -> str:
    return ("+" if x > 0 else "") + fmt(x)


def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def transitions(values: list, lows: list[float], highs: list[float], verdicts: list[str], threshold: float,
                direction: str) -> list[dict]:
    """Where the verdict changes between neighbouring moderator values: {between, from, to, at}; `at` is
    interpolated for numeric values (None otherwise, or when a bound is missing)."""
    out = []
    num = _numeric(values)
    for i in range(len(values) - 1):
        v0, v1 = verdicts[i], verdicts[i + 1]
        if v0 == v1:
            continue
        at = None
        ok = all(x is not None and math.isfinite(x) for x in (lows[i], highs[i], lows[i + 1], highs[i + 1]))
        if num and ok:
            # the boundary of the verdict left (or, coming from undetermined, the one entered)
            key = v0 if v0 != UNDETERMINED else v1
            m0 = margin(key, lows[i], highs[i], threshold, direction)
            m1 = margin(key, lows[i + 1], highs[i + 1], threshold, direction)
            if m1 != m0:
                x0, x1 = float(values[i]), float(values[i + 1])
                at = x0 + (0.0 - m0) * (x1 - x0) / (m1 - m0)
                at = float(min(max(at, min(x0, x1)), max(x0, x1)))
        out.append({"between": [values[i], values[i + 1]], "from": v0, "to": v1, "at": at})
    return out


def _list(values: list, verdicts: list[str], want: str) -> list:
    return [v for v, vd in zip(values, verdicts) if vd == want]


def moderator_sentence(claim_id: str, metric: str, parameter: str, values: list, effects: list[float],
                       verdicts: list[str], trans: list[dict], threshold: float, direction: str) -> str:
    """One sentence from the numbers of a moderator sweep."""
    span = f"{parameter} from {fmt(values[0])} to {fmt(values[-1])}"
    fin = [e for e in effects if e is not None and math.isfinite(e)]
    rng = f"{signed(min(fin))} to {signed(max(fin))}" if fin else "not computable"
    head = (f"{claim_id}, {metric} ({direction} predicted, smallest effect that matters {fmt(threshold)}): "
            f"with {span}")
    if len(set(verdicts)) == 1:
        return f"{head}, the verdict is {verdicts[0]} at every value tested (effect {rng})."
    parts = []
    for want in VERDICTS:
        at = _list(values, verdicts, want)
        if at:
            parts.append(f"{want} at {parameter} = {', '.join(fmt(v) for v in at)}")
    turns = []
    for t in trans:
        where = (f"near {parameter} = {fmt(t['at'])} (interpolated)" if t["at"] is not None
                 else f"between {fmt(t['between'][0])} and {fmt(t['between'][1])}")
        turns.append(f"from {t['from']} to {t['to']} {where}")
    return (f"{head}, the effect runs from {signed(effects[0])} to {signed(effects[-1])} (range {rng}); it is "
            f"{'; '.join(parts)}; the verdict changes {', then '.join(turns)}.")


# ---------------------------------------------------------------------------------------------
# The uncertainty space


MIN_BOX_SAMPLES = 5  # PRIM's box is not reported when it holds fewer samples (a box on 2 samples is noise)


def prim_box(x: pd.DataFrame, y: np.ndarray, density: float) -> dict:
    """The box of parameters where y holds (PRIM); {"found": False, "reason": ...} when there is none, or when
    the box would hold fewer than MIN_BOX_SAMPLES samples."""
    y = np.asarray(y, dtype=bool)
    n, k = len(y), int(y.sum())
    if k == 0:
        return {"found": False, "reason": "no sample reaches the threshold"}
    if k == n:
        return {"found": True, "limits": {}, "restricted": [], "coverage": 1.0, "density": 1.0, "mass": 1.0,
                "n_in_box": n, "note": "every sample reaches the threshold: the box is the whole space"}
    if n < MIN_BOX_SAMPLES:
        return {"found": False, "reason": f"{n} samples, fewer than {MIN_BOX_SAMPLES}"}
    if k < MIN_BOX_SAMPLES:  # any box around fewer points has coverage 1 and means nothing
        return {"found": False, "reason": f"{k} of {n} samples reach the threshold, fewer than {MIN_BOX_SAMPLES}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

        p = prim.Prim(x.reset_index(drop=True), y.copy(), mass_min=max(0.05, MIN_BOX_SAMPLES / n))
        box = p.find_box()
    if box is None:
        return {"found": False, "reason": "PRIM found no box"}
    traj = box.peeling_trajectory
    traj = traj[traj["n"] >= MIN_BOX_SAMPLES]
    if not len(traj):
        return {"found": False, "reason": f"every box PRIM found holds fewer than {MIN_BOX_SAMPLES} samples"}
    good = traj[traj["density"] >= density - 1e-12]
    if len(good):
        i = int(good.sort_values(["coverage", "mass"], ascending=[False, False], kind="stable").index[0])
        reached = True
    else:
        i = int(traj.sort_values(["density", "coverage"], ascending=[False, False], kind="stable").index[0])
        reached = False
    lim = box.box_lims[i]
    init = p.box_init
    limits, restricted, sides = {}, [], {}
    for col in x.columns:
        lo, hi = float(lim[col].iloc[0]), float(lim[col].iloc[1])
        side = [lo > float(init[col].iloc[0]), hi < float(init[col].iloc[1])]
        if any(side):
            restricted.append(col)
            sides[col] = side
        limits[col] = [lo, hi]
    row = traj.loc[i]
    return {"found": True, "limits": {c: limits[c] for c in restricted}, "restricted": restricted, "sides": sides,
            "coverage": float(row["coverage"]), "density": float(row["density"]), "mass": float(row["mass"]),
            "n_in_box": int(row["n"]), "density_reached": reached}


def morris_ranking(unit: np.ndarray, effects: np.ndarray, paths: list[str], levels: int) -> list[dict]:
    """The parameters ranked by Morris mu* of the point effect (SALib, in the unit hypercube the trajectories
    were drawn in: mu* is the mean absolute change of the effect over one grid step, scaled to the whole
    range). Each row: parameter, mu, mu_star, sigma, rank (1: most influential)."""
    from SALib.analyze import morris as morris_analyze

    from analysis.sweep.designs import salib_problem

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = morris_analyze.analyze(salib_problem(list(paths)), np.asarray(unit, dtype=float),
                                     np.asarray(effects, dtype=float), num_levels=levels, print_to_console=False,
                                     num_resamples=200, seed=1)
    rows = [{"parameter": k, "mu": float(res["mu"][j]), "mu_star": float(res["mu_star"][j]),
             "mu_star_conf": float(res["mu_star_conf"][j]), "sigma": float(res["sigma"][j])}
            for j, k in enumerate(paths)]
    rows.sort(key=lambda r: -r["mu_star"])
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
    return rows


def noise_floor(se, levels: int, k: int, r: int) -> float:
    """The largest mu* that k parameters without influence would show, over r trajectories, from the point
    effects' own sampling error alone, at its 95% quantile. An elementary effect is the difference of two
    point effects over a step of delta = levels / (2 (levels - 1)) of the range: with each point effect's
    standard error s (sd of its paired differences / sqrt(n), pooled over the samples as the root of the
    mean variance) and no true effect,
    EE ~ N(0, sqrt(2) s / delta), mu* is the mean of r values |EE|, and the floor is the 95% quantile of the
    largest of k such means (simulated, seeded: the same inputs give the same floor). NaN without them."""
    se = np.asarray([x for x in (se if se is not None else []) if x is not None], float)
    se = se[np.isfinite(se)]
    if not se.size or k < 1 or r < 1:
        return float("nan")
    delta = levels / (2 * (levels - 1))
    draws = np.abs(np.random.default_rng(0x4E4F495345).standard_normal((4000, k, r))).mean(axis=2).max(axis=1)
    pooled = math.sqrt(float(np.mean(se ** 2)))  # the mean variance: unbiased, where a median of few-pair sds is not
    return float(np.quantile(draws, 0.95)) * math.sqrt(2) * pooled / delta


def turning_value(x: pd.DataFrame, effects: np.ndarray, parameter: str, target: float, bounds) -> tuple[float | None, float]:
    """(where a linear fit of the effect on every parameter crosses `target` along `parameter`, the others at
    their sample means, or None when the fit is flat in it or crosses outside its bounds; the fit's R^2)."""
    y = np.asarray(effects, float)
    X = np.column_stack([np.ones(len(x))] + [x[c].to_numpy(float) for c in x.columns])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - X @ coef) ** 2).sum()) / ss if ss > 0 else float("nan")
    j = list(x.columns).index(parameter) + 1
    if abs(coef[j]) < 1e-15:
        return None, r2
    rest = coef[0] + sum(coef[i + 1] * float(x[c].mean()) for i, c in enumerate(x.columns) if c != parameter)
    v = (target - rest) / coef[j]
    xs = x[parameter].to_numpy(float)
    lo, hi = max(bounds[0], float(xs.min())), min(bounds[1], float(xs.max()))  # inside the values sampled
    return (float(v) if lo <= v <= hi else None), r2


MONOTONE = 0.8  # |mu| / mu* at least this: the effect moves one way along the parameter (a turning value is read)


def uncertainty_summary(claim_id: str, metric: str, values: list[dict], effects: list[float], threshold: float,
                        direction: str, density: float, bounds: dict, basis: dict | None = None,
                        unit: np.ndarray | None = None, levels: int | None = None, se=None,
                        moderator_turns: dict[str, list[float]] | None = None) -> dict:
    """Over the samples' point effects: the share reaching the threshold, the largest effect found (a ceiling),
    the Morris ranking (when `unit` holds Morris trajectories), where the effect turns along the leading
    parameter, PRIM's box, and two sentences (what was found; what the verdict rests on)."""
    basis = basis or {}
    s = sign(direction)
    eff = np.array([e if e is not None and math.isfinite(e) else np.nan for e in effects], dtype=float)
    ok = np.isfinite(eff)
    n = int(ok.sum())
    reach = ok & (s * np.nan_to_num(eff) >= threshold)
    x = pd.DataFrame([{k: v for k, v in row.items()} for row in values])
    box = prim_box(x[ok], reach[ok], density) if n else {"found": False, "reason": "no samples"}
    for k, side in box.get("sides", {}).items():  # a side PRIM did not peel is the space's own bound
        lo, hi = box["limits"][k]
        box["limits"][k] = [lo if side[0] else float(bounds[k][0]), hi if side[1] else float(bounds[k][1])]
    best = int(np.nanargmax(s * eff)) if n else None
    ceiling = float(eff[best]) if best is not None else float("nan")
    ranking = morris_ranking(unit[ok], eff[ok], list(bounds), levels) if unit is not None and n == len(eff) else []
    floor = (noise_floor(se, levels, len(bounds), max(1, n // (len(bounds) + 1)))
             if ranking and se is not None else float("nan"))
    for r in ranking:
        r["above_noise"] = bool(not math.isfinite(floor) or r["mu_star"] > floor)
    lead = ranking[0]["parameter"] if ranking and ranking[0]["above_noise"] else None
    monotone = bool(lead and abs(ranking[0]["mu"]) >= MONOTONE * ranking[0]["mu_star"])
    turn, r2 = None, float("nan")
    if lead and n > len(bounds) + 1:
        turn, r2 = turning_value(x[ok], eff[ok], lead, s * threshold, bounds[lead])
        if not monotone:
            turn = None
    design = "Morris samples" if unit is not None else "Latin-hypercube samples"
    sent = (f"{claim_id}, {metric}: over {n} {design} of "
            f"{', '.join(f'{k} in [{fmt(b[0])}, {fmt(b[1])}]' for k, b in bounds.items())}, the point effect reaches "
            f"the threshold ({signed(s * threshold)}) in {int(reach.sum())} ({100 * reach.sum() / max(n, 1):.0f}%); "
            f"the largest effect found is {signed(ceiling)}")
    if box.get("found") and box.get("restricted"):
        lims = "; ".join(f"{k} in [{fmt(v[0])}, {fmt(v[1])}]" for k, v in box["limits"].items())
        densest = "" if box.get("density_reached", True) else f" (the densest box: no box reaches density {fmt(density, 2)})"
        sent += (f"; PRIM's box where it reaches it: {lims} (density {fmt(box['density'], 2)}, coverage "
                 f"{fmt(box['coverage'], 2)}, {box['n_in_box']} samples){densest}")
    elif box.get("found") and int(reach.sum()) == n:
        sent += "; it reaches it at every sample"
    elif box.get("found"):
        sent += (f"; PRIM restricts no parameter (its box is the whole space sampled, density "
                 f"{fmt(box['density'], 2)})")
    else:
        sent += f"; no box ({box.get('reason')})"
    if box.get("found") is not None and n:
        box["base_density"] = float(reach.sum() / n)  # the share that reach it in the whole space, for comparison
    rests = rests_on(claim_id, ranking, basis, lead, turn, reach, n, ceiling, s, threshold, floor, monotone, r2,
                     (moderator_turns or {}).get(lead) if turn is not None else None)
    return {"samples": n, "share_reaching": float(reach.sum() / n) if n else float("nan"), "ceiling": ceiling,
            "ceiling_values": values[best] if best is not None else None, "ranking": ranking,
            "noise_floor": floor, "turns_near": turn, "turn_parameter": lead if turn is not None else None,
            "fit_r2": r2, "leading_monotone": monotone, "box": box, "sentence": sent + ".", "rests_on": rests}


def rests_on(claim_id: str, ranking: list[dict], basis: dict, lead: str | None, turn: float | None,
             reach: np.ndarray, n: int, ceiling: float, s: int, threshold: float, floor: float = float("nan"),
             monotone: bool = False, r2: float = float("nan"), moderator_turn: list[float] | None = None) -> str:
    """One sentence: what the claim's effect rests on (the leading parameters by mu*, each marked as taken
    from the literature or an assumption), where it turns, and the ceiling when no sample reaches the
    threshold. The parameters are not ranked when the largest mu* is within the noise of the point effects
    (`floor`, noise_floor); "mostly" needs the leading ones to hold at least 60% of the summed mu* and at
    least 1.5 times their share under equal influence."""
    if not n:
        return f"{claim_id}: no sample of the uncertainty space finished."
    parts = []
    if ranking and lead is None:
        parts.append(f"{claim_id}'s parameters cannot be ranked: the largest Morris mu* ({fmt(ranking[0]['mu_star'])}, "
                     f"{ranking[0]['parameter']}) is within the noise of the point effects (about {fmt(floor)})")
    elif ranking:
        total = sum(r["mu_star"] for r in ranking) or 1.0
        top = [r for r in ranking if r["above_noise"] and r["mu_star"] >= 0.25 * ranking[0]["mu_star"]][:3]
        share = sum(r["mu_star"] for r in top) / total
        names = ", ".join(f"{r['parameter']} ({basis.get(r['parameter'], 'assumption')})" for r in top)
        word = "mostly" if share >= 0.6 and share >= 1.5 * len(top) / len(ranking) else "in part"
        noise = f"; noise alone would give mu* about {fmt(floor)}" if math.isfinite(floor) else ""
        trajectories = max(1, n // (len(ranking) + 1))
        few = f" (on {trajectories} trajectories: indicative)" if trajectories <= 3 else ""
        parts.append(f"{claim_id}'s effect rests {word} on {names}: {100 * share:.0f}% of the summed Morris mu* of "
                     f"{len(ranking)} parameters{few}{noise}")
        if turn is not None:
            parts.append(f"it turns (reaches {signed(s * threshold)}) near {lead} = {fmt(turn)} (a linear fit, R^2 "
                         f"{fmt(r2, 2)}, with the other parameters at their sample means)")
        elif not monotone:
            parts.append(f"the effect does not move one way along {lead} (|mu| < {MONOTONE} mu*), so no turning value "
                         "is read")
        else:
            parts.append(f"a linear fit does not cross the threshold within {lead}'s range")
    if not reach.any():
        parts.append(f"no setting sampled reaches the threshold: the largest effect found is {signed(ceiling)} "
                     "(a ceiling)")
    elif reach.all():
        parts.append("every setting sampled reaches the threshold")
    else:
        parts.append(f"{int(reach.sum())} of {n} settings sampled reach the threshold")
    if moderator_turn:  # the leading parameter is also a moderator: where it turns with the others at their defaults
        parts.append(f"at every other parameter's default, the moderator over {lead} turns near "
                     + " and ".join(f"{x:.3g}" for x in moderator_turn))
    return "; ".join(parts) + "."
