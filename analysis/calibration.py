"""`run.py calibrate`: run the historical scenario with N seeds and compare the model with the
calibration facts listed in the scenario's `calibration:` section (each with its source).

Every verdict is computed from the runs: for each fact, the value is read from each replication,
and the fact is met when the replications' mean satisfies the stated relation within the
tolerance written in the scenario file (not chosen after looking). The 95% interval is the
2.5-97.5 percentile range across replications.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from analysis.execution import check_workers, default_workers, make_backend
from analysis.outputs import atomic_directory
from model import footprint
from model.api import run_scenario
from model.config import ScenarioError
from model.loading import load_scenario
from model.preflight import fact_year_problems
from model.randomness import replication_seeds

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "history.yaml"
MAX_REPLICATIONS = 1000  # every replication's time series stays in memory until the table is made


CITY_MEASURES = ("distinct_members", "distinct_countries", "memberships_by_size")


def snapshot_years(facts, last_year: int) -> set[int]:
    """The years at which a run must keep the cities' memberships (facts about cities)."""
    return {f.year if f.year is not None else last_year for f in facts if f.measure in CITY_MEASURES}


def snapshot(model) -> dict:
    """The cities' side of the model's state after a step: memberships per city (in every network) and
    the catalogue memberships as (city, catalogue network name) pairs."""
    mem = model.memberships
    names = list(model.catalogue_index)
    code = np.full(model.networks.n, -1, dtype=np.int64)
    code[np.array([model.catalogue_index[nm] for nm in names], dtype=np.int64)] = np.arange(len(names))
    on = code[mem.net] >= 0 if len(names) else np.zeros(len(mem), dtype=bool)
    return {"per_city": mem.per_city(model.cities.n).astype(np.int32), "names": names,
            "cat_city": mem.city[on].astype(np.int32), "cat_net": code[mem.net[on]].astype(np.int32)}


def _one_run(scenario: dict, seed: int, years: tuple[int, ...] = ()) -> dict:
    """Worker: one replication (model.api.run_scenario); returns what the facts need: the time series,
    the named networks' history, the budget check and, for the `years` of facts about cities, a
    snapshot of the memberships (`snapshot`) with the cities' populations and countries."""
    snaps: dict[int, dict] = {}

    def keep(model):
        if model.year in years:
            snaps[int(model.year)] = snapshot(model)

    res = run_scenario(scenario, seed=seed, tables=False, keep_model=bool(years), progress=keep if years else None)
    out = {"seed": seed, "timeseries": res.timeseries, "named": res.named_networks,
           "budget_under_1pct": res.statistics["budget_share_under_1pct"], "snapshots": snaps}
    if years:
        out["population"] = res.model.cities.population.copy()
        out["country"] = res.model.cities.country.copy()
    return out


def city_fact_value(fact, snap: dict, population: np.ndarray, country: np.ndarray) -> float:
    """A fact about cities from one snapshot: distinct member cities (or their countries) of the fact's
    networks (default every catalogue network), or a statistic of memberships in a population class."""
    if fact.measure in ("distinct_members", "distinct_countries"):
        names = snap["names"]
        wanted = np.arange(len(names)) if fact.networks is None else np.array(
            [names.index(nm) for nm in fact.networks if nm in names], dtype=np.int64)
        who = np.unique(snap["cat_city"][np.isin(snap["cat_net"], wanted)])
        return float(len(who) if fact.measure == "distinct_members" else len(np.unique(country[who])))
    hi = np.inf if fact.pop_high is None else fact.pop_high
    held = snap["per_city"][(population >= fact.pop_low) & (population < hi)]
    if not len(held):
        return float("nan")
    if fact.statistic == "mean":
        return float(held.mean())
    if fact.statistic == "median":
        return float(np.median(held))
    return float((held == 0).mean())


