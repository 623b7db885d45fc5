"""Phase 8: observation. The metrics of MODEL.md section 6 and the end-of-run tables.

Formulas (also in docs/ODD.md, section Observation):
- fragmentation_index: for issue i let G_i be the graph of networks active on i (agenda >= activity
  threshold, or primary theme i), with an edge where two share the standard on i or are linked by
  cooperation; with n_i nodes and c_i components, f_i = (c_i - 1)/(n_i - 1) (0 if n_i < 2).
  The index is sum_i n_i f_i / sum_i n_i.
- standards_per_issue: mean over issues with active networks of 1 / sum_s q_s^2, q_s the member-weighted
  (members + 1) share of standard s among networks active on the issue.
- capability of a city: mean practice over low-politics issues; mean_capacity, gini_capacity,
  north_south_gap (North minus South), size_gap (largest 10% minus smallest 50% by population).
- nonmember_access: sum_i w_i mean_{c outside} p_ci / sum_i w_i mean_{c inside} p_ci, with "inside" the
  members of any invitation-only network and w_i the summed agenda weight of those networks (1: no gap).
- efficiency: practice gained this step per city x 1000 / resources spent (grants + fees, million USD).
- neglect_index: sum_i max(0, demand_i - funding_share_i), demand the mean priority of cities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from model.state import INVITATION, RULES, active_on, col_sums


def gini(x: np.ndarray) -> float:
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum.sum() / cum[-1])) / n)


def fragmentation(model, on: np.ndarray) -> float:
    nets = model.networks
    n = nets.n
    links = model.levers.link_matrix(n)
    num = den = 0.0
    for i in range(model.n_issues):
        who = np.flatnonzero(on[:, i])
        m = len(who)
        if m < 2:
            den += m
            continue
        std = nets.standard[who, i]
        if links is None:  # components are the distinct standards
            comps = len(np.unique(std))
            num += m * (comps - 1) / (m - 1)
            den += m
            continue
        order = np.argsort(std, kind="stable")
        same = std[order][1:] == std[order][:-1]
        r, c = order[:-1][same], order[1:][same]
        if links is not None:
            lr, lc = np.nonzero(links[np.ix_(who, who)] > 0)
            r, c = np.r_[r, lr], np.r_[c, lc]
        g = coo_matrix((np.ones(len(r)), (r, c)), shape=(m, m))
        comps, _ = connected_components(g, directed=False)
        num += m * (comps - 1) / (m - 1)
        den += m
    return num / den if den > 0 else 0.0


def standards_per_issue(model, on: np.ndarray) -> float:
    nets = model.networks
    vals = []
    for i in range(model.n_issues):
        who = np.flatnonzero(on[:, i])
        if len(who) == 0:
            continue
        w = nets.members[who] + 1.0
        _, inv = np.unique(nets.standard[who, i], return_inverse=True)
        q = np.bincount(inv, weights=w) / w.sum()
        vals.append(1.0 / (q ** 2).sum())
    return float(np.mean(vals)) if vals else 0.0


def capability(model) -> np.ndarray:
    low = ~model.high
    w = low / low.sum() if low.any() else np.full(len(low), 1.0 / len(low))
    return model.cities.practice @ w


def in_invitation_network(model) -> np.ndarray:
    mem, nets = model.memberships, model.networks
    inv = nets.rule[mem.net] == INVITATION
    return np.bincount(mem.city[inv], minlength=model.cities.n) > 0


def size_classes(model) -> tuple[np.ndarray, np.ndarray]:
    """(largest 10% by population, smallest 50%) masks; populations do not change."""
    if getattr(model, "_size_classes", None) is None:
        q90, q50 = np.quantile(model.cities.population, [0.9, 0.5])
        model._size_classes = (model.cities.population >= q90, model.cities.population <= q50)
    return model._size_classes


def budget_share_under_1pct(model) -> float:
    """Share of cities whose international-engagement budget is under 1% of their city budget (NaN
    when city budgets are unknown)."""
    c = model.cities
    if c.city_budget is None:
        return float("nan")
    return float(np.mean(c.budget * 1e6 < 0.01 * c.city_budget))


def observe(model, phase_out: dict) -> dict:
    """One row of the time series: step, year and every metric of `metric_names` (module docstring)."""
    c, nets, mem, co = model.cities, model.networks, model.memberships, model.countries
    n, N, I = nets.n, c.n, model.n_issues
    names = model.issue_names
    act = nets.active[:n]
    row: dict[str, float] = {"step": int(model.steps), "year": int(model.year)}
    n_act = int(act.sum())
    row["n_networks"] = n_act
    row["n_memberships"] = len(mem)
    per_city = mem.per_city(N)
    row["mean_memberships"] = len(mem) / N
    row["share_unaffiliated"] = float((per_city == 0).mean())
    themes = np.bincount(nets.theme[:n][act], minlength=I) / max(n_act, 1)
    for j, nm in enumerate(names):
        row[f"theme_share_{nm}"] = float(themes[j])
    grants = nets.grants[:n] * act
    gtot = grants.sum()
    fshare = (grants @ nets.agenda[:n]) / gtot if gtot > 0 else np.zeros(I)
    for j, nm in enumerate(names):
        row[f"funding_share_{nm}"] = float(fshare[j])
    row["funding_hhi"] = float((fshare ** 2).sum())
    row["funding_gini"] = gini(nets.funds[:n][act])
    demand = col_sums(c.priority) / N
    row["neglect_index"] = float(np.maximum(demand - fshare, 0).sum()) if gtot > 0 else 1.0
    on = active_on(model)
    row["fragmentation_index"] = float(fragmentation(model, on))
    prod = phase_out.get("produced", 0.0)
    row["duplication_ratio"] = float(phase_out.get("duplicated", 0.0) / prod) if prod > 0 else 0.0
    row["standards_per_issue"] = standards_per_issue(model, on)
    cap = capability(model)
    row["mean_capacity"] = float(cap.mean())
    row["gini_capacity"] = gini(cap)
    row["north_south_gap"] = float(cap[c.north].mean() - cap[~c.north].mean()) if c.north.any() and (~c.north).any() else 0.0
    big, small = size_classes(model)
    row["size_gap"] = float(cap[big].mean() - cap[small].mean()) if big.any() and small.any() else 0.0
    row["nonmember_access"] = nonmember_access(model)
    has_city = np.bincount(c.country, minlength=co.n) > 0
    stance = co.stance[has_city]
    for j, nm in enumerate(names):
        row[f"national_stance_{nm}"] = float(stance[:, j].mean())
    row["resident_norm_mean"] = float(col_sums(c.norm).sum() / c.norm.size)
    row["high_politics_index"] = float(stance[:, model.high].mean()) if model.high.any() else 0.0
    spent = float(gtot + (nets.fees[:n] * act).sum())
    row["efficiency"] = float(phase_out.get("practice_gain", 0.0) / N * 1000 / spent) if spent > 0 else 0.0
    row["churn_rate"] = float(model.last_churn)
    withm = act & (nets.members[:n] > 0)
    row["agenda_misalignment"] = float(nets.misalignment[:n][withm].mean()) if withm.any() else 0.0
    row["partnered_share"] = float((nets.partner_share[:n][act] > 0).mean()) if n_act else 0.0
    return row


def nonmember_access(model) -> float:
    nets, c = model.networks, model.cities
    n = nets.n
    inv = nets.active[:n] & (nets.rule[:n] == INVITATION)
    inside = in_invitation_network(model)
    if not inv.any() or not inside.any() or inside.all():
        return 1.0
    w = nets.agenda[:n][inv].sum(axis=0)
    inside_f = inside.astype(np.float64)
    total = col_sums(c.practice)
    in_sum = inside_f @ c.practice
    n_in = inside_f.sum()
    in_p = in_sum / n_in
    out_p = (total - in_sum) / (c.n - n_in)
    den = float(w @ in_p)
    return float(w @ out_p) / den if den > 0 else 1.0


def observe_named(model) -> list[dict]:
    """Rows for the catalogue (real) networks: members, member countries, median member population."""
    mem, c = model.memberships, model.cities
    rows = []
    for name, k in model.catalogue_index.items():
        if not model.networks.active[k]:
            continue
        who = mem.city[mem.net == k]
        rows.append({"step": int(model.steps), "year": int(model.year), "network_id": k, "name": name,
                     "members": len(who), "countries": int(len(np.unique(c.country[who]))),
                     "median_member_population": float(np.median(c.population[who])) if len(who) else 0.0})
    return rows


def metric_names(issue_names: list[str]) -> list[str]:
    """All metric columns, in order (without step and year)."""
    out = ["n_networks", "n_memberships", "mean_memberships", "share_unaffiliated"]
    out += [f"theme_share_{i}" for i in issue_names]
    out += [f"funding_share_{i}" for i in issue_names]
    out += ["funding_hhi", "funding_gini", "neglect_index", "fragmentation_index", "duplication_ratio",
            "standards_per_issue", "mean_capacity", "gini_capacity", "north_south_gap", "size_gap",
            "nonmember_access"]
    out += [f"national_stance_{i}" for i in issue_names]
    out += ["resident_norm_mean", "high_politics_index", "efficiency", "churn_rate", "agenda_misalignment",
            "partnered_share"]
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
