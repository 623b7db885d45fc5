"""The claims lab: `python run.py claims` tests the literature's claims C1-C8 (and their parts) from runs (docs/claims.md).

One experiment file per claim (scenarios/claims/*.yaml) names its arms, outcomes, the smallest
effect that matters, its mechanism-off arm and its conditions. The package, one module per concern:

    spec.py         the claim file format (pydantic) and its JSON Schema
    plan.py         a claim file resolved into valid scenarios (arms) and the sweeps that run them
    statistics.py   outcomes over years, paired differences, bootstrap intervals, standardised effects
    verdict.py      the one verdict rule: supported, contradicted, negligible, undetermined
    sequential.py   replications until decided: later blocks of the contrast's replications
    conditions.py   where the verdict changes along a moderator; share supported and PRIM's box
    evaluate.py     from a claim's finished sweeps to its record (effects, verdicts, conditions)
    report.py       claims.json, report.md, report.html (self-contained) and figures/
    runner.py       every sweep through the sweep engine (parallel, resumable, Dask), then the outputs
"""

from __future__ import annotations

import re
from pathlib import Path

from model.config import ScenarioError

CLAIMS_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "claims"


def default_files() -> list[Path]:
    """The shipped claim files in natural order, each claim's parts after it (C1, C1b, C2, ..., C4, C4a, ..., C10)."""
    return sorted(CLAIMS_DIR.glob("*.yaml"), key=natural_key)


def natural_key(path: Path) -> tuple:
    """C1 < C1b < C2 < C10: the letters, the number, then the rest."""
    m = re.match(r"([A-Za-z]*)(\d*)(.*)", path.stem)
    return (m.group(1), int(m.group(2)) if m.group(2) else -1, m.group(3))


def load_claims(files=None, only: list[str] | None = None, quick: bool = False,
                max_replications: int | None = None):
    """Validated ClaimPlans of `files` (default: the shipped ones), one per claim and world, restricted to
    the ids in `only` (a claim's id selects it in every world; `C8@real` one world); `max_replications`
    overrides every file's cap of the sequential procedure."""
    from analysis.claims.plan import load_claim_worlds

    files = [Path(f) for f in files] if files else default_files()
    if not files:
        raise ScenarioError(str(CLAIMS_DIR), "", "holds no claim files (*.yaml)")
    plans, seen = [], {}
    for f in files:
        ps = load_claim_worlds(f, quick=quick, max_replications=max_replications)
        cid = ps[0].claim
        if cid in seen:
            raise ScenarioError(str(f), "id", f"{cid!r} is also the id of {seen[cid]}; ids must be unique")
        seen[cid] = str(f)
        plans.extend(ps)
    if only:
        ids = list(dict.fromkeys([p.claim for p in plans] + [p.id for p in plans]))
        for o in only:
            if o not in ids:
                raise ScenarioError("--only", "", f"no claim {o!r}; expected one of: {', '.join(ids)}")
        plans = [p for p in plans if p.id in only or p.claim in only]
    return plans


__all__ = ["CLAIMS_DIR", "default_files", "load_claims"]
