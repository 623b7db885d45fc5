"""Model state as NumPy arrays: cities, countries, networks, funders, the membership edge list, the
levers that interventions move (`Levers`), what one phase hands to another within a year (`Flows`)
and what is fixed once the model is built (`Fixed`).

Mesa agents (`model/agents.py`) are thin views onto these arrays. Networks are indexed in
founding order and never re-indexed; dissolved networks keep their row with `active` False.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from model.compiled import jit, vecmat

RULES = ("open", "threshold", "invitation", "competitive")


def col_sums(x: np.ndarray) -> np.ndarray:
    """Sums over cities of a cities x issues array (a compiled loop: no BLAS threads)."""
    return vecmat(np.ones(x.shape[0]), np.ascontiguousarray(x, dtype=np.float64))


@jit
def _clipped_sum(a, b):
    """sum over cities and issues of clip(a + b, 0, 1), city by city."""
    s = 0.0
    for ci in range(a.shape[0]):
        for i in range(a.shape[1]):
            s += min(max(a[ci, i] + b[ci, i], 0.0), 1.0)
    return s


OPEN, THRESHOLD, INVITATION, COMPETITIVE = range(4)
GLOBAL_SCOPE = -1


@dataclass
class Cities:
    """City x ... arrays (n cities, n_issues issues)."""

    name: np.ndarray  # object (str)
    country: np.ndarray  # int, index into Countries
    region: np.ndarray  # int, index into region names
    north: np.ndarray  # bool
    population: np.ndarray  # float, persons
    capacity: np.ndarray  # float [0,1], administrative capacity
    budget: np.ndarray  # float, million USD/year for international engagement
    base_budget: np.ndarray  # float, budget before shocks
    attention: np.ndarray  # float, units of engagement the staff can sustain (a programme membership ~1, a declaration ~0.1)
    base_attention: np.ndarray
    priority: np.ndarray  # (n, I) rows sum to 1
    practice: np.ndarray  # (n, I) in [0,1]
    norm: np.ndarray  # (n, I) in [0,1]
    norm0: np.ndarray  # (n, I) initial norms (the resting level)
    visibility: np.ndarray  # float [0,1], global fluency
    lat: np.ndarray | None = None
    lon: np.ndarray | None = None
    city_budget: np.ndarray | None = None  # USD/year, the whole city budget (engagement budget is a small share)
    standard: np.ndarray | None = None  # (n, I) int: the solution standard the city practises (-1: its own, local practice)
    office: np.ndarray | None = None  # bool: international capacity (an office, staff, a budget line; capacity.py)
    office_u: np.ndarray | None = None  # float [0,1): the city's capacity threshold, drawn once
    experience: np.ndarray | None = None  # float [0,1]: smoothed engagement held (capacity.py)
    norm_shift: np.ndarray | None = None  # (n, I): what world and national events add to norms, decaying (spillover.py)
    slot: np.ndarray | None = None  # float: the city's cheap slot (attention beyond its staff's; cities.spread_slots)

    def residents_norm(self) -> np.ndarray:
        """(n, I) residents' norms as they stand: the lasting norm plus the events' shift, clipped to [0, 1]."""
        if self.norm_shift is None:
            return self.norm
        return np.clip(self.norm + self.norm_shift, 0.0, 1.0)

    def residents_norm_mean(self) -> float:
        """Mean of `residents_norm()` over cities and issues (one compiled pass, no temporaries)."""
        if self.norm_shift is None:
            return float(col_sums(self.norm).sum() / self.norm.size)
        return _clipped_sum(self.norm, self.norm_shift) / self.norm.size


    @property
    def n(self) -> int:
        return len(self.population)


@dataclass
class Countries:
    name: np.ndarray  # object
    region: np.ndarray  # int
    north: np.ndarray  # bool
    stance: np.ndarray  # (C, I) in [0,1]
    locked: np.ndarray  # (C, I) bool: stance held down by a withdrawal
    code: np.ndarray | None = None  # ISO 3166-1 alpha-2 codes of real countries

    @property
    def n(self) -> int:
        return len(self.name)


@dataclass
class Funders:
    budget: np.ndarray  # million USD/year, share of the pool
    weight: np.ndarray  # share of the pool before shocks
    pref: np.ndarray  # (F, I) rows sum to 1
    region: np.ndarray  # int, GLOBAL_SCOPE for none
    active: np.ndarray  # bool

    @property
    def n(self) -> int:
        return len(self.budget)


NETWORK_FLOAT = ("funds", "grants", "fees", "secretariat", "efficiency", "partner_share", "openness",
                 "threshold", "misalignment", "fee", "programme", "prestige", "engagement", "drift", "applications")
NETWORK_INT = ("founded", "dissolved", "theme", "rule", "scope", "target", "sponsor", "low_years", "empty_years")
NETWORK_MATRIX = ("agenda", "partner_pref", "knowledge")


@dataclass
class Networks:
    """Network arrays with spare capacity; rows 0..n-1 are networks ever founded."""

    n_issues: int
    capacity: int = 64
    n: int = 0
    names: list = field(default_factory=list)
    next_standard: int = 0  # solution standards are numbered in order of creation

    def __post_init__(self):
        c, I = self.capacity, self.n_issues
        for a in NETWORK_FLOAT:
            setattr(self, a, np.zeros(c))
        for a in NETWORK_INT:
            setattr(self, a, np.full(c, -1, dtype=np.int64))
        for a in NETWORK_MATRIX:
            setattr(self, a, np.zeros((c, I)))
        self.standard = np.full((c, I), -1, dtype=np.int64)
        self.active = np.zeros(c, dtype=bool)
        self.members = np.zeros(c, dtype=np.int64)

    def _grow(self, need: int):
        if need <= self.capacity:
            return
        new = max(need, 2 * self.capacity)
        for a in NETWORK_FLOAT + NETWORK_INT + NETWORK_MATRIX + ("standard", "active", "members"):
            old = getattr(self, a)
            fill = -1 if old.dtype == np.int64 and a not in ("members",) else 0
            arr = np.full((new,) + old.shape[1:], fill, dtype=old.dtype)
            arr[: self.capacity] = old
            setattr(self, a, arr)
        self.capacity = new

    def add(self, k: int) -> np.ndarray:
        """Reserve k new rows; return their indices."""
        self._grow(self.n + k)
        idx = np.arange(self.n, self.n + k)
        self.n += k
        return idx

    def operating(self) -> np.ndarray:
        """(n,) bool: active (not dissolved) and with at least one member. Only operating networks count
        in the metrics, receive funds and mobilise resources; an empty network waits out its grace period."""
        n = self.n
        return self.active[:n] & (self.members[:n] > 0)

    def new_standards(self, k: int) -> np.ndarray:
        """k new solution-standard ids."""
        out = np.arange(self.next_standard, self.next_standard + k)
        self.next_standard += k
        return out


@dataclass
class Memberships:
    """The city x network membership relation as an edge list (city, network, joined year), the
    counts derived from it (refreshed by `membership.refresh_counts`) and what the membership phase
    remembers: refused invitations and this year's founders, who review."""

    city: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    net: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    since: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    committed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # last year of a founder's commitment (-1: none)
    version: int = 0  # bumped on every change, so that derived matrices can be cached
    declined: dict = field(default_factory=dict)  # network -> cities that refused its invitation
    country_counts: np.ndarray | None = None  # (countries x networks) members per country (membership.place_counts)
    region_counts: np.ndarray | None = None  # (regions x networks) members per region
    _place_key: tuple | None = field(default=None, repr=False)
    _order_key: tuple | None = field(default=None, repr=False)
    _order: CityOrder | None = field(default=None, repr=False)
    _matrix_key: tuple | None = field(default=None, repr=False)
    _matrix: sp.csr_matrix | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.city)

    def __post_init__(self):
        if len(self.committed) != len(self.city):
            self.committed = np.full(len(self.city), -1, dtype=np.int64)

    def add(self, city: np.ndarray, net: np.ndarray, year: int, committed_until: int = -1):
        self.city = np.concatenate([self.city, city.astype(np.int64)])
        self.net = np.concatenate([self.net, net.astype(np.int64)])
        self.since = np.concatenate([self.since, np.full(len(city), year, dtype=np.int64)])
        self.committed = np.concatenate([self.committed, np.full(len(city), committed_until, dtype=np.int64)])
        self.version += 1

    def keep(self, mask: np.ndarray):
        self.city, self.net, self.since = self.city[mask], self.net[mask], self.since[mask]
        self.committed = self.committed[mask]
        self.version += 1

    def per_city(self, n_cities: int) -> np.ndarray:
        """Number of memberships of each city."""
        return np.bincount(self.city, minlength=n_cities)

    def matrix(self, n_cities: int, n_networks: int) -> sp.csr_matrix:
        """City x network sparse 0/1 membership matrix (networks ever founded as columns); cached
        until the memberships or the number of networks change. Treat it as read-only."""
        key = (self.version, len(self.city), n_cities, n_networks)
        if self._matrix_key != key:
            o = self.by_city(n_cities)
            self._matrix = sp.csr_matrix((np.ones(len(o.net)), o.net, o.indptr), shape=(n_cities, n_networks))
            self._matrix_key = key
        return self._matrix

    def by_city(self, n_cities: int) -> CityOrder:
        """The memberships in city order (a stable counting sort, `_by_city`): city c's memberships
        are positions indptr[c]..indptr[c+1] of `order` (edge-list positions), `city` and `net`;
        cached until the memberships change. Treat it as read-only."""
        key = (self.version, len(self.city), n_cities)
        if self._order_key != key:
            indptr = np.zeros(n_cities + 1, dtype=np.int64)
            order = np.empty(len(self.city), dtype=np.int64)
            _by_city(self.city, indptr, order)
            self._order = CityOrder(indptr, order, self.city[order], self.net[order])
            self._order_key = key
        return self._order


