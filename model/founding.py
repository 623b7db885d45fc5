"""Phase 2: network founding by coalitions (proliferation) and dissolution.

Proposals. New initiatives per year ~ Poisson(founding_rate x (1 + founding_growth)^t + demand_rate x U),
t the years since the start, U the unmet demand (the share of cities' priority mass on issues none of
their networks is active on); at most `max_networks` operate at once. A proposal's theme is drawn with
    P(theme = i) = convergence x funding_share_i + (1 - convergence) x unmet_share_i
("follow the money" against "fill the niche"; before any grant, for the initial networks, there is
no money to follow and themes fill the niche, so funders' preferences act only through the run); rule, scope, partner share, openness, engagement
(declaration or programme), fee, target size, agenda and starting knowledge are drawn from the
configured distributions.

Coalitions. A proposal becomes a network only if a coalition of cities wants it: its candidates
(for invitation and competitive networks the 3 x founders best-ranked eligible cities; for open and
threshold ones the best 3 x founders on priority(theme) x (0.2 + visibility) x U(0.5, 1.5) among a
random sample of 50 x founders eligible cities) must have free attention for its engagement and a
free budget for its fee, and value it: the membership utility (membership.py) of the proposed
network, with its agenda, the knowledge its candidates pool, the candidates' standing as its
prestige, co-candidates as peers and no funds yet, above `join_threshold`. With at least
`min_founders` willing candidates the network is founded with the best `founders` of them (by
utility); otherwise the initiative fails (`model.founding_log` counts both). Founders commit for
`commitment_years`: they keep the network through that period unless their budget or attention no
longer covers it. The new network's knowledge starts at least at its founders' best practice x
agenda focus.

Real networks (a catalogue) enter in their founding year with their real rule, scope, theme and
engagement; they are founded even if fewer candidates want them (history is an input), with the
willing candidates first.

Dissolution. A network whose members fall below `min_members` or whose income falls below
`min_income` for `floor_years` consecutive years dissolves; a network without members dissolves
after `empty_grace_years` such years (it is never counted as operating nor funded while empty).

Random streams: the yearly count from the founding stream's item 0; everything about the j-th
proposal of a year (of its kind: synthetic, catalogue, initial) from its own item, so that one more
or one fewer proposal leaves the others' draws unchanged.
"""

from __future__ import annotations

import numpy as np

from model.capacity import effective_attention
from model.compiled import jit
from model.knowledge import open_pool
from model.membership import Pairs, held_totals, money_cost, network_rows, pair_utility, refresh_counts
from model.state import COMPETITIVE, GLOBAL_SCOPE, INVITATION, OPEN, RULES, THRESHOLD, active_on, col_sums

RULE_WORDS = {OPEN: "Network", THRESHOLD: "Metropolitan Forum", INVITATION: "Circle", COMPETITIVE: "Challenge"}
COUNT, SYNTHETIC, CATALOGUE, INITIAL, OTHER = range(5)  # items of the founding stream


def unmet_demand(model) -> tuple[float, np.ndarray]:
    """Share of cities' priority mass not covered by any membership; and its split by issue."""
    c, mem = model.cities, model.memberships
    by_issue = np.zeros(model.n_issues)
    if len(mem) == 0 or model.networks.n == 0:
        by_issue = col_sums(c.priority)
    else:
        o = mem.by_city(c.n)
        _uncovered_priority(o.indptr, o.net, issue_bits(active_on(model)), c.priority, by_issue)
    total = float(by_issue.sum()) / c.n
    s = by_issue.sum()
    return total, (by_issue / s if s > 0 else np.full(len(by_issue), 1.0 / len(by_issue)))


