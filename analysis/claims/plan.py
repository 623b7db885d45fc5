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
kind the arm has (an arm without one is unchanged).
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

from analysis.claims.spec import ClaimSpec, Overrides, _same_key, validate_spec
from analysis.claims.statistics import looks
from analysis.sweep.plan import Sweep, sweep_from_points
from model.config import Scenario, ScenarioError
from model.interventions import REGISTRY
from model.loading import (
    apply_overrides,
    base_scenario,
    check_path,
    differences,
    field_kind,
    read_yaml,
    split_path,
    validate_scenario,
)
from model.metrics import metric_names
from model.randomness import replication_seeds

RESERVED = ("seed", "steps")  # set by the claim's replications and steps, never by an arm


# ---------------------------------------------------------------------------------------------
# Paths and layers


def kind_path(key: str) -> tuple[str, str] | None:
    """(kind, param) for `interventions.<kind>.<param>`, else None."""
    parts = split_path(key)
    if len(parts) == 3 and parts[0] == "interventions" and not parts[1].isdigit():
        return parts[1], parts[2]
    return None


def check_key(key: str, source: str, where: str):
    """A dotted path must name a scenario field, or an intervention parameter by kind."""
    parts = split_path(key)
    if not all(parts):
        raise ScenarioError(source, where, f"{key!r}: expected a dotted field path such as resources.pool")
    if parts[0] in RESERVED and len(parts) == 1:
        raise ScenarioError(source, where, f"{key} is set by the claim (replications give the seeds; steps is a "
                                           "top-level field); remove it here")
    if parts[0] == "interventions" and len(parts) > 1 and not parts[1].isdigit():
        kp = kind_path(key)
        if kp is None:
            raise ScenarioError(source, where, f"{key!r}: expected interventions.<kind>.<parameter>, e.g. "
                                               "interventions.pandemic.budget_cut")
        kind, param = kp
        if kind not in REGISTRY:
            raise ScenarioError(source, where, f"unknown intervention kind {kind!r}; expected one of: "
                                               f"{', '.join(sorted(REGISTRY))}")
        names = list(REGISTRY[kind].Params.model_fields)
        if param not in names:
            raise ScenarioError(source, where, f"{kind} has no parameter {param!r}; expected one of: {', '.join(names)}")
        return
    check_path(Scenario, parts, source, where)


def key_kind(key: str) -> str:
    """'int', 'float', 'bool', 'str' or 'other': the type of the field a path names."""
    kp = kind_path(key)
    if kp is not None:
        return field_kind(REGISTRY[kp[0]].Params, [kp[1]])
    return field_kind(Scenario, split_path(key))


def _norm(key: str) -> str:
    return ".".join(split_path(key))


def set_value(data: dict, key: str, value, source: str, where: str):
    """Set one dotted path (or an intervention parameter by kind) in a scenario mapping."""
    kp = kind_path(key)
    if kp is not None:
        kind, param = kp
        for iv in data.get("interventions") or []:
            if isinstance(iv, dict) and iv.get("kind") == kind:
                iv.setdefault("params", {})
                if iv["params"] is None:
                    iv["params"] = {}
                iv["params"][param] = copy.deepcopy(value)
        return
    try:
        apply_overrides(data, {key: copy.deepcopy(value)}, source=source)
    except ScenarioError as e:
        raise ScenarioError(source, where, e.message) from None


def apply_layer(data: dict, layer: Overrides, source: str, where: str) -> list[str]:
    """Append the layer's interventions, then set its dotted overrides. Returns the normal (not by-kind) keys set."""
    if layer.interventions:
        data.setdefault("interventions", [])
        if data["interventions"] is None:
            data["interventions"] = []
        data["interventions"].extend(iv.model_dump(mode="json") for iv in layer.interventions)
    keys = []
    for k, v in layer.fixed.items():
        w = f"{where}.set.{k}"
        check_key(k, source, w)
        set_value(data, k, v, source, w)
        if kind_path(k) is None:
            keys.append(_norm(k))
    return keys


def get_path(data, key: str):
    node = data
    for part in split_path(key):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def has_kind(data: dict, kind: str) -> bool:
    return any(isinstance(iv, dict) and iv.get("kind") == kind for iv in data.get("interventions") or [])


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

    @property
    def id(self) -> str:
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


