"""Shared fixtures for the unit tests.

Two kinds of models are used:
- `small_cfg` / `small_model`: the default scenario at a small size (200 cities, 10 initial
  networks, 5 steps), for integration-level checks of phases and interventions.
- `make_model` + `add_networks` + `set_members`: tiny, fully controlled states (a few issues,
  10 cities, no initial networks, one funder) whose arrays the tests overwrite with small known
  numbers, so that a single phase function can be compared with hand-computed values.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.founding import found_networks
from model.loading import load_scenario
from model.membership import refresh_counts
from model.model import CityDiplomacyModel
from model.state import GLOBAL_SCOPE, OPEN, Memberships

SMALL = {"cities.n": 200, "steps": 5, "networks.initial": 10}

# Three low-politics issues: the simplest arithmetic.
ABC = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
# One low-politics issue and the high-politics 'peace'.
A_PEACE = [{"name": "a"}, {"name": "peace", "politics": "high"}]

TINY = {
    "cities.n": 10,
    "cities.n_countries": 6,
    "networks.initial": 0,
    "networks.founding_rate": 0.0,
    "networks.demand_rate": 0.0,
    "resources.n_funders": 1,
    "resources.regional_funders": 0.0,
    "steps": 5,
    "start_year": 2000,
    # every city has international capacity: these tests check one phase's arithmetic on chosen
    # arrays (capacity, model/capacity.py, has its own tests in test_capacity.py)
    "capacity.enabled": False,
    # no money beyond the fee, one cheap slot and one declaration level: the hand-computed utilities and
    # choices use fees and engagements as set (the spreads and the participation cost have their own
    # tests in test_c8_exclusion.py)
    "membership.participation_cost": 0.0,
    "cities.slot_spread": 0.0,
    "networks.declaration_spread": 0.0,
}


def scenario(overrides: dict | None = None, base: dict | None = None):
    """Validated scenario: `base` (default SMALL) updated with `overrides`."""
    ov = dict(SMALL if base is None else base)
    ov.update(overrides or {})
    return load_scenario(None, overrides=ov)


@pytest.fixture
def small_cfg():
    return load_scenario(None, overrides=dict(SMALL))


@pytest.fixture
def small_model(small_cfg):
    return CityDiplomacyModel.from_scenario(small_cfg)


@pytest.fixture
def make_model():
    """Factory: a tiny model (10 cities, no networks, one global funder) with `issues` and overrides."""

    def _make(issues=None, **overrides):
        ov = dict(TINY)
        if issues is not None:
            ov["issues"] = [dict(i) for i in issues]
        ov.update({k.replace("__", "."): v for k, v in overrides.items()})
        return CityDiplomacyModel.from_scenario(load_scenario(None, overrides=ov))

    return _make


@pytest.fixture
def add_networks():
    """Factory: add k networks without founders and overwrite their arrays with known values.

    Keyword arguments name arrays of `model.networks` (agenda, knowledge, standard, partner_share,
    partner_pref, openness, fee, secretariat, efficiency, sponsor, funds, programme, ...); each is set row by row.
    Defaults that matter for the phases: no partners, no sponsor, no fee, full engagement (1),
    distinct standards.
    """

    def _add(model, k, themes=None, rules=None, scopes=None, **arrays):
        themes = np.zeros(k, dtype=np.int64) if themes is None else np.asarray(themes, dtype=np.int64)
        rules = np.full(k, OPEN, dtype=np.int64) if rules is None else np.asarray(rules, dtype=np.int64)
        scopes = np.full(k, GLOBAL_SCOPE, dtype=np.int64) if scopes is None else np.asarray(scopes, dtype=np.int64)
        idx = found_networks(model, k, model.year, themes=themes, rules=rules, scopes=scopes, founders=0)
        nets = model.networks
        nets.partner_share[idx] = 0.0
        nets.sponsor[idx] = -1
        nets.fee[idx] = 0.0
        nets.engagement[idx] = 1.0
        for name, value in arrays.items():
            arr = getattr(nets, name)
            arr[idx] = np.asarray(value, dtype=arr.dtype)
        return idx

    return _add


@pytest.fixture
def set_members():
    """Factory: replace all memberships by the given {network: [cities]} and refresh the counts."""

    def _set(model, members: dict[int, list[int]], year: int = 0):
        city = [c for k, cs in members.items() for c in cs]
        net = [k for k, cs in members.items() for _ in cs]
        model.memberships = Memberships(city=np.array(city, dtype=np.int64), net=np.array(net, dtype=np.int64),
                                        since=np.full(len(city), year, dtype=np.int64))
        refresh_counts(model)
        return model.memberships

    return _set


@pytest.fixture
def cli_run(tmp_path, monkeypatch, capsys):
    """`cli_run(args)`: run.py's main in tmp_path; returns (exit code, non-empty stderr lines, stdout)."""
    import run as cli

    monkeypatch.chdir(tmp_path)

    def call(args):
        rc = cli.main([str(a) for a in args])
        cap = capsys.readouterr()
        return rc, [ln for ln in cap.err.splitlines() if ln.strip()], cap.out

    return call
