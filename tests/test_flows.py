"""The declared homes of what phases hand to each other (`model.flows`, docs/ODD.md 2.8) and of what is
fixed once the model is built (`model.fixed`, 2.9): no hand-off or cache lives as a loose attribute of
the model, flows are reset at the start of a step (except the carried funding share), and the
observer only reads."""

from __future__ import annotations

import dataclasses

import numpy as np

from model import metrics
from model.state import Fixed, Flows

LOOSE = ("gains", "last_churn", "new_founders", "reviewers", "last_funding_share", "io_overhead_spent",
         "unallocated", "coordination_spent", "allocation", "median_budget", "size_frac", "_scope_cities",
         "_size_classes", "_strata", "_small_weights", "_group_means")


def test_no_loose_hand_offs_or_caches(small_model):
    m = small_model
    m.run(2)
    assert isinstance(m.flows, Flows) and isinstance(m.fixed, Fixed)
    assert [a for a in LOOSE if a in vars(m)] == []


def test_flows_reset_at_the_start_of_a_step_except_the_funding_share(small_model):
    m = small_model
    m.run(2)
    share = m.flows.funding_share
    assert share is not None and np.isfinite(share).all()
    m.flows.churn, m.flows.io_overhead_spent = 0.3, 1.0
    m.flows.gains[:] = 1.0
    m.flows.new_founders[:] = True
    m.flows.reset()
    assert m.flows.funding_share is share  # carried into next year's founding
    assert m.flows.churn == 0.0 and m.flows.io_overhead_spent == 0.0 and m.flows.reviewers is None
    assert not m.flows.gains.any() and not m.flows.new_founders.any()
    assert m.flows.gains.shape == (m.cities.n, m.n_issues) and m.flows.allocation.shape == (m.funders.n, 0)
    names = {f.name for f in dataclasses.fields(Flows)} - {"n_cities", "n_issues", "n_funders"}
    assert names == {"new_founders", "reviewers", "funding_share", "allocation", "unallocated", "coordination_spent",
                     "io_overhead_spent", "churn", "gains"}


def test_the_observer_writes_no_state(small_model):
    m = small_model
    m.run(2)
    nets = m.networks
    before = {a: getattr(nets, a).copy() for a in ("misalignment", "drift", "agenda", "knowledge", "members")}
    nets.misalignment[: nets.n] = 0.123
    before["misalignment"] = nets.misalignment.copy()
    practice = m.cities.practice.copy()
    metrics.observe(m, {})
    for a, v in before.items():
        np.testing.assert_array_equal(getattr(nets, a), v)
    np.testing.assert_array_equal(m.cities.practice, practice)


def test_fixed_groups_match_their_definitions_and_rebuild(small_model):
    m = small_model
    fx, pop = m.fixed, m.cities.population
    big, small = fx.size_classes
    assert big.sum() >= 0.1 * len(pop) - 1 and small.sum() >= 0.5 * len(pop) - 1
    assert np.isclose(fx.group_weights["small"].sum(), 1.0)
    assert sum(len(fx.scope_cities[r]) for r in range(m.n_regions)) == m.cities.n
    m.cities.region[:] = 0
    assert len(fx.scope_cities[0]) < m.cities.n  # kept until rebuilt
    fx.rebuild()
    assert len(fx.scope_cities[0]) == m.cities.n and fx.region_sizes[0] == m.cities.n
