"""Replications until decided: later blocks of replications of a claim's contrast (docs/claims.md).

A claim runs its initial replications (`replications`, 20 in a full run), then, while its primary
verdict is undetermined, adds blocks on a fixed schedule of looks (`statistics.looks`: the initial
replications doubled up to the cap `max_replications`, default 160: 20, 40, 80, 160). A block runs
the arms that the verdicts need seed by seed (control and treatment, and both mechanism-off arms) with
the next seeds of the same SeedSequence (`replication_seeds(seed, stop)[start:stop]`), so arms stay
paired and a resume continues where it stopped. Each block is a sweep of its own,
`sweeps/<id>-r<start>/`, with its manifest and resume like any other. The gradient's levels, the
no-network arm, the moderators and the uncertainty samples keep the initial replications (they are
described, not judged at the stopping look).

Every interval of the contrast's arms is computed at the confidence 1 - alpha / K of the K planned looks
(`statistics.look_confidence`), so whichever look the procedure stops at, the interval there covers
the true effect with probability at least 95% (tests/test_claims_sequential.py measures the error rates
of the whole procedure by simulation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from analysis.claims.plan import ClaimPlan, _sweep
from analysis.sweep.plan import Sweep

BLOCK_ROLES = ("main", "off")  # the arms that get later blocks: the contrast and its mechanism-off pair


@dataclass
class Block:
    """One later block of replications: `start` .. `stop` - 1 of the contrast's arms."""

    name: str  # its sweep's name and directory under sweeps/
    start: int
    stop: int
    sweep: Sweep
    points: dict[int, int]  # the arm's point in the main sweep -> its point in this block's sweep


def block_name(plan: ClaimPlan, start: int) -> str:
    return f"{plan.id}-r{start}"


def next_look(plan: ClaimPlan) -> int | None:
    """The replications of the next look after those run so far, or None at the cap."""
    later = [n for n in plan.looks if n > plan.n_used]
    return later[0] if later else None


def add_block(plan: ClaimPlan) -> Block:
    """Append the block up to the next look to the plan (its sweep is not run here)."""
    stop = next_look(plan)
    if stop is None:
        raise ValueError(f"{plan.id}: no look left after {plan.n_used} replications")
    start = plan.n_used
    arms = [a for a in plan.arms if a.role in BLOCK_ROLES]
    copies = [dataclasses.replace(a) for a in arms]  # _sweep numbers the copies' points, not the plan's arms
    name = block_name(plan, start)
    sw = _sweep(copies, plan.base, name, plan.source, plan.spec.seed, stop - start, plan.metrics,
                first_replication=start)
    points = {a.point: c.point for a, c in zip(arms, copies)}
    block = Block(name=name, start=start, stop=stop, sweep=sw, points=points)
    plan.blocks.append(block)
    return block
