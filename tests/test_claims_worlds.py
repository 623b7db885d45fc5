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
