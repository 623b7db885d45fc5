"""`run.py calibrate`: run the historical scenario with N seeds and compare the model with the
calibration facts listed in the scenario's `calibration:` section (CLAIMS.md).

Every verdict is computed from the runs: for each fact, the value is read from each replication,
and the fact is met when the replications' mean satisfies the stated relation within the
tolerance written in the scenario file (not chosen after looking). The 95% interval is the
2.5-97.5 percentile range across replications.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "history.yaml"


def replication_seeds(seed: int, n: int) -> list[int]:
    """Independent seeds for n replications: numpy SeedSequence(seed).spawn(n)."""
    return [int(s.generate_state(1, dtype=np.uint64)[0] % (2**63 - 1)) for s in np.random.SeedSequence(seed).spawn(n)]


def _one_run(path: str, seed: int) -> dict:
    """Worker: one replication of the historical scenario; returns what the facts need."""
    from model import CityDiplomacyModel, load_scenario

    cfg = load_scenario(path, overrides={"seed": seed})
    m = CityDiplomacyModel(cfg)
    m.run()
    c = m.cities
    under = float(np.mean(c.budget * 1e6 < 0.01 * c.city_budget)) if c.city_budget is not None else float("nan")
    return {"seed": seed, "timeseries": m.timeseries(), "named": m.named_networks_history(), "budget_under_1pct": under}


def fact_value(fact, run: dict, last_year: int) -> float:
    """The model's value of one calibration fact in one replication (NaN when not observable)."""
    year = fact.year if fact.year is not None else last_year
    if fact.measure == "metric":
        ts = run["timeseries"]
        row = ts[ts["year"] == year]
        return float(row[fact.metric].iloc[0]) if len(row) and fact.metric in ts else float("nan")
    if fact.measure == "budget_share_under_1pct":
        return run["budget_under_1pct"]
    named = run["named"]
    mine = named[named["name"] == fact.network]
    row = mine[mine["year"] == year]
    if not len(row):
        # entered earlier and gone (dissolved) by then: it has no members; never entered: not observable
        return 0.0 if len(mine) and mine["year"].min() <= year else float("nan")
    col = {"network_members": "members", "network_countries": "countries",
           "network_member_population": "median_member_population"}[fact.measure]
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
                     "n": int(len(ok)), "within_tolerance": bool(judge(f, mean))})
    return pd.DataFrame(rows)


def _figures(cfg, runs, table: pd.DataFrame, outdir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.figures import ACUTO_RAYNER, issue_colours

    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    counts = np.array([r["timeseries"]["n_networks"].to_numpy() for r in runs])
    years = runs[0]["timeseries"]["year"].to_numpy()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.fill_between(years, np.percentile(counts, 2.5, axis=0), np.percentile(counts, 97.5, axis=0), alpha=0.25, label="model, 95% of replications")
    ax.plot(years, counts.mean(axis=0), lw=2, label="model, mean")
    for f in cfg.calibration:
        if f.measure == "metric" and f.metric == "n_networks":
            ax.errorbar([f.year], [f.target], yerr=[[f.tolerance], [f.tolerance]] if f.relation == "approx" else None,
                        fmt="o" if f.relation == "approx" else "^", color="black", capsize=4)
    ax.plot([], [], "ok", label="known points (tolerance)")
    ax.set_xlabel("year")
    ax.set_ylabel("active networks")
    ax.set_title("Number of international city networks: model against known points")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(outdir / "network_count.png", dpi=110)
    plt.close(fig)
    files.append("figures/network_count.png")
    year = next((f.year for f in cfg.calibration if f.metric and f.metric.startswith("theme_share_")), cfg.end_year)
    issues = cfg.issue_names
    shares = np.array([[r["timeseries"].loc[r["timeseries"]["year"] == year, f"theme_share_{i}"].iloc[0] for i in issues] for r in runs])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(issues))
    col = issue_colours(issues)
    ax.bar(x - 0.2, shares.mean(axis=0), 0.4, yerr=shares.std(axis=0), color=[col[i] for i in issues], label=f"model {year}")
    ax.bar(x + 0.2, [ACUTO_RAYNER.get(i, np.nan) for i in issues], 0.4, color="lightgrey", edgecolor="black", label="Acuto and Rayner (2016)")
    ax.set_xticks(x, issues, rotation=30)
    ax.set_ylabel("share of networks by main theme")
    ax.set_title("Theme shares: model against Acuto and Rayner")
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "theme_shares.png", dpi=110)
    plt.close(fig)
    files.append("figures/theme_shares.png")
    return files


def _markdown(cfg, table: pd.DataFrame, figures: list[str], n: int) -> str:
    met = int(table["within_tolerance"].sum())
    lines = [f"# Calibration: {cfg.name}", "",
             f"{n} replications of `{cfg.name}` ({cfg.start_year}-{cfg.end_year}); seeds from SeedSequence({cfg.seed}).spawn({n}).",
             f"Facts met within the tolerances stated in the scenario file: **{met} of {len(table)}**.", "",
             "| fact | source | target | model mean | 95% interval | n | within tolerance |",
             "|---|---|---|---|---|---|---|"]
    rel = {"approx": "≈", "at_least": "≥", "at_most": "≤"}
    for r in table.itertuples():
        lines.append(f"| {r.fact} | {r.source} | {rel[r.relation]} {r.target:g} ± {r.tolerance:g} | {r.model_mean:.3g} | "
                     f"{r.ci_low:.3g} – {r.ci_high:.3g} | {r.n} | {'yes' if r.within_tolerance else '**no**'} |")
    lines += [""] + [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def calibrate(scenario: str | os.PathLike | None = None, out: str | os.PathLike = "results/calibration",
              replications: int = 10, workers: int | None = None, quiet: bool = False) -> pd.DataFrame:
    from tqdm import tqdm

    from model.config import ScenarioError, load_scenario

    path = str(scenario or DEFAULT_SCENARIO)
    cfg = load_scenario(path)
    if not cfg.calibration:
        raise ScenarioError(path, "calibration", "the scenario lists no calibration facts")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(str(out), "", "output directory already exists and is not empty; choose a new one")
    seeds = replication_seeds(cfg.seed, replications)
    workers = max(1, min(workers or os.cpu_count() or 1, replications))
    bar = tqdm(total=replications, desc="calibrate", unit="run", disable=quiet or not os.isatty(2), leave=False)
    runs = []
    if workers == 1:
        for s in seeds:
            runs.append(_one_run(path, s))
            bar.update(1)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            for r in ex.map(_one_run, [path] * len(seeds), seeds):
                runs.append(r)
                bar.update(1)
    bar.close()
    table = calibration_table(cfg, runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        figs = _figures(cfg, runs, table, tmp / "figures")
        (tmp / "calibration.md").write_text(_markdown(cfg, table, figs, replications))
        (tmp / "calibration.json").write_text(json.dumps({"scenario": cfg.name, "replications": replications,
                                                          "seeds": seeds, "facts": table.to_dict(orient="records")}, indent=2))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return table
