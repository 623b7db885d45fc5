"""Phase 5: membership. Invitations and applications; cities review, join and leave.

Each year a share `review_rate` (x the pandemic's review boost) of cities review their memberships
(one uniform draw per city per year, from the membership stream); cities that receive an
invitation review too, and so does every city whose budget or attention no longer covers the fees
and engagement of what it holds (after a shock's cuts). A reviewing city considers its own networks, `candidates` networks drawn
with probability proportional to network visibility (`candidates` uniforms per city per year, drawn
whether it reviews or not), and the networks that invited it.

Eligibility of city c for network k: scope (global, or c's region), and by rule: `open` anyone;
`threshold` population >= threshold_k; `invitation` only cities invited this year (the
best-ranked cities in scope that are not members and have not declined before, as many as there
are open slots target_k - members_k, down to rank 3 target_k; rank score 0.5 visibility + 0.3 size
+ 0.2 capacity); `competitive` anyone may apply, the network admits the best-ranked applicants up
to its target. Targets of invitation and competitive networks scale with the cities eligible by
scope (`target_share`, at least `target_min`).

Utility of network k to city c (P = priority, A = agenda, K = knowledge, p = practice, o = the open
knowledge c can use without joining, e = engagement, d = agenda drift, I issues):
    U = w_fit (I P.A - 1) + w_learn e_k capacity_c I sum_i P_i max(0, K_ki - max(p_ci, o_ci))
        + w_funds log(1 + prog_k/(m_k+1)/budget_c)
        + e_k [w_prestige 2 visibility_c prestige_k + w_peers min(1, (same-country + 0.3 same-region members)/(m_k+1))
               + w_similar (1 - |visibility_c - prestige_k|) + w_exclusive visibility_c (1 - openness_k) [k closed]]
        - w_fee fee_k/budget_c - w_drift d_k - attention_cost e_k
What a city can learn without joining does not count for joining (openness lets cities free-ride),
exclusivity is worth less the more a closed network opens, agenda drift weakens commitment, and
the relational benefits (status, peers, standing) grow with how much a membership engages the city.
A member keeps a network while U > -switching_cost + selectivity e_k (a founder keeps it through
its commitment, see founding.py); a non-member wants it when U > join_threshold + selectivity e_k
(selectivity is 0 except under a pandemic; times the engagement e_k, since a shock makes cities
choosy about what costs them attention and money, not about a declaration that costs almost none).

The city takes its wanted networks in order (committed ones first, then by decreasing U), each one
that still fits: the engagement of its memberships within its attention (units of engagement, so a
declaration fits where a programme network does not) and their fees within its budget. Founders
whose budget or attention no longer covers a committed membership lose it (their budget failed).
Engagement builds global fluency: visibility_c += fluency_gain x min(1, sum_k e_k / 3) x (1 - visibility_c).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from model import capacity
from model.compiled import argsort_stable, jit
from model.knowledge import open_pool
from model.state import COMPETITIVE, GLOBAL_SCOPE, INVITATION, THRESHOLD


class Ranking:
    """Cities by decreasing rank score, refreshed once a year (phase 1) and shared by every user of the
    ranking (founders of closed networks, invitations, competitive selection):
        rank_c = 0.5 visibility_c + 0.3 size_c + 0.2 capacity_c,  size_c = log(pop_c/pop_min)/log(pop_max/pop_min).
    All cities are sorted once a year (a stable radix sort); each user reads the head it needs."""

    def __init__(self):
        self.score: np.ndarray | None = None
        self._ranked: dict[int, np.ndarray] | None = None
        self._order: np.ndarray | None = None
        self._order_of: np.ndarray | None = None  # the score array `_order` sorts
        self._top = 0

    def update(self, model):
        c = model.cities
        self.score = 0.5 * c.visibility + 0.3 * model.fixed.size_frac + 0.2 * c.capacity  # a new array: ranked anew

    def ranked(self, model, top: int | None = None) -> dict[int, np.ndarray]:
        """City indices by decreasing rank score (ties: lower index first), globally (GLOBAL_SCOPE)
        and per region. The global list holds the first m = top x (regions + 1) cities; a region's
        the cities of that head that are in the region, or all of its cities where the head holds
        fewer than `top` of them."""
        nets = model.networks
        if top is not None and nets.n:  # rank once per year for every user of the ranking
            top = max(top, 3 * int(nets.target[: nets.n].max()), 3 * model.cfg.networks.founders)
        if self._order_of is not self.score:  # a new score (the year's update, or one replaced): one stable sort
            self._order, self._order_of, self._ranked = argsort_stable(-self.score), self.score, None
        if self._ranked is None or (top is not None and top > self._top):
            n = model.cities.n
            m = n if top is None else min(n, top * (model.n_regions + 1))
            order = self._order
            reg = model.cities.region[order]
            head = np.bincount(reg[:m], minlength=model.n_regions)
            self._ranked = {GLOBAL_SCOPE: order[:m]}
            for r, mine in enumerate(_split_by_region(order, reg, model.n_regions)):
                self._ranked[r] = mine if m >= n or head[r] < (top or 0) else mine[: head[r]]
            self._top = n if top is None else top
        return self._ranked


def _split_by_region(order: np.ndarray, reg: np.ndarray, n_regions: int) -> list[np.ndarray]:
    """`order` split by region, each region's part in the order of `order`: [order[reg == r] for r in
    range(n_regions)], with `reg` the region of each entry of `order` (region ids from 0 to
    n_regions - 1). One stable sort of the region ids (NumPy's radix sort for small integer ids) and
    one gather: about a fifth of the time of one comparison per region over 30,000 cities (6
    regions). The parts are views of one array (the ranking's lists are read, never written)."""
    by_region = order[np.argsort(reg.astype(np.min_scalar_type(max(n_regions - 1, 0))), kind="stable")]
    ends = np.cumsum(np.bincount(reg, minlength=n_regions))
    return np.split(by_region, ends[:-1])


def refresh_counts(model):
    """Members per network and prestige (members' mean visibility), from the membership edge list
    (after every change of memberships and of visibility). Members per country and region are
    counted when read (`place_counts`)."""
    c, nets, mem = model.cities, model.networks, model.memberships
    n = nets.n
    nets.members[:] = 0
    if n == 0:
        return
    count, vis_sum = np.zeros(n, dtype=np.int64), np.zeros(n)
    _members_and_visibility(mem.net, mem.city, c.visibility, count, vis_sum)
    nets.members[:n] = count
    nets.prestige[:n] = vis_sum / np.maximum(nets.members[:n], 1)


@jit
def _members_and_visibility(net, city, visibility, count, vis_sum):
    """Members per network and the sum of their visibility (edge order)."""
    for e in range(len(net)):
        count[net[e]] += 1
        vis_sum[net[e]] += visibility[city[e]]


def place_counts(model) -> tuple[np.ndarray, np.ndarray]:
    """(countries x networks) and (regions x networks) members, from the edge list; cached on the
    memberships until they or the number of networks change (cities do not move)."""
    mem, n = model.memberships, model.networks.n
    key = (mem.version, len(mem), n)
    if mem.country_counts is None or mem._place_key != key:
        mem.country_counts = np.zeros((model.countries.n, n), dtype=np.int64)
        mem.region_counts = np.zeros((model.n_regions, n), dtype=np.int64)
        o = mem.by_city(model.cities.n)
        _place_counts(o.net, o.city, model.cities.country, model.cities.region, mem.country_counts,
                      mem.region_counts)
        mem._place_key = key
    return mem.country_counts, mem.region_counts


@jit
def _place_counts(net, city, country, region, by_country, by_region):
    """Members per country and network, per region and network (one pass over the memberships)."""
    for e in range(len(net)):
        k, ci = net[e], city[e]
        by_country[country[ci], k] += 1
        by_region[region[ci], k] += 1


def invitations(model) -> tuple[np.ndarray, np.ndarray]:
    """(city, network) pairs: each invitation network below its target invites the best-ranked
    cities in scope that have international capacity (capacity.py) and are neither members nor have
    declined it before, as many as it has open slots (target - members), looking down the ranking as
    far as 3 x target."""
    nets, mem = model.networks, model.memberships
    n = nets.n
    inv = np.flatnonzero(nets.active[:n] & (nets.rule[:n] == INVITATION) & (nets.members[:n] < nets.target[:n]))
    if len(inv) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = model.ranking.ranked(model, top=3 * int(nets.target[inv].max()))  # scope -> cities by decreasing rank score
    N = model.cities.n
    heads = [order[int(nets.scope[k])][: 3 * int(nets.target[k])] for k in inv]
    hc = np.concatenate(heads)
    hk = np.repeat(inv, [len(h) for h in heads])
    key = hk * N + hc
    is_inv = np.zeros(n, dtype=bool)
    is_inv[inv] = True
    sel = is_inv[mem.net]
    taken = np.sort(mem.net[sel] * N + mem.city[sel])  # current members of these networks
    refused = [k * N + mem.declined[int(k)] for k in inv if int(k) in mem.declined]
    if refused:
        taken = np.sort(np.concatenate([taken] + refused))
    if len(taken):
        pos = np.searchsorted(taken, key).clip(0, len(taken) - 1)
        free = taken[pos] != key
    else:
        free = np.ones(len(key), dtype=bool)
    free &= model.cities.office[hc]  # a city without international capacity is not invited (nor marked as declining)
    hc, hk = hc[free], hk[free]  # still in ranking order within each network
    rank = _group_rank(hk)
    ok = rank < (nets.target[hk] - nets.members[hk])
    return hc[ok], hk[ok]


def utility(model, c: np.ndarray, k: np.ndarray, member: np.ndarray, open_seen: np.ndarray | None = None) -> np.ndarray:
    """Utility of network k to city c for each pair (vectorised over pairs); `member` 1 where c is a
    member of k (it does not count itself among the members), `open_seen` the (regions x issues)
    open knowledge (knowledge.open_pool; computed when not given)."""
    cities, nets = model.cities, model.networks
    if open_seen is None:
        open_seen = open_pool(model)[0]
    c = np.asarray(c, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    member = np.asarray(member, dtype=np.int64)
    same_c, same_r = np.empty(len(c)), np.empty(len(c))
    by_country, by_region = place_counts(model)
    _same_place(c, k, member, cities.country, cities.region, by_country, by_region, same_c, same_r)
    n = nets.n
    rows = network_rows(nets.agenda, nets.knowledge, nets.members[:n], nets.programme[:n], nets.prestige[:n],
                        nets.rule[:n], nets.openness[:n], nets.fee[:n], nets.engagement[:n], nets.drift[:n])
    return pair_utility(model, Pairs(c, k, member.astype(np.float64), same_c, same_r), rows, open_seen)


@jit
def _same_place(c, k, member, country, region, by_country, by_region, same_c, same_r):
    """The other members of network k[j] from city c[j]'s country and region."""
    for j in range(len(c)):
        same_c[j] = by_country[country[c[j]], k[j]] - member[j]
        same_r[j] = by_region[region[c[j]], k[j]] - member[j]


class Pairs(NamedTuple):
    """(city, network) pairs whose utility is computed (arrays of equal length)."""

    city: np.ndarray  # int64: the city c
    net: np.ndarray  # int64: the network's row k in `NetworkRows`
    member: np.ndarray  # float64: 1 where c is a member of k (it does not count itself among the members)
    same_country: np.ndarray  # float64: k's other members from c's country
    same_region: np.ndarray  # float64: k's other members from c's region


class NetworkRows(NamedTuple):
    """The network attributes the utility reads, one row per network (existing or proposed)."""

    agenda: np.ndarray  # (rows x issues) A_k
    knowledge: np.ndarray  # (rows x issues) K_k
    members: np.ndarray  # float64 m_k
    programme: np.ndarray  # programme money
    prestige: np.ndarray  # members' mean visibility
    closed: np.ndarray  # float64: 1 for invitation and competitive networks
    openness: np.ndarray
    fee: np.ndarray
    engagement: np.ndarray  # e_k
    drift: np.ndarray  # agenda drift d_k


def network_rows(agenda, knowledge, members, programme, prestige, rule, openness, fee, engagement,
                 drift) -> NetworkRows:
    """`NetworkRows` from network arrays (`rule` the networks' rules: closed = invitation or competitive)."""
    closed = ((rule == INVITATION) | (rule == COMPETITIVE)).astype(np.float64)
    return NetworkRows(agenda, knowledge, np.asarray(members, dtype=np.float64), programme, prestige, closed,
                       openness, fee, engagement, drift)


class CityRows(NamedTuple):
    """The city attributes the utility reads (model.cities)."""

    region: np.ndarray
    priority: np.ndarray  # (cities x issues) P_c
    practice: np.ndarray  # (cities x issues) p_c
    capacity: np.ndarray
    budget: np.ndarray
    visibility: np.ndarray


class UtilityWeights(NamedTuple):
    """The weights of the utility's terms (membership config)."""

    fit: float
    learn: float
    funds: float
    prestige: float
    peers: float
    similar: float
    exclusive: float
    fee: float
    drift: float
    attention_cost: float
    participation: float  # participation_cost: money per unit of engagement beyond the fee


def utility_weights(cfg) -> UtilityWeights:
    """The utility weights of a MembershipConfig."""
    return UtilityWeights(float(cfg.w_fit), float(cfg.w_learn), float(cfg.w_funds), float(cfg.w_prestige),
                          float(cfg.w_peers), float(cfg.w_similar), float(cfg.w_exclusive), float(cfg.w_fee),
                          float(cfg.w_drift), float(cfg.attention_cost), float(cfg.participation_cost))


def money_cost(model, fee, engagement):
    """What a membership costs a city's engagement budget: its fee plus membership.participation_cost x
    its engagement (travel, events; the network does not receive it)."""
    return np.asarray(fee) + model.cfg.membership.participation_cost * np.asarray(engagement)


def pair_utility(model, pairs: Pairs, nets: NetworkRows, open_seen: np.ndarray) -> np.ndarray:
    """The utility formula of the module docstring for `pairs` (city, network row) of `nets`, for
    existing networks (`utility`) and for proposed ones (founding coalitions); `open_seen` the
    (regions x issues) open knowledge."""
    c = model.cities
    pairs = Pairs(np.asarray(pairs.city, dtype=np.int64), np.asarray(pairs.net, dtype=np.int64),
                  np.asarray(pairs.member, dtype=np.float64), np.asarray(pairs.same_country, dtype=np.float64),
                  np.asarray(pairs.same_region, dtype=np.float64))
    out = np.empty(len(pairs.city))
    _pair_utility(pairs, nets, CityRows(c.region, c.priority, c.practice, c.capacity, c.budget, c.visibility),
                  open_seen, utility_weights(model.cfg.membership), out)
    return out


@jit
def _pair_utility(pairs, nets, cities, open_seen, w, out):
    """One pass over the pairs: out[j] the utility of network pairs.net[j] to city pairs.city[j]."""
    P, p = cities.priority, cities.practice
    A, K = nets.agenda, nets.knowledge
    I = P.shape[1]
    for j in range(len(pairs.city)):
        c, k = pairs.city[j], pairs.net[j]
        reg = cities.region[c]
        fit = 0.0
        learn = 0.0
        for i in range(I):
            pr = P[c, i]
            fit += pr * A[k, i]
            learn += pr * max(K[k, i] - max(p[c, i], open_seen[reg, i]), 0.0)  # what c cannot learn without joining
        fit = fit * I - 1.0
        e = nets.engagement[k]
        learn *= I * cities.capacity[c] * e
        b = max(cities.budget[c], 1e-9)
        m_other = nets.members[k] - pairs.member[j]
        funds = np.log1p(min(nets.programme[k] / (m_other + 1) / b, 1e6))
        vis = cities.visibility[c]
        status = nets.prestige[k] * 2.0 * vis  # status matters more to globally fluent cities
        similar = 1.0 - abs(vis - nets.prestige[k])
        exclusive = nets.closed[k] * vis * (1.0 - nets.openness[k])
        peers = min(1.0, (pairs.same_country[j] + 0.3 * pairs.same_region[j]) / (m_other + 1))
        engaged = (w.fit * fit + w.prestige * status + w.peers * peers + w.similar * similar + w.exclusive * exclusive
                   - w.attention_cost)
        out[j] = e * engaged + w.learn * learn + w.funds * funds - w.fee * (nets.fee[k] + w.participation * e) / b - w.drift * nets.drift[k]


def _group_rank(keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal keys (keys already sorted)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[True, keys[1:] != keys[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    return np.arange(n) - first


def membership_phase(model, year: int) -> dict:
    """Invitations, reviews, joins and leaves, competitive selection and the fluency gain (module
    docstring). Levers read: review_boost, selectivity, service_extension (through the open pool)."""
    cfg = model.cfg.membership
    cities, nets, mem = model.cities, model.networks, model.memberships
    N, n = cities.n, nets.n
    before = len(mem)
    active = np.flatnonzero(nets.active[:n])
    lev = model.levers
    rng = model.streams.rng("membership", year)
    u_review = rng.random(N)  # drawn every year, whatever the state: paired arms keep the same draws
    u_cand = rng.random((N, cfg.candidates))
    if len(active) == 0:
        model.flows.churn = 0.0
        model.flows.reviewers = None
        return {"joins": 0, "leaves": 0}
    refresh_counts(model)
    inv_c, inv_k = invitations(model)
    # a city without international capacity reviews only when something brings it in (capacity.py)
    reviewing = u_review < min(1.0, cfg.review_rate * lev.review_boost) * capacity.reach(model)
    reviewing[inv_c] = True
    # a city whose budget or attention no longer covers what it holds (a shock's cuts, a lost capacity)
    # must review
    attention = capacity.effective_attention(model)
    fees, held = np.zeros(N), np.zeros(N)
    o = mem.by_city(N)  # city order (within a city, edge order: the same sums)
    money = money_cost(model, nets.fee[:nets.n], nets.engagement[:nets.n])
    held_totals(o.city, o.net, money, nets.engagement, fees, held)
    reviewing |= (fees > cities.budget + 1e-12) | (held > attention + 1e-9)
    # reviewers and this year's founders reconsider the standards they practise (knowledge.py)
    model.flows.reviewers = reviewing | model.flows.new_founders
    R = np.flatnonzero(reviewing)
    # candidate pairs: own networks, sampled networks, invitations
    vis = network_visibility_weights(model, active)
    S = cfg.candidates
    samp_k = np.empty(len(R) * S, dtype=np.int64)
    office = cities.office[R]
    if office.all():
        _sample(np.cumsum(vis), active, u_cand, R, samp_k)
    else:  # without capacity: brought in (capacity.py), with the same uniforms
        samp = samp_k.reshape(len(R), S)
        R1 = R[office]
        if len(R1) and S:
            out = np.empty(len(R1) * S, dtype=np.int64)
            _sample(np.cumsum(vis), active, u_cand, R1, out)
            samp[office] = out.reshape(len(R1), S)
        if S:
            samp[~office] = _brought_in(model, active, R[~office], u_cand)
    inv_order = np.lexsort((inv_k, inv_c))
    inv_c, inv_k = inv_c[inv_order], inv_k[inv_order]
    size = int((o.indptr[R + 1] - o.indptr[R]).sum()) + len(samp_k) + len(inv_c)
    pc, pk = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
    edge_pos = np.empty(size, dtype=np.int64)
    invited = np.empty(size, dtype=np.bool_)
    P = _candidate_pairs(R, o.indptr, o.order, o.net, samp_k, S, inv_c, inv_k, pc, pk, edge_pos, invited)
    pc, pk, edge_pos, invited = pc[:P], pk[:P], edge_pos[:P], invited[:P]
    is_member = edge_pos >= 0
    U = utility(model, pc, pk, is_member.astype(np.int64), open_seen=open_pool(model)[0])
    committed, want = np.empty(P, dtype=np.bool_), np.empty(P, dtype=np.bool_)
    _wanted(CandidatePairs(pc, pk, edge_pos, invited, U), mem.committed, year,
            Eligibility(nets.active, nets.rule, nets.scope, nets.threshold, nets.engagement, cities.region,
                        cities.population),
            Bars(float(lev.selectivity), float(cfg.switching_cost), float(cfg.join_threshold)), committed, want)
    rule = nets.rule[pk]
    # attention and budget: committed memberships first, then by decreasing utility, each that fits
    accepted = choose(pc, pk, U, committed, want, nets.engagement, money, attention, cities.budget)
    # competitive networks select the best-ranked applicants up to their open slots
    newc = accepted & ~is_member & (rule == COMPETITIVE)
    if newc.any():
        a_idx = np.flatnonzero(newc)
        np.add.at(nets.applications, pk[a_idx], 1.0)  # applications received (cumulative; calibration)
        # members that stay: all current members minus the reviewers who leave
        stay = nets.members[:n] - np.bincount(pk[is_member & ~accepted], minlength=n)
        slots = np.maximum(nets.target[:n] - stay, 0)
        o = np.lexsort((-model.ranking.score[pc[a_idx]], pk[a_idx]))
        a_sorted = a_idx[o]
        r = _group_rank(pk[a_sorted])
        rejected = a_sorted[r >= slots[pk[a_sorted]]]
        accepted[rejected] = False
    leaves = is_member & ~accepted
    joins = ~is_member & accepted
    refused = invited & ~is_member & ~accepted  # declined invitations are not repeated
    r = np.flatnonzero(refused)
    if len(r):
        r = r[np.argsort(pk[r], kind="stable")]  # by network; cities ascending within (pairs sorted by city)
        rk = pk[r]
        cut = np.flatnonzero(rk[1:] != rk[:-1]) + 1
        for k, who in zip(rk[np.r_[0, cut]].tolist(), np.split(pc[r], cut)):
            prev = mem.declined.get(k)  # never invited again, so never among `who`
            mem.declined[k] = who if prev is None else np.concatenate([prev, who])
    if leaves.any():
        stay_mask = np.ones(len(mem), dtype=bool)
        stay_mask[edge_pos[leaves]] = False
        mem.keep(stay_mask)
    if joins.any():
        mem.add(pc[joins], pk[joins], year)
    engaged, _ = np.zeros(N), np.zeros(N)
    o = mem.by_city(N)
    held_totals(o.city, o.net, nets.engagement, nets.engagement, engaged, _)
    cities.visibility += cfg.fluency_gain * np.minimum(1.0, engaged / 3.0) * (1 - cities.visibility)
    refresh_counts(model)  # after the fluency gain, so prestige reads this year's visibility
    n_j, n_l = int(joins.sum()), int(leaves.sum())
    model.flows.churn = n_l / max(before, 1)
    return {"joins": n_j, "leaves": n_l}


class CandidatePairs(NamedTuple):
    """The (city, network) pairs reviewing cities consider this year (`_candidate_pairs`), with their utility."""

    city: np.ndarray  # int64
    net: np.ndarray  # int64
    edge_pos: np.ndarray  # int64: the membership's position in the edge list, -1 for a non-member
    invited: np.ndarray  # bool: the network invited the city this year
    utility: np.ndarray  # float64: U (`utility`)


class Eligibility(NamedTuple):
    """What eligibility reads: network arrays (active, rule, scope, threshold, engagement) and city
    arrays (region, population)."""

    active: np.ndarray
    rule: np.ndarray
    scope: np.ndarray
    threshold: np.ndarray  # population floor of a threshold network
    engagement: np.ndarray
    region: np.ndarray
    population: np.ndarray


class Bars(NamedTuple):
    """The utility a city needs: to keep a network U > -switching_cost + choosy, to join one U >
    join_threshold + choosy, choosy = selectivity x engagement."""

    selectivity: float  # levers.selectivity (a pandemic)
    switching_cost: float
    join_threshold: float


@jit
def _wanted(pairs, committed_until, year, net, bars, committed, want):
    """Per candidate pair: whether the city is committed to the network (a founder within its
    commitment) and whether it wants it: a member keeps an active network while U > -switching_cost +
    choosy or while committed; a non-member wants a network it is eligible for (active, in scope, above
    a threshold network's population floor, invited to an invitation network) when U > join_threshold
    + choosy, where choosy = selectivity x engagement (a shock makes cities choosy about what costs
    them much). `net` the `Eligibility` arrays, `bars` the `Bars`."""
    U = pairs.utility
    for j in range(len(pairs.city)):
        k, c = pairs.net[j], pairs.city[j]
        choosy = bars.selectivity * net.engagement[k]
        e = pairs.edge_pos[j]
        if e >= 0:
            committed[j] = committed_until[e] >= year
            want[j] = net.active[k] and (U[j] > -bars.switching_cost + choosy or committed[j])
        else:
            committed[j] = False
            r = net.rule[k]
            in_scope = net.scope[k] == GLOBAL_SCOPE or net.scope[k] == net.region[c]
            eligible = (net.active[k] and in_scope and (r != THRESHOLD or net.population[c] >= net.threshold[k])
                        and (r != INVITATION or pairs.invited[j]))
            want[j] = eligible and U[j] > bars.join_threshold + choosy


@jit
def held_totals(city, net, fee, engagement, fees, held):
    """Per city: the fees and the engagement of the memberships it holds (edge order)."""
    for e in range(len(city)):
        fees[city[e]] += fee[net[e]]
        held[city[e]] += engagement[net[e]]


@jit
def _sample(cum, active, u, R, out):
    """For each reviewing city r (in R order) and candidate slot s, the active network whose
    cumulative visibility weight first exceeds u[r, s] x total (np.searchsorted side="right"),
    found from a guide table of buckets of equal width (a step or two from the bucket's first
    candidate; the scans make it exact whatever the rounding of the bucket)."""
    S = u.shape[1]
    L = len(cum)
    total = cum[-1]
    G = 2 * L
    guide = np.empty(G + 1, np.int64)
    i = 0
    for b in range(G + 1):
        t = total * b / G
        while i < L and cum[i] <= t:
            i += 1
        guide[b] = i
    for j in range(len(R)):
        for s in range(S):
            x = u[R[j], s] * total
            b = min(max(int(x / total * G), 0), G) if total > 0 else 0
            i = guide[b]
            while i > 0 and cum[i - 1] > x:
                i -= 1
            while i < L and cum[i] <= x:
                i += 1
            out[j * S + s] = active[min(i, L - 1)]


def choose(pc, pk, U, committed, want, engagement, fee, attention, budget) -> np.ndarray:
    """(pairs,) bool: the pairs (city pc, network pk; sorted by city) each city takes (`_choose`)."""
    accepted = np.zeros(len(pc), dtype=np.bool_)
    _choose(np.asarray(pc, dtype=np.int64), np.asarray(pk, dtype=np.int64), np.asarray(U, dtype=np.float64),
            np.asarray(committed, dtype=np.bool_), np.asarray(want, dtype=np.bool_),
            np.asarray(engagement, dtype=np.float64), np.asarray(fee, dtype=np.float64),
            np.asarray(attention, dtype=np.float64), np.asarray(budget, dtype=np.float64), accepted)
    return accepted


@jit
def _candidate_pairs(R, indptr, order, net, samp_k, S, inv_c, inv_k, pc, pk, edge_pos, invited):
    """The distinct (city, network) pairs a reviewing city considers, sorted by city and network: its
    memberships (edge_pos: the membership's position in the edge list; -1 for others), its S sampled
    networks and the networks that invited it (invited; inv_c, inv_k sorted by city). Returns the
    number of pairs written."""
    ks = np.empty(64, np.int64)
    src = np.empty(64, np.int64)  # edge position, or -1
    inv = np.empty(64, np.bool_)
    P = 0
    q = 0  # next invitation
    for j in range(len(R)):
        c = R[j]
        while q < len(inv_c) and inv_c[q] < c:
            q += 1
        q_end = q
        while q_end < len(inv_c) and inv_c[q_end] == c:
            q_end += 1
        m = (indptr[c + 1] - indptr[c]) + S + (q_end - q)
        if m > len(ks):
            ks = np.empty(2 * m, np.int64)
            src = np.empty(2 * m, np.int64)
            inv = np.empty(2 * m, np.bool_)
        t = 0
        for e in range(indptr[c], indptr[c + 1]):  # own memberships first, then samples, then invitations
            ks[t], src[t], inv[t] = net[e], order[e], False
            t += 1
        for s in range(S):
            if samp_k[j * S + s] >= 0:  # -1: nothing sampled (a city without capacity and nothing it could hold)
                ks[t], src[t], inv[t] = samp_k[j * S + s], -1, False
                t += 1
        for x in range(q, q_end):
            ks[t], src[t], inv[t] = inv_k[x], -1, True
            t += 1
        q = q_end
        for a in range(1, t):  # stable insertion sort by network: the first occurrence of a network leads
            ka, sa, ia = ks[a], src[a], inv[a]
            b = a - 1
            while b >= 0 and ks[b] > ka:
                ks[b + 1], src[b + 1], inv[b + 1] = ks[b], src[b], inv[b]
                b -= 1
            ks[b + 1], src[b + 1], inv[b + 1] = ka, sa, ia
        a = 0
        while a < t:
            b = a
            any_inv = False
            while b < t and ks[b] == ks[a]:
                any_inv = any_inv or inv[b]
                b += 1
            pc[P], pk[P], edge_pos[P], invited[P] = c, ks[a], src[a], any_inv
            P += 1
            a = b
    return P


@jit
def _choose(pc, pk, U, committed, want, engagement, fee, attention, budget, accepted):
    """Each city's wanted networks (pairs grouped by city, as `pc` is sorted), committed ones first,
    then by decreasing utility (ties: pair order), each taken while its engagement fits the city's
    attention and its fee the city's budget (later, smaller ones may still fit)."""
    P = len(pc)
    idx = np.empty(64, np.int64)
    a = 0
    while a < P:
        b = a
        while b < P and pc[b] == pc[a]:
            b += 1
        m = 0
        if b - a > len(idx):
            idx = np.empty(2 * (b - a), np.int64)
        for p in range(a, b):  # the wanted pairs, by a stable insertion sort: committed first, then larger U
            if not want[p]:
                continue
            t = m - 1
            while t >= 0 and (committed[p] > committed[idx[t]]
                              or (committed[p] == committed[idx[t]] and U[p] > U[idx[t]])):
                idx[t + 1] = idx[t]
                t -= 1
            idx[t + 1] = p
            m += 1
        ci = pc[a]
        used_s = 0.0
        used_c = 0.0
        for j in range(m):
            p = idx[j]
            k = pk[p]
            if used_s + engagement[k] <= attention[ci] + 1e-9 and used_c + fee[k] <= budget[ci] + 1e-12:
                accepted[p] = True
                used_s += engagement[k]
                used_c += fee[k]
        a = b


def _brought_in(model, active, R0, u_cand) -> np.ndarray:
    """(len(R0), candidates): the network that brings in each city without capacity in R0 (first column;
    the others -1: it considers that one network besides its own), drawn with the uniform u_cand[c, 0]
    among the active networks it could hold (engagement within cities.cheap_slot) with weights
    1 + members_k: members bring in others (twins, neighbours, a campaign's signatories). All -1 where
    it could hold none."""
    S = u_cand.shape[1]
    cheap = model.networks.engagement[active] <= model.cfg.cities.cheap_slot + 1e-9
    if not len(R0) or not cheap.any():
        return np.full((len(R0), S), -1, dtype=np.int64)
    D = active[cheap]
    cum = np.cumsum(1.0 + model.networks.members[D])
    x = u_cand[R0, 0] * cum[-1]  # one network brings it in: the first candidate uniform
    pos = np.searchsorted(cum, x, side="right")
    out = np.full((len(R0), S), -1, dtype=np.int64)
    out[:, 0] = D[np.minimum(pos, len(D) - 1)]
    return out


def held_engagement(model) -> np.ndarray:
    """Per city, the summed engagement of the memberships it holds."""
    N = model.cities.n
    engaged, fees = np.zeros(N), np.zeros(N)
    o = model.memberships.by_city(N)
    held_totals(o.city, o.net, model.networks.engagement, model.networks.engagement, engaged, fees)
    return engaged


def network_visibility_weights(model, active: np.ndarray) -> np.ndarray:
    """Sampling weights of active networks in cities' search: 0.2 + log(1 + members) x (0.25 + prestige)
    (a network in its empty grace period can still be found and joined)."""
    nets = model.networks
    return 0.2 + np.log1p(nets.members[active]) * (0.25 + nets.prestige[active])
