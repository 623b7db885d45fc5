"""Interventions (remedies) and shocks as plug-ins with one life cycle.

Each kind is a class registered under its `kind` name with a pydantic `Params` model. Scenario
files list them under `interventions:` with `kind`, `start`, optional `end` (inclusive) and
`params`. In phase 1 of each step, for year t:
    start <= t <= end and not begun  -> begin(model), then step(model)
    start <= t <= end                -> step(model)
    t > end and begun, not finished  -> finish(model)   (undo what should not outlast it)
A new kind subclasses `Intervention`, sets `kind` and `Params`, and is decorated with `@register`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.config import InterventionConfig, ScenarioError
from model.state import COMPETITIVE, INVITATION, RULES

REGISTRY: dict[str, type[Intervention]] = {}


def register(cls):
    REGISTRY[cls.kind] = cls
    return cls


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Intervention:
    kind: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    needs_issues: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: InterventionConfig, params: Params, path: str = ""):
        self.cfg, self.p, self.path = cfg, params, path
        self.begun = self.finished = False

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

    def active(self, year: int) -> bool:
        return year >= self.start and (self.end is None or year <= self.end)

    def begin(self, model):  # noqa: D102 - once, in the start year
        pass

    def step(self, model):  # noqa: D102 - every year while active
        pass

    def finish(self, model):  # noqa: D102 - once, the year after the end
        pass


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
        raise ScenarioError(source, f"{path}.kind", f"unknown kind '{iv.kind}'; expected one of: {', '.join(sorted(REGISTRY))}")
    try:
        params = cls.Params.model_validate(iv.params)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown parameter; expected one of: {', '.join(sorted(cls.Params.model_fields))}"
        raise ScenarioError(source, f"{path}.params.{loc}", msg) from None
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
    """Networks active on a shared issue link (knowledge flows, fragmentation falls) and may merge standards."""

    kind = "cross_network_platform"

    class Params(Params):
        issues: list[str] | None = Field(None, description="Issues covered (default: all).")
        coverage: float = Field(1.0, ge=0, le=1, description="Probability that a network joins the platform.")
        merge_rate: float = Field(0.2, ge=0, le=1, description="Yearly probability that a member adopts the leading standard on a covered issue.")

    def validate(self, scenario, source):
        _issue_check(self.p.issues, scenario, self.path, source)

    def begin(self, model):
        self.joined = np.zeros(0, dtype=bool)  # per network, decided once when first seen

    def step(self, model):
        from model.metrics import active_on

        nets = model.networks
        n = nets.n
        new = n - len(self.joined)
        if new > 0:
            self.joined = np.r_[self.joined, model.rng.random(new) < self.p.coverage]
        issues = [model.issue_index[i] for i in (self.p.issues or model.issue_names)]
        on = active_on(model)[:, issues] & self.joined[:, None]
        L = (on.astype(float) @ on.T.astype(float)) > 0
        np.fill_diagonal(L, False)
        model.set_links(L.astype(float))
        for col, i in enumerate(issues):
            who = np.flatnonzero(on[:, col])
            if len(who) < 2:
                continue
            lead = who[np.argmax(nets.knowledge[who, i])]
            adopt = who[model.rng.random(len(who)) < self.p.merge_rate]
            nets.standard[adopt, i] = nets.standard[lead, i]

    def finish(self, model):
        model.set_links(None)


@register
class SecretariatExchange(Intervention):
    """Secretariats exchange staff and methods: efficiency converges toward the best."""

    kind = "secretariat_exchange"

    class Params(Params):
        rate: float = Field(0.3, ge=0, le=1, description="Yearly share of the gap to the best efficiency closed.")

    def step(self, model):
        nets = model.networks
        n = nets.n
        act = nets.active[:n]
        if act.any():
            best = nets.efficiency[:n][act].max()
            nets.efficiency[:n][act] += self.p.rate * (best - nets.efficiency[:n][act])


@register
class IOFramework(Intervention):
    """Part of the funding is pooled through an international organisation, allocated by members served;
    affiliated networks share one standard per issue."""

    kind = "io_framework"

    class Params(Params):
        pooled_share: float = Field(0.3, ge=0, le=1, description="Share of each funder's budget left after sponsorship that is pooled through the IO.")
        min_members: int = Field(10, ge=0, description="Members a network needs to affiliate.")
        rules: list[Literal["open", "threshold", "invitation", "competitive"]] = Field(
            default_factory=lambda: list(RULES), description="Membership rules of networks that may affiliate.")
        shared_standard: bool = Field(True, description="Affiliated networks adopt one standard per issue.")

    def step(self, model):
        nets = model.networks
        n = nets.n
        rules = [RULES.index(r) for r in self.p.rules]
        aff = nets.active[:n] & (nets.members[:n] >= self.p.min_members) & np.isin(nets.rule[:n], rules)
        model.io_affiliated[:] = False
        model.io_affiliated[:n] = aff
        model.io_pooled_share = self.p.pooled_share
        who = np.flatnonzero(aff)
        if self.p.shared_standard and len(who) > 1:
            for i in range(model.n_issues):
                lead = who[np.argmax(nets.knowledge[who, i])]
                nets.standard[who, i] = nets.standard[lead, i]

    def finish(self, model):
        model.io_pooled_share = 0.0
        model.io_affiliated[:] = False


@register
class CityFirst(Intervention):
    """City-first governance: partners' weight in agendas is multiplied by (1 - strength)."""

    kind = "city_first"

    class Params(Params):
        strength: float = Field(0.8, ge=0, le=1, description="City-first level while active.")

    def begin(self, model):
        self.saved = model.city_first
        model.city_first = max(model.city_first, self.p.strength)

    def finish(self, model):
        model.city_first = self.saved