def fact_value(fact, run: dict, last_year: int) -> float:
    """The model's value of one calibration fact in one replication (NaN when not observable)."""
    year = fact.year if fact.year is not None else last_year
    if fact.measure == "metric":
        ts = run["timeseries"]
        row = ts[ts["year"] == year]
        return float(row[fact.metric].iloc[0]) if len(row) and fact.metric in ts else float("nan")
    if fact.measure == "budget_share_under_1pct":
        return run["budget_under_1pct"]
    if fact.measure in CITY_MEASURES:
        snap = run.get("snapshots", {}).get(year)
        return float("nan") if snap is None else city_fact_value(fact, snap, run["population"], run["country"])
    named = run["named"]
    mine = named[named["name"] == fact.network]
    row = mine[mine["year"] == year]
    if not len(row):
        # entered earlier and gone (dissolved) by then: it has no members; never entered: not observable
        return 0.0 if len(mine) and mine["year"].min() <= year else float("nan")
    col = {"network_members": "members", "network_countries": "countries",
           "network_member_population": "median_member_population", "network_applications": "applications"}[fact.measure]
    return float(row[col].iloc[0])


def judge(fact, mean: float) -> bool:
    if not np.isfinite(mean):
        return False
    if fact.relation == "at_least":
        return mean >= fact.target - fact.tolerance
    if fact.relation == "at_most":
        return mean <= fact.target + fact.tolerance
    return abs(mean - fact.target) <= fact.tolerance


def calibration_table(cfg, runs: list[dict]) -> pd.DataFrame:
    rows = []
    for f in cfg.calibration:
        vals = np.array([fact_value(f, r, cfg.end_year) for r in runs], dtype=float)
        ok = vals[np.isfinite(vals)]
        mean = float(ok.mean()) if len(ok) else float("nan")
        lo, hi = (np.percentile(ok, [2.5, 97.5]) if len(ok) else (np.nan, np.nan))
        rows.append({"id": f.id, "fact": f.fact, "source": f.source, "relation": f.relation, "target": f.target,
                     "tolerance": f.tolerance, "model_mean": mean, "ci_low": float(lo), "ci_high": float(hi),
                     "n": len(ok), "within_tolerance": bool(judge(f, mean))})
    return pd.DataFrame(rows)


def _figures(cfg, runs, outdir: Path) -> list[str]:
    # lazy (also matplotlib below): _one_run runs in worker processes, which import this module but draw nothing
    from analysis.figures import fig_network_count, fig_theme_calibration, intervention_periods, save

    outdir.mkdir(parents=True, exist_ok=True)
    counts = np.array([r["timeseries"]["n_networks"].to_numpy() for r in runs])
    years = runs[0]["timeseries"]["year"].to_numpy()
    facts = [f for f in cfg.calibration if f.measure == "metric" and f.metric == "n_networks"]
    save(fig_network_count(years, counts, facts, periods=intervention_periods(cfg.interventions)),
         outdir / "network_count.png")
    year = next((f.year for f in cfg.calibration if f.metric and f.metric.startswith("theme_share_")), cfg.end_year)
    issues = cfg.issue_names
    shares = np.array([[r["timeseries"].loc[r["timeseries"]["year"] == year, f"theme_share_{i}"].iloc[0]
                        for i in issues] for r in runs])
    save(fig_theme_calibration(issues, shares, year), outdir / "theme_shares.png")
    out = ["figures/network_count.png", "figures/theme_shares.png"]
    if cfg.networks.catalogue and panel_networks(cfg):
        from model.realdata import scenario_catalogue

        cat = scenario_catalogue(cfg)
        save(fig_named_networks(cfg, runs, cat), outdir / "named_networks.png")
        save(fig_member_sizes(cfg, named_networks_table(cfg, runs, cat)), outdir / "member_sizes.png")
        out += ["figures/named_networks.png", "figures/member_sizes.png"]
    return out


SIZE_YEAR = 2020  # the year of the named networks' member sizes (the last year of the run if earlier)


def panel_networks(cfg) -> list[str]:
    """The networks of the figure of named networks: every catalogue network a fact is about, in the
    order of the facts (members of a fact's network list too)."""
    out: list[str] = []
    for f in cfg.calibration:
        for nm in ([f.network] if f.network else []) + list(f.networks or []):
            if nm not in out:
                out.append(nm)
    return out


