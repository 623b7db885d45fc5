"""The schema walker and readable validation errors: dotted field paths through the pydantic schema.

- `split_path`, `schema_at`, `fields_at`, `field_kind`, `check_path`: the one walker of dotted paths
  (`resources.pool`, `interventions.0.start`) through a pydantic model (the scenario, an
  intervention's `Params`, a sweep or claim file);
- `translate` / `translate_all`: the one translation of a pydantic `ValidationError` into a
  `ScenarioError` (several at once: `ScenarioErrors`, `combine`);
- `validate_as`: data validated as a pydantic model, its problems translated.

It knows no scenario in particular (no plug-ins, no files): `model/interventions.py` uses it for
the interventions' parameters, `model/overrides.py` and `model/loading.py` build on it.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from model.config import ScenarioError


def split_path(key: str) -> list[str]:
    """A dotted (or `__`-separated) field path as its parts."""
    return str(key).strip().replace("__", ".").split(".")


# ---------------------------------------------------------------------------------------------
# The schema walker


class SchemaPathError(ValueError):
    """A dotted path that the schema does not have: `index` is the offending part, `kind` one of
    'unknown' (no such field; `known` lists the fields there), 'leaf' (a single value has no fields)
    or 'index' (a list needs an item number)."""

    def __init__(self, index: int, kind: str, known: list[str] | None = None):
        self.index, self.kind, self.known = index, kind, known or []
        super().__init__(f"{kind} at part {index}")


def _shape(ann) -> tuple[str, Any]:
    """('model', cls) | ('list', item annotation) | ('dict', value annotation) | ('any', None) | ('leaf', ann)."""
    if ann is Any:
        return "any", None
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "model", ann
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _shape(typing.get_args(ann)[0])
    if origin is list:
        args = typing.get_args(ann)
        return "list", (args[0] if args else Any)
    if origin is dict:
        args = typing.get_args(ann)
        return "dict", (args[1] if len(args) == 2 else Any)
    if ann is dict:
        return "dict", Any
    if ann is list:
        return "list", Any
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if args and origin is not typing.Literal:  # a union: its structured member, if it has one
        shapes = [_shape(a) for a in args]
        for want in ("model", "list", "dict"):
            for s in shapes:
                if s[0] == want:
                    return s
    return "leaf", ann


def model_fields(cls: type[BaseModel]) -> dict[str, Any]:
    """Fields of a model by the name users write (the alias where there is one)."""
    return {(f.alias or n): f for n, f in cls.model_fields.items()}


def schema_at(root, parts) -> tuple[type[BaseModel] | None, Any]:
    """Walk a field path (dotted parts; list items by number, mapping keys by name) through the
    schema of `root`. Returns (the model class at the end or None, the annotation at the end).
    Raises SchemaPathError at the first part the schema does not have; below a free-form mapping
    (`dict[str, Any]`) every path is accepted."""
    ann = root
    j = 0
    while j < len(parts):
        part = str(parts[j])
        kind, inner = _shape(ann)
        if kind == "any":
            return None, Any
        if kind == "list":
            if not part.isdigit():
                raise SchemaPathError(j, "index")
            ann = inner
        elif kind == "dict":
            ann = inner
        elif kind == "model":
            fields = model_fields(inner)
            if part not in fields:
                raise SchemaPathError(j, "unknown", sorted(fields))
            ann = fields[part].annotation
        else:
            raise SchemaPathError(j, "leaf")
        j += 1
    kind, inner = _shape(ann)
    return (inner if kind == "model" else None), ann


def fields_at(root, loc) -> list[str]:
    """The fields a user may write at location `loc` (empty when it is not a section)."""
    try:
        cls, _ = schema_at(root, [str(p) for p in loc])
    except SchemaPathError:
        return []
    return sorted(model_fields(cls)) if cls is not None else []


def field_kind(root, parts) -> str:
    """'int', 'float', 'bool', 'str' or 'other': the type of the field at a path."""
    try:
        _, ann = schema_at(root, parts)
    except SchemaPathError:
        return "other"
    args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
    if typing.get_origin(ann) is typing.Annotated:
        args = [typing.get_args(ann)[0]]
    if bool in args:
        return "bool"
    if int in args and float not in args:
        return "int"
    if float in args:
        return "float"
    if str in args:
        return "str"
    return "other"


def check_path(root, parts, source, key):
    """Reject a path that names no field of `root`, before any value is set."""
    try:
        schema_at(root, parts)
    except SchemaPathError as e:
        j = e.index
        prefix = ".".join(parts[:j]) or "top level"
        if e.kind == "unknown":
            raise ScenarioError(source, key, f"unknown field '{parts[j]}' in {prefix}; expected one of: "
                                f"{', '.join(e.known)}{did_you_mean(parts[j], e.known)}") from None
        if e.kind == "index":
            raise ScenarioError(source, key, f"{prefix} is a list; expected an item number instead of "
                                f"'{parts[j]}'") from None
        raise ScenarioError(source, key, f"'{parts[j - 1]}' is a single value, not a section; expected the path "
                            f"to end at {'.'.join(parts[:j])}") from None


# ---------------------------------------------------------------------------------------------
# Validation errors


# pydantic adds the member of a union that failed to the location (`country.str`, `scenario.dict[str,any]`)
_UNION_TAG = re.compile(r"^(?:str|int|float|bool|none|list\[.*\]|dict\[.*\]|tuple\[.*\]|literal\[.*\]"
                        r"|function-\w+\[.*\]|[A-Z]\w*)$")
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
_NUMBER_TEXT = re.compile(r"^\s*[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_EXPECTED = {"int_type": "a whole number", "int_from_float": "a whole number", "int_parsing": "a whole number",
             "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
             "bool_parsing": "true or false", "string_type": "text", "list_type": "a list", "dict_type": "a mapping",
             "model_type": "a mapping of fields", "model_attributes_type": "a mapping of fields"}


def _clean_loc(loc) -> tuple:
    """The field path of an error without pydantic's union-member tags."""
    return tuple(p for p in loc if not (isinstance(p, str) and _UNION_TAG.match(p)))


