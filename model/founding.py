"""Phase 2: network founding (proliferation) and dissolution.

Founding. New networks per year ~ Poisson(founding_rate x (1 + founding_growth)^t + demand_rate x U),
t the years since the start, where the unmet
demand U is the share of cities' priority mass on issues none of their networks is active on
(capped so that at most `max_networks` are active). A new network's theme is drawn with
    P(theme = i) = convergence x funding_share_i + (1 - convergence) x unmet_share_i
("follow the money" against "fill the niche"). Rule, scope, partner share and openness are drawn
from the configured distributions; founders are chosen as `_add_founders` says (top-ranked cities
for invitation and competitive networks; for open and threshold ones the best on priority on the
theme x visibility among a random sample of eligible cities).

Dissolution. A network whose members fall below `min_members` or whose income falls below
`min_income` for `floor_years` consecutive years dissolves; its members leave.
"""

from __future__ import annotations

import numpy as np

from model.membership import eligible_mask, refresh_counts
from model.state import COMPETITIVE, GLOBAL_SCOPE, INVITATION, OPEN, RULES, THRESHOLD, active_on, col_sums

RULE_WORDS = {OPEN: "Network", THRESHOLD: "Metropolitan Forum", INVITATION: "Circle", COMPETITIVE: "Challenge"}


def coverage(model) -> np.ndarray:
    """(cities x issues) bool: some network of the city is active on the issue."""
    c, mem = model.cities, model.memberships
    if len(mem) == 0 or model.networks.n == 0:
        return np.zeros((c.n, model.n_issues), dtype=bool)
    on = active_on(model)
    return np.asarray(mem.matrix(c.n, model.networks.n) @ on.astype(np.float64)) > 0


def unmet_demand(model) -> tuple[float, np.ndarray]:
    """Share of cities' priority mass not covered by any membership; and its split by issue."""
    c = model.cities
    cov = coverage(model)
    unmet = c.priority * (~cov)
    by_issue = col_sums(unmet)
    total = float(by_issue.sum()) / c.n
    s = by_issue.sum()
    return total, (by_issue / s if s > 0 else np.full(len(by_issue), 1.0 / len(by_issue)))


def theme_probabilities(model, niche: np.ndarray | None = None) -> np.ndarray:
    """convergence x funding shares + (1 - convergence) x unmet-demand shares."""
    cfg = model.cfg.networks
    if niche is None:
        _, niche = unmet_demand(model)
    money = model.last_funding_share
    if money is None or not np.isfinite(money).all() or money.sum() <= 0:
        money = model.issue_appeal / model.issue_appeal.sum()
    p = cfg.convergence * money + (1 - cfg.convergence) * niche
    return p / p.sum()


def draw_rules(rng, cfg, k: int) -> np.ndarray:
    """Membership rules of k new networks: P(open, threshold, invitation, competitive) = (1 - the
    three shares, threshold_share, invitation_share, competitive_share)."""
    p = np.array([1 - cfg.invitation_share - cfg.competitive_share - cfg.threshold_share,
                  cfg.threshold_share, cfg.invitation_share, cfg.competitive_share])
    p = np.clip(p, 0, None)
    return rng.choice(len(RULES), size=k, p=p / p.sum())