def _named_members(runs: list[dict], name: str, years: np.ndarray, col: str = "members") -> np.ndarray:
    """(replications x years) a named network's column by year: NaN before it enters, 0 once it is gone."""
    out = np.full((len(runs), len(years)), np.nan)
    for i, r in enumerate(runs):
        h = r["named"]
        h = h[h["name"] == name]
        if not len(h):
            continue
        first = int(h["year"].min())
        s = h.set_index("year")[col]
        out[i] = [float(s.get(y, 0.0)) if y >= first else np.nan for y in years]
    return out


def named_networks_table(cfg, runs: list[dict], catalogue: pd.DataFrame | None) -> pd.DataFrame:
    """One row per catalogue network active in SIZE_YEAR in some replication: rule, engagement, the
    reported count (catalogue `members`, `members_year`: members of every size), the model's members in
    the reported year (mean and 95% range of replications; NaN when outside the run) and the median
    population of its members in SIZE_YEAR (mean over the replications where it has members)."""
    year = min(SIZE_YEAR, cfg.end_year)
    names = sorted({n for r in runs for n in r["named"]["name"].unique()})
    cat = catalogue.set_index("name") if catalogue is not None else None
    rows = []
    for nm in names:
        med = _named_members(runs, nm, np.array([year]), "median_member_population")[:, 0]
        mem_y = _named_members(runs, nm, np.array([year]))[:, 0]
        alive = np.isfinite(med) & (mem_y > 0)
        row = {"network": nm, "rule": "", "engagement": "", "reported_members": np.nan, "reported_year": np.nan,
               "model_members": np.nan, "model_low": np.nan, "model_high": np.nan,
               "median_member_population": float(med[alive].mean()) if alive.any() else np.nan,
               "median_low": float(np.percentile(med[alive], 2.5)) if alive.any() else np.nan,
               "median_high": float(np.percentile(med[alive], 97.5)) if alive.any() else np.nan,
               "replications_with_members": int(alive.sum())}
        if cat is not None and nm in cat.index:
            c = cat.loc[nm]
            row.update(rule=str(c["rule"]), engagement=str(c["engagement"]))
            if not pd.isna(c["members"]):
                ry = int(c["members_year"])
                row.update(reported_members=float(c["members"]), reported_year=ry)
                if cfg.start_year <= ry <= cfg.end_year:
                    v = _named_members(runs, nm, np.array([ry]))[:, 0]
                    v = v[np.isfinite(v)]
                    if len(v):
                        row.update(model_members=float(v.mean()), model_low=float(np.percentile(v, 2.5)),
                                   model_high=float(np.percentile(v, 97.5)))
        rows.append(row)
    return pd.DataFrame(rows)