def _base(spec: ClaimSpec, src: str, here: Path, quick: bool) -> dict:
    data, base_src = base_scenario(spec.scenario, src, here, "claim")
    layers = [("set", spec.fixed)]
    if quick:
        layers.append(("quick.set", spec.quick.fixed))
    for where, fixed in layers:
        for k, v in fixed.items():
            w = f"{where}.{k}"
            check_key(k, src, w)
            if kind_path(k) is not None:
                raise ScenarioError(src, w, "intervention parameters by kind belong in an arm's set, not here")
            set_value(data, k, v, src, w)
    steps = spec.quick.steps if quick and spec.quick.steps is not None else spec.steps
    if steps is not None:
        data["steps"] = steps
    try:
        cfg = validate_scenario(data, base_src)
    except ScenarioError as e:
        for where, fixed in layers:
            key = next((k for k in fixed if e.path == _norm(k) or e.path.startswith(_norm(k) + ".")), None)
            if key is not None:
                raise ScenarioError(src, f"{where}.{key}", e.message) from None
        if isinstance(spec.scenario, dict):
            raise ScenarioError(src, f"scenario.{e.path}", e.message) from None
        raise
    return cfg.model_dump(mode="json")


def _validate_arm(data: dict, src: str, where: str, keys_by_field: list[tuple[str, list[str]]]) -> dict:
    """Validate a resolved arm; an error names the field of the claim file that caused it."""
    try:
        cfg = validate_scenario(copy.deepcopy(data), src)
    except ScenarioError as e:
        for fld, keys in reversed(keys_by_field):
            key = next((k for k in keys if e.path == k or e.path.startswith(k + ".")), None)
            if key is not None:
                raise ScenarioError(src, f"{fld}.set.{key}", e.message) from None
        hint = f"{e.path}: " if e.path else ""
        raise ScenarioError(src, where, f"the arm is not a valid scenario: {hint}{e.message}") from None
    return cfg.model_dump(mode="json")


