"""Interventions (remedies) and shocks as plug-ins with one life cycle.

Each kind is a class registered under its `kind` name with a pydantic `Params` model. Scenario
files list them under `interventions:` with `kind`, `start`, optional `end` (inclusive) and
`params`. In phase 1 of each step, for year t:
    start <= t <= end and not begun  -> begin(model), then step(model)
    start <= t <= end                -> step(model)
    t > end and begun, not finished  -> finish(model)   (undo what should not outlast it)
A new kind subclasses `Intervention`, sets `kind`, `label`, `remedy` and `Params`, and is decorated
with `@register`. An intervention acts only through the model's `levers` (model/state.py, `Levers`:
each field names the phase that reads it) or through the state it changes directly; each class's
docstring names both.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.config import InterventionConfig, ScenarioError
from model.files import read_text_file
from model.resources import update_funder_budgets
from model.schema import did_you_mean, translate
from model.state import COMPETITIVE, INVITATION, RULES, active_on

REGISTRY: dict[str, type[Intervention]] = {}


class KindClash(Exception):
    """A class registered under a kind that another class has already (a built-in, or another plug-in)."""

    def __init__(self, kind: str, other):
        self.kind, self.other = kind, other
        super().__init__(f"kind {kind!r} is registered already ({other.__module__}.{other.__qualname__})")


def register(cls):
    """Register an intervention class under its `kind` (a class decorator). A kind registered already by
    another class is refused (KindClash): a plug-in cannot replace a built-in intervention."""
    if not isinstance(cls, type) or not issubclass(cls, Intervention) or not cls.kind:
        raise TypeError(f"@register needs a subclass of Intervention that sets `kind`; got {cls!r}")
    prev = REGISTRY.get(cls.kind)
    if prev is not None and prev is not cls and (prev.__module__, prev.__qualname__) != (cls.__module__, cls.__qualname__):
        raise KindClash(cls.kind, prev)
    REGISTRY[cls.kind] = cls
    return cls


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)  # as model.config.Strict


class Intervention:
    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""  # a short readable name (the app's switches)
    remedy: ClassVar[bool] = False  # a remedy from the literature (else a shock)
    Params: ClassVar[type[Params]] = Params
    needs_issues: ClassVar[tuple[str, ...]] = ()
    acts_on_networks: ClassVar[bool] = False  # it changes networks (a remedy of the networks): a world without them cannot hold it

    @classmethod
    def needs_networks(cls, params: dict) -> bool:
        """Whether this intervention, with these parameters, needs international city networks."""
        return cls.acts_on_networks

    def __init__(self, cfg: InterventionConfig, params: Params, path: str = ""):
        self.cfg, self.p, self.path = cfg, params, path
        self.begun = self.finished = False
        tail = path.rsplit(".", 1)[-1]
        self.index = int(tail) if tail.isdigit() else 0  # its place in the scenario's list: its random stream

    def rng(self, model, year: int, item: int = 0) -> np.random.Generator:
        """This intervention's random stream in `year` (model.randomness.Streams; `item` separates its
        kinds of draws), keyed by its place in the scenario's list."""
        return model.streams.rng("interventions", year, self.index, item)

    @property
    def start(self) -> int:
        return self.cfg.start

    @property
    def end(self) -> int | None:
        return self.cfg.end

    def update(self, model, year: int):
        """Drive the life cycle for calendar year `year`."""
        if self.finished:
            return
        within = year >= self.start and (self.end is None or year <= self.end)
        if within:
            if not self.begun:
                self.begun = True
                self.begin(model)
            self.step(model)
        elif self.begun:
            self.finished = True
            self.finish(model)

    def validate(self, scenario, source: str):
        """Checks that need the whole scenario (issue names, funder count); raise ScenarioError."""

    def begin(self, model):
        pass

    def step(self, model):
        pass

    def finish(self, model):
        pass


def update_interventions(model, year: int):
    """Phase 1: drive every intervention's life cycle for calendar year `year`, in the listed order
    (an inactive one, `active: false`, keeps its place and does nothing)."""
    for iv in model.interventions:
        if iv.cfg.active:
            iv.update(model, year)


