"""Reproducibility (one seeded numpy Generator, docs/ODD.md section 11), the flat API of model.api and
the Mesa integration (agents as thin views, AgentSet tools, removal of dissolved networks)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from model import CityDiplomacyModel, load_scenario
from model.agents import CityAgent, NetworkAgent
from model.metrics import COHORT_METRICS, metric_names

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.yaml"
SMALL = {"cities.n": 300, "steps": 8}


def run_model(seed=None, rng=None, **overrides) -> CityDiplomacyModel:
    ov = dict(SMALL)
    ov.update({k.replace("__", "."): v for k, v in overrides.items()})
    if seed is not None:
        ov["seed"] = seed
    cfg = load_scenario(BASELINE, overrides=ov)
    return CityDiplomacyModel(cfg, rng=cfg.seed if rng is None else rng).run()


def tables(m: CityDiplomacyModel) -> dict[str, pd.DataFrame]:
    return {"timeseries": m.timeseries(), "networks": m.networks_table(), "cities": m.cities_table()}


# ------------------------------------------------------------------------------------ same seed, other seed
@pytest.fixture(scope="module")
def twins():
    return run_model(seed=7), run_model(seed=7)


@pytest.mark.parametrize("table", ["timeseries", "networks", "cities"])
def test_same_seed_identical_tables(twins, table):
    a, b = (tables(m)[table] for m in twins)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_same_seed_identical_state(twins):
    a, b = twins
    for name in ("practice", "norm", "priority", "visibility"):
        np.testing.assert_array_equal(getattr(a.cities, name), getattr(b.cities, name), err_msg=name)
    np.testing.assert_array_equal(a.memberships.city, b.memberships.city)
    np.testing.assert_array_equal(a.memberships.net, b.memberships.net)
    np.testing.assert_array_equal(a.flows.allocation, b.flows.allocation)
    np.testing.assert_array_equal(a.countries.stance, b.countries.stance)


def test_different_seed_differs(twins):
    other = run_model(seed=8)
    a, b = twins[0].timeseries(), other.timeseries()
    assert list(a.columns) == list(b.columns)
    cols = metric_names(twins[0].issue_names)
    assert not np.allclose(a[cols].to_numpy(float), b[cols].to_numpy(float)), "seed has no effect"
    assert not twins[0].cities_table()["population"].equals(other.cities_table()["population"])


def test_rng_argument_equals_scenario_seed():
    """CityDiplomacyModel(cfg, rng=42) is the same run as a scenario with seed 42."""
    a = run_model(seed=42)
    b = run_model(seed=0, rng=42)
    pd.testing.assert_frame_equal(a.timeseries(), b.timeseries(), check_exact=True)
    pd.testing.assert_frame_equal(a.networks_table(), b.networks_table(), check_exact=True)


def test_rerun_in_one_process_does_not_leak_state():
    """A model run in between (other seed, an intervention) does not change a later run."""
    first = run_model(seed=3)
    run_model(seed=4, interventions=[{"kind": "pandemic", "start": 1982}])
    again = run_model(seed=3)
    pd.testing.assert_frame_equal(first.timeseries(), again.timeseries(), check_exact=True)


def test_step_by_step_equals_run():
    cfg = load_scenario(BASELINE, overrides={**SMALL, "seed": 5})
    a = CityDiplomacyModel.from_scenario(cfg).run()
    b = CityDiplomacyModel.from_scenario(cfg)
    while b.running:
        b.step()
    pd.testing.assert_frame_equal(a.timeseries(), b.timeseries(), check_exact=True)
    assert b.steps == cfg.steps


def _cli_run(out: Path, hashseed: str):
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    args = ["run", "scenarios/baseline.yaml", "--out", str(out), "--steps", "4", "--set", "cities.n=200",
            "--seed", "11", "--quiet", "--no-figures"]
    return subprocess.run([sys.executable, "run.py", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_same_seed_identical_files_across_processes(tmp_path):
    """Two processes (different hash seeds) write identical tables for the same seed."""
    with ThreadPoolExecutor(2) as ex:
        ra, rb = ex.map(lambda a: _cli_run(tmp_path / a[0], a[1]), [("a", "1"), ("b", "2")])
    assert ra.returncode == 0 and rb.returncode == 0, ra.stderr + rb.stderr
    for name in ("timeseries.parquet", "networks.parquet", "cities.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / name), pd.read_parquet(tmp_path / "b" / name),
                                      check_exact=True, obj=name)
    assert (tmp_path / "a" / "timeseries.csv").read_bytes() == (tmp_path / "b" / "timeseries.csv").read_bytes()
    assert (tmp_path / "a" / "config.yaml").read_text() == (tmp_path / "b" / "config.yaml").read_text()


# ------------------------------------------------------------------------------------ model.api.run
@pytest.fixture(scope="module")
def api_out():
    from model.api import run

    return run(cities__n=200, steps=3, seed=1)


def test_api_run_returns_floats_and_timeseries(api_out):
    names = metric_names(load_scenario(BASELINE).issue_names)
    assert set(api_out) == set(names) | {"timeseries"}
    for k in names:
        assert type(api_out[k]) is float, f"{k} is {type(api_out[k]).__name__}"
        assert np.isfinite(api_out[k]) or k in COHORT_METRICS, k  # those: NaN up to the reference year 2019
    ts = api_out["timeseries"]
    assert isinstance(ts, pd.DataFrame)
    assert list(ts.columns) == ["step", "year"] + names
    assert ts["step"].tolist() == [0, 1, 2, 3]
    for k in names:
        assert api_out[k] == pytest.approx(float(ts[k].iloc[-1]), rel=1e-12, abs=1e-12, nan_ok=True), k


def test_api_run_is_deterministic(api_out):
    from model.api import run

    again = run(cities__n=200, steps=3, seed=1)
    pd.testing.assert_frame_equal(api_out["timeseries"], again["timeseries"], check_exact=True)
    def finals(out):
        return {k: v for k, v in out.items() if k != "timeseries"}

    assert pd.Series(finals(api_out)).equals(pd.Series(finals(again)))  # NaN where NaN
    other = run(cities__n=200, steps=3, seed=2)
    assert not other["timeseries"].equals(api_out["timeseries"])


def test_api_run_uses_baseline_and_flat_paths(api_out):
    """Flat names map to nested fields (`resources__pool`) and the same run as the Python API."""
    from model.api import run

    cfg = load_scenario(BASELINE, overrides={"cities.n": 200, "steps": 3, "seed": 1})
    m = CityDiplomacyModel.from_scenario(cfg).run()
    pd.testing.assert_frame_equal(m.timeseries(), api_out["timeseries"], check_exact=True)
    poorer = run(cities__n=200, steps=3, seed=1, resources__pool=1.0, resources__mobilisation=0.0)
    assert not poorer["timeseries"].equals(api_out["timeseries"])


def test_api_run_is_picklable(api_out):
    from model.api import run

    assert pickle.loads(pickle.dumps(run)) is run
    back = pickle.loads(pickle.dumps(api_out))
    pd.testing.assert_frame_equal(back["timeseries"], api_out["timeseries"])


def test_api_run_rejects_unknown_parameter():
    from model.api import run
    from model.config import ScenarioError

    with pytest.raises(ScenarioError, match="poool"):
        run(cities__n=200, steps=1, resources__poool=1)


# ------------------------------------------------------------------------------------ Mesa integration
@pytest.fixture(scope="module")
def mesa_model():
    # long enough, and with a member floor high enough, that some networks dissolve
    return run_model(seed=1, steps=20, **{"networks.min_members": 8, "networks.floor_years": 2})


def test_is_a_mesa_model(mesa_model):
    m = mesa_model
    assert isinstance(m, mesa.Model)
    assert m.steps == 20 and m.running is False
    assert isinstance(m.rng, np.random.Generator)


def test_agents_are_cities_and_active_networks(mesa_model):
    m = mesa_model
    by_type = m.agents_by_type
    assert set(by_type) == {CityAgent, NetworkAgent}
    cities, nets = by_type[CityAgent], by_type[NetworkAgent]
    assert len(cities) == m.cities.n
    n_active = int(m.networks.active[: m.networks.n].sum())
    assert len(nets) == n_active
    assert len(m.agents) == m.cities.n + n_active
    assert sorted(a.index for a in cities) == list(range(m.cities.n))
    assert sorted(a.index for a in nets) == sorted(np.flatnonzero(m.networks.active[: m.networks.n]).tolist())
    ids = [a.unique_id for a in m.agents]
    assert len(set(ids)) == len(ids)


def test_dissolved_networks_are_removed(mesa_model):
    m = mesa_model
    gone = np.flatnonzero(~m.networks.active[: m.networks.n])
    assert len(gone) > 0, "precondition: some networks dissolved"
    for k in gone:
        agent = m.network_agents[int(k)]
        assert agent not in m.agents
        assert agent not in m.agents_by_type[NetworkAgent]
        assert agent.members == 0 and agent.member_ids == [] and not agent.active


def test_agentset_select_and_agg(mesa_model):
    m = mesa_model
    c = m.cities
    north = m.agents_by_type[CityAgent].select(lambda a: a.north)
    assert len(north) == int(c.north.sum()) > 0
    assert north.agg("population", sum) == pytest.approx(float(c.population[c.north].sum()), rel=1e-12)
    assert all(isinstance(a, CityAgent) for a in north)
    big = m.agents_by_type[CityAgent].select(lambda a: a.population >= 1e6)
    assert len(big) == int((c.population >= 1e6).sum())
    nets = m.agents_by_type[NetworkAgent]
    assert nets.agg("members", sum) == len(m.memberships)
    act = m.networks.active[: m.networks.n]
    assert nets.agg("funds", max) == pytest.approx(float(m.networks.funds[: m.networks.n][act].max()))
    members = m.agents_by_type[CityAgent].agg("memberships", sum)
    assert members == len(m.memberships)


def test_agentset_groupby_region(mesa_model):
    m = mesa_model
    counts = m.agents_by_type[CityAgent].groupby("region").count()
    per_region = np.bincount(m.cities.region, minlength=m.n_regions)
    expected = {m.region_names[r]: int(k) for r, k in enumerate(per_region) if k}
    assert counts == expected


def test_agents_are_views_onto_arrays(mesa_model):
    m = mesa_model
    a = m.city_agents[5]
    assert a.population == m.cities.population[5]
    assert a.practice_mean == pytest.approx(float(m.cities.practice[5].mean()))
    old = a.budget
    try:
        a.budget = 123.0
        assert m.cities.budget[5] == 123.0  # writes go to the arrays
    finally:
        a.budget = old
    a.priority[:] = a.priority  # a view, not a copy
    assert np.shares_memory(a.priority, m.cities.priority)
    net = next(iter(m.agents_by_type[NetworkAgent]))
    assert net.theme in m.issue_names and net.rule in ("open", "threshold", "invitation", "competitive")
    for city in net.member_ids[:5]:
        assert net.index in m.city_agents[city].network_ids