def fig_named_networks(cfg, runs: list[dict], catalogue: pd.DataFrame | None):
    """Small multiples: each network a fact is about, its members over time (mean and 95% band of the
    replications) against the facts (restated for cities of 15,000 or more: points with their tolerance,
    triangles for bounds) and the count the network reports for members of every size (hollow square,
    catalogue). Log scale: the reported counts of the declarations are far above what the model's cities
    can reach."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    names = panel_networks(cfg)
    years = runs[0]["timeseries"]["year"].to_numpy()[1:]
    cat = catalogue.set_index("name") if catalogue is not None else None
    ncol = 3
    nrow = max(1, -(-len(names) // ncol))
    fig = Figure(figsize=(12, 2.7 * nrow + 0.9), dpi=100)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, nm in zip(axes.flat, names):
        v = _named_members(runs, nm, years)
        ok = np.isfinite(v).any(axis=0)
        if ok.any():  # on the log scale an empty network (0 members) leaves the axis
            vv = np.where(np.isfinite(v[:, ok]), v[:, ok], 0.0)
            lo, hi, mean = (np.percentile(vv, 2.5, axis=0), np.percentile(vv, 97.5, axis=0), vv.mean(axis=0))
            ax.fill_between(years[ok], np.where(lo > 0, lo, np.nan), np.where(hi > 0, hi, np.nan),
                            color="tab:blue", alpha=0.25, lw=0)
            ax.plot(years[ok], np.where(mean > 0, mean, np.nan), color="tab:blue", lw=2)
        apps = [f for f in cfg.calibration if f.measure == "network_applications" and f.network == nm]
        if apps and ok.any():  # a competitive network: its applications so far (dashed), and their facts
            a = _named_members(runs, nm, years, "applications")[:, ok]
            a = np.where(np.isfinite(a), a, 0.0).mean(axis=0)
            ax.plot(years[ok], np.where(a > 0, a, np.nan), color="tab:purple", lw=1.5, ls="--")
            for f in apps:
                y = f.year if f.year is not None else cfg.end_year
                ax.errorbar([y], [f.target], yerr=[[min(f.tolerance, f.target * 0.99)], [f.tolerance]], fmt="D",
                            color="tab:purple", mfc="white", capsize=3, zorder=4)
        for f in cfg.calibration:
            if f.measure == "network_members" and f.network == nm or (
                    f.measure == "distinct_members" and f.networks and nm == f.networks[0]):
                y = f.year if f.year is not None else cfg.end_year
                if f.relation == "approx":
                    ax.errorbar([y], [f.target], yerr=[[min(f.tolerance, f.target * 0.99)], [f.tolerance]], fmt="o",
                                color="black", capsize=3, zorder=4)
                else:
                    ax.plot([y], [f.target], "^" if f.relation == "at_least" else "v", color="black", ms=7,
                            zorder=4)
        if cat is not None and nm in cat.index and not pd.isna(cat.loc[nm, "members"]):
            ax.plot([int(cat.loc[nm, "members_year"])], [float(cat.loc[nm, "members"])], "s", mfc="none",
                    mec="tab:red", ms=7, mew=1.5, zorder=4)
        ax.set_yscale("log")
        ax.set_xlim(years[0], years[-1])
        ax.set_ylim(0.8, 3e4)
        label = nm if len(nm) <= 42 else nm[:40] + "…"
        if nm in {f.networks[0] for f in cfg.calibration if f.networks}:
            label += "\n(fact: distinct members with its predecessors)"
        ax.set_title(label, fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, which="major")
    for ax in axes[:, 0]:
        ax.set_ylabel("members (cities)", fontsize=8)
    handles = [Line2D([], [], color="tab:blue", lw=2, label=f"model: mean of {len(runs)} replications (band: 95%)"),
               Line2D([], [], color="black", marker="o", ls="", label="fact, cities of 15,000 or more (± tolerance)"),
               Line2D([], [], color="black", marker="^", ls="", label="fact: at least"),
               Line2D([], [], color="tab:red", marker="s", mfc="none", ls="", label="count the network reports (all sizes)")]
    if any(f.measure == "network_applications" for f in cfg.calibration):
        handles.append(Line2D([], [], color="tab:purple", ls="--", marker="D", mfc="white",
                              label="applications so far: model (dashed), fact"))
    fig.legend(handles=handles, loc="lower center", ncol=5 if len(handles) > 4 else 4, fontsize=7.5, frameon=False)
    fig.suptitle("Named networks: members over time, model against known counts (log scale)", fontsize=11, x=0.01,
                 ha="left")
    fig.subplots_adjust(left=0.06, right=0.99, top=1 - 0.55 / fig.get_figheight(), bottom=0.7 / fig.get_figheight(),
                        hspace=0.45, wspace=0.18)
    return fig


def fig_member_sizes(cfg, table: pd.DataFrame):
    """The median population of each named network's members in SIZE_YEAR (mean over replications, bar:
    95% of replications), networks sorted by it, coloured by engagement; log scale."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    t = table[table["replications_with_members"] > 0].sort_values("median_member_population")
    year = min(SIZE_YEAR, cfg.end_year)
    colours = {"programme": "tab:blue", "association": "tab:green", "declaration": "tab:orange"}
    n = max(len(t), 1)
    fig = Figure(figsize=(9, 0.22 * n + 1.3), dpi=100)
    H = fig.get_figheight()
    ax = fig.add_axes([3.6 / 9, 0.75 / H, 1 - 3.8 / 9, 1 - 1.15 / H])
    y = np.arange(len(t))
    for yi, r in zip(y, t.itertuples()):
        col = colours.get(r.engagement, "grey")
        ax.plot([r.median_low, r.median_high], [yi, yi], color=col, lw=2, alpha=0.5)
        ax.plot([r.median_member_population], [yi], "o", color=col, ms=5)
    ax.set_yticks(y)
    ax.set_yticklabels([nm if len(nm) <= 60 else nm[:58] + "…" for nm in t["network"]], fontsize=7.5)
    ax.set_xscale("log")
    ax.axvline(1e6, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"median population of the network's members in {year} (persons, log scale)", fontsize=8)
    ax.set_ylim(-0.7, len(t) - 0.3)
    ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"Who joins which network: the median population of its members, {year}\n"
                 f"(dot: mean of {int(t['replications_with_members'].max()) if len(t) else 0} replications; bar: 95% of them; "
                 "dotted: 1 million)", fontsize=9.5, x=0.01, ha="left", y=1 - 0.08 / H, va="top")
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=k) for k, c in colours.items()]
    ax.legend(handles=handles, title="engagement", fontsize=8, title_fontsize=8, loc="lower right", frameon=True)
    return fig


