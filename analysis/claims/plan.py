"""A claim file resolved into runs: every arm as a valid scenario, and the sweeps that run them.

`load_claim(path, quick)` reads and validates a claim file (analysis/claims/spec.py), resolves the
base scenario and every arm, checks them against the scenario schema, and builds two sweeps
(analysis/sweep, `sweep_from_points`): the main sweep (the contrast, the gradient levels, the
mechanism-off arms, the no-network arm and the moderator levels, all with R replications) and,
when the claim has an uncertainty space, the sweep of its Latin hypercube samples (fewer
replications). Identical design points are run once. Every problem is a ScenarioError naming the
claim file and the field path (exit code 2 on the command line).

How an arm is made from the base scenario (each layer: its interventions are appended to the
scenario's, then its dotted overrides are set in order):

    main arm          base + claim set (+ quick set) -> arm (or the gradient's common changes + level)
    mechanism off     main arm -> mechanism_off
    no network        control arm -> no_network
    moderator level   main arm -> moderator = value
    uncertainty       main arm -> sampled values

A dotted path `interventions.<kind>.<param>` sets that parameter on every intervention of that
kind the arm has (an arm without one is unchanged); the grammar of dotted paths is model/overrides.py's,
shared with `--set` and sweeps, and the layers are applied by `model.loading.apply_layers`.

`load_claim` reads the file; `resolve_claim` resolves it on its base scenario or on another one (a
world), in named steps (`_ClaimArms`): the base (`claim_base`), the main arms, the gradient's levels,
the outcomes, mechanism off and no network, the moderators, the uncertainty space.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.claims.spec import ClaimSpec, Overrides, WorldSpec, _same_key, validate_spec
from analysis.claims.statistics import looks
from analysis.sweep.plan import Sweep, sweep_from_points
from model.config import ScenarioError
from model.loading import (
    NO_NETWORKS,
    Layer,
    apply_layers,
    base_scenario,
    blame_layer,
    differences,
    has_kind,
    key_kind,
    kind_path,
    layered_scenario,
    read_yaml,
    set_value,
    split_path,
    validate_scenario,
)
from model.loading import check_key as check_dotted_key
from model.metrics import metric_names
from model.randomness import replication_seeds

RESERVED = ("seed", "steps")  # set by the claim's replications and steps, never by an arm


# ---------------------------------------------------------------------------------------------
# Paths and layers (the grammar of dotted paths, `interventions.<kind>.<param>` included, is
# model/overrides.py's, shared with --set, sweeps and the app)


def check_key(key: str, source: str, where: str):
    """A dotted path must name a scenario field, or an intervention parameter by kind; `seed` and
    `steps` are the claim's own."""
    parts = split_path(key)
    if len(parts) == 1 and parts[0] in RESERVED:
        raise ScenarioError(source, where, f"{key} is set by the claim (replications give the seeds; steps is a "
                                           "top-level field); remove it here")
    check_dotted_key(key, source, where)


def _check_base_key(key: str, source: str, where: str):
    """A path of the claim's `set` or `quick.set` (the base scenario): not an intervention parameter by kind."""
    check_key(key, source, where)
    if kind_path(key) is not None:
        raise ScenarioError(source, where, "intervention parameters by kind belong in an arm's set, not here")


def _norm(key: str) -> str:
    return ".".join(split_path(key))


def arm_layer(fld: str, layer: Overrides) -> Layer:
    """An arm's layer of the claim file (`arms.control`, `mechanism_off`, ...) as a Layer of overrides: an
    intervention parameter by kind leaves an arm without one unchanged."""
    return Layer(f"{fld}.set", layer.fixed, [iv.model_dump(mode="json") for iv in layer.interventions], by_kind="lenient",
                 remove=[(r.kind, r.index) for r in layer.remove], no_networks=layer.no_networks)


def apply_layer(data: dict, layer: Overrides, source: str, where: str) -> list[str]:
    """Append the layer's interventions, then set its dotted overrides. Returns the normal (not by-kind) keys set."""
    return apply_layers(data, [arm_layer(where, layer)], source, check_key)[0]


def get_path(data, key: str):
    node = data
    for part in split_path(key):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class Arm:
    """One resolved design point of a claim: what it is, its scenario, its point in a sweep."""

    role: str  # main | level | off | no_network | moderator | lhs
    arm: str  # control | treatment | level | no_network
    where: str  # the claim file field it comes from (for error messages)
    data: dict  # the resolved, validated scenario (every default filled in)
    keys: list[str]  # dotted paths it sets (besides interventions)
    level: int | None = None  # gradient level
    moderator: int | None = None
    value: int | None = None  # moderator value index
    sample: int | None = None  # uncertainty sample
    point: int = -1  # index in its sweep
    removed: list[str] = field(default_factory=list)  # interventions and networks its layers removed (in words)