def needs_networks(iv: dict) -> bool:
    """Whether an intervention (a scenario's mapping) acts on international city networks, so that a world
    without networks cannot hold it (the kind's `needs_networks`, given its parameters)."""
    cls = REGISTRY.get(iv["kind"])
    return cls is not None and cls.needs_networks(iv.get("params") or {})


def remedies() -> dict[str, str]:
    """Registered remedies: kind -> label."""
    return {k: c.label for k, c in REGISTRY.items() if c.remedy}


def scenario_json_schema(scenario_cls) -> dict:
    """The scenario JSON Schema, with each intervention's `params` spelled out: `interventions`
    items are one of the registered kinds (a `kind` constant, `start`, `end` and that kind's
    parameters with their defaults and descriptions)."""
    schema = scenario_cls.model_json_schema()
    defs = schema.setdefault("$defs", {})
    variants = []
    for kind, cls in sorted(REGISTRY.items()):
        params = cls.Params.model_json_schema()
        for sub_name, sub in params.pop("$defs", {}).items():
            defs.setdefault(sub_name, sub)
        params["title"] = f"{kind} parameters"
        params["description"] = f"Parameters of {kind}; every one optional, with the default shown."
        name = f"Intervention_{kind}"
        defs[name] = {
            "type": "object", "additionalProperties": False, "title": kind,
            "description": " ".join((cls.__doc__ or "").split()),
            "properties": {"kind": {"const": kind, "description": "Plug-in name."}, "start": {"type": "integer", "description": "First calendar year in which it acts."},
                           "end": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None,
                                   "description": "Last calendar year in which it acts (inclusive); none: to the end of the run."},
                           "params": params},
            "required": ["kind", "start"],
        }
        variants.append({"$ref": f"#/$defs/{name}"})
    schema["properties"]["interventions"]["items"] = {"oneOf": variants}
    return schema


def _issue_check(names: list[str] | None, scenario, path: str, source: str, field: str = "issues"):
    for j, nm in enumerate(names or []):
        if nm not in scenario.issue_names:
            raise ScenarioError(source, f"{path}.params.{field}" + (f".{j}" if field == "issues" else ""),
                                f"unknown issue '{nm}'; expected one of: {', '.join(scenario.issue_names)}")


def validate_intervention(iv: InterventionConfig, scenario, path: str, source: str = "") -> Intervention:
    cls = REGISTRY.get(iv.kind)
    if cls is None:
        raise ScenarioError(source, f"{path}.kind", f"unknown kind '{iv.kind}'; expected one of: "
                                                    f"{', '.join(sorted(REGISTRY))}{did_you_mean(iv.kind, REGISTRY)} "
                                                    "(a kind of your own: --plugin FILE, docs/plugins.md)")
    try:
        params = cls.Params.model_validate(iv.params)
    except ValidationError as e:
        raise translate(e, cls.Params, source, prefix=f"{path}.params") from None
    for nm in cls.needs_issues:
        if nm not in scenario.issue_names:
            raise ScenarioError(source, f"{path}.kind", f"'{iv.kind}' needs an issue named '{nm}' in the scenario's issues")
    inst = cls(iv, params, path)
    inst.validate(scenario, source)
    return inst


# ---------------------------------------------------------------------------------------------
# Remedies