def found_networks(model, k: int, year: int, themes: np.ndarray | None = None, rules: np.ndarray | None = None,
                   scopes: np.ndarray | None = None, names: list[str] | None = None,
                   founders: int | None = None, niche: np.ndarray | None = None,
                   partnered: np.ndarray | None = None, thresholds: np.ndarray | None = None,
                   targets: np.ndarray | None = None, sponsors: np.ndarray | None = None) -> np.ndarray:
    """Create k networks (arrays, standards, founders, Mesa agents); return their indices.

    The optional arrays fix what is otherwise drawn (catalogue networks): partnered (bool),
    thresholds (population, for the threshold rule), targets (target size of invitation and
    competitive networks) and sponsors (funder index, -1 for none, -2 to choose by theme)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rng, cfg, nets, cities = model.rng, model.cfg.networks, model.networks, model.cities
    I = model.n_issues
    if themes is None:
        themes = rng.choice(I, size=k, p=theme_probabilities(model, niche))
    if rules is None:
        rules = draw_rules(rng, cfg, k)
    if scopes is None:
        region_w = np.bincount(cities.region, minlength=model.n_regions).astype(float)
        regional = rng.choice(model.n_regions, size=k, p=region_w / region_w.sum())
        scopes = np.where(rng.random(k) < cfg.global_share, GLOBAL_SCOPE, regional)
    idx = nets.add(k)
    nets.active[idx] = True
    nets.founded[idx] = year
    nets.dissolved[idx] = -1
    nets.theme[idx] = themes
    nets.rule[idx] = rules
    nets.scope[idx] = scopes
    thr_draw = cfg.threshold_pop * rng.lognormal(0, 0.5, k)
    if thresholds is not None:
        thr_draw = np.where(np.isfinite(thresholds) & (thresholds > 0), thresholds, thr_draw)
    nets.threshold[idx] = np.where(rules == THRESHOLD, thr_draw, 0.0)
    drawn = rng.random(k) < cfg.partnered_share
    partnered = drawn if partnered is None else np.asarray(partnered, dtype=bool)
    nets.partner_share[idx] = np.where(partnered, rng.uniform(0.1, max(0.1, cfg.partner_share_max), k), 0.0)
    appeal = model.issue_appeal / model.issue_appeal.sum()
    g = rng.gamma(4.0 * I * appeal, size=(k, I)) + 1e-12
    nets.partner_pref[idx] = g / g.sum(axis=1, keepdims=True)
    closed = (rules == INVITATION) | (rules == COMPETITIVE)
    nets.openness[idx] = np.where(closed, cfg.openness_closed, cfg.openness_open)
    nets.fee[idx] = cfg.fee_share * model.median_budget * rng.lognormal(-0.125, 0.5, k)
    tgt = np.maximum(2, np.round(cfg.target_size * rng.lognormal(-0.08, 0.4, k)))
    if targets is not None:
        tgt = np.where(np.asarray(targets) > 0, targets, tgt)
    nets.target[idx] = np.where(closed, tgt, 0)
    onehot = np.eye(I)[themes]
    agenda = 0.6 * onehot + 0.4 * model.salience_share[None, :]
    nets.agenda[idx] = agenda
    nets.knowledge[idx] = agenda * rng.uniform(0.15, 0.35, size=(k, 1))
    nets.standard[idx] = nets.new_standards(k * I).reshape(k, I)
    nets.secretariat[idx] = 0.2
    nets.efficiency[idx] = rng.uniform(0.4, 0.8, k)
    nets.low_years[idx] = 0
    nets.funds[idx] = 0.0
    nets.grants[idx] = 0.0
    nets.fees[idx] = 0.0
    nets.members[idx] = 0
    nets.sponsor[idx] = -1
    # partnered networks get a sponsoring funder, chosen by fit to the theme
    fund = model.funders
    choose = partnered if sponsors is None else (np.asarray(sponsors) == -2)
    if sponsors is not None:
        fixed = np.asarray(sponsors) >= 0
        nets.sponsor[idx[fixed]] = np.asarray(sponsors)[fixed]
    for j in np.flatnonzero(choose):
        ok = fund.active & ((fund.region == GLOBAL_SCOPE) | (fund.region == scopes[j]))
        if ok.any():
            w = np.where(ok, fund.pref[:, themes[j]], 0.0)
            nets.sponsor[idx[j]] = rng.choice(fund.n, p=w / w.sum())
    for j, n_idx in enumerate(idx):
        nm = names[j] if names is not None else f"{model.issue_names[themes[j]].title()} {RULE_WORDS[int(rules[j])]} {int(n_idx) + 1:03d}"
        nets.names.append(nm)
    _add_founders(model, idx, year, cfg.founders if founders is None else founders)
    model.on_networks_founded(idx)
    return idx


def _add_founders(model, idx: np.ndarray, year: int, n_founders: int):
    """Founders: for invitation and competitive networks, the top-ranked eligible cities (among the
    3 x founders best by rank score, ordered by rank score x U(0.8, 1.2)); for open and threshold
    networks, the best on priority(theme) x (0.2 + visibility) x U(0.5, 1.5) among a random sample
    of 50 x founders eligible cities (a founding coalition forms among the cities that meet).
    Founders need attention >= 1; one at its attention limit drops its least useful network in this
    year's membership phase (founders review). The new network's knowledge starts at least at its
    founders' best practice x agenda focus."""
    rng, nets, c = model.rng, model.networks, model.cities
    new_c, new_n = [], []
    able = c.attention >= 1  # founders must be able to hold a membership at all
    closed = (nets.rule[idx] == INVITATION) | (nets.rule[idx] == COMPETITIVE)
    ranked = model.ranking.ranked(model, top=3 * n_founders) if closed.any() else None
    for k, is_closed in zip(idx, closed):
        s = int(nets.scope[k])
        if is_closed:
            cand = ranked[s]
            cand = cand[able[cand]][: 3 * n_founders]
            if len(cand) == 0:
                continue
            score = model.ranking.score[cand] * rng.uniform(0.8, 1.2, len(cand))
        else:
            elig = eligible_mask(model, int(k)) & able
            cand = np.flatnonzero(elig)
            if len(cand) == 0:
                continue
            if len(cand) > 50 * n_founders:
                cand = cand[rng.integers(0, len(cand), 50 * n_founders)]
                cand = np.unique(cand)
            score = c.priority[cand, nets.theme[k]] * (0.2 + c.visibility[cand]) * rng.uniform(0.5, 1.5, len(cand))
        m = min(n_founders, len(cand))
        top = cand[np.argpartition(-score, m - 1)[:m]] if m < len(cand) else cand
        new_c.append(top)
        new_n.append(np.full(len(top), k))
    if new_c:
        cs, ks = np.concatenate(new_c), np.concatenate(new_n)
        model.memberships.add(cs, ks, year)
        model.memberships.founders = np.union1d(model.memberships.founders, cs)
        # a network starts from the best practice its founders pool on its agenda issues
        best = np.zeros((nets.n, model.n_issues))
        np.maximum.at(best, ks, c.practice[cs])
        focus = nets.agenda[idx] / nets.agenda[idx].max(axis=1, keepdims=True)
        nets.knowledge[idx] = np.maximum(nets.knowledge[idx], best[idx] * focus)
    refresh_counts(model)


