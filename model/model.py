"""CityDiplomacyModel: a Mesa model whose state lives in NumPy arrays (`model/state.py`) and whose
step runs the eight phases of the schedule in order (see `step`; one module per phase).

Mesa conventions: `model.datacollector` is a `mesa.DataCollector` with every metric as a model
reporter, collected from step 0 (the initial state) after every step; agent reporters for cities
and networks are there too but collected only when asked (`agent_reporters=True`: a Python loop
over every agent each step). The model takes flat keyword parameters, as `mesa.batch_run` passes
them: `CityDiplomacyModel(resources__pool=50, steps=30, rng=1)`, or a Mesa `Scenario` (Mesa 4). As in
Mesa, `rng=None` draws a fresh seed (recorded as `model.seed`, the DataCollector's `seed` column and
`model.cfg.seed`), so `mesa.batch_run` replications differ; the command line and
`model.api.run_scenario` pass the scenario's own seed. One clock: `model.steps` (=
`model.time`) counts steps, step t is calendar year `start_year + t - 1`, step 0 the initial state.
"""

from __future__ import annotations

import functools
import warnings

import mesa
import numpy as np
import pandas as pd
from mesa.experimental.scenarios import Scenario as MesaScenario

from model import agenda, capacity, founding, knowledge, membership, metrics, resources, spillover
from model.agents import CityAgent, NetworkAgent
from model.cities import size_fraction, spread_slots, synthetic_cities, synthetic_countries
from model.config import InterventionConfig, Scenario, ScenarioError
from model.interventions import update_interventions, validate_intervention
from model.loading import load_scenario
from model.randomness import Streams
from model.state import Fixed, Flows, Levers, Memberships, Networks