@register
class CrossNetworkPlatform(Intervention):
    """Networks active on a shared issue join a platform: links carry knowledge between them, and members
    may adopt the leading standard on a covered issue; each network on the platform pays coordination
    (secretariat time and programme money), and merged standards lose the variety bonus of competing
    lines (knowledge.py). Levers: `levers.links` (phase 6, horizontal flow) and `levers.coordination`
    (phase 4); state: the networks' standards (`networks.standard`) on covered issues."""

    kind = "cross_network_platform"
    label = "Cross-network platform"
    acts_on_networks = True
    remedy = True

    class Params(Params):
        issues: list[str] | None = Field(None, description="Issues covered (default: all).")
        coverage: float = Field(1.0, ge=0, le=1, description="Probability that a network joins the platform.")
        merge_rate: float = Field(0.2, ge=0, le=1, description="Yearly probability that a member adopts the leading standard on a covered issue.")
        transfer_rate: float = Field(0.3, ge=0, le=1, description="Yearly share of the knowledge gap a network closes across a platform link (0: links carry no knowledge; an assumption).")
        coordination_cost: float = Field(0.05, ge=0, le=1, description="Share of each linked network's income spent on coordination while on the platform (an assumption).")

    def validate(self, scenario, source):
        _issue_check(self.p.issues, scenario, self.path, source)

    def begin(self, model):
        self.joined = np.zeros(0, dtype=bool)  # per network, decided once when first seen

    def step(self, model):
        nets = model.networks
        n = nets.n
        u_join = self.rng(model, model.year, 0).random(n)  # in network order: the same draw for the same network
        u_merge = self.rng(model, model.year, 1).random((n, model.n_issues))
        new = n - len(self.joined)
        if new > 0:
            self.joined = np.r_[self.joined, u_join[len(self.joined):] < self.p.coverage]
        issues = [model.issue_index[i] for i in (self.p.issues or model.issue_names)]
        on = active_on(model)[:, issues] & self.joined[:, None]
        L = (on.astype(float) @ on.T.astype(float)) > 0
        np.fill_diagonal(L, False)
        model.levers.links = L.astype(float) * self.p.transfer_rate
        model.levers.add_cost(self.p.coordination_cost, np.flatnonzero(L.any(axis=1)))  # networks with a partner
        for col, i in enumerate(issues):
            who = np.flatnonzero(on[:, col])
            if len(who) < 2:
                continue
            lead = who[np.argmax(nets.knowledge[who, i])]
            adopt = who[u_merge[who, i] < self.p.merge_rate]
            nets.standard[adopt, i] = nets.standard[lead, i]

    def finish(self, model):
        model.levers.links = None


@register
class SecretariatExchange(Intervention):
    """Secretariats exchange staff and methods, at a cost in staff time (both sides: sending and hosting).
    Methods: efficiency converges toward the best (it helps only where efficiency differs, and competition
    raises it anyway). Staff: operating networks are paired strongest with weakest by last year's
    secretariat capacity; while the exchange runs, each recipient closes `rate` of the gap to its donor's
    capacity (seconded staff and shared routines teach its members better); the lift lasts only while it
    runs. State: `networks.efficiency` (phase 4, programme money); levers: `levers.exchange_partner` and
    `levers.exchange_transfer` (phase 4, secretariat capacity), `levers.coordination` (phase 4)."""

    kind = "secretariat_exchange"
    label = "Secretariat exchange"
    acts_on_networks = True
    remedy = True

    class Params(Params):
        rate: float = Field(0.3, ge=0, le=1, description="Yearly share of the gap to the best efficiency closed, and share of the gap to its donor's secretariat capacity a recipient closes while paired.")
        staff_cost: float = Field(0.02, ge=0, le=1, description="Share of each operating network's income spent on the exchange (staff time) while it runs (an assumption).")

    def step(self, model):
        nets = model.networks
        n = nets.n
        act = nets.operating()
        partner = np.full(n, -1, dtype=np.int64)
        if act.any():
            best = nets.efficiency[:n][act].max()
            nets.efficiency[:n][act] += self.p.rate * (best - nets.efficiency[:n][act])
            model.levers.add_cost(self.p.staff_cost, np.flatnonzero(act))
            donors, recipients = pair_by_capacity(np.flatnonzero(act), nets.secretariat[:n])
            partner[recipients] = donors
        model.levers.exchange_partner = partner
        model.levers.exchange_transfer = self.p.rate

    def finish(self, model):
        model.levers.exchange_partner = np.zeros(0, dtype=np.int64)
        model.levers.exchange_transfer = 0.0


