"""Interventions of your own (docs/plugins.md): `--plugin FILE.py|MODULE` loads them before the scenario
is read, in `run`, `sweep`, `claims` and `check`; their source travels with each run to worker
processes (and Dask workers); mistakes are one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run as cli
from model import interventions as iv_mod
from model.config import ScenarioError

PLUGIN = REPO / "docs" / "plugins" / "funding_surge.py"
SCENARIO = {"name": "surge", "seed": 1, "steps": 4, "start_year": 2000, "cities": {"n": 80},
            "networks": {"initial": 6},
            "interventions": [{"kind": "funding_surge", "start": 2001, "params": {"share": 1.0}}]}


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test loads its plug-ins afresh; the registry is as before afterwards."""
    before, loaded = dict(iv_mod.REGISTRY), dict(iv_mod._PLUGINS)
    yield
    iv_mod.REGISTRY.clear()
    iv_mod.REGISTRY.update(before)
    iv_mod._PLUGINS.clear()
    iv_mod._PLUGINS.update(loaded)


def test_plugin_from_a_file_runs_in_a_sweep_with_2_workers(tmp_path, capsys):
    scen = tmp_path / "surge.yaml"
    scen.write_text(yaml.safe_dump(SCENARIO))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"scenario": "surge.yaml", "seed": 3, "replications": 1,
                                     "parameters": {"interventions.0.params.share": [0.0, 2.0]},
                                     "record": {"metrics": ["n_networks", "funding_hhi"], "every_step": True}}))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(sweep), "--plugin", str(PLUGIN), "--workers", "2", "--out", str(out),
                     "--quiet"]) == 0, capsys.readouterr().err
    assert not (out / "failed.jsonl").exists()
    res = pd.read_parquet(out / "results.parquet")
    assert sorted(res["interventions.0.params.share"].unique()) == [0.0, 2.0]
    # the run in a worker is the run in this process: the plug-in acted there as here
    from analysis.sweep.loop import run_one

    for share in (0.0, 2.0):
        here = run_one(str(scen), {"interventions.0.params.share": share}, int(res["seed"].iloc[0]),
                       record={"metrics": ["n_networks", "funding_hhi"]})
        there = res[res["interventions.0.params.share"] == share].sort_values("step")
        # funding_hhi is a flow: NaN at step 0 (nothing has flowed), so compare as arrays with NaN equal to NaN
        np.testing.assert_array_equal(there["funding_hhi"].to_numpy(float), here["funding_hhi"].to_numpy(float))
    # and it acted: doubling every funder's budget from 2001 on changes the run
    a, b = (res[res["interventions.0.params.share"] == s].sort_values("step")["funding_hhi"].to_numpy(float)
            for s in (0.0, 2.0))
    assert np.isnan(a[0]) and np.isnan(b[0])
    np.testing.assert_array_equal(a[:2], b[:2])  # steps 0 and 1 (2000): before it
    assert not np.array_equal(a, b, equal_nan=True)


def test_plugin_in_run_and_check(tmp_path, capsys):
    scen = tmp_path / "surge.yaml"
    scen.write_text(yaml.safe_dump(SCENARIO))
    assert cli.main(["check", str(scen)]) == 2  # without the plug-in: an unknown kind
    assert "unknown kind 'funding_surge'" in capsys.readouterr().err
    assert cli.main(["run", str(scen), "--plugin", str(PLUGIN), "--out", str(tmp_path / "o"), "--quiet",
                     "--no-figures"]) == 0
    cfg = yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())
    assert cfg["interventions"][0]["kind"] == "funding_surge"
    assert cli.main(["check", str(scen), "--plugin", str(PLUGIN), "--set", "interventions.0.params.shar=1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --set interventions.0.params.shar=1: unknown field; expected one of: share; did you mean share?\n"


def test_module_plugin_and_worker_side_loading(tmp_path, monkeypatch):
    (tmp_path / "mypack").mkdir()
    (tmp_path / "mypack" / "__init__.py").write_text("")
    (tmp_path / "mypack" / "surge2.py").write_text(PLUGIN.read_text().replace('"funding_surge"', '"surge_two"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert iv_mod.load_plugin("mypack.surge2") == ("surge_two",)
    assert iv_mod.load_plugin("mypack.surge2") == ("surge_two",)  # once per process
    # a worker process gets the plug-ins of the parent as `loaded_plugins()` and registers them first
    shipped = iv_mod.loaded_plugins()
    iv_mod.REGISTRY.pop("surge_two")
    iv_mod._PLUGINS.clear()
    iv_mod.ensure_plugins([("file", "surge.py", PLUGIN.read_text())])
    assert "funding_surge" in iv_mod.REGISTRY
    assert shipped == [("module", "mypack.surge2", "mypack.surge2")]


def _bad(tmp_path, name: str, text: str) -> str:
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def test_plugin_mistakes_exit_2(tmp_path, capsys):
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\n")
    clash = PLUGIN.read_text().replace('"funding_surge"', '"pandemic"')
    cases = [
        (str(tmp_path / "missing.py"), f"--plugin {tmp_path / 'missing.py'}: file not found"),
        (_bad(tmp_path, "none.py", "X = 1\n"),
         (f"--plugin {tmp_path / 'none.py'}: defines no intervention; expected a subclass of "
          "model.interventions.Intervention with a `kind`, decorated with @register (docs/plugins.md)")),
        (_bad(tmp_path, "clash.py", clash),
         (f"--plugin {tmp_path / 'clash.py'}: kind 'pandemic' is a built-in intervention; expected a kind of its "
          "own (rename it)")),
        (_bad(tmp_path, "broken.py", "def f(:\n"),
         f"--plugin {tmp_path / 'broken.py'}: cannot be loaded (line 1): SyntaxError: "),
        ("no_such_module_xyz", "--plugin no_such_module_xyz: no module named 'no_such_module_xyz'"),
        (_bad(tmp_path, "s2.yaml", "name: s\n"),
         (f"--plugin {tmp_path / 's2.yaml'}: expected a Python file (ending in .py) or an importable module name "
          "such as mypackage.interventions")),
    ]
    for spec, expected in cases:
        before = dict(iv_mod.REGISTRY)
        assert cli.main(["check", str(scen), "--plugin", spec]) == 2, spec
        err = capsys.readouterr().err
        assert err.startswith(f"error: {expected}") and len(err.strip().splitlines()) == 1, err
        assert iv_mod.REGISTRY == before  # nothing half-registered
    assert iv_mod.REGISTRY["pandemic"].__module__ == "model.interventions"
    assert cli.main(["check", str(scen), "--plugin", str(PLUGIN), "--plugin", str(PLUGIN)]) == 2
    assert "is given twice" in capsys.readouterr().err
    with pytest.raises(ScenarioError, match="kind 'funding_surge' is the kind of citydip_plugin_funding_surge_"):
        iv_mod.load_plugin(str(PLUGIN))
        iv_mod.load_plugin(_bad(tmp_path, "copy.py", PLUGIN.read_text() + "\n# another file, the same kind\n"))