class CityDiplomacyModel(mesa.Model):
    """Cities choose international networks, share practices through them, compete for resources.

    Args:
        scenario: a validated `Scenario` (see `load_scenario`), a path to a YAML file, None for defaults,
            or a Mesa `Scenario` (mesa.experimental.scenarios; Mesa 4 passes one): its `rng` is the
            run's rng, its other attributes flat fields as in `**params`, `scenario` a base file.
        rng: the seed (a whole number from 0 to 2**63 - 1) or numpy Generator of the model's single
            random generator. None (the default, as in Mesa) draws a fresh seed: each model is a new
            replication, whatever `seed` the scenario names. The seed used is `model.seed` (also the
            `seed` of `model.cfg` and a column of the DataCollector): pass it back as `rng` to repeat
            the run exactly. To run a scenario's own seed: `CityDiplomacyModel(cfg, rng=cfg.seed)`
            (the command line and `model.api.run_scenario` do that).
        agent_reporters: also collect the agent reporters (cities and networks) in `datacollector`
            every step (slow at world scale; off by default).
        **params: flat scenario fields applied on top of `scenario`, with `__` for nesting
            (`resources__pool=50`, `steps=30`), as `mesa.batch_run` passes them; `seed=N` is the
            same as `rng=N`.
    """

    def __init__(self, scenario: Scenario | str | None = None, rng=None, agent_reporters: bool = False, **params):
        if isinstance(scenario, MesaScenario):  # Mesa 4 passes one
            scenario, rng, params, mesa_scenario = _from_mesa_scenario(scenario, rng, params)
        else:
            mesa_scenario = None
        if "seed" in params and params["seed"] is not None:  # a seed written as a keyword: the run's seed
            if rng is not None and not _same_seed(rng, params["seed"]):
                raise ValueError(f"seed={params['seed']!r} and rng={rng!r} differ; pass one of them")
            rng = params["seed"]
        if params:
            base = scenario.model_dump(mode="json") if isinstance(scenario, Scenario) else scenario
            scenario = load_scenario(base, {k.replace("__", "."): v for k, v in params.items()},
                                     override_source="model parameters")
        elif scenario is None or isinstance(scenario, (str,)) or hasattr(scenario, "__fspath__"):
            scenario = load_scenario(scenario)
        cfg = scenario
        rng, seed = _run_seed(rng)
        super().__init__(rng=rng)
        if mesa_scenario is not None:
            self.scenario = mesa_scenario  # Mesa's own attribute: the Scenario as the caller passed it
        if seed is not None and seed != cfg.seed:
            cfg = cfg.model_copy(update={"seed": seed})  # the resolved scenario names the seed this run used
        self.cfg = cfg
        self.seed = seed  # None only when rng was a Generator, BitGenerator or SeedSequence
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
        # entities
        if cfg.cities.source == "real":
            from model.realdata import real_world

            self.cities, self.countries = real_world(cfg, self.rng)
        else:
            self.countries = synthetic_countries(cfg, self.rng, self.n_issues, self.high)
            self.cities = synthetic_cities(cfg, self.rng, self.countries, self.high)
        # what does not change once the model is built (scope lists, size classes, strata; model/state.py)
        self.fixed = Fixed(self.cities, self.n_regions,
                           size_fraction(self.cities.population, cfg.cities.pop_min, cfg.cities.pop_max))
        self.streams = Streams(self.rng, cfg.start_year)
        spread_slots(self)  # each city's cheap slot (its own stream)
        capacity.init_capacity(self)  # who engages internationally at all (its own stream)
        self.founding_slots: dict[tuple[int, int], int] = {}  # (year, kind) -> proposals made (founding.py)
        self.founding_log: list[dict] = []  # per founding call: year, kind, proposed, founded
        self.ranking = membership.Ranking()
        self.ranking.update(self)
        self.funders = resources.make_funders(self)
        # what one phase hands to another within a year (model/state.py; reset in phase 1)
        self.flows = Flows(self.cities.n, self.n_issues, self.funders.n)
        self.levers = Levers(city_first=cfg.governance.city_first, funder_factor=np.ones(self.funders.n))
        self.pool = cfg.resources.pool
        self.networks = Networks(self.n_issues, capacity=max(64, cfg.networks.initial * 2))
        self.memberships = Memberships()
        resources.update_funder_budgets(self)
        self.network_agents: dict[int, NetworkAgent] = {}
        self.city_agents = [CityAgent(self, i) for i in range(self.cities.n)]
        membership.refresh_counts(self)
        self.interventions = [validate_intervention(iv, cfg, f"interventions.{j}", "scenario")
                              for j, iv in enumerate(cfg.interventions)]
        if cfg.networks.catalogue:
            from model.realdata import scenario_catalogue

            self.catalogue = scenario_catalogue(cfg)
        else:
            self.catalogue = None
        self.catalogue_index: dict[str, int] = {}
        self.catalogue_records: list[dict] = []
        founding.initial_networks(self)
        agenda.record_misalignment(self)
        self.exclusion_cohort = self.ever_excluded = None  # phase 8: exclusion metrics (metrics.exclusion)
        self.records: list[dict] = [metrics.observe(self, None)]  # step 0: the initial state
        self.datacollector = mesa.DataCollector(
            model_reporters={"seed": "seed"} | {nm: functools.partial(_metric, nm)
                                                 for nm in metrics.metric_names(self.issue_names)},
            agenttype_reporters=AGENT_REPORTERS if agent_reporters else None)
        self.datacollector.collect(self)
        self.running = True

    @classmethod
    def from_scenario(cls, scenario: Scenario | str | dict | None = None, agent_reporters: bool = False):
        """The model of a scenario as written, its `seed` included (a validated Scenario, a YAML path, a
        mapping of fields or None for defaults): `CityDiplomacyModel(cfg, rng=cfg.seed)`."""
        cfg = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        return cls(cfg, rng=cfg.seed, agent_reporters=agent_reporters)

    # ---------------------------------------------------------------- Mesa agents of networks
    def on_networks_founded(self, idx: np.ndarray):
        """A NetworkAgent (thin view) for each new network."""
        for k in idx:
            self.network_agents[int(k)] = NetworkAgent(self, int(k))

    def on_networks_dissolved(self, idx: np.ndarray):
        for k in idx:
            agent = self.network_agents.get(int(k))
            if agent is not None and agent in self.agents:
                agent.remove()

    def add_intervention(self, iv: InterventionConfig | dict):
        """Add an intervention to the running model (validated against the scenario); it acts from
        its start year on. Returns the plug-in instance."""
        if isinstance(iv, dict):
            iv = InterventionConfig.model_validate(iv)
        inst = validate_intervention(iv, self.cfg, f"interventions.{len(self.interventions)}", "model")
        self.interventions.append(inst)
        return inst

    # ---------------------------------------------------------------- the schedule
    def step(self):
        """One year: the eight phases of the design, in order."""
        self.year = self.cfg.start_year + self.steps - 1
        self.exogenous_change()                                  # 1
        founding.dissolution_phase(self, self.year)              # 2
        founding.catalogue_phase(self, self.year)
        founding.found_phase(self, self.year)
        agenda.agenda_phase(self)                                # 3
        resources.resources_phase(self)                          # 4
        membership.membership_phase(self, self.year)             # 5
        out = knowledge.knowledge_phase(self, self.year)         # 6
        spillover.spillover_phase(self)                          # 7
        agenda.record_misalignment(self)                         # 8
        self.records.append(metrics.observe(self, out))
        self.datacollector.collect(self)
        if self.catalogue_index:
            self.catalogue_records.extend(metrics.observe_named(self))
        if self.steps >= self.cfg.steps:
            self.running = False

    def exogenous_change(self):
        """Phase 1: pool growth, shocks and interventions that start, act or end this year; the
        year's ranking of cities."""
        if self.steps > 1:
            self.pool *= 1 + self.cfg.resources.growth
        self.flows.reset()
        resources.update_funder_budgets(self)
        self.levers.reset_costs(self.networks.n)
        update_interventions(self, self.year)
        capacity.update_capacity(self)  # after the interventions: a budget cut can cost a city its capacity
        self.ranking.update(self)

    def run(self, steps: int | None = None, progress=None):
        """Run `steps` more steps (default: the scenario's `steps` minus those done)."""
        todo = self.cfg.steps - self.steps if steps is None else steps
        for _ in range(max(todo, 0)):
            self.step()
            if progress is not None:
                progress(self)
        return self

    def run_for(self, duration: float) -> None:
        """Mesa's run_for, within the scenario: at most the steps left before its end year (a warning
        says so when `duration` asks for more; set `steps` in the scenario to run longer)."""
        left = self.cfg.steps - self.steps
        if duration > left:
            warnings.warn(f"the scenario ends after {self.cfg.steps} steps (year {self.cfg.end_year}); running the "
                          f"{max(left, 0)} steps left, not {duration}; set steps in the scenario to run longer",
                          RuntimeWarning, stacklevel=2)
            duration = max(left, 0)
        if duration > 0:
            super().run_for(duration)

    def run_until(self, end_time: float) -> None:
        """Mesa's run_until, within the scenario (see run_for)."""
        self.run_for(end_time - self.time)

    # ---------------------------------------------------------------- outputs
    def timeseries(self) -> pd.DataFrame:
        """One row per step, from step 0 (the initial state, year start_year - 1; flow metrics NaN)."""
        cols = ["step", "year"] + metrics.metric_names(self.issue_names)
        return pd.DataFrame(self.records, columns=cols)

    def networks_table(self) -> pd.DataFrame:
        return metrics.networks_table(self)

    def named_networks_history(self) -> pd.DataFrame:
        """Per step, for each catalogue (real) network: members, member countries, median member population."""
        return pd.DataFrame(self.catalogue_records, columns=["step", "year", "network_id", "name", "members",
                                                             "countries", "median_member_population", "applications"])

    def cities_table(self) -> pd.DataFrame:
        return metrics.cities_table(self)

    def final_metrics(self) -> dict[str, float]:
        if not self.records:
            return {}
        return {k: float(v) for k, v in self.records[-1].items() if k not in ("step", "year")}


