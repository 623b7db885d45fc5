"""International capacity: whether a city engages internationally at all (an international office,
staff time, a budget line), the first margin of participation (docs/ODD.md, 7.0).

A city has capacity or not (`Cities.office`). Its capacity score is a log-odds that grows with size,
wealth and past engagement:

    score_c = size_slope x ln(pop_c / pop_half) + wealth_slope x ln(w_c / wealth_ref) + experience_weight x E_c,
    w_c     = city budget per resident x budget_c / base_budget_c   (USD per resident per year; a shock's cut lowers it)

Each city draws once, at construction, its own threshold u_c ~ U(0,1) (stream "capacity", year
start_year - 1). It has capacity from the start when u_c < sigmoid(score_c): among cities of one size
and wealth without experience, a share sigmoid(score) has capacity. Each year (phase 1, after the
interventions) a city without capacity gains it when u_c < sigmoid(score_c); a city with capacity keeps
it while u_c < sigmoid(score_c + hysteresis) and loses it otherwise (its budget was cut, its
engagement lapsed). Experience follows the engagement the city held at the end of the last year:

    E_c += experience_rate x (min(1, sum_{k of c} e_k) - E_c)

A city without capacity has no staff for international work: only `cities.cheap_slot` units of
attention (a declaration fits, no association or programme network), it does not search on its own
and it considers memberships only when something brings it in (membership.py): a campaign, its
national association, a neighbour or a twin, with yearly probability

    review_rate x min(1, reach_base + reach_peers x s_country(c)),

s_country the share of the cities of its country that hold at least one membership (its national
association, its neighbours). It then considers its own networks and the one network that brings it
in, drawn among the active networks it could hold (engagement within cheap_slot) with weights
1 + members_k: members bring in others (a twin, a neighbour, a campaign's signatories).
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def capacity_score(population, wealth, experience, cfg) -> np.ndarray:
    """The log-odds of international capacity (module docstring); `cfg` a CapacityConfig."""
    population = np.asarray(population, dtype=float)
    wealth = np.maximum(np.asarray(wealth, dtype=float), 1e-9)
    return (cfg.size_slope * np.log(population / cfg.pop_half) + cfg.wealth_slope * np.log(wealth / cfg.wealth_ref)
            + cfg.experience_weight * np.asarray(experience, dtype=float))


def capacity_probability(population, wealth, experience, cfg) -> np.ndarray:
    """The share of cities of this size, wealth and experience that have capacity: sigmoid(score)."""
    return sigmoid(capacity_score(population, wealth, experience, cfg))


def wealth(cities) -> np.ndarray:
    """City budget per resident (USD/year) times the share of the engagement budget a shock leaves."""
    per_capita = cities.city_budget / cities.population
    ratio = np.where(cities.base_budget > 0, cities.budget / np.maximum(cities.base_budget, 1e-300), 1.0)
    return per_capita * ratio


def init_capacity(model):
    """At construction: each city's threshold (stream "capacity", year start_year - 1), no experience,
    capacity where u_c < sigmoid(score_c). Without the mechanism (capacity.enabled false) every city
    has capacity and the threshold is not drawn."""
    c, cfg = model.cities, model.cfg.capacity
    c.experience = np.zeros(c.n)
    if not cfg.enabled:
        c.office_u = np.zeros(c.n)
        c.office = np.ones(c.n, dtype=bool)
        return
    c.office_u = model.streams.rng("capacity", model.cfg.start_year - 1).random(c.n)
    c.office = c.office_u < capacity_probability(c.population, wealth(c), c.experience, cfg)


def update_capacity(model):
    """Phase 1 (after the interventions): experience from last year's engagement, then capacity gained
    or lost (module docstring). No random draw: each city's threshold was drawn at construction."""
    c, cfg = model.cities, model.cfg.capacity
    if not cfg.enabled:
        return
    from model.membership import held_engagement  # here, not at the top: membership imports capacity

    held = held_engagement(model)
    c.experience += cfg.experience_rate * (np.minimum(1.0, held) - c.experience)
    score = capacity_score(c.population, wealth(c), c.experience, cfg)
    c.office = np.where(c.office, c.office_u < sigmoid(score + cfg.hysteresis), c.office_u < sigmoid(score))


def effective_attention(model) -> np.ndarray:
    """The attention (units of engagement) a city can give memberships: its staff's (cities.attention)
    with capacity; without it only what a declaration needs, min(attention, its cheap slot cities.slot)."""
    c = model.cities
    return np.where(c.office, c.attention, np.minimum(c.attention, c.slot))


def reach(model) -> np.ndarray:
    """Per city, the factor on the review rate: 1 with capacity; without it
    min(1, reach_base + reach_peers x the share of its country's cities holding a membership)."""
    c, cfg = model.cities, model.cfg.capacity
    if not cfg.enabled:
        return np.ones(c.n)
    per_city = np.bincount(model.memberships.city, minlength=c.n)
    n_country = np.bincount(c.country, minlength=model.countries.n)
    held = np.bincount(c.country, weights=(per_city > 0).astype(float), minlength=model.countries.n)
    share = held / np.maximum(n_country, 1)
    return np.where(c.office, 1.0, np.minimum(1.0, cfg.reach_base + cfg.reach_peers * share[c.country]))
