"""Design points of a sweep: grid and paired combinations of values, and the sampling designs
(Latin hypercube from scipy.stats.qmc; Saltelli/Sobol' and Morris from SALib) drawn in the unit
hypercube and mapped to each parameter's distribution."""

from __future__ import annotations

import itertools

import numpy as np

from analysis.sweep.spec import ParamSpec, SweepSpec


def _native(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def salib_problem(paths: list[str]) -> dict:
    """SALib problem in the unit hypercube (values are mapped to each parameter's distribution after)."""
    return {"num_vars": len(paths), "names": list(paths), "bounds": [[0.0, 1.0]] * len(paths)}


def morris_unit(paths: list[str], trajectories: int, levels: int, seed, optimal: int | None = None) -> np.ndarray:
    """Morris trajectories in the unit hypercube (SALib): `trajectories` x (len(paths) + 1) points, each moving
    one parameter by one step of a grid of `levels` levels (the sweeps' morris design and the claims lab's
    uncertainty spaces)."""
    from SALib.sample import morris as morris_sample

    return np.asarray(morris_sample.sample(salib_problem(paths), trajectories, num_levels=levels,
                                           optimal_trajectories=optimal, seed=seed), dtype=float)


def make_design(spec: SweepSpec, params: dict[str, ParamSpec], paths: list[str], kinds: dict[str, str]):
    """Design points (list of {path: value}) and, for sampling designs, the unit-cube sample."""
    d = spec.design
    if d.kind == "grid":
        combos = itertools.product(*[params[k].levels(kinds[k]) for k in paths])
        return [{k: _native(v) for k, v in zip(paths, c)} for c in combos], None
    if d.kind == "paired":
        cols = [params[k].levels(kinds[k]) for k in paths]
        return [{k: _native(v) for k, v in zip(paths, c)} for c in zip(*cols)], None
    seed = spec.seed if d.seed is None else d.seed
    D = len(paths)
    if d.kind == "lhs":
        from scipy.stats import qmc

        try:
            sampler = qmc.LatinHypercube(d=D, optimization=d.optimization, rng=np.random.default_rng(seed))
        except TypeError:  # scipy < 1.15 calls it seed
            sampler = qmc.LatinHypercube(d=D, optimization=d.optimization, seed=np.random.default_rng(seed))
        unit = sampler.random(d.samples)
    elif d.kind == "sobol":
        import warnings

        from SALib.sample import sobol as sobol_sample

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unit = sobol_sample.sample(salib_problem(paths), d.samples, calc_second_order=d.second_order,
                                       scramble=True, seed=seed)
    else:
        unit = morris_unit(paths, d.samples, d.num_levels, seed, optimal=d.optimal_trajectories)
    unit = np.asarray(unit, dtype=float)
    cols = [params[k].from_unit(unit[:, j], kinds[k]) for j, k in enumerate(paths)]
    points = [{k: _native(v) for k, v in zip(paths, row)} for row in zip(*cols)]
    return points, unit
