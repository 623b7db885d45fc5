"""Synthetic cities and countries: sizes, regions, Global North/South, budgets, attention, priorities.

Population follows a truncated Pareto (Zipf) law between `pop_min` and `pop_max`:
    pop = pop_min / (1 - u (1 - (pop_min/pop_max)^alpha))^(1/alpha),  u ~ U(0,1).
The international-engagement budget is a small share of the city budget:
    budget = pop x budget_per_capita(north) x engagement_share x LogNormal(0, 0.5) / 1e6  (million USD),
capped at 1% of the city budget. Administrative capacity, attention and visibility grow with
log size and with Global North membership (documented in docs/ODD.md, section Initialisation).
Attention is counted in units of engagement (a full programme membership uses about 1, a
declaration about 0.1): the staff's whole units between attention_min and attention_max, plus
a cheap slot for every city, so that each can hold at least one cheap membership. The cheap slot is
cheap_slot x U(1 - slot_spread, 1 + slot_spread) per city (spread_slots, its own stream), so that no
verdict turns on one shared value of it.
"""

from __future__ import annotations

import numpy as np

from model.config import Scenario
from model.state import Cities, Countries


def size_fraction(pop: np.ndarray, pop_min: float, pop_max: float) -> np.ndarray:
    """log(pop/pop_min) / log(pop_max/pop_min), clipped to [0,1]."""
    return np.clip(np.log(pop / pop_min) / np.log(pop_max / pop_min), 0.0, 1.0)


def initial_priorities(rng: np.random.Generator, n: int, salience: np.ndarray, concentration: float) -> np.ndarray:
    """Dirichlet rows with mean salience/sum(salience) and total concentration x n_issues."""
    alpha = concentration * len(salience) * salience / salience.sum()
    g = rng.gamma(alpha, size=(n, len(salience)))
    g += 1e-12
    return g / g.sum(axis=1, keepdims=True)