@dataclass(frozen=True)
class CityOrder:
    """The membership edge list in city order (`Memberships.by_city`)."""

    indptr: np.ndarray  # (cities + 1,) run of each city
    order: np.ndarray  # edge-list positions, city by city (edge-list order within a city)
    city: np.ndarray  # the memberships' cities in this order
    net: np.ndarray  # the memberships' networks in this order


@jit
def _by_city(city, indptr, order):
    """A stable counting sort of the edge list by city: indptr[c]..indptr[c+1] the positions in
    `order` of city c's memberships, in edge-list order."""
    for e in range(len(city)):
        indptr[city[e] + 1] += 1
    for c in range(len(indptr) - 1):
        indptr[c + 1] += indptr[c]
    fill = indptr[:-1].copy()
    for e in range(len(city)):
        c = city[e]
        order[fill[c]] = e
        fill[c] += 1


@dataclass
class Levers:
    """What interventions move and phases read: one object, so that every mechanism an intervention
    switches on is found from here (docs/ODD.md, section 2.7). Each field names the phase that reads it
    and the interventions that write it."""

    city_first: float = 0.0  # phase 3 agenda (partners' weight), phase 4 resources (sponsorship), phase 6 knowledge (partners' expertise in production); city_first
    health_pull: float = 0.0  # phase 3 agenda: pull of agendas toward health; pandemic
    selectivity: float = 0.0  # phase 2 founding (founders' bar) and phase 5 membership: extra utility x engagement a city needs to found, join or keep a network; pandemic
    review_boost: float = 1.0  # phase 5 membership: multiplier of the review rate; pandemic
    service_extension: float = 0.0  # the open pool (knowledge.open_pool): phase 2 founding and phase 5 membership (utility: what a city learns without joining), phase 6 knowledge (learning from open knowledge): share of the gap to full openness non-members see; extend_services
    funder_factor: np.ndarray = field(default_factory=lambda: np.ones(0))  # phase 1 (resources.update_funder_budgets, also when a withdrawal starts or ends): funders' budget factor; phase 4 allocates the budgets it sets; funding_withdrawal
    io_pooled_share: float = 0.0  # phase 4 resources: share of contest money pooled by the IO; io_framework
    io_overhead: float = 0.0  # phase 4 resources: share of pooled money the IO's administration uses; io_framework
    io_affiliated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # phase 4: networks in the IO framework (by index; later networks are not); io_framework
    links: np.ndarray | None = None  # phase 6 knowledge (horizontal flow between linked networks): platform links; cross_network_platform
    exchange_partner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # phase 4 resources: the donor secretariat each recipient network is paired with (-1: none); secretariat_exchange
    exchange_transfer: float = 0.0  # phase 4 resources: share of the gap to its donor's secretariat capacity a recipient closes this year; secretariat_exchange
    coordination: np.ndarray = field(default_factory=lambda: np.zeros(0))  # phase 4: share of each network's income spent on coordination this year (reset in phase 1, added by each active remedy); cross_network_platform, io_framework, secretariat_exchange, extend_services

    def reset_costs(self, n: int):
        """Phase 1, before the interventions act: no coordination cost until an active remedy adds its own."""
        self.coordination = np.zeros(n)

    def add_cost(self, share: np.ndarray | float, who: np.ndarray | None = None):
        """A remedy's coordination cost this year: `share` of income for networks `who` (default all)."""
        if who is None:
            self.coordination = self.coordination + share
            return
        who = np.asarray(who, dtype=np.int64)
        if len(who) and who.max() >= len(self.coordination):
            self.coordination = np.r_[self.coordination, np.zeros(who.max() + 1 - len(self.coordination))]
        self.coordination[who] += share

    def partners(self, n: int) -> np.ndarray:
        """(n,) int: each network's donor secretariat under the exchange (-1: none; later networks have none)."""
        out = np.full(n, -1, dtype=np.int64)
        m = min(n, len(self.exchange_partner))
        out[:m] = self.exchange_partner[:m]
        return out

    def link_matrix(self, n: int) -> np.ndarray | None:
        """Cooperation links between the first n networks (None when no platform is active)."""
        if self.links is None:
            return None
        L = np.zeros((n, n))
        m = min(n, self.links.shape[0])
        L[:m, :m] = self.links[:m, :m]
        return L

    def affiliated(self, n: int) -> np.ndarray:
        """(n,) bool: networks affiliated with the IO framework."""
        out = np.zeros(n, dtype=bool)
        m = min(n, len(self.io_affiliated))
        out[:m] = self.io_affiliated[:m]
        return out