@dataclass
class ClaimPlan:
    """A claim file resolved: its arms, replications, seeds, and the sweeps that run them."""

    spec: ClaimSpec
    source: str
    quick: bool
    base: dict
    replications: int
    seeds: list[int]
    metrics: list[str]
    arms: list[Arm]  # main sweep's arms (role != lhs)
    main: Sweep
    lhs_arms: list[Arm] = field(default_factory=list)
    lhs: Sweep | None = None
    lhs_unit: np.ndarray | None = None
    lhs_values: list[dict] = field(default_factory=list)  # per sample: path -> value
    lhs_replications: int = 0
    labels: dict[str, str] = field(default_factory=dict)  # control, treatment: readable descriptions
    moderators: list = field(default_factory=list)  # the moderators run (quick: maybe fewer, with fewer values)
    looks: list[int] = field(default_factory=list)  # the schedule of looks: replications at each (sequential.py)
    blocks: list = field(default_factory=list)  # later blocks of replications run so far (sequential.Block)
    world: WorldSpec | None = None  # the world it runs in (None: a claim file without worlds)

    @property
    def id(self) -> str:
        return plan_id(self.spec, self.world)

    @property
    def claim(self) -> str:
        return self.spec.id

    @property
    def n_runs(self) -> int:
        return (self.main.n_runs + (self.lhs.n_runs if self.lhs is not None else 0)
                + sum(b.sweep.n_runs for b in self.blocks))

    @property
    def n_used(self) -> int:
        """Replications of the contrast's arms so far: the initial ones plus every later block."""
        return self.replications + sum(b.sweep.replications for b in self.blocks)

    def sweeps(self) -> list[tuple[str, Sweep]]:
        out = [(self.id, self.main)]
        if self.lhs is not None:
            out.append((f"{self.id}-lhs", self.lhs))
        out += [(b.name, b.sweep) for b in self.blocks]
        return out

    def find(self, role: str, arm: str, **kw) -> Arm | None:
        for a in self.arms + self.lhs_arms:
            if a.role == role and a.arm == arm and all(getattr(a, k) == v for k, v in kw.items()):
                return a
        return None

    @property
    def steps(self) -> int:
        return int(self.base["steps"])

    def arm_differences(self) -> list[str]:
        """The fields in which the resolved control and treatment scenarios differ (reported, so that a
        reader sees that the contrast changes its lever and nothing else)."""
        return [path for path, *_ in differences(self.find("main", "control").data,
                                                 self.find("main", "treatment").data)]


def plan_id(spec: ClaimSpec, world: WorldSpec | None) -> str:
    """A plan's (and its sweeps') name: the claim's id, with `@world` for a claim file with worlds (C8@real)."""
    return spec.id if world is None else f"{spec.id}@{world.name}"


_FILE = object()  # claim_base: the claim file's own `scenario`


def claim_base(spec: ClaimSpec, src: str, here: Path, quick: bool, scenario=_FILE, world: WorldSpec | None = None) -> dict:
    """The claim's base scenario, resolved: its `scenario` (or `scenario` given here instead: a path
    relative to `here`, a mapping or None; or the `world`'s scenario with the world's `set`), with the
    claim's `set` (and in a quick run `quick.set`, then the world's quick set) and `steps` on top. An
    error names the key of the claim file that caused it."""
    w = None if world is None else f"worlds.{spec.worlds.index(world)}"
    scn = world.scenario if world is not None else spec.scenario if scenario is _FILE else scenario
    try:
        data, base_src = base_scenario(scn, src, here, "claim")
    except ScenarioError as e:
        if w is None:
            raise
        raise ScenarioError(e.source, f"{w}.{e.path}", e.message) from None
    layers = ([Layer(f"{w}.set", world.fixed)] if world is not None else []) + [Layer("set", spec.fixed)]
    layers += [Layer("quick.set", spec.quick.fixed)] if quick else []
    layers += [Layer(f"{w}.quick.set", world.quick.fixed)] if quick and world is not None else []
    steps = spec.quick.steps if quick and spec.quick.steps is not None else spec.steps
    cfg = layered_scenario(data, base_src, layers, src, inline=isinstance(scn, dict), check=_check_base_key,
                           fields={"steps": steps} if steps is not None else None)
    return cfg.model_dump(mode="json")


