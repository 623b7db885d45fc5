"""Model state as NumPy arrays: cities, countries, networks, funders and the membership edge list.

Mesa agents (`model/agents.py`) are thin views onto these arrays. Networks are indexed in
founding order and never re-indexed; dissolved networks keep their row with `active` False.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

RULES = ("open", "threshold", "invitation", "competitive")


def row_sums(x: np.ndarray) -> np.ndarray:
    """Sums over the (few) issues of a cities x issues array: a matrix-vector product, several
    times faster than x.sum(axis=1) for narrow rows."""
    return x @ np.ones(x.shape[1])


def col_sums(x: np.ndarray) -> np.ndarray:
    """Sums over cities of a cities x issues array (matrix-vector product)."""
    return np.ones(x.shape[0]) @ x
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
    attention: np.ndarray  # int, memberships the staff can sustain
    base_attention: np.ndarray
    priority: np.ndarray  # (n, I) rows sum to 1
    practice: np.ndarray  # (n, I) in [0,1]
    norm: np.ndarray  # (n, I) in [0,1]
    norm0: np.ndarray  # (n, I) initial norms
    visibility: np.ndarray  # float [0,1], global fluency
    lat: np.ndarray | None = None
    lon: np.ndarray | None = None
    city_budget: np.ndarray | None = None  # USD/year, the whole city budget (engagement budget is a small share)

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
                 "threshold", "misalignment", "fee")
NETWORK_INT = ("founded", "dissolved", "theme", "rule", "scope", "target", "sponsor", "low_years")
NETWORK_MATRIX = ("agenda", "partner_pref", "knowledge")


@dataclass
class Networks:
    """Network arrays with spare capacity; rows 0..n-1 are networks ever founded."""

    n_issues: int
    capacity: int = 64
    n: int = 0
    names: list = field(default_factory=list)

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


@dataclass
class Memberships:
    """The city x network membership relation as an edge list (city, network, joined year)."""

    city: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    net: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    since: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    version: int = 0  # bumped on every change, so that derived matrices can be cached

    def __len__(self) -> int:
        return len(self.city)

    def add(self, city: np.ndarray, net: np.ndarray, year: int):
        self.city = np.concatenate([self.city, city.astype(np.int64)])
        self.net = np.concatenate([self.net, net.astype(np.int64)])
        self.since = np.concatenate([self.since, np.full(len(city), year, dtype=np.int64)])
        self.version += 1

    def keep(self, mask: np.ndarray):
        self.city, self.net, self.since = self.city[mask], self.net[mask], self.since[mask]
        self.version += 1

    def matrix(self, n_cities: int, n_networks: int) -> sp.csr_matrix:
        """Sparse city x network 0/1 matrix, built directly in CSR form (a stable counting order by
        city; 16-bit keys use numpy's radix sort)."""
        return self.matrices(n_cities, n_networks)[0]

    def matrices(self, n_cities: int, n_networks: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(city x network membership matrix, city x edge selection matrix): the second sums any
        per-membership quantity over each city's memberships (selection @ values)."""
        city = self.city
        keys = city.astype(np.uint16) if n_cities <= 65535 else city
        order = np.argsort(keys, kind="stable")
        indptr = np.zeros(n_cities + 1, dtype=np.int64)
        np.cumsum(np.bincount(city, minlength=n_cities), out=indptr[1:])
        data = np.ones(len(city), dtype=np.float64)
        by_net = sp.csr_matrix((data, self.net[order], indptr), shape=(n_cities, n_networks))
        by_edge = sp.csr_matrix((data, order, indptr), shape=(n_cities, len(city)))
        return by_net, by_edge