def active_on(model) -> np.ndarray:
    """(networks x issues) bool: an operating network (active, with members) active on the issue
    (agenda >= activity threshold, or primary theme). Read by phases 2 (coverage), 6 (duplication,
    variety), 8 (metrics) and the platform."""
    nets = model.networks
    n = nets.n
    on = nets.agenda[:n] >= model.cfg.knowledge.activity_threshold
    on |= np.eye(model.n_issues, dtype=bool)[np.maximum(nets.theme[:n], 0)]
    on &= nets.operating()[:, None]
    return on


@dataclass
class Flows:
    """What one phase hands to a later one: one object (`model.flows`), so that every hand-off between
    phases is found from here (docs/ODD.md, section 2.8). Reset at the start of each step (phase 1,
    `reset`), except `funding_share`, which carries last year's grants into this year's founding. Each
    field names the phase that writes it and the phases (or outputs) that read it. A new phase (the
    capacity phase, a twinning layer) adds its hand-offs here, not as attributes of the model."""

    n_cities: int
    n_issues: int
    n_funders: int
    # phase 2 founding (found_networks; the initial networks at construction) -> phase 5 membership:
    # this year's founders, who reconsider the standards they practise (they join `reviewers`)
    new_founders: np.ndarray = field(init=False)
    # phase 5 membership -> phase 6 knowledge (learning): the cities that reconsider the standards they
    # practise this year (reviewers and founders); None: no active network (every city reconsiders)
    reviewers: np.ndarray | None = field(init=False)
    # phase 4 resources -> phase 2 founding of the NEXT year (themes follow the money): (issues,) share
    # of this year's grants by issue, None before any grant. Carried: not reset.
    funding_share: np.ndarray | None = field(init=False, default=None)
    # phase 4 resources -> outputs (tests, funders' view): (funders x networks) this year's allocation
    allocation: np.ndarray = field(init=False)
    # phase 4 resources -> outputs: contest money with no eligible recipient this year (lost)
    unallocated: float = field(init=False)
    # phase 4 resources -> outputs: money networks spent on coordination this year (remedies' costs)
    coordination_spent: float = field(init=False)
    # phase 4 resources -> phase 8 metrics (efficiency): pooled money the IO's administration used
    io_overhead_spent: float = field(init=False)
    # phase 5 membership -> phase 8 metrics (churn_rate): memberships ended / memberships at its start
    churn: float = field(init=False)
    # phase 6 knowledge -> phase 7 spillover (adds national uptake) -> phase 8 metrics (nonmember_access,
    # small_city_growth): (cities x issues) practice gains of the year
    gains: np.ndarray = field(init=False)

    def __post_init__(self):
        self.reset()

    def reset(self):
        """Phase 1 (and construction): every field to its empty value, except the carried `funding_share`."""
        self.new_founders = np.zeros(self.n_cities, dtype=bool)
        self.reviewers = None
        self.allocation = np.zeros((self.n_funders, 0))
        self.unallocated = 0.0
        self.coordination_spent = 0.0
        self.io_overhead_spent = 0.0
        self.churn = 0.0
        self.gains = np.zeros((self.n_cities, self.n_issues))