def initial_networks(model):
    """The networks that exist before the first step: catalogue networks founded before the start
    year, then `networks.initial` synthetic ones with founding years spread over the 30 years before."""
    start = model.cfg.start_year
    if model.catalogue is not None:
        cat = model.catalogue
        old = cat[(cat["founded"] < start) & (cat["ended"].isna() | (cat["ended"] >= start))]
        enter_catalogue(model, old, start - 1, founded_years=old["founded"].to_numpy())
    k = model.cfg.networks.initial
    if k == 0:
        return
    idx = found_networks(model, k, start - 1)
    model.networks.founded[idx] = start - 1 - model.rng.integers(0, 30, size=k)


def found_phase(model, year: int):
    """Draw this year's new networks."""
    cfg = model.cfg.networks
    unmet, niche = unmet_demand(model)
    lam = cfg.founding_rate * (1 + cfg.founding_growth) ** (year - model.cfg.start_year) + cfg.demand_rate * unmet
    k = int(model.rng.poisson(lam))
    room = cfg.max_networks - int(model.networks.active.sum())
    k = max(0, min(k, room))
    return found_networks(model, k, year, niche=niche)


def dissolution_phase(model, year: int) -> np.ndarray:
    """Dissolve networks below the member or income floor for `floor_years` years."""
    cfg, nets = model.cfg.networks, model.networks
    n = nets.n
    act = nets.active[:n]
    income_known = nets.founded[:n] < year if model.steps > 1 else np.zeros(n, dtype=bool)  # no income before the first step
    low = act & ((nets.members[:n] < cfg.min_members) | ((nets.funds[:n] < cfg.min_income) & income_known))
    nets.low_years[:n] = np.where(low, nets.low_years[:n] + 1, 0)
    gone = np.flatnonzero(act & (nets.low_years[:n] >= cfg.floor_years))
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
# their real rule, scope and theme and are dissolved in their end year.

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
                         partnered=partnered, thresholds=thr, targets=targets, sponsors=sponsors)
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