def _validate_arm(data: dict, src: str, where: str, layers: list[Layer]) -> dict:
    """Validate a resolved arm; an error names the field of the claim file that caused it."""
    try:
        cfg = validate_scenario(copy.deepcopy(data), src)
    except ScenarioError as e:
        blamed = blame_layer(e, layers, data, src)
        if blamed is not None:
            raise blamed from None
        hint = f"{e.path}: " if e.path else ""
        raise ScenarioError(src, where, f"the arm is not a valid scenario: {hint}{e.message}") from None
    return cfg.model_dump(mode="json")


def describe_layer(layer: Overrides, default: str) -> str:
    parts = [f"remove {r.kind}" + (f" #{r.index}" if r.index is not None else "") for r in layer.remove]
    parts += ["no international city networks"] if layer.no_networks else []
    parts += [f"{k} = {json.dumps(v) if not isinstance(v, str) else v}" for k, v in layer.fixed.items()
             if not isinstance(v, (list, dict))]
    parts += [f"{k} = (a list of {len(v)})" for k, v in layer.fixed.items() if isinstance(v, list)]
    for iv in layer.interventions:
        span = f"{iv.start}-{iv.end}" if iv.end is not None else f"from {iv.start}"
        ps = ", ".join(f"{k} {v}" for k, v in iv.params.items())
        parts.append(f"{iv.kind} {span}" + (f" ({ps})" if ps else ""))
    return "; ".join(parts) or default


def _acts_in_run(iv: dict, first: int, last: int) -> bool:
    """An intervention acts within the run's years (one that starts after the last year, or ends before
    the first, changes nothing)."""
    return iv["start"] <= last and (iv.get("end") is None or iv["end"] >= first)


def _run_years(data: dict) -> tuple[int, int]:
    return data["start_year"], data["start_year"] + data["steps"] - 1


def _within_run(data: dict) -> dict:
    """The scenario as the run sees it: without the interventions that act outside its years."""
    first, last = _run_years(data)
    out = dict(data)
    out["interventions"] = [iv for iv in data.get("interventions") or [] if _acts_in_run(iv, first, last)]
    return out


def _outside(data: dict) -> list[dict]:
    first, last = _run_years(data)
    return [iv for iv in data.get("interventions") or [] if not _acts_in_run(iv, first, last)]


def _span(iv: dict) -> str:
    return f"{iv['kind']} {iv['start']}-{iv['end']}" if iv.get("end") is not None else f"{iv['kind']} from {iv['start']}"


def _overlaps(key: str, paths) -> str | None:
    """The path of `paths` that `key` is, lies inside or contains (None when none)."""
    k = _norm(key)
    return next((v for v in paths if k == v or k.startswith(v + ".") or v.startswith(k + ".")), None)


def load_claim(path, quick: bool = False, max_replications: int | None = None, scenario=_FILE,
               world: str | None = None) -> ClaimPlan:
    """Read, validate and resolve a claim file into its arms and sweeps (module docstring), in its first
    world or the world named `world` (a file with worlds; `load_claim_worlds` gives every world).
    `max_replications` overrides the file's cap of the sequential procedure (--max-replications);
    `scenario` replaces the file's base scenario (a path relative to the claim file's folder, a
    mapping or None), e.g. to resolve the claim in another world."""
    src = str(path)
    spec = validate_spec(read_yaml(path), src)
    here = Path(path).resolve().parent
    if spec.worlds and scenario is _FILE:
        ws = [w for w in spec.worlds if world is None or w.name == world]
        if not ws:
            raise ScenarioError(src, "worlds", f"no world {world!r}; expected one of: "
                                               f"{', '.join(w.name for w in spec.worlds)}")
        return resolve_claim(spec, src, here, quick, max_replications, world=ws[0])
    return resolve_claim(spec, src, here, quick, max_replications, scenario)


def load_claim_worlds(path, quick: bool = False, max_replications: int | None = None) -> list[ClaimPlan]:
    """A claim file resolved in each of its worlds (one plan per world; a file without worlds: one plan)."""
    src = str(path)
    spec = validate_spec(read_yaml(path), src)
    here = Path(path).resolve().parent
    if not spec.worlds:
        return [resolve_claim(spec, src, here, quick, max_replications)]
    return [resolve_claim(spec, src, here, quick, max_replications, world=w) for w in spec.worlds]


