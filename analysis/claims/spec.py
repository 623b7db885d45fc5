"""The claim file format: one experiment per claim of the literature (docs/claims.md).

A claim file names the claim (id, title, statement, source), a base scenario, two arms (control and
treatment, as overrides and interventions) or a gradient over one parameter, the outcomes with
their predicted direction and the smallest effect that matters, the mechanism-off arm, optionally
a no-network counterfactual, the moderators of its conditions and an uncertainty space. Strict:
unknown keys, NaN and infinities are errors. `python run.py schema claim` prints the JSON Schema
built from these classes; `analysis/claims/plan.py` resolves and checks a validated file against
the scenario schema.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from model.config import InterventionConfig, Strict
from model.loading import validate_as

MAX_REPLICATIONS = 10_000
MAX_LEVELS = 100
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"


def _same_key(x):
    """Values that are the same level: numbers by value (1, 1.0 and 1e0 are one number), true/false and
    text by themselves."""
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, (int, float)):
        return ("number", x)  # 1 == 1.0 and hash(1) == hash(1.0)
    return (type(x).__name__, x)


def _scalar_values(v: list, what: str) -> list:
    for i, x in enumerate(v):
        if isinstance(x, float) and not math.isfinite(x):
            raise ValueError(f"item {i}: expected a finite number (NaN and infinity are not allowed)")
        if not isinstance(x, (bool, int, float, str)):
            raise ValueError(f"item {i}: expected a number, true/false or text, got {type(x).__name__}")  # noqa: TRY004
    seen: dict = {}
    for i, x in enumerate(v):
        j = seen.setdefault(_same_key(x), i)
        if j != i:
            same = f"{v[j]!r} and {x!r} are the same number" if repr(v[j]) != repr(x) else f"{x!r} is repeated"
            raise ValueError(f"items {j} and {i}: {same}; give each of the {what} once")
    return v


def _ordered_years(v: list[int]) -> list[int]:
    """[first, last] with last >= first (an outcome's or a level's years)."""
    if len(v) == 2 and v[1] < v[0]:
        raise ValueError(f"the last year ({v[1]}) is before the first ({v[0]})")
    return v


Years = Annotated[list[int], AfterValidator(_ordered_years)]


class RemoveSpec(Strict):
    """An intervention of the base scenario (the world's) that an arm removes: every one of its kind, or the
    `index`-th of them (0 first, in the scenario's order) where there are several."""

    kind: str = Field(min_length=1, description="The intervention's kind (model/interventions.py).")
    index: int | None = Field(None, ge=0, le=1000, description="Which of the base scenario's interventions of this "
                                                               "kind (0: the first); default: every one.")

    @field_validator("kind")
    @classmethod
    def _known(cls, v):
        from model.interventions import REGISTRY
        from model.schema import did_you_mean

        if v not in REGISTRY:  # as a scenario's unknown kind is told (model.interventions.validate_intervention)
            raise ValueError(f"unknown intervention kind {v!r}; expected one of: {', '.join(sorted(REGISTRY))}"
                             f"{did_you_mean(v, REGISTRY)}")
        return v


class Overrides(Strict):
    """Changes to a scenario: interventions of the base scenario removed, dotted overrides (as --set) and
    interventions appended to the scenario's own.

    A dotted path may name an intervention's parameter by kind, `interventions.<kind>.<param>`: it is
    set on every intervention of that kind in the arm (arms without one are unchanged)."""

    remove: list[RemoveSpec] = Field(default_factory=list, max_length=20,
                                     description="Interventions of the base scenario (the world's) removed from the "
                                                 "arm, by kind (and index where there are several), before anything "
                                                 "is appended (e.g. a world's pandemic from a no-shock control).")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="Dotted overrides of the scenario (e.g. resources.pool: 60), applied in order.")
    interventions: list[InterventionConfig] = Field(
        default_factory=list, description="Interventions appended to the scenario's own (kind, start, end, params).")
    no_networks: bool = Field(False, description="A world without international city networks: no initial, founded, "
                              "demanded or catalogue network, and the interventions that need networks made inactive "
                              "(the report lists what was removed).")

    model_config = ConfigDict(**Strict.model_config, populate_by_name=True)

    @property
    def empty(self) -> bool:
        return not self.fixed and not self.interventions and not self.remove and not self.no_networks


class ArmSpec(Overrides):
    """One arm of the contrast."""

    label: str = Field("", max_length=200, description="A short description of the arm (default: from its changes).")


class ArmsSpec(Strict):
    control: ArmSpec = Field(description="The control arm (what the claim compares against).")
    treatment: ArmSpec = Field(description="The treatment arm (where the claim says the effect appears).")


class GradientSpec(Overrides):
    """A gradient over one parameter: control = the first value, treatment = the last, the levels between
    are shown as a curve. `set` and `interventions` apply at every level."""

    parameter: str = Field(min_length=1, description="Dotted scenario path (or interventions.<kind>.<param>) varied.")
    values: list[Any] = Field(min_length=2, max_length=MAX_LEVELS,
                              description="Levels v0 ... vk; control = v0, treatment = vk.")

    @field_validator("values")
    @classmethod
    def _values(cls, v):
        return _scalar_values(v, "values")


class OutcomeSpec(Strict):
    """An outcome: a metric, its predicted direction and the smallest effect that matters (stated before running)."""

    metric: str = Field(min_length=1, description="A metric of model.metrics.metric_names (docs/ODD.md, Observation).")
    direction: Literal["increase", "decrease"] = Field(
        description="Predicted direction of treatment minus control.")
    threshold: float = Field(gt=0, description="The smallest effect that matters, in the metric's units (> 0).")
    years: Years = Field(min_length=2, max_length=2,
                         description="[first, last]: calendar years over which the outcome is averaged (inclusive).")
    why: str = Field("", description="Why this metric and this threshold (shown in the report).")
    reference: float | None = Field(None, description="A level from the literature drawn beside the arms (e.g. an "
                                                      "observed share); not part of the verdict.")
    reference_source: str = Field("", description="Where the reference level comes from.")



ARM_NAMES = ("treatment", "control", "treatment_off", "control_off")


class AlsoSpec(Strict):
    """A further contrast between two of the claim's four arms (the contrast's and the mechanism-off ones),
    judged on every outcome by the same verdicts: e.g. the networks with and without the mechanism (a second
    contrast whose control keeps the networks), or the mechanism's removal at no cost (a ceiling)."""

    name: str = Field(pattern=ID_PATTERN, description="Short name (e.g. coupling, ceiling).")
    label: str = Field(min_length=1, max_length=300, description="What the contrast compares, in words.")
    treatment: Literal[ARM_NAMES] = Field(description="The arm whose outcome is the minuend: treatment, control, "
                                                      "treatment_off (treatment with the mechanism off) or control_off.")
    control: Literal[ARM_NAMES] = Field(description="The arm subtracted (one of the same four).")
    why: str = Field("", description="What the contrast tells (shown in the report).")

    @model_validator(mode="after")
    def _two_arms(self):
        if self.treatment == self.control:
            raise ValueError(f"treatment and control are both {self.treatment!r}; name two different arms")
        return self


class LevelSpec(Strict):
    """A level judged against the literature on one main arm: per replication, the distance is the root mean
    square over the listed metrics of (the metric's mean over `years` - its reference value); the claim's
    level holds (supported) when the distance's interval lies below `tolerance`, fails (contradicted) when
    it lies above, and is undetermined otherwise."""

    name: str = Field(pattern=ID_PATTERN, description="Short name (e.g. acuto_rayner).")
    label: str = Field(min_length=1, max_length=300, description="What the level says, in words.")
    arm: Literal["treatment", "control"] = Field("treatment", description="The main arm whose level is judged.")
    years: Years = Field(min_length=2, max_length=2, description="[first, last]: calendar years averaged.")
    reference: dict[str, float] = Field(min_length=1, max_length=30,
                                        description="Metric -> the level the literature gives for it.")
    tolerance: float = Field(gt=0, description="The largest distance (root mean square, in the metrics' units) "
                                               "at which the model counts as matching the literature.")
    source: str = Field(min_length=1, description="Where the reference levels come from.")
    why: str = Field("", description="Why these metrics and this tolerance (shown in the report).")


    @field_validator("reference")
    @classmethod
    def _finite(cls, v):
        for k, x in v.items():
            if not math.isfinite(x):
                raise ValueError(f"{k}: expected a finite number (NaN and infinity are not allowed)")
        return v


class ModeratorSpec(Strict):
    """A parameter whose values may change the effect: the contrast runs again at each value."""

    parameter: str = Field(min_length=1, description="Dotted scenario path (or interventions.<kind>.<param>).")
    values: list[Any] = Field(min_length=2, max_length=MAX_LEVELS, description="Values at which the contrast runs.")

    @field_validator("values")
    @classmethod
    def _values(cls, v):
        return _scalar_values(v, "values")


class BoundsSpec(Strict):
    """A parameter's range in an uncertainty space, and what the range rests on."""

    low: float = Field(description="Lower bound.")
    high: float = Field(description="Upper bound.")
    basis: Literal["literature", "assumption"] = Field(
        "assumption", description="Whether the value and range are taken from the literature (name the source) or "
                                  "are the model's assumption (the default).")
    source: str = Field("", description="Where the range comes from (required when basis is literature).")
    why: str = Field("", description="What the parameter is and why this range (the report's table of assumptions).")

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.basis == "literature" and not self.source.strip():
            raise ValueError("basis is literature: name the source (source: author year, or the data's source)")
        return self


class UncertaintySpec(Strict):
    """An uncertainty space: design points of parameter values (Morris trajectories or a Latin hypercube); at
    each the contrast runs with a few replications and gives the primary's point effect. Morris elementary
    effects rank the parameters by their influence on the effect (SALib), and PRIM finds the box of
    parameters where the point effect reaches the threshold."""

    parameters: dict[str, BoundsSpec] = Field(min_length=1, max_length=20,
                                              description="Dotted path -> {low, high, basis, source, why} (uniform).")
    design: Literal["morris", "lhs"] | None = Field(None, description="morris: Morris trajectories (SALib), which give "
                                             "each parameter's elementary effects on the point effect and serve as "
                                             "the samples for PRIM; lhs: a Latin hypercube (scipy.stats.qmc), no "
                                             "ranking. Default: lhs when `samples` is given, else morris.")
    trajectories: int = Field(4, ge=2, le=1000, description="Morris: trajectories; each has (parameters + 1) "
                                                            "points.")
    levels: int = Field(4, ge=2, le=20, description="Morris: levels of the grid each parameter moves on (even).")
    samples: int = Field(16, ge=2, le=10_000, description="lhs: Latin hypercube samples.")
    replications: int = Field(4, ge=2, le=MAX_REPLICATIONS, description="Replications per arm at each design point "
                              "(common random numbers: the point effect is the mean paired difference).")
    density: float = Field(0.8, gt=0, le=1, description="PRIM: the least share of samples inside the box whose point "
                                                         "effect reaches the threshold.")

    @model_validator(mode="after")
    def _design(self):
        if self.design is None:
            self.design = "lhs" if "samples" in self.model_fields_set else "morris"
        elif self.design == "morris" and "samples" in self.model_fields_set:
            raise ValueError("samples is the size of an lhs design; a morris design has trajectories")
        elif self.design == "lhs" and "trajectories" in self.model_fields_set:
            raise ValueError("trajectories belong to a morris design; an lhs design has samples")
        return self

    @field_validator("levels")
    @classmethod
    def _even(cls, v):
        if v % 2:
            raise ValueError(f"{v} is odd; Morris needs an even number of levels (4 is usual)")
        return v


class MechanismOffSpec(Overrides):
    """The same contrast with the mechanism the claim depends on switched off: these changes apply to both arms."""

    description: str = Field(min_length=1, description="Which mechanism is switched off, and how.")


class NoNetworkSpec(Overrides):
    """A counterfactual arm without networks: the control arm as a world without international city networks
    (`no_networks`, on by default), with these changes on top."""

    description: str = Field("a world without international city networks", description="What the arm is.")
    no_networks: bool = Field(True, description="The control arm as a world without international city networks "
                              "(default); false: only the changes given here.")


class QuickSpec(Strict):
    """What --quick changes: fewer replications, fewer steps, a smaller world, fewer moderator values, a smaller
    uncertainty sample."""

    replications: int = Field(5, ge=2, le=MAX_REPLICATIONS, description="Replications per arm.")
    steps: int | None = Field(None, ge=1, le=1000, description="Steps (default: as the full run).")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="Extra dotted overrides of the base scenario (e.g. cities.n: 300).")
    moderators: int | None = Field(None, ge=0, le=10, description="Keep only the first N moderators (default: all).")
    moderator_values: int | None = Field(None, ge=2, le=MAX_LEVELS, description="At most this many values per "
                                         "moderator, evenly spread and including the first and last (default: all).")
    samples: int | None = Field(None, ge=2, le=10_000, description="Uncertainty samples of an lhs design (default: "
                                "as the full run).")
    trajectories: int | None = Field(None, ge=2, le=1000, description="Morris trajectories of the uncertainty space "
                                     "(default: as the full run).")
    uncertainty_replications: int | None = Field(None, ge=2, le=MAX_REPLICATIONS,
                                                 description="Replications per arm at each uncertainty sample.")
    max_replications: int | None = Field(None, ge=2, le=MAX_REPLICATIONS, description="The cap of the sequential "
                                         "procedure in a quick run (default: the quick replications: one look).")

    model_config = ConfigDict(**Strict.model_config, populate_by_name=True)


