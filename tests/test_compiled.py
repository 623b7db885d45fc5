"""The compiled helpers (model/compiled.py) and the compiled passes that replaced NumPy code keep
NumPy's answers exactly: the stable radix sort, the issue bit sets of unmet demand, the ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.compiled import argsort_stable
from model.founding import _uncovered_priority, issue_bits


def test_argsort_stable_hand_computed():
    x = np.array([0.5, -1.0, 0.5, np.nan, -0.0, 0.0, np.inf, -np.inf, np.nan, 2.0])
    # -inf, -1, then -0.0 and 0.0 as equal (index order), 0.5 twice (index order), 2, inf, NaNs last
    assert argsort_stable(x).tolist() == [7, 1, 4, 5, 0, 2, 9, 6, 3, 8]
    assert argsort_stable(np.zeros(0)).tolist() == []
    assert argsort_stable(np.array([3.0])).tolist() == [0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.sampled_from([0.0, -0.0, 1.0, 1.5])), max_size=300))
def test_argsort_stable_is_numpys_stable_argsort(values):
    x = np.array(values, dtype=np.float64)
    assert np.array_equal(argsort_stable(x), np.argsort(x, kind="stable"))


def test_argsort_stable_on_many_values_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 50, 20_000).astype(float) * rng.choice([-1.0, 1.0], 20_000) / 7
    assert np.array_equal(argsort_stable(x), np.argsort(x, kind="stable"))


def test_issue_bits_hand_computed():
    on = np.array([[True, False, True], [False, False, False], [False, True, True]])
    assert issue_bits(on)[:, 0].tolist() == [0b101, 0, 0b110]


@pytest.mark.parametrize("issues", [1, 9, 64, 65, 130])
def test_uncovered_priority_counts_cities_no_network_covers(issues):
    """Against a direct count, across the 64-issue word boundary."""
    rng = np.random.default_rng(issues)
    n, N = 12, 80
    on = rng.random((n, issues)) < 0.3
    P = rng.random((N, issues))
    indptr = np.r_[0, np.cumsum(rng.integers(0, 4, N))]
    net = rng.integers(0, n, indptr[-1])
    got = np.zeros(issues)
    _uncovered_priority(indptr, net, issue_bits(on), P, got)
    want = np.zeros(issues)
    for c in range(N):
        covered = on[net[indptr[c]:indptr[c + 1]]].any(axis=0)
        want += np.where(covered, 0.0, P[c])
    assert np.allclose(got, want, rtol=1e-13, atol=0)
    assert got.sum() < P.sum()  # some priority is covered: the check is not vacuous


def test_ranking_heads_are_the_stable_order_by_decreasing_score(make_model):
    """The global head holds the first top x (regions + 1) cities by decreasing score (ties by index);
    a region's list is its cities of that head, or all of them where the head holds fewer than top."""
    m = make_model(cities__n=400)
    rk = m.ranking
    rk.update(m)
    rk.score = np.round(rk.score, 2)  # many ties (a new score array: ranked anew)
    nets = m.networks
    top = max(5, 3 * int(nets.target[: nets.n].max()), 3 * m.cfg.networks.founders) if nets.n else 5
    heads = rk.ranked(m, top=5)
    full = np.lexsort((np.arange(m.cities.n), -rk.score))
    mh = min(m.cities.n, top * (m.n_regions + 1))
    assert np.array_equal(heads[-1], full[:mh])
    kinds = set()
    for r in range(m.n_regions):
        mine = full[m.cities.region[full] == r]
        in_head = int((m.cities.region[full[:mh]] == r).sum())
        expect = mine if (mh >= m.cities.n or in_head < top) else mine[:in_head]
        kinds.add(len(expect) == len(mine))
        assert np.array_equal(heads[r], expect), r
    assert kinds == {True, False}  # both a cut region and a fully ranked one were checked


def test_ranking_follows_a_replaced_score(make_model):
    """A score array replaced after the year's ranking was read is ranked anew (no stale order)."""
    m = make_model(cities__n=50)
    m.ranking.update(m)
    m.ranking.ranked(m, top=5)
    m.ranking.score = np.arange(50, dtype=float)  # city 49 best
    assert m.ranking.ranked(m, top=5)[-1][:3].tolist() == [49, 48, 47]