def resolve_claim(spec: ClaimSpec, src: str, here: Path, quick: bool = False, max_replications: int | None = None,
                  scenario=_FILE, world: WorldSpec | None = None) -> ClaimPlan:
    """A validated claim file (`spec`, read from `src` in the folder `here`) resolved on its base
    scenario, on `scenario` instead, or in `world` (`claim_base`): the main arms, the gradient's levels,
    the outcomes, the mechanism-off and no-network arms, the moderators, the main sweep and the
    uncertainty space. A quick run checks the full run's arms and samples too."""
    c = _ClaimArms(spec, src, quick, claim_base(spec, src, here, quick, scenario, world), world)
    R = spec.quick.replications if quick else spec.replications
    c.main_arms()
    arms = [c.ctrl, c.trt] + c.gradient_levels()
    metrics = c.outcome_metrics()
    for a in arms:
        if a.role == "level":
            c.check_years(a, a.where, f"{spec.gradient.parameter} = {spec.gradient.values[a.level]!r}")
    arms += c.mechanism_off_arms()
    arms += c.no_network_arm()
    moderators, moderator_arms = c.moderator_arms()
    arms += moderator_arms
    main = _sweep(arms, c.base, plan_id(spec, world), src, spec.seed, R, metrics)
    cap = cap_of(spec, quick, world) if max_replications is None else int(max_replications)
    if cap < R:
        raise ScenarioError("--max-replications", "", f"{cap} is below the first look's {R} replications of "
                                                      f"{spec.id}; expected at least {R}")
    plan = ClaimPlan(spec=spec, source=src, quick=quick, base=c.base, replications=R,
                     seeds=replication_seeds(spec.seed, R), metrics=metrics, arms=arms, main=main, labels=c.labels,
                     moderators=moderators, looks=looks(R, cap), world=world)
    in_world = world is None or world.runs_uncertainty(quick)
    if spec.uncertainty is not None and in_world:
        c.uncertainty(plan, R, metrics)
    if quick:  # every value of the file is checked whatever mode runs: the full run's arms and samples too
        resolve_claim(spec, src, here, False, scenario=scenario, world=world)
    return plan