@register
class OpenKnowledge(Intervention):
    """Invitation and competitive networks publish their knowledge to non-members (networks founded
    while it runs are opened from the next year's step; all get their own openness back at the end)."""

    kind = "open_knowledge"

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
    """Networks serve non-members (as in 2020): the openness non-members see rises toward 1."""

    kind = "extend_services"

    class Params(Params):
        level: float = Field(0.5, ge=0, le=1, description="Share of the gap to full openness that non-members are served.")

    def begin(self, model):
        model.service_extension = self.p.level

    def finish(self, model):
        model.service_extension = 0.0


# ---------------------------------------------------------------------------------------------
# Shocks


@register
class Pandemic(Intervention):
    """Health priority surges, budgets and attention shrink, networks repurpose toward health,
    cities become more selective (review more often, demand more utility to join)."""

    kind = "pandemic"
    needs_issues = ("health",)

    class Params(Params):
        health_surge: float = Field(0.3, ge=0, le=1, description="Priority mass moved to health at the start.")
        budget_cut: float = Field(0.3, ge=0, le=1, description="Share of engagement budgets cut while active.")
        attention_cut: float = Field(0.3, ge=0, le=1, description="Share of attention (membership slots) cut while active.")
        repurpose: float = Field(0.4, ge=0, le=1, description="Pull of network agendas toward health while active.")
        selectivity: float = Field(0.3, ge=0, le=10, description="Extra utility a city needs to join while active.")
        review_boost: float = Field(2.0, ge=1, le=10, description="Multiplier of the review rate while active.")

    def begin(self, model):
        c = model.cities
        h = model.issue_index["health"]
        c.priority *= 1 - self.p.health_surge
        c.priority[:, h] += self.p.health_surge
        c.budget[:] = c.base_budget * (1 - self.p.budget_cut)
        c.attention[:] = np.floor(c.base_attention * (1 - self.p.attention_cut) + 0.5).astype(np.int64)  # round half up
        model.health_pull = self.p.repurpose
        model.selectivity = self.p.selectivity
        model.review_boost = self.p.review_boost
        model.force_review = True  # every city reconsiders its memberships in the shock's first year

    def finish(self, model):
        c = model.cities
        c.budget[:] = c.base_budget
        c.attention[:] = c.base_attention
        model.health_pull = 0.0
        model.selectivity = 0.0
        model.review_boost = 1.0


@register
class FundingWithdrawal(Intervention):
    """A funder withdraws part or all of its budget (`funder`, default the largest), or the sponsor of a
    named network stops sponsoring that network (`network`): the funder's sponsorship reserve is then
    shared by its other sponsored networks, or goes to its contest if it sponsors none. Overlapping
    withdrawals of the same funder should end in the reverse order of their start."""

    kind = "funding_withdrawal"

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
            k = model.network_index(self.p.network)
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
        self.saved = float(model.funder_factor[f])
        model.funder_factor[f] *= 1 - self.p.share
        model.update_funder_budgets()

    def finish(self, model):
        if self.k is not None:
            model.networks.sponsor[self.k] = self.sponsor
            return
        if self.f is None:
            return
        model.funder_factor[self.f] = self.saved
        model.update_funder_budgets()


@register
class NationalWithdrawal(Intervention):
    """A national government drops an agreement on an issue; its cities may counter-commit."""

    kind = "national_withdrawal"

    class Params(Params):
        country: str | int = Field("largest_north", description="Country name or index; 'largest_north': the Global North country with the largest urban population.")
        issue: str = Field("climate", description="Issue of the agreement.")
        counter_commit: float = Field(0.3, ge=0, le=1, description="Priority and norm boost of the country's cities on the issue.")

    def validate(self, scenario, source):
        _issue_check([self.p.issue], scenario, self.path, source, field="issue")

    def begin(self, model):
        s = model.country_index(self.p.country)
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
