"""Phase 6: knowledge production and practice sharing; solution standards.

Production. Network k adds on issue i
    D_ki = production x (1 - exp(-programme_k / programme_scale)) x (1 + partner_expertise x partner_share_k)
           x (A_ki / max_j A_kj) x (1 - K_ki)
(non-governmental partners bring technical expertise: the technical-support function).
The part of D_ki below the best knowledge already held on issue i by a network active on i (agenda
weight >= activity_threshold, or primary theme i) that promotes a different standard is duplication:
dup_ki = min(D_ki, max(0, best_other_ki - K_ki)); duplication_ratio counts production and duplication
only on issues the producing network is itself active on.
Absorption: K_ki += absorption x max(0, best member practice_i - K_ki).
Horizontal spillover (switchable): K_ki += horizontal_rate x max_j W_kj max(0, K_ji - K_ki), with
W_kj = min(1, shared members / bridge_scale), and 1 for networks linked by a cooperation platform.

Learning. Member c of network k closes
r_ck = member_learning x secretariat_k x (1 - misalignment_k) x capacity_c, times interest_ci, of the
gap max(0, K_ki - p_ci), interest_ci = 0.5 + 0.5 min(1, I P_ci); over several networks
    gain_ci = interest_ci x sum_k r_ck gap_cki / max(1, sum_k r_ck),
so that the gain never exceeds the largest single gap. Every city (member or not) learns from openly shared
knowledge, the best openness_k x K_ki among networks reachable in its region, at
nonmember_learning x interest; `extend_services` raises the openness seen by non-members.
Own innovation: innovation x capacity_c x min(1, I P_ci) x (1 - p_ci).
(capacity_c: absorptive capacity; 1 - misalignment_k: execution suffers when the agenda drifts from members'.)
Knowledge loses `obsolescence` and practice `depreciation` of its level each year (problems change),
so that levels reach a steady state below 1.
On high-politics issues every practice gain is multiplied by `high_politics_competence`.
"""

from __future__ import annotations

import numpy as np

from model.state import GLOBAL_SCOPE, active_on


def best_other_knowledge(K: np.ndarray, std: np.ndarray, on: np.ndarray) -> np.ndarray:
    """For each network and issue, the best knowledge among networks active on that issue
    (`on`, networks x issues) that promote another standard."""
    n, I = K.shape
    out = np.zeros_like(K)
    if n == 0:
        return out
    Ka = np.where(on, K, -1.0)
    for i in range(I):
        s = std[:, i]
        uniq, inv = np.unique(s, return_inverse=True)
        smax = np.full(len(uniq), -1.0)
        np.maximum.at(smax, inv, Ka[:, i])
        if len(uniq) == 1:
            out[:, i] = 0.0
            continue
        top2 = np.argsort(smax)[-2:]
        first, second = top2[1], top2[0]
        out[:, i] = np.where(inv == first, smax[second], smax[first])
    return np.maximum(out, 0.0)


def production(model) -> tuple[float, float]:
    """Knowledge production D_ki with duplication accounting (module docstring); returns (produced,
    duplicated) over issues the producing network is active on."""
    cfg, nets = model.cfg.knowledge, model.networks
    n = nets.n
    act = nets.active[:n]
    K = nets.knowledge[:n]
    A = nets.agenda[:n]
    focus = A / np.maximum(A.max(axis=1, keepdims=True), 1e-12)
    strength = 1 - np.exp(-nets.programme[:n] / cfg.programme_scale)
    expertise = 1 + cfg.partner_expertise * nets.partner_share[:n]
    D = cfg.production * (strength * expertise)[:, None] * focus * (1 - K)
    np.minimum(D, 1 - K, out=D)
    D[~act] = 0.0
    on = active_on(model)
    other = best_other_knowledge(K, nets.standard[:n], on)
    dup = np.minimum(D, np.maximum(other - K, 0.0))
    K += D
    return float(D[on].sum()), float(dup[on].sum())


def absorption(model):
    """K_ki += absorption x max(0, best member practice_ci - K_ki)."""
    cfg, nets, mem = model.cfg.knowledge, model.networks, model.memberships
    if len(mem) == 0:
        return
    net = mem.net.astype(np.int16) if nets.n < 32000 else mem.net  # 16-bit keys: numpy's radix sort
    order = np.argsort(net, kind="stable")
    ks = mem.net[order]
    starts = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
    cs = mem.city[order]
    PT = np.ascontiguousarray(model.cities.practice.T)  # one issue per row: 1-D gathers and reduceats are faster
    best = np.empty((len(starts), PT.shape[0]))
    for i in range(PT.shape[0]):
        best[:, i] = np.maximum.reduceat(PT[i][cs], starts)
    k_ids = ks[starts]
    K = nets.knowledge
    K[k_ids] += cfg.absorption * np.maximum(best - K[k_ids], 0.0)


