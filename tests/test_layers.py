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


# ---------------------------------------------------------------------------------------------
# One grammar of dotted paths: interventions.<kind>.<param> in --set, sweeps and claim files

REMEDIES = ROOT / "scenarios" / "remedies.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def _pandemic(out: str) -> dict:
    from model.loading import yaml_load

    return next(iv for iv in yaml_load(out.split("\n", 1)[1] if out.startswith("#") else out)["interventions"]
                if iv["kind"] == "pandemic")


def test_set_by_kind_sets_every_intervention_of_that_kind(cli_run):
    rc, err, out = cli_run(["check", REMEDIES, "--set", "interventions.pandemic.selectivity=0"])
    assert rc == 0, err
    assert _pandemic(out)["params"]["selectivity"] == 0
    from model.loading import load_scenario

    cfg = load_scenario(REMEDIES, {"interventions.pandemic.selectivity": 0.5, "interventions.pandemic.budget_cut": 0})
    assert [iv.params for iv in cfg.interventions if iv.kind == "pandemic"] == [{"selectivity": 0.5, "budget_cut": 0}]
    by_index = load_scenario(REMEDIES, {"interventions.4.params.selectivity": 0.5, "interventions.4.params.budget_cut": 0})
    assert by_index == cfg


@pytest.mark.parametrize("scenario, pair, expected", [
    (BASELINE, "interventions.pandemic.selectivity=0",
     ("error: --set interventions.pandemic.selectivity=0: the scenario has no intervention of kind 'pandemic' (it has "
      "none); expected a kind it has, or an intervention of that kind added under interventions")),
    (REMEDIES, "interventions.pandemic.selectivity=20",
     "error: --set interventions.pandemic.selectivity=20: interventions.4.params.selectivity: must be <= 10 (got 20)"),
    (REMEDIES, "interventions.pandemik.selectivity=0",
     "error: --set interventions.pandemik.selectivity=0: unknown intervention kind 'pandemik'; expected one of: c"),
    (REMEDIES, "interventions.pandemic.selectivty=0",
     "error: --set interventions.pandemic.selectivty=0: pandemic has no parameter 'selectivty'; expected one of: h"),
])
def test_set_by_kind_errors_exit_2(cli_run, scenario, pair, expected):
    rc, err, _ = cli_run(["check", scenario, "--set", pair])
    assert rc == 2
    assert err[0].startswith(expected), err


def test_the_kinds_a_scenario_has_are_named(tmp_path):
    from model.loading import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match="no intervention of kind 'secretariat_exchange' \\(its interventions are of "
                                            "kind pandemic\\)"):
        load_scenario({"interventions": [{"kind": "pandemic", "start": 2000}]},
                      {"interventions.secretariat_exchange.rate": 0.1})


def test_the_app_override_box_takes_parameters_by_kind():
    from analysis.server.controls import build_scenario
    from model.loading import parse_overrides

    cfg, _ = build_scenario(REMEDIES, parse_overrides("cities.n=200; interventions.pandemic.selectivity=0", source="overrides"))
    assert next(iv for iv in cfg.interventions if iv.kind == "pandemic").params == {"selectivity": 0}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sweep_over_a_parameter_by_kind(tmp_path):
    from analysis.sweep.loop import run_one
    from analysis.sweep.plan import load_sweep
    from model.loading import load_scenario

    f = _write(tmp_path / "sw.yaml", f"""
scenario: {REMEDIES}
set: {{cities.n: 200, networks.initial: 8, interventions.pandemic.budget_cut: 0.1}}
steps: 2
replications: 1
parameters:
  interventions.pandemic.selectivity: [0, 2.5]
design: grid
record: {{metrics: [n_networks], every_step: false}}
""")
    sw = load_sweep(f)
    assert sw.paths == ["interventions.pandemic.selectivity"] and sw.kinds == {"interventions.pandemic.selectivity": "float"}
    assert [p["interventions.pandemic.selectivity"] for p in sw.points] == [0, 2.5]
    assert next(iv for iv in sw.base["interventions"] if iv["kind"] == "pandemic")["params"]["budget_cut"] == 0.1
    cfg = load_scenario(sw.base, sw.points[1], source="sweep", override_source="sweep")
    assert next(iv for iv in cfg.interventions if iv.kind == "pandemic").params["selectivity"] == 2.5
    assert len(run_one(sw.base, sw.points[1], seed=sw.seeds[0], steps=1, record=sw.record)) == 1


