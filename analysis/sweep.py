"""Batch sweeps: `python run.py sweep SWEEP.yaml` (docs/sweeps.md, INTERFACE.md).

A sweep file names a base scenario, the parameters to vary (dotted paths of the scenario schema),
a design (grid, paired, lhs, sobol, morris), replications, steps and what to record. Each run is
one (design point, replication); replication r uses the same seed at every design point (common
random numbers): `SeedSequence(seed).spawn(replications)[r]`.

Files in the output directory:

    manifest.json        the full design (run id -> parameters, seed), written before any run starts
    runs/<run_id>.parquet  one per finished run, written atomically (temporary file, then os.replace)
    failed.jsonl         runs that raised: run id, point, replication, parameters, seed, error, traceback
    results.parquet      tidy: run_id, point, replication, parameters..., seed, step, year, metrics...
    summary.csv          per design point and metric (final step): n, mean, sd, 95% CI
    sensitivity.csv/.png sobol and morris designs: indices per metric and parameter

Re-running into the same directory runs only what is missing (runs that failed are not retried
unless `--retry-failed`), so the results equal those of an uninterrupted sweep, also after SIGKILL.
Results stream to disk: the parent keeps only the runs in flight.
"""

from __future__ import annotations

import copy
import csv
import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import queue
import sys
import time
import traceback
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from model.config import Scenario, ScenarioError, Strict, _inner_model, apply_overrides, read_yaml, validate_scenario
from model.metrics import metric_names
from model.model import CityDiplomacyModel

FORMAT = "city-diplomacy-sweep"
FORMAT_VERSION = 1
MAX_RUNS = 1_000_000
MAX_LEVELS = 100_000
DESIGNS = ("grid", "paired", "lhs", "sobol", "morris")
SAMPLING = ("lhs", "sobol", "morris")
DESIGN_FIELDS = {"samples": SAMPLING, "seed": SAMPLING, "second_order": ("sobol",), "num_levels": ("morris",),
                 "optimal_trajectories": ("morris",), "optimization": ("lhs",),
                 "num_resamples": ("sobol", "morris"), "conf_level": ("sobol", "morris")}
SWEEP_KEYS = {"parameters", "design", "replications", "record"}  # top-level keys no scenario has


# ============================================================================ sweep file schema
class RangeSpec(Strict):
    """Evenly spaced values from start to stop (inclusive), by `step` or as `num` values."""

    start: float = Field(description="First value.")
    stop: float = Field(description="Last value (included when start + k x step reaches it).")
    step: float | None = Field(None, description="Spacing (> 0). Give step or num, not both.")
    num: int | None = Field(None, ge=1, le=MAX_LEVELS, description="Number of evenly spaced values (>= 1).")

    @model_validator(mode="after")
    def _check(self):
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of step or num")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step must be > 0 (got {self.step:g})")
        if self.stop < self.start:
            raise ValueError(f"empty range: stop ({self.stop:g}) is below start ({self.start:g})")
        if self.num == 1 and self.stop != self.start:
            raise ValueError("num: 1 needs stop equal to start")
        if self.step is not None and (self.stop - self.start) / self.step + 1 > MAX_LEVELS:
            raise ValueError(f"more than {MAX_LEVELS} values; use a larger step")
        return self

    def levels(self) -> list:
        if self.num is not None:
            xs = [self.start] if self.num == 1 else list(np.linspace(self.start, self.stop, self.num))
        else:
            k = math.floor((self.stop - self.start) / self.step + 1e-9) + 1
            xs = [self.start + i * self.step for i in range(k)]
        return [float(f"{x:.12g}") for x in xs]


def _coerce(v, kind: str):
    """A value in the type of its scenario field: 2.0 for an int field is 2, 60 for a float field is 60.0."""
    if isinstance(v, bool) or v is None:
        return v
    if kind == "float" and isinstance(v, int):
        return float(v)
    if kind == "int" and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


