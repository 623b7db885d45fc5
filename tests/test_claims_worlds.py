"""Claims in several worlds, a world without networks, and an arm that removes a world's event.

- A claim whose effect exists in one world only gets a different verdict in each, and the report's
  line says how they differ.
- The world-level no-network switch leaves no network and no membership in the real world (whose
  catalogue holds 37 real networks), and says what it removed.
- Removing an intervention by kind removes exactly that one: the resolved arms differ from the world
  in that intervention's `active` alone, and the other interventions keep their places (and streams).
- Bad `remove` entries and worlds exit 2 naming the field.
"""

from __future__ import annotations

import copy

import pytest

import run as cli
from analysis.claims.plan import load_claim, load_claim_worlds
from analysis.claims.report import worlds_line
from analysis.claims.runner import run_claims
from model.api import run_scenario
from model.loading import differences, read_yaml, without_networks
from tests.support import BASELINE, REPO, assert_user_error, claim, write

HISTORY = REPO / "scenarios" / "history.yaml"


def test_world_without_networks_has_no_network_and_no_membership_in_the_real_world():
    data = read_yaml(HISTORY)
    data["cities"]["min_population"] = 500000
    data["steps"] = 42  # to 2021: through the pandemic and 100 Resilient Cities' end
    with_nets = run_scenario(copy.deepcopy(data), tables=True)
    assert with_nets.timeseries["n_networks"].iloc[-1] > 30  # the catalogue's real networks are there
    removed = without_networks(data)
    assert any("catalogue" in r for r in removed)
    assert any("funding_withdrawal" in r and "100 Resilient Cities" in r for r in removed)
    assert not any("pandemic" in r or "national_withdrawal" in r for r in removed)  # need no networks: kept
    out = run_scenario(data, tables=True)
    assert (out.timeseries["n_networks"] == 0).all()
    assert int(out.cities["memberships"].sum()) == 0
    assert (out.timeseries["share_unaffiliated"].iloc[1:] == 1.0).all()


def _two_worlds(**fields) -> dict:
    """The tiny claim in two worlds: the synthetic baseline, and the same world without networks."""
    base = {k: v for k, v in claim(**fields).items() if k != "scenario"}
    base["set"] = {"cities.n": 120}  # the claim's set applies after the world's: it must not found networks
    base["worlds"] = [
        {"name": "networked", "label": "the baseline", "scenario": str(BASELINE)},
        {"name": "bare", "label": "no networks", "scenario": str(BASELINE),
         "set": {"networks.initial": 0, "networks.founding_rate": 0, "networks.demand_rate": 0}}]
    return base


def test_an_effect_that_exists_in_one_world_only_gets_different_verdicts(tmp_path):
    # the tiny claim: a larger funding pool raises cities' capacity, which the pool reaches through the
    # networks' contest; in a world without networks there is no one to fund, so the runs are identical
    data = _two_worlds(uncertainty={"trajectories": 2, "replications": 2, "parameters": {
        "knowledge.member_learning": {"low": 0.05, "high": 0.3, "basis": "assumption", "why": "a test"},
        "networks.convergence": {"low": 0.1, "high": 0.9}}})
    f = write(tmp_path / "w.yaml", data)
    plans = load_claim_worlds(f)
    assert [p.id for p in plans] == ["T1@networked", "T1@bare"]
    res = run_claims(plans, tmp_path / "out", quiet=True, workers=1)
    by = {r.record["world"]: r.record for r in res}
    assert by["networked"]["verdict"] == "supported", by["networked"]["effect"]
    assert by["bare"]["verdict"] == "negligible" and by["bare"]["identical"] is True
    import json

    doc = json.loads((tmp_path / "out" / "claims.json").read_text())
    row = next(r for r in doc["worlds"] if r["claim"] == "T1" and r["role"] == "primary")
    assert row["summary"].startswith("differs: supported in networked, negligible in bare")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Worlds side by side" in report and "What each verdict rests on" in report and "### Assumptions" in report
    unc = by["networked"]["conditions"]["uncertainty"]
    assert unc["design"] == "morris" and unc["samples"] == 6 and len(unc["ranking"]) == 2
    assert unc["rests_on"].startswith("T1@networked")
    # in the world without networks the pool reaches no one: every sample's effect is 0, nothing ranks
    bare = by["bare"]["conditions"]["uncertainty"]
    assert bare["sample_effect"] == [0.0] * 6 and bare["share_reaching"] == 0


