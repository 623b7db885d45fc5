"""What the browser app (analysis/server/app.py) needs besides figures, without the browser: the
levers and remedies it offers, the scenario built from its controls, and the data of its tables.

Plain Python (no Solara), so that it can be tested and reused in notebooks; the figures come from
`analysis/figures/`, shared with the run's outputs.
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.figures import HEADLINE
from model import metric_dictionary as MD
from model.config import Scenario, ScenarioError
from model.footprint import check
from model.interventions import remedies
from model.loading import Overrides, apply_overrides, read_yaml, validate_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "scenarios"
MEMORY_ENV = "CITYDIP_MEMORY_LIMIT"  # bytes; set by `run.py serve --memory-limit GB` (default: footprint's)


@dataclass(frozen=True)
class Lever:
    """A slider or switch of the app that sets one dotted scenario field."""

    param: str  # keyword of the app model (a valid identifier)
    path: str  # dotted scenario field
    label: str
    kind: str  # "float" or "bool"
    min: float = 0.0
    max: float = 1.0
    step: float = 0.05
    unit: str = ""

    def text(self, value) -> str:
        """The slider's label with its current value and unit: 'Funding pool: 120 M USD/yr'."""
        if self.kind == "bool":
            return self.label
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.label}: {float(value):g}{unit}"


LEVERS = [
    Lever("pool", "resources.pool", "Funding pool", "float", 0.0, 600.0, 1.0, unit="M USD/yr"),
    Lever("convergence", "networks.convergence", "Convergence (follow the money)", "float", step=0.01,
          unit="(0-1)"),
    Lever("invitation_share", "networks.invitation_share", "Invitation-only share", "float", 0.0, 0.8, 0.01,
          unit="of new networks"),
    Lever("openness_closed", "networks.openness_closed", "Openness of closed networks", "float", step=0.01,
          unit="(0-1)"),
    Lever("partnered_share", "networks.partnered_share", "Networks with partners", "float", step=0.01,
          unit="of new networks"),
    Lever("city_first", "governance.city_first", "City first (governance)", "float", step=0.01, unit="(0-1)"),
    Lever("spillover_down", "spillover.down", "Spillover down (to residents)", "bool"),
    Lever("spillover_up", "spillover.up", "Spillover up (to national stance)", "bool"),
    Lever("spillover_horizontal", "spillover.horizontal", "Spillover across networks", "bool"),
]

# The remedies (kind -> label) as the intervention registry knows them: each switch adds one
# intervention with its default parameters.
REMEDIES = remedies()