def describe_layer(layer: Overrides, default: str) -> str:
    parts = [f"{k} = {json.dumps(v) if not isinstance(v, str) else v}" for k, v in layer.fixed.items()
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


def load_claim(path, quick: bool = False, max_replications: int | None = None) -> ClaimPlan:
    """Read, validate and resolve a claim file into its arms and sweeps (module docstring).
    `max_replications` overrides the file's cap of the sequential procedure (--max-replications)."""
    src = str(path)
    data = read_yaml(path)
    spec = validate_spec(data, src)
    here = Path(path).resolve().parent
    base = _base(spec, src, here, quick)
    R = spec.quick.replications if quick else spec.replications
    seeds = replication_seeds(spec.seed, R)

    # -- the main arms
    def build(layers: list[tuple[str, Overrides]], role: str, arm: str, where: str, extra=None, **kw) -> Arm:
        d = copy.deepcopy(base)
        keys_by_field, keys = [], []
        for fld, layer in layers:
            ks = apply_layer(d, layer, src, fld)
            keys_by_field.append((fld, ks))
            keys += ks
        for k, v, w in extra or []:
            check_key(k, src, w)
            set_value(d, k, v, src, w)
            if kind_path(k) is None:
                keys.append(_norm(k))
        resolved = _validate_arm(d, src, where, keys_by_field)
        return Arm(role=role, arm=arm, where=where, data=resolved, keys=list(dict.fromkeys(keys)), **kw)

    if spec.arms is not None:
        main_layers = {"control": [("arms.control", spec.arms.control)],
                       "treatment": [("arms.treatment", spec.arms.treatment)]}
        main_extra = {"control": [], "treatment": []}
        varied = {_norm(k) for a in (spec.arms.control, spec.arms.treatment) for k in a.fixed}
        labels = {"control": spec.arms.control.label or describe_layer(spec.arms.control, "the base scenario"),
                  "treatment": spec.arms.treatment.label or describe_layer(spec.arms.treatment, "the base scenario")}
    else:
        g = spec.gradient
        check_key(g.parameter, src, "gradient.parameter")
        gl = [("gradient", g)]
        main_layers = {"control": gl, "treatment": gl}
        main_extra = {"control": [(g.parameter, g.values[0], "gradient.values.0")],
                      "treatment": [(g.parameter, g.values[-1], f"gradient.values.{len(g.values) - 1}")]}
        varied = {_norm(g.parameter)}
        common = describe_layer(g, "")
        labels = {"control": f"{g.parameter} = {g.values[0]}" + (f"; {common}" if common else ""),
                  "treatment": f"{g.parameter} = {g.values[-1]}" + (f"; {common}" if common else "")}
    arms: list[Arm] = []
    where_main = "arms" if spec.arms is not None else "gradient"
    for a in ("control", "treatment"):
        arms.append(build(main_layers[a], "main", a, f"{where_main}.{a}" if spec.arms is not None else where_main,
                          main_extra[a]))
    ctrl, trt = arms
    if ctrl.data == trt.data:
        raise ScenarioError(src, where_main, "control and treatment resolve to the same scenario; the arms must "
                                             "differ in at least one field")
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
        mode = " in the quick run (quick.steps)" if quick and spec.quick.steps is not None else ""
        raise ScenarioError(src, here_, f"{what} interventions that act outside the run's years {first}-{last}{mode} "
                                        f"({spans}): an intervention that starts after the last year changes nothing; "
                                        "expected arms that differ within the run's years")
    if spec.gradient is not None:
        g = spec.gradient
        for j, v in enumerate(g.values[1:-1], start=1):
            arms.append(build(gl, "level", "level", f"gradient.values.{j}", [(g.parameter, v, f"gradient.values.{j}")],
                              level=j))
        levels = [ctrl] + [a for a in arms if a.role == "level"] + [trt]
        seen_levels: dict[str, int] = {}
        for j, a in enumerate(levels):
            k0 = seen_levels.setdefault(json.dumps(_within_run(a.data), sort_keys=True), j)
            if k0 != j:
                raise ScenarioError(src, f"gradient.values.{j}", f"{g.values[j]!r} gives the same scenario as "
                                                                 f"gradient.values.{k0} ({g.values[k0]!r}) within the "
                                                                 "run's years; give each level once")

    # -- metrics and years, against every main arm
    for i, o in enumerate(spec.outcomes):
        for a in (ctrl, trt):
            names = metric_names([it["name"] for it in a.data["issues"]])
            if o.metric not in names:
                close = difflib.get_close_matches(o.metric, names, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; expected one of: {', '.join(names)}"
                raise ScenarioError(src, f"outcomes.{i}.metric", f"unknown metric {o.metric!r}{hint}")
            first, last = a.data["start_year"], a.data["start_year"] + a.data["steps"] - 1
            if o.years[0] < first or o.years[1] > last:
                mode = " in the quick run (quick.steps)" if quick else ""
                raise ScenarioError(src, f"outcomes.{i}.years", f"{o.years[0]}-{o.years[1]} is outside the run's years "
                                                                f"{first}-{last}{mode}")
    metrics = list(dict.fromkeys(o.metric for o in spec.outcomes))

    def check_years(a: Arm, where: str, what: str):
        """Every outcome's years lie inside this arm's run (a value of start_year or steps moves the run)."""
        lo, hi = _run_years(a.data)
        for i, o in enumerate(spec.outcomes):
            if o.years[0] < lo or o.years[1] > hi:
                raise ScenarioError(src, where, f"{what} makes the run {lo}-{hi}, which leaves out the years "
                                                f"{o.years[0]}-{o.years[1]} of outcome {o.metric} (outcomes.{i}.years); "
                                                "expected values that keep every outcome's years inside the run")

    for a in arms:
        if a.role == "level":
            check_years(a, a.where, f"{spec.gradient.parameter} = {spec.gradient.values[a.level]!r}")

    # -- mechanism off, no network
    off = spec.mechanism_off
    for k in off.fixed:
        v = _overlaps(k, varied)
        if v is not None:
            lever = "the gradient's parameter" if spec.gradient is not None else "what the arms vary"
            raise ScenarioError(src, f"mechanism_off.set.{k}", f"{k} is {lever} ({v}): setting it in both arms undoes "
                                                               "the contrast itself, so the mechanism's part would be "
                                                               "the whole effect; switch the mechanism off through "
                                                               "another field")
    for a in ("control", "treatment"):
        extra = main_extra[a]
        arms.append(build(main_layers[a] + [("mechanism_off", off)], "off", a, "mechanism_off", extra))
        check_years(arms[-1], "mechanism_off", "the mechanism-off arm")
    if arms[-2].data == ctrl.data and arms[-1].data == trt.data:
        raise ScenarioError(src, "mechanism_off", "changes neither arm; name the changes that switch the claim's "
                                                  "mechanism off")
    if _within_run(arms[-2].data) == _within_run(ctrl.data) and _within_run(arms[-1].data) == _within_run(trt.data):
        raise ScenarioError(src, "mechanism_off", f"changes neither arm within the run's years {first}-{last} (only "
                                                  "interventions that act outside them); name the changes that switch "
                                                  "the claim's mechanism off")
    if spec.no_network is not None:
        nn = build(main_layers["control"] + [("no_network", spec.no_network)], "no_network", "no_network",
                   "no_network", main_extra["control"])
        if nn.data == ctrl.data:
            raise ScenarioError(src, "no_network", "changes nothing in the control arm")
        if _within_run(nn.data) == _within_run(ctrl.data):
            raise ScenarioError(src, "no_network", f"changes nothing in the control arm within the run's years "
                                                   f"{first}-{last} (only interventions that act outside them)")
        check_years(nn, "no_network", "the no-network arm")
        arms.append(nn)

    # -- moderators
    def check_free(key: str, where: str):
        k = _norm(key)
        for v in varied:
            if k == v or k.startswith(v + ".") or v.startswith(k + "."):
                raise ScenarioError(src, where, f"{key} is what the arms vary ({v}); choose a parameter the arms "
                                                "leave alone")
        kp = kind_path(key)
        if kp is not None and not (has_kind(ctrl.data, kp[0]) or has_kind(trt.data, kp[0])):
            raise ScenarioError(src, where, f"neither arm has an intervention of kind {kp[0]!r}")

    for m, mod in enumerate(spec.moderators):
        w = f"moderators.{m}.parameter"
        check_key(mod.parameter, src, w)
        check_free(mod.parameter, w)
        if any(_norm(x.parameter) == _norm(mod.parameter) for x in spec.moderators[:m]):
            raise ScenarioError(src, w, f"{mod.parameter} is listed twice")
    moderators = quick_moderators(spec) if quick else list(spec.moderators)
    for m, mod in enumerate(spec.moderators):  # every value is checked, also those a quick run leaves out
        run_index = {_same_key(x): jq for jq, x in enumerate(moderators[m].values)} if m < len(moderators) else {}
        seen: dict[str, int] = {}
        for j, v in enumerate(mod.values):
            w = f"moderators.{m}.values.{j}"
            pair = [build(main_layers[a], "moderator", a, w, main_extra[a] + [(mod.parameter, v, w)], moderator=m,
                          value=run_index.get(_same_key(v))) for a in ("control", "treatment")]
            for arm in pair:
                check_years(arm, w, f"{mod.parameter} = {v!r}")
            k0 = seen.setdefault(json.dumps([_within_run(arm.data) for arm in pair], sort_keys=True), j)
            if k0 != j:
                raise ScenarioError(src, w, f"{v!r} gives the same arms as moderators.{m}.values.{k0} "
                                            f"({mod.values[k0]!r}) within the run's years; give each value once")
            if _same_key(v) in run_index:
                arms.extend(pair)

    main = _sweep(arms, base, spec.id, src, spec.seed, R, metrics)
    cap = cap_of(spec, quick) if max_replications is None else int(max_replications)
    if cap < R:
        raise ScenarioError("--max-replications", "", f"{cap} is below the first look's {R} replications of "
                                                      f"{spec.id}; expected at least {R}")
    plan = ClaimPlan(spec=spec, source=src, quick=quick, base=base, replications=R, seeds=seeds, metrics=metrics,
                     arms=arms, main=main, labels=labels, moderators=moderators, looks=looks(R, cap))

    # -- the uncertainty space
    u = spec.uncertainty
    if u is not None:
        paths = list(u.parameters)
        for k in paths:
            w = f"uncertainty.parameters.{k}"
            check_key(k, src, w)
            check_free(k, w)
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
        S = (spec.quick.samples or u.samples) if quick else u.samples
        RU = (spec.quick.uncertainty_replications or min(u.replications, R)) if quick else u.replications
        unit = lhs_unit(len(paths), S, spec.seed)
        values = [{k: _from_unit(row[j], u.parameters[k].low, u.parameters[k].high, key_kind(k))
                   for j, k in enumerate(paths)} for row in unit]
        for k in paths:  # each bound alone first: an error names the parameter
            for end in ("low", "high"):
                bk = u.parameters[k]
                x = _from_unit(0.0 if end == "low" else 1.0, bk.low, bk.high, key_kind(k))  # as sampled (int: inside)
                w = f"uncertainty.parameters.{k}.{end}"
                for a in ("control", "treatment"):
                    check_years(build(main_layers[a], "lhs", a, w, main_extra[a] + [(k, x, w)]), w, f"{k} = {x!r}")
        lhs_arms = []
        for s, vals in enumerate(values):
            for a in ("control", "treatment"):
                lhs_arms.append(build(main_layers[a], "lhs", a, f"uncertainty (sample {s}: {vals})",
                                      main_extra[a] + [(k, v, "uncertainty.parameters") for k, v in vals.items()],
                                      sample=s))
                check_years(lhs_arms[-1], "uncertainty.parameters", f"sample {s} ({vals})")
        plan.lhs_arms, plan.lhs_unit, plan.lhs_values, plan.lhs_replications = lhs_arms, unit, values, RU
        plan.lhs = _sweep(lhs_arms, base, f"{spec.id}-lhs", src, spec.seed, RU, metrics)
    if quick:  # every value of the file is checked whatever mode runs: the full run's arms and samples too
        load_claim(path, quick=False)
    return plan


def cap_of(spec: ClaimSpec, quick: bool) -> int:
    """The cap of the sequential procedure: `max_replications` (full run; default 160), or in a quick run
    `quick.max_replications` (default: the quick replications, a single look). Never below the initial
    replications."""
    R = spec.quick.replications if quick else spec.replications
    cap = spec.quick.max_replications if quick else spec.max_replications
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