def test_worlds_line():
    assert worlds_line({"a": ("supported", 0.1), "b": ("supported", 0.2)}) == "the same verdict in both worlds (supported)"
    t = worlds_line({"a": ("supported", 0.1), "b": ("contradicted", -0.2)})
    assert t == "differs: supported in a, contradicted in b; the effects have opposite signs"
    t = worlds_line({"a": ("negligible", 0.001), "b": ("supported", 0.2)})
    assert t == "differs: negligible in a, supported in b; it matters only in b"


def _history_claim(tmp_path, **arms) -> dict:
    data = {k: v for k, v in claim().items() if k not in ("scenario", "set", "steps", "quick")}
    data.update(scenario=str(HISTORY), set={"cities.min_population": 500000}, steps=42,
                outcomes=[{"metric": "share_unaffiliated", "direction": "increase", "threshold": 0.01,
                           "years": [2020, 2021]}],
                mechanism_off={"description": "no cut", "set": {"interventions.pandemic.attention_cut": 0}})
    data["arms"] = arms
    return data


def test_removing_an_intervention_by_kind_removes_exactly_that_one(tmp_path):
    data = _history_claim(tmp_path, control={"remove": [{"kind": "pandemic"}]},
                          treatment={"label": "the world as it is"})
    p = load_claim(write(tmp_path / "r.yaml", data))
    ctrl, trt = p.find("main", "control"), p.find("main", "treatment")
    ivs = trt.data["interventions"]
    k = next(i for i, iv in enumerate(ivs) if iv["kind"] == "pandemic")
    assert [path for path, *_ in differences(trt.data, ctrl.data)] == [f"interventions.{k}.active"]
    assert ctrl.data["interventions"][k]["active"] is False and len(ctrl.data["interventions"]) == len(ivs)
    assert ctrl.removed == [f"interventions.{k} (pandemic 2020-2021)"] and trt.removed == []
    # by index: the second of two funding withdrawals only
    two = _history_claim(tmp_path, control={"interventions": [
        {"kind": "funding_withdrawal", "start": 2010, "params": {"share": 0.5}}]},
        treatment={"interventions": [{"kind": "funding_withdrawal", "start": 2010, "params": {"share": 0.5}}],
                   "remove": [{"kind": "funding_withdrawal", "index": 0}]})
    p = load_claim(write(tmp_path / "r2.yaml", two))
    ctrl, trt = p.find("main", "control"), p.find("main", "treatment")
    fw = [i for i, iv in enumerate(ctrl.data["interventions"]) if iv["kind"] == "funding_withdrawal"]
    assert [path for path, *_ in differences(ctrl.data, trt.data)] == [f"interventions.{fw[0]}.active"]


@pytest.mark.parametrize("remove, field, expected", [
    ([{"kind": "pandemc"}], "arms.control.remove.0.kind", "unknown intervention kind 'pandemc'"),
    ([{"kind": "pandemic", "index": 3}], "arms.control.remove.0", "index 3 names none"),
])
def test_bad_remove_exits_2_naming_the_field(tmp_path, capsys, remove, field, expected):
    data = _history_claim(tmp_path, control={"remove": remove}, treatment={"label": "as it is"})
    f = write(tmp_path / "bad.yaml", data)
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "o"), "--quick"])
    assert_user_error(rc, capsys.readouterr().err.strip().splitlines(), str(f), field, expected)


def test_bad_worlds_exit_2(tmp_path, capsys):
    data = _two_worlds()
    data["worlds"][1]["name"] = "networked"
    f = write(tmp_path / "dup.yaml", data)
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "o"), "--quick"])
    assert_user_error(rc, capsys.readouterr().err.strip().splitlines(), str(f), "given twice")
    data = _two_worlds()
    data["scenario"] = str(BASELINE)
    f = write(tmp_path / "both.yaml", data)
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "o"), "--quick"])
    assert_user_error(rc, capsys.readouterr().err.strip().splitlines(), str(f), "worlds.N.scenario")
    data = _two_worlds()
    data["worlds"][1]["scenario"] = "no_such.yaml"
    f = write(tmp_path / "missing.yaml", data)
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "o"), "--quick"])
    assert_user_error(rc, capsys.readouterr().err.strip().splitlines(), str(f), "worlds.1.scenario", "not found")


