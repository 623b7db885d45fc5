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
