"""Files and YAML: the lowest layer of the inputs (it imports nothing of the model but its error type).

- `read_text_file`: a small UTF-8 text file, with size limits, refusing FIFOs, devices and binaries;
- `read_yaml` / `yaml_load` / `yaml_dump`: the one YAML reading of the project (safe, the YAML 1.2
  core schema, no duplicate keys, depth and size limits) and the writing that reads back as written;
- `resolve_data_path` / `PROJECT_ROOT`: where a data file named in a scenario is.

Every problem is a `ScenarioError` naming the file. Above it: `model/schema.py` (the schema walker
and readable validation errors), `model/overrides.py` (dotted paths and overrides) and
`model/loading.py` (the scenario).
"""

from __future__ import annotations

import os
import re
import stat
import typing
from pathlib import Path

import yaml

from model.config import ScenarioError

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
# Data files


def resolve_data_path(path: str) -> Path:
    """A data file named in a scenario: as given (absolute or relative to the working directory),
    else relative to the project root."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return PROJECT_ROOT / p
