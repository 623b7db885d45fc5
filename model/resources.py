"""Phase 4: competition for limited international resources.

Only operating networks (active, with members) receive money. Each active funder f splits its
yearly budget B_f in three parts:
  - sponsorship: sponsor_share x B_f is reserved for the operating networks it sponsors, an equal
    part each, of which network k receives the part x (1 - sponsor_exit x city_first) (partners give
    in proportion to the weight they keep) x (1 - sponsor_exclusivity x openness_k) for invitation
    and competitive networks (sponsors of a small circle value its exclusivity); what is withheld goes
    into the funder's contest;
  - pooled (only under `io_framework`): pooled_share x (what is left after sponsorship), less the
    IO's administrative overhead, in proportion to members served among affiliated networks, not
    by contest (regional restrictions of funders do not apply to pooled money);
  - contest: the rest, among eligible networks k (scope compatible with the funder's region) by
        share_fk = (fit_fk x vis_k)^gamma / sum_j (fit_fj x vis_j)^gamma,
        fit_fk = I x pref_f . agenda_k,  vis_k = log(1 + members_k) x (0.25 + prestige_k),
    prestige_k the mean visibility of members. gamma > 1 gives winner-take-most.
Money with no eligible recipient stays unallocated (no allocation exceeds the pool).
Network income = grants + members' fees. Remedies cost coordination: a share c_k of income
(levers.coordination) goes to it, so the income that works is income x (1 - c_k).
Secretariat capacity = 1 - exp(-overhead x income x (1 - c_k) / scale), lifted under the secretariat
exchange for a recipient k paired with a donor p: + transfer x max(0, S_p - S_k); programme spending =
(1 - overhead) x income x (1 - c_k) x efficiency. Competition spurs efficiency:
    efficiency_k += efficiency_gain x (1 - 1/n_same_theme_k) x (1 - pooled_k) x (1 - efficiency_k),
n_same_theme_k the operating networks with k's theme and pooled_k the IO's pooled share for
affiliated networks (money that is not contested spurs no one).
"""

from __future__ import annotations

import numpy as np

from model.state import COMPETITIVE, GLOBAL_SCOPE, INVITATION, Funders


def make_funders(model) -> Funders:
    """The funders: pool weights ~ Dirichlet(2, ..., 2); issue preferences ~ normalised
    Gamma(3 I appeal_i) (appeal: the issues' funder_appeal, normalised); the first
    round(regional_funders x F) are restricted to a region drawn by number of cities.
    Weights, preferences and regions each come from their own stream ("funders", the year before the
    first): numpy's gamma sampler consumes a number of values that depends on its shape, so on a
    shared stream a change of funders' appeal would also change the draws after it."""
    cfg = model.cfg.resources
    year = model.cfg.start_year - 1
    F = cfg.n_funders
    weight = model.streams.rng("funders", year, 0).dirichlet(np.full(F, 2.0))
    appeal = model.issue_appeal / model.issue_appeal.sum()
    g = model.streams.rng("funders", year, 1).gamma(3.0 * model.n_issues * appeal, size=(F, model.n_issues)) + 1e-12
    pref = g / g.sum(axis=1, keepdims=True)
    n_reg = round(cfg.regional_funders * F)
    region = np.full(F, GLOBAL_SCOPE, dtype=np.int64)
    if n_reg:
        w = np.bincount(model.cities.region, minlength=model.n_regions) + 1.0
        region[:n_reg] = model.streams.rng("funders", year, 2).choice(model.n_regions, size=n_reg, p=w / w.sum())
    return Funders(budget=np.zeros(F), weight=weight, pref=pref, region=region, active=np.ones(F, dtype=bool))


def update_funder_budgets(model):
    """Funder budgets: (exogenous pool + mobilisation x active networks) x weight x shock factor
    (phase 1, and again when a funding withdrawal starts or ends)."""
    f = model.funders
    n_active = int(model.networks.operating().sum())
    total = model.pool + model.cfg.resources.mobilisation * n_active
    factor = model.levers.funder_factor
    f.budget[:] = total * f.weight * factor
    f.active[:] = factor > 0


def network_visibility(model) -> np.ndarray:
    """vis_k = log(1 + members_k) x (0.25 + prestige_k)."""
    nets = model.networks
    n = nets.n
    return np.log1p(nets.members[:n]) * (0.25 + nets.prestige[:n])


