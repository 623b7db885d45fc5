"""Random streams: the seeds of replications.

Replication r of a scenario with seed s runs with `replication_seeds(s, R)[r]`: the r-th child of
`numpy.random.SeedSequence(s).spawn(R)`, as a 63-bit integer (a valid scenario seed). Sweeps,
calibration and the claims lab all use this one function, so that the same seed means the same
runs in every command.
"""

from __future__ import annotations

import numpy as np


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Seed of each replication: SeedSequence(seed).spawn(R)[r] as a 63-bit integer."""
    children = np.random.SeedSequence(int(seed)).spawn(int(replications))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


# The phases that draw random numbers, in a fixed order: their ids are part of every stream's key
# ("funders": the funders drawn at construction, resources.make_funders, year start_year - 1;
# "capacity": each city's capacity threshold, drawn at construction, capacity.init_capacity, year
# start_year - 1; "norms": residents' norm events, spillover.norm_events, one world event per issue and one
# national event per country and issue each year; "costs": each city's cheap slot, cities.spread_slots, year
# start_year - 1). New phases are appended, so that the keys of the others do not change.
PHASES = ("founding", "membership", "knowledge", "interventions", "funders", "capacity", "norms", "costs")


class Streams:
    """Random streams split by phase and year, so that paired arms stay paired.

    The model's one generator (Mesa's `model.rng`, made from the scenario's seed) builds the world at
    construction. Every later draw comes from a stream keyed by (phase, year[, item]): the child
    `SeedSequence(root).spawn(...)[phase].spawn(...)[year - start_year + 1]...` of the root seed
    sequence behind `model.rng`, built directly from its spawn key (stateless, in any order). A
    phase's draws in one year therefore do not depend on how many numbers any phase drew before,
    and each phase draws a number of values fixed by the world's size (one uniform per city per year
    for reviews, say), not by the state. Two runs that differ in one lever keep the same draws
    wherever their states agree (docs/ODD.md, section 11)."""

    def __init__(self, rng: np.random.Generator, start_year: int):
        seq = rng.bit_generator.seed_seq
        if not isinstance(seq, np.random.SeedSequence):  # a Generator built without a SeedSequence
            seq = np.random.SeedSequence(int(rng.integers(0, 2**63)))
        self.entropy, self.key, self.start_year = seq.entropy, tuple(seq.spawn_key), start_year

    def rng(self, phase: str, year: int, *item: int) -> np.random.Generator:
        """The stream of `phase` in calendar `year` (and of `item`, e.g. the j-th new network)."""
        key = self.key + (PHASES.index(phase), int(year) - self.start_year + 1) + tuple(int(i) for i in item)
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.entropy, spawn_key=key)))