class WorldQuickSpec(Strict):
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="Extra dotted overrides of this world in a quick run (e.g. cities.n: 300).")
    uncertainty: bool | None = Field(None, description="Run the uncertainty space in this world in a quick run "
                                                       "(default: as the full run).")
    model_config = ConfigDict(**Strict.model_config, populate_by_name=True)


class WorldSpec(Strict):
    """A world the claim runs in: a base scenario and overrides. Every arm, the mechanism-off contrast, the
    no-network counterfactual and the uncertainty space run in each world; each outcome gets a verdict per
    world."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,19}$", description="Short name (e.g. synthetic, real).")
    label: str = Field(min_length=1, max_length=200, description="What the world is, in words.")
    scenario: str | dict[str, Any] | None = Field(
        None, description="Its base scenario: a path relative to the claim file's folder, an inline mapping, or null "
                          "for all defaults.")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="Dotted overrides of the world's scenario (before the claim's own set).")
    quick: WorldQuickSpec = Field(default_factory=WorldQuickSpec, description="What --quick changes in this world.")
    moderators: bool | list[str] = Field(True, description="Run the claim's moderators (conditions) in this world: "
                                         "true (all), false (none) or the parameters of those to run.")
    uncertainty: bool = Field(True, description="Run the claim's uncertainty space (sensitivity, PRIM) in this world.")
    trajectories: int | None = Field(None, ge=2, le=1000, description="Morris trajectories in this world (default: "
                                     "the uncertainty space's).")
    max_replications: int | None = Field(None, ge=2, le=MAX_REPLICATIONS, description="The cap of the sequential "
                                         "procedure in this world (default: the claim's max_replications).")
    why: str = Field("", description="Why this world (e.g. its city floor), and what it cannot test.")

    model_config = ConfigDict(**Strict.model_config, populate_by_name=True)

    def runs_uncertainty(self, quick: bool) -> bool:
        """Whether the claim's uncertainty space runs in this world (a quick run: `quick.uncertainty` where given)."""
        return self.uncertainty if not quick or self.quick.uncertainty is None else self.quick.uncertainty


