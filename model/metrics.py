"""Phase 8: observation. The metrics (one row per step; the names are a contract) and the end-of-run tables.

Notation: "operating" networks are active (not dissolved) and have members; only they count. Every
formula, its range and why it is not tied to any single lever is in docs/ODD.md, section 9. In short:
- fragmentation_index: per issue i, the Gini-Simpson dispersion 1 - sum_s q_si^2 of the solution
  standards cities actually practise (q_si: share of practice p_ci of the cities practising
  standard s, among cities practising a network standard on i), averaged over issues weighted by
  that practice. Cooperation lowers it only by changing what cities practise.
- standards_per_issue: mean over issues of the effective number 1 / sum_s q_si^2 of those standards.
- duplication_ratio: share of knowledge spending that re-created knowledge another operating
  network active on the same issue already held (after this year's transfers; knowledge.py).
- capability of a city: mean practice over low-politics issues; mean_capacity, gini_capacity,
  north_south_gap (North minus South), size_gap (largest 10% minus smallest 50% by population).
- nonmember_access: practice growth outside closed (invitation and competitive) networks relative to
  growth inside, among comparable cities: within each stratum (population quintile x region) the
  mean practice gain of this year (on those networks' issues, agenda-weighted) of non-members and of
  members; the ratio of the member-weighted sums over strata with both, sum n_in g_out / sum n_in g_in.
  It compares changes, not levels (a difference in differences written as a ratio: 1 = no gap); NaN
  where there is no closed network or no stratum with both members and non-members.
- small_city_growth: this year's mean practice gain (x 1000, low-politics issues, every source) of
  the smallest half of cities by population, a fixed group: what reaches those that circles leave
  out, in absolute terms (a cost of opening that slows members does not raise it, unlike a ratio to
  members' growth, and nobody's joining or leaving changes the group).
- efficiency: practice gained this step through networks (member learning and openly shared
  knowledge, not cities' own innovation or national uptake) per city x 1000 per million USD of
  network money (grants + fees + the IO framework's overhead on pooled money: what a remedy's
  administration uses is spent on networks, so wasting more of it cannot raise efficiency).
- high_politics_activity: share of operating networks' programme spending this year that goes to
  high-politics issues (each network's programme split by its agenda): how much networks work on high
  politics (C3's "networks rarely work on high politics").
- churn_rate: memberships that ended this year / memberships at the start of the membership phase.
- agenda_misalignment: members' mean distance 0.5 sum_i |A_ki - P_ci| between their network's
  agenda and their own priorities (membership-weighted; agenda.py).
- neglect_index: sum_i max(0, demand_i - funding_share_i), demand the mean priority of cities.
- participation_small_large: mean memberships of the smallest 50% of cities (by population) / mean
  memberships of the largest 10%; participation_south_north: mean memberships of cities of the
  Global South / of the North (NaN where the denominator is 0). Who is left out.
- exclusion_small_large: among the cities that held a membership at the end of the reference year
  (membership.reference_year, the year before a shock), the share of the smallest 50% that now hold
  none minus that share of the largest 10%; exclusion_south_north: the same, South minus North;
  ever_excluded_small_large: the same with "held none at the end of some year since the reference year"
  (cumulative: read at a shock's first year, who was left out first). Who is left out, not how many
  memberships: a city that drops from five memberships to one is not excluded, one that drops its only
  declaration is. NaN up to the reference year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.compiled import dot, jit, matvec, vecmat
from model.state import COMPETITIVE, INVITATION, RULES, col_sums


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 for none or all zero).

    The values are sorted with `np.sort`: only the sorted values are read, not their order, so no
    (stable) argsort is needed, and NumPy's vectorised sort of floats is several times faster than
    gathering them through `compiled.argsort_stable` (about 0.15 ms against 0.65 ms for 30,000 cities).
    Any ascending sort gives the same sequence of values (equal values can only differ as 0.0 and
    -0.0, which add the same to any sum that is read), so the result has the same bits."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum.sum() / cum[-1])) / n)


def practised_standards(model) -> tuple[np.ndarray, np.ndarray]:
    """(issues,) Gini-Simpson dispersion of the network standards cities practise, and (issues,) the
    practice weight behind it (module docstring)."""
    c = model.cities
    I = model.n_issues
    std = c.standard
    S = max(int(model.networks.next_standard), 1)
    w = np.zeros((I, S))
    _practice_by_standard(std, c.practice, w)
    weight = w.sum(axis=1)
    q = np.divide(w, weight[:, None], out=np.zeros_like(w), where=weight[:, None] > 0)
    f = np.where(weight > 0, 1.0 - (q ** 2).sum(axis=1), 0.0)
    return f, weight


@jit
def _practice_by_standard(std, practice, w):
    """w[i, s] += practice[c, i] over cities c practising network standard s on issue i (city order)."""
    N, I = std.shape
    for ci in range(N):
        for i in range(I):
            s = std[ci, i]
            if s >= 0:
                w[i, s] += practice[ci, i]


def fragmentation(model, practised: tuple | None = None) -> float:
    """Practice-weighted mean over issues of the dispersion of practised standards, in [0, 1)."""
    f, w = practised_standards(model) if practised is None else practised
    return float((f * w).sum() / w.sum()) if w.sum() > 0 else 0.0


def standards_per_issue(model, practised: tuple | None = None) -> float:
    """Mean over issues (with any practised network standard) of 1 / sum_s q_si^2."""
    f, w = practised_standards(model) if practised is None else practised
    used = w > 0
    return float(np.mean(1.0 / (1.0 - f[used]))) if used.any() else 0.0


def capability(model) -> np.ndarray:
    """Each city's mean practice over low-politics issues."""
    low = ~model.high
    w = low / low.sum() if low.any() else np.full(len(low), 1.0 / len(low))
    return matvec(model.cities.practice, w.astype(np.float64))