def issue_bits(on: np.ndarray) -> np.ndarray:
    """(networks x words) uint64: bit i % 64 of word i // 64 set where a network is on issue i."""
    n, I = on.shape
    words = np.zeros((n, (I + 63) // 64), dtype=np.uint64)
    for i in range(I):
        words[:, i // 64] |= on[:, i].astype(np.uint64) << np.uint64(i % 64)
    return words


@jit
def _uncovered_priority(indptr, net, bits, P, by_issue):
    """by_issue[i] += P[c, i] over the cities c none of whose networks is active on issue i (city
    order); `bits` the networks' issues as bit sets (issue_bits)."""
    N, I = P.shape
    covered = np.zeros(bits.shape[1], np.uint64)
    one = np.uint64(1)
    for ci in range(N):
        covered[:] = 0
        for e in range(indptr[ci], indptr[ci + 1]):
            for w in range(bits.shape[1]):
                covered[w] |= bits[net[e], w]
        for i in range(I):
            by_issue[i] += 0.0 if (covered[i // 64] >> np.uint64(i % 64)) & one else P[ci, i]


def theme_probabilities(model, niche: np.ndarray | None = None) -> np.ndarray:
    """convergence x funding shares + (1 - convergence) x unmet-demand shares."""
    cfg = model.cfg.networks
    if niche is None:
        _, niche = unmet_demand(model)
    money = model.flows.funding_share  # last year's grants by issue (phase 4)
    if money is None or not np.isfinite(money).all() or money.sum() <= 0:
        money = niche  # before any grant (the initial networks) there is no money to follow: the niche
    p = cfg.convergence * money + (1 - cfg.convergence) * niche
    return p / p.sum()


def _fixed(value, j):
    """The j-th entry of an optional array of fixed attributes (None: draw it)."""
    if value is None:
        return None
    v = np.asarray(value)[j]
    return v.item() if hasattr(v, "item") else v


def propose(model, rng, niche, theme=None, rule=None, scope=None, threshold=None, partnered=None, target=None,
            sponsor=None, engagement=None) -> dict:
    """The attributes of one proposed network, drawn from its own stream `rng` (given ones are kept).
    The same numbers are drawn whatever is given or decided, so that a proposal's other attributes do
    not depend on one of them."""
    cfg, I = model.cfg.networks, model.n_issues
    u = rng.random(12)
    z = rng.standard_normal(3)
    appeal = model.issue_appeal / model.issue_appeal.sum()
    # from a child stream: the gamma sampler consumes a number of values that depends on the appeal,
    # which would otherwise shift every later draw of the proposal (its candidates) between arms
    g = rng.spawn(1)[0].gamma(cfg.partner_focus * I * appeal) + 1e-12
    p_theme = theme_probabilities(model, niche)
    theme = _pick(p_theme, u[0]) if theme is None else int(theme)
    if rule is None:
        p = np.array(cfg.rule_shares())
        rule = _pick(np.maximum(p, 0.0), u[1])
    rule = int(rule)
    if scope is None:
        region_w = region_sizes(model).astype(float)
        scope = GLOBAL_SCOPE if u[2] < cfg.global_share else _pick(region_w, u[3])
    scope = int(scope)
    thr = cfg.threshold_pop * np.exp(0.5 * z[0])
    if threshold is not None and np.isfinite(threshold) and threshold > 0:
        thr = float(threshold)
    partnered = bool(u[4] < cfg.partnered_share) if partnered is None else bool(partnered)
    share = 0.1 + u[5] * max(0.0, cfg.partner_share_max - 0.1) if partnered else 0.0
    closed = rule in (INVITATION, COMPETITIVE)
    if engagement is None:
        declaration = (not closed) and u[6] < cfg.declaration_share
        # a declaration's own engagement from a second child stream (the proposal's other draws stay as they were)
        spread = cfg.declaration_spread * (2.0 * rng.spawn(1)[0].random() - 1.0)
        engagement = cfg.declaration_level * (1.0 + spread) if declaration else cfg.programme_low + u[7] * (1 - cfg.programme_low)
    engagement = float(engagement)
    eligible = len(scope_cities(model, scope))
    tgt = max(cfg.target_min, round(cfg.target_share * eligible * np.exp(-0.08 + 0.4 * z[2])))
    if target is not None and target > 0:
        tgt = int(target)
    onehot = np.eye(I)[theme]
    agenda = 0.6 * onehot + 0.4 * model.salience_share
    prop = {
        "theme": theme, "rule": rule, "scope": scope, "threshold": thr if rule == THRESHOLD else 0.0,
        "partner_share": share, "partner_pref": g / g.sum(),
        "openness": cfg.closed_openness() if closed else cfg.openness_open,
        "engagement": engagement,
        "fee": cfg.fee_share * model.fixed.median_budget * engagement * np.exp(-0.125 + 0.5 * z[1]),
        "target": tgt if closed else 0, "agenda": agenda, "knowledge": agenda * (0.15 + 0.2 * u[8]),
        "efficiency": 0.4 + 0.4 * u[9], "sponsor": -1, "founded_offset": int(u[10] * 30),
    }
    fund = model.funders
    choose = partnered if sponsor is None else sponsor == -2
    if sponsor is not None and sponsor >= 0:
        prop["sponsor"] = int(sponsor)
    if choose:  # partnered networks get a sponsoring funder, chosen by fit to the theme
        ok = fund.active & ((fund.region == GLOBAL_SCOPE) | (fund.region == scope))
        if ok.any():
            prop["sponsor"] = _pick(np.where(ok, fund.pref[:, theme], 0.0), u[11])
    return prop


def scope_cities(model, scope: int) -> np.ndarray:
    """The cities (ascending) in a scope: all for the global scope, else the region's (cities do not
    move: listed once, `model.fixed.scope_cities`)."""
    return model.fixed.scope_cities[int(scope)]


def region_sizes(model) -> np.ndarray:
    """(regions,) the number of cities in each region (`model.fixed.region_sizes`)."""
    return model.fixed.region_sizes


def _pick(weights: np.ndarray, u: float) -> int:
    """The index drawn with probabilities proportional to `weights` by the uniform `u`."""
    cum = np.cumsum(weights)
    return min(int(np.searchsorted(cum, u * cum[-1], side="right")), len(weights) - 1)


class Room:
    """Each city's attention and budget not yet used by its memberships (kept up to date while
    networks are founded in one phase)."""

    def __init__(self, model):
        c, nets, mem = model.cities, model.networks, model.memberships
        fees, held = np.zeros(c.n), np.zeros(c.n)
        o = mem.by_city(c.n)
        held_totals(o.city, o.net, money_cost(model, nets.fee[:nets.n], nets.engagement[:nets.n]), nets.engagement,
                    fees, held)
        self.model = model
        self.attention = effective_attention(model) - held  # without international capacity: a declaration at most
        self.budget = c.budget - fees

    def fits(self, cities: np.ndarray, engagement: float, fee: float) -> np.ndarray:
        return ((self.attention[cities] >= engagement - 1e-9)
                & (self.budget[cities] >= money_cost(self.model, fee, engagement) - 1e-12))

    def take(self, cities: np.ndarray, engagement: float, fee: float):
        self.attention[cities] -= engagement
        self.budget[cities] -= money_cost(self.model, fee, engagement)


def candidates(model, rng, prop: dict, n_founders: int, room: Room) -> np.ndarray:
    """Candidate founders of a proposal, best first (module docstring); only cities with room for it."""
    c = model.cities
    m = 3 * n_founders
    closed = prop["rule"] in (INVITATION, COMPETITIVE)
    if closed:
        ranked = model.ranking.ranked(model, top=m)[prop["scope"]]
        ranked = ranked[room.fits(ranked, prop["engagement"], prop["fee"])][:m]
        score = model.ranking.score[ranked] * rng.uniform(0.8, 1.2, len(ranked))
        return ranked[np.argsort(-score, kind="stable")]
    cand = scope_cities(model, prop["scope"])
    if prop["rule"] == THRESHOLD:
        cand = cand[c.population[cand] >= prop["threshold"]]
    if len(cand) > 50 * n_founders:
        cand = np.sort(cand[rng.integers(0, len(cand), 50 * n_founders)])
        cand = cand[np.r_[True, cand[1:] != cand[:-1]]]  # np.unique of a small array, without its hash table
    else:
        rng.integers(0, 1, 50 * n_founders)  # the same number of draws either way
    cand = cand[room.fits(cand, prop["engagement"], prop["fee"])]
    score = c.priority[cand, prop["theme"]] * (0.2 + c.visibility[cand]) * rng.uniform(0.5, 1.5, len(cand))
    return cand[np.argsort(-score, kind="stable")[:m]]


def coalition_utility(model, prop: dict, cands: np.ndarray, open_seen: np.ndarray) -> np.ndarray:
    """Each candidate's utility of the proposed network (membership.pair_utility): its agenda, the
    knowledge the candidates pool, their standing as prestige, co-candidates as peers, no funds yet."""
    c = model.cities
    k = len(cands)
    focus = prop["agenda"] / prop["agenda"].max()
    K = np.maximum(prop["knowledge"], c.practice[cands].max(axis=0) * focus)
    same_c = np.bincount(c.country[cands], minlength=model.countries.n)[c.country[cands]] - 1
    same_r = np.bincount(c.region[cands], minlength=model.n_regions)[c.region[cands]] - 1
    one = np.zeros(k, dtype=np.int64)  # every candidate reads the proposal's one row, as a non-member
    row = network_rows(prop["agenda"][None, :], K[None, :], members=np.array([k - 1.0]), programme=np.zeros(1),
                       prestige=np.array([c.visibility[cands].mean()]), rule=np.array([prop["rule"]]),
                       openness=np.array([float(prop["openness"])]), fee=np.array([float(prop["fee"])]),
                       engagement=np.array([float(prop["engagement"])]), drift=np.zeros(1))
    return pair_utility(model, Pairs(cands, one, one, same_c, same_r), row, open_seen)


def found_networks(model, k: int, year: int, themes=None, rules=None, scopes=None, names: list[str] | None = None,
                   founders: int | None = None, niche: np.ndarray | None = None, partnered=None, thresholds=None,
                   targets=None, sponsors=None, engagement=None, kind: int = OTHER,
                   require_coalition: bool = True, attempts: int | None = None) -> np.ndarray:
    """Propose k networks and found those a coalition wants (module docstring); return their indices.

    The optional arrays fix what is otherwise drawn (catalogue networks): themes, rules, scopes,
    partnered (bool), thresholds (population, for the threshold rule), targets (target size of
    invitation and competitive networks), sponsors (funder index, -1 for none, -2 to choose by
    theme) and engagement. `founders=0` founds the networks without founders (for tests);
    `require_coalition=False` founds them even without a willing coalition (real networks).
    `attempts` (default k) proposals are made until k networks are founded."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    cfg = model.cfg.networks
    n_founders = cfg.founders if founders is None else founders
    if niche is None:
        _, niche = unmet_demand(model)
    room = Room(model)
    open_seen = open_pool(model)[0]
    pending: list = []  # founders' memberships, added once after the proposals (nothing in the loop reads them)
    start = model.founding_slots.get((year, kind), 0)
    made, proposed = [], 0
    for j in range(k if attempts is None else attempts):
        if len(made) >= k:
            break
        f = j
        rng = model.streams.rng("founding", year, kind, start + j)
        proposed += 1
        prop = propose(model, rng, niche, theme=_fixed(themes, f), rule=_fixed(rules, f), scope=_fixed(scopes, f),
                       threshold=_fixed(thresholds, f), partnered=_fixed(partnered, f), target=_fixed(targets, f),
                       sponsor=_fixed(sponsors, f), engagement=_fixed(engagement, f))
        members = np.zeros(0, dtype=np.int64)
        if n_founders > 0:
            cands = candidates(model, rng, prop, n_founders, room)
            U = coalition_utility(model, prop, cands, open_seen) if len(cands) else np.zeros(0)
            order = np.argsort(-U, kind="stable")
            # cities are choosier in a shock, about what engages them much (membership.py)
            bar = model.cfg.membership.join_threshold + model.levers.selectivity * prop["engagement"]
            willing = cands[order][U[order] > bar]
            if len(willing) < cfg.min_founders:
                if require_coalition:
                    continue  # the initiative fails
                willing = cands[order]  # a real network: the least unwilling candidates fill in
            cap = n_founders if prop["target"] <= 0 else min(n_founders, prop["target"])  # a circle starts within its target
            members = willing[:cap]
            room.take(members, prop["engagement"], prop["fee"])
            model.flows.new_founders[members] = True  # they reconsider the standards they practise this year
        name = names[f] if names is not None else None
        made.append(create(model, prop, members, year, name, pending))
        if kind == INITIAL:  # founded in one of the 30 years before the start
            model.networks.founded[made[-1]] = year - prop["founded_offset"]
    _add_founders(model, pending, year)
    model.founding_slots[(year, kind)] = start + proposed
    model.founding_log.append({"year": int(year), "kind": int(kind), "proposed": proposed, "founded": len(made)})
    idx = np.array(made, dtype=np.int64)
    if len(idx):
        refresh_counts(model)
        model.on_networks_founded(idx)
    return idx


def create(model, prop: dict, founders: np.ndarray, year: int, name: str | None = None,
           pending: list | None = None) -> int:
    """Write one network's row (founded in `year`) and its founders' committed memberships (appended
    to `pending` as (founders, network, committed until) when given, for one `Memberships.add` of a
    phase's foundings)."""
    nets, c = model.networks, model.cities
    I = model.n_issues
    k = int(nets.add(1)[0])
    nets.active[k] = True
    nets.founded[k] = year
    nets.dissolved[k] = -1
    for key in ("theme", "rule", "scope", "threshold", "partner_share", "openness", "engagement", "fee", "target",
                "efficiency", "sponsor"):
        getattr(nets, key)[k] = prop[key]
    nets.partner_pref[k] = prop["partner_pref"]
    nets.agenda[k] = prop["agenda"]
    nets.knowledge[k] = prop["knowledge"]
    nets.standard[k] = nets.new_standards(I)
    nets.secretariat[k] = 0.2
    for key in ("funds", "grants", "fees", "programme", "prestige", "drift", "misalignment"):
        getattr(nets, key)[k] = 0.0
    nets.low_years[k] = 0
    nets.empty_years[k] = 0
    nets.members[k] = len(founders)
    t = prop["theme"]
    nets.names.append(name if name is not None else f"{model.issue_names[t].title()} {RULE_WORDS[prop['rule']]} {k + 1:03d}")
    if len(founders):
        commit = model.cfg.networks.commitment_years
        until = year + commit - 1 if commit > 0 else -1
        if pending is None:
            model.memberships.add(founders, np.full(len(founders), k), year, committed_until=until)
        else:
            pending.append((founders, k, until))
        focus = prop["agenda"] / prop["agenda"].max()
        nets.knowledge[k] = np.maximum(nets.knowledge[k], c.practice[founders].max(axis=0) * focus)
    return k


def _add_founders(model, pending: list, year: int):
    """One `Memberships.add` for the founders' memberships of a phase, in founding order."""
    if not pending:
        return
    until = np.concatenate([np.full(len(f), u, dtype=np.int64) for f, _, u in pending])
    city = np.concatenate([f for f, _, _ in pending])
    net = np.concatenate([np.full(len(f), k, dtype=np.int64) for f, k, _ in pending])
    mem = model.memberships
    start = len(mem)
    mem.add(city, net, year)
    mem.committed[start:] = until


def initial_networks(model):
    """The networks that exist before the first step: catalogue networks founded before the start
    year, then up to `networks.initial` synthetic ones founded by coalitions (at most 5 x initial
    proposals), with founding years spread over the 30 years before."""
    start = model.cfg.start_year
    if model.catalogue is not None:
        cat = model.catalogue
        old = cat[(cat["founded"] < start) & (cat["ended"].isna() | (cat["ended"] >= start))]
        enter_catalogue(model, old, start - 1, founded_years=old["founded"].to_numpy())
    k = model.cfg.networks.initial
    if k == 0:
        return
    found_networks(model, k, start - 1, kind=INITIAL, attempts=5 * k)


def found_phase(model, year: int):
    """This year's proposals and the networks coalitions found."""
    cfg = model.cfg.networks
    unmet, niche = unmet_demand(model)
    lam = cfg.founding_rate * (1 + cfg.founding_growth) ** (year - model.cfg.start_year) + cfg.demand_rate * unmet
    k = int(model.streams.rng("founding", year, COUNT).poisson(lam))
    room = cfg.max_networks - int(model.networks.operating().sum())
    k = max(0, min(k, room))
    return found_networks(model, k, year, niche=niche, kind=SYNTHETIC)


def dissolution_phase(model, year: int) -> np.ndarray:
    """Dissolve networks below the member or income floor for `floor_years` years, and networks
    without members for more than `empty_grace_years` years."""
    cfg, nets = model.cfg.networks, model.networks
    n = nets.n
    act = nets.active[:n]
    income_known = nets.founded[:n] < year if model.steps > 1 else np.zeros(n, dtype=bool)  # no income before the first step
    low = act & ((nets.members[:n] < cfg.min_members) | ((nets.funds[:n] < cfg.min_income) & income_known))
    nets.low_years[:n] = np.where(low, nets.low_years[:n] + 1, 0)
    empty = act & (nets.members[:n] == 0)
    nets.empty_years[:n] = np.where(empty, nets.empty_years[:n] + 1, 0)
    gone = np.flatnonzero(act & ((nets.low_years[:n] >= cfg.floor_years) | (nets.empty_years[:n] > cfg.empty_grace_years)))
    if len(gone):
        dissolve(model, gone, year)
    return gone


def dissolve(model, idx: np.ndarray, year: int):
    """Networks idx dissolve in `year`: inactive from now on, and their members leave."""
    nets = model.networks
    nets.active[idx] = False
    nets.dissolved[idx] = year
    drop = np.isin(model.memberships.net, idx)
    model.memberships.keep(~drop)
    refresh_counts(model)
    model.on_networks_dissolved(idx)


# ------------------------------------------------------------------------------------------------
# Real networks from a catalogue (data/networks.csv): they enter in their founding year with
# their real rule, scope, theme and engagement and are dissolved in their end year.

def _sponsor_codes(model, sponsor_types, scopes) -> np.ndarray:
    """Catalogue sponsor type -> funder choice: cities: none (-1); eu: a funder restricted to
    Europe if there is one; philanthropy / international organisation: chosen by theme (-2)."""
    fund = model.funders
    europe = model.region_names.index("Europe") if "Europe" in model.region_names else None
    eu = np.flatnonzero(fund.region == europe) if europe is not None else np.zeros(0, dtype=int)
    out = []
    for t in sponsor_types:
        if t == "cities":
            out.append(-1)
        elif t == "eu" and len(eu):
            out.append(int(eu[0]))
        else:
            out.append(-2)
    return np.array(out, dtype=np.int64)


def catalogue_engagement(model, levels) -> np.ndarray:
    """Engagement of catalogue networks from their level: declaration (`declaration_level`),
    association (0.5) or programme (1)."""
    table = {"declaration": model.cfg.networks.declaration_level, "association": 0.5, "programme": 1.0}
    return np.array([table[v] for v in levels], dtype=float)


def enter_catalogue(model, rows, year: int, founded_years=None) -> np.ndarray:
    """Found the catalogue networks in `rows` (a DataFrame slice) in `year`."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    issue = model.issue_index
    themes = np.array([issue[t] for t in rows["theme"]])
    rules = np.array([RULES.index(r) for r in rows["rule"]])
    scopes = np.array([GLOBAL_SCOPE if s == "global" else model.region_names.index(s) for s in rows["scope"]])
    thr = rows["threshold_pop"].astype(float).fillna(0).to_numpy()
    members = rows["members"].astype(float).fillna(0).to_numpy()
    targets = np.where(np.isin(rules, [INVITATION, COMPETITIVE]), members, 0)
    partnered = rows["partnered"].astype(bool).to_numpy()
    sponsors = _sponsor_codes(model, list(rows["sponsor"]), scopes)
    idx = found_networks(model, len(rows), year, themes=themes, rules=rules, scopes=scopes,
                         names=list(rows["name"]), founders=model.cfg.networks.catalogue_founders,
                         partnered=partnered, thresholds=thr, targets=targets, sponsors=sponsors,
                         engagement=catalogue_engagement(model, rows["engagement"]), kind=CATALOGUE,
                         require_coalition=False)
    if founded_years is not None:
        model.networks.founded[idx] = founded_years
    for k, (_, r) in zip(idx, rows.iterrows()):
        model.catalogue_index[str(r["name"])] = int(k)
    return idx


def catalogue_phase(model, year: int):
    """Enter catalogue networks founded this year; dissolve those whose real end year this is."""
    cat = model.catalogue
    if cat is None:
        return
    new = cat[cat["founded"] == year]
    enter_catalogue(model, new, year)
    ended = cat[cat["ended"].notna() & (cat["ended"] == year)]
    gone = [model.catalogue_index[n] for n in ended["name"] if n in model.catalogue_index]
    gone = [k for k in gone if model.networks.active[k]]
    if gone:
        dissolve(model, np.array(gone, dtype=np.int64), year)
