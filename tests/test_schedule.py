"""The model's schedule (model/model.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.model import CityDiplomacyModel
from model.resources import update_funder_budgets


def test_model_years_and_steps(small_model):
    assert small_model.year == small_model.cfg.start_year - 1
    small_model.run()
    assert small_model.steps == 5
    assert small_model.year == small_model.cfg.start_year + 4
    ts = small_model.timeseries()
    # step 0 is the initial state, labelled with the year before the first step
    assert ts["step"].tolist() == list(range(6))
    assert ts["year"].tolist() == list(range(small_model.cfg.start_year - 1, small_model.cfg.start_year + 5))
    assert small_model.time == small_model.steps == 5
    assert not small_model.running


def test_pool_growth(small_model):
    pool0 = small_model.pool
    small_model.step()
    assert small_model.pool == pytest.approx(pool0)  # no growth in the first year
    small_model.step()
    assert small_model.pool == pytest.approx(pool0 * (1 + small_model.cfg.resources.growth))
    # budgets: exogenous pool plus what active networks mobilise (mobilisation x active networks)
    update_funder_budgets(small_model)
    n_act = int(small_model.networks.active.sum())
    expected = small_model.pool + small_model.cfg.resources.mobilisation * n_act
    assert small_model.funders.budget.sum() == pytest.approx(expected)


def test_same_seed_same_run(small_cfg):
    a = CityDiplomacyModel.from_scenario(small_cfg).run().timeseries()
    b = CityDiplomacyModel.from_scenario(small_cfg).run().timeseries()
    assert a.equals(b)


def test_state_invariants_after_run(small_model):
    small_model.run()
    c, nets = small_model.cities, small_model.networks
    n = nets.n
    assert c.priority.sum(axis=1) == pytest.approx(1.0)
    assert ((c.practice >= 0) & (c.practice <= 1)).all()
    assert ((nets.knowledge[:n] >= 0) & (nets.knowledge[:n] <= 1)).all()
    assert nets.agenda[:n][nets.active[:n]].sum(axis=1) == pytest.approx(1.0)
    assert ((small_model.countries.stance >= 0) & (small_model.countries.stance <= 1)).all()
    # memberships only in active networks, no duplicate pairs, within bincount
    mem = small_model.memberships
    assert nets.active[mem.net].all()
    keys = mem.city * n + mem.net
    assert len(np.unique(keys)) == len(keys)
    assert (nets.members[:n] == np.bincount(mem.net, minlength=n)).all()
