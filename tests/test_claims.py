"""The claims lab (`run.py claims`, analysis/claims/, docs/claims.md).

- the verdict rule on synthetic intervals at and around the threshold, both directions;
- the statistics: paired effect, deterministic bootstrap interval, standardised effects;
- conditions: where a verdict changes along a moderator (interpolated), the generated sentence,
  PRIM's box on a synthetic space;
- claim files: the shipped C1-C8 validate (full and quick); how arms are resolved (layers, interventions
  by kind, common seeds, identical points run once); bad files exit 2 naming the file and the field;
- runs: swapping the arms flips the sign of the effect and the verdict; a placebo claim (arms differ
  only in the scenario's description, which no phase reads) says "no difference: identical runs";
  2 worker processes give the same claims.json as 1; a run stopped part-way by a failing executor and
  then resumed gives the same claims.json as an uninterrupted one and runs only what was missing;
- outputs: report.html is self-contained (no http(s), images as data URIs); a quick run says so on
  every page; the quick run of one small claim through the command line.

Claims here use tiny worlds (120 cities, 8 steps), so a run takes a few hundredths of a second.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run as cli
from analysis.claims import default_files, load_claims
from analysis.claims.conditions import moderator_sentence, prim_box, transitions
from analysis.claims.plan import load_claim
from analysis.claims.runner import run_claims
from analysis.claims.statistics import mean_interval, paired_effect, rng_for
from analysis.claims.verdict import verdict
from analysis.execution import SerialExecutor
from model.loading import load_scenario
from model.randomness import replication_seeds
from tests.support import claim

BASELINE = REPO / "scenarios" / "baseline.yaml"
def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ================================================================================ the verdict rule
@pytest.mark.parametrize("lo, hi, direction, expected", [
    (0.10, 0.30, "increase", "supported"),          # the lower bound at the threshold: every value matters
    (0.1000001, 0.3, "increase", "supported"),
    (0.0999999, 0.3, "increase", "undetermined"),   # reaches across the threshold, just
    (-0.05, 0.30, "increase", "undetermined"),      # straddles zero and the threshold
    (0.05, 0.08, "increase", "negligible"),         # wholly inside the band, sign settled
    (-0.05, 0.0999999, "increase", "negligible"),   # wholly inside the band, sign not settled
    (-0.05, 0.10, "increase", "undetermined"),      # touches the threshold: an effect that matters is allowed
    (-0.0999999, 0.05, "increase", "negligible"),
    (-0.10, 0.05, "increase", "undetermined"),
    (0.0, 0.0, "increase", "negligible"),           # identical runs
    (-0.30, -0.10, "increase", "contradicted"),
    (-0.30, -0.0999999, "increase", "undetermined"),
    (-0.30, 0.05, "increase", "undetermined"),
    (-0.30, 0.30, "increase", "undetermined"),      # across both thresholds
    (-0.30, -0.10, "decrease", "supported"),
    (-0.30, -0.0999999, "decrease", "undetermined"),
    (0.10, 0.30, "decrease", "contradicted"),
    (0.0999999, 0.30, "decrease", "undetermined"),
    (-0.08, -0.05, "decrease", "negligible"),
    (-0.2, 0.2, "decrease", "undetermined"),
    (float("nan"), 0.3, "increase", "undetermined"),  # no interval
    (None, None, "increase", "undetermined"),
])
def test_verdict_rule_at_and_around_the_threshold(lo, hi, direction, expected):
    assert verdict(lo, hi, 0.1, direction) == expected


def test_verdict_needs_a_positive_threshold():
    for bad in (0.0, -0.1, None):
        with pytest.raises(ValueError):
            verdict(0.2, 0.3, bad, "increase")


def test_verdict_flips_with_the_sign_of_the_interval():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lo, hi = np.sort(rng.normal(0, 0.3, 2))
        t = abs(rng.normal(0, 0.1)) + 1e-3
        for d in ("increase", "decrease"):
            a, b = verdict(lo, hi, t, d), verdict(-hi, -lo, t, d)
            assert {a, b} <= {"supported", "contradicted", "negligible", "undetermined"}
            assert (a, b) in {("supported", "contradicted"), ("contradicted", "supported"),
                              ("negligible", "negligible"), ("undetermined", "undetermined")}


# ================================================================================ statistics
def test_paired_effect_mean_interval_and_standardised_effects():
    rng = np.random.default_rng(5)
    c = rng.normal(1.0, 0.2, 30)
    t = c + 0.1 + rng.normal(0, 0.02, 30)
    e = paired_effect(t, c, rng_for("X", "m", "main"))
    d = t - c
    assert e.n == 30
    assert e.effect == pytest.approx(d.mean())
    assert e.ci_low < d.mean() < e.ci_high
    half_t = 2.045 * d.std(ddof=1) / np.sqrt(30)  # the t interval's half-width, for scale
    assert (e.ci_high - e.ci_low) / 2 == pytest.approx(half_t, rel=0.25)
    assert e.ci_low < 0.1 < e.ci_high
    assert e.d_z == pytest.approx(d.mean() / d.std(ddof=1))
    assert e.glass == pytest.approx(d.mean() / c.std(ddof=1))
    again = paired_effect(t, c, rng_for("X", "m", "main"))
    assert (again.ci_low, again.ci_high) == (e.ci_low, e.ci_high)  # the interval is fixed by its name
    swapped = paired_effect(c, t, rng_for("X", "m", "main"))
    assert swapped.effect == pytest.approx(-e.effect)
    assert swapped.ci_low == pytest.approx(-e.ci_high) and swapped.ci_high == pytest.approx(-e.ci_low)


@pytest.mark.parametrize("n", [3, 5, 20])
def test_interval_covers_the_mean_at_few_pairs(n):
    """The interval of the mean of n normal paired differences covers the true mean about 95% of the
    time (BCa alone: about 84% at 5 pairs, 90% at 20): verdicts are not made too decisive."""
    rng = np.random.default_rng(n)
    hits = 0
    for r in range(300):
        lo, hi = mean_interval(rng.normal(0.0, 1.0, n), np.random.default_rng(r))
        hits += lo <= 0.0 <= hi
    assert hits / 300 >= 0.92, hits / 300


@pytest.mark.parametrize("primary, off, expected", [
    ("undetermined", {"verdict": "undetermined", "ci_low": -0.1, "ci_high": 0.1, "part": "supported"}, None),
    ("negligible", {"verdict": "negligible", "ci_low": -0.01, "ci_high": 0.01, "part": "negligible"}, None),
    ("supported", {"verdict": "supported", "ci_low": 0.05, "ci_high": 0.2, "part": "undetermined"}, False),
    ("supported", {"verdict": "negligible", "ci_low": -0.01, "ci_high": 0.02, "part": "supported"}, True),
    ("supported", {"verdict": "contradicted", "ci_low": -0.3, "ci_high": -0.2, "part": "supported"}, True),  # reversed
    ("supported", {"verdict": "negligible", "ci_low": 0.0, "ci_high": 0.0, "part": "supported"}, None),    # frozen arms
    ("supported", {"verdict": "undetermined", "ci_low": -0.01, "ci_high": 0.04, "part": "supported"}, None),  # open
    ("supported", {"verdict": "negligible", "ci_low": -0.01, "ci_high": 0.02, "part": "undetermined"}, None),
    # contradicted effects are asked the same question, the other way round
    ("contradicted", {"verdict": "contradicted", "ci_low": -0.2, "ci_high": -0.05, "part": "negligible"}, False),
    ("contradicted", {"verdict": "negligible", "ci_low": -0.02, "ci_high": 0.01, "part": "contradicted"}, True),
    ("contradicted", {"verdict": "supported", "ci_low": 0.05, "ci_high": 0.1, "part": "contradicted"}, True),
    ("contradicted", {"verdict": "undetermined", "ci_low": -0.04, "ci_high": 0.01, "part": "contradicted"}, None),
])
def test_through_mechanism(primary, off, expected):
    from analysis.claims.evaluate import through_mechanism

    p = {"verdict": primary, "direction": "increase"}
    o = {"verdict": off["verdict"], "ci_low": off["ci_low"], "ci_high": off["ci_high"],
         "contribution": {"verdict": off["part"]}}
    got, why = through_mechanism(p, o, 0.03)
    assert got is expected, why
    assert why


def test_an_effect_that_needs_the_mechanism_and_the_rest_is_through_it_in_part():
    """C3 in 0.4.0: gone with the coupling off (+0.008 of a threshold of 0.02), but the coupling's own part
    (+0.018) is negligible too: neither alone matters, so the answer is 'in part', not 'cannot tell'."""
    from analysis.claims.evaluate import through_mechanism

    p = {"verdict": "supported", "direction": "increase"}
    o = {"verdict": "negligible", "ci_low": 0.005, "ci_high": 0.012, "contribution": {"verdict": "negligible"}}
    got, why = through_mechanism(p, o, 0.02)
    assert got is None and why.startswith("in part"), why


def test_an_outcome_the_mechanism_off_removes_is_gone_when_the_arms_differ_elsewhere():
    """C8: without cuts no one is excluded in either arm, so exclusion is identical with the mechanism off; the
    mechanism-off arms still differ in other outcomes, so that is a test passed, not 'nothing tested'."""
    from analysis.claims.evaluate import through_mechanism

    p = {"verdict": "supported", "direction": "increase"}
    o = {"verdict": "negligible", "ci_low": 0.0, "ci_high": 0.0, "identical": True,
         "contribution": {"verdict": "supported"}}
    assert through_mechanism(p, o, 0.03)[0] is None
    got, why = through_mechanism(p, o, 0.03, arms_differ=True)
    assert got is True, why


def test_paired_effect_skips_missing_runs_and_handles_degenerate_data():
    t = np.array([1.0, 2.0, np.nan, 4.0])
    c = np.array([0.5, 1.5, 2.0, np.nan])
    e = paired_effect(t, c, rng_for("a"))
    assert e.n == 2 and e.effect == pytest.approx(0.5)
    assert (e.ci_low, e.ci_high) == (0.5, 0.5)  # all differences equal: the interval is that value
    assert e.d_z is None
    one = paired_effect(np.array([1.0]), np.array([0.0]), rng_for("a"))
    assert one.n == 1 and np.isnan(one.ci_low)
    assert verdict(one.ci_low, one.ci_high, 0.1, "increase") == "undetermined"
    lo, hi = mean_interval(np.array([0.0, 0.0, 0.0]), rng_for("z"))
    assert lo == hi == 0.0


# ================================================================================ conditions
def test_transitions_are_interpolated_where_the_deciding_bound_crosses_the_threshold():
    values = [0, 10, 20, 30]
    lows = [0.30, 0.20, 0.00, -0.5]
    highs = [0.50, 0.40, 0.20, -0.2]
    vds = [verdict(lo, hi, 0.1, "increase") for lo, hi in zip(lows, highs)]
    assert vds == ["supported", "supported", "undetermined", "contradicted"]
    tr = transitions(values, lows, highs, vds, 0.1, "increase")
    assert [(t["from"], t["to"]) for t in tr] == [("supported", "undetermined"), ("undetermined", "contradicted")]
    assert tr[0]["at"] == pytest.approx(15.0)  # lower bound 0.2 -> 0.0 crosses 0.1 half-way
    assert tr[1]["at"] == pytest.approx(20 + 10 * (0.3 / 0.4))  # upper bound 0.2 -> -0.2 crosses -0.1
    s = moderator_sentence("T", "m", "p", values, [0.4, 0.3, 0.1, -0.35], vds, tr, 0.1, "increase")
    assert "supported at p = 0, 10" in s and "contradicted at p = 30" in s and "near p = 15" in s
    same = moderator_sentence("T", "m", "p", values, [0.4] * 4, ["supported"] * 4, [], 0.1, "increase")
    assert "supported at every value" in same
    text = transitions([True, False], [0.3, -0.1], [0.5, 0.2], ["supported", "undetermined"], 0.1, "increase")
    assert text[0]["at"] is None and text[0]["between"] == [True, False]


def test_prim_finds_the_box_where_the_claim_holds():
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.random(200), "b": rng.random(200), "c": rng.random(200)})
    y = (x["a"] > 0.5).to_numpy()
    box = prim_box(x, y, density=0.9)
    assert box["found"] and box["restricted"] == ["a"]
    assert 0.4 < box["limits"]["a"][0] <= 0.55 and box["density"] >= 0.9 and box["coverage"] > 0.8
    from analysis.claims.conditions import uncertainty_summary

    effects = np.where(y, 1.0, 0.1)  # the point effect reaches the threshold (0.5) where a > 0.5
    summ = uncertainty_summary("T", "m", x.to_dict("records"), list(effects), 0.5, "increase", 0.9,
                               {"a": [0.0, 1.0], "b": [0.0, 1.0], "c": [0.0, 1.0]})
    assert summ["share_reaching"] == pytest.approx(y.mean()) and summ["ceiling"] == 1.0
    assert summ["box"]["limits"]["a"][1] == 1.0  # the side PRIM did not peel is the space's bound
    assert re.search(r"PRIM's box where it reaches it: a in \[0\.[45]\d*, 1\] \(density 0\.9", summ["sentence"])
    assert prim_box(x, np.zeros(200, bool), 0.8)["found"] is False
    assert prim_box(x, np.ones(200, bool), 0.8)["restricted"] == []


def test_prim_box_is_absent_below_five_samples():
    x = pd.DataFrame({"a": [0.1, 0.2, 0.8, 0.9], "b": [0.5, 0.4, 0.3, 0.2]})
    box = prim_box(x, np.array([False, False, True, True]), 0.8)
    assert box["found"] is False and "fewer than 5" in box["reason"]
    # with many samples but a box that would hold fewer than 5 of them, no box either
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.random(40), "b": rng.random(40)})
    y = (x["a"] > 0.93).to_numpy()  # about 3 samples reach it
    assert y.sum() < 5
    box = prim_box(x, y, 0.8)
    assert box["found"] is False or box["n_in_box"] >= 5


def test_morris_ranking_recovers_the_one_parameter_the_effect_depends_on():
    from analysis.claims.conditions import morris_ranking, uncertainty_summary
    from analysis.claims.plan import morris_unit

    unit = morris_unit(4, 6, 4, seed=5)
    bounds = {"p": [0.0, 2.0], "q": [0.0, 1.0], "r": [0.0, 1.0], "s": [10.0, 20.0]}
    vals = [{k: b[0] + u * (b[1] - b[0]) for (k, b), u in zip(bounds.items(), row)} for row in unit]
    noise = np.random.default_rng(1).normal(0, 1e-4, len(vals))
    effects = np.array([0.05 * v["q"] for v in vals]) + noise  # only q moves the effect
    rows = morris_ranking(unit, effects, list(bounds), 4)
    assert rows[0]["parameter"] == "q" and rows[0]["mu_star"] > 20 * rows[1]["mu_star"]
    se = np.full(len(vals), 1e-4)  # each point effect's standard error
    summ = uncertainty_summary("T", "m", vals, list(effects), 0.02, "increase", 0.8, bounds,
                               {"q": "assumption"}, unit=unit, levels=4, se=se)
    assert summ["ranking"][0]["parameter"] == "q" and summ["ranking"][0]["above_noise"]
    assert not any(r["above_noise"] for r in summ["ranking"][1:])
    assert summ["turns_near"] == pytest.approx(0.4, abs=0.02)  # 0.05 q = 0.02 at q = 0.4
    assert summ["fit_r2"] > 0.99
    assert summ["rests_on"].startswith("T's effect rests mostly on q (assumption)")
    # no sample reaches a threshold above the effect's range: the ceiling is stated
    summ = uncertainty_summary("T", "m", vals, list(effects), 0.2, "increase", 0.8, bounds, unit=unit, levels=4)
    assert summ["share_reaching"] == 0 and "a ceiling" in summ["rests_on"]
    assert summ["ceiling"] == pytest.approx(max(effects))


def test_morris_on_noise_alone_ranks_nothing_and_reads_no_turning_value():
    """Point effects that are pure sampling noise (each with its own interval): the largest mu* lies within
    the noise floor, so the parameters are not ranked, whatever parameter happens to lead."""
    from analysis.claims.conditions import uncertainty_summary
    from analysis.claims.plan import morris_unit

    bounds = {k: [0.0, 1.0] for k in "abcde"}
    said = []
    for seed in range(20):
        unit = morris_unit(5, 3, 4, seed=seed)
        vals = [dict(zip(bounds, row)) for row in unit]
        sd = 0.01  # each point effect: mean of 4 paired differences, standard error 0.01
        eff = np.random.default_rng(seed).normal(0.0, sd, len(vals))
        summ = uncertainty_summary("N", "m", vals, list(eff), 0.03, "increase", 0.8, bounds, unit=unit, levels=4,
                                   se=np.full(len(eff), sd))
        said.append("cannot be ranked" in summ["rests_on"])
        assert summ["turns_near"] is None or "cannot be ranked" not in summ["rests_on"]
    assert sum(said) >= 15, said  # at most a few chance rankings out of 20


def test_prim_needs_five_samples_that_reach_the_threshold():
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.random(30), "b": rng.random(30)})
    y = np.zeros(30, bool)
    y[np.argsort(x["a"].to_numpy())[-3:]] = True  # the three largest a reach it
    box = prim_box(x, y, 0.8)
    assert box["found"] is False and "3 of 30 samples reach the threshold" in box["reason"]


# ================================================================================ claim files
@pytest.mark.parametrize("quick", [False, True])
def test_shipped_claims_validate(quick):
    files = default_files()
    assert [f.stem for f in files] == ["C1", "C1b", "C2", "C3", "C4", "C4a", "C4b", "C4c", "C5", "C6", "C7", "C8"]
    plans = load_claims(quick=quick)
    for p in plans:
        assert p.replications == (p.spec.quick.replications if quick else p.spec.replications)
        if not quick:
            assert p.replications >= 20
        assert p.find("off", "control") is not None and p.find("off", "treatment") is not None
    if quick:
        assert sum(p.n_runs for p in plans) < 1300  # the quick run's budget, both worlds (benchmarks/bench_claims.py)


def test_arms_resolve_to_their_scenarios_with_common_seeds(tmp_path):
    f = write(tmp_path / "c.yaml", claim(
        arms={"control": {"set": {"resources.pool": 30}},
              "treatment": {"set": {"resources.pool": 400, "interventions.pandemic.budget_cut": 0.5},
                            "interventions": [{"kind": "pandemic", "start": 1984, "end": 1985}]}},
        mechanism_off={"description": "no attention cut", "set": {"interventions.pandemic.attention_cut": 0.0}},
        no_network={"set": {"networks.initial": 0, "networks.founding_rate": 0, "networks.demand_rate": 0}},
        moderators=[{"parameter": "networks.convergence", "values": [0.2, 0.6]},
                    {"parameter": "interventions.pandemic.selectivity", "values": [0.0, 1.0]}]))
    p = load_claim(f)
    assert p.main.seeds == replication_seeds(3, 4) and p.seeds == p.main.seeds
    for a in p.arms:  # the sweep's point, applied to the base, is the arm's scenario
        cfg = load_scenario(p.main.base, overrides=p.main.points[a.point])
        assert cfg.model_dump(mode="json") == a.data
    ctrl, trt = p.find("main", "control"), p.find("main", "treatment")
    assert ctrl.data["interventions"] == []
    assert trt.data["interventions"][0]["params"] == {"budget_cut": 0.5}
    off_c, off_t = p.find("off", "control"), p.find("off", "treatment")
    assert off_c.point == ctrl.point  # the control has no pandemic: mechanism off changes nothing there
    assert off_t.data["interventions"][0]["params"] == {"budget_cut": 0.5, "attention_cut": 0.0}
    nn = p.find("no_network", "no_network")
    assert nn.data["networks"]["initial"] == 0 and nn.data["resources"]["pool"] == 30
    # the base value of a moderator is the main arm itself; a by-kind moderator leaves the control alone
    assert p.find("moderator", "control", moderator=0, value=1).point == ctrl.point
    assert p.find("moderator", "control", moderator=1, value=0).point == ctrl.point
    sel = p.find("moderator", "treatment", moderator=1, value=1).data["interventions"][0]["params"]
    assert sel == {"budget_cut": 0.5, "selectivity": 1.0}
    assert len(p.main.points) == len({json.dumps(pt, sort_keys=True) for pt in p.main.points})


def test_gradient_quick_mode_and_uncertainty(tmp_path):
    f = write(tmp_path / "g.yaml", claim(
        arms=None, gradient={"parameter": "resources.pool", "values": [30, 100, 200, 400]},
        quick={"replications": 3, "set": {"cities.n": 100}, "moderators": 1, "moderator_values": 3,
               "samples": 4, "uncertainty_replications": 2},
        moderators=[{"parameter": "networks.convergence", "values": [0.0, 0.2, 0.4, 0.6, 0.8]},
                    {"parameter": "networks.founders", "values": [4, 8]}],
        uncertainty={"samples": 6, "replications": 3,
                     "parameters": {"networks.founders": {"low": 3, "high": 20},
                                    "knowledge.member_learning": {"low": 0.05, "high": 0.3}}}))
    full, quick = load_claim(f), load_claim(f, quick=True)
    assert full.find("main", "control").data["resources"]["pool"] == 30
    assert full.find("main", "treatment").data["resources"]["pool"] == 400
    assert [full.find("level", "level", level=j).data["resources"]["pool"] for j in (1, 2)] == [100, 200]
    assert len(full.moderators) == 2 and len(quick.moderators) == 1
    assert quick.moderators[0].values == [0.0, 0.4, 0.8]
    assert quick.base["cities"]["n"] == 100 and quick.replications == 3
    assert len(full.lhs_values) == 6 and full.lhs.replications == 3
    assert len(quick.lhs_values) == 4 and quick.lhs.replications == 2
    assert all(isinstance(v["networks.founders"], int) and 3 <= v["networks.founders"] <= 20 for v in full.lhs_values)
    assert quick.lhs.seeds == replication_seeds(3, 2) == full.seeds[:2]  # the first seeds of the main arms


BAD = [
    ("unknown metric", {"outcomes": [{"metric": "fragmentation", "direction": "increase", "threshold": 0.1,
                                      "years": [1984, 1987]}]}, "outcomes.0.metric", "fragmentation_index"),
    ("arms identical", {"arms": {"control": {"set": {"resources.pool": 30}},
                                 "treatment": {"set": {"resources.pool": 30.0}}}}, "arms", "same scenario"),
    ("missing threshold", {"outcomes": [{"metric": "mean_capacity", "direction": "increase",
                                         "years": [1984, 1987]}]}, "outcomes.0.threshold", "required"),
    ("zero threshold", {"outcomes": [{"metric": "mean_capacity", "direction": "increase", "threshold": 0,
                                      "years": [1984, 1987]}]}, "outcomes.0.threshold", "must be > 0"),
    ("unknown moderator path", {"moderators": [{"parameter": "resources.pol", "values": [1, 2]}]},
     "moderators.0.parameter", "unknown field 'pol'"),
    ("moderator is the arms' parameter", {"moderators": [{"parameter": "resources.pool", "values": [1, 2]}]},
     "moderators.0.parameter", "what the arms vary"),
    ("unknown uncertainty path", {"uncertainty": {"parameters": {"knowledge.nope": {"low": 0, "high": 1}}}},
     "uncertainty.parameters.knowledge.nope", "unknown field 'nope'"),
    ("unknown key", {"replicates": 3}, "replicates", "unknown field"),
    ("years outside the run", {"outcomes": [{"metric": "mean_capacity", "direction": "increase",
                                             "threshold": 0.1, "years": [1984, 1999]}]},
     "outcomes.0.years", "outside the run's years"),
    ("invalid arm value", {"arms": {"control": {"set": {"resources.pool": -5}},
                                    "treatment": {"set": {"resources.pool": 30}}}},
     "arms.control.set.resources.pool", "must be >= 0"),
    ("unknown intervention kind path", {"mechanism_off": {"description": "x",
                                                          "set": {"interventions.pandemik.budget_cut": 0}}},
     "mechanism_off.set.interventions.pandemik.budget_cut", "unknown intervention kind"),
    ("mechanism off changes nothing", {"mechanism_off": {"description": "x", "set": {}}},
     "mechanism_off", "changes neither arm"),
    ("arms and gradient", {"gradient": {"parameter": "resources.pool", "values": [1, 2]}}, "",
     "exactly one of arms"),
]


@pytest.mark.parametrize("case, fields, field, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_claim_files_exit_2_naming_file_and_field(tmp_path, capsys, case, fields, field, expected):
    f = write(tmp_path / "bad.yaml", claim(**fields))
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: {f}: " + (f"{field}: " if field else "")), err
    assert expected in err
    assert not (tmp_path / "out").exists()


def test_bad_flags_exit_2(tmp_path, capsys):
    f = write(tmp_path / "c.yaml", claim())
    for argv, expected in ((["--only", "C9"], "--only: no claim 'C9'"), (["--workers", "0"], "--workers 0"),
                           (["--only", ","], "expected claim ids")):
        rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "o"), "--quiet", *argv])
        err = capsys.readouterr().err
        assert rc == 2 and expected in err, err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "full"), "--quiet"])
    assert rc == 2 and "holds no claims run" in capsys.readouterr().err


def test_schema_claim_is_json_schema(capsys):
    assert cli.main(["schema", "claim"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"id", "statement", "outcomes", "arms", "gradient", "mechanism_off", "moderators",
            "uncertainty", "quick"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


# ================================================================================ runs
def _run(tmp_path, name, data, **kw):
    f = write(tmp_path / f"{name}.yaml", data)
    return run_claims([load_claim(f, quick=kw.pop("quick", False))], tmp_path / f"out-{name}", quiet=True,
                      workers=kw.pop("workers", 1), **kw)


def test_swapping_the_arms_flips_the_effect_and_the_verdict(tmp_path):
    a = _run(tmp_path, "a", claim(), write=False)[0].record
    c = claim()
    c["arms"] = {"control": c["arms"]["treatment"], "treatment": c["arms"]["control"]}
    b = _run(tmp_path, "b", c, write=False)[0].record
    assert a["verdict"] == "supported" and b["verdict"] == "contradicted"
    assert b["effect"] == pytest.approx(-a["effect"], abs=1e-12)
    assert b["ci_low"] == pytest.approx(-a["ci_high"], abs=1e-12)
    assert b["ci_high"] == pytest.approx(-a["ci_low"], abs=1e-12)
    assert a["n"] == b["n"] == 4


def test_placebo_claim_is_no_difference_identical_runs(tmp_path):
    placebo = claim(arms={"control": {"set": {"description": "control"}},
                          "treatment": {"set": {"description": "a placebo: no phase reads the description"}}},
                    outcomes=[{"metric": m, "direction": "increase", "threshold": 0.002, "years": [1984, 1987]}
                              for m in ("mean_capacity", "fragmentation_index", "size_gap")])
    rec = _run(tmp_path, "p", placebo, write=False)[0].record
    for o in rec["outcomes"]:
        assert o["verdict"] == "negligible" and o["identical"] is True
        assert o["verdict_text"] == "no difference: identical runs"
        assert o["ci_low"] == 0.0 == o["ci_high"]
        assert o["effect"] == 0.0
    assert rec["verdict_adjusted"] == "negligible"
    assert rec["sequential"]["n_used"] == 4  # decided at the first look: no more blocks


def _claims_json(d: Path) -> dict:
    """claims.json without the dates its runs started (provenance.date, each claim's `registered`): two
    directories run at different times differ in those only; a resume into the same directory keeps them."""
    return _undated(json.loads((d / "claims.json").read_text()))


def _undated(doc: dict) -> dict:
    doc.get("provenance", {}).pop("date", None)
    for c in doc["claims"]:
        c.pop("registered", None)
    return doc


RICH = {"moderators": [{"parameter": "networks.convergence", "values": [0.2, 0.9]}],
        "no_network": {"set": {"networks.initial": 0, "networks.founding_rate": 0, "networks.demand_rate": 0}},
        "uncertainty": {"samples": 4, "replications": 2,
                        "parameters": {"knowledge.member_learning": {"low": 0.05, "high": 0.3}}}}


class FailingExecutor(SerialExecutor):
    """Runs the first `k` submitted runs, then fails as a lost back-end would."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def submit(self, fn, /, *args, **kwargs):
        if self.k <= 0:
            f: Future = Future()
            f.set_exception(RuntimeError("the back-end is gone"))
            return f
        self.k -= 1
        return super().submit(fn, *args, **kwargs)


def test_resumed_claims_run_gives_the_same_claims_json(tmp_path):
    from analysis.sweep import SweepAborted, _task

    f = write(tmp_path / "k.yaml", claim(**RICH))
    full = run_claims([load_claim(f)], tmp_path / "full", quiet=True, workers=1)
    total = full[0].plan.n_runs
    out = tmp_path / "killed"
    with pytest.raises(SweepAborted):
        run_claims([load_claim(f)], out, quiet=True, executor=FailingExecutor(total // 2))
    assert not (out / "claims.json").exists()
    done = len(list((out / "sweeps").glob("*/runs/*.parquet")))
    assert 0 < done < total
    ran = []

    def counting(*args):
        ran.append(args[0])
        return _task(*args)

    run_claims([load_claim(f)], out, quiet=True, workers=1, task=counting)
    assert len(ran) == total - done  # only what was missing
    assert _claims_json(out) == _claims_json(tmp_path / "full")
    rec = _claims_json(out)["claims"][0]
    assert rec["conditions"]["uncertainty"]["samples"] == 4 and rec["no_network"] is not None


def test_two_worker_processes_give_the_same_claims_json(tmp_path):
    from analysis.claims.report import claims_document

    f = write(tmp_path / "c.yaml", claim(**RICH))
    docs = [_undated(claims_document(run_claims([load_claim(f)], tmp_path / f"w{w}", quiet=True, workers=w,
                                                write=False), quick=False)) for w in (1, 2)]
    assert docs[0] == docs[1] and docs[0]["claims"][0]["conditions"]["uncertainty"]["samples"] == 4


@pytest.mark.slow
def test_dask_cluster_gives_the_same_claims_json(tmp_path):
    distributed = pytest.importorskip("distributed")
    f = write(tmp_path / "d.yaml", claim(**RICH))
    run_claims([load_claim(f)], tmp_path / "local", quiet=True, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        # by address, as --scheduler does: one connection shared by the claim's sweeps
        run_claims([load_claim(f)], tmp_path / "dask", quiet=True, scheduler=cluster.scheduler_address)
        with distributed.Client(cluster) as client:  # and with a client of the caller's
            run_claims([load_claim(f)], tmp_path / "dask-client", quiet=True, client=client)
    assert _claims_json(tmp_path / "local") == _claims_json(tmp_path / "dask") == _claims_json(tmp_path / "dask-client")


# ================================================================================ outputs
def test_report_html_is_self_contained_and_json_complete(tmp_path):
    _run(tmp_path, "r", claim(**RICH))
    out = tmp_path / "out-r"
    html = (out / "report.html").read_text()
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(script|link|iframe)\b", html, re.IGNORECASE)
    srcs = re.findall(r"<img[^>]*\ssrc='([^']*)'", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(srcs) == len(list((out / "figures").glob("*.png")))
    assert html.index("<table>") < html.index("T1: Funding raises capability")  # the summary table first
    doc = _claims_json(out)
    assert doc["quick"] is False and doc["mode"] == "full"
    rec = doc["claims"][0]
    for k in ("id", "statement", "metric", "direction", "threshold", "effect", "ci_low", "ci_high", "n", "verdict",
              "conditions", "mechanism_off"):
        assert k in rec
    assert rec["verdict"] in ("supported", "contradicted", "negligible", "undetermined")
    assert rec["mechanism_off"]["verdict"] in ("supported", "contradicted", "negligible", "undetermined")
    mod = rec["conditions"]["moderators"][0]["outcomes"][0]
    assert len(mod["effect"]) == 2 and mod["sentence"].startswith("T1, mean_capacity")
    md = (out / "report.md").read_text()
    assert "QUICK" not in md and "| T1 |" in md


def test_quick_claim_through_the_command_line(tmp_path):
    f = write(tmp_path / "q.yaml", claim(**RICH))
    out = tmp_path / "q-out"
    p = subprocess.run([sys.executable, str(REPO / "run.py"), "claims", "--quick", "--file", str(f), "--out", str(out),
                        "--workers", "2"], cwd=REPO, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL, check=False)
    assert p.returncode == 0, p.stderr
    assert "QUICK RUN" in p.stdout and "1 claim (" in p.stdout
    doc = _claims_json(out)
    assert doc["quick"] is True and doc["mode"] == "quick" and "QUICK RUN" in doc["notice"]
    assert doc["claims"][0]["design"]["replications"] == 3 and doc["claims"][0]["design"]["cities"] == 100
    assert "QUICK RUN" in (out / "report.md").read_text().splitlines()[0]
    html = (out / "report.html").read_text()
    assert html.count("QUICK RUN") >= 2
    figs = sorted(x.name for x in (out / "figures").glob("*.png"))
    assert "summary.png" in figs and "T1_mean_capacity_over_time.png" in figs and "T1_conditions_0.png" in figs
    # published into documentation: summary and effects figures beside it, every image link resolves
    from analysis.claims.report import _main as publish_main

    dest = tmp_path / "docs" / "claims_report.md"
    dest.parent.mkdir()
    assert publish_main(["--publish", str(out), str(dest)]) == 0
    text = dest.read_text()
    assert "QUICK" in text.splitlines()[2] and "--publish" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((dest.parent / x).is_file() for x in links), links
    assert sorted(x.name for x in (dest.parent / "claims_report_figures").iterdir()) == ["T1_effects.png", "summary.png"]
    assert "T1_conditions_0.png" in text  # named, not linked
    command = next(line for line in text.splitlines() if line.startswith("Command:"))
    assert str(tmp_path) not in command and "--out DIR" in command  # no directory of this machine
    assert command.endswith("`.") or "`" not in command  # the stamp's quoting survives
    assert publish_main(["--publish", str(tmp_path / "none"), str(dest)]) == 2


# ================================================================================ the app's Claims page
def test_claims_page_logic_runs_both_arms_on_common_seeds(tmp_path):
    from analysis.server import claims_page as CP

    f = write(tmp_path / "c.yaml", claim())
    seen = []
    res = CP.run_claim_arms(f, seeds=3, quick=True, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6) and res["seeds"] == replication_seeds(3, 3)
    assert res["runs"]["control"]["mean_capacity"].shape == (3, 8)
    x = res["outcomes"][0]
    assert x["verdict"] == "supported" and x["effect"].n == 3
    pngs = CP.result_figures(res)
    assert len(pngs) == 2 and all(p[:4] == b"\x89PNG" for p in pngs)
    assert "supported" in CP.result_table(res)
    # a finished claims.json opens; a wrong file is a readable error
    _run(tmp_path, "j", claim())
    doc = CP.read_claims_json(tmp_path / "out-j" / "claims.json")
    assert "T1" in CP.claims_json_html(doc) and CP.claims_json_figure(doc)[:4] == b"\x89PNG"
    (tmp_path / "x.json").write_text("{}")
    for bad in (tmp_path / "x.json", tmp_path / "none.json"):
        with pytest.raises(Exception, match=str(bad)):
            CP.read_claims_json(bad)
    assert set(CP.claim_choices()) == {f"{p.claim}: {p.spec.title}" for p in load_claims(quick=True)}
    # a claim with worlds runs in the world picked; the heading says which
    from analysis.claims import CLAIMS_DIR

    assert CP.claim_worlds(CLAIMS_DIR / "C4b.yaml") == ["synthetic", "real"] and CP.claim_worlds(f) == []


def test_claims_page_renders_and_runs_in_the_background(tmp_path):
    solara = pytest.importorskip("solara")
    import time

    import ipyvuetify as v
    import ipywidgets

    from analysis.server import claims_page as CP

    f = write(tmp_path / "c.yaml", claim())
    before = (CP.claim_pick.value, CP.claim_seeds.value)  # the page's shared state, put back at the end
    CP.CHOICES["T1: test claim"] = f
    CP.claim_pick.set("T1: test claim")
    CP.claim_seeds.set(2)
    CP.claim_result.set(None)
    try:
        _run_the_page(CP, solara, v, ipywidgets, time)
    finally:
        CP.CHOICES.pop("T1: test claim")
        CP.claim_pick.set(before[0])
        CP.claim_seeds.set(before[1])
        CP.claim_result.set(None)


def _run_the_page(CP, solara, v, ipywidgets, time):

    @solara.component
    def Page():
        with solara.Columns([1, 1]):
            CP.ClaimsControls(None)
            CP.ClaimsFigures(None)

    _box, rc = solara.render(Page(), handle_error=False)
    rc.find(v.Btn, children=["Run both arms"]).widget.click()
    deadline = time.time() + 60
    while time.time() < deadline and len(rc.find(ipywidgets.Image).widgets) < 2:
        time.sleep(0.2)
    assert len(rc.find(ipywidgets.Image).widgets) == 2
    assert CP.claim_result.value["plan"].id == "T1"
    rc.close()


def test_differences_lists_the_leaves_in_which_two_scenarios_differ():
    from model.loading import differences

    a = {"x": 1, "n": {"y": 2, "z": [1, 2]}, "l": [{"k": 1, "j": 0}], "iv": [1]}
    b = {"x": 1, "n": {"y": 3, "z": [1, 2]}, "l": [{"k": 1, "j": 5}], "iv": [1, 2], "new": 0}
    assert [p for p, *_ in differences(a, b)] == ["n.y", "l.0.j", "iv", "new"]
    assert list(differences(a, a)) == []


# the contrast of each shipped claim, every default filled in: its stated lever and nothing else
SHIPPED_CONTRASTS = {
    "C1": ["networks.founding_rate"], "C1b": ["resources.gamma"],
    "C4a": ["interventions"], "C4b": ["interventions"], "C4c": ["interventions"],
    "C2": ["networks.invitation_share"],
    "C3": ["networks.initial", "networks.founding_rate", "networks.demand_rate"],
    "C4": ["interventions"], "C5": ["interventions"], "C6": ["interventions"], "C8": ["interventions"],
    "C7": [f"issues.{i}.funder_appeal" for i in (0, 1, 2, 3, 4, 6, 7, 8)],  # health's appeal is already 1.0
}


@pytest.mark.parametrize("quick", [True, False])
def test_shipped_claims_arms_differ_only_in_their_lever(quick):
    """A control arm written as a whole table (C7's issues) once also changed every issue's co-benefit
    to its default; the resolved arms must differ in the claim's lever alone."""
    got = {p.id: p.arm_differences() for p in load_claims(quick=quick)}
    # in the real world, the world without networks (C3's control) also drops the catalogue, the interventions
    # that need networks (100 Resilient Cities' end, the extended services of 2020-2021) and the facts about them
    want = {f"{cid}@{w}": list(v) for cid, v in SHIPPED_CONTRASTS.items() for w in ("synthetic", "real")}
    want["C3@real"] += ["networks.catalogue", "interventions.1.active", "interventions.3.active", "calibration"]
    assert got == want
