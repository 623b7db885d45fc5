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

from analysis.outputs import atomic_directory
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
    from model.api import run_scenario

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
    return ["figures/network_count.png", "figures/theme_shares.png"]


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


def _markdown(cfg, table: pd.DataFrame, figures: list[str], n: int, inputs: dict | None = None) -> str:
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
    from tqdm import tqdm

    from analysis.execution import make_backend
    from model import footprint
    from model.config import ScenarioError
    from model.loading import load_scenario
    from model.preflight import fact_year_problems

    if not 1 <= int(replications) <= MAX_REPLICATIONS:
        raise ScenarioError("--replications", "", f"{replications}: expected a whole number from 1 to {MAX_REPLICATIONS}")
    path = str(scenario if scenario is not None else DEFAULT_SCENARIO)
    cfg = load_scenario(path)
    if not cfg.calibration:
        raise ScenarioError(path, "calibration", "the scenario lists no calibration facts")
    problems = fact_year_problems(cfg, path)
    if problems:
        raise problems[0]
    n_workers = max(1, min(workers or os.cpu_count() or 1, replications))
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
    with atomic_directory(Path(out)) as tmp:
        figs = _figures(cfg, runs, tmp / "figures")
        (tmp / "calibration.md").write_text(_markdown(cfg, table, figs, replications, inputs))
        (tmp / "calibration.json").write_text(json.dumps({"scenario": cfg.name, "replications": replications,
                                                          "seeds": seeds, "facts": table.to_dict(orient="records"),
                                                          "theme_share_inputs": inputs}, indent=2))
    return table