def pair_by_capacity(idx: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of networks `idx` by capacity, strongest with weakest, second with second weakest, ...
    (ties by index; with an odd count the middle one is unpaired): (donors, recipients)."""
    order = idx[np.lexsort((idx, -capacity[idx]))]
    m = len(order) // 2
    return order[:m], order[::-1][:m]


@register
class IOFramework(Intervention):
    """Part of the funding is pooled through an international organisation, allocated by members served
    (less the IO's administrative overhead); affiliated networks share one standard per issue (and lose
    the variety of competing lines), pay coordination, and pooled money spurs no competition for
    efficiency. Levers: `levers.io_pooled_share`, `levers.io_overhead`, `levers.io_affiliated` and
    `levers.coordination` (phase 4, resources); state: `networks.standard`."""

    kind = "io_framework"
    label = "IO framework (pooled funding)"
    acts_on_networks = True
    remedy = True

    class Params(Params):
        pooled_share: float = Field(0.3, ge=0, le=1, description="Share of each funder's budget left after sponsorship that is pooled through the IO.")
        min_members: int = Field(10, ge=0, description="Members a network needs to affiliate.")
        rules: list[Literal["open", "threshold", "invitation", "competitive"]] = Field(
            default_factory=lambda: list(RULES), description="Membership rules of networks that may affiliate.")
        shared_standard: bool = Field(True, description="Affiliated networks adopt one standard per issue.")
        overhead: float = Field(0.1, ge=0, le=1, description="Share of the pooled money used by the IO's administration (an assumption).")
        coordination_cost: float = Field(0.03, ge=0, le=1, description="Share of each affiliated network's income spent on coordination (an assumption).")

    def step(self, model):
        nets = model.networks
        n = nets.n
        rules = [RULES.index(r) for r in self.p.rules]
        aff = nets.operating() & (nets.members[:n] >= self.p.min_members) & np.isin(nets.rule[:n], rules)
        model.levers.io_affiliated = aff
        model.levers.io_pooled_share = self.p.pooled_share
        model.levers.io_overhead = self.p.overhead
        model.levers.add_cost(self.p.coordination_cost, np.flatnonzero(aff))
        who = np.flatnonzero(aff)
        if self.p.shared_standard and len(who) > 1:
            for i in range(model.n_issues):
                lead = who[np.argmax(nets.knowledge[who, i])]
                nets.standard[who, i] = nets.standard[lead, i]

    def finish(self, model):
        model.levers.io_pooled_share = 0.0
        model.levers.io_overhead = 0.0
        model.levers.io_affiliated = np.zeros(0, dtype=bool)


@register
class CityFirst(Intervention):
    """City-first governance: partners' weight in agendas is multiplied by (1 - strength); partners then
    give money and expertise in proportion to the weight they keep. Lever: `levers.city_first` (read by
    phase 3, agenda; phase 4, sponsorship; phase 6, partners' expertise)."""

    kind = "city_first"
    label = "City-first governance"
    acts_on_networks = True
    remedy = True

    class Params(Params):
        strength: float = Field(0.8, ge=0, le=1, description="City-first level while active.")

    def begin(self, model):
        self.saved = model.levers.city_first
        model.levers.city_first = max(model.levers.city_first, self.p.strength)

    def finish(self, model):
        model.levers.city_first = self.saved


@register
class OpenKnowledge(Intervention):
    """Invitation and competitive networks publish their knowledge to non-members (networks founded
    while it runs are opened from the next year's step; all get their own openness back at the end).
    Openness costs the network: members and invitees value its exclusivity less and can learn part of
    it without joining (phase 5), sponsors of a small circle give less (phase 4). State:
    `networks.openness` (read by phases 4, 5 and 6)."""

    kind = "open_knowledge"
    label = "Open knowledge"
    acts_on_networks = True
    remedy = True

    class Params(Params):
        openness: float = Field(0.6, ge=0, le=1, description="Least openness of invitation and competitive networks while active.")

    def begin(self, model):
        self.saved = {}

    def step(self, model):
        nets = model.networks
        n = nets.n
        closed = np.flatnonzero(nets.active[:n] & np.isin(nets.rule[:n], [INVITATION, COMPETITIVE]))
        for k in closed:
            self.saved.setdefault(int(k), float(nets.openness[k]))
        nets.openness[closed] = np.maximum(nets.openness[closed], self.p.openness)

    def finish(self, model):
        for k, v in self.saved.items():
            model.networks.openness[k] = v


@register
class ExtendServices(Intervention):
    """Networks serve non-members (as in 2020): the openness non-members see rises toward 1, which costs
    the networks programme money (serving non-members) and members' reason to join (they can free-ride).
    Levers: `levers.service_extension` (read through the open pool by phase 2, founders' utility, phase 5,
    utility, and phase 6, learning of non-members) and `levers.coordination` (phase 4)."""

    kind = "extend_services"
    label = "Extend services to non-members"
    acts_on_networks = True
    remedy = True

    class Params(Params):
        level: float = Field(0.5, ge=0, le=1, description="Share of the gap to full openness that non-members are served.")
        service_cost: float = Field(0.1, ge=0, le=1, description="Share of each operating network's income spent on serving non-members at level 1 (times the level; an assumption).")

    def begin(self, model):
        model.levers.service_extension = self.p.level

    def step(self, model):
        model.levers.add_cost(self.p.service_cost * self.p.level, np.flatnonzero(model.networks.operating()))

    def finish(self, model):
        model.levers.service_extension = 0.0


# ---------------------------------------------------------------------------------------------
# Shocks


@register
class Pandemic(Intervention):
    """Health priority surges, budgets and attention shrink by the same share for every city (cities
    whose fees and engagement already fill their budget and attention, with less slack, must drop
    memberships), networks repurpose toward health, cities become more selective (review more often,
    demand more utility to keep or join a network, so they keep the networks that serve the shock).
    Levers: `levers.health_pull` (phase 3, agenda), `levers.selectivity` (phase 2, founders' bar, and
    phase 5, membership) and `levers.review_boost` (phase 5, membership); state: cities' priority, budget
    and attention."""

    kind = "pandemic"
    label = "Pandemic"
    needs_issues = ("health",)

    class Params(Params):
        health_surge: float = Field(0.3, ge=0, le=1, description="Priority mass moved to health at the start.")
        budget_cut: float = Field(0.3, ge=0, le=1, description="Share of engagement budgets cut while active.")
        attention_cut: float = Field(0.3, ge=0, le=1, description="Share of every city's attention (units of engagement) cut while active.")
        repurpose: float = Field(0.4, ge=0, le=1, description="Pull of network agendas toward health while active.")
        selectivity: float = Field(0.3, ge=0, le=10, description="Extra utility a city needs to join or keep a network while active.")
        review_boost: float = Field(2.0, ge=1, le=10, description="Multiplier of the review rate while active.")

    def begin(self, model):
        c = model.cities
        h = model.issue_index["health"]
        c.priority *= 1 - self.p.health_surge
        c.priority[:, h] += self.p.health_surge
        c.budget[:] = c.base_budget * (1 - self.p.budget_cut)
        c.attention[:] = c.base_attention * (1 - self.p.attention_cut)  # units of engagement: no rounding
        lev = model.levers
        lev.health_pull = self.p.repurpose
        lev.selectivity = self.p.selectivity
        lev.review_boost = self.p.review_boost

    def finish(self, model):
        c = model.cities
        c.budget[:] = c.base_budget
        c.attention[:] = c.base_attention
        lev = model.levers
        lev.health_pull = 0.0
        lev.selectivity = 0.0
        lev.review_boost = 1.0


@register
class FundingWithdrawal(Intervention):
    """A funder withdraws part or all of its budget (`funder`, default the largest), or the sponsor of a
    named network stops sponsoring that network (`network`): the funder's sponsorship reserve is then
    shared by its other sponsored networks, or goes to its contest if it sponsors none. Overlapping
    withdrawals of the same funder should end in the reverse order of their start. Lever:
    `levers.funder_factor` (phase 1, funders' budgets, which phase 4 allocates); state: `networks.sponsor`."""

    kind = "funding_withdrawal"
    label = "Funding withdrawal"

    @classmethod
    def needs_networks(cls, params: dict) -> bool:
        return params.get("network") is not None  # a named network's sponsorship (a funder's budget needs none)

    class Params(Params):
        funder: int | None = Field(None, ge=0, description="Index of the funder that withdraws (default: the largest).")
        network: str | None = Field(None, description="Name of a network whose sponsor stops sponsoring it (overrides funder; share is then ignored).")
        share: float = Field(1.0, ge=0, le=1, description="Share of the funder's budget withdrawn.")

    def validate(self, scenario, source):
        if self.p.funder is not None and self.p.funder >= scenario.resources.n_funders:
            raise ScenarioError(source, f"{self.path}.params.funder",
                                f"funder {self.p.funder} does not exist; expected 0 to {scenario.resources.n_funders - 1}")

    def begin(self, model):
        f = self.p.funder
        self.k = None
        if self.p.network is not None:
            k = network_index(model, self.p.network)
            if k is None and self.p.network in model.networks.names:
                self.f = None  # the network existed but has dissolved already: nothing left to withdraw
                return
            if k is None or model.networks.sponsor[k] < 0:
                raise ScenarioError("", f"{self.path}.params.network",
                                    f"no sponsored network named '{self.p.network}' exists in {model.year}")
            self.k, self.sponsor = k, int(model.networks.sponsor[k])
            model.networks.sponsor[k] = -1
            return
        if f is None:
            f = int(np.argmax(model.funders.weight))
        self.f = f
        self.saved = float(model.levers.funder_factor[f])
        model.levers.funder_factor[f] *= 1 - self.p.share
        update_funder_budgets(model)

    def finish(self, model):
        if self.k is not None:
            model.networks.sponsor[self.k] = self.sponsor
            return
        if self.f is None:
            return
        model.levers.funder_factor[self.f] = self.saved
        update_funder_budgets(model)


@register
class NationalWithdrawal(Intervention):
    """A national government drops an agreement on an issue; its cities may counter-commit. State:
    `countries.locked` and `countries.stance` (phase 7, spillover up), its cities' priority and norm."""

    kind = "national_withdrawal"
    label = "National withdrawal"

    class Params(Params):
        country: str | int = Field("largest_north", description="Country name or index; 'largest_north': the Global North country with the largest urban population.")
        issue: str = Field("climate", description="Issue of the agreement.")
        counter_commit: float = Field(0.3, ge=0, le=1, description="Priority and norm boost of the country's cities on the issue.")

    def validate(self, scenario, source):
        _issue_check([self.p.issue], scenario, self.path, source, field="issue")

    def begin(self, model):
        s = country_index(model, self.p.country)
        if s is None:
            raise ScenarioError("", f"{self.path}.params.country", f"no country '{self.p.country}' in this run")
        self.s = s
        i = model.issue_index[self.p.issue]
        model.countries.locked[s, i] = True
        model.countries.stance[s, i] = 0.0
        c = model.cities
        mine = c.country == s
        cc = self.p.counter_commit
        c.priority[mine] *= 1 - cc
        c.priority[mine, i] += cc
        c.norm[mine, i] += cc * (1 - c.norm[mine, i])

    def finish(self, model):
        model.countries.locked[self.s, model.issue_index[self.p.issue]] = False


# ---------------------------------------------------------------------------------------------
# Lookups of named things in a running model


def network_index(model, name: str) -> int | None:
    """Index of the active network called `name` (None when there is none)."""
    for k, nm in enumerate(model.networks.names):
        if nm == name and model.networks.active[k]:
            return k
    return None


def country_index(model, key) -> int | None:
    """Index of a country by index, name, ISO code, or 'largest_north' (the Global North country
    with the largest urban population); None when there is none."""
    co = model.countries
    if isinstance(key, int):
        return key if 0 <= key < co.n else None
    if key == "largest_north":
        pop = np.bincount(model.cities.country, weights=model.cities.population, minlength=co.n)
        pop = np.where(co.north, pop, -1)
        return int(np.argmax(pop)) if (pop > 0).any() else None
    hits = np.flatnonzero(co.name == key)
    if not len(hits) and co.code is not None:
        hits = np.flatnonzero(co.code == key)
    return int(hits[0]) if len(hits) else None


# ---------------------------------------------------------------------------------------------
# Plug-ins of your own: interventions loaded from a file or a module (docs/plugins.md)

BUILTIN_KINDS = frozenset(REGISTRY)
_PLUGINS: dict[tuple, tuple[str, ...]] = {}  # (what, label, text or module) -> the kinds it registered, in load order


def load_plugin(spec: str) -> tuple[str, ...]:
    """Load a plug-in: a Python file (`path/to/my_intervention.py`, relative to the working directory)
    or an importable module (`mypackage.interventions`) whose classes subclass `Intervention` and are
    decorated with `@register`. Returns the kinds it registered. Its source travels with every run to
    worker processes and Dask workers (`loaded_plugins`, `ensure_plugins`), which load it before the
    scenario is validated there. A missing file or module, a file that fails to import, defines no
    intervention or a kind that exists already (a built-in) is a ScenarioError naming `--plugin SPEC`."""
    spec = str(spec)
    label = f"--plugin {spec}"
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        if not spec.endswith(".py"):
            raise ScenarioError(label, "", "expected a Python file (ending in .py) or an importable module name "
                                           "such as mypackage.interventions")

        try:
            text = read_text_file(spec, "Python", "a Python file that defines an intervention (docs/plugins.md)",
                                  limit=1_000_000)
        except ScenarioError as e:
            raise ScenarioError(label, "", e.message) from None
        return _load(("file", spec, text), label)
    if not all(part.isidentifier() for part in spec.split(".")):
        raise ScenarioError(label, "", "expected a Python file (ending in .py) or an importable module name such as "
                                       "mypackage.interventions")
    return _load(("module", spec, spec), label)


def loaded_plugins() -> list[tuple]:
    """The plug-ins loaded in this process, in order, as `ensure_plugins` takes them (picklable)."""
    return list(_PLUGINS)


def ensure_plugins(plugins) -> None:
    """Load, once per process, the plug-ins of another process (`loaded_plugins`): what a worker does
    before it validates a scenario."""
    for key in plugins or ():
        key = tuple(key)
        if key not in _PLUGINS:
            _load(key, f"--plugin {key[1]}")


def _load(key: tuple, label: str) -> tuple[str, ...]:
    import hashlib
    import importlib
    import sys
    import types

    if key in _PLUGINS:
        return _PLUGINS[key]
    what, name, payload = key
    before = dict(REGISTRY)
    try:
        if what == "file":
            digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
            modname = f"citydip_plugin_{''.join(c if c.isalnum() else '_' for c in Path(name).stem)}_{digest}"
            module = types.ModuleType(modname)
            module.__file__ = str(Path(name).resolve())
            sys.modules[modname] = module  # classes pickle by reference to it, dataclasses find it
            try:
                exec(compile(payload, str(name), "exec"), module.__dict__)  # noqa: S102 - the file named by --plugin
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        else:
            try:
                importlib.import_module(payload)
            except ModuleNotFoundError as e:
                if e.name and payload.startswith(e.name):
                    raise ScenarioError(label, "", f"no module named {e.name!r} (on this machine's Python path); "
                                                   "expected a Python file (ending in .py) or an importable module")
                raise
    except ScenarioError:
        _restore(before)
        raise
    except KindClash as e:
        _restore(before)
        what_is = "a built-in intervention" if e.kind in BUILTIN_KINDS else \
            f"the kind of {e.other.__module__}.{e.other.__qualname__}"
        raise ScenarioError(label, "", f"kind {e.kind!r} is {what_is}; expected a kind of its own (rename it)") from None
    except Exception as e:  # noqa: BLE001 - the plug-in's own code failed: one line, exit 2
        _restore(before)
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise ScenarioError(label, "", f"cannot be loaded{where}: {type(e).__name__}: {e}") from None
    kinds = tuple(k for k in REGISTRY if k not in before)
    if not kinds:
        already = [k for k, c in REGISTRY.items() if k not in BUILTIN_KINDS and before.get(k) is c
                   and c.__module__ == (payload if what == "module" else "")]
        if what == "module" and already:  # imported before (e.g. by the worker's own import): its kinds
            kinds = tuple(already)
        else:
            raise ScenarioError(label, "", "defines no intervention; expected a subclass of "
                                           "model.interventions.Intervention with a `kind`, decorated with @register "
                                           "(docs/plugins.md)")
    _PLUGINS[key] = kinds
    return kinds


def _restore(before: dict) -> None:
    REGISTRY.clear()
    REGISTRY.update(before)