class ParamSpec(Strict):
    """One varied parameter: a list of values, a range, or a distribution between bounds.

    Short form: `path: [v1, v2, ...]` means `path: {values: [v1, v2, ...]}`; `{low: a, high: b}`
    means a uniform distribution on [a, b]."""

    values: list[Any] | None = Field(None, description="Explicit values (numbers, true/false or text).")
    range: RangeSpec | None = Field(None, description="Evenly spaced values: {start, stop, step} or {start, stop, num}.")
    dist: Literal["uniform", "loguniform", "triangular", "normal"] | None = Field(
        None, description="Distribution for lhs, sobol and morris designs (default uniform when low/high are given).")
    low: float | None = Field(None, description="Lower bound of the distribution.")
    high: float | None = Field(None, description="Upper bound of the distribution.")
    mode: float | None = Field(None, description="Mode of a triangular distribution (low <= mode <= high).")
    mean: float | None = Field(None, description="Mean of a normal distribution (truncated to [low, high]).")
    sd: float | None = Field(None, gt=0, description="Standard deviation of a normal distribution (> 0).")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        if isinstance(v, list):
            return {"values": v}
        if not isinstance(v, dict):
            raise ValueError(f"expected a list of values or a mapping (values, range, or low/high), got {v!r}")  # noqa: TRY004
        return v

    @field_validator("values")
    @classmethod
    def _values(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("empty list; give at least one value")
        if len(v) > MAX_LEVELS:
            raise ValueError(f"more than {MAX_LEVELS} values")
        for i, x in enumerate(v):
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError(f"item {i}: expected a finite number (NaN and infinity are not allowed)")
            if x is not None and not isinstance(x, (bool, int, float, str)):
                raise ValueError(f"item {i}: expected a number, true/false or text, got {type(x).__name__}")
        return v

    @model_validator(mode="after")
    def _one_kind(self):
        is_dist = self.dist is not None or self.low is not None or self.high is not None
        kinds = [k for k, on in (("values", self.values is not None), ("range", self.range is not None),
                                 ("distribution", is_dist)) if on]
        if len(kinds) != 1:
            got = " and ".join(kinds) if kinds else "none"
            raise ValueError(f"give exactly one of values, range, or a distribution (low/high); got {got}")
        if not is_dist:
            extra = [k for k in ("mode", "mean", "sd") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} only apply to distributions")
            return self
        if self.dist is None:
            self.dist = "uniform"
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.dist} distribution needs both low and high")
        if not self.low < self.high:
            raise ValueError(f"reversed or empty bounds: low ({self.low:g}) must be below high ({self.high:g})")
        need = {"triangular": ["mode"], "normal": ["mean", "sd"]}.get(self.dist, [])
        for k in ("mode", "mean", "sd"):
            if k in need and getattr(self, k) is None:
                raise ValueError(f"a {self.dist} distribution needs {k}")
            if k not in need and getattr(self, k) is not None:
                raise ValueError(f"{k} does not apply to a {self.dist} distribution")
        if self.dist == "loguniform" and self.low <= 0:
            raise ValueError(f"a loguniform distribution needs low > 0 (got {self.low:g})")
        if self.dist == "triangular" and not self.low <= self.mode <= self.high:
            raise ValueError(f"mode ({self.mode:g}) must lie between low ({self.low:g}) and high ({self.high:g})")
        return self

    @property
    def is_dist(self) -> bool:
        return self.dist is not None

    def levels(self, kind: str = "other") -> list:
        lv = list(self.values) if self.values is not None else self.range.levels()
        return [_coerce(v, kind) for v in lv]

    def from_unit(self, u: np.ndarray, kind: str) -> list:
        """Map points of [0, 1] to values: quantiles of the distribution, or equal shares of the levels."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if not self.is_dist:
            lv = self.levels(kind)
            idx = np.minimum((u * len(lv)).astype(np.int64), len(lv) - 1)
            return [lv[i] for i in idx]
        lo, hi = self.low, self.high
        if self.dist == "uniform":
            x = lo + u * (hi - lo)
        elif self.dist == "loguniform":
            x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
        elif self.dist == "triangular":
            from scipy.stats import triang

            x = triang.ppf(u, c=(self.mode - lo) / (hi - lo), loc=lo, scale=hi - lo)
        else:
            from scipy.stats import truncnorm

            x = truncnorm.ppf(u, (lo - self.mean) / self.sd, (hi - self.mean) / self.sd, loc=self.mean, scale=self.sd)
        x = np.clip(x, lo, hi)
        if kind == "int":
            x = np.clip(np.rint(x), math.ceil(lo), math.floor(hi))
            return [int(v) for v in x]
        return [float(v) for v in x]


class DesignSpec(Strict):
    """How design points are made from the parameters."""

    kind: Literal["grid", "paired", "lhs", "sobol", "morris"] = Field(
        description="grid: every combination; paired: i-th value of every parameter together; lhs: Latin hypercube "
                    "(scipy.stats.qmc); sobol: Saltelli/Sobol' sample (SALib); morris: Morris trajectories (SALib).")
    samples: int | None = Field(None, ge=1, le=MAX_RUNS, description="lhs: design points; sobol: base sample N (a power "
                                "of 2; N x (D + 2) points, N x (2D + 2) with second_order); morris: trajectories "
                                "(N x (D + 1) points). Not used by grid and paired.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Seed of the sampler (default: the sweep's seed).")
    second_order: bool = Field(False, description="sobol: also second-order indices (S2).")
    num_levels: int = Field(4, ge=2, le=1000, description="morris: levels of the grid (p; even numbers recommended).")
    optimal_trajectories: int | None = Field(None, ge=2, le=1000, description="morris: keep this many of `samples` "
                                             "trajectories, chosen for spread (Campolongo et al. 2007).")
    optimization: Literal["random-cd", "lloyd"] | None = Field(None, description="lhs: optimise the hypercube "
                                                                "(scipy.stats.qmc.LatinHypercube).")
    num_resamples: int = Field(1000, ge=10, le=100_000, description="sobol, morris: bootstrap resamples of the CIs.")
    conf_level: float = Field(0.95, gt=0, lt=1, description="sobol, morris: confidence level of the indices' CIs.")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        return {"kind": v} if isinstance(v, str) else v

    def relevant(self) -> dict:
        """The fields that apply to this kind of design (for check and the manifest)."""
        d = self.model_dump(mode="json")
        return {k: v for k, v in d.items() if k == "kind" or self.kind in DESIGN_FIELDS.get(k, ())}

    @model_validator(mode="after")
    def _check(self):
        own = DESIGN_FIELDS
        for k in sorted(self.model_fields_set):
            if k in own and self.kind not in own[k]:
                raise ValueError(f"{k} does not apply to the {self.kind} design (only {', '.join(own[k])})")
        if self.kind in SAMPLING and self.samples is None:
            raise ValueError(f"the {self.kind} design needs samples")
        if self.kind == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"sobol samples must be a power of 2 (e.g. 64, 128, 256), got {self.samples}")
        if self.optimal_trajectories is not None and self.optimal_trajectories >= self.samples:
            raise ValueError(f"optimal_trajectories ({self.optimal_trajectories}) must be below samples ({self.samples})")
        return self


class RecordSpec(Strict):
    metrics: list[str] | Literal["all"] = Field("all", description="Metric columns to keep (MODEL.md section 6), or 'all'.")
    every_step: bool = Field(True, description="true: one row per step; false: only the final step of each run.")

    @field_validator("metrics")
    @classmethod
    def _nonempty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("empty list; name at least one metric, or write all")
        return v


class SweepSpec(Strict):
    """A sweep file: a base scenario, the parameters to vary and how, replications and what to record."""

    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="Sweep name (default: the file name without .yaml).")
    description: str = Field("", description="Free text.")
    scenario: str | dict[str, Any] | None = Field(
        None, description="Base scenario: a path (relative to the sweep file's folder), an inline mapping of "
                          "scenario fields, or null for all defaults.")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="Fixed overrides of the base scenario, by dotted path (as --set).")
    steps: int | None = Field(None, ge=1, le=1000, description="Steps of every run (default: the base scenario's).")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Entropy of the replication seeds: replication r of every "
                      "design point runs with SeedSequence(seed).spawn(replications)[r] (common random numbers).")
    replications: int = Field(1, ge=1, le=100_000, description="Runs per design point (>= 1).")
    parameters: dict[str, ParamSpec] = Field(min_length=1, description="Parameters to vary, by dotted path "
                                             "(e.g. resources.pool): values, range or distribution.")
    design: DesignSpec = Field(default_factory=lambda: DesignSpec(kind="grid"), description="The design.")
    record: RecordSpec = Field(default_factory=RecordSpec, description="What to record.")

    model_config = ConfigDict(**Strict.model_config, populate_by_name=True)


# ============================================================================ loading
def is_sweep_data(data: dict) -> bool:
    """A YAML mapping is a sweep file if it has a top-level key that no scenario has."""
    return isinstance(data, dict) and bool(SWEEP_KEYS & set(data))


def _validate_spec(data: dict, source: str) -> SweepSpec:
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as e:
        errs = e.errors(include_url=False)
        err = errs[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field; expected one of: {', '.join(_allowed_at(err['loc'][:-1]))}"
        elif err["type"] == "finite_number":
            msg = "expected a finite number (NaN and infinity are not allowed)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "literal_error" and loc == "design.kind":
            msg = f"unknown design {err.get('input')!r}; expected one of: {', '.join(DESIGNS)}"
        else:
            got = err.get("input")
            if not isinstance(got, (dict, list)) and got is not None and err["type"] not in ("value_error",):
                msg = f"{msg} (got {got!r})"
        if len(errs) > 1:
            msg += f" [and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''}]"
        raise ScenarioError(source, loc, msg) from None


def _allowed_at(loc) -> list[str]:
    cls = SweepSpec
    for part in loc:
        if cls is SweepSpec and part == "parameters":
            cls = "params"
            continue
        if cls == "params":
            cls = ParamSpec
            continue
        f = cls.model_fields.get(part) if isinstance(cls, type) else None
        if f is None:
            return []
        cls = _inner_model(f.annotation)
        if cls is None:
            return []
    names = [(f.alias or n) for n, f in cls.model_fields.items()] if isinstance(cls, type) else []
    return sorted(names)


def _field_kind(parts: list[str]) -> str:
    """'int', 'float', 'bool', 'str' or 'other': the type of the scenario field at a dotted path."""
    import typing

    cls, ann = Scenario, None
    for part in parts:
        if part.isdigit():
            continue
        if cls is None:
            return "other"
        f = cls.model_fields.get(part)
        if f is None:
            return "other"
        ann = f.annotation
        cls = _inner_model(ann)
    args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
    if bool in args:
        return "bool"
    if int in args and float not in args:
        return "int"
    if float in args:
        return "float"
    if str in args:
        return "str"
    return "other"


def _norm(path: str) -> str:
    return str(path).strip().replace("__", ".")


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Seed of each replication, the same at every design point: SeedSequence(seed).spawn(R)[r]
    turned into a 63-bit integer (a valid scenario seed)."""
    children = np.random.SeedSequence(int(seed)).spawn(int(replications))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def _native(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


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
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "name": self.name, "sweep_file": self.source,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": fingerprint(core), "versions": _versions(),
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


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file: schema, every parameter path and value, metrics, design size.
    Every problem is a ScenarioError naming the file and the field path (exit code 2 on the CLI)."""
    src = str(path)
    data = read_yaml(path)
    if not is_sweep_data(data):
        raise ScenarioError(src, "", "is not a sweep file (it has none of the fields parameters, design, replications, "
                                     "record); expected a sweep file (docs/sweeps.md); a scenario file runs with run.py run")
    spec = _validate_spec(data, src)
    here = Path(path).resolve().parent
    name = spec.name or _safe_name(Path(path).stem)

    # -- the base scenario, with the fixed overrides and steps
    if isinstance(spec.scenario, str):
        p = Path(spec.scenario).expanduser()
        p = p if p.is_absolute() else here / p
        if not p.is_file():
            raise ScenarioError(src, "scenario", f"scenario file not found: {spec.scenario} (relative paths start at "
                                                 f"the sweep file's folder, {here})")
        base_data, base_src = read_yaml(p), str(p)
        if is_sweep_data(base_data):
            raise ScenarioError(src, "scenario", f"{spec.scenario} is a sweep file; expected a scenario file")
    elif isinstance(spec.scenario, dict):
        base_data, base_src = copy.deepcopy(spec.scenario), src
    else:
        base_data, base_src = {}, src
    fixed = {}
    for k, v in spec.fixed.items():
        if _norm(k) in fixed:
            raise ScenarioError(src, f"set.{k}", "given twice")
        fixed[_norm(k)] = v
    if "seed" in fixed:
        raise ScenarioError(src, "set.seed", "each run's seed comes from the sweep's seed and replications; "
                                             "set the top-level seed instead")
    for k, v in fixed.items():
        try:
            apply_overrides(base_data, {k: v}, source=src)
        except ScenarioError as e:
            raise ScenarioError(src, f"set.{k}", e.message) from None
    if spec.steps is not None:
        base_data["steps"] = spec.steps
    try:
        cfg = validate_scenario(base_data, base_src)
    except ScenarioError as e:
        key = next((k for k in fixed if e.path == k or e.path.startswith(k + ".")), None)
        if key is not None:
            raise ScenarioError(src, f"set.{key}", e.message) from None
        if isinstance(spec.scenario, dict):
            raise ScenarioError(src, f"scenario.{e.path}", e.message) from None
        raise
    base = cfg.model_dump(mode="json")

    # -- parameters: paths, kinds, and every value on its own
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
    paths = list(params)
    kinds = {k: _field_kind(k.split(".")) for k in paths}
    design = spec.design
    for raw, key in zip(spec.parameters, paths):
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
        _check_values(src, where, key, ps, kind, base)
    if design.kind == "paired":
        lens = {raw: len(params[k].levels()) for raw, k in zip(spec.parameters, paths)}
        first = next(iter(lens))
        for raw, n in lens.items():
            if n != lens[first]:
                raise ScenarioError(src, f"parameters.{raw}", f"the paired design needs the same number of values "
                                                              f"for every parameter: {n} here, {lens[first]} for {first}")

    # -- design size, before anything big is made
    D = len(paths)
    if design.kind == "grid":
        P = math.prod(len(params[k].levels()) for k in paths)
    elif design.kind == "paired":
        P = len(params[paths[0]].levels())
    elif design.kind == "lhs":
        P = design.samples
    elif design.kind == "sobol":
        P = design.samples * ((2 * D + 2) if design.second_order else (D + 2))
    else:
        P = (design.optimal_trajectories or design.samples) * (D + 1)
    if P * spec.replications > MAX_RUNS:
        raise ScenarioError(src, "design", f"{P} design points x {spec.replications} replications = "
                                           f"{P * spec.replications} runs; at most {MAX_RUNS} in one sweep")
    if design.kind == "sobol" and D < 2:
        raise ScenarioError(src, "parameters", "the sobol design needs at least 2 parameters")

    points, unit = make_design(spec, params, paths, kinds)
    metrics = _metrics(src, spec.record, cfg.issue_names)
    sw = Sweep(spec=spec, source=src, name=name, base=base, paths=paths, kinds=kinds, points=points, unit=unit,
               seeds=replication_seeds(spec.seed, spec.replications), metrics=metrics,
               every_step=spec.record.every_step)
    bad = invalid_points(sw)
    if bad:
        p, msg = bad[0]
        checked = min(sw.n_points, 50_000)
        of = f"{sw.n_points}" if checked == sw.n_points else f"the first {checked}"
        sw.warnings.append(f"{len(bad)} of {of} design points are not valid scenarios (first: point {p}: "
                           f"{msg}); their runs will fail and be listed in failed.jsonl")
    return sw


def _safe_name(stem: str) -> str:
    import re

    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_") or "sweep"
    return s[:100]


def _check_values(src, where, key, ps: ParamSpec, kind, base):
    """Each value (levels; a distribution's bounds and median) must be valid with the base scenario."""
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
    for loc, v in cands:
        trial = copy.deepcopy(base)
        apply_overrides(trial, {key: v}, source=src)
        try:
            validate_scenario(trial, src)
        except ScenarioError as e:
            raise ScenarioError(src, loc, f"value {v!r} is not valid for {e.path or key}: {e.message}") from None


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


def salib_problem(paths: list[str]) -> dict:
    """SALib problem in the unit hypercube (values are mapped to each parameter's distribution after)."""
    return {"num_vars": len(paths), "names": list(paths), "bounds": [[0.0, 1.0]] * len(paths)}


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
        from SALib.sample import morris as morris_sample

        unit = morris_sample.sample(salib_problem(paths), d.samples, num_levels=d.num_levels,
                                    optimal_trajectories=d.optimal_trajectories, seed=seed)
    unit = np.asarray(unit, dtype=float)
    cols = [params[k].from_unit(unit[:, j], kinds[k]) for j, k in enumerate(paths)]
    points = [{k: _native(v) for k, v in zip(paths, row)} for row in zip(*cols)]
    return points, unit


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
            validate_scenario(trial, "")
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


# ============================================================================ one run (in a worker)
def run_one(base: dict | str | os.PathLike | None, overrides: dict, seed: int, steps: int | None = None,
            record: dict | None = None) -> pd.DataFrame:
    """One run: the base scenario (a resolved dict, or a path) with `overrides` and `seed`, run for
    `steps` (default: the scenario's). Returns `step`, `year` and the recorded metrics (every step,
    or only the final one). Same inputs, same output, in any process."""
    ov = dict(overrides)
    ov["seed"] = int(seed)
    if steps is not None and "steps" not in ov:
        ov["steps"] = int(steps)
    if isinstance(base, dict):
        data = copy.deepcopy(base)
        apply_overrides(data, ov, source="sweep")
        cfg = validate_scenario(data, "sweep")
    else:
        from model.config import load_scenario

        cfg = load_scenario(base, overrides=ov)
    model = CityDiplomacyModel(cfg)
    model.run()
    ts = model.timeseries()
    record = record or {}
    cols = ["step", "year"] + list(record.get("metrics") or metric_names(cfg.issue_names))
    ts = ts[cols]
    if not record.get("every_step", True):
        ts = ts.iloc[[-1]]
    return ts.reset_index(drop=True)


def _task(run_id: str, base, overrides: dict, seed: int, steps, record: dict, meta: dict) -> dict:
    """What a worker executes for one run: the model (run_one), then the run's tidy table as Parquet
    bytes (so the parent only writes a file). Never raises for a failing run: returns the error.
    `meta`: point, replication and the column type of each parameter ({path: arrow type name})."""
    t0 = time.perf_counter()
    try:
        df = run_one(base, overrides, seed, steps, record)
    except Exception as e:  # noqa: BLE001 - recorded in failed.jsonl; the sweep goes on
        return {"run_id": run_id, "ok": False, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=20), "runtime_s": time.perf_counter() - t0}
    runtime = time.perf_counter() - t0
    table = run_table(run_id, meta["point"], meta["replication"], overrides, seed, df, meta["ptypes"])
    return {"run_id": run_id, "ok": True, "parquet": parquet_bytes(table), "rows": table.num_rows,
            "runtime_s": runtime}


def run_table(run_id: str, point: int, rep: int, params: dict, seed: int, frame: pd.DataFrame,
              ptypes: dict[str, str]) -> pa.Table:
    """The tidy table of one run: run_id, point, replication, parameters..., seed, step, year, metrics..."""
    n = len(frame)
    cols = {"run_id": pa.array([run_id] * n, pa.string()), "point": pa.array(np.full(n, point, np.int64)),
            "replication": pa.array(np.full(n, rep, np.int64))}
    for k, tname in ptypes.items():
        typ = pa.type_for_alias(tname)
        cols[k] = pa.array([_param_value(params[k], typ)] * n, typ)
    cols["seed"] = pa.array(np.full(n, seed, np.int64))
    for name in frame.columns:
        cols[name] = pa.array(frame[name].to_numpy())
    return pa.table(cols)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


# ============================================================================ output directory
def _atomic_write_text(path: Path, text: str):
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, path)