def in_invitation_network(model) -> np.ndarray:
    """(cities,) bool: member of an invitation-only network."""
    mem, nets = model.memberships, model.networks
    inv = nets.rule[mem.net] == INVITATION
    return np.bincount(mem.city[inv], minlength=model.cities.n) > 0


def nonmember_access(model) -> float:
    """Difference in differences of practice growth, outside vs inside closed networks (module docstring)."""
    nets, c, mem = model.networks, model.cities, model.memberships
    n = nets.n
    closed = nets.operating() & ((nets.rule[:n] == INVITATION) | (nets.rule[:n] == COMPETITIVE))
    if not closed.any():
        return float("nan")
    inside = np.zeros(c.n, dtype=bool)
    inside[mem.city[closed[mem.net]]] = True
    w = nets.agenda[:n][closed].sum(axis=0)
    growth = matvec(model.flows.gains, w / w.sum())
    strata = model.fixed.strata  # population quintile x region
    S = int(strata.max()) + 1
    n_in, n_out = np.zeros(S, dtype=np.int64), np.zeros(S, dtype=np.int64)
    g_in, g_out = np.zeros(S), np.zeros(S)
    _by_stratum(strata, inside, growth, n_in, n_out, g_in, g_out)
    g_in /= np.maximum(n_in, 1)
    g_out /= np.maximum(n_out, 1)
    both = (n_in > 0) & (n_out > 0)
    den = float((n_in * g_in)[both].sum())
    if not both.any() or den <= 0:
        return float("nan")
    return float((n_in * g_out)[both].sum()) / den


@jit
def _by_stratum(strata, inside, growth, n_in, n_out, g_in, g_out):
    """Cities and their summed growth per stratum, inside and outside closed networks (city order)."""
    for ci in range(len(strata)):
        s = strata[ci]
        if inside[ci]:
            n_in[s] += 1
            g_in[s] += growth[ci]
        else:
            n_out[s] += 1
            g_out[s] += growth[ci]


def small_city_growth(model) -> float:
    """Mean practice gain this year (x 1000, averaged over low-politics issues, from every source) of the
    smallest half of cities by population: a fixed group (populations do not change), so that who
    joins or leaves a network cannot move it by itself."""
    low = ~model.high
    if not low.any():
        return float("nan")
    return float(dot(vecmat(model.fixed.small_weights, model.flows.gains), low / low.sum()) * 1000)


def budget_share_under_1pct(model) -> float:
    """Share of cities whose international-engagement budget is under 1% of their city budget (NaN
    when city budgets are unknown)."""
    c = model.cities
    if c.city_budget is None:
        return float("nan")
    return float(np.mean(c.budget * 1e6 < 0.01 * c.city_budget))


# Flows: what happens during a year (spending, grants and fees, practice gained, memberships ended), so
# they need a step to be measured; at step 0 (the state before the first year) they are NaN, not 0.
FLOW_METRICS = ("duplication_ratio", "efficiency", "churn_rate", "nonmember_access", "small_city_growth",
                "funding_hhi", "funding_gini", "neglect_index", "high_politics_activity")
FLOW_PREFIXES = ("funding_share_",)  # per-issue families of flows (this year's grants by issue)


def is_flow(name: str) -> bool:
    """True for a flow metric (NaN at step 0)."""
    return name in FLOW_METRICS or name.startswith(FLOW_PREFIXES)