def test_the_table_of_assumptions_in_the_docs_is_in_step_with_the_claim_files():
    from analysis.claims.report import assumptions_markdown

    table = assumptions_markdown()
    assert table in (REPO / "docs" / "claims.md").read_text(), \
        "docs/claims.md: regenerate the table with python -m analysis.claims.report --assumptions"
    for must in ("spillover.cobenefit", "spillover.backlash", "knowledge.compatibility", "networks.partner_pull",
                 "cities.cheap_slot", "networks.declaration_level", "interventions.pandemic.attention_cut"):
        assert f"`{must}`" in table, must


def _one_driver_task(run_id, base, overrides, seed, steps, record, meta):
    """A stand-in for the model in a sweep's worker: a synthetic claim whose effect depends on one parameter
    only. Every metric is 0.3 plus the seed's own noise (the same in both arms: common random numbers),
    plus, in the treatment arm (a funding pool of 400), 0.1 x knowledge.member_learning and noise of the
    seed and the setting; every other parameter changes nothing but that noise."""
    import numpy as np
    import pandas as pd

    from analysis.claims.plan import get_path
    from analysis.sweep.results import parquet_bytes, run_table

    def value(key):
        return overrides[key] if key in overrides else get_path(base, key)

    n = int(steps or base["steps"])
    years = base["start_year"] + np.arange(n + 1) - 1
    noise = np.random.default_rng(seed).normal(0, 0.01, n + 1)
    treated = float(value("resources.pool")) == 400
    lift = 0.1 * float(value("knowledge.member_learning")) if treated else 0.0
    # the treatment's own noise changes with every parameter, as a model's paths do when a parameter moves:
    # the pairing holds at one setting, not across settings, so the other parameters show noise in mu*
    setting = [round(float(value(k)), 9) for k in ("knowledge.member_learning", "networks.convergence",
                                                    "networks.founders")]
    own = np.random.default_rng([seed, *[int(x * 1e9) for x in setting]]).normal(0, 0.003) if treated else 0.0
    df = pd.DataFrame({"step": np.arange(n + 1), "year": years})
    for m in record["metrics"]:
        df[m] = 0.3 + noise + lift + own
    table = run_table(run_id, meta["point"], meta["replication"], overrides, seed, df, meta["ptypes"])
    return {"run_id": run_id, "ok": True, "parquet": parquet_bytes(table), "rows": table.num_rows, "runtime_s": 0.0}


def test_the_sensitivity_ranking_recovers_the_one_driver_of_a_synthetic_claim(tmp_path):
    """Through the whole lab (plan, sweeps, evaluation, report): the Morris ranking puts the one parameter the
    effect depends on first and every other below the noise floor, and the sentence says so."""
    data = claim(uncertainty={"trajectories": 4, "replications": 4, "parameters": {
        "knowledge.member_learning": {"low": 0.05, "high": 0.3},
        "networks.convergence": {"low": 0.1, "high": 0.9},
        "networks.founders": {"low": 3, "high": 20}}})
    f = write(tmp_path / "one.yaml", data)
    res = run_claims([load_claim(f)], tmp_path / "out", quiet=True, workers=1, task=_one_driver_task)
    unc = res[0].record["conditions"]["uncertainty"]
    ranking = unc["ranking"]
    assert ranking[0]["parameter"] == "knowledge.member_learning" and ranking[0]["above_noise"], ranking
    assert not any(r["above_noise"] for r in ranking[1:]), (ranking, unc["noise_floor"])
    assert unc["rests_on"].startswith("T1's effect rests mostly on knowledge.member_learning (assumption)")
    # the effect is 0.1 x member_learning against a threshold of 0.002 (the tiny claim's): it turns near 0.02,
    # below the range sampled, so every sample reaches it and no turning value is read inside the range
    assert unc["share_reaching"] == 1.0 and unc["turns_near"] is None
