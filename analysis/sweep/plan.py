"""A validated sweep: the base scenario, the design points, the replication seeds and the runs.

Each run is one (design point, replication); replication r uses the same seed at every design point
(common random numbers): `model.randomness.replication_seeds(seed, replications)[r]`.
`load_sweep` makes a Sweep from a sweep file, in steps: the file (`_read_spec`), the base scenario
with its fixed overrides (`_sweep_base`, by `model.loading.layered_scenario`, shared with claim
files), the parameters (`_parameters`, `_check_parameters`), the design's size and every design point
(`_check_points`); `sweep_from_points` makes one in code from a base scenario and a list of design
points (the claims lab's arms, which also vary interventions).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.sweep.designs import make_design
from analysis.sweep.spec import (
    FORMAT,
    FORMAT_VERSION,
    MAX_RUNS,
    DesignSpec,
    ParamSpec,
    RecordSpec,
    SweepSpec,
    is_sweep_data,
    validate_spec,
)
from model import footprint
from model.config import Scenario, ScenarioError
from model.loading import (
    Layer,
    apply_overrides,
    base_scenario,
    key_kind,
    layered_scenario,
    read_yaml,
    validate_scenario,
)
from model.metrics import metric_names
from model.randomness import replication_seeds


def _norm(path: str) -> str:
    return str(path).strip().replace("__", ".")


@dataclass
class Sweep:
    """A validated sweep: the base scenario, the design points and the runs."""

    spec: SweepSpec
    source: str
    name: str
    base: dict  # the fully resolved base scenario (every default filled in)
    paths: list[str]
    kinds: dict[str, str]
    points: list[dict]
    unit: np.ndarray | None  # design in [0, 1]^D (lhs, sobol, morris); what SALib analyses
    seeds: list[int]
    metrics: list[str]
    every_step: bool
    warnings: list[str] = field(default_factory=list)
    memory_limit: float | None = None  # bytes a run may need (None: model.footprint.default_limit())
    peak_bytes: float = 0.0  # the largest estimated memory of one run among the checked design points

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def replications(self) -> int:
        return len(self.seeds)

    @property
    def n_runs(self) -> int:
        return self.n_points * self.replications

    @property
    def record(self) -> dict:
        return {"metrics": list(self.metrics), "every_step": self.every_step}

    def size(self) -> str:
        """'4 design points x 2 replications = 8 runs'."""
        def n(k, word):
            return f"{k} {word}{'' if k == 1 else 's'}"
        return f"{n(self.n_points, 'design point')} x {n(self.replications, 'replication')} = {n(self.n_runs, 'run')}"

    def run_id(self, point: int, rep: int) -> str:
        w = max(5, len(str(self.n_points - 1)))
        wr = max(3, len(str(self.replications - 1)))
        return f"p{point:0{w}d}_r{rep:0{wr}d}"

    def runs(self):
        """(run_id, point, replication, parameters, seed) in manifest order (point-major)."""
        for p, params in enumerate(self.points):
            for r, s in enumerate(self.seeds):
                yield self.run_id(p, r), p, r, params, s

    def manifest(self) -> dict:
        runs = {rid: {"point": p, "replication": r, "parameters": params, "seed": s}
                for rid, p, r, params, s in self.runs()}
        core = {"base_scenario": self.base, "parameters": self.paths, "record": self.record, "runs": runs}
        from analysis.sweep.store import code_identity

        return {
            "format": FORMAT, "version": FORMAT_VERSION, "name": self.name, "sweep_file": self.source,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": fingerprint(core), "versions": _versions(), "code": code_identity(self.base),
            "spec": spec_dump(self.spec),
            "design": {"kind": self.spec.design.kind, "points": self.n_points, "replications": self.replications,
                       "runs": self.n_runs},
            "seeds": self.seeds, **core,
        }


def spec_dump(spec: SweepSpec) -> dict:
    d = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    d["design"] = spec.design.relevant()
    return d


def fingerprint(core: dict) -> str:
    text = json.dumps(core, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict:
    import mesa

    return {"python": sys.version.split()[0], "numpy": np.__version__, "mesa": mesa.__version__,
            "pandas": pd.__version__}


def load_sweep(path: str | os.PathLike, memory_limit: float | None = None) -> Sweep:
    """Read and validate a sweep file: schema, every parameter path and value (the base scenario with
    each value passes the scenario's pre-flight checks and fits `memory_limit` bytes, default
    model.footprint.default_limit()), metrics, design size, and every design point (the first 50,000):
    when none is a valid scenario the sweep is refused. Every problem is a ScenarioError naming the
    file and the field path (exit code 2 on the CLI)."""
    src = str(path)
    spec = _read_spec(path, src)
    name = spec.name or _safe_name(Path(path).stem)
    cfg, fixed = _sweep_base(spec, src, Path(path).resolve().parent)
    base = cfg.model_dump(mode="json")
    params = _parameters(spec, src, base, fixed)
    paths = list(params)
    kinds = {k: key_kind(k) for k in paths}
    peak = _check_parameters(spec, src, params, kinds, base, memory_limit)
    _check_design_size(spec, src, params)
    points, unit = make_design(spec, params, paths, kinds)
    metrics = _metrics(src, spec.record, cfg.issue_names)
    sw = Sweep(spec=spec, source=src, name=name, base=base, paths=paths, kinds=kinds, points=points, unit=unit,
               seeds=replication_seeds(spec.seed, spec.replications), metrics=metrics,
               every_step=spec.record.every_step, memory_limit=memory_limit, peak_bytes=peak)
    _check_points(sw)
    return sw


def _read_spec(path, src: str) -> SweepSpec:
    """The sweep file, read and validated against its schema (a scenario file is refused)."""
    data = read_yaml(path)
    if not is_sweep_data(data):
        raise ScenarioError(src, "", "is not a sweep file (it has none of the fields parameters, design, replications, "
                                     "record); expected a sweep file (docs/sweeps.md); a scenario file runs with run.py run")
    return validate_spec(data, src)


def _sweep_base(spec: SweepSpec, src: str, here: Path) -> tuple[Scenario, dict]:
    """The base scenario (the file's `scenario`) with the fixed overrides (`set`) and `steps`, validated;
    and the fixed overrides by normalised path."""
    base_data, base_src = base_scenario(spec.scenario, src, here, "sweep")
    if isinstance(spec.scenario, str) and is_sweep_data(base_data):
        raise ScenarioError(src, "scenario", f"{spec.scenario} is a sweep file; expected a scenario file")
    fixed = {}
    for k, v in spec.fixed.items():
        if _norm(k) in fixed:
            raise ScenarioError(src, f"set.{k}", "given twice")
        fixed[_norm(k)] = v
    if "seed" in fixed:
        raise ScenarioError(src, "set.seed", "each run's seed comes from the sweep's seed and replications; "
                                             "set the top-level seed instead")
    cfg = layered_scenario(base_data, base_src, [Layer("set", fixed)], src, inline=isinstance(spec.scenario, dict),
                           fields={"steps": spec.steps} if spec.steps is not None else None)
    return cfg, fixed


def _parameters(spec: SweepSpec, src: str, base: dict, fixed: dict) -> dict[str, ParamSpec]:
    """The varied parameters by normalised path: each path given once, not the seed, not fixed, and
    naming a field of the base scenario (its first value set there)."""
    params: dict[str, ParamSpec] = {}
    for raw, ps in spec.parameters.items():
        key = _norm(raw)
        where = f"parameters.{raw}"
        if key in params:
            raise ScenarioError(src, where, f"{key} is given twice")
        if key == "seed":
            raise ScenarioError(src, where, "the seed is not a parameter: replications get their seeds from the "
                                            "sweep's seed (common random numbers); use replications")
        if key in fixed:
            raise ScenarioError(src, where, f"{key} is both fixed in set and varied here; remove one")
        trial = copy.deepcopy(base)
        try:
            apply_overrides(trial, {key: (ps.levels()[0] if not ps.is_dist else ps.low)}, source=src)
        except ScenarioError as e:
            raise ScenarioError(src, where, e.message) from None
        params[key] = ps
    return params


def _check_parameters(spec: SweepSpec, src: str, params: dict[str, ParamSpec], kinds: dict[str, str], base: dict,
                      memory_limit: float | None) -> float:
    """Each parameter's values fit its field and the design, and each value is valid with the base
    scenario (`_check_values`); returns the largest memory estimate of one run among them."""
    design, peak = spec.design, 0.0
    for raw, key in zip(spec.parameters, params):
        ps, kind, where = params[key], kinds[key], f"parameters.{raw}"
        if ps.is_dist and kind in ("bool", "str"):
            raise ScenarioError(src, where, f"{key} is a {'true/false' if kind == 'bool' else 'non-numeric'} field; "
                                            "give values instead of a distribution")
        if ps.range is not None and kind in ("bool", "str"):
            raise ScenarioError(src, where, f"{key} is a {'true/false' if kind == 'bool' else 'text'} field; "
                                            "give values instead of a range")
        if ps.is_dist and design.kind in ("grid", "paired"):
            raise ScenarioError(src, where, f"the {design.kind} design needs values or a range; distributions "
                                            "(low/high) are for the lhs, sobol and morris designs")
        # one parameter: its values are the design points, so each must also fit the memory limit
        peak = max(peak, _check_values(src, where, key, ps, kind, base, memory_limit if len(params) == 1 else False))
    if design.kind == "paired":
        lens = {raw: len(params[k].levels()) for raw, k in zip(spec.parameters, params)}
        first = next(iter(lens))
        for raw, n in lens.items():
            if n != lens[first]:
                raise ScenarioError(src, f"parameters.{raw}", f"the paired design needs the same number of values "
                                                              f"for every parameter: {n} here, {lens[first]} for {first}")
    return peak


def design_points(design: DesignSpec, params: dict[str, ParamSpec]) -> int:
    """How many design points a design makes of these parameters (before any is made)."""
    D = len(params)
    if design.kind == "grid":
        return math.prod(len(ps.levels()) for ps in params.values())
    if design.kind == "paired":
        return len(next(iter(params.values())).levels())
    if design.kind == "lhs":
        return design.samples
    if design.kind == "sobol":
        return design.samples * ((2 * D + 2) if design.second_order else (D + 2))
    return (design.optimal_trajectories or design.samples) * (D + 1)


def _check_design_size(spec: SweepSpec, src: str, params: dict[str, ParamSpec]):
    """The design's size, before anything big is made."""
    design, P = spec.design, design_points(spec.design, params)
    if P * spec.replications > MAX_RUNS:
        raise ScenarioError(src, "design", f"{P} design points x {spec.replications} replications = "
                                           f"{P * spec.replications} runs; at most {MAX_RUNS} in one sweep")
    if design.kind == "sobol" and len(params) < 2:
        raise ScenarioError(src, "parameters", "the sobol design needs at least 2 parameters")


def _check_points(sw: Sweep):
    """Every design point (the first 50,000) is a valid scenario: none valid refuses the sweep, some
    invalid is a warning."""
    bad = invalid_points(sw)
    if bad:
        p, msg = bad[0]
        checked = min(sw.n_points, 50_000)
        of = f"{sw.n_points}" if checked == sw.n_points else f"the first {checked}"
        if len(bad) == checked:
            raise ScenarioError(sw.source, "parameters", f"none of {of} design points is a valid scenario, so no run "
                                                         f"could succeed (first: point {p}: {msg}); change the values")
        sw.warnings.append(f"{len(bad)} of {of} design points are not valid scenarios (first: point {p}: "
                           f"{msg}); their runs fail at once and are listed in failed.jsonl")


def sweep_from_points(base: dict, points: list[dict], *, name: str, source: str, seed: int, replications: int,
                      metrics: list[str], every_step: bool = True, description: str = "",
                      first_replication: int = 0) -> Sweep:
    """A Sweep made in code rather than from a sweep file (the claims lab builds its arms this way).

    `base` is a scenario mapping (validated and resolved here); each point is a dict of dotted
    overrides of it, every point with the same keys, in the same order; the key `interventions` may
    hold a list (the run's whole list of interventions), which a sweep file cannot vary. Replication
    r of every point runs with `replication_seeds(seed, replications)[r]` (common random numbers);
    with `first_replication` f, replication r runs with `replication_seeds(seed, f + replications)[f + r]`:
    the next seeds of the same SeedSequence (the claims lab's later blocks of replications). The manifest, resume, loop and
    results are those of any sweep; its design kind is `points`.
    Errors in the inputs are ScenarioErrors naming `source`."""
    if not points:
        raise ScenarioError(source, "", "no design points")
    if len(points) * replications > MAX_RUNS:
        raise ScenarioError(source, "", f"{len(points)} points x {replications} replications is more than {MAX_RUNS} runs")
    cfg = validate_scenario(copy.deepcopy(base), source)
    resolved = cfg.model_dump(mode="json")
    paths = [_norm(k) for k in points[0]]
    for i, p in enumerate(points):
        if [_norm(k) for k in p] != paths:
            raise ScenarioError(source, "", f"point {i} has the keys {list(p)}; expected {paths} as in point 0")
        if "seed" in paths or "steps" in paths:
            raise ScenarioError(source, "", "seed and steps are not point parameters (replications and the base set them)")
    names = metric_names(cfg.issue_names)
    for m in metrics:
        if m not in names:
            raise ScenarioError(source, "record.metrics", f"unknown metric {m!r}")
    kinds = {k: key_kind(k) for k in paths}
    record = RecordSpec(metrics=list(metrics), every_step=every_step)
    spec = SweepSpec.model_construct(name=name, description=description, scenario=None, fixed={}, steps=None,
                                     seed=int(seed), replications=int(replications), parameters={},
                                     design=DesignSpec.model_construct(kind="points"), record=record)
    pts = [{_norm(k): v for k, v in p.items()} for p in points]
    peak = 0.0  # the largest run among the points (what the memory check of run_sweep needs)
    for i, p in enumerate(pts):
        trial = copy.deepcopy(resolved)
        apply_overrides(trial, copy.deepcopy(p), source=source)
        try:
            peak = max(peak, footprint.estimate(validate_scenario(trial, source)).total)
        except ScenarioError as e:
            raise ScenarioError(source, e.path, f"point {i}: {e.message}") from None
    return Sweep(spec=spec, source=source, name=name, base=resolved, paths=paths, kinds=kinds, points=pts, unit=None,
                 seeds=replication_seeds(seed, first_replication + replications)[first_replication:],
                 metrics=list(metrics), every_step=every_step, peak_bytes=peak)


def _safe_name(stem: str) -> str:
    import re

    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_") or "sweep"
    return s[:100]


def _check_values(src, where, key, ps: ParamSpec, kind, base, memory_limit: float | None | bool = False) -> float:
    """Each value (levels; a distribution's bounds and median) must be valid with the base scenario,
    and, unless `memory_limit` is False, fit that memory limit (None: the default); returns the largest
    memory estimate of one run among them (0 when not checked)."""
    if ps.is_dist:
        cands = [(f"{where}.low", v) for v in ps.from_unit(np.array([0.0]), kind)]
        cands += [(f"{where}.high", v) for v in ps.from_unit(np.array([1.0]), kind)]
        cands += [(where, v) for v in ps.from_unit(np.array([0.5]), kind)]
    else:
        lv = ps.levels(kind)
        sub = "values" if ps.values is not None else "range"
        seen = set()
        cands = []
        for i, v in enumerate(lv):
            tag = (type(v).__name__, v)
            if tag in seen:
                continue
            seen.add(tag)
            cands.append((f"{where}.{sub}.{i}" if sub == "values" else f"{where}.range", v))
    peak = 0.0
    for loc, v in cands:
        trial = copy.deepcopy(base)
        apply_overrides(trial, {key: v}, source=src)
        try:
            cfg = validate_scenario(trial, src)
            if memory_limit is not False:
                peak = max(peak, footprint.check(cfg, src, memory_limit).total)
        except ScenarioError as e:
            raise ScenarioError(src, loc, f"value {v!r} is not valid for {e.path or key}: {e.message}") from None
    return peak


def _metrics(src, rec: RecordSpec, issues: list[str]) -> list[str]:
    names = metric_names(issues)
    if rec.metrics == "all":
        return names
    seen = set()
    for i, m in enumerate(rec.metrics):
        if m not in names:
            close = difflib.get_close_matches(m, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; expected one of: {', '.join(names)}"
            raise ScenarioError(src, f"record.metrics.{i}", f"unknown metric {m!r}{hint}")
        if m in seen:
            raise ScenarioError(src, f"record.metrics.{i}", f"{m!r} is listed twice")
        seen.add(m)
    return list(rec.metrics)


def invalid_points(sw: Sweep, limit: int | None = None, max_points: int = 50_000) -> list[tuple[int, str]]:
    """Design points whose combination of values is not a valid scenario (each value alone is);
    only the first `max_points` points are checked (about 0.1 ms each)."""
    bad = []
    if len(sw.paths) < 2:
        return bad
    for p, params in enumerate(sw.points[:max_points]):
        trial = copy.deepcopy(sw.base)
        try:
            apply_overrides(trial, params, source=sw.source)
            est = footprint.check(validate_scenario(trial, ""), "", sw.memory_limit)
            sw.peak_bytes = max(sw.peak_bytes, est.total)
        except ScenarioError as e:
            msg = e.message.removeprefix("Value error, ")
            bad.append((p, f"{e.path}: {msg}" if e.path else msg))
            if limit and len(bad) >= limit:
                break
    return bad


def describe(sw: Sweep, show: int = 5) -> dict:
    """What `run.py check` prints for a sweep file."""
    out = {"sweep": spec_dump(sw.spec)}
    out["resolved"] = {
        "name": sw.name, "base_scenario": sw.base.get("name"), "steps": sw.base.get("steps"),
        "design": sw.spec.design.kind, "parameters": {k: sw.kinds[k] for k in sw.paths},
        "points": sw.n_points, "replications": sw.replications, "runs": sw.n_runs,
        "seeds": sw.seeds if len(sw.seeds) <= 10 else sw.seeds[:10] + ["..."],
        "metrics": sw.metrics, "every_step": sw.every_step,
        "first_points": [{"point": i, **p} for i, p in enumerate(sw.points[:show])],
    }
    return out


def check_text(path, memory_limit: float | None = None) -> str:
    """What `run.py check SWEEP.yaml` prints: the resolved sweep as YAML, plus warnings as comments."""
    from model.loading import yaml_dump

    sw = load_sweep(path, memory_limit=memory_limit)
    head = f"# {path}: valid sweep: {sw.size()} (a run needs up to about {sw.peak_bytes / 1e9:.1f} GB of memory)\n"
    for w in sw.warnings:
        head += f"# warning: {w}\n"
    return head + yaml_dump(describe(sw))
