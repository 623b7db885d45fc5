"""Phase 3: agenda setting in each network (members' priorities against partners' preferences).

For each active network k with partners' weight w_k = min(1, p x partner_share_k) x (1 - city_first)
(p = `partner_pull`, 1 by default: partners pull in proportion to their governance seats):
    target_k = m x e(theme_k) + (1 - m) x [(1 - w_k) x mean_priority_k + w_k x partner_pref_k]
    agenda_k <- agenda_k + a x (target_k - agenda_k)
with m = `mission_weight`, a = `agenda_adaptation` and mean_priority_k the mean priority vector of
its members (its own agenda when it has none). Under a pandemic (levers.health_pull = h) the target
becomes (1 - h) target + h e(health).

Drift is the total-variation distance between the agenda and the agenda its member cities alone
would set:
    city_agenda_k = m x e(theme_k) + (1 - m) x mean_priority_k
    drift_k = 0.5 x sum_i |agenda_ki - city_agenda_ki|   in [0, 1]   (0 without members).
Drift has consequences: it weakens members' commitment (a utility term, membership.py) and their
execution (member learning x (1 - drift_execution x drift_k), knowledge.py). Drift is a mechanism,
not an outcome metric: it restates partners' weight.

Misalignment as members feel it (the networks table's `misalignment`, the metric
`agenda_misalignment`) is the mean over a network's members of the distance between the agenda and
each member's own priorities, 0.5 x sum_i |agenda_ki - P_ci|: it depends on who the members are
(which cities join and stay), on the mission and on whether partners pull toward or away from them.
It is computed in phase 8 (metrics.observe) on the members at the end of the year.
"""

from __future__ import annotations

import numpy as np

from model.compiled import jit


def member_mean_priority(model) -> np.ndarray:
    """(networks x issues) mean priority of members; the network's agenda where it has none."""
    nets = model.networks
    n = nets.n
    mem = model.memberships
    o = mem.by_city(model.cities.n)  # memberships in city order
    sums = np.zeros((n, model.n_issues))
    _member_sums(o.city, o.net, model.cities.priority, sums)
    cnt = nets.members[:n].astype(float)
    mean = np.where(cnt[:, None] > 0, sums / np.maximum(cnt, 1)[:, None], nets.agenda[:n])
    return mean


@jit
def _member_sums(city, net, P, sums):
    """sums[k] += P[c] over the memberships (c, k), in the order given."""
    I = P.shape[1]
    for e in range(len(net)):
        k, ci = net[e], city[e]
        for i in range(I):
            sums[k, i] += P[ci, i]


def felt_misalignment(model) -> np.ndarray:
    """(networks,) mean over members of 0.5 x sum_i |agenda_ki - P_ci| (0 without members)."""
    nets, mem, c = model.networks, model.memberships, model.cities
    n = nets.n
    if len(mem) == 0 or n == 0:
        return np.zeros(n)
    tot = np.zeros(n)
    o = mem.by_city(c.n)  # city order: each city's priorities read once, in order
    _felt_total(o.net, o.city, nets.agenda, c.priority, tot)
    return tot / np.maximum(nets.members[:n], 1)


@jit
def _felt_total(net, city, A, P, tot):
    """tot_k += 0.5 x sum_i |A_ki - P_ci| over the memberships (c, k), in edge-list order."""
    I = P.shape[1]
    for e in range(len(net)):
        k, ci = net[e], city[e]
        d = 0.0
        for i in range(I):
            d += abs(A[k, i] - P[ci, i])
        tot[k] += 0.5 * d


def record_misalignment(model):
    """Phase 8, before the metrics are observed (and at construction): each active network's felt
    misalignment (`felt_misalignment`) for its members at the end of the year, into
    `networks.misalignment` (dissolved networks keep their last value). The metrics only read it."""
    nets = model.networks
    n = nets.n
    nets.misalignment[:n] = np.where(nets.active[:n], felt_misalignment(model), nets.misalignment[:n])


def agenda_phase(model):
    """Move active networks' agendas toward their targets; record drift (felt misalignment is recorded
    in phase 8, `record_misalignment`, for the members after this year's membership phase)."""
    cfg = model.cfg.networks
    nets = model.networks
    n = nets.n
    if n == 0:
        return
    act = nets.active[:n]
    mean = member_mean_priority(model)
    w = np.minimum(1.0, cfg.partner_pull * nets.partner_share[:n]) * (1.0 - model.levers.city_first)
    onehot = np.eye(model.n_issues)[np.maximum(nets.theme[:n], 0)]
    blend = (1 - w)[:, None] * mean + w[:, None] * nets.partner_pref[:n]
    target = cfg.mission_weight * onehot + (1 - cfg.mission_weight) * blend
    pull_h = model.levers.health_pull
    if pull_h > 0:  # pandemic repurposing toward health
        h = model.issue_index.get("health")
        if h is not None:
            pull = np.zeros(model.n_issues)
            pull[h] = 1.0
            target = (1 - pull_h) * target + pull_h * pull[None, :]
    ag = nets.agenda[:n]
    ag[act] += cfg.agenda_adaptation * (target[act] - ag[act])
    ag[act] /= ag[act].sum(axis=1, keepdims=True)
    city_agenda = cfg.mission_weight * onehot + (1 - cfg.mission_weight) * mean
    has_members = nets.members[:n] > 0
    drift = np.where(has_members, 0.5 * np.abs(ag - city_agenda).sum(axis=1), 0.0)  # no members: nothing to drift from
    nets.drift[:n] = np.where(act, drift, nets.drift[:n])