def allocate(model) -> np.ndarray:
    """(funders x networks) allocation matrix for this year: sponsorship, pooled money, contest
    (module docstring)."""
    nets, fund, cfg = model.networks, model.funders, model.cfg.resources
    n = nets.n
    alloc = np.zeros((fund.n, n))
    if n == 0:
        return alloc
    act = nets.operating()
    vis = network_visibility(model)
    fit = model.n_issues * fund.pref @ nets.agenda[:n].T  # (F, n)
    scope = nets.scope[:n]
    elig = act[None, :] & ((fund.region[:, None] == GLOBAL_SCOPE) | (scope[None, :] == GLOBAL_SCOPE)
                           | (scope[None, :] == fund.region[:, None]))
    budget = np.where(fund.active, fund.budget, 0.0)
    remaining = budget.copy()
    # sponsorship
    spons = nets.sponsor[:n]
    closed = (nets.rule[:n] == INVITATION) | (nets.rule[:n] == COMPETITIVE)
    keep = (1 - cfg.sponsor_exit * model.levers.city_first) * np.where(
        closed, 1 - cfg.sponsor_exclusivity * nets.openness[:n], 1.0)
    for f in range(fund.n):
        mine = np.flatnonzero(act & (spons == f))
        if len(mine) and budget[f] > 0:
            part = cfg.sponsor_share * budget[f] / len(mine) * keep[mine]
            alloc[f, mine] += part
            remaining[f] -= part.sum()
    # pooled through an international organisation (io_framework)
    flows = model.flows
    flows.io_overhead_spent = 0.0
    if model.levers.io_pooled_share > 0:
        aff = act & model.levers.affiliated(n)
        served = np.where(aff, nets.members[:n], 0).astype(float)
        if served.sum() > 0:
            part = model.levers.io_pooled_share * remaining
            alloc += (part * (1 - model.levers.io_overhead))[:, None] * (served / served.sum())[None, :]
            flows.io_overhead_spent = float((part * model.levers.io_overhead).sum())
            remaining -= part
    # contest
    score = np.where(elig, np.maximum(fit * vis[None, :], 0.0), 0.0) ** cfg.gamma
    score = np.where(elig, score, 0.0)
    tot = score.sum(axis=1)
    ok = tot > 0
    alloc[ok] += remaining[ok, None] * score[ok] / tot[ok, None]
    flows.unallocated = float(remaining[~ok].sum())
    return alloc


def secretariat_lift(S: np.ndarray, partner: np.ndarray, op: np.ndarray, rate: float) -> np.ndarray:
    """Secretariat exchange: a recipient k (partner p = partner_k >= 0, both operating) closes `rate` of the
    gap to its donor's capacity this year, S_k + rate x max(0, S_p - S_k), the donors' capacities taken
    before any lift; everyone else keeps S (a new array)."""
    out = S.copy()
    has = (partner >= 0) & op
    has[has] = op[partner[has]]
    if rate > 0 and has.any():
        out[has] += rate * np.maximum(S[partner[has]] - S[has], 0.0)
    return out


def resources_phase(model):
    """Grants by `allocate`, fees, income, secretariat capacity, efficiency and programme money."""
    nets, cfg = model.networks, model.cfg.resources
    n = nets.n
    alloc = allocate(model)
    model.flows.allocation = alloc
    grants = alloc.sum(axis=0)
    act = nets.active[:n]
    op = nets.operating()
    fees = np.where(op, nets.fee[:n] * nets.members[:n], 0.0)
    nets.grants[:n] = grants
    nets.fees[:n] = fees
    nets.funds[:n] = np.where(act, grants + fees, nets.funds[:n])
    coord = np.zeros(n)
    m = min(n, len(model.levers.coordination))
    coord[:m] = np.clip(model.levers.coordination[:m], 0.0, 1.0)
    working = nets.funds[:n] * (1 - coord)
    nets.secretariat[:n] = np.where(act, 1 - np.exp(-cfg.overhead * working / cfg.secretariat_scale), nets.secretariat[:n])
    if model.levers.exchange_transfer > 0:  # secretariat_exchange: seconded staff and shared methods
        nets.secretariat[:n] = secretariat_lift(nets.secretariat[:n], model.levers.partners(n), op,
                                                model.levers.exchange_transfer)
    same = np.bincount(nets.theme[:n][op], minlength=model.n_issues)
    pressure = np.where(op, 1 - 1 / np.maximum(same[np.maximum(nets.theme[:n], 0)], 1), 0.0)
    pressure *= 1 - model.levers.io_pooled_share * model.levers.affiliated(n)
    eff = nets.efficiency[:n]
    eff += cfg.efficiency_gain * pressure * (1 - eff)
    nets.programme[:n] = np.where(op, (1 - cfg.overhead) * working * eff, 0.0)
    model.flows.coordination_spent = float((nets.funds[:n] * coord)[op].sum())
    total = grants.sum()
    model.flows.funding_share = (grants @ nets.agenda[:n]) / total if total > 0 else None