class ClaimSpec(Strict):
    """A claim file: the claim, its arms or gradient, outcomes, mechanism-off arm, conditions."""

    id: str = Field(pattern=ID_PATTERN, description="Short identifier, e.g. C1 (used in file and figure names).")
    title: str = Field(min_length=1, max_length=200, description="A short title.")
    statement: str = Field(min_length=1, description="The claim as the literature makes it.")
    source: str = Field(min_length=1, description="Where the claim comes from.")
    part_of: str | None = Field(None, pattern=ID_PATTERN, description="The id of the claim this one is a part "
                                "of (e.g. one remedy of C4 on its own): the report lists it under that claim.")
    operationalisation: str = Field("", description="How the claim is put into the model: mechanism, arms, metric, "
                                                    "threshold and why (shown in the report).")
    scenario: str | dict[str, Any] | None = Field(
        None, description="Base scenario: a path relative to the claim file's folder, an inline mapping of "
                          "scenario fields, or null for all defaults.")
    worlds: list[WorldSpec] = Field(default_factory=list, max_length=4,
                                    description="The worlds the claim runs in, each a base scenario plus overrides "
                                                "(then `scenario` is not given); default: one world, `scenario`.")
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="Fixed dotted overrides of the base scenario (both arms, every world).")
    steps: int | None = Field(None, ge=1, le=1000, description="Steps of every run (default: the base scenario's).")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="Entropy of the replication seeds: replication r of every "
                      "arm runs with replication_seeds(seed, R)[r] (common random numbers).")
    replications: int = Field(20, ge=2, le=MAX_REPLICATIONS, description="Replications per arm (full run): the "
                              "first look of the sequential procedure.")
    max_replications: int = Field(160, ge=2, le=MAX_REPLICATIONS, description="The cap of the sequential procedure "
                                  "(full run): while the primary verdict is undetermined, the contrast's arms get "
                                  "more replications (doubling: 20, 40, 80, 160) up to this many "
                                  "(python run.py claims --max-replications overrides it).")
    quick: QuickSpec = Field(default_factory=QuickSpec, description="What --quick changes.")
    arms: ArmsSpec | None = Field(None, description="Control and treatment arms (or give a gradient).")
    gradient: GradientSpec | None = Field(None, description="A gradient over one parameter (or give arms).")
    outcomes: list[OutcomeSpec] = Field(min_length=1, max_length=20, description="Outcomes; the first is the "
                                        "primary outcome, whose verdict is the claim's.")
    mechanism_off: MechanismOffSpec = Field(description="Changes to both arms that switch off the mechanism the "
                                                        "claim depends on.")
    no_network: NoNetworkSpec | None = Field(None, description="Optional counterfactual: the control arm without networks.")
    also: list[AlsoSpec] = Field(default_factory=list, max_length=6, description="Further contrasts between the "
                                 "four arms (treatment, control and their mechanism-off arms), each judged on "
                                 "every outcome.")
    levels: list[LevelSpec] = Field(default_factory=list, max_length=6, description="Levels judged against the "
                                    "literature on one main arm.")
    moderators: list[ModeratorSpec] = Field(default_factory=list, max_length=10,
                                            description="Parameters over which the contrast is repeated (conditions).")
    uncertainty: UncertaintySpec | None = Field(None, description="Parameter space for the share supported and PRIM.")

    model_config = ConfigDict(**Strict.model_config, populate_by_name=True)

    @model_validator(mode="after")
    def _one_design(self):
        if (self.arms is None) == (self.gradient is None):
            raise ValueError("give exactly one of arms (control and treatment) or gradient")
        if self.max_replications < self.replications:
            raise ValueError(f"max_replications ({self.max_replications}) is below replications "
                             f"({self.replications}); the cap must be at least the first look")
        q = self.quick
        if q.max_replications is not None and q.max_replications < q.replications:
            raise ValueError(f"quick.max_replications ({q.max_replications}) is below quick.replications "
                             f"({q.replications}); the cap must be at least the first look")
        seen = set()
        for o in self.outcomes:  # one metric may be an outcome over several windows (a shock, its recovery)
            key = (o.metric, tuple(o.years))
            if key in seen:
                raise ValueError(f"outcome metric {o.metric!r} is listed twice over {o.years[0]}-{o.years[1]}")
            seen.add(key)
        for what, items in (("also", self.also), ("levels", self.levels), ("worlds", self.worlds)):
            names = [x.name for x in items]
            for n in names:
                if names.count(n) > 1:
                    raise ValueError(f"{what}: the name {n!r} is given twice")
        if self.worlds and "scenario" in self.model_fields_set:
            raise ValueError("give the base scenario in each world (worlds.N.scenario), not as scenario")
        if self.part_of is not None and self.part_of == self.id:
            raise ValueError(f"part_of names the claim itself ({self.id!r})")
        return self

    def outcome_names(self) -> list[str]:
        """Each outcome's name: its metric, or `metric years` where the metric is an outcome over several windows."""
        counts = {}
        for o in self.outcomes:
            counts[o.metric] = counts.get(o.metric, 0) + 1
        return [o.metric if counts[o.metric] == 1 else f"{o.metric} {o.years[0]}-{o.years[1]}" for o in self.outcomes]


def validate_spec(data: dict, source: str) -> ClaimSpec:
    """A validated ClaimSpec; the first problem as a ScenarioError naming the file and field."""
    return validate_as(ClaimSpec, data, source)


def json_schema() -> dict:
    """JSON Schema of claim files."""
    return ClaimSpec.model_json_schema(by_alias=True)