def _first_difference(a, b, where="") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{where}{k}: {'missing' if k not in a else repr(a[k])[:60]} in the directory, " \
                       f"{'missing' if k not in b else repr(b[k])[:60]} now"
            d = _first_difference(a[k], b[k], f"{where}{k}.")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where.rstrip('.')}: {len(a)} items in the directory, {len(b)} now"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{where}{i}.")
            if d:
                return d
        return None
    if a != b:
        return f"{where.rstrip('.')}: {a!r} in the directory, {b!r} now"
    return None


def prepare_out(sw: Sweep, out: Path) -> tuple[dict, bool]:
    """Create DIR and write manifest.json, or check that DIR holds this very sweep (resume).
    Returns (manifest, resumed)."""
    where = f"--out {out}"
    new = sw.manifest()
    mpath = out / "manifest.json"
    if out.exists() and not out.is_dir():
        raise ScenarioError(where, "", "is an existing file; expected a directory")
    if mpath.exists():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise ScenarioError(where, "", f"manifest.json cannot be read ({e}); choose another --out or remove it") from None
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            raise ScenarioError(where, "", "manifest.json is not a sweep manifest; choose another --out")
        if old.get("fingerprint") != new["fingerprint"]:
            keys = ("base_scenario", "parameters", "record", "runs")
            diff = None
            for k in keys:
                diff = _first_difference(old.get(k), new[k], f"{k}.")
                if diff:
                    break
            raise ScenarioError(where, "", f"holds the manifest of a different sweep ({old.get('sweep_file')}, "
                                           f"{old.get('design', {}).get('runs')} runs); first difference: "
                                           f"{diff or 'unknown'}. Choose another --out, or remove the directory")
        if old.get("versions") != new["versions"]:
            print(f"warning: {out} was started with {old.get('versions')}, now {new['versions']}; "
                  "results of the remaining runs may differ", file=sys.stderr)
        (out / "runs").mkdir(exist_ok=True)
        return old, True
    if out.exists() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise ScenarioError(where, "", "already exists, is not empty and holds no sweep (no manifest.json); "
                                       "choose a new directory or remove it")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScenarioError(where, "", f"{parent} is not writable; choose another directory")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    _atomic_write_text(mpath, json.dumps(new, indent=1, allow_nan=False))
    return new, False