@pytest.mark.parametrize("body, where, message", [
    ("set: {interventions.pandemic.selectivity: 0}\nparameters: {resources.pool: [50, 60]}",
     "set.interventions.pandemic.selectivity", "the scenario has no intervention of kind 'pandemic'"),
    ("parameters: {interventions.pandemic.selectivity: [0, 1]}",
     "parameters.interventions.pandemic.selectivity", "the scenario has no intervention of kind 'pandemic'"),
])
def test_sweep_by_kind_on_a_scenario_without_the_kind(tmp_path, body, where, message):
    from analysis.sweep.plan import load_sweep
    from model.loading import ScenarioError

    f = _write(tmp_path / "sw.yaml", f"scenario: {BASELINE}\nsteps: 2\nreplications: 1\n{body}\n")
    with pytest.raises(ScenarioError) as e:
        load_sweep(f)
    assert (e.value.source, e.value.path) == (str(f), where) and message in e.value.message


# ---------------------------------------------------------------------------------------------
# Layers of overrides on a base scenario (model.loading.layered_scenario), shared by sweeps and claims


def test_a_layer_error_names_the_last_layer_that_set_the_field():
    from model.loading import Layer, ScenarioError, layered_scenario

    layers = [Layer("set", {"resources.pool": 10}), Layer("quick.set", {"resources.pool": -1})]
    with pytest.raises(ScenarioError) as e:
        layered_scenario({}, "base.yaml", layers, "claim.yaml")
    assert str(e.value) == "claim.yaml: quick.set.resources.pool: must be >= 0 (got -1)"
    with pytest.raises(ScenarioError, match=r"^claim.yaml: scenario.steps: must be >= 1"):
        layered_scenario({"steps": 0}, "claim.yaml", layers[:1], "claim.yaml", inline=True)
    with pytest.raises(ScenarioError, match=r"^base.yaml: steps: must be >= 1"):
        layered_scenario({"steps": 0}, "base.yaml", layers[:1], "claim.yaml")
    cfg = layered_scenario({}, "base.yaml", layers[:1], "claim.yaml", fields={"steps": 3})
    assert (cfg.resources.pool, cfg.steps) == (10, 3)


def test_a_claim_resolves_on_another_base_scenario():
    from analysis.claims.plan import load_claim

    claim = ROOT / "scenarios" / "claims" / "C8.yaml"
    plan = load_claim(claim)
    other = load_claim(claim, scenario={"cities": {"n": 250}, "networks": {"initial": 10}})
    assert plan.base["cities"]["n"] == 2000 and other.base["cities"]["n"] == 250
    assert [(a.role, a.arm, a.where) for a in other.arms] == [(a.role, a.arm, a.where) for a in plan.arms]
    assert all(a.data["cities"]["n"] == 250 for a in other.arms + other.lhs_arms)


def test_a_sweep_run_validates_its_scenario_once(monkeypatch):
    """One validation per run: the sweep's worker validates the base with its overrides, and the run with its
    seed reuses that scenario (model.api.run_scenario: a seed alone is no reason to validate again)."""
    import model.loading as L
    from analysis.sweep.task import run_one
    from model.api import run_scenario

    calls = []
    orig = L.validate_scenario
    monkeypatch.setattr(L, "validate_scenario", lambda *a, **k: calls.append(1) or orig(*a, **k))
    base = str(ROOT / "scenarios" / "baseline.yaml")
    ts = run_one(base, {"cities.n": 200, "steps": 2}, 5)
    assert len(calls) == 1 and len(ts) == 3
    # the same run as a scenario validated with that seed written in
    again = run_scenario(L.load_scenario(base, {"cities.n": 200, "steps": 2, "seed": 5}), tables=False).timeseries
    assert ts["n_networks"].tolist() == again["n_networks"].tolist()
    # a seed the schema would refuse still goes through validation and its message
    with pytest.raises(L.ScenarioError, match="seed"):
        run_scenario(L.load_scenario(base, {"cities.n": 200, "steps": 2}), seed=-1, tables=False)
