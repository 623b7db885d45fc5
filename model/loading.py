"""Scenario files: YAML reading with limits, `--set` overrides, the schema walker and readable errors.

Every input problem becomes one `ScenarioError` naming the file (or flag), the field path and what
is expected. The same functions serve scenario files, sweep files, claim files and the app:

- `read_yaml` / `read_text_file`: a small UTF-8 file, safely parsed, with size and depth limits;
- `parse_overrides`: `dotted.key=VALUE` pairs (the command line's `--set`, the app's override box);
- `apply_overrides`: set dotted paths in a nested mapping, checked against the schema first;
- `schema_at`: the one walker of dotted paths through the pydantic schema;
- `translate`: the one translation of a pydantic `ValidationError` into a `ScenarioError`;
- `validate_scenario` / `load_scenario`: a complete, validated `Scenario`.
"""

from __future__ import annotations

import os
import re
import stat
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from model.config import Scenario, ScenarioError

MAX_DEPTH = 20
MAX_FILE_BYTES = 5_000_000
MAX_NODES = 200_000
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The one YAML reading: the YAML 1.2 core schema, no duplicate keys


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML would silently keep the last value)."""


class YAML12Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader with scalars resolved by the YAML 1.2 core schema, so that nothing is read
    differently from what a user wrote: only true/false (also True, TRUE, False, FALSE) are booleans
    (`NO` for Norway, yes, no, on, off and y stay text); no sexagesimal numbers (1:30 stays text) and no
    dates; `017` is 17, not octal; `1e3` is a number; null, Null, NULL, ~ and an empty value are null.
    A key repeated in a mapping, at any level, is an error naming both lines. Merge keys (`<<`) work."""

    yaml_implicit_resolvers: typing.ClassVar[dict] = {}


_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", (r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                 r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]
for _tag, _regexp, _first in _RESOLVERS:
    YAML12Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _construct_bool(loader, node):
    value = loader.construct_scalar(node)
    if value not in ("true", "True", "TRUE", "false", "False", "FALSE"):
        raise yaml.constructor.ConstructorError(None, None, f"!!bool needs true or false, not {value!r}",
                                                node.start_mark)
    return value.lower() == "true"


def _construct_int(loader, node):
    value = loader.construct_scalar(node)
    try:
        if value.startswith(("0o", "0x")):
            return int(value, 0)
        return int(value, 10)  # leading zeros are decimal (YAML 1.2), not octal
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"!!int needs a whole number, not {value!r}",
                                                node.start_mark) from None


def _construct_float(loader, node):
    value = loader.construct_scalar(node)
    low = value.lower()
    if low in (".inf", "+.inf"):
        return float("inf")
    if low == "-.inf":
        return float("-inf")
    if low == ".nan":
        return float("nan")
    try:
        return float(value)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"!!float needs a number, not {value!r}",
                                                node.start_mark) from None


def _construct_mapping(loader, node, deep=False):
    seen: dict = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            tagged = (type(key), key)
            first = seen.get(tagged)
        except TypeError:  # an unhashable key: reported by PyYAML itself
            continue
        line = key_node.start_mark.line + 1
        if first is not None:
            raise DuplicateKeyError(None, None, f"key {key_node.value!r} appears twice, at line {first} and at line "
                                    f"{line} (YAML would silently keep only the last); remove one", key_node.start_mark)
        seen[tagged] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


YAML12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
YAML12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
YAML12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
YAML12Loader.construct_mapping = _construct_mapping


class YAMLDumper(yaml.SafeDumper):
    """Writes YAML that reads back as written, by YAML12Loader and by YAML 1.1 readers alike: text that
    either would read as something else (`NO`, `1e3`, `1:30`) is quoted. config.yaml and `check` use it."""

    yaml_implicit_resolvers: typing.ClassVar[dict] = {k: list(v) for k, v in
                                                      yaml.SafeDumper.yaml_implicit_resolvers.items()}


for _tag, _regexp, _first in _RESOLVERS:
    YAMLDumper.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def yaml_dump(data) -> str:
    """`data` as YAML (keys in their order) that `yaml_load` reads back equal (YAMLDumper)."""
    return yaml.dump(data, Dumper=YAMLDumper, sort_keys=False)