SEED_MAX = 2**63 - 1  # the scenario's `seed` field: 0 to 2**63 - 1


def fresh_seed() -> int:
    """A seed drawn from the operating system's entropy, in the range of the scenario's `seed` field."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _same_seed(a, b) -> bool:
    return _is_int(a) and _is_int(b) and int(a) == int(b)


def _run_seed(rng) -> tuple:
    """(what Mesa's Model gets as `rng`, the run's seed as an int or None). `rng=None` draws a fresh
    seed (as Mesa does), recorded so that the run can be repeated with `rng=seed`; a whole number is
    the seed; a Generator, BitGenerator or SeedSequence is used as it is (its seed cannot be recorded)."""
    if rng is None:
        seed = fresh_seed()
        return seed, seed
    if _is_int(rng):
        if not 0 <= int(rng) <= SEED_MAX:
            raise ScenarioError("rng", "", f"{int(rng)} is not a seed; expected a whole number from 0 to 2**63 - 1")
        return int(rng), int(rng)
    if isinstance(rng, (bool, float, str)):
        raise ScenarioError("rng", "", f"{rng!r} is not a seed; expected a whole number from 0 to 2**63 - 1, a "
                                       "numpy Generator or None (a fresh seed)")
    return rng, None


def _from_mesa_scenario(sc, rng, params) -> tuple:
    """A Mesa `Scenario` (mesa.experimental.scenarios; Mesa 4 passes one to the model) as (base scenario,
    rng, flat parameters, the Scenario itself): its `rng` is the run's rng (it must equal `rng` when both
    are given, as in Mesa), its other attributes are flat scenario fields (`resources__pool=50`), and a
    `scenario` attribute names a base scenario file."""
    fields = {k: v for k, v in dict(sc).items() if k not in ("rng", "model", "_scenario_id")}
    if rng is not None and sc.rng is not None and not (sc.rng is rng or _same_seed(sc.rng, rng)):
        raise ValueError("rng and scenario.rng must be the same")
    base = fields.pop("scenario", None)
    clash = sorted(set(fields) & set(params))
    if clash:
        raise ValueError(f"{', '.join(clash)} given both in the Mesa Scenario and as keyword arguments; give each once")
    return base, (sc.rng if rng is None else rng), {**fields, **params}, sc


def _metric(name: str, model) -> float:
    """A DataCollector model reporter: the metric's value in the model's latest record."""
    return model.records[-1][name]


AGENT_REPORTERS = {
    CityAgent: {"population": "population", "memberships": "memberships", "practice_mean": "practice_mean",
                "visibility": "visibility", "budget": "budget"},
    NetworkAgent: {"theme": "theme", "rule": "rule", "members": "members", "funds": "funds",
                   "misalignment": "misalignment", "openness": "openness"},
}

__all__ = ["AGENT_REPORTERS", "CityDiplomacyModel", "ScenarioError"]
