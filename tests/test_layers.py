"""The inputs by layer (model/files.py, schema.py, overrides.py, loading.py): every model module imports
first in a fresh interpreter, the layers import only those below them, and no import inside a
function guards a cycle between them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(f"model.{p.stem}" for p in (ROOT / "model").glob("*.py") if p.stem != "__init__") + ["model"]

# each input layer, and the model modules it may import (besides model.config, at the bottom)
LAYERS = {
    "files": set(),
    "schema": set(),
    "interventions": {"files", "schema", "resources", "state", "compiled"},
    "realdata": {"files", "cities", "state", "compiled"},
    "preflight": {"files", "schema", "cities", "metrics", "realdata", "state", "compiled"},
    "overrides": {"files", "schema", "interventions"},
    "loading": {"files", "schema", "overrides", "interventions", "preflight"},
}


def _model_imports(name: str) -> tuple[set[str], set[str]]:
    """(model modules imported at the top level, those imported inside a function) by model/NAME.py."""
    tree = ast.parse((ROOT / "model" / f"{name}.py").read_text(encoding="utf-8"))
    top, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("model."):
            (top if node in tree.body else inner).add(node.module.split(".")[1])
    return top, inner


def test_every_model_module_imports_first_in_a_fresh_interpreter():
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    procs = {m: subprocess.Popen([sys.executable, "-c", f"import {m}"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for m in MODULES}
    failed = {}
    for m, p in procs.items():
        _, err = p.communicate(timeout=300)
        if p.returncode != 0:
            failed[m] = err.strip().splitlines()[-1:]
    assert not failed, failed


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_input_layers_import_only_those_below(name):
    top, inner = _model_imports(name)
    assert top - {"config"} <= LAYERS[name], f"model/{name}.py imports {sorted(top - {'config'} - LAYERS[name])}"
    assert not inner & ({"files", "schema", "overrides", "loading", "interventions", "preflight", "realdata"}), (
        f"model/{name}.py imports {sorted(inner)} inside a function")


def test_loading_reexports_the_layers_below():
    import model.files
    import model.loading
    import model.overrides
    import model.schema

    for mod in (model.files, model.schema, model.overrides):
        for n, obj in vars(mod).items():
            if not n.startswith("_") and getattr(obj, "__module__", None) == mod.__name__:
                assert getattr(model.loading, n) is obj, f"model.loading.{n}"