def observe(model, phase_out: dict | None) -> dict:
    """One row of the time series: step, year and every metric of `metric_names` (module docstring).
    `phase_out` None: the initial state (step 0), where the flow metrics are NaN (nothing has flowed)."""
    initial = phase_out is None
    phase_out = phase_out or {}
    c, nets, mem, co = model.cities, model.networks, model.memberships, model.countries
    n, N, I = nets.n, c.n, model.n_issues
    names = model.issue_names
    op = nets.operating()
    row: dict[str, float] = {"step": int(model.steps), "year": int(model.year)}
    n_op = int(op.sum())
    row["n_networks"] = n_op
    row["n_memberships"] = len(mem)
    per_city = mem.per_city(N)
    row["mean_memberships"] = len(mem) / N
    row["share_unaffiliated"] = float((per_city == 0).mean())
    themes = np.bincount(nets.theme[:n][op], minlength=I) / max(n_op, 1)
    for j, nm in enumerate(names):
        row[f"theme_share_{nm}"] = float(themes[j])
    grants = nets.grants[:n] * op
    gtot = grants.sum()
    fshare = (grants @ nets.agenda[:n]) / gtot if gtot > 0 else np.zeros(I)
    for j, nm in enumerate(names):
        row[f"funding_share_{nm}"] = float(fshare[j])
    row["funding_hhi"] = float((fshare ** 2).sum())
    row["funding_gini"] = gini(nets.funds[:n][op])
    demand = col_sums(c.priority) / N
    row["neglect_index"] = float(np.maximum(demand - fshare, 0).sum()) if gtot > 0 else 1.0
    practised = practised_standards(model)
    row["fragmentation_index"] = fragmentation(model, practised)
    spending = phase_out.get("spending", 0.0)
    row["duplication_ratio"] = float(phase_out.get("duplicated_spending", 0.0) / spending) if spending > 0 else 0.0
    row["standards_per_issue"] = standards_per_issue(model, practised)
    cap = capability(model)
    row["mean_capacity"] = float(cap.mean())
    row["gini_capacity"] = gini(cap)
    g = model.fixed.group_weights  # north, south, big, small
    north_south = float(dot(cap, g["north"]) - dot(cap, g["south"]))
    row["north_south_gap"] = north_south if np.isfinite(north_south) else 0.0
    size_gap = float(dot(cap, g["big"]) - dot(cap, g["small"]))
    row["size_gap"] = size_gap if np.isfinite(size_gap) else 0.0
    row["nonmember_access"] = nonmember_access(model)
    row["small_city_growth"] = small_city_growth(model)
    has_city = np.bincount(c.country, minlength=co.n) > 0
    stance = co.stance[has_city]
    for j, nm in enumerate(names):
        row[f"national_stance_{nm}"] = float(stance[:, j].mean())
    row["resident_norm_mean"] = c.residents_norm_mean()
    row["high_politics_index"] = float(stance[:, model.high].mean()) if model.high.any() else 0.0
    row["high_politics_activity"] = high_politics_activity(model, op)
    # all the money spent on networks this year: grants, fees and what the IO's administration used of
    # the pooled money (money lost to overhead is spent, not saved)
    spent = float(gtot + (nets.fees[:n] * op).sum() + model.flows.io_overhead_spent)
    row["efficiency"] = float(phase_out.get("network_gain", 0.0) / N * 1000 / spent) if spent > 0 else 0.0
    row["churn_rate"] = float(model.flows.churn)
    m = nets.members[:n] * op
    row["agenda_misalignment"] = float((nets.misalignment[:n] * m).sum() / m.sum()) if m.sum() > 0 else 0.0
    row["partnered_share"] = float((nets.partner_share[:n][op] > 0).mean()) if n_op else 0.0
    held = per_city.astype(np.float64)
    row["participation_small_large"] = _ratio(dot(held, g["small"]), dot(held, g["big"]))
    row["participation_south_north"] = _ratio(dot(held, g["south"]), dot(held, g["north"]))
    excl = exclusion(model, per_city)
    row["exclusion_small_large"] = excl[0]
    row["exclusion_south_north"] = excl[1]
    row["ever_excluded_small_large"] = excl[2]
    if initial:
        for k in row:
            if is_flow(k):
                row[k] = float("nan")
    return row


def high_politics_activity(model, op: np.ndarray) -> float:
    """Share of this year's programme spending of operating networks that goes to high-politics issues,
    each network's programme split over issues by its agenda: sum_k prog_k sum_h A_kh / sum_k prog_k
    (0 if nothing is spent or no issue is high politics)."""
    nets, n = model.networks, model.networks.n
    prog = nets.programme[:n] * op
    total = float(prog.sum())
    if total <= 0 or not model.high.any():
        return 0.0
    return float(prog @ nets.agenda[:n][:, model.high].sum(axis=1) / total)


