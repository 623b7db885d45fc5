"""The scenario: the top layer of the inputs, a complete and validated `Scenario` from a file or mapping.

- `load_scenario`: a YAML file, a mapping or None (defaults), with overrides (`--set`, sweep
  points, model parameters), validated once; an error caused by an override names the override;
- `validate_scenario`: the schema, each intervention's parameters, then the pre-flight checks
  (model/preflight.py), the problems reported all at once where they can be;
- `base_scenario` / `layered_scenario` (`Layer`, `apply_layers`, `blame_layer`): the base scenario
  of a sweep or claim file and the layers of overrides on top of it (`set`, `quick.set`, an arm's
  `set`), validated once; an error names the layer and key of the file that caused it.

The layers of the inputs, each importing only those below it:

    model/files.py       reading files with limits, safe YAML 1.2, data paths
    model/schema.py      the schema walker, readable validation errors (translate)
    model/interventions.py, model/realdata.py, model/preflight.py
    model/overrides.py   dotted paths (also interventions.<kind>.<param>), --set, apply_overrides
    model/loading.py     the scenario (this module)

Every public name of the layers below is re-exported here (`from model.loading import read_yaml`
keeps working).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from model.config import Scenario, ScenarioError
from model.files import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    PROJECT_ROOT,
    DuplicateKeyError,
    YAML12Loader,
    YAMLDumper,
    _file_type,
    read_text_file,
    read_yaml,
    resolve_data_path,
    yaml_dump,
    yaml_load,
)
from model.interventions import REGISTRY, needs_networks, validate_intervention
from model.overrides import (
    MISSING,
    OverrideError,
    Overrides,
    apply_overrides,
    check_key,
    check_kind_path,
    differences,
    has_kind,
    key_kind,
    kind_path,
    override_label,
    override_paths,
    parse_overrides,
    parse_value,
    set_by_kind,
    set_value,
)
from model.preflight import preflight
from model.schema import (
    ScenarioErrors,
    SchemaPathError,
    check_path,
    combine,
    did_you_mean,
    field_kind,
    fields_at,
    model_fields,
    schema_at,
    split_path,
    translate,
    translate_all,
    validate_as,
    was_read_as,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MISSING",
    "PROJECT_ROOT",
    "DuplicateKeyError",
    "Layer",
    "OverrideError",
    "Overrides",
    "ScenarioError",
    "ScenarioErrors",
    "SchemaPathError",
    "YAML12Loader",
    "YAMLDumper",
    "apply_layers",
    "apply_overrides",
    "base_scenario",
    "blame_layer",
    "check_key",
    "check_kind_path",
    "check_path",
    "combine",
    "did_you_mean",
    "differences",
    "field_kind",
    "fields_at",
    "has_kind",
    "key_kind",
    "kind_path",
    "layered_scenario",
    "load_scenario",
    "model_fields",
    "override_label",
    "override_paths",
    "parse_overrides",
    "parse_value",
    "read_text_file",
    "read_yaml",
    "resolve_data_path",
    "schema_at",
    "set_by_kind",
    "set_value",
    "split_path",
    "translate",
    "translate_all",
    "validate_as",
    "validate_scenario",
    "was_read_as",
    "yaml_dump",
    "yaml_load",
]


# ---------------------------------------------------------------------------------------------
# Scenarios


def base_scenario(scenario, source: str, here: Path, what: str) -> tuple[dict, str]:
    """The base scenario of a sweep or claim file (`what`: "sweep", "claim"): its `scenario` field, a
    path relative to the file's folder `here`, an inline mapping, or None (all defaults). Returns (the
    mapping, the source name its errors are reported under)."""
    if isinstance(scenario, str):
        p = Path(scenario).expanduser()
        p = p if p.is_absolute() else here / p
        if not p.exists():
            raise ScenarioError(source, "scenario", f"scenario file not found: {scenario} (relative paths start at "
                                                    f"the {what} file's folder, {here})")
        if not p.is_file():
            raise ScenarioError(source, "scenario", f"{p} is {_file_type(p.stat().st_mode)}, not a regular file; "
                                                    "expected a scenario file")
        return read_yaml(p), str(p)
    if isinstance(scenario, dict):
        return copy.deepcopy(scenario), source
    return {}, source




# ---------------------------------------------------------------------------------------------
# Layers of overrides on a base scenario (sweep and claim files)


@dataclass
class Layer:
    """One layer of overrides in a sweep or claim file: `where` is its field in the file (`set`,
    `quick.set`, `arms.control.set`), `fixed` its dotted paths and values (applied in order),
    `interventions` mappings appended to the scenario's own list before the paths are set.
    `by_kind` says what a path `interventions.<kind>.<param>` does when the scenario has no
    intervention of that kind: "strict" is an error (as `--set`), "lenient" leaves the scenario
    unchanged (a claim's arm; such a path is then not blamed for a validation error either)."""

    where: str
    fixed: dict[str, Any]
    interventions: list[dict] = field(default_factory=list)
    by_kind: str = "strict"
    remove: list[tuple[str, int | None]] = field(default_factory=list)  # (kind, index): made inactive first
    no_networks: bool = False  # a world without networks (without_networks), after the interventions are appended
    removed: list[str] = field(default_factory=list)  # filled by apply_layers: what remove and no_networks removed

    def paths(self, key: str, data: dict) -> list[str]:
        """The field paths of `data` that `key` of this layer set (what a validation error is matched to)."""
        if self.by_kind == "lenient" and kind_path(key) is not None:
            return []
        return override_paths(key, data)


def apply_layers(data: dict, layers: list[Layer], source: str,
                 check: Callable[[str, str, str], None] | None = None) -> list[list[str]]:
    """Apply layers of overrides to a scenario mapping, in order: each layer's `remove` makes interventions
    of the scenario inactive, its interventions are appended, `no_networks` makes it a world without
    networks, then its dotted paths are set. An error names the layer and key (`set.resources.pool`,
    source `source`). `check(key, source, where)` checks each path first (a claim file's rules).
    Returns, per layer, the normal (not by-kind) paths it set, normalised."""
    out = []
    for layer in layers:
        layer.removed = []
        for j, (kind, index) in enumerate(layer.remove):
            layer.removed += deactivate(data, kind, index, source, f"{layer.where.rsplit('.', 1)[0]}.remove.{j}")
        if layer.interventions:
            if data.get("interventions") is None:
                data["interventions"] = []
            data["interventions"].extend(copy.deepcopy(layer.interventions))
        if layer.no_networks:
            layer.removed += without_networks(data)
        keys = []
        for k, v in layer.fixed.items():
            where = f"{layer.where}.{k}"
            if check is not None:
                check(k, source, where)
            if layer.by_kind == "lenient":
                set_value(data, k, v, source, where)
            else:
                try:
                    apply_overrides(data, {k: copy.deepcopy(v)}, source=source)
                except ScenarioError as e:
                    raise ScenarioError(source, where, e.message) from None
            if kind_path(k) is None:
                keys.append(".".join(split_path(k)))
        out.append(keys)
    return out


NO_NETWORKS = {"networks.initial": 0, "networks.founding_rate": 0, "networks.demand_rate": 0,
               "networks.catalogue": None}


def without_networks(data: dict) -> list[str]:
    """A world without international city networks, in place: no initial, founded, demanded or catalogue
    network (NO_NETWORKS), every intervention that needs networks made inactive (`active: false`: it keeps
    its place, so the others keep their random streams; model.interventions.needs_networks) and the
    calibration facts about named networks left out. Returns what it removed, in words (for the report)."""
    removed = []
    nets = data.setdefault("networks", {})
    if nets.get("catalogue"):
        removed.append(f"the catalogue's networks ({nets['catalogue']})")
    for k, v in NO_NETWORKS.items():
        nets[k.split(".", 1)[1]] = v
    for i, iv in enumerate(data.get("interventions") or []):
        if iv.get("active", True) and needs_networks(iv):
            iv["active"] = False
            removed.append(f"interventions.{i} ({_describe(iv)})")
    facts = data.get("calibration") or []
    keep = [f for f in facts if not (f.get("network") or f.get("networks")
                                     or f.get("measure") in ("distinct_members", "distinct_countries"))]
    if len(keep) < len(facts):
        removed.append(f"{len(facts) - len(keep)} calibration facts about named networks")
        data["calibration"] = keep
    return removed


def _describe(iv: dict) -> str:
    span = f"{iv['start']}-{iv['end']}" if iv.get("end") is not None else f"from {iv['start']}"
    ps = ", ".join(f"{k} {v}" for k, v in (iv.get("params") or {}).items())
    return f"{iv['kind']} {span}" + (f", {ps}" if ps else "")


def deactivate(data: dict, kind: str, index: int | None, source: str, where: str) -> list[str]:
    """Make the base scenario's interventions of `kind` inactive (all of them, or the `index`-th of that kind):
    they keep their places, so every other intervention keeps its random stream. An index beyond those the
    scenario has is an error naming `where`; a kind it does not have removes nothing. Returns what it removed."""
    ivs = [(i, iv) for i, iv in enumerate(data.get("interventions") or []) if iv["kind"] == kind]
    if index is not None:
        if index >= len(ivs):
            raise ScenarioError(source, where, f"the scenario has {len(ivs)} intervention{'s' if len(ivs) != 1 else ''} "
                                               f"of kind {kind!r}, so index {index} names none; expected "
                                               + (f"0 to {len(ivs) - 1}" if ivs else "no index (or remove this entry)"))
        ivs = [ivs[index]]
    out = []
    for i, iv in ivs:
        if iv.get("active", True):
            iv["active"] = False
            out.append(f"interventions.{i} ({_describe(iv)})")
    return out


def blame_layer(e: ScenarioError, layers: list[Layer], data: dict, source: str) -> ScenarioError | None:
    """The validation error `e` of a scenario made by `apply_layers` as one naming the key of the file
    that set the field (`source`: `set.resources.pool: must be >= 0`), the last layer that set it;
    None when no layer set it."""
    path = e.path or ""
    for layer in reversed(layers):
        for k in layer.fixed:
            if any(path == p or path.startswith(p + ".") for p in layer.paths(k, data)):
                return ScenarioError(source, f"{layer.where}.{k}", e.message)
    return None


def layered_scenario(base: dict, base_source: str, layers: list[Layer], source: str, *, inline: bool = False,
                     check: Callable[[str, str, str], None] | None = None,
                     fields: dict[str, Any] | None = None) -> Scenario:
    """The base scenario of a sweep or claim file (a mapping from `base_scenario`, its problems named
    under `base_source`) with layers of overrides on top, then `fields` set as they are (e.g. the
    file's `steps`), validated once. A validation error names the key of the layer that set the field
    (`blame_layer`); else, for an `inline` base (a mapping in the file), the field under `scenario.`;
    else it is the base file's own."""
    data = copy.deepcopy(base)
    apply_layers(data, layers, source, check)
    data.update(fields or {})
    try:
        return validate_scenario(data, base_source)
    except ScenarioError as e:
        blamed = blame_layer(e, layers, data, source)
        if blamed is not None:
            raise blamed from None
        if inline:
            raise ScenarioError(source, f"scenario.{e.path}", e.message) from None
        raise


def _intervention_problems(data, source: str) -> list[ScenarioError]:
    """The problems of the interventions' `params` that can be found without a valid scenario (their
    schema), for a scenario that has other problems already: all are then reported at once."""
    out = []
    ivs = data.get("interventions") if isinstance(data, dict) else None
    for i, iv in enumerate(ivs if isinstance(ivs, list) else []):
        if not isinstance(iv, dict) or not isinstance(iv.get("params", {}), dict) or iv.get("kind") not in REGISTRY:
            continue
        try:
            REGISTRY[iv["kind"]].Params.model_validate(iv.get("params", {}))
        except ValidationError as e:
            out += translate_all(e, REGISTRY[iv["kind"]].Params, source, prefix=f"interventions.{i}.params")
    return out


def validate_scenario(data: dict, source: str = "") -> Scenario:
    """A complete Scenario from a mapping of fields: the schema, each intervention's parameters, then
    the pre-flight checks of everything else that can be known before the first step (the catalogue
    file, names of countries and networks, calibration facts: model/preflight.py). The problems of
    the schema and of the interventions are reported all at once (`ScenarioErrors`); the pre-flight
    checks, which need a valid scenario, after them."""
    try:
        scenario = validate_as(Scenario, data, source)
    except ScenarioError as e:
        seen = {p.path for p in (e.problems if isinstance(e, ScenarioErrors) else [e])}
        raise combine([e] + [p for p in _intervention_problems(data, source) if p.path not in seen], source) from None
    plugins, problems = [], []
    for i, iv in enumerate(scenario.interventions):
        try:
            plugins.append(validate_intervention(iv, scenario, f"interventions.{i}", source))
        except ScenarioError as e:
            problems.append(e)
    if problems:
        raise combine(problems, source)
    cat = scenario.networks.catalogue
    if cat is not None and not resolve_data_path(cat).exists():
        raise ScenarioError(source, "networks.catalogue", f"file '{cat}' not found (relative paths are tried from "
                                                          "the working directory, then the project root)")
    if cat is not None and not resolve_data_path(cat).is_file():
        raise ScenarioError(source, "networks.catalogue", f"{cat} is {_file_type(resolve_data_path(cat).stat().st_mode)}"
                                                          ", not a regular file; expected a CSV file")
    preflight(scenario, source, plugins)
    return scenario


def load_scenario(path: str | os.PathLike | dict | None = None, overrides: dict[str, Any] | None = None,
                  source: str | None = None, override_source: str = "--set") -> Scenario:
    """Load, override and validate a scenario: a YAML file, a mapping of fields (e.g. a resolved
    scenario, copied first) or None (all defaults). `source` names it in error messages.

    An error caused by an override names the override, not the file: `--set resources.pool=-1: must
    be >= 0` (as written when `overrides` comes from `parse_overrides`, whose `labels` may also name
    other flags such as `--seed 5`; else `OVERRIDE_SOURCE key=VALUE`). A problem of a whole section
    (e.g. shares that sum to more than 1) is put down to the overrides inside it only when the file
    alone is valid there."""
    if isinstance(path, dict):
        data, src = copy.deepcopy(path), source or "scenario"
    elif path is not None:
        data, src = read_yaml(path), source or str(path)
    else:
        data, src = {}, source or "<defaults>"
    if not overrides:
        return validate_scenario(data, src)
    original = copy.deepcopy(data)
    apply_overrides(data, overrides, source=override_source)
    try:
        return validate_scenario(data, src)
    except ScenarioError as e:
        raise _blame_override(e, overrides, override_source, original, src) from None


def _blame_override(e: ScenarioError, overrides: dict, override_source: str, original: dict, src: str) -> ScenarioError:
    """The validation error `e` (naming the file) turned into one naming the override that caused it
    (each problem of several on its own)."""
    if isinstance(e, ScenarioErrors):
        return combine([_blame_override(p, overrides, override_source, original, src) for p in e.problems], src)
    if e.source != src:
        return e
    labels = getattr(overrides, "labels", {})
    path = e.path or ""
    sets = {k: override_paths(k, original) for k in overrides}  # interventions.<kind>.<param>: each one of the kind
    keys = [k for k in overrides if any(kp == path or path.startswith(kp + ".") for kp in sets[k])]
    if not keys:  # a problem of a section (or the whole scenario) that holds overridden fields
        inside = [k for k in overrides if not path or any(kp.startswith(path + ".") for kp in sets[k])]
        if not inside:
            return e
        try:
            validate_scenario(original, src)
        except ScenarioError:
            return e  # the file alone is wrong already
        keys = inside
    label = ", ".join(override_label(k, overrides[k], override_source, labels) for k in keys)
    return OverrideError(label, path, e.message, keys[0] if len(keys) == 1 else "")
