"""Synthetic cities and countries (model/cities.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.cities import synthetic_cities, synthetic_countries
from model.loading import load_scenario


def test_synthetic_cities():
    cfg = load_scenario(None, overrides={"cities.n": 3000, "seed": 7})
    rng = np.random.default_rng(7)
    high = np.array([i.politics == "high" for i in cfg.issues])
    countries = synthetic_countries(cfg, rng, len(cfg.issues), high)
    c = synthetic_cities(cfg, rng, countries, high)
    cc = cfg.cities
    assert c.n == 3000
    assert (c.population >= cc.pop_min).all() and (c.population <= cc.pop_max).all()
    per_capita = np.where(c.north, cc.budget_per_capita_north, cc.budget_per_capita_south)
    city_budget = c.population * per_capita / 1e6
    assert (c.budget > 0).all()
    assert (c.budget <= 0.01 * city_budget * (1 + 1e-12)).all()      # at most 1% of the city budget
    assert np.median(c.budget / city_budget) < 0.005                 # typically well under 1%
    assert c.priority.sum(axis=1) == pytest.approx(1.0)
    assert (c.priority >= 0).all()
    assert ((c.practice >= 0) & (c.practice <= 1)).all()
    assert ((c.norm >= 0) & (c.norm <= 1)).all()
    assert ((c.capacity > 0) & (c.capacity <= 1)).all()
    assert ((c.attention >= cc.attention_min) & (c.attention <= cc.attention_max)).all()
    assert (countries.north[c.country] == c.north).all()
    assert (countries.region[c.country] == c.region).all()
    # high-politics practice is low: scaled by 0.3
    assert c.practice[:, high].mean() < c.practice[:, ~high].mean()
    # Zipf: most cities are small
    assert np.median(c.population) < 10 * cc.pop_min