def theme_inputs(cfg, runs: list[dict]) -> dict:
    """How far the model's theme shares copy its inputs: the Pearson correlation, across issues, of the
    mean theme shares in the theme facts' year with the issues' funder_appeal and with their salience
    (both inputs; shares come out of coalitions of cities and funders' choices)."""
    year = next((f.year for f in cfg.calibration if f.metric and f.metric.startswith("theme_share_")), cfg.end_year)
    issues = cfg.issue_names
    shares = np.array([[r["timeseries"].loc[r["timeseries"]["year"] == year, f"theme_share_{i}"].iloc[0]
                        for i in issues] for r in runs]).mean(axis=0)
    appeal = np.array([i.funder_appeal for i in cfg.issues])
    salience = np.array([i.salience for i in cfg.issues])

    def corr(x, y):
        return float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else float("nan")

    return {"year": int(year), "corr_funder_appeal": corr(shares, appeal), "corr_salience": corr(shares, salience),
            "shares": dict(zip(issues, shares.round(4).tolist()))}


def target_text(relation: str, target: float, tolerance: float) -> str:
    """A fact's target as the table shows it: '≈ 55 ± 15'; a one-sided fact '≥ 200', with its
    tolerance only when it has one ('≥ 1 (tolerance 0.05)')."""
    if relation == "approx":
        return f"≈ {target:g} ± {tolerance:g}"
    sign = {"at_least": "≥", "at_most": "≤"}[relation]
    return f"{sign} {target:g}" + (f" (tolerance {tolerance:g})" if tolerance else "")