def synthetic_country_layout(cc) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The synthetic countries of a CitiesConfig, without randomness: (region index, Global North
    flag, name) per country. Names are the region's first three letters and the country's number
    (`EUR042`); the pre-flight checks of interventions read them before any model is built."""
    weights = np.array([r.weight for r in cc.regions], dtype=float)
    weights /= weights.sum()
    n_reg = len(weights)
    n_countries = max(cc.n_countries, n_reg)
    per_region = np.maximum(1, np.floor(weights * n_countries).astype(int))
    while per_region.sum() < n_countries:
        per_region[np.argmax(weights * n_countries - per_region)] += 1
    while per_region.sum() > n_countries:
        j = np.argmax(per_region)
        per_region[j] -= 1
    region = np.repeat(np.arange(n_reg), per_region)
    north = np.zeros(len(region), dtype=bool)
    for r, rc in enumerate(cc.regions):
        idx = np.flatnonzero(region == r)
        k = round(rc.north_share * len(idx))
        north[idx[:k]] = True
    names = np.array([f"{cc.regions[r].name[:3].upper()}{j:03d}" for j, r in enumerate(region)], dtype=object)
    return region, north, names


def synthetic_countries(cfg: Scenario, rng: np.random.Generator, n_issues: int, high: np.ndarray) -> Countries:
    region, north, names = synthetic_country_layout(cfg.cities)
    stance = initial_stance(rng, north, high)
    return Countries(name=names, region=region, north=north, stance=stance, locked=np.zeros_like(stance, dtype=bool))


def initial_stance(rng: np.random.Generator, north: np.ndarray, high: np.ndarray) -> np.ndarray:
    """National stance per country and issue: U(0.1, 0.35), +0.1 in the Global North; U(0.2, 0.5) on
    high-politics issues (the cooperative posture)."""
    C, I = len(north), len(high)
    stance = rng.uniform(0.1, 0.35, size=(C, I))
    stance[north] += 0.1
    stance[:, high] = rng.uniform(0.2, 0.5, size=(C, int(high.sum())))
    return np.clip(stance, 0, 1)


def synthetic_cities(cfg: Scenario, rng: np.random.Generator, countries: Countries, high: np.ndarray) -> Cities:
    cc = cfg.cities
    n = cc.n
    weights = np.array([r.weight for r in cc.regions], dtype=float)
    weights /= weights.sum()
    region = rng.choice(len(weights), size=n, p=weights)
    # countries within a region get lognormal size weights; cities drawn by those weights
    cweight = rng.lognormal(0.0, 1.0, size=countries.n)
    country = np.empty(n, dtype=np.int64)
    for r in range(len(weights)):
        idx = np.flatnonzero(region == r)
        cs = np.flatnonzero(countries.region == r)
        p = cweight[cs] / cweight[cs].sum()
        country[idx] = cs[rng.choice(len(cs), size=len(idx), p=p)]
    north = countries.north[country]
    u = rng.random(n)
    a = cc.pop_alpha
    pop = cc.pop_min / (1.0 - u * (1.0 - (cc.pop_min / cc.pop_max) ** a)) ** (1.0 / a)
    per_capita = np.where(north, cc.budget_per_capita_north, cc.budget_per_capita_south)
    salience = np.array([i.salience for i in cfg.issues])
    names = np.array([f"City-{i:05d}" for i in range(n)], dtype=object)
    return build_cities(cc, rng, names, country, region, north, pop, per_capita, salience, high)


def build_cities(cc, rng: np.random.Generator, names, country, region, north, pop, per_capita,
                 salience, high, lat=None, lon=None) -> Cities:
    """Every city attribute that follows from size, North/South and budget per resident (shared by
    synthetic and real cities; `cc` holds the CitiesConfig parameters)."""
    n, I = len(pop), len(salience)
    sf = size_fraction(pop, cc.pop_min, cc.pop_max)
    capacity = np.clip(0.25 + 0.45 * sf + 0.2 * north + rng.normal(0, 0.08, n), 0.05, 1.0)
    city_budget = pop * per_capita
    budget = np.minimum(city_budget * cc.engagement_share * rng.lognormal(-0.125, 0.5, n), 0.01 * city_budget) / 1e6
    span = cc.attention_max - cc.attention_min
    attention = cc.attention_min + np.floor(span * capacity * np.sqrt(sf) + rng.random(n)).astype(np.int64)
    attention = np.clip(attention, cc.attention_min, cc.attention_max).astype(float) + cc.cheap_slot
    visibility = np.clip(0.7 * sf + 0.2 * north + 0.1 * capacity + rng.normal(0, 0.03, n), 0.0, 1.0)
    priority = initial_priorities(rng, n, np.asarray(salience, dtype=float), cc.priority_concentration)
    practice = np.clip(0.45 * capacity[:, None] * rng.uniform(0.4, 1.2, size=(n, I)), 0, 1)
    practice[:, high] *= 0.3
    norm = np.clip(rng.uniform(0.15, 0.45, size=(n, I)) + 0.05 * north[:, None], 0, 1)
    return Cities(name=names, country=country, region=region, north=north, population=pop,
                  capacity=capacity, budget=budget, base_budget=budget.copy(), attention=attention,
                  base_attention=attention.copy(), priority=priority, practice=practice, norm=norm,
                  norm0=norm.copy(), visibility=visibility, lat=lat, lon=lon, city_budget=city_budget,
                  standard=np.full((n, I), -1, dtype=np.int64))


def spread_slots(model):
    """Each city's cheap slot, cheap_slot x U(1 - slot_spread, 1 + slot_spread), from the "costs" stream
    of the year before the first (one uniform per city, drawn whatever the spread): build_cities gave
    every city cheap_slot on top of its staff's attention; this replaces it by the city's own slot."""
    c, cc = model.cities, model.cfg.cities
    u = model.streams.rng("costs", model.cfg.start_year - 1).random(c.n)
    c.slot = cc.cheap_slot * (1.0 + cc.slot_spread * (2.0 * u - 1.0))
    c.attention += c.slot - cc.cheap_slot
    c.base_attention[:] = c.attention
