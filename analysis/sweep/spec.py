"""The sweep file format: what to vary, how (the design), replications and what to record.

`python run.py schema sweep` prints the JSON Schema built from these classes; `analysis/sweep/plan.py`
turns a validated file into the runs of a sweep.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator

from model.config import Strict
from model.loading import validate_as

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
    metrics: list[str] | Literal["all"] = Field("all", description="Metric columns to keep (docs/ODD.md, section 9), or 'all'.")
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



def is_sweep_data(data: dict) -> bool:
    """A YAML mapping is a sweep file if it has a top-level key that no scenario has."""
    return isinstance(data, dict) and bool(SWEEP_KEYS & set(data))


def validate_spec(data: dict, source: str) -> SweepSpec:
    """A validated SweepSpec; the first problem as a ScenarioError naming the file and field."""
    return validate_as(SweepSpec, data, source)


def json_schema() -> dict:
    """JSON Schema of sweep files."""
    return SweepSpec.model_json_schema(by_alias=True)