def lever_value(cfg: Scenario, path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def list_scenarios(extra: str | Path | None = None) -> list[str]:
    """Scenario files the picker offers: the valid scenarios in scenarios/ (sweep files and broken
    files are skipped) plus `extra` (the file given to `serve`) when it lies elsewhere."""
    out = []
    for p in sorted(SCENARIO_DIR.glob("*.y*ml")):
        try:
            validate_scenario(read_yaml(p), str(p))
        except Exception:  # noqa: BLE001, S112 - anything unreadable or invalid is simply not offered
            continue
        out.append(display_path(p))
    if extra is not None:
        label = display_path(Path(extra))
        if label not in out:
            out.insert(0, label)
    return out


def display_path(p: Path) -> str:
    p = Path(p).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def resolve_path(label: str) -> Path:
    p = Path(label)
    return p if p.is_absolute() else ROOT / p


def build_scenario(source: str | Path | Scenario, overrides: dict[str, Any] | None = None,
                   remedies: list[str] | tuple = (), remedy_start: int | None = None) -> tuple[Scenario, list[str]]:
    """The scenario of `source` (a YAML file or a resolved Scenario) with dotted `overrides`, plus one
    intervention per remedy starting in `remedy_start` (default: the first simulated year; clamped
    to the simulated years).

    Returns (scenario, notes): notes say what was adjusted so that the scenario stays valid.
    Raises ScenarioError (naming the file) when the file or an override is wrong.
    """
    if isinstance(source, Scenario):
        src, data = f"scenario {source.name}", source.model_dump(mode="json")
    else:
        src, data = str(source), read_yaml(source)
    notes: list[str] = []
    ov = Overrides(overrides or {})
    ov.labels = dict(getattr(overrides, "labels", {}))
    if "networks.invitation_share" in ov:
        # the rule shares must sum to at most 1: cap the invitation share instead of failing
        base = validate_scenario(copy.deepcopy(data), src)
        room = base.networks.invitation_room()
        if ov["networks.invitation_share"] > room + 1e-12:
            notes.append(f"invitation share capped at {room:.2f} (competitive + threshold shares take the rest)")
            ov["networks.invitation_share"] = round(room, 6)
    apply_overrides(data, ov, source=src)
    if remedies:
        probe = validate_scenario(copy.deepcopy(data), src)
        first, last = probe.start_year, probe.end_year
        year = first if remedy_start is None else min(max(int(remedy_start), first), last)
        if remedy_start is not None and year != int(remedy_start):
            notes.append(f"remedies start in {year} (the run covers {first}-{last})")
        ivs = list(data.get("interventions") or [])
        for kind in remedies:
            if kind not in REMEDIES:
                raise ScenarioError(src, "interventions", f"unknown remedy '{kind}'; expected one of: {', '.join(REMEDIES)}")
            ivs.append({"kind": kind, "start": year})
        data["interventions"] = ivs
    cfg = validate_scenario(data, src)
    check_memory(cfg, src)
    return cfg, notes


def check_memory(cfg: Scenario, source: str):
    """Refuse (ScenarioError naming `source`) a scenario whose estimated memory exceeds the app's limit
    (model/footprint.py; $CITYDIP_MEMORY_LIMIT in bytes, as `run.py serve --memory-limit` sets it),
    as the command line refuses it: the app builds every model it runs in its own process."""
    raw = os.environ.get(MEMORY_ENV)
    check(cfg, source, float(raw) if raw else None, flag="run.py serve --memory-limit")


def add_remedy_now(model, kind: str):
    """Switch a remedy on in a running model from the next simulated year on (to the end)."""
    if kind not in REMEDIES:
        raise ValueError(f"unknown remedy {kind!r}")
    year = model.year + 1
    if year > model.cfg.end_year:
        raise ValueError("the run is over; press Reset first")
    return model.add_intervention({"kind": kind, "start": year})


# ---------------------------------------------------------------------------------------------
# Panel data


def top_networks(model, n: int = 10) -> pd.DataFrame:
    """The n largest active networks: name, theme, rule, members, funds (million USD)."""
    tab = model.networks_table()
    tab = tab[tab["dissolved"].isna()].sort_values(["members", "funds"], ascending=False).head(n)
    out = tab[["name", "theme", "rule", "members", "funds"]].reset_index(drop=True)
    out["funds"] = out["funds"].astype(float).round(2)
    return out


def current_theme_shares(model) -> dict[str, float]:
    """Share of operating networks by primary theme (the theme_share_* metrics, for the current state)."""
    act = np.flatnonzero(model.networks.operating())
    k = len(model.issue_names)
    if len(act) == 0:
        return {i: 0.0 for i in model.issue_names}
    counts = np.bincount(model.networks.theme[act], minlength=k)[:k]
    return {nm: float(c) / len(act) for nm, c in zip(model.issue_names, counts)}


def theme_shares_from_ts(ts: pd.DataFrame, issues: list[str]) -> dict[str, float]:
    return {i: float(ts[f"theme_share_{i}"].iloc[-1]) if len(ts) else 0.0 for i in issues}


@functools.lru_cache(maxsize=32)
def _file_scenario(path: str, mtime: float) -> Scenario:
    return validate_scenario(read_yaml(path), path)


def file_scenario(label: str) -> Scenario:
    """The scenario of a file as written (cached while the file does not change)."""
    p = resolve_path(label)
    try:
        mtime = p.stat().st_mtime
    except OSError:
        mtime = -1.0
    return _file_scenario(str(p), mtime)


def sidebar_values(cfg: Scenario, label: str) -> dict[str, Any]:
    """The app's control values that reproduce a scenario file as written: its seed and levers."""
    out: dict[str, Any] = {"scenario_file": label, "seed": str(cfg.seed)}
    for lev in LEVERS:
        v = lever_value(cfg, lev.path)
        out[lev.param] = bool(v) if lev.kind == "bool" else float(v)
    return out


MIN_SEEDS_APART = 3  # fewer runs per side say nothing about the noise between seeds


def compare_table(runs_a: list[pd.DataFrame], runs_b: list[pd.DataFrame], metrics: list[str] | None = None) -> pd.DataFrame:
    """Final values of the key metrics for two sides of several runs each: each side's mean with the
    range over its runs, the difference of the means (B - A) and, when both sides have at least
    MIN_SEEDS_APART runs, whether the two ranges are apart (with fewer the column is left out:
    one or two runs per side cannot show the noise between seeds; `apart_note` says why)."""
    names = metrics or (list(HEADLINE) + ["n_networks", "share_unaffiliated"])
    judge = min(len(runs_a), len(runs_b)) >= MIN_SEEDS_APART
    rows = []
    for col in names:
        va = np.array([float(r[col].iloc[-1]) for r in runs_a if len(r)])
        vb = np.array([float(r[col].iloc[-1]) for r in runs_b if len(r)])
        va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
        ma = float(va.mean()) if len(va) else float("nan")
        mb = float(vb.mean()) if len(vb) else float("nan")
        row = {"metric": MD.title(col), "A": _mean_range(va), "B": _mean_range(vb),
               "B - A": f"{mb - ma:.3g}" if np.isfinite(mb - ma) else ""}
        if judge:
            apart = bool(len(va) and len(vb) and (vb.min() > va.max() or vb.max() < va.min()))
            row["apart"] = "yes" if apart else "no"
        rows.append(row)
    return pd.DataFrame(rows)


def apart_note(n_a: int, n_b: int) -> str:
    """What the table's 'apart' column means, or why it is left out."""
    if min(n_a, n_b) >= MIN_SEEDS_APART:
        return "apart: the two ranges over the seeds do not overlap"
    return (f"no 'apart' column: it needs at least {MIN_SEEDS_APART} seeds per side (with fewer, the ranges "
            "cannot show the noise between seeds, so any difference would look real)")


def _mean_range(x: np.ndarray) -> str:
    """'mean (low to high)' of a side's runs."""
    if not len(x):
        return ""
    return f"{x.mean():.3g}" + (f" ({x.min():.3g} to {x.max():.3g})" if len(x) > 1 else "")


# ---------------------------------------------------------------------------------------------
# Checks of what a user types (one readable message naming the field and what is expected)


def seed_error(text) -> str:
    """'' for a valid seed (empty: the scenario's own), else the message to show under the field."""
    t = "" if text is None else str(text).strip()
    if not t:
        return ""
    if t.isdigit():
        return ""
    return f"Seed: expected a whole number of 0 or more (such as 1 or 42), not {t[:30]!r}"


def scenario_remedies(cfg: Scenario) -> list[tuple[str, int]]:
    """(kind, start year) of the remedies a scenario already has (its own interventions that are remedies)."""
    return [(iv.kind, iv.start) for iv in cfg.interventions if iv.kind in REMEDIES]


def new_remedies(cfg: Scenario, chosen: list[str]) -> list[str]:
    """The chosen remedies the scenario does not already have (a remedy is never added twice)."""
    own = {k for k, _ in scenario_remedies(cfg)}
    return [k for k in chosen if k not in own]
