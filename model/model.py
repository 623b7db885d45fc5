"""CityDiplomacyModel: a Mesa model whose state lives in NumPy arrays and whose step runs the
eight phases of MODEL.md section 3 in order (see `step`)."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import scipy.sparse as sp

from model import agenda, founding, knowledge, membership, metrics, resources, spillover
from model.agents import CityAgent, NetworkAgent
from model.cities import size_fraction, synthetic_cities, synthetic_countries
from model.config import Scenario, ScenarioError, load_scenario, resolve_data_path
from model.interventions import validate_intervention
from model.state import GLOBAL_SCOPE, Funders, Memberships, Networks


def load_network_catalogue(cfg: Scenario):
    from model.realdata import load_catalogue

    cat = load_catalogue(resolve_data_path(cfg.networks.catalogue))
    bad = sorted(set(cat["theme"]) - set(cfg.issue_names))
    if bad:
        raise ScenarioError(cfg.networks.catalogue, "theme", f"themes {bad} are not issues of this scenario")
    regions = {r.name for r in cfg.cities.regions} | {"global"}
    bad = sorted(set(cat["scope"]) - regions)
    if bad:
        raise ScenarioError(cfg.networks.catalogue, "scope", f"scopes {bad} are not regions of this scenario")
    return cat


def _keep_large_arrays_on_the_heap():
    """The phases allocate many short-lived arrays of a few MB. glibc's malloc serves those with
    mmap and returns them on free, so every allocation pays page faults on first touch (about 15%
    of a world-scale run's time, all in the kernel). Raising the mmap and trim thresholds keeps
    them on the heap for reuse; peak memory is unchanged. No effect off glibc."""
    try:
        import ctypes
        import sys

        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 1 << 28)  # M_MMAP_THRESHOLD: 256 MiB
            libc.mallopt(-1, 1 << 28)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


_keep_large_arrays_on_the_heap()


class CityDiplomacyModel(mesa.Model):
    """Cities choose international networks, share practices through them, compete for resources.

    Args:
        scenario: a validated `Scenario` (see `load_scenario`), a path to a YAML file, or None for defaults.
        rng: seed or numpy Generator for the model's single random generator (default: scenario.seed).
    """

    def __init__(self, scenario: Scenario | str | None = None, rng=None):
        if scenario is None or isinstance(scenario, (str,)) or hasattr(scenario, "__fspath__"):
            scenario = load_scenario(scenario)
        cfg = scenario
        super().__init__(rng=cfg.seed if rng is None else rng)
        self.cfg = cfg
        self.seed = int(cfg.seed if rng is None or not isinstance(rng, (int, np.integer)) else rng)
        self.issue_names = cfg.issue_names
        self.issue_index = {nm: j for j, nm in enumerate(self.issue_names)}
        self.n_issues = len(self.issue_names)
        self.high = np.array([i.politics == "high" for i in cfg.issues])
        self.issue_appeal = np.array([i.funder_appeal for i in cfg.issues], dtype=float)
        sal = np.array([i.salience for i in cfg.issues], dtype=float)
        self.salience_share = sal / sal.sum()
        self.region_names = [r.name for r in cfg.cities.regions]
        self.n_regions = len(self.region_names)
        self.year = cfg.start_year - 1
        # levers that interventions move
        self.city_first = cfg.governance.city_first
        self.health_pull = 0.0
        self.selectivity = 0.0
        self.review_boost = 1.0
        self.service_extension = 0.0
        self.force_review = False
        self.extra_reviewers = np.zeros(0, dtype=np.int64)
        self.declined: dict[int, np.ndarray] = {}  # network -> cities that refused its invitation
        self.io_pooled_share = 0.0
        self._links = None
        # entities
        if cfg.cities.source == "real":
            from model.realdata import real_world

            self.cities, self.countries = real_world(cfg, self.rng)
        else:
            self.countries = synthetic_countries(cfg, self.rng, self.n_issues, self.high)
            self.cities = synthetic_cities(cfg, self.rng, self.countries, self.high)
        self.median_budget = float(np.median(self.cities.budget))
        self.size_frac = size_fraction(self.cities.population, cfg.cities.pop_min, cfg.cities.pop_max)
        self._update_rank_score()
        self.funders = self._make_funders()
        self.funder_factor = np.ones(self.funders.n)
        self.pool = cfg.resources.pool
        self.update_funder_budgets()
        self.networks = Networks(self.n_issues, capacity=max(64, cfg.networks.initial * 2))
        self.io_affiliated = np.zeros(self.networks.capacity, dtype=bool)
        self.memberships = Memberships()
        self._matrix_key = None
        self._country_matrix = None
        self._next_standard = 0
        self.programme = np.zeros(0)
        self.allocation = np.zeros((self.funders.n, 0))
        self.last_funding_share = None
        self.unallocated = 0.0
        self.last_churn = 0.0
        self.engagement_cache = None
        self.network_agents: dict[int, NetworkAgent] = {}
        self.city_agents = [CityAgent(self, i) for i in range(self.cities.n)]
        self.refresh_membership_counts()
        self.interventions = [validate_intervention(iv, cfg, f"interventions.{j}", "scenario")
                              for j, iv in enumerate(cfg.interventions)]
        self.catalogue = load_network_catalogue(cfg) if cfg.networks.catalogue else None
        self.catalogue_index: dict[str, int] = {}
        self.catalogue_records: list[dict] = []
        self._initial_networks()
        self.records: list[dict] = []
        self.running = True

    # ---------------------------------------------------------------- set-up helpers
    def _make_funders(self) -> Funders:
        cfg, rng = self.cfg.resources, self.rng
        F = cfg.n_funders
        weight = rng.dirichlet(np.full(F, 2.0))
        appeal = self.issue_appeal / self.issue_appeal.sum()
        g = rng.gamma(3.0 * self.n_issues * appeal, size=(F, self.n_issues)) + 1e-12
        pref = g / g.sum(axis=1, keepdims=True)
        n_reg = int(round(cfg.regional_funders * F))
        region = np.full(F, GLOBAL_SCOPE, dtype=np.int64)
        if n_reg:
            w = np.bincount(self.cities.region, minlength=self.n_regions) + 1.0
            region[:n_reg] = rng.choice(self.n_regions, size=n_reg, p=w / w.sum())
        return Funders(budget=np.zeros(F), weight=weight, pref=pref, region=region, active=np.ones(F, dtype=bool))

    def _initial_networks(self):
        start = self.cfg.start_year
        if self.catalogue is not None:
            cat = self.catalogue
            old = cat[(cat["founded"] < start) & (cat["ended"].isna() | (cat["ended"] >= start))]
            founding.enter_catalogue(self, old, start - 1, founded_years=old["founded"].to_numpy())
        k = self.cfg.networks.initial
        if k == 0:
            return
        idx = founding.found_networks(self, k, start - 1)
        self.networks.founded[idx] = start - 1 - self.rng.integers(0, 30, size=k)

    def _update_rank_score(self):
        c = self.cities
        self.rank_score = 0.5 * c.visibility + 0.3 * self.size_frac + 0.2 * c.capacity
        self._ranked = None
        self._ranked_top = 0

    def update_funder_budgets(self):
        """Funder budgets: (exogenous pool + mobilisation x active networks) x weight x shock factor."""
        f = self.funders
        n_active = int(self.networks.active.sum()) if hasattr(self, "networks") else 0
        total = self.pool + self.cfg.resources.mobilisation * n_active
        f.budget[:] = total * f.weight * self.funder_factor
        f.active[:] = self.funder_factor > 0

    def new_standards(self, k: int) -> np.ndarray:
        out = np.arange(self._next_standard, self._next_standard + k)
        self._next_standard += k
        return out

    # ---------------------------------------------------------------- derived views
    def membership_matrix(self) -> sp.csr_matrix:
        """City x network sparse 0/1 membership matrix (networks ever founded as columns); cached
        until the memberships or the number of networks change. Treat it as read-only."""
        key = (id(self.memberships), self.memberships.version, len(self.memberships), self.networks.n)
        if self._matrix_key != key:
            self._matrix, self._selection = self.memberships.matrices(self.cities.n, self.networks.n)
            self._matrix_key = key
        return self._matrix

    def edge_selection(self) -> sp.csr_matrix:
        """City x membership-edge 0/1 matrix (cached with the membership matrix): sums over a city's memberships."""
        self.membership_matrix()
        return self._selection

    def size_classes(self) -> tuple[np.ndarray, np.ndarray]:
        """(largest 10% by population, smallest 50%) masks; populations do not change."""
        if getattr(self, "_size_classes", None) is None:
            q90, q50 = np.quantile(self.cities.population, [0.9, 0.5])
            self._size_classes = (self.cities.population >= q90, self.cities.population <= q50)
        return self._size_classes

    def memberships_per_city(self) -> np.ndarray:
        return np.bincount(self.memberships.city, minlength=self.cities.n)

    @property
    def country_matrix(self) -> sp.csr_matrix:
        """Country x city sparse matrix of populations (for population-weighted national sums)."""
        if self._country_matrix is None:
            c = self.cities
            self._country_matrix = sp.csr_matrix((c.population, (c.country, np.arange(c.n))), shape=(self.countries.n, c.n))
        return self._country_matrix

    def refresh_membership_counts(self):
        c, nets, mem = self.cities, self.networks, self.memberships
        n = nets.n
        nets.members[:] = 0
        nets.members[:n] = np.bincount(mem.net, minlength=n)[:n]
        if n == 0:
            self.prestige_cache = np.zeros(0)
            self.country_counts = np.zeros((self.countries.n, 0))
            self.region_counts = np.zeros((self.n_regions, 0))
            return
        vis_sum = np.bincount(mem.net, weights=c.visibility[mem.city], minlength=n)
        self.prestige_cache = vis_sum / np.maximum(nets.members[:n], 1)
        self.country_counts = np.bincount(c.country[mem.city] * n + mem.net, minlength=self.countries.n * n).reshape(self.countries.n, n)
        self.region_counts = np.bincount(c.region[mem.city] * n + mem.net, minlength=self.n_regions * n).reshape(self.n_regions, n)

    def eligible_mask(self, k: int) -> np.ndarray:
        """Cities eligible for network k by scope and threshold (invitation/competitive: by scope)."""
        nets, c = self.networks, self.cities
        s = int(nets.scope[k])
        m = np.ones(c.n, dtype=bool) if s == GLOBAL_SCOPE else (c.region == s)
        if nets.rule[k] == 1:
            m &= c.population >= nets.threshold[k]
        return m

    def ranked_cities(self, top: int | None = None) -> dict[int, np.ndarray]:
        """City indices by decreasing rank score, globally (-1) and per region: the first `top` of
        each are exact (only as many as invitation networks can use are sorted)."""
        if top is not None and self.networks.n:  # rank once per year for every user of the ranking
            top = max(top, 3 * int(self.networks.target[: self.networks.n].max()), 3 * self.cfg.networks.founders)
        if self._ranked is None or (top is not None and top > self._ranked_top):
            n = self.cities.n
            m = n if top is None else min(n, top * (self.n_regions + 1))
            score = -self.rank_score
            cand = np.argpartition(score, m - 1)[:m] if m < n else np.arange(n)
            order = cand[np.argsort(score[cand], kind="stable")]
            reg = self.cities.region[order]
            self._ranked = {GLOBAL_SCOPE: order}
            for r in range(self.n_regions):
                mine = order[reg == r]
                if m < n and len(mine) < (top or 0):  # a small region: rank all of its cities
                    allr = np.flatnonzero(self.cities.region == r)
                    mine = allr[np.argsort(score[allr], kind="stable")]
                self._ranked[r] = mine
            self._ranked_top = n if top is None else top
        return self._ranked

    def coverage(self) -> np.ndarray:
        """(cities x issues) bool: some network of the city is active on the issue."""
        c, mem = self.cities, self.memberships
        if len(mem) == 0 or self.networks.n == 0:
            return np.zeros((c.n, self.n_issues), dtype=bool)
        on = metrics.active_on(self)
        return np.asarray(self.membership_matrix() @ on.astype(np.float64)) > 0

    def link_matrix(self, n: int):
        """Cooperation links between the first n networks (None when no platform is active)."""
        if self._links is None:
            return None
        L = np.zeros((n, n))
        m = min(n, self._links.shape[0])
        L[:m, :m] = self._links[:m, :m]
        return L

    def set_links(self, L):
        self._links = L

    def network_index(self, name: str):
        for k, nm in enumerate(self.networks.names):
            if nm == name and self.networks.active[k]:
                return k
        return None

    def country_index(self, key):
        co = self.countries
        if isinstance(key, int):
            return key if 0 <= key < co.n else None
        if key == "largest_north":
            pop = np.bincount(self.cities.country, weights=self.cities.population, minlength=co.n)
            pop = np.where(co.north, pop, -1)
            return int(np.argmax(pop)) if (pop > 0).any() else None
        hits = np.flatnonzero(co.name == key)
        if not len(hits) and co.code is not None:
            hits = np.flatnonzero(co.code == key)
        return int(hits[0]) if len(hits) else None

    # ---------------------------------------------------------------- Mesa hooks
    def on_networks_founded(self, idx: np.ndarray):
        if self.io_affiliated.shape[0] < self.networks.capacity:
            a = np.zeros(self.networks.capacity, dtype=bool)
            a[: self.io_affiliated.shape[0]] = self.io_affiliated
            self.io_affiliated = a
        if self.programme.shape[0] < self.networks.n:
            self.programme = np.r_[self.programme, np.zeros(self.networks.n - self.programme.shape[0])]
        for k in idx:
            self.network_agents[int(k)] = NetworkAgent(self, int(k))

    def on_networks_dissolved(self, idx: np.ndarray):
        for k in idx:
            agent = self.network_agents.get(int(k))
            if agent is not None and agent in self.agents:
                agent.remove()

    # ---------------------------------------------------------------- the schedule
    def step(self):
        """One year: the eight phases of the design brief, in order."""
        self.year = self.cfg.start_year + self.steps - 1
        self.exogenous_change()                                  # 1
        founding.dissolution_phase(self, self.year)              # 2
        founding.catalogue_phase(self, self.year)
        founding.found_phase(self, self.year)
        agenda.agenda_phase(self)                                # 3
        resources.resources_phase(self)                          # 4
        membership.membership_phase(self, self.year)             # 5
        out = knowledge.knowledge_phase(self)                    # 6
        spillover.spillover_phase(self)                          # 7
        self.records.append(metrics.observe(self, out))          # 8
        if self.catalogue_index:
            self.catalogue_records.extend(metrics.observe_named(self))
        if self.steps >= self.cfg.steps:
            self.running = False

    def exogenous_change(self):
        """Phase 1: pool growth, shocks and interventions that start, act or end this year."""
        if self.steps > 1:
            self.pool *= 1 + self.cfg.resources.growth
        self.update_funder_budgets()
        for iv in self.interventions:
            iv.update(self, self.year)
        self._update_rank_score()

    def run(self, steps: int | None = None, progress=None):
        """Run `steps` more steps (default: the scenario's `steps` minus those done)."""
        todo = self.cfg.steps - self.steps if steps is None else steps
        for _ in range(max(todo, 0)):
            self.step()
            if progress is not None:
                progress(self)
        return self

    # ---------------------------------------------------------------- outputs
    def timeseries(self) -> pd.DataFrame:
        cols = ["step", "year"] + metrics.metric_names(self.issue_names)
        return pd.DataFrame(self.records, columns=cols)

    def networks_table(self) -> pd.DataFrame:
        return metrics.networks_table(self)

    def named_networks_history(self) -> pd.DataFrame:
        """Per step, for each catalogue (real) network: members, member countries, median member population."""
        return pd.DataFrame(self.catalogue_records, columns=["step", "year", "network_id", "name", "members",
                                                             "countries", "median_member_population"])

    def cities_table(self) -> pd.DataFrame:
        return metrics.cities_table(self)

    def final_metrics(self) -> dict[str, float]:
        if not self.records:
            return {}
        return {k: float(v) for k, v in self.records[-1].items() if k not in ("step", "year")}


__all__ = ["CityDiplomacyModel", "ScenarioError"]