def _lock(out: Path):
    """An exclusive lock on DIR/.lock for as long as this sweep runs (released by the OS even after
    SIGKILL): a second `run.py sweep` into the same directory is refused instead of doing the same runs."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        return None
    fh = open(out / ".lock", "a+")  # noqa: SIM115 - held open until the sweep ends
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ScenarioError(f"--out {out}", "", "another run.py sweep is writing into this directory; wait for it "
                                                "to finish (or stop it) and run this command again") from None
    return fh


def _clean_temp(out: Path):
    for d in (out, out / "runs"):
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(".") and ".tmp-" in p.name:
                    p.unlink(missing_ok=True)


def read_failed(out: Path, rewrite: bool = True) -> dict[str, dict]:
    """Runs recorded in failed.jsonl; a line cut short by a kill is dropped (and the file rewritten)."""
    path = out / "failed.jsonl"
    if not path.exists():
        return {}
    good, broken = {}, False
    text = path.read_text()
    for line in text.splitlines(keepends=True):
        try:
            if not line.endswith("\n"):
                raise ValueError("incomplete line")
            rec = json.loads(line)
            good[rec["run_id"]] = rec
        except (ValueError, KeyError, TypeError):
            broken = True
    if broken and rewrite:
        _atomic_write_text(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in good.values()))
    return good


# ============================================================================ the sweep loop
class SweepAborted(RuntimeError):
    """The execution back-end failed (not a run): the sweep stops; what finished is kept for resuming."""


class _Appender:
    """failed.jsonl, opened on the first record; each record is one write of one whole line."""

    def __init__(self, path: Path):
        self.path, self.fh = path, None

    def write(self, text: str):
        if self.fh is None:
            self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across runs
        self.fh.write(text)

    def flush(self):
        if self.fh is not None:
            self.fh.flush()

    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None

@dataclass
class SweepResult:
    out: Path
    total: int
    finished: int
    failed: int
    ran: int  # runs executed by this call (finished or failed)
    wall_s: float
    model_s: float  # time the runs of this call spent inside the worker function
    startup_s: float
    backend: str
    files: list[str] = field(default_factory=list)


def _param_arrow_type(values: list) -> pa.DataType:
    vals = [v for v in values if v is not None]
    if vals and all(isinstance(v, bool) for v in vals):
        return pa.bool_()
    if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return pa.float64()
    return pa.string()


def _param_value(v, typ: pa.DataType):
    if v is None:
        return None
    if typ == pa.string():
        return v if isinstance(v, str) else json.dumps(v)
    if typ == pa.float64():
        return float(v)
    return v


def param_types(sw: Sweep) -> dict[str, str]:
    """Column type of each varied parameter, from all its values: bool, int64, double or string."""
    return {k: str(_param_arrow_type([p[k] for p in sw.points])) for k in sw.paths}


def write_bytes_atomic(path: Path, data: bytes):
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _bar(total: int, initial: int, quiet: bool, desc: str):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit="run", disable=disable, leave=False,
                dynamic_ncols=True, smoothing=0.05)


def run_sweep(sweep: Sweep | str | os.PathLike, out: str | os.PathLike | None = None, *, workers: int | None = None,
              scheduler: str | None = None, scheduler_file: str | None = None, executor=None, client=None,
              quiet: bool = False, retry_failed: bool = False, progress=None, analyse: bool = True,
              task=None) -> SweepResult:
    """Run a sweep (or what is missing of it) and write every output file into `out`.

    Back-end: `executor` (any concurrent.futures.Executor), else a Dask cluster (`client`, `scheduler`
    address or `scheduler_file`), else `workers` local processes (default: the cores; 1: in this process).
    `progress(finished, failed, total)` is called after each run. `task` replaces the function that
    executes one run in a worker (default `_task`; same signature and result), e.g. in tests."""
    from analysis.executors import make_backend

    t_start = time.perf_counter()
    task = _task if task is None else task
    sw = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    out = Path(out) if out is not None else Path("results") / "sweeps" / sw.name
    backend = None
    if executor is None and (client is not None or scheduler is not None or scheduler_file is not None):
        # connect first: a wrong address is the user's error, reported before anything is written
        backend = make_backend(scheduler=scheduler, scheduler_file=scheduler_file, client=client)
    try:
        _, resumed = prepare_out(sw, out)
        lock = _lock(out)
    except BaseException:
        if backend is not None:
            backend.close()
        raise
    try:
        return _execute(sw, out, backend, resumed, t_start, workers=workers, executor=executor, quiet=quiet,
                        retry_failed=retry_failed, progress=progress, analyse=analyse, task=task)
    finally:
        if lock is not None:
            lock.close()


def _execute(sw: Sweep, out: Path, backend, resumed: bool, t_start: float, *, workers, executor, quiet,
             retry_failed, progress, analyse, task) -> SweepResult:
    from analysis.executors import make_backend, single_threaded_blas

    _clean_temp(out)
    failed = read_failed(out)
    if retry_failed and failed:
        failed = {}
        (out / "failed.jsonl").unlink()
    done = {p.stem for p in (out / "runs").glob("*.parquet")}
    todo = deque((rid, p, r, params, s) for rid, p, r, params, s in sw.runs() if rid not in done and rid not in failed)
    n_done = sum(1 for rid, *_ in sw.runs() if rid in done)
    n_failed = sum(1 for rid, *_ in sw.runs() if rid in failed)
    if not quiet:
        for w in sw.warnings:
            print(f"warning: {sw.source}: {w}", file=sys.stderr)
    ptypes = param_types(sw)
    model_s = 0.0
    ran = 0
    startup_s = 0.0
    desc = "nothing to run"
    if not todo and backend is not None:
        backend.close()
    if todo:
        t_b = time.perf_counter()
        if backend is None:
            backend = make_backend(workers=workers, executor=executor)
        startup_s = time.perf_counter() - t_b
        desc = backend.describe()
        if not quiet:
            state = f"resuming: {n_done} finished, {n_failed} failed, " if resumed else ""
            print(f"sweep {sw.name}: {sw.size()}; "
                  f"{state}{len(todo)} to run on {desc} -> {out}", file=sys.stderr)
        bar = _bar(sw.n_runs, n_done + n_failed, quiet, sw.name)
        if n_failed:
            bar.set_postfix(failed=n_failed, refresh=False)
        fail_fh = _Appender(out / "failed.jsonl")
        blas = single_threaded_blas()  # the same numerics in this process as in the workers
        steps = sw.base.get("steps")
        inflight: dict = {}  # future -> run
        ready: queue.SimpleQueue = queue.SimpleQueue()  # futures, as they finish (done callbacks)
        suspects: deque = deque()
        isolating = False

        def submit(run):
            meta = {"point": run[1], "replication": run[2], "ptypes": ptypes}
            f = backend.executor.submit(task, run[0], sw.base, run[3], run[4], steps, sw.record, meta)
            inflight[f] = run
            f.add_done_callback(ready.put)

        def failure(run, error: str, tb: str = ""):
            nonlocal n_failed
            rid, p, r, params, seed = run
            rec = {"run_id": rid, "point": p, "replication": r, "parameters": params, "seed": seed,
                   "error": error, "traceback": tb}
            fail_fh.write(json.dumps(rec, allow_nan=False, default=str) + "\n")
            fail_fh.flush()
            n_failed += 1
            bar.set_postfix(failed=n_failed, refresh=False)

        try:
            while todo or inflight or suspects:
                if suspects:  # after a worker died: run the suspects one at a time to find the culprit
                    if not inflight:
                        submit(suspects.popleft())
                        isolating = True
                elif not isolating or not inflight:
                    isolating = False
                    cap = backend.capacity()
                    while todo and len(inflight) < cap:
                        submit(todo.popleft())
                try:
                    finished = [ready.get(timeout=1.0)]
                except queue.Empty:
                    continue
                while not ready.empty():
                    finished.append(ready.get())
                broken = []
                for f in finished:
                    run = inflight.pop(f, None)
                    if run is None:  # already handled with a broken pool
                        continue
                    try:
                        res = f.result()
                    except BrokenProcessPool:
                        broken.append(run)
                        continue
                    except Exception as e:  # the back-end failed, not the run (run_one's errors are returned)
                        if type(e).__name__ != "KilledWorker":  # e.g. the connection to the cluster is lost
                            raise SweepAborted(f"the back-end failed ({type(e).__name__}: {e}); finished runs are "
                                               "kept, run the same command again to resume") from e
                        # Dask gave up on this run after it killed several workers (e.g. out of memory)
                        res = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": "", "runtime_s": 0.0}
                    ran += 1
                    model_s += float(res.get("runtime_s", 0.0))
                    if res["ok"]:
                        write_bytes_atomic(out / "runs" / f"{run[0]}.parquet", res["parquet"])
                        n_done += 1
                    else:
                        failure(run, res["error"], res.get("traceback", ""))
                    bar.update(1)
                    if progress is not None:
                        progress(n_done, n_failed, sw.n_runs)
                if broken:  # a worker process died: every run in flight is lost with the pool
                    broken += list(inflight.values())
                    inflight.clear()
                    if not backend.can_restart:
                        raise SweepAborted("a worker process died and the executor cannot be restarted; finished "
                                           "runs are kept, run the same command again to resume")
                    backend.restart()
                    if isolating and len(broken) == 1:
                        failure(broken[0], "the worker process died while running it (out of memory, or a crash "
                                           "in native code)")
                        ran += 1
                        bar.update(1)
                        if progress is not None:
                            progress(n_done, n_failed, sw.n_runs)
                    else:
                        suspects.extend(sorted(broken, key=lambda x: x[0]))
        except BaseException:
            bar.close()
            fail_fh.close()
            backend.close(cancel=True)
            raise
        finally:
            if blas is not None:
                blas.restore_original_limits()
        bar.close()
        fail_fh.close()
        backend.close()
    files = finish(sw, out, quiet=quiet, analyse=analyse)
    wall = time.perf_counter() - t_start
    if not quiet:
        print(f"wrote {out}: {n_done} runs finished, {n_failed} failed ({wall:.1f} s)", file=sys.stdout)
    if n_failed:
        print(f"warning: {n_failed} of {sw.n_runs} runs failed; see {out / 'failed.jsonl'}"
              f"{'' if retry_failed else ' (re-run with --retry-failed to run them again)'}", file=sys.stderr)
    startup = getattr(backend, "startup_s", 0.0) if backend is not None else 0.0
    return SweepResult(out=out, total=sw.n_runs, finished=n_done, failed=n_failed, ran=ran, wall_s=wall,
                       model_s=model_s, startup_s=max(startup, 0.0) or startup_s, backend=desc, files=files)


# ============================================================================ results, summary, indices
@functools.lru_cache(maxsize=1024)
def _t975(n: int) -> float:
    """97.5% quantile of Student's t with n - 1 degrees of freedom (scipy.special: no scipy.stats import)."""
    from scipy.special import stdtrit

    return float(stdtrit(n - 1, 0.975)) if n > 1 else float("nan")


