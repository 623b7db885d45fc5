"""Phase 6: knowledge production and practice sharing; solution standards.

Order within the phase: obsolescence, absorption, horizontal flow, production, learning.

Absorption. K_ki += absorption x max(0, best member practice_ci - K_ki).

Horizontal flow (switchable; the spillover channel "across"): K_ki += max_j R_kj max(0, K_ji - K_ki),
with R_kj = max(horizontal_rate x min(1, shared members / bridge_scale), L_kj), L_kj the platform's
transfer rate between networks linked by a cooperation platform (0 otherwise). A network adopts, with
probability standard_adoption x min(1, R_kj / horizontal_rate), the standard of the partner j whose
R_kj (K_ji - K_ki) is largest.

Production. Network k adds on issue i
    D_ki = production x (1 - exp(-programme_k / programme_scale)) x (1 + partner_expertise x partner_share_k x (1 - city_first))
           x (1 + variety_bonus x (1 - 1/L_i)) x (A_ki / max_j A_kj) x (1 - K_ki)
(non-governmental partners bring technical expertise, less of it when cities' priorities come first;
competing lines of work on an issue, L_i the effective number of standards among the operating
networks active on i, spur better solutions). Duplication: the part of D_ki below the best knowledge
another operating network active on i already holds, measured after this year's transfers:
    dup_ki = min(D_ki, max(0, max_{j != k, j on i} K_ji - K_ki)).
duplication_ratio is the share of knowledge spending (programme_k split over the issues k is active on
by agenda focus) that produces such duplicates: sum spend_ki dup_ki / D_ki / sum spend_ki.

Learning. Member c of network k closes
    r_ck = member_learning x secretariat_k x engagement_k x (1 - drift_execution x drift_k) x capacity_c
of the gap max(0, K_ki - p_ci), times interest_ci = 0.5 + 0.5 min(1, I P_ci), times `compatibility`
when k teaches on i another standard than the one c practises there (a solution made for another
standard is only partly usable: fragmentation costs learning; a city with no standard yet, -1,
learns fully); over several networks
    gain_ci = interest_ci x sum_k r_ck gap_cki / max(1, sum_k r_ck),
so that the gain never exceeds the largest single gap (execution suffers when the agenda drifts from
what members would set; a declaration teaches less than a programme). Every city (member or not)
learns from openly shared knowledge, the best openness_k x K_ki among operating networks reachable in
its region (`open_pool`), at nonmember_learning x interest (x compatibility if the provider's
standard differs from the city's); `extend_services` raises the openness
non-members see. Own innovation: innovation x capacity_c x min(1, I P_ci) x (1 - p_ci).
On high-politics issues every practice gain is multiplied by `high_politics_competence`.
Knowledge loses `obsolescence` and practice `depreciation` of its level each year.

Standards in practice. A city practises, on each issue, the standard of the network from which it
gained most on that issue (its part of the member gain, or the open gain), with inertia: it keeps
its standard while a source teaching that standard still gives at least `switch_ratio` of the
largest gain; before it ever learns from a network, its own, local practice (-1). Cities reconsider
the standards they practise when they reconsider their international engagement: in the year they
review their memberships (every city that joins or leaves does) or found a network, not continuously. Fragmentation is measured
on these practised standards (metrics.py), so cooperation lowers it only by changing what cities
practise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from model.compiled import jit
from model.state import active_on


def open_pool(model) -> tuple[np.ndarray, np.ndarray]:
    """(regions x issues) the best openly shared knowledge a city of each region can use, max over
    operating networks whose scope covers the region of eff_open_k x K_ki (eff_open = openness +
    service_extension x (1 - openness)); and (regions x issues) the network providing it (-1: none)."""
    nets, R, I = model.networks, model.n_regions, model.n_issues
    n = nets.n
    pool = np.zeros((R, I))
    who = np.full((R, I), -1, dtype=np.int64)
    if n == 0:
        return pool, who
    op = nets.operating()
    eff_open = nets.openness[:n] + model.levers.service_extension * (1 - nets.openness[:n])
    _open_pool(op, eff_open, nets.knowledge, nets.scope, pool, who)
    return pool, who


@jit
def _open_pool(op, eff_open, K, scope, pool, who):
    """For each region r and issue i, the largest eff_open_k x K_ki over operating networks whose scope
    is global or r (the first such network in index order on ties; pool 0 and who -1 where none gives
    anything)."""
    R, I = pool.shape
    for r in range(R):
        for i in range(I):
            best, bk = 0.0, -1
            for k in range(len(op)):
                if op[k] and (scope[k] == -1 or scope[k] == r):
                    v = eff_open[k] * K[k, i]
                    if bk < 0 or v > best:
                        best, bk = v, k
            pool[r, i] = best  # 0 where no network reaches the region
            who[r, i] = bk if best > 0 else -1


def best_other(K: np.ndarray, on: np.ndarray) -> np.ndarray:
    """For each network and issue, the best knowledge held by another network active on the issue."""
    n, I = K.shape
    out = np.zeros_like(K)
    if n < 2:
        return out
    Ka = np.where(on, K, -1.0)
    order = np.argsort(-Ka, axis=0)
    first, second = order[0], order[1]
    cols = np.arange(I)
    top, runner = Ka[first, cols], Ka[second, cols]
    out[:] = top[None, :]
    out[first, cols] = runner
    return np.maximum(out, 0.0)


def variety(model, on: np.ndarray) -> np.ndarray:
    """(issues,) L_i: the effective number of standards (1 / sum_s q_s^2) among the operating networks
    active on issue i (q_s the share of those networks promoting standard s); 1 where none or one."""
    nets = model.networks
    L = np.ones(model.n_issues)
    for i in range(model.n_issues):
        who = np.flatnonzero(on[:, i])
        if len(who) > 1:
            _, counts = np.unique(nets.standard[who, i], return_counts=True)
            q = counts / counts.sum()
            L[i] = 1.0 / (q ** 2).sum()
    return L


def production(model) -> dict:
    """Knowledge production D_ki with duplication accounting (module docstring); returns the year's
    spending on knowledge, the part of it that re-created existing knowledge, and the produced total."""
    cfg, nets = model.cfg.knowledge, model.networks
    n = nets.n
    out = {"produced": 0.0, "spending": 0.0, "duplicated_spending": 0.0}
    if n == 0:
        return out
    op = nets.operating()
    K = nets.knowledge[:n]
    A = nets.agenda[:n]
    focus = A / np.maximum(A.max(axis=1, keepdims=True), 1e-12)
    prog = nets.programme[:n]
    strength = 1 - np.exp(-prog / cfg.programme_scale)
    expertise = 1 + cfg.partner_expertise * nets.partner_share[:n] * (1 - model.levers.city_first)
    on = active_on(model)
    var = 1 + cfg.variety_bonus * (1 - 1 / variety(model, on))
    D = cfg.production * (strength * expertise)[:, None] * var[None, :] * focus * (1 - K)
    np.minimum(D, 1 - K, out=D)
    D[~op] = 0.0
    dup = np.minimum(D, np.maximum(best_other(K, on) - K, 0.0))
    share = np.divide(dup, D, out=np.zeros_like(D), where=D > 0)
    f_on = np.where(on, focus, 0.0)
    spend = prog[:, None] * f_on / np.maximum(f_on.sum(axis=1, keepdims=True), 1e-12)
    K += D
    out.update(produced=float(D[on].sum()), spending=float(spend.sum()), duplicated_spending=float((spend * share).sum()))
    return out


def absorption(model):
    """K_ki += absorption x max(0, best member practice_ci - K_ki)."""
    cfg, nets, mem = model.cfg.knowledge, model.networks, model.memberships
    if len(mem) == 0:
        return
    best = np.full((nets.n, model.n_issues), -1.0)  # -1: no members
    o = mem.by_city(model.cities.n)  # city order: practice read row by row
    _best_member_practice(o.net, o.city, model.cities.practice, best)
    K = nets.knowledge[: nets.n]
    has = best[:, 0] >= 0
    K[has] += cfg.absorption * np.maximum(best[has] - K[has], 0.0)


@jit
def _best_member_practice(net, city, practice, best):
    """best[k, i] = max over the members c of k of practice[c, i] (left at its initial value without members)."""
    I = practice.shape[1]
    for e in range(len(net)):
        k, ci = net[e], city[e]
        for i in range(I):
            best[k, i] = max(best[k, i], practice[ci, i])


def link_weights(model, idx: np.ndarray | None = None) -> np.ndarray:
    """(n x n) yearly transfer rates R_kj of horizontal flow: bridges (shared members) and platform
    links, 0 for non-operating networks; with `idx` (operating networks), the rows and columns of idx."""
    nets = model.networks
    n = nets.n
    if idx is None:
        idx = np.arange(n)
        op = nets.operating()
    else:
        op = np.ones(n, dtype=bool)
    o = model.memberships.by_city(model.cities.n)  # memberships in city order
    shared = np.zeros((n, n))
    _shared_members(o.indptr, o.net, shared)
    L = model.levers.link_matrix(n)
    W = np.empty((len(idx), len(idx)))
    cfg = model.cfg.spillover
    _link_rates(shared, L if L is not None else np.zeros((0, 0)), np.asarray(idx, dtype=np.int64), op,
                float(cfg.horizontal_rate), float(cfg.bridge_scale), W)
    return W


@jit
def _link_rates(shared, L, idx, op, rate, bridge_scale, W):
    """W_ab = max(rate x min(1, shared / bridge_scale), L) between networks idx[a] != idx[b], both
    operating (L: the platform's links, empty when none); 0 otherwise."""
    m = len(idx)
    links = L.shape[0] > 0
    for a in range(m):
        ka = idx[a]
        for b in range(m):
            kb = idx[b]
            if a == b or not (op[ka] and op[kb]):
                W[a, b] = 0.0
                continue
            w = rate * min(1.0, shared[ka, kb] / bridge_scale)
            if links:
                w = max(w, L[ka, kb])
            W[a, b] = w


@jit
def _shared_members(indptr, net, shared):
    """shared[k, j] = number of cities that are members of both k and j (k != j)."""
    for ci in range(len(indptr) - 1):
        for a in range(indptr[ci], indptr[ci + 1]):
            for b in range(indptr[ci], indptr[ci + 1]):
                if a != b:
                    shared[net[a], net[b]] += 1.0


def horizontal(model, year: int):
    """Knowledge flows across bridges and cooperation links (the horizontal spillover channel); a
    network adopts, with probability standard_adoption x min(1, R_kj / horizontal_rate), the standard
    of the partner j whose R_kj x (K_ji - K_ki) is largest on issue i (standards diffuse along the
    same ties). One uniform per network ever founded and issue per year (knowledge stream), in index
    order."""
    cfg, nets = model.cfg.spillover, model.networks
    n = nets.n
    u = model.streams.rng("knowledge", year).random((n, model.n_issues))
    idx = np.flatnonzero(nets.operating())
    if len(idx) < 2:
        return
    W = link_weights(model, idx)
    _horizontal(idx, W, nets.knowledge, nets.standard, u, float(cfg.horizontal_rate), float(cfg.standard_adoption))


@jit
def _horizontal(idx, W, K, std, u, rate, adoption):
    """For each operating network a (rows idx) and issue i: the partner b with the largest
    W_ab max(0, K_bi - K_ai) (the first such), whose gain is added to K_ai after all issues, and
    whose standard a adopts when u_ai < adoption x min(1, W_ab / rate) (standards read before any
    adoption on the issue)."""
    m = len(idx)
    I = K.shape[1]
    Ks = np.empty((m, I))
    for a in range(m):
        for i in range(I):
            Ks[a, i] = K[idx[a], i]
    gain = np.zeros((m, I))
    new_std = np.empty(m, np.int64)
    adopt = np.zeros(m, np.bool_)
    for i in range(I):
        for a in range(m):
            best = 0
            bv = W[a, 0] * max(Ks[0, i] - Ks[a, i], 0.0)
            for b in range(1, m):
                v = W[a, b] * max(Ks[b, i] - Ks[a, i], 0.0)
                if v > bv:
                    best, bv = b, v
            gain[a, i] = bv
            w_best = min(1.0, W[a, best] / max(rate, 1e-12))
            adopt[a] = bv > 0 and u[idx[a], i] < adoption * w_best
            new_std[a] = std[idx[best], i]
        for a in range(m):
            if adopt[a]:
                std[idx[a], i] = new_std[a]
    for a in range(m):
        for i in range(I):
            K[idx[a], i] = Ks[a, i] + gain[a, i]


def learning(model) -> tuple[np.ndarray, np.ndarray]:
    """Cities' practice gains this year (n_cities x I), applied in place; returns (the gains, the part
    of them caused by networks: member learning and openly shared knowledge). The cities reviewing
    their memberships this year (`model.flows.reviewers`, phase 5; all cities when None) reconsider the standards
    they practise. One compiled pass over the cities and their memberships (`_learn`)."""
    cfg, nets, c = model.cfg.knowledge, model.networks, model.cities
    N, I = c.practice.shape
    n = nets.n
    mem = model.memberships
    o = mem.by_city(N)  # memberships in city order
    execution = np.clip(1 - cfg.drift_execution * nets.drift[:n], 0.0, 1.0)
    rate = cfg.member_learning * nets.secretariat[:n] * nets.engagement[:n] * execution  # r_ck / capacity_c
    pool, provider = open_pool(model)
    cols = np.arange(I)
    open_std = np.where(provider >= 0, nets.standard[np.maximum(provider, 0), cols[None, :]], -1)
    who = model.flows.reviewers  # this year's reviewing cities and founders (membership phase)
    if who is None or len(who) != N:
        who = np.ones(N, dtype=bool)
    gain = np.empty((N, I))
    network = np.empty((N, I))
    prm = LearningParams(np.asarray(model.high, dtype=np.bool_), float(cfg.compatibility),
                         float(cfg.nonmember_learning), float(cfg.innovation), float(cfg.high_politics_competence),
                         float(cfg.depreciation), 1.0 / max(model.cfg.knowledge.switch_ratio, 1e-9))
    _learn(Teachers(o.indptr, o.net, nets.knowledge, nets.standard, rate),
           Learners(c.practice, c.priority, c.capacity, c.standard, c.region, who), OpenPool(pool, open_std), prm,
           gain, network)
    return gain, network


class Teachers(NamedTuple):
    """The networks each city learns from: its memberships in city order and the networks' rows."""

    indptr: np.ndarray  # (cities + 1,) city c's memberships are indptr[c]..indptr[c+1] of `net`
    net: np.ndarray  # the memberships' networks, city by city
    knowledge: np.ndarray  # (networks x issues) K_k
    standard: np.ndarray  # (networks x issues) the standard network k teaches on issue i
    rate: np.ndarray  # (networks,) r_ck / capacity_c


class Learners(NamedTuple):
    """The cities' arrays: practice p and standards updated in place."""

    practice: np.ndarray  # (cities x issues) p_c, updated in place
    priority: np.ndarray  # (cities x issues) P_c
    capacity: np.ndarray
    standard: np.ndarray  # (cities x issues) the standard c practises (-1: its own); updated for reviewers
    region: np.ndarray
    reviewing: np.ndarray  # bool: the cities that reconsider their standards this year


class OpenPool(NamedTuple):
    """Openly shared knowledge (`open_pool`), per region and issue."""

    level: np.ndarray  # (regions x issues) the best eff_open_k x K_ki a city of the region can use
    standard: np.ndarray  # (regions x issues) the standard of its provider (-1: none)


class LearningParams(NamedTuple):
    high: np.ndarray  # (issues,) bool: high politics
    compatibility: float  # factor of a source teaching another standard than the city's
    nonmember: float  # nonmember_learning
    innovation: float
    high_politics_competence: float
    depreciation: float
    switch_bonus: float  # 1 / switch_ratio: weight of a source teaching the city's current standard


@jit
def other_standard(taught, practised):
    """1 when a source teaches another standard than the one the city practises (a city with no
    standard yet, -1, learns fully from any), else 0: the index into (1, compatibility)."""
    return int((practised >= 0) & (taught != practised))


@jit
def _learn(teachers, learners, shared, prm, gain, network):
    """The learning of the module docstring, city by city; writes `gain` and `network`, updates the
    practice and, for the reviewing cities, the standards they practise, in place.

    Standards: the largest source of learning wins, where a source teaching the city's current
    standard counts 1/switch_ratio (`bonus`) times its gain (its own when that is a current-standard
    source: the city switches exactly when another source gives more than 1/switch_ratio times the
    best current-standard source); among member sources of equal value the larger standard id; a
    member source beats the open pool only with a strictly larger value."""
    indptr, net, K, net_std, rate = teachers
    p, P, capacity, std, region, who = learners
    pool, open_std = shared  # OpenPool
    high, hpc, nonmember, innovation = prm.high, prm.high_politics_competence, prm.nonmember, prm.innovation
    bonus = prm.switch_bonus
    N, I = p.shape
    # times compatibility where the source teaches another standard: compat_factor[other_standard(taught,
    # practised)] (lookups: no branch to mispredict)
    compat_factor = np.array([1.0, prm.compatibility])
    current_weight = np.array([1.0, bonus])  # [int(s == s_ci)]: weight of a source teaching the city's current standard
    contrib = np.empty((64, I))
    total = np.empty(I)
    prow = np.empty(I)
    srow = np.empty(I, np.int64)
    for ci in range(N):
        lo, hi = indptr[ci], indptr[ci + 1]
        m = hi - lo
        if m > contrib.shape[0]:
            contrib = np.empty((2 * m, I))
        cap_c = capacity[ci]
        rsum = 0.0
        total[:] = 0.0
        for i in range(I):  # the city's row, read once (the compiler cannot keep it: p and std are written)
            prow[i] = p[ci, i]
            srow[i] = std[ci, i]
        for e in range(m):
            k = net[lo + e]
            r = rate[k] * cap_c
            rsum += r
            for i in range(I):
                s = srow[i]
                gap = max(K[k, i] - prow[i], 0.0)
                x = gap * r * compat_factor[other_standard(net_std[k, i], s)]
                contrib[e, i] = x
                total[i] += x
        div = max(1.0, rsum)
        reg = region[ci]
        review = who[ci]
        for i in range(I):
            focus = min(1.0, I * P[ci, i])
            interest = 0.5 + 0.5 * focus
            p_ci = p[ci, i]
            s_ci = std[ci, i]
            g = total[i] / div * interest
            # open knowledge: what the best open provider in the region adds beyond the member gain
            o_std = open_std[reg, i]
            og = max(pool[reg, i] - p_ci - g, 0.0) * interest * nonmember
            og *= compat_factor[other_standard(o_std, s_ci)]
            g += og
            net_g = g
            g += max((1.0 - p_ci - g) * focus * (innovation * cap_c), 0.0)  # own innovation
            if high[i]:
                g *= hpc
                net_g *= hpc
            clipped = min(max(g, 0.0), 1.0 - p_ci)
            if g > 0:
                net_g *= clipped / g  # the network-caused part of what the cap (1 - p) lets through
            gain[ci, i] = clipped
            network[ci, i] = net_g
            if review:
                best_val = (bonus if o_std == s_ci else 1.0) * og
                best_std = o_std if og > 0 else -1
                top_val = -1.0
                top_std = -1
                for e in range(m):
                    s = net_std[net[lo + e], i]
                    v = contrib[e, i] / div * interest * current_weight[int(s == s_ci)]
                    if v > top_val or (v == top_val and s > top_std):
                        top_val, top_std = v, s
                if m > 0 and top_val > best_val:
                    best_val, best_std = top_val, top_std
                if best_val > 0 and best_std >= 0:
                    std[ci, i] = best_std
            p[ci, i] = (p_ci + clipped) * (1.0 - prm.depreciation)


def knowledge_phase(model, year: int) -> dict:
    """Obsolescence, absorption, horizontal flow, production (with duplication), learning; returns the
    phase's totals for the metrics."""
    model.networks.knowledge *= 1 - model.cfg.knowledge.obsolescence
    absorption(model)
    if model.cfg.spillover.horizontal:
        horizontal(model, year)
    np.clip(model.networks.knowledge, 0.0, 1.0, out=model.networks.knowledge)
    out = production(model)
    np.clip(model.networks.knowledge, 0.0, 1.0, out=model.networks.knowledge)
    gain, network = learning(model)
    model.flows.gains = gain  # gross practice gains of the year (national uptake adds in phase 7)
    out.update(practice_gain=float(gain.sum()), network_gain=float(network.sum()))
    return out