def was_read_as(value) -> str:
    """How a value from a file was read, in the user's words: `true was read as a boolean`."""
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} was read as a boolean"
    if value is None:
        return "an empty value (or null, ~) was read as null"
    if isinstance(value, (int, float)):
        return f"{value!r} was read as a number"
    if isinstance(value, str):
        hint = " (only true and false are booleans)" if value.strip().lower() in _YAML11_BOOLS else ""
        return f"{value!r} was read as text{hint}"
    if isinstance(value, list):
        return "a list was read"
    if isinstance(value, dict):
        return "a mapping was read"
    return f"a {type(value).__name__} was read"


def _type_message(expected: list[str], got) -> str:
    """`founders: true was read as a boolean; expected a whole number`; text fields say: quote it."""
    exp = " or ".join(dict.fromkeys(expected))
    read = was_read_as(got)
    if expected == ["text"] and isinstance(got, (bool, int, float)) or (expected == ["text"] and got is None):
        shown = "true" if got is True else "false" if got is False else "" if got is None else repr(got)
        return f"{read}; expected text: quote it (\"{shown}\")" if shown else f"{read}; expected text: write it in quotes"
    if "a whole number" in expected and isinstance(got, float) and not isinstance(got, bool) and got.is_integer():
        return f"{read} with a decimal point; expected {exp} (write {int(got)})"
    if isinstance(got, str) and _NUMBER_TEXT.match(got) and ("a number" in expected or "a whole number" in expected):
        return f"{read}; expected {exp}: write it without quotes{' or underscores' if '_' in got else ''}"
    return f"{read}; expected {exp}"
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"),
           "less_than": ("<", "lt")}