def yaml_load(text: str):
    """Parse YAML text with `YAML12Loader` (the one YAML reader of the project; safe: no Python objects)."""
    loader = YAML12Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line for a YAML error: what is wrong and where."""
    mark = getattr(e, "problem_mark", None)
    if isinstance(e, DuplicateKeyError):
        return f"duplicate key: {e.problem}"
    if isinstance(e, yaml.constructor.ConstructorError):
        problem = getattr(e, "problem", "") or ""
        line = f" (line {mark.line + 1})" if mark else ""
        if "could not determine a constructor" in problem:
            return f"YAML tags that construct objects are not allowed{line}: {problem}"
        return f"malformed YAML{line}: {problem}"
    line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(e, "problem", None) or "syntax error"
    return f"malformed YAML{line}: {problem}"


# ---------------------------------------------------------------------------------------------
# Reading files


def _depth(obj, limit: int, level: int = 0, max_nodes: int | None = None) -> int:
    """Deepest nesting level of obj (stops past `limit`). Iterative, and it counts values: YAML
    aliases can make a tiny file expand to billions of values ("billion laughs"), so more than
    `max_nodes` values raise ValueError instead of walking them all."""
    max_nodes = MAX_NODES if max_nodes is None else max_nodes
    deepest, seen, stack = level, 0, [(obj, level)]
    while stack:
        o, lv = stack.pop()
        seen += 1
        if seen > max_nodes:
            raise ValueError(f"more than {max_nodes} values (after expanding YAML aliases)")
        deepest = max(deepest, lv)
        if lv > limit:
            return lv
        if isinstance(o, dict):
            stack.extend((v, lv + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, lv + 1) for v in o)
    return deepest


def _file_type(mode: int) -> str:
    """What a file that is not a regular file is, in words (for the message that refuses it)."""
    for test, what in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return what
    return "a special file"


def read_text_file(path: str | os.PathLike, kind: str, empty_hint: str, encoding: str = "utf-8",
                   limit: int | None = None) -> str:
    """A small UTF-8 text file's content; missing, directory, unreadable, too large, binary, not
    UTF-8 or empty files are ScenarioErrors naming the file (`kind`: "YAML", "CSV"). Only regular
    files are read: a FIFO, socket or device (/dev/zero, /dev/stdin) is refused before it is opened
    (reading one would block or never end). The size is checked before reading (from stat) and
    again while reading (at most `limit` + 1 bytes), so no file is ever read whole first. Every
    file the program reads from the user goes through here (scenarios, sweeps, claims, catalogues,
    scheduler files)."""
    src = str(path)
    limit = MAX_FILE_BYTES if limit is None else int(limit)
    too_large = f"is larger than {limit / 1_000_000:g} MB; expected a small {kind} file"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ScenarioError(src, "", f"is a symbolic link to a missing file ({os.readlink(path)})") from None
        raise ScenarioError(src, "", "file not found") from None
    except OSError as e:
        raise ScenarioError(src, "", f"cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ScenarioError(src, "", f"is a directory; expected a {kind} file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or socket would block, a device never ends: refused before opening
        raise ScenarioError(src, "", f"is {_file_type(st.st_mode)}, not a regular file; expected a {kind} file")
    if st.st_size > limit:
        raise ScenarioError(src, "", too_large)
    try:  # O_NONBLOCK: were the file replaced by a FIFO since stat, opening it must not block either
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ScenarioError(src, "", f"cannot be read ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ScenarioError(src, "", f"is {_file_type(st.st_mode)}, not a regular file; expected a {kind} file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = None
            raw = fh.read(limit + 1)
    except OSError as e:
        raise ScenarioError(src, "", f"cannot be read ({e.strerror})") from None
    finally:
        if fd is not None:
            os.close(fd)
    if len(raw) > limit:
        raise ScenarioError(src, "", too_large)
    if b"\x00" in raw:
        raise ScenarioError(src, "", f"is a binary file; expected a {kind} text file")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise ScenarioError(src, "", f"is not UTF-8 text; expected a {kind} text file") from None
    if not text.strip():
        raise ScenarioError(src, "", f"is empty; expected {empty_hint}")
    return text


def read_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML mapping safely; every failure is a ScenarioError naming the file."""
    src = str(path)
    text = read_text_file(path, "YAML", "a YAML mapping of scenario fields")
    try:
        data = yaml_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(src, "", _yaml_problem(e)) from None
    except RecursionError:
        raise ScenarioError(src, "", f"nesting is too deep (more than {MAX_DEPTH} levels)") from None
    if data is None:
        raise ScenarioError(src, "", "is empty; expected a YAML mapping of scenario fields")
    if not isinstance(data, dict):
        raise ScenarioError(src, "", f"expected a YAML mapping of fields at the top level, got {type(data).__name__}")
    try:
        too_deep = _depth(data, MAX_DEPTH) > MAX_DEPTH
    except ValueError as e:
        raise ScenarioError(src, "", f"is too large: {e}; expected a small YAML mapping") from None
    if too_deep:
        raise ScenarioError(src, "", f"nesting is too deep (more than {MAX_DEPTH} levels)")
    return data


# ---------------------------------------------------------------------------------------------
# Overrides


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


def split_path(key: str) -> list[str]:
    """A dotted (or `__`-separated) field path as its parts."""
    return str(key).strip().replace("__", ".").split(".")


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
    import difflib

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


# ---------------------------------------------------------------------------------------------
# Scenarios


def resolve_data_path(path: str) -> Path:
    """A data file named in a scenario: as given (absolute or relative to the working directory),
    else relative to the project root."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return PROJECT_ROOT / p


def base_scenario(scenario, source: str, here: Path, what: str) -> tuple[dict, str]:
    """The base scenario of a sweep or claim file (`what`: "sweep", "claim"): its `scenario` field, a
    path relative to the file's folder `here`, an inline mapping, or None (all defaults). Returns (the
    mapping, the source name its errors are reported under)."""
    import copy

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


def validate_as(cls, data, source: str = ""):
    """`data` validated as the pydantic model `cls` (a scenario, a sweep or a claim file); its problems,
    all of them, as one ScenarioError naming the file and each field (`translate`)."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise translate(e, cls, source) from None


def _intervention_problems(data, source: str) -> list[ScenarioError]:
    """The problems of the interventions' `params` that can be found without a valid scenario (their
    schema), for a scenario that has other problems already: all are then reported at once."""
    from model.interventions import REGISTRY

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
    from model.interventions import validate_intervention
    from model.preflight import preflight

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
    import copy

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
    keys = [k for k in overrides if (kp := ".".join(split_path(k))) == path or path.startswith(kp + ".")]
    if not keys:  # a problem of a section (or the whole scenario) that holds overridden fields
        inside = [k for k in overrides if not path or ".".join(split_path(k)).startswith(path + ".")]
        if not inside:
            return e
        try:
            validate_scenario(original, src)
        except ScenarioError:
            return e  # the file alone is wrong already
        keys = inside
    label = ", ".join(override_label(k, overrides[k], override_source, labels) for k in keys)
    return OverrideError(label, path, e.message, keys[0] if len(keys) == 1 else "")