def finish(sw: Sweep, out: Path, quiet: bool = False, analyse: bool = True) -> list[str]:
    """Assemble results.parquet and summary.csv from runs/ (streaming: one run in memory at a time),
    and for sobol and morris designs write the sensitivity indices."""
    means = write_results(sw, out)
    files = ["manifest.json", "results.parquet", "summary.csv"]
    if (out / "failed.jsonl").exists():
        files.append("failed.jsonl")
    if analyse and sw.spec.design.kind in ("sobol", "morris"):
        from analysis.sensitivity import write_sensitivity

        files += write_sensitivity(sw, means, out, quiet=quiet)
    return files


def write_results(sw: Sweep, out: Path) -> np.ndarray:
    """Write results.parquet (every finished run, manifest order) and summary.csv (per design point and
    metric, final step: n, mean, sd, 95% CI). Returns the replicate means (points x metrics)."""
    runs_dir = out / "runs"
    ptypes = param_types(sw)
    M = len(sw.metrics)
    means = np.full((sw.n_points, M), np.nan)
    res_tmp = out / f".results.parquet.tmp-{os.getpid()}"
    sum_tmp = out / f".summary.csv.tmp-{os.getpid()}"
    schema = None
    pw = None
    try:
        with open(sum_tmp, "w", newline="", encoding="utf-8") as fh:
            cw = csv.writer(fh)
            cw.writerow(["point", *sw.paths, "metric", "n", "mean", "sd", "ci_low", "ci_high"])
            finals: list[np.ndarray] = []
            current = 0

            def flush(point: int, rows: list[np.ndarray]):
                X = np.vstack(rows) if rows else np.empty((0, M))
                params = sw.points[point]
                for j, m in enumerate(sw.metrics):
                    x = X[:, j][np.isfinite(X[:, j])] if len(X) else np.empty(0)
                    n = len(x)
                    mean = float(x.mean()) if n else float("nan")
                    sd = float(x.std(ddof=1)) if n > 1 else float("nan")
                    half = _t975(n) * sd / math.sqrt(n) if n > 1 else float("nan")
                    means[point, j] = mean
                    cw.writerow([point, *[params[k] for k in sw.paths], m, n, _fmt(mean), _fmt(sd),
                                 _fmt(mean - half), _fmt(mean + half)])

            for rid, p, r, params, seed in sw.runs():
                if p != current:
                    flush(current, finals)
                    finals, current = [], p
                f = runs_dir / f"{rid}.parquet"
                if not f.exists():
                    continue
                t = pq.read_table(f)
                if schema is None:
                    schema = t.schema
                    pw = pq.ParquetWriter(res_tmp, schema)
                elif t.schema != schema:
                    t = t.select(schema.names).cast(schema)
                pw.write_table(t)
                last = t.slice(t.num_rows - 1, 1)
                finals.append(np.array([_as_float(last.column(m)[0].as_py()) for m in sw.metrics], dtype=float))
            if sw.n_points:
                flush(current, finals)
        if pw is None:  # no run finished: an empty table with the columns
            empty = run_table("", 0, 0, sw.points[0], 0, pd.DataFrame(
                {"step": pd.Series([], dtype="int64"), "year": pd.Series([], dtype="int64"),
                 **{m: pd.Series([], dtype="float64") for m in sw.metrics}}), ptypes) if sw.n_points else pa.table({})
            pq.write_table(empty, res_tmp)
        else:
            pw.close()
            pw = None
        os.replace(res_tmp, out / "results.parquet")
        os.replace(sum_tmp, out / "summary.csv")
    finally:
        if pw is not None:
            pw.close()
        res_tmp.unlink(missing_ok=True)
        sum_tmp.unlink(missing_ok=True)
    return means