class Fixed:
    """What does not change once the model is built (`model.fixed`): cities do not move and their
    populations do not change, so the lists and groups derived from them are computed once (docs/ODD.md,
    section 2.9). `size_frac` and `median_budget` are computed at construction; the others from the
    cities when first read, and kept. Each names its readers. Tests that overwrite cities' populations or
    regions after construction call `rebuild` (nothing in a run does)."""

    LAZY = ("scope_cities", "region_sizes", "size_classes", "group_weights", "strata", "small_weights")

    def __init__(self, cities: Cities, n_regions: int, size_frac: np.ndarray):
        self.cities = cities
        self.n_regions = n_regions
        # phase 1 ranking (membership.Ranking: 0.3 x size): cities.size_fraction of the populations
        self.size_frac = size_frac
        # phase 2 founding (propose: fees scale with the median engagement budget at construction)
        self.median_budget = float(np.median(cities.budget))

    def rebuild(self):
        """Forget the lazily computed lists and groups (after a test edits cities' populations or regions)."""
        for name in self.LAZY:
            self.__dict__.pop(name, None)

    @cached_property
    def scope_cities(self) -> dict[int, np.ndarray]:
        """Scope (GLOBAL_SCOPE or a region) -> its cities, ascending. Phase 2 founding (candidates,
        target sizes)."""
        region = self.cities.region
        out = {GLOBAL_SCOPE: np.arange(self.cities.n)}
        out.update({r: np.flatnonzero(region == r) for r in range(self.n_regions)})
        return out

    @cached_property
    def region_sizes(self) -> np.ndarray:
        """(regions,) the number of cities in each region. Phase 2 founding (a proposal's scope)."""
        return np.array([len(self.scope_cities[r]) for r in range(self.n_regions)])

    @cached_property
    def size_classes(self) -> tuple[np.ndarray, np.ndarray]:
        """(largest 10% by population, smallest 50%) masks. Phase 8 metrics (size_gap, participation)."""
        q90, q50 = np.quantile(self.cities.population, [0.9, 0.5])
        return self.cities.population >= q90, self.cities.population <= q50

    @cached_property
    def group_weights(self) -> dict[str, np.ndarray]:
        """Weights w_g = mask_g / |g| of the groups north, south, big (largest 10%), small (smallest
        50%): a group's mean of x is x . w_g (NaN weights for an empty group). Phase 8 metrics."""
        big, small = self.size_classes
        north = self.cities.north.astype(bool)
        out = {}
        for name, mask in (("north", north), ("south", ~north), ("big", big), ("small", small)):
            cnt = int(mask.sum())
            out[name] = mask / cnt if cnt else np.full(len(mask), np.nan)
        return out

    @cached_property
    def strata(self) -> np.ndarray:
        """(cities,) stratum of comparable cities: population quintile x region. Phase 8 metrics
        (nonmember_access)."""
        pop = self.cities.population
        q = np.searchsorted(np.quantile(pop, [0.2, 0.4, 0.6, 0.8]), pop, side="right")
        return q * self.n_regions + self.cities.region

    @cached_property
    def small_weights(self) -> np.ndarray:
        """(cities,) 1 / |half| for the smallest half of cities by population (population <= median),
        0 otherwise. Phase 8 metrics (small_city_growth)."""
        pop = self.cities.population
        half = pop <= np.median(pop)
        return half / half.sum()