# the metrics of the reference cohort (exclusion): NaN up to membership.reference_year
COHORT_METRICS = ("exclusion_small_large", "exclusion_south_north", "ever_excluded_small_large")


def exclusion(model, per_city: np.ndarray) -> tuple[float, float, float]:
    """(exclusion_small_large, exclusion_south_north, ever_excluded_small_large) this year (module
    docstring). The cohort, the cities holding a membership at the end of membership.reference_year, is
    recorded when that year is observed (model.exclusion_cohort); the cities of the cohort that have held
    none at the end of some year since are accumulated in model.ever_excluded. NaN before the cohort
    exists, or where a group has no member of the cohort."""
    ref = model.cfg.membership.reference_year
    if model.year == ref:
        model.exclusion_cohort = per_city > 0
        model.ever_excluded = np.zeros(len(per_city), dtype=bool)
    cohort = model.exclusion_cohort
    if cohort is None or model.year <= ref:
        return float("nan"), float("nan"), float("nan")
    out = (per_city == 0) & cohort
    model.ever_excluded |= out
    big, small = model.fixed.size_classes
    north = model.cities.north.astype(bool)

    def rate(x, group):
        n = int((cohort & group).sum())
        return float((x & group).sum() / n) if n else float("nan")

    return (rate(out, small) - rate(out, big), rate(out, ~north) - rate(out, north),
            rate(model.ever_excluded, small) - rate(model.ever_excluded, big))


def _ratio(a: float, b: float) -> float:
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def observe_named(model) -> list[dict]:
    """Rows for the catalogue (real) networks: members, member countries, median member population and the
    applications a competitive network has received since it entered (cumulative; 0 for other rules)."""
    mem, c = model.memberships, model.cities
    rows = []
    for name, k in model.catalogue_index.items():
        if not model.networks.active[k]:
            continue
        who = mem.city[mem.net == k]
        rows.append({"step": int(model.steps), "year": int(model.year), "network_id": k, "name": name,
                     "members": len(who), "countries": len(np.unique(c.country[who])),
                     "median_member_population": float(np.median(c.population[who])) if len(who) else 0.0,
                     "applications": int(model.networks.applications[k])})
    return rows


def metric_names(issue_names: list[str]) -> list[str]:
    """All metric columns, in order (without step and year)."""
    out = ["n_networks", "n_memberships", "mean_memberships", "share_unaffiliated"]
    out += [f"theme_share_{i}" for i in issue_names]
    out += [f"funding_share_{i}" for i in issue_names]
    out += ["funding_hhi", "funding_gini", "neglect_index", "fragmentation_index", "duplication_ratio",
            "standards_per_issue", "mean_capacity", "gini_capacity", "north_south_gap", "size_gap",
            "nonmember_access", "small_city_growth"]
    out += [f"national_stance_{i}" for i in issue_names]
    out += ["resident_norm_mean", "high_politics_index", "high_politics_activity", "efficiency", "churn_rate",
            "agenda_misalignment", "partnered_share", "participation_small_large", "participation_south_north",
            "exclusion_small_large", "exclusion_south_north", "ever_excluded_small_large"]
    return out


def networks_table(model) -> pd.DataFrame:
    nets = model.networks
    n = nets.n
    scope_names = np.array(["global"] + list(model.region_names), dtype=object)
    return pd.DataFrame({
        "network_id": np.arange(n, dtype=np.int64),
        "name": pd.array(nets.names[:n], dtype="string"),
        "theme": [model.issue_names[t] for t in nets.theme[:n]],
        "rule": [RULES[r] for r in nets.rule[:n]],
        "scope": scope_names[nets.scope[:n] + 1],
        "founded": nets.founded[:n],
        "dissolved": pd.Series(nets.dissolved[:n], dtype="Int64").mask(nets.dissolved[:n] < 0),
        "members": nets.members[:n],
        "funds": nets.funds[:n],
        "partner_share": nets.partner_share[:n],
        "openness": nets.openness[:n],
        "misalignment": nets.misalignment[:n],
        "engagement": nets.engagement[:n],
        "drift": nets.drift[:n],
    })


def cities_table(model) -> pd.DataFrame:
    c = model.cities
    per_city = np.bincount(model.memberships.city, minlength=c.n)
    df = pd.DataFrame({
        "city_id": np.arange(c.n, dtype=np.int64),
        "name": c.name.astype(str),
        "country": model.countries.name[c.country].astype(str),
        "region": np.array(model.region_names, dtype=object)[c.region].astype(str),
        "north": c.north.astype(bool),
        "population": c.population,
        "memberships": per_city,
        "practice_mean": c.practice.mean(axis=1),
        "in_invitation_network": in_invitation_network(model),
    })
    if c.lat is not None:
        df["lat"], df["lon"] = c.lat, c.lon
    return df