def _markdown(cfg, table: pd.DataFrame, figures: list[str], n: int, inputs: dict | None = None,
              named: pd.DataFrame | None = None) -> str:
    met = int(table["within_tolerance"].sum())
    lines = [f"# Calibration: {cfg.name}", "",
             f"{n} replications of `{cfg.name}` ({cfg.start_year}-{cfg.end_year}); seeds from model.randomness.replication_seeds({cfg.seed}, {n}).",
             f"Facts met within the tolerances stated in the scenario file: **{met} of {len(table)}**.", "",
             "| fact | source | target | model mean | 95% interval | n | within tolerance |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.fact} | {r.source} | {target_text(r.relation, r.target, r.tolerance)} | {r.model_mean:.3g} | "
                     f"{r.ci_low:.3g} – {r.ci_high:.3g} | {r.n} | {'yes' if r.within_tolerance else '**no**'} |")
    if inputs:
        lines += ["", (f"Theme shares and the inputs ({inputs['year']}): correlation across issues with funders' "
                       f"appeal {inputs['corr_funder_appeal']:.2f}, with cities' salience {inputs['corr_salience']:.2f}. "
                       "Both are inputs; the shares themselves come from proposals that follow funding or unmet "
                       "demand and are founded only when a coalition of cities wants them (docs/ODD.md, 7.1).")]
    if named is not None and len(named):
        year = min(SIZE_YEAR, cfg.end_year)
        intro = ("Members the network reports (every size; data/networks.csv) beside the model's members in that "
                 "year (cities of 15,000 or more; mean and 95% of replications), and the median population of "
                 f"its members in {year} (mean over the replications where it has members).")
        head = ("| network | rule | engagement | reported members (year) | model members that year | 95% interval | "
                f"median member population, {year} |")
        lines += ["", "## Named networks", "", intro, "", head, "|---|---|---|---|---|---|---|"]
        for r in named.sort_values("median_member_population", ascending=False, na_position="last").itertuples():
            rep = f"{r.reported_members:,.0f} ({r.reported_year:.0f})" if np.isfinite(r.reported_members) else "–"
            mod = f"{r.model_members:,.0f}" if np.isfinite(r.model_members) else "–"
            ci = f"{r.model_low:,.0f} – {r.model_high:,.0f}" if np.isfinite(r.model_members) else "–"
            med = f"{r.median_member_population:,.0f}" if np.isfinite(r.median_member_population) else "no members"
            lines.append(f"| {r.network} | {r.rule} | {r.engagement} | {rep} | {mod} | {ci} | {med} |")
    lines += [""] + [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def calibrate(scenario: str | os.PathLike | None = None, out: str | os.PathLike = "results/calibration",
              replications: int = 10, workers: int | None = None, quiet: bool = False,
              memory_limit: float | None = None) -> pd.DataFrame:
    """Run `replications` seeds of the scenario (default scenarios/history.yaml) on `workers` local
    processes and write calibration.md, calibration.json and figures/ into `out` (which must be new
    or empty; written atomically). Returns the table of facts.

    Before any run: the scenario is validated (model/preflight.py: facts with a known metric or
    catalogue network, unique ids), every fact's year lies within the run, and the memory of the runs
    in parallel fits `memory_limit` bytes (default: model.footprint.default_limit())."""
    if not 1 <= int(replications) <= MAX_REPLICATIONS:
        raise ScenarioError("--replications", "", f"{replications}: expected a whole number from 1 to {MAX_REPLICATIONS}")
    path = str(scenario if scenario is not None else DEFAULT_SCENARIO)
    cfg = load_scenario(path)
    if not cfg.calibration:
        raise ScenarioError(path, "calibration", "the scenario lists no calibration facts")
    problems = fact_year_problems(cfg, path)
    if problems:
        raise problems[0]
    n_workers = max(1, min(workers or default_workers(), replications))  # the processes started
    if n_workers > 1:
        check_workers(n_workers, memory_limit=memory_limit)
    footprint.check(cfg, path, memory_limit, runs_at_once=n_workers)
    seeds = replication_seeds(cfg.seed, replications)
    resolved = cfg.model_dump(mode="json")
    backend = make_backend(workers=n_workers)
    bar = tqdm(total=replications, desc="calibrate", unit="run", disable=quiet or not os.isatty(2), leave=False)
    try:
        years = tuple(sorted(snapshot_years(cfg.calibration, cfg.end_year)))
        futures = [backend.executor.submit(_one_run, resolved, s, years) for s in seeds]
        runs = []
        for f in futures:  # in seed order: the table does not depend on which run finished first
            runs.append(f.result())
            bar.update(1)
    except BaseException:
        backend.close(cancel=True)
        raise
    finally:
        bar.close()
    backend.close()
    table = calibration_table(cfg, runs)
    inputs = theme_inputs(cfg, runs)
    named = None
    if cfg.networks.catalogue:
        from model.realdata import scenario_catalogue

        named = named_networks_table(cfg, runs, scenario_catalogue(cfg))
    with atomic_directory(Path(out)) as tmp:
        figs = _figures(cfg, runs, tmp / "figures")
        (tmp / "calibration.md").write_text(_markdown(cfg, table, figs, replications, inputs, named))
        doc = {"scenario": cfg.name, "replications": replications, "seeds": seeds,
               "facts": table.to_dict(orient="records"), "theme_share_inputs": inputs}
        if named is not None:
            doc["named_networks"] = json.loads(named.to_json(orient="records"))
        (tmp / "calibration.json").write_text(json.dumps(doc, indent=2))
    return table