def link_weights(model) -> np.ndarray:
    """(n x n) weights of horizontal flow: bridges (shared members) and cooperation links."""
    nets = model.networks
    n = nets.n
    S = model.memberships.matrix(model.cities.n, n)
    shared = (S.T @ S).toarray() if n else np.zeros((0, 0))
    W = np.minimum(1.0, shared / model.cfg.spillover.bridge_scale)
    L = model.levers.link_matrix(n)
    if L is not None:
        W = np.maximum(W, L)
    np.fill_diagonal(W, 0.0)
    act = nets.active[:n]
    W[~act] = 0.0
    W[:, ~act] = 0.0
    return W


def horizontal(model):
    """Knowledge flows across bridges and cooperation links (the horizontal spillover channel);
    a network adopts, with probability standard_adoption x W_kj, the standard of the partner j
    whose W_kj x (K_ji - K_ki) is largest on issue i (standards diffuse along the same ties)."""
    cfg, nets, rng = model.cfg.spillover, model.networks, model.rng
    n = nets.n
    idx = np.flatnonzero(nets.active[:n])
    if len(idx) < 2:
        return
    W = link_weights(model)[np.ix_(idx, idx)]
    K = nets.knowledge[idx]
    gain = np.zeros_like(K)
    for i in range(K.shape[1]):
        d = np.maximum(K[None, :, i] - K[:, None, i], 0.0)  # d[k, j] = K_j - K_k
        wd = W * d
        best = wd.argmax(axis=1)
        gain[:, i] = wd[np.arange(len(idx)), best]
        w_best = W[np.arange(len(idx)), best]
        adopt = (gain[:, i] > 0) & (rng.random(len(idx)) < cfg.standard_adoption * w_best)
        nets.standard[idx[adopt], i] = nets.standard[idx[best[adopt]], i]
    nets.knowledge[idx] = K + cfg.horizontal_rate * gain


def learning(model) -> np.ndarray:
    """Cities' practice gains this year (n_cities x I), applied in place; returns the gains."""
    cfg, nets, c, mem = model.cfg.knowledge, model.networks, model.cities, model.memberships
    I = model.n_issues
    p = c.practice
    focus = np.minimum(1.0, I * c.priority)  # min(1, I P_ci)
    interest = 0.5 + 0.5 * focus
    gain = np.zeros_like(p)
    tmp = np.empty_like(p)
    if len(mem):
        gap = np.take(nets.knowledge, mem.net, axis=0)
        gap -= np.take(p, mem.city, axis=0)
        np.maximum(gap, 0.0, out=gap)
        r = cfg.member_learning * nets.secretariat[mem.net] * (1 - nets.misalignment[mem.net]) * c.capacity[mem.city]
        gap *= r[:, None]
        sel = mem.selection(c.n, nets.n)  # sums over each city's memberships
        total = sel @ gap
        r_sum = sel @ r
        total /= np.maximum(1.0, r_sum)[:, None]
        np.multiply(total, interest, out=gain)
    # openly shared knowledge, by region
    n = nets.n
    if n:
        act = nets.active[:n]
        eff_open = nets.openness[:n] + model.levers.service_extension * (1 - nets.openness[:n])
        public = np.where(act[:, None], eff_open[:, None] * nets.knowledge[:n], 0.0)
        scope = nets.scope[:n]
        pool = np.zeros((model.n_regions, I))
        glob = public[scope == GLOBAL_SCOPE].max(axis=0) if (scope == GLOBAL_SCOPE).any() else np.zeros(I)
        for r in range(model.n_regions):
            loc = public[scope == r]
            pool[r] = np.maximum(glob, loc.max(axis=0)) if len(loc) else glob
        np.take(pool, c.region, axis=0, out=tmp)  # open pool seen by each city
        tmp -= p
        tmp -= gain
        np.maximum(tmp, 0.0, out=tmp)
        tmp *= interest
        tmp *= cfg.nonmember_learning
        gain += tmp
    np.subtract(1.0, p, out=tmp)  # own innovation: innovation x capacity x focus x (1 - p - gain)
    tmp -= gain
    tmp *= focus
    tmp *= (cfg.innovation * c.capacity)[:, None]
    gain += tmp
    gain[:, model.high] *= cfg.high_politics_competence
    np.subtract(1.0, p, out=tmp)
    np.clip(gain, 0.0, tmp, out=gain)
    p += gain
    p *= 1 - cfg.depreciation
    return gain


def knowledge_phase(model) -> dict:
    """Obsolescence, production (with duplication), absorption, horizontal flow, learning; returns
    the phase's totals for the metrics."""
    model.networks.knowledge *= 1 - model.cfg.knowledge.obsolescence
    produced, duplicated = production(model)
    absorption(model)
    if model.cfg.spillover.horizontal:
        horizontal(model)
    np.clip(model.networks.knowledge, 0.0, 1.0, out=model.networks.knowledge)
    gain = learning(model)
    return {"produced": produced, "duplicated": duplicated, "practice_gain": float(gain.sum())}

