"""Dotted paths and overrides: `--set`, sweep parameters, the app's override box and claim files.

One grammar of dotted paths for every input that sets a field of a scenario:

- `resources.pool`, `interventions.0.start` (or `resources__pool`): a field, a list item by number;
- `interventions.<kind>.<param>` (e.g. `interventions.pandemic.selectivity`): that parameter of every
  intervention of that kind the scenario has (`kind_path`, `check_key`, `key_kind`, `set_value`).

- `parse_value` / `parse_overrides`: `dotted.key=VALUE` pairs (the command line's `--set`, the app);
- `apply_overrides`: set dotted paths in a nested mapping, each checked against the schema first;
- `override_paths`: the field paths a dotted path sets in a scenario (for naming the override that
  caused a validation error);
- `differences`: where two nested documents differ.

It builds on `model/files.py` (YAML), `model/schema.py` (the walker) and the registry of
interventions (`model/interventions.py`); `model/loading.py` builds the scenario on top.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic import BaseModel

from model.config import Scenario, ScenarioError
from model.files import MAX_DEPTH, DuplicateKeyError, _depth, _yaml_problem, yaml_load
from model.interventions import REGISTRY
from model.schema import check_path, field_kind, split_path


def parse_value(text: str, key: str = "", source: str = "--set") -> Any:
    """Parse the VALUE of a `key=VALUE` override as a YAML scalar or flow collection (safe).
    A value nested more than MAX_DEPTH levels (or expanding to too many values) is a ScenarioError."""
    try:
        value = yaml_load(text) if text.strip() else ""
    except DuplicateKeyError as e:
        raise ScenarioError(source, key, f"the value has a {_yaml_problem(e)}") from None
    except yaml.YAMLError:
        return text
    except RecursionError:
        raise ScenarioError(source, key, f"the value is nested too deeply (more than {MAX_DEPTH} levels)") from None
    try:
        too_deep = _depth(value, MAX_DEPTH) > MAX_DEPTH
    except ValueError as e:
        raise ScenarioError(source, key, f"the value is too large: {e}") from None
    if too_deep:
        raise ScenarioError(source, key, f"the value is nested too deeply (more than {MAX_DEPTH} levels)")
    return value


class OverrideError(ScenarioError):
    """A ScenarioError caused by an override: `source` names the override as the user wrote it
    (`--set resources.pool=-1`), `path` is the field path as usual; the message leaves the path out
    when the override names it already: `--set resources.pool=-1: must be >= 0`."""

    def __init__(self, label: str, path: str, message: str, key: str = ""):
        super().__init__(label, path, message)
        self.key = key
        shown = "" if not path or path == ".".join(split_path(key)) else path
        self.args = (f"{label}: {shown + ': ' if shown else ''}{message}",)

    def __reduce__(self):  # as written, also in another process
        return (type(self), (self.source, self.path, self.message, self.key))


class Overrides(dict):
    """Dotted key -> value, remembering how each pair was written: `labels[key]` is what an error
    message names instead of the file (`--set resources.pool=-1`, `--seed -1`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels: dict[str, str] = {}


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_overrides(pairs: list[str] | str | None, source: str = "--set") -> Overrides:
    """`dotted.key=VALUE` pairs as {dotted key: value}: a list (the command line's repeated `--set`)
    or one text with a pair per line or separated by `;` (the app's override box; `#` starts a
    comment line). A pair without `=` or with an empty key is a ScenarioError naming the pair
    (`--set resources.pool: expected dotted.key=VALUE`)."""
    if isinstance(pairs, str):
        pairs = [p for line in pairs.replace(";", "\n").splitlines() if (p := line.strip()) and not p.startswith("#")]
    out = Overrides()
    for p in pairs or []:
        if "=" not in p:
            raise ScenarioError(f"{source} {_shorten(p)}", "", "expected dotted.key=VALUE, e.g. resources.pool=50")
        k, v = p.split("=", 1)
        k = k.strip()
        label = f"{source} {_shorten(k + '=' + v.strip())}"
        if not k:
            raise ScenarioError(label, "", "the key before '=' is empty; expected dotted.key=VALUE")
        try:
            out[k] = parse_value(v.strip(), key=k, source=source)
        except ScenarioError as e:
            raise OverrideError(label, e.path, e.message, k) from None
        out.labels[k] = label
    return out


def override_label(key: str, value: Any, source: str, labels: dict[str, str] | None = None) -> str:
    """How an error names one override: as the user wrote it when known (`labels`), else
    `SOURCE key=VALUE`."""
    if labels and key in labels:
        return labels[key]
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    text = text.removesuffix("\n...").strip()
    return f"{source} {_shorten(f'{key}={text}')}"


MISSING = type("Missing", (), {"__repr__": lambda self: "missing"})()  # a key on the other side only


def differences(a, b, where: str = ""):
    """Where two nested documents (dicts and lists of scalars, e.g. resolved scenarios or manifests)
    differ, in document order: yields (dotted path, kind, a's part, b's part) with kind "missing" (a
    key on one side only; its part is None on the other), "length" (lists of different lengths, as
    a whole) or "value" (unequal leaves)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                yield f"{where}{k}", "missing", a.get(k, MISSING), b.get(k, MISSING)
            else:
                yield from differences(a[k], b[k], f"{where}{k}.")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield where.removesuffix("."), "length", a, b
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                yield from differences(x, y, f"{where}{i}.")
    elif a != b:
        yield where.removesuffix("."), "value", a, b


def apply_overrides(data: dict, overrides: dict[str, Any] | None, source: str = "--set",
                    root: type[BaseModel] = Scenario) -> dict:
    """Set dotted keys (`a.b.c` or `a__b__c`) in a nested dict; list items by index (`interventions.0.start`).
    Every path is checked against the schema of `root` before any value is set. Errors name the
    override as written (`Overrides.labels`) or, when `source` is a flag (`--set`), `SOURCE key=VALUE`
    (an OverrideError); else `source` with the key as the field path (e.g. a sweep file's `set`)."""
    if not overrides:
        return data
    labels = getattr(overrides, "labels", {})
    for key, value in overrides.items():
        try:
            _apply_one(data, key, value, source, root)
        except ScenarioError as e:
            if key in labels or source.startswith("--"):
                raise OverrideError(override_label(key, value, source, labels), e.path, e.message, key) from None
            raise
    return data


def _apply_one(data: dict, key: str, value: Any, source: str, root):
    parts = split_path(key)
    if not all(parts):
        raise ScenarioError(source, key, "expected a dotted field path such as resources.pool")
    if root is Scenario and kind_path(key) is not None:
        check_kind_path(key, source, key)
        kind, param = kind_path(key)
        if not set_by_kind(data, kind, param, value):
            kinds = list(dict.fromkeys(iv.get("kind") for iv in _interventions(data) if isinstance(iv, dict)))
            has = f"its interventions are of kind {', '.join(str(k) for k in kinds)}" if kinds else "it has none"
            raise ScenarioError(source, key, f"the scenario has no intervention of kind {kind!r} ({has}); expected "
                                             "a kind it has, or an intervention of that kind added under interventions")
        return
    check_path(root, parts, source, key)
    node = data
    for j, part in enumerate(parts[:-1]):
        nxt = parts[j + 1]
        _check_node(node, parts, j, source, key)
        if isinstance(node, list):
            idx = int(part)
            if idx >= len(node):
                raise ScenarioError(source, key, f"list index {idx} out of range (the list has {len(node)} items)")
            node = node[idx]
            continue
        if part not in node or node[part] is None:
            if nxt.isdigit():
                raise ScenarioError(source, key, f"{part} has no item {nxt}")
            node[part] = {}
        node = node[part]
    last = parts[-1]
    _check_node(node, parts, len(parts) - 1, source, key)
    if isinstance(node, list):
        idx = int(last)
        if idx >= len(node):
            raise ScenarioError(source, key, f"list index {idx} out of range")
        node[idx] = value
    else:
        node[last] = value


def _check_node(node, parts, j, source, key):
    """`node` is what parts[:j] leads to; parts[j] must be able to index into it."""
    where = ".".join(parts[:j]) or "the top level"
    if isinstance(node, list):
        if not parts[j].isdigit():
            raise ScenarioError(source, key, f"{where} is a list; expected an item number instead of '{parts[j]}'")
    elif not isinstance(node, dict):
        raise ScenarioError(source, key, f"{where} is a single value ({node!r}), not a section with fields")


# ---------------------------------------------------------------------------------------------
# Intervention parameters by kind: interventions.<kind>.<param>


def kind_path(key: str) -> tuple[str, str] | None:
    """(kind, param) for `interventions.<kind>.<param>`, else None."""
    parts = split_path(key)
    if len(parts) == 3 and parts[0] == "interventions" and not parts[1].isdigit():
        return parts[1], parts[2]
    return None


def check_kind_path(key: str, source: str, where: str):
    """`interventions.<kind>.<param>` must name a registered kind and one of its parameters."""
    kind, param = kind_path(key)
    if kind not in REGISTRY:
        raise ScenarioError(source, where, f"unknown intervention kind {kind!r}; expected one of: "
                                           f"{', '.join(sorted(REGISTRY))}")
    names = list(REGISTRY[kind].Params.model_fields)
    if param not in names:
        raise ScenarioError(source, where, f"{kind} has no parameter {param!r}; expected one of: {', '.join(names)}")


def check_key(key: str, source: str, where: str):
    """A dotted path must name a scenario field, or an intervention parameter by kind; errors name
    `where` (the field of the file that holds the path)."""
    parts = split_path(key)
    if not all(parts):
        raise ScenarioError(source, where, f"{key!r}: expected a dotted field path such as resources.pool")
    if parts[0] == "interventions" and len(parts) > 1 and not parts[1].isdigit():
        if kind_path(key) is None:
            raise ScenarioError(source, where, f"{key!r}: expected interventions.<kind>.<parameter>, e.g. "
                                               "interventions.pandemic.budget_cut")
        check_kind_path(key, source, where)
        return
    check_path(Scenario, parts, source, where)


def key_kind(key: str) -> str:
    """'int', 'float', 'bool', 'str' or 'other': the type of the field a path names."""
    kp = kind_path(key)
    if kp is not None and kp[0] in REGISTRY:
        return field_kind(REGISTRY[kp[0]].Params, [kp[1]])
    return field_kind(Scenario, split_path(key))


def _interventions(data: dict) -> list:
    ivs = data.get("interventions") if isinstance(data, dict) else None
    return ivs if isinstance(ivs, list) else []


def has_kind(data: dict, kind: str) -> bool:
    """The scenario mapping has an intervention of this kind."""
    return any(isinstance(iv, dict) and iv.get("kind") == kind for iv in _interventions(data))


def set_by_kind(data: dict, kind: str, param: str, value) -> int:
    """Set `param` of every intervention of `kind` in a scenario mapping (a copy of `value` each);
    returns how many were set."""
    n = 0
    for iv in _interventions(data):
        if isinstance(iv, dict) and iv.get("kind") == kind:
            if iv.get("params") is None:
                iv["params"] = {}
            if isinstance(iv["params"], dict):  # else: not a mapping, which validation reports
                iv["params"][param] = copy.deepcopy(value)
            n += 1
    return n


def set_value(data: dict, key: str, value, source: str, where: str):
    """Set one dotted path in a scenario mapping; an intervention parameter by kind is set on every
    intervention of that kind (a mapping without one is unchanged). Errors name `where`."""
    kp = kind_path(key)
    if kp is not None:
        set_by_kind(data, kp[0], kp[1], value)
        return
    try:
        apply_overrides(data, {key: copy.deepcopy(value)}, source=source)
    except ScenarioError as e:
        raise ScenarioError(source, where, e.message) from None


def override_paths(key: str, data: dict) -> list[str]:
    """The field paths of a scenario mapping that a dotted path sets: itself (normalised), or for
    `interventions.<kind>.<param>` that parameter of each intervention of that kind
    (`interventions.3.params.selectivity`)."""
    kp = kind_path(key)
    if kp is None:
        return [".".join(split_path(key))]
    return [f"interventions.{i}.params.{kp[1]}" for i, iv in enumerate(_interventions(data))
            if isinstance(iv, dict) and iv.get("kind") == kp[0]]
