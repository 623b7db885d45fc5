"""Conditions of a claim: where its effect holds, vanishes or reverses.

- Along one moderator: the effect and interval at each value (computed by analysis/claims/evaluate.py),
  the values where the verdict changes, interpolated linearly between the two neighbouring values
  at the point where the bound that decides the verdict crosses the threshold, and one sentence
  generated from these numbers.
- Over an uncertainty space (a Latin hypercube of parameter values): the share of samples where
  the claim is supported (by the same verdict rule, from each sample's replications), and the box of
  parameters where it holds, found by PRIM (`ema_workbench.analysis.prim`): of the boxes on PRIM's
  peeling trajectory whose density (share of supported samples inside) reaches the claim's
  `density`, the one with the largest coverage (share of all supported samples inside); when none
  reaches it, the densest box.
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


def prim_box(x: pd.DataFrame, y: np.ndarray, density: float) -> dict:
    """The box of parameters where y holds (PRIM); {"found": False, "reason": ...} when there is none."""
    y = np.asarray(y, dtype=bool)
    n, k = len(y), int(y.sum())
    if k == 0:
        return {"found": False, "reason": "no sample supports the claim"}
    if k == n:
        return {"found": True, "limits": {}, "restricted": [], "coverage": 1.0, "density": 1.0, "mass": 1.0,
                "n_in_box": n, "note": "every sample supports the claim: the box is the whole space"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

        p = prim.Prim(x.reset_index(drop=True), y.copy(), mass_min=0.05)
        box = p.find_box()
    if box is None:
        return {"found": False, "reason": "PRIM found no box"}
    traj = box.peeling_trajectory
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


def uncertainty_summary(claim_id: str, metric: str, values: list[dict], effects: list[float], verdicts: list[str],
                        threshold: float, direction: str, density: float, bounds: dict) -> dict:
    """Share of samples supported (and contradicted), the PRIM box, and one sentence."""
    n = len(verdicts)
    y = np.array([v == SUPPORTED for v in verdicts])
    s = sign(direction)
    beyond = np.array([e is not None and math.isfinite(e) and s * e >= threshold for e in effects])
    share = float(y.mean()) if n else float("nan")
    x = pd.DataFrame([{k: v for k, v in row.items()} for row in values])
    box = prim_box(x, y, density) if n else {"found": False, "reason": "no samples"}
    for k, side in box.get("sides", {}).items():  # a side PRIM did not peel is the space's own bound
        lo, hi = box["limits"][k]
        box["limits"][k] = [lo if side[0] else float(bounds[k][0]), hi if side[1] else float(bounds[k][1])]
    contra = sum(v == CONTRADICTED for v in verdicts)
    sent = (f"{claim_id}, {metric}: over {n} Latin-hypercube samples of "
            f"{', '.join(f'{k} in [{fmt(b[0])}, {fmt(b[1])}]' for k, b in bounds.items())}, the claim is supported "
            f"in {int(y.sum())} ({100 * share:.0f}%), contradicted in {contra}, and the point effect reaches the "
            f"threshold in {int(beyond.sum())}")
    if box.get("found") and box.get("restricted"):
        lims = "; ".join(f"{k} in [{fmt(v[0])}, {fmt(v[1])}]" for k, v in box["limits"].items())
        sent += (f"; PRIM's box where it holds: {lims} (density {fmt(box['density'], 2)}, coverage "
                 f"{fmt(box['coverage'], 2)}, {box['n_in_box']} samples)")
    elif box.get("found") and n and int(y.sum()) == n:
        sent += "; it holds at every sample"
    elif box.get("found"):
        sent += (f"; PRIM restricts no parameter (its box is the whole space sampled, density "
                 f"{fmt(box['density'], 2)})")
    else:
        sent += f"; no box ({box.get('reason')})"
    return {"samples": n, "share_supported": share, "share_contradicted": contra / n if n else float("nan"),
            "share_beyond_threshold": float(beyond.mean()) if n else float("nan"), "box": box, "sentence": sent + "."}