class _ClaimArms:
    """The arms of one claim on one base scenario (`base`, resolved), built step by step by
    `resolve_claim`; every problem is a ScenarioError naming the claim file's field."""

    def __init__(self, spec: ClaimSpec, src: str, quick: bool, base: dict, world: WorldSpec | None = None):
        self.spec, self.src, self.quick, self.base, self.world = spec, src, quick, base, world

    def build(self, layers: list[tuple[str, Overrides]], role: str, arm: str, where: str, extra=None, **kw) -> Arm:
        """One arm: the base with the claim file's layers (field, overrides) on top, then `extra` paths
        (path, value, field) that name their own field; validated."""
        d = copy.deepcopy(self.base)
        ls = [arm_layer(fld, layer) for fld, layer in layers]
        keys = [k for ks in apply_layers(d, ls, self.src, check_key) for k in ks]
        for k, v, w in extra or []:
            check_key(k, self.src, w)
            set_value(d, k, v, self.src, w)
            if kind_path(k) is None:
                keys.append(_norm(k))
        if any(layer.no_networks for layer in ls):  # a world without networks: what it set is part of the design point
            keys += list(NO_NETWORKS) + ["calibration"]
        resolved = _validate_arm(d, self.src, where, ls)
        return Arm(role=role, arm=arm, where=where, data=resolved, keys=list(dict.fromkeys(keys)),
                   removed=[r for layer in ls for r in layer.removed], **kw)

    def main(self, a: str, where: str, extra=(), role: str = "main", layer: tuple[str, Overrides] | None = None,
             arm: str | None = None, **kw) -> Arm:
        """Main arm `a` (control, treatment) with `extra` paths and maybe one more layer on top (an arm
        named `arm`, default `a`)."""
        layers = self.main_layers[a] + ([layer] if layer is not None else [])
        return self.build(layers, role, arm or a, where, self.main_extra[a] + list(extra), **kw)

    def check_years(self, a: Arm, where: str, what: str):
        """Every outcome's years lie inside this arm's run (a value of start_year or steps moves the run)."""
        lo, hi = _run_years(a.data)
        for i, o in enumerate(self.spec.outcomes):
            if o.years[0] < lo or o.years[1] > hi:
                raise ScenarioError(self.src, where, f"{what} makes the run {lo}-{hi}, which leaves out the years "
                                                     f"{o.years[0]}-{o.years[1]} of outcome {o.metric} "
                                                     f"(outcomes.{i}.years); expected values that keep every "
                                                     "outcome's years inside the run")

    # -- the main arms: control and treatment (arms, or the gradient's ends)
    def main_arms(self):
        spec, src = self.spec, self.src
        if spec.arms is not None:
            self.main_layers = {"control": [("arms.control", spec.arms.control)],
                                "treatment": [("arms.treatment", spec.arms.treatment)]}
            self.main_extra = {"control": [], "treatment": []}
            self.varied = {_norm(k) for a in (spec.arms.control, spec.arms.treatment) for k in a.fixed}
            self.labels = {a: getattr(spec.arms, a).label or describe_layer(getattr(spec.arms, a), "the base scenario")
                           for a in ("control", "treatment")}
            self.where_main = "arms"
        else:
            g = spec.gradient
            check_key(g.parameter, src, "gradient.parameter")
            gl = [("gradient", g)]
            self.main_layers = {"control": gl, "treatment": gl}
            self.main_extra = {"control": [(g.parameter, g.values[0], "gradient.values.0")],
                               "treatment": [(g.parameter, g.values[-1], f"gradient.values.{len(g.values) - 1}")]}
            self.varied = {_norm(g.parameter)}
            common = describe_layer(g, "")
            self.labels = {"control": f"{g.parameter} = {g.values[0]}" + (f"; {common}" if common else ""),
                           "treatment": f"{g.parameter} = {g.values[-1]}" + (f"; {common}" if common else "")}
            self.where_main = "gradient"
        self.ctrl, self.trt = (self.main(a, f"arms.{a}" if spec.arms is not None else "gradient")
                               for a in ("control", "treatment"))
        self._check_contrast()

    def _check_contrast(self):
        """Control and treatment differ, and within the run's years."""
        spec, src, ctrl, trt = self.spec, self.src, self.ctrl, self.trt
        if ctrl.data == trt.data:
            raise ScenarioError(src, self.where_main, "control and treatment resolve to the same scenario; the arms "
                                                      "must differ in at least one field")
        first, last = _run_years(ctrl.data)
        if _within_run(ctrl.data) == _within_run(trt.data):
            ivs = _outside(ctrl.data) + _outside(trt.data)
            if spec.arms is not None:
                here_ = next((f"arms.{a}.interventions.{i}" for a in ("control", "treatment")
                              for i, iv in enumerate(getattr(spec.arms, a).interventions)
                              if not _acts_in_run(iv.model_dump(mode="json"), first, last)), "arms")
                what = "control and treatment differ only in"
            else:
                here_, what = "gradient.parameter", f"{spec.gradient.parameter} changes only"
            spans = ", ".join(dict.fromkeys(_span(iv) for iv in ivs))
            mode = " in the quick run (quick.steps)" if self.quick and spec.quick.steps is not None else ""
            raise ScenarioError(src, here_, f"{what} interventions that act outside the run's years {first}-{last}"
                                            f"{mode} ({spans}): an intervention that starts after the last year "
                                            "changes nothing; expected arms that differ within the run's years")

    def gradient_levels(self) -> list[Arm]:
        """The gradient's inner levels (its ends are the control and the treatment); each level once."""
        if self.spec.gradient is None:
            return []
        g = self.spec.gradient
        inner = [self.build(self.main_layers["control"], "level", "level", f"gradient.values.{j}",
                            [(g.parameter, v, f"gradient.values.{j}")], level=j)
                 for j, v in enumerate(g.values[1:-1], start=1)]
        seen_levels: dict[str, int] = {}
        for j, a in enumerate([self.ctrl] + inner + [self.trt]):
            k0 = seen_levels.setdefault(json.dumps(_within_run(a.data), sort_keys=True), j)
            if k0 != j:
                raise ScenarioError(self.src, f"gradient.values.{j}", f"{g.values[j]!r} gives the same scenario as "
                                                                      f"gradient.values.{k0} ({g.values[k0]!r}) within "
                                                                      "the run's years; give each level once")
        return inner

    def outcome_metrics(self) -> list[str]:
        """The metrics of the outcomes (in both main arms) and of the levels (in their arm), each known and
        its years inside the run."""
        for i, o in enumerate(self.spec.outcomes):
            for a in (self.ctrl, self.trt):
                self._check_metric(a, o.metric, f"outcomes.{i}.metric")
                self._check_years(a, o.years, f"outcomes.{i}.years")
        for i, lv in enumerate(self.spec.levels):
            a = self.ctrl if lv.arm == "control" else self.trt
            for m in lv.reference:
                self._check_metric(a, m, f"levels.{i}.reference.{m}")
            self._check_years(a, lv.years, f"levels.{i}.years")
        return list(dict.fromkeys([o.metric for o in self.spec.outcomes]
                                  + [m for lv in self.spec.levels for m in lv.reference]))

    def _check_metric(self, a: Arm, metric: str, where: str):
        names = metric_names([it["name"] for it in a.data["issues"]])
        if metric not in names:
            close = difflib.get_close_matches(metric, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; expected one of: {', '.join(names)}"
            raise ScenarioError(self.src, where, f"unknown metric {metric!r}{hint}")

    def _check_years(self, a: Arm, years: list[int], where: str):
        first, last = _run_years(a.data)
        if years[0] < first or years[1] > last:
            mode = " in the quick run (quick.steps)" if self.quick else ""
            raise ScenarioError(self.src, where, f"{years[0]}-{years[1]} is outside the run's years {first}-{last}{mode}")

    # -- mechanism off, no network
    def mechanism_off_arms(self) -> list[Arm]:
        src, off = self.src, self.spec.mechanism_off
        for k in off.fixed:
            v = _overlaps(k, self.varied)
            if v is not None:
                lever = "the gradient's parameter" if self.spec.gradient is not None else "what the arms vary"
                raise ScenarioError(src, f"mechanism_off.set.{k}", f"{k} is {lever} ({v}): setting it in both arms "
                                                                   "undoes the contrast itself, so the mechanism's part "
                                                                   "would be the whole effect; switch the mechanism off "
                                                                   "through another field")
        pair = []
        for a in ("control", "treatment"):
            pair.append(self.main(a, "mechanism_off", role="off", layer=("mechanism_off", off)))
            self.check_years(pair[-1], "mechanism_off", "the mechanism-off arm")
        if pair[0].data == self.ctrl.data and pair[1].data == self.trt.data:
            raise ScenarioError(src, "mechanism_off", "changes neither arm; name the changes that switch the claim's "
                                                      "mechanism off")
        first, last = _run_years(self.trt.data)
        if _within_run(pair[0].data) == _within_run(self.ctrl.data) and \
                _within_run(pair[1].data) == _within_run(self.trt.data):
            raise ScenarioError(src, "mechanism_off", f"changes neither arm within the run's years {first}-{last} "
                                                      "(only interventions that act outside them); name the changes "
                                                      "that switch the claim's mechanism off")
        return pair

    def no_network_arm(self) -> list[Arm]:
        if self.spec.no_network is None:
            return []
        nn = self.main("control", "no_network", role="no_network", layer=("no_network", self.spec.no_network),
                       arm="no_network")
        if nn.data == self.ctrl.data:
            raise ScenarioError(self.src, "no_network", "changes nothing in the control arm")
        first, last = _run_years(self.trt.data)
        if _within_run(nn.data) == _within_run(self.ctrl.data):
            raise ScenarioError(self.src, "no_network", f"changes nothing in the control arm within the run's years "
                                                        f"{first}-{last} (only interventions that act outside them)")
        self.check_years(nn, "no_network", "the no-network arm")
        return [nn]

    # -- moderators
    def check_free(self, key: str, where: str):
        """A moderator or uncertain parameter is not what the arms vary, and some arm has its intervention."""
        k = _norm(key)
        for v in self.varied:
            if k == v or k.startswith(v + ".") or v.startswith(k + "."):
                raise ScenarioError(self.src, where, f"{key} is what the arms vary ({v}); choose a parameter the "
                                                     "arms leave alone")
        kp = kind_path(key)
        if kp is not None and not (has_kind(self.ctrl.data, kp[0]) or has_kind(self.trt.data, kp[0])):
            raise ScenarioError(self.src, where, f"neither arm has an intervention of kind {kp[0]!r}")

    def check_dose(self, key: str, where: str):
        """An uncertain parameter is not a dose an arm states (`interventions.<kind>.<param>` given in an arm's
        intervention): sampling it would rank the treatment's own strength among the assumptions (a moderator
        may vary a dose: that is the effect's dose-response)."""
        kp = kind_path(key)
        if kp is not None and self.spec.arms is not None:
            for a in ("control", "treatment"):
                for i, iv in enumerate(getattr(self.spec.arms, a).interventions):
                    if iv.kind == kp[0] and kp[1] in iv.params:
                        raise ScenarioError(self.src, where, f"{key} is set by arms.{a}.interventions.{i} "
                                                             f"({kp[1]} {iv.params[kp[1]]}): part of what the arms "
                                                             "vary; choose a parameter the arms leave alone")

    def moderator_arms(self) -> tuple[list, list[Arm]]:
        """(the moderators run, their arms): every value of every moderator is checked, also those a quick
        run leaves out."""
        spec, src = self.spec, self.src
        for m, mod in enumerate(spec.moderators):
            w = f"moderators.{m}.parameter"
            check_key(mod.parameter, src, w)
            self.check_free(mod.parameter, w)
            if any(_norm(x.parameter) == _norm(mod.parameter) for x in spec.moderators[:m]):
                raise ScenarioError(src, w, f"{mod.parameter} is listed twice")
        moderators = quick_moderators(spec) if self.quick else list(spec.moderators)
        run = [m for m in range(len(moderators)) if m in self._world_moderators()]  # run here, by index in the file
        arms = []
        for m, mod in enumerate(spec.moderators):
            pos = run.index(m) if m in run else None
            run_index = {_same_key(x): jq for jq, x in enumerate(moderators[m].values)} if pos is not None else {}
            seen: dict[str, int] = {}
            for j, v in enumerate(mod.values):
                w = f"moderators.{m}.values.{j}"
                pair = [self.main(a, w, [(mod.parameter, v, w)], role="moderator", moderator=pos,
                                  value=run_index.get(_same_key(v))) for a in ("control", "treatment")]
                for arm in pair:
                    self.check_years(arm, w, f"{mod.parameter} = {v!r}")
                k0 = seen.setdefault(json.dumps([_within_run(arm.data) for arm in pair], sort_keys=True), j)
                if k0 != j:
                    raise ScenarioError(src, w, f"{v!r} gives the same arms as moderators.{m}.values.{k0} "
                                                f"({mod.values[k0]!r}) within the run's years; give each value once")
                if _same_key(v) in run_index:
                    arms.extend(pair)
        return [moderators[m] for m in run], arms

    def _world_moderators(self) -> set[int]:
        """The indices of the moderators the world runs (every one without a world, or with moderators: true);
        a parameter the world names must be one of the claim's moderators."""
        spec, w = self.spec, self.world
        if w is None or w.moderators is True:
            return set(range(len(spec.moderators)))
        named = [] if w.moderators is False else [_norm(k) for k in w.moderators]
        params = [_norm(mod.parameter) for mod in spec.moderators]
        for k in named:
            if k not in params:
                raise ScenarioError(self.src, f"worlds.{spec.worlds.index(w)}.moderators",
                                    f"{k} is not a moderator of the claim; expected one of: "
                                    f"{', '.join(mod.parameter for mod in spec.moderators)}")
        return {params.index(k) for k in named}

    # -- the uncertainty space
    def _check_uncertain(self, paths: list[str]):
        src, u = self.src, self.spec.uncertainty
        for k in paths:
            w = f"uncertainty.parameters.{k}"
            check_key(k, src, w)
            self.check_free(k, w)
            self.check_dose(k, w)
            if key_kind(k) not in ("int", "float"):
                raise ScenarioError(src, w, f"{k} is not a numeric field; the uncertainty space needs numbers")
            b = u.parameters[k]
            if key_kind(k) == "int" and math.floor(b.high) - math.ceil(b.low) + 1 < 2:
                n_int = math.floor(b.high) - math.ceil(b.low) + 1
                held = "no whole number" if n_int < 1 else f"only one whole number ({math.ceil(b.low)})"
                raise ScenarioError(src, w, f"{k} is a whole number and {b.low:g} to {b.high:g} holds {held}; "
                                            "expected a range holding at least two whole numbers (or leave it fixed)")
        if len({_norm(k) for k in paths}) != len(paths):
            raise ScenarioError(src, "uncertainty.parameters", "a parameter is listed twice")

    def uncertainty(self, plan: ClaimPlan, R: int, metrics: list[str]):
        """The Latin hypercube samples of the uncertainty space, each bound alone checked first (an error
        names the parameter), as the plan's second sweep."""
        spec, u, quick = self.spec, self.spec.uncertainty, self.quick
        paths = list(u.parameters)
        self._check_uncertain(paths)
        RU = (spec.quick.uncertainty_replications or min(u.replications, R)) if quick else u.replications
        if u.design == "morris":
            full_T = self.world.trajectories if self.world is not None and self.world.trajectories else u.trajectories
            T = (spec.quick.trajectories or full_T) if quick else full_T
            unit = morris_unit(len(paths), T, u.levels, spec.seed)
        else:
            S = (spec.quick.samples or u.samples) if quick else u.samples
            unit = lhs_unit(len(paths), S, spec.seed)
        values = [{k: _from_unit(row[j], u.parameters[k].low, u.parameters[k].high, key_kind(k))
                   for j, k in enumerate(paths)} for row in unit]
        for k in paths:  # each bound alone first: an error names the parameter
            for end in ("low", "high"):
                bk = u.parameters[k]
                x = _from_unit(0.0 if end == "low" else 1.0, bk.low, bk.high, key_kind(k))  # as sampled (int: inside)
                w = f"uncertainty.parameters.{k}.{end}"
                for a in ("control", "treatment"):
                    self.check_years(self.main(a, w, [(k, x, w)], role="lhs"), w, f"{k} = {x!r}")
        lhs_arms = []
        for s, vals in enumerate(values):
            for a in ("control", "treatment"):
                lhs_arms.append(self.main(a, f"uncertainty (sample {s}: {vals})",
                                          [(k, v, "uncertainty.parameters") for k, v in vals.items()], role="lhs",
                                          sample=s))
                self.check_years(lhs_arms[-1], "uncertainty.parameters", f"sample {s} ({vals})")
        plan.lhs_arms, plan.lhs_unit, plan.lhs_values, plan.lhs_replications = lhs_arms, unit, values, RU
        plan.lhs = _sweep(lhs_arms, self.base, f"{plan.id}-lhs", self.src, spec.seed, RU, metrics)


def cap_of(spec: ClaimSpec, quick: bool, world: WorldSpec | None = None) -> int:
    """The cap of the sequential procedure: `max_replications` (full run; default 160; a world's own cap where
    it gives one), or in a quick run `quick.max_replications` (default: the quick replications, a single
    look). Never below the initial replications."""
    R = spec.quick.replications if quick else spec.replications
    full = world.max_replications if world is not None and world.max_replications is not None else spec.max_replications
    cap = spec.quick.max_replications if quick else full
    return max(R, int(cap if cap is not None else R))


def quick_moderators(spec: ClaimSpec) -> list:
    """The moderators of a quick run: the first `quick.moderators`, each with at most `quick.moderator_values`
    values (evenly spread, the first and last included)."""
    q = spec.quick
    mods = spec.moderators if q.moderators is None else spec.moderators[: q.moderators]
    out = []
    for mod in mods:
        k = q.moderator_values
        if k is None or len(mod.values) <= k:
            out.append(mod)
            continue
        idx = sorted({round(i * (len(mod.values) - 1) / (k - 1)) for i in range(k)})
        out.append(mod.model_copy(update={"values": [mod.values[i] for i in idx]}))
    return out


def lhs_unit(d: int, n: int, seed: int) -> np.ndarray:
    """A Latin hypercube of n points in [0, 1]^d (scipy.stats.qmc), seeded by the claim's seed."""
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4C4853]))  # "LHS"
    try:
        sampler = qmc.LatinHypercube(d=d, rng=rng)
    except TypeError:  # scipy < 1.15
        sampler = qmc.LatinHypercube(d=d, seed=rng)
    return sampler.random(n)


