"""What is read is what was written, every check agrees, resources are bounded (issue "Trust what runs").

One parametrised test per class of problem, each with several variants, through the command line
(`run.main` in this process: exit code, one line on stderr, nothing written):

- YAML 1.1 readings: only true/false are booleans, no sexagesimal numbers, strict types whose
  message says what was read, at every nesting level and in every kind of file (scenario, sweep,
  calibration facts, `--set`);
- duplicate keys at any level, naming both lines;
- meaningless inputs that used to be accepted;
- calibration facts that cannot be evaluated;
- checks that agree: `check`, `run`, `calibrate` and the sweep plan refuse the same scenario with the
  same message (catalogue CSV, country and network names, facts), before anything runs;
- bounded reading of files and bounded counts;
- the memory estimate: refusal with the estimate and the limit, the flag that raises it, and the
  shipped scenarios within the default;
- Dask arguments and `serve`'s host and port, validated before connecting or starting.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run as cli
from model import footprint
from model.config import ScenarioError
from model.loading import load_scenario, parse_overrides, read_yaml, yaml_load
from tests.support import assert_user_error

BASELINE = REPO / "scenarios" / "baseline.yaml"
SMALL = "cities:\n  n: 50\nsteps: 2\nnetworks:\n  initial: 3\n"


@pytest.fixture
def cli_run(tmp_path, monkeypatch, capsys):
    """`run.py ARGS` in this process, from an empty working directory; nothing may be simulated.
    Returns (exit code, stderr lines, stdout)."""
    monkeypatch.chdir(tmp_path)

    def no_run(*a, **k):
        raise AssertionError("a run started although the input is wrong")

    def call(args, allow_runs=False):
        if not allow_runs:
            import model.api

            monkeypatch.setattr(model.api, "run_scenario", no_run)
            monkeypatch.setattr("analysis.calibration._one_run", no_run)
        rc = cli.main([str(a) for a in args])
        cap = capsys.readouterr()
        return rc, [ln for ln in cap.err.splitlines() if ln.strip()], cap.out

    return call




def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------------------------------- YAML 1.1
YAML11 = {
    # name: (file text, path in the message, what was read)
    "top_level_quoted_number": ('steps: "3"\n', "steps", "'3' was read as text"),
    "section_boolean_for_int": ("networks:\n  founders: true\n", "networks.founders", "true was read as a boolean"),
    "section_yes_for_bool": ("spillover:\n  down: no\n", "spillover.down", "'no' was read as text"),
    "list_item_yes_for_float": ("cities:\n  regions:\n    - name: Europe\n      weight: yes\n",
                                "cities.regions.0.weight", "'yes' was read as text"),
    "list_item_number_for_text": ("cities:\n  regions:\n    - name: 1.5\n", "cities.regions.0.name",
                                  "1.5 was read as a number; expected text: quote it"),
    "null_for_text": ("cities:\n  regions:\n    - name:\n", "cities.regions.0.name", "was read as null"),
    "intervention_params_on": ("interventions:\n  - kind: city_first\n    start: 1990\n    params: {strength: on}\n",
                               "interventions.0.params.strength", "'on' was read as text"),
    "intervention_boolean_country": (("interventions:\n  - kind: national_withdrawal\n    start: 1990\n"
                                      "    params: {country: false}\n"), "interventions.0.params.country",
                                     "false was read as a boolean"),
    "sexagesimal": ("start_year: 1:30\n", "start_year", "'1:30' was read as text"),
    "float_for_int": ("seed: 3.0\n", "seed", "3.0 was read as a number with a decimal point"),
    "underscore_number": ("cities:\n  n: 1_000\n", "cities.n", "'1_000' was read as text"),
    "calibration_fact": (("calibration:\n  - {id: a, fact: x, source: y, measure: metric, metric: n_networks,\n"
                          "     target: yes, tolerance: 1}\n"), "calibration.0.target", "'yes' was read as text"),
}


@pytest.mark.parametrize("case", list(YAML11))
def test_yaml11_readings_are_errors_that_say_what_was_read(tmp_path, cli_run, case):
    text, path, read = YAML11[case]
    f = write(tmp_path, "s.yaml", text)
    for cmd in (["check", f], ["run", f, "--out", tmp_path / "out", "--quiet"]):
        rc, err, out = cli_run(cmd)
        assert_user_error(rc, err, str(f), f"{path}: ", read)
        assert out == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["sweep_values", "sweep_fixed", "set_flag"])
def test_yaml11_readings_in_sweeps_and_flags(tmp_path, cli_run, case):
    if case == "set_flag":
        rc, err, _ = cli_run(["check", BASELINE, "--set", "networks.founders=yes"])
        assert_user_error(rc, err, "networks.founders", "'yes' was read as text", "whole number")
        return
    spec = {"scenario": str(BASELINE), "set": {"cities.n": 50}, "steps": 2,
            "parameters": {"resources.pool": [60, 120]}}
    if case == "sweep_values":
        spec["parameters"] = {"networks.founders": [True, 3]}
        where, read = "parameters.networks.founders.values.0", "true was read as a boolean"
    else:
        spec["set"]["spillover.down"] = "off"
        where, read = "set.spillover.down", "'off' was read as text"
    f = write(tmp_path, "sw.yaml", yaml.safe_dump(spec))
    for cmd in (["check", f], ["sweep", f, "--out", tmp_path / "out", "--quiet"]):
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, str(f), where, read)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, expected", [
    ("NO", "NO"), ("yes", "yes"), ("off", "off"), ("y", "y"), ("1:30", "1:30"), ("2001-12-14", "2001-12-14"),
    ("true", True), ("FALSE", False), ("017", 17), ("0x1F", 31), ("1e3", 1000.0), ("~", None), ("null", None),
    ("'3'", "3"),
])
def test_scalars_are_read_by_the_yaml_12_core_schema(text, expected):
    """The one YAML reader (scenario, sweep and claim files, --set values) reads what was written."""
    got = yaml_load(f"k: {text}\n")["k"]
    assert got == expected and type(got) is type(expected)
    assert parse_overrides([f"a.b={text}"])["a.b"] == expected


@pytest.mark.parametrize("field, value", [("name", "1e3"), ("description", "NO"), ("description", "1:30"),
                                          ("cities.regions.0.name", "017"), ("cities.regions.1.name", "yes")])
def test_the_written_config_reads_back_as_the_scenario_that_ran(tmp_path, cli_run, field, value):
    """config.yaml (and what `check` prints) quotes text that a YAML reader could read as something else."""
    regions = "cities:\n  n: 50\n  regions:\n    - {name: Europe}\n    - {name: Asia}\n"
    f = write(tmp_path, "s.yaml", regions + "steps: 2\nnetworks:\n  initial: 2\n")
    sets = ["--set", f"{field}='{value}'"]
    rc, err, _ = cli_run(["run", f, "--out", tmp_path / "out", "--quiet", "--no-figures", *sets], allow_runs=True)
    assert rc == 0, err
    ran = load_scenario(f, overrides={field: value})
    again = load_scenario(tmp_path / "out" / "config.yaml")
    assert again.model_dump() == ran.model_dump()
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text()) == ran.model_dump(mode="json")
    rc, _, out = cli_run(["check", f, *sets])
    assert rc == 0 and yaml_load(out) == ran.model_dump(mode="json")


def test_norway_is_a_country_not_false(tmp_path):
    """`country: NO` names Norway in a run of real cities (it used to be read as false, i.e. index 0)."""
    f = write(tmp_path, "s.yaml", "cities:\n  source: real\n  min_population: 3000000\nsteps: 2\n"
                                  "interventions:\n  - kind: national_withdrawal\n    start: 1980\n"
                                  "    params: {country: NO}\n")
    with pytest.raises(ScenarioError, match="no country 'NO' in this run"):
        load_scenario(f)  # no Norwegian city has three million people: a clear error, not country 0
    f.write_text(f.read_text().replace("3000000", "15000"))
    cfg = load_scenario(f)
    assert cfg.interventions[0].params["country"] == "NO"


# ------------------------------------------------------------------------------------------- duplicate keys
DUPLICATES = {
    "top_level": ("steps: 3\nname: a\nsteps: 4\n", "'steps'", "line 1", "line 3"),
    "section": ("resources:\n  pool: 50\n  gamma: 2\n  pool: 60\n", "'pool'", "line 2", "line 4"),
    "list_item": ("cities:\n  regions:\n    - name: A\n      weight: 1\n      weight: 2\n", "'weight'", "line 4",
                  "line 5"),
    "flow_mapping": ("interventions:\n  - {kind: pandemic, start: 1990, start: 1991}\n", "'start'", "line 2", "line 2"),
    "params": (("interventions:\n  - kind: pandemic\n    start: 1990\n    params:\n      budget_cut: 0.1\n"
                "      budget_cut: 0.2\n"), "'budget_cut'", "line 5", "line 6"),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_duplicate_keys_are_refused_naming_both_lines(tmp_path, cli_run, case):
    text, key, first, second = DUPLICATES[case]
    f = write(tmp_path, "s.yaml", text)
    rc, err, _ = cli_run(["check", f])
    assert_user_error(rc, err, str(f), "duplicate key", key, first, second)


@pytest.mark.parametrize("where", ["sweep_file", "set_value"])
def test_duplicate_keys_in_sweeps_and_set_values(tmp_path, cli_run, where):
    if where == "set_value":
        rc, err, _ = cli_run(["check", BASELINE, "--set", "interventions=[{kind: pandemic, start: 1, start: 2}]"])
        assert_user_error(rc, err, "--set", "interventions", "duplicate key", "'start'")
        return
    f = write(tmp_path, "sw.yaml", f"scenario: {BASELINE}\nparameters:\n  resources.pool: [1, 2]\n"
                                   "replications: 2\nreplications: 3\n")
    rc, err, _ = cli_run(["sweep", f, "--out", tmp_path / "out"])
    assert_user_error(rc, err, str(f), "'replications'", "line 4", "line 5")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- meaningless inputs
IV = "interventions:\n  - kind: {kind}\n    start: {start}\n"
MEANINGLESS = {
    "intervention_before_the_run": (IV.format(kind="pandemic", start=1970) + "    end: 1975\n",
                                    ["interventions.0.end", "before the run starts", "never act"]),
    "duplicate_issue": (IV.format(kind="cross_network_platform", start=1990)
                        + "    params: {issues: [climate, health, climate]}\n",
                        ["interventions.0.params.issues.2", "'climate' is listed twice"]),
    "empty_issue_list": (IV.format(kind="cross_network_platform", start=1990) + "    params: {issues: []}\n",
                         ["interventions.0.params.issues", "empty list", "omit the field", "all"]),
    "empty_rule_list": (IV.format(kind="io_framework", start=1990) + "    params: {rules: []}\n",
                        ["interventions.0.params.rules", "empty list", "omit the field"]),
    "two_regions_one_name": ("cities:\n  regions:\n    - {name: East}\n    - {name: West}\n    - {name: East}\n",
                             ["cities.regions", "unique", "East"]),
}


@pytest.mark.parametrize("case", list(MEANINGLESS))
def test_meaningless_scenarios_are_errors(tmp_path, cli_run, case):
    text, expect = MEANINGLESS[case]
    f = write(tmp_path, "s.yaml", text)
    for cmd in (["check", f], ["run", f, "--out", tmp_path / "out", "--quiet"]):
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, str(f), *expect)


@pytest.mark.parametrize("args, expect", [
    (["run", BASELINE, "--out", ""], ["--out", "empty"]),
    (["sweep", REPO / "scenarios/sweeps/smoke.yaml", "--out", " "], ["--out", "empty"]),
    (["calibrate", "--out", ""], ["--out", "empty"]),
    (["calibrate", "--scenario", ""], ["--scenario", "empty"]),
    (["calibrate", "--workers", "0"], ["--workers 0", ">= 1"]),
    (["calibrate", "--workers", "-4"], ["--workers -4", ">= 1"]),
    (["sweep", REPO / "scenarios/sweeps/smoke.yaml", "--workers", "0"], ["--workers 0"]),
    (["calibrate", "--replications", "0"], ["--replications 0"]),
    (["run", BASELINE, "--memory-limit", "0"], ["--memory-limit 0", "positive"]),
    (["run", ""], ["empty"]),
    (["serve", "--host", ""], ["--host", "empty"]),
])
def test_meaningless_flags_are_errors(cli_run, args, expect):
    rc, err, _ = cli_run(args)
    assert_user_error(rc, err, *expect)
    assert not Path("results").exists()


# ------------------------------------------------------------------------------------------- calibration facts
FACT = "  - {{id: {id}, fact: x, source: y, measure: {measure}{extra}, target: 1, tolerance: 1}}\n"
HISTORY_SMALL = ("cities:\n  source: real\n  min_population: 2000000\nnetworks:\n  catalogue: data/networks.csv\n"
                 "steps: 3\nstart_year: 1980\ncalibration:\n")
FACTS = {
    "unknown_metric": (FACT.format(id="a", measure="metric", extra=", metric: n_netwroks"),
                       ["calibration.0.metric", "unknown metric 'n_netwroks'", "n_networks"]),
    "metric_missing": (FACT.format(id="a", measure="metric", extra=""), ["calibration.0.metric", "required"]),
    "unknown_network": (FACT.format(id="a", measure="network_members", extra=", network: C41"),
                        ["calibration.0.network", "no network 'C41'"]),
    "duplicate_id": (FACT.format(id="a", measure="budget_share_under_1pct", extra="")
                     + FACT.format(id="a", measure="metric", extra=", metric: n_networks"),
                     ["calibration.1.id", "'a'", "unique"]),
    "field_that_does_not_apply": (FACT.format(id="a", measure="budget_share_under_1pct", extra=", metric: n_networks"),
                                  ["calibration.0.metric", "does not apply"]),
}


@pytest.mark.parametrize("case", list(FACTS))
def test_facts_that_cannot_be_evaluated_are_input_errors(tmp_path, cli_run, case):
    facts, expect = FACTS[case]
    f = write(tmp_path, "s.yaml", HISTORY_SMALL + facts)
    for cmd in (["check", f], ["calibrate", "--scenario", f, "--out", tmp_path / "out", "--workers", "1"],
                ["run", f, "--out", tmp_path / "out2", "--quiet"]):
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, str(f), *expect)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


@pytest.mark.parametrize("fact, expect", [
    (FACT.format(id="late", measure="metric", extra=", metric: n_networks, year: 2020"),
     ["calibration.0.year", "2020 is outside the run (1980-1982)"]),
    (FACT.format(id="early", measure="metric", extra=", metric: n_networks, year: 1970"),
     ["calibration.0.year", "1970 is outside the run"]),
    (FACT.format(id="c40", measure="network_members", extra=", network: C40 Cities Climate Leadership Group, "
                                                            "year: 1981"),
     ["calibration.0.year", "enters the run in 2005"]),
])
def test_fact_years_outside_the_run(tmp_path, cli_run, fact, expect):
    """`calibrate` refuses before any run; `check` shows it as a warning (a shortened `run` ignores facts)."""
    f = write(tmp_path, "s.yaml", HISTORY_SMALL + fact)
    rc, err, _ = cli_run(["calibrate", "--scenario", f, "--out", tmp_path / "out", "--workers", "1"])
    assert_user_error(rc, err, str(f), *expect)
    rc, err, out = cli_run(["check", f])
    assert rc == 0 and err == []
    assert "# warning:" in out and expect[1] in out


# ------------------------------------------------------------------------------------------- checks that agree
def _catalogue(tmp_path, row: str) -> Path:
    src = (REPO / "data" / "networks.csv").read_text().splitlines()
    p = tmp_path / "cat.csv"
    p.write_text("\n".join(src[:3] + [row] + src[3:]) + "\n")
    return p


AGREE = {
    "corrupt_catalogue_theme": (lambda d: f"networks:\n  catalogue: {_catalogue(d, 'Bad,1990,,space,open,,global,cities,false,,,,x,')}\n",
                                ["cat.csv", "row 4 (Bad).theme", "'space'"]),
    "corrupt_catalogue_fields": (lambda d: f"networks:\n  catalogue: {_catalogue(d, 'Bad,1990,,climate')}\n",
                                 ["cat.csv", "row 4 (Bad)", "fields"]),
    "unknown_synthetic_country": (lambda d: IV.format(kind="national_withdrawal", start=1981)
                                  + "    params: {country: Atlantis}\n",
                                  ["interventions.0.params.country", "no country 'Atlantis'", "AFR000"]),
    "country_index_out_of_range": (lambda d: IV.format(kind="national_withdrawal", start=1981)
                                   + "    params: {country: 500}\n",
                                   ["interventions.0.params.country", "index 500 does not exist"]),
    "network_without_catalogue": (lambda d: IV.format(kind="funding_withdrawal", start=1981)
                                  + "    params: {network: C40 Cities Climate Leadership Group}\n",
                                  ["interventions.0.params.network", "only networks of the catalogue"]),
    "unknown_catalogue_network": (lambda d: "networks:\n  catalogue: data/networks.csv\n"
                                  + IV.format(kind="funding_withdrawal", start=1981) + "    params: {network: C41}\n",
                                  ["interventions.0.params.network", "no network 'C41'"]),
    "network_funded_by_cities": (lambda d: "networks:\n  catalogue: data/networks.csv\n"
                                 + IV.format(kind="funding_withdrawal", start=1981)
                                 + "    params: {network: Sister Cities International}\n",
                                 ["interventions.0.params.network", "funded by its cities"]),
    "network_not_yet_founded": (lambda d: "networks:\n  catalogue: data/networks.csv\n"
                                + IV.format(kind="funding_withdrawal", start=1981)
                                + "    params: {network: 100 Resilient Cities}\n",
                                ["interventions.0.params.network", "enters the run in 2013"]),
}


@pytest.mark.parametrize("case", list(AGREE))
def test_check_run_calibrate_and_sweep_agree(tmp_path, cli_run, case):
    """Each problem is found by every command, with the same message, before anything runs (it used to
    be found by `run` only, after simulating)."""
    make, expect = AGREE[case]
    body = make(tmp_path)
    f = write(tmp_path, "s.yaml", "cities:\n  n: 60\nsteps: 3\n" + body)
    messages = []
    for cmd in (["check", f], ["run", f, "--out", tmp_path / "out", "--quiet"]):
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, *expect)
        messages.append(err[0])
    assert messages[0] == messages[1]
    cal = write(tmp_path, "c.yaml", f.read_text() + "calibration:\n" + FACT.format(
        id="n", measure="metric", extra=", metric: n_networks"))
    rc, err, _ = cli_run(["calibrate", "--scenario", cal, "--out", tmp_path / "cal", "--workers", "1"])
    assert_user_error(rc, err, *expect)
    sw = write(tmp_path, "sw.yaml", f"scenario: {f}\nparameters:\n  resources.pool: [60, 120]\n")
    for cmd in (["check", sw], ["sweep", sw, "--out", tmp_path / "sweep", "--workers", "1", "--quiet"]):
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, *expect)
    assert not any((tmp_path / d).exists() for d in ("out", "cal", "sweep"))


def test_sweep_whose_every_point_is_invalid_runs_nothing(tmp_path, cli_run):
    """Each value is valid alone, no combination is: exit 2 before anything runs or is written."""
    spec = {"scenario": str(BASELINE), "set": {"cities.n": 50}, "steps": 2, "design": "grid",
            "parameters": {"networks.invitation_share": [0.6, 0.7], "networks.competitive_share": [0.5, 0.6]}}
    f = write(tmp_path, "sw.yaml", yaml.safe_dump(spec))
    for cmd in (["check", f], ["sweep", f, "--out", tmp_path / "out", "--workers", "1", "--quiet"]):
        rc, err, _ = cli_run(cmd)
        assert_user_error(rc, err, str(f), "none of 4 design points is a valid scenario", "at most 1")
    assert not (tmp_path / "out").exists()
    spec["parameters"]["networks.invitation_share"] = [0.1, 0.7]  # half of the points are valid: a warning
    f.write_text(yaml.safe_dump(spec))
    rc, err, out = cli_run(["check", f])
    assert rc == 0 and "# warning: 2 of 4 design points are not valid scenarios" in out


# ------------------------------------------------------------------------------------------- bounded reads
def _sparse(tmp_path) -> Path:
    p = tmp_path / "huge.yaml"
    with open(p, "wb") as fh:
        fh.truncate(8 * 2**30)  # 8 GiB, sparse: reading it whole would exhaust memory
    return p


READS = {  # devices such as /dev/zero are refused before reading (tests/test_integrity.py)
    "scenario_sparse_8gb": lambda d: ["run", _sparse(d), "--out", d / "out"],
    "check_sparse_8gb": lambda d: ["check", _sparse(d)],
    "catalogue_sparse": lambda d: ["check", write(d, "s.yaml", f"networks:\n  catalogue: {_sparse(d)}\n")],
}


@pytest.mark.parametrize("case", list(READS))
def test_files_are_read_with_a_size_limit(tmp_path, cli_run, case):
    t0 = time.perf_counter()
    rc, err, _ = cli_run(READS[case](tmp_path))
    assert_user_error(rc, err, "is larger than", "MB; expected a small")
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- memory estimate
HUGE = {
    # the example: values each within their own limits
    "cities_networks_founders": (["--set", "cities.n=200000", "--set", "networks.initial=5000",
                                  "--set", "networks.founders=10000"], "8",
                                 "the initial networks' founders"),
    "networks_ever_founded": (["--set", "networks.founding_rate=1000", "--set", "networks.max_networks=20000",
                               "--set", "steps=1000"], "8", "networks ever founded, squared"),
    "reviews": (["--set", "cities.n=200000", "--set", "membership.candidates=1000"], "8",
                "membership.candidates"),
    "tight_limit": ([], "0.05", "the program itself"),
}


@pytest.mark.parametrize("case", list(HUGE))
def test_memory_estimate_refuses_with_the_estimate_and_the_limit(tmp_path, cli_run, case):
    sets, limit, cause = HUGE[case]
    for cmd in (["run", BASELINE, "--out", tmp_path / "out", "--quiet"], ["check", BASELINE]):
        rc, err, _ = cli_run(cmd + sets + ["--memory-limit", limit])
        assert_user_error(rc, err, str(BASELINE), "GB of memory", f"limit of {float(limit):.1f} GB", cause,
                          "--memory-limit")
    cfg = load_scenario(BASELINE, overrides=parse_overrides(sets[1::2]))
    est = footprint.estimate(cfg)
    rc, _, out = cli_run(["check", BASELINE, *sets, "--memory-limit", str(2 * est.total / 1e9)])
    assert rc == 0 and "valid scenario" in out  # the flag raises the limit
    assert not (tmp_path / "out").exists()


def test_memory_estimate_in_sweeps_and_calibrate(tmp_path, cli_run):
    spec = {"scenario": str(BASELINE), "steps": 2, "parameters": {"cities.n": [100, 200000]}}
    f = write(tmp_path, "sw.yaml", yaml.safe_dump(spec))
    rc, err, _ = cli_run(["sweep", f, "--out", tmp_path / "out", "--memory-limit", "0.8"])
    assert_user_error(rc, err, "parameters.cities.n.values.1", "200000", "GB of memory")
    spec["parameters"]["cities.n"] = [100, 20000]  # each run fits; two local workers at once do not
    f.write_text(yaml.safe_dump(spec))
    each = footprint.estimate(load_scenario(BASELINE, overrides={"cities.n": 20000, "steps": 2})).total / 1e9
    rc, err, _ = cli_run(["sweep", f, "--out", tmp_path / "out", "--workers", "2", "--memory-limit", str(1.5 * each)])
    assert_user_error(rc, err, "--workers 2", "2 runs at once")
    cal = write(tmp_path, "c.yaml", HISTORY_SMALL.replace("2000000", "15000")
                + FACT.format(id="n", measure="metric", extra=", metric: n_networks"))
    rc, err, _ = cli_run(["calibrate", "--scenario", cal, "--out", tmp_path / "cal", "--workers", "2",
                          "--replications", "2", "--memory-limit", "0.9"])
    assert_user_error(rc, err, str(cal), "2 runs at once")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cal").exists()


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "scenarios").glob("*.yaml")))
def test_shipped_scenarios_fit_the_default_limit(name):
    cfg = load_scenario(REPO / "scenarios" / name)
    est = footprint.check(cfg, name)  # the default limit of this machine
    assert est.total < 2e9, f"{name}: {est.gb():.2f} GB estimated; the shipped scenarios are small"
    footprint.check(cfg, name, limit=4e9)  # and of a 5 GB laptop


@pytest.mark.slow
@pytest.mark.parametrize("sets", [["cities.n=20000", "steps=2", "networks.initial=1000", "networks.founders=600"],
                                  ["cities.n=60000", "steps=3"]])
def test_memory_estimate_is_above_the_measured_peak_and_not_absurd(sets):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_footprint import measure

    est = footprint.estimate(load_scenario(BASELINE, overrides=parse_overrides(sets))).total
    peak = measure("scenarios/baseline.yaml", sets)
    assert peak < est < 3 * peak, (est / 1e6, peak / 1e6)


# ------------------------------------------------------------------------------------------- Dask arguments
DASK = {
    "not_an_address": (["--scheduler", "not-an-address"], "not an address of the form tcp://host:port"),
    "unknown_protocol": (["--scheduler", "ftp://10.0.0.5:8786"], "unknown protocol 'ftp'"),
    "port_out_of_range": (["--scheduler", "tcp://10.0.0.5:99999"], "port 99999"),
    "no_port": (["--scheduler", "tcp://10.0.0.5"], "not an address"),
    "file_garbage": (["--scheduler-file", "{d}/garbage.json"], "is not JSON"),
    "file_empty_object": (["--scheduler-file", "{d}/empty.json"], 'has no "address"'),
    "file_address_not_text": (["--scheduler-file", "{d}/number.json"], "is not text"),
    "file_missing": (["--scheduler-file", "{d}/nope.json"], "not found"),
    "file_is_a_directory": (["--scheduler-file", "{d}"], "is a directory"),
    "connect_timeout_zero": (["--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "0"], "--connect-timeout 0"),
}


@pytest.mark.parametrize("case", list(DASK))
def test_dask_arguments_are_checked_before_connecting(tmp_path, cli_run, case, monkeypatch):
    (tmp_path / "garbage.json").write_text("tcp://x:1 ]]]")
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "number.json").write_text('{"address": 8786}')
    import distributed

    def no_client(*a, **k):
        raise AssertionError("connected although the argument is wrong")

    monkeypatch.setattr(distributed, "Client", no_client)
    args, expect = DASK[case]
    t0 = time.perf_counter()
    rc, err, _ = cli_run(["sweep", REPO / "scenarios/sweeps/smoke.yaml", "--out", tmp_path / "out"]
                         + [a.replace("{d}", str(tmp_path)) for a in args])
    assert_user_error(rc, err, expect)
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "out").exists()


def test_dask_closed_port_gives_up_after_the_connect_timeout(tmp_path):
    """A real connection attempt (no cluster needed): a closed port, --connect-timeout 1: exit 2 at once."""
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, str(REPO / "run.py"), "sweep", str(REPO / "scenarios/sweeps/smoke.yaml"),
                        "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1", "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
                       stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert f"tcp://127.0.0.1:{port}" in lines[0] and "within 1 s" in lines[0]
    assert wall < 30, wall
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- serve
@pytest.fixture
def no_exec(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the server was started")

    monkeypatch.setattr(os, "execve", fail)
    monkeypatch.setattr(subprocess, "call", fail)


def test_serve_on_a_taken_port(cli_run, no_exec):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, err, _ = cli_run(["serve", "--port", str(port)])
    assert_user_error(rc, err, f"--host 127.0.0.1 --port {port}", "already in use")


@pytest.mark.parametrize("host, expect", [
    ("no-such-host.invalid", "does not resolve"),
    ("10.255.255.1", "cannot listen on 10.255.255.1"),  # an address of another machine
    ("999.1.1.1", "does not resolve"),
])
def test_serve_on_a_host_it_cannot_listen_on(cli_run, no_exec, monkeypatch, host, expect):
    real = socket.getaddrinfo

    def lookup(h, *a, **k):  # offline and deterministic: names ending in .invalid never resolve
        if str(h).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(h, *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    rc, err, _ = cli_run(["serve", "--host", host, "--port", "8765"])
    assert_user_error(rc, err, f"--host {host} --port 8765", expect)


def test_serve_refuses_a_scenario_over_the_memory_limit_and_passes_the_limit_on(cli_run, monkeypatch):
    started = []
    monkeypatch.setattr(os, "execve", lambda exe, cmd, env: started.append(env))
    monkeypatch.setattr(subprocess, "call", lambda cmd, env=None: started.append(env))
    rc, err, _ = cli_run(["serve", "--memory-limit", "0.01", "--port", "0"])
    assert_user_error(rc, err, "baseline.yaml", "more than the limit of 0.0 GB", "--memory-limit")
    assert not started
    rc, err, _ = cli_run(["serve", "--memory-limit", "-1", "--port", "0"])
    assert_user_error(rc, err, "--memory-limit -1", "positive number")
    rc, _, _ = cli_run(["serve", "--memory-limit", "64", "--port", "0"])
    assert rc in (None, 0) and started and started[0]["CITYDIP_MEMORY_LIMIT"] == repr(64e9)


def test_serve_on_a_free_port_starts_the_server(cli_run, monkeypatch):
    started = []

    def start(*args, **kw):
        started.append(args[1] if len(args) > 1 else args[0])
        return 0

    monkeypatch.setattr(os, "execve", start)
    monkeypatch.setattr(subprocess, "call", start)
    rc, _, _ = cli_run(["serve", "--port", "0"])
    assert rc in (None, 0)
    assert started and "--port" in started[0]


def test_read_yaml_is_the_one_reader(tmp_path):
    """Sweep files and claim-style files go through the same reader as scenarios."""
    p = write(tmp_path, "x.yaml", "a: 1\na: 2\n")
    with pytest.raises(ScenarioError, match="duplicate key"):
        read_yaml(p)
    assert json.loads(json.dumps(read_yaml(write(tmp_path, "y.yaml", "a: NO\n")))) == {"a": "NO"}