def _as_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else repr(float(x))


# ============================================================================ command line
def cli(args) -> int:
    """`run.py sweep FILE [--out DIR] [--workers N] [--scheduler ADDRESS | --scheduler-file F] [--quiet]`."""
    if args.workers is not None and args.workers < 1:
        raise ScenarioError("--workers", "", f"expected a whole number >= 1, got {args.workers}")
    if args.workers is not None and (args.scheduler or args.scheduler_file):
        raise ScenarioError("--workers", "", "applies to local worker processes; with --scheduler or "
                                             "--scheduler-file the cluster's workers run the sweep")
    if args.scheduler_file and not Path(args.scheduler_file).is_file():
        raise ScenarioError("--scheduler-file", "", f"{args.scheduler_file}: file not found")
    sw = load_sweep(args.file)
    try:
        run_sweep(sw, args.out, workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
                  quiet=args.quiet, retry_failed=getattr(args, "retry_failed", False))
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        raise
    except SweepAborted as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def check_text(path) -> str:
    """What `run.py check SWEEP.yaml` prints: the resolved sweep as YAML, plus warnings as comments."""
    import yaml

    sw = load_sweep(path)
    head = f"# {path}: valid sweep: {sw.size()}\n"
    for w in sw.warnings:
        head += f"# warning: {w}\n"
    return head + yaml.safe_dump(describe(sw), sort_keys=False)


def json_schema() -> dict:
    return SweepSpec.model_json_schema(by_alias=True)