def morris_unit(d: int, trajectories: int, levels: int, seed: int) -> np.ndarray:
    """Morris trajectories in [0, 1]^d (analysis.sweep.designs.morris_unit), seeded by the claim's seed."""
    from analysis.sweep.designs import morris_unit as sample

    return sample([f"x{j}" for j in range(d)], trajectories, levels, int(seed) % (2**32))


def _from_unit(u: float, low: float, high: float, kind: str):
    x = low + float(u) * (high - low)
    if kind == "int":
        return int(min(max(round(x), np.ceil(low)), np.floor(high)))
    return float(f"{x:.12g}")


def _sweep(arms: list[Arm], base: dict, name: str, src: str, seed: int, R: int, metrics: list[str],
           first_replication: int = 0) -> Sweep:
    """One sweep over the arms' design points; identical points are run once (arms share the point)."""
    union = list(dict.fromkeys(k for a in arms for k in a.keys))
    points, index = [], {}
    for a in arms:
        p: dict[str, Any] = {"interventions": a.data["interventions"]}
        for k in union:
            try:
                p[k] = get_path(a.data, k)
            except (KeyError, IndexError, TypeError, ValueError):
                raise ScenarioError(src, a.where, f"{k} does not exist in this arm (another arm sets it)") from None
        key = json.dumps(p, sort_keys=True)
        if key not in index:
            index[key] = len(points)
            points.append(p)
        a.point = index[key]
    return sweep_from_points(base, points, name=name, source=src, seed=seed, replications=R, metrics=metrics,
                             description=f"claims lab: {name}", first_replication=first_replication)