def did_you_mean(word: str, known) -> str:
    """`; did you mean pool?` for a misspelt key (difflib against the keys valid there), else ""."""
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _problem(err: dict, same: list[dict], root) -> str:
    """The readable message of one problem: `err`, and `same` the errors at its location (the members
    of a union, all failed)."""
    msg = err["msg"].removeprefix("Value error, ")
    typ = err["type"]
    got = err.get("input")
    if typ == "extra_forbidden":
        known = fields_at(root, err["loc"][:-1])
        msg = f"unknown field; expected one of: {', '.join(known)}{did_you_mean(err['loc'][-1], known)}"
    elif typ == "finite_number":
        msg = "expected a finite number (NaN and infinity are not allowed)"
    elif typ == "missing":
        msg = "required field is missing"
    elif all(x["type"] in _EXPECTED or x["type"] == "literal_error" for x in same) and any(
            x["type"] in _EXPECTED for x in same):
        expected = []
        for x in same:
            if x["type"] == "literal_error":
                expected.append(f"one of {x.get('ctx', {}).get('expected', '')}")
            else:
                expected.append(_EXPECTED[x["type"]])
        msg = _type_message(expected, got)
    elif typ == "literal_error":
        msg = f"{got!r} is not allowed; expected one of: {err.get('ctx', {}).get('expected', '')}"
        if isinstance(got, (bool, int, float)) or got is None:
            msg = f"{was_read_as(got)}; expected one of: {err.get('ctx', {}).get('expected', '')}"
    elif typ in _BOUNDS:
        op, ctx_key = _BOUNDS[typ]
        bound = err.get("ctx", {}).get(ctx_key)
        msg = f"must be {op} {bound:g} (got {got!r})" if isinstance(bound, (int, float)) else f"must be {op} {bound} (got {got!r})"
    elif typ != "value_error" and not isinstance(got, (dict, list)) and got is not None:
        msg = f"{msg} (got {got!r})"
    return msg


def translate_all(e: ValidationError, root, source: str, prefix: str = "") -> list[ScenarioError]:
    """Every problem of a pydantic ValidationError, one readable ScenarioError per field path (after
    `prefix`, e.g. "interventions.2.params"), in pydantic's order. A value of the wrong type says how
    it was read (`NO` was read as text; `true` was read as a boolean, expected a whole number; a number
    for a text field: quote it), since strict fields never convert one type into another; an unknown
    key says which keys are valid there and, when one is close, `did you mean ...?`."""
    errs = e.errors(include_url=False)
    groups: dict[tuple, list[dict]] = {}
    for x in errs:
        groups.setdefault(_clean_loc(x["loc"]), []).append(x)
    out = []
    for loc_t, same in groups.items():
        loc = ".".join(str(p) for p in loc_t)
        out.append(ScenarioError(source, ".".join(p for p in (prefix, loc) if p), _problem(same[0], same, root)))
    return out


def translate(e: ValidationError, root, source: str, prefix: str = "") -> ScenarioError:
    """The problems of a pydantic ValidationError as one ScenarioError (`translate_all`): the problem
    itself when there is one, else a `ScenarioErrors` that lists them all."""
    return combine(translate_all(e, root, source, prefix), source)


class ScenarioErrors(ScenarioError):
    """Several problems of one input, reported at once: a first line naming the file and the count,
    then one line per problem (its field path and what is expected; a problem caused by a flag names
    the flag). `problems` are the single ScenarioErrors. `path` and `message` are those of the first
    problem with `[and N more problems]`, for code that re-words one problem (a sweep naming the
    field of its own file)."""

    def __init__(self, source: str, problems: list[ScenarioError]):
        self.problems = list(problems)
        first, n = self.problems[0], len(self.problems)
        super().__init__(source, first.path, f"{first.message} [and {n - 1} more problem{'s' if n > 2 else ''}]")
        lines = [f"{p.path}: {p.message}" if p.source == source and p.path else
                 (p.message if p.source == source else str(p)) for p in self.problems]
        self.args = ("\n".join([f"{source + ': ' if source else ''}{n} problems"] + [f"  {ln}" for ln in lines]),)

    def __reduce__(self):
        return (type(self), (self.source, self.problems))


def combine(problems: list[ScenarioError], source: str) -> ScenarioError:
    """One ScenarioError for a list of problems: the problem itself when there is one."""
    flat = [q for p in problems for q in (p.problems if isinstance(p, ScenarioErrors) else [p])]
    return flat[0] if len(flat) == 1 else ScenarioErrors(source, flat)

def validate_as(cls, data, source: str = ""):
    """`data` validated as the pydantic model `cls` (a scenario, a sweep or a claim file); its problems,
    all of them, as one ScenarioError naming the file and each field (`translate`)."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise translate(e, cls, source) from None
