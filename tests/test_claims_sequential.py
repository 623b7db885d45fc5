"""Replications until decided, multiplicity and the integrity of a claims directory (docs/claims.md).

- the schedule of looks and the confidence of each look;
- the whole sequential procedure, simulated: with a true effect exactly at the threshold no decided
  verdict may come out more than 5% of the time (any decided verdict there means the interval missed
  the truth), and with no effect neither supported nor contradicted may (error rates);
- the p-value of a verdict agrees with the verdict at the procedure's level; Holm on a hand-computed
  family;
- a claim that is undetermined after its first look gets more replications (the next seeds of the same
  SeedSequence, so a block is paired with the first), and stops at its cap;
- integrity: a threshold edited after the runs started is refused (naming the change) and, with an
  amendment reason, recorded in claims.json and the report; a refused resume leaves every finished
  file byte-identical; a run into a directory that holds other claims is refused, and a run of all of
  them adds the new one.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analysis.claims.plan import load_claim
from analysis.claims.runner import run_claims
from analysis.claims.statistics import (
    holm,
    look_confidence,
    looks,
    mean_interval,
    replications_needed,
    rng_for,
    t_interval,
    verdict_p,
)
from analysis.claims.verdict import DECIDED, verdict
from model.config import ScenarioError
from model.randomness import replication_seeds
from tests.support import claim as base_claim
from tests.support import write

BASELINE = REPO / "scenarios" / "baseline.yaml"


def claim(**fields) -> dict:
    """The tiny claim (tests/support.py) as S1, with a cap of 16 replications."""
    return base_claim(**{"id": "S1", "max_replications": 16, **fields})


# ================================================================================ looks
def test_schedule_of_looks_and_their_confidence():
    assert looks(20, 160) == [20, 40, 80, 160]
    assert looks(20, 100) == [20, 40, 80, 100]
    assert looks(20, 20) == [20]
    assert looks(5, 12) == [5, 10, 12]
    assert look_confidence(1) == pytest.approx(0.95)
    assert look_confidence(4) == pytest.approx(0.9875)


def _procedure(rng, mu, sd, threshold, schedule, interval):
    """The sequential rule as the runner applies it: look at each scheduled n at confidence 1 - 0.05/K; stop at
    the first decided verdict or at the cap."""
    conf = look_confidence(len(schedule))
    d = rng.normal(mu, sd, schedule[-1])
    for n in schedule:
        lo, hi = interval(d[:n], conf)
        v = verdict(lo, hi, threshold, "increase")
        if v in DECIDED:
            return v, n
    return v, schedule[-1]


def _t(d, conf):
    return t_interval(d, conf)


@pytest.mark.parametrize("mu, wrong", [(0.1, set(DECIDED)),                 # at the threshold: any decision errs
                                       (0.0, {"supported", "contradicted"})])  # no effect
def test_sequential_procedure_keeps_its_error_rate(mu, wrong):
    """2,000 simulated claims with looks 20, 40, 80, 160 and sd chosen so that many go on past the first look.
    The lab's interval is the wider of the bootstrap and this t interval, so it errs at most as often as the
    t interval simulated here (a decision that the wider interval makes, the t interval makes too)."""
    rng = np.random.default_rng(11)
    sims = 2000
    errors, ns = 0, []
    for _ in range(sims):
        v, n = _procedure(rng, mu, 0.25, 0.1, [20, 40, 80, 160], _t)
        errors += v in wrong
        ns.append(n)
    rate = errors / sims
    se = (0.05 * 0.95 / sims) ** 0.5
    assert rate <= 0.05 + 3 * se, rate
    assert len(set(ns)) > 1  # the procedure does go on past the first look


def test_naive_looks_at_95_percent_would_err_too_often():
    """The reason for the split: the same procedure with a 95% interval at every look errs more than 5% of the
    time at the threshold (if this ever passed, the test above would test nothing)."""
    rng = np.random.default_rng(12)
    sims, errors = 2000, 0
    for _ in range(sims):
        d = rng.normal(0.1, 0.25, 160)
        for n in (20, 40, 80, 160):
            lo, hi = t_interval(d[:n], 0.95)
            if verdict(lo, hi, 0.1, "increase") in DECIDED:
                errors += 1
                break
    assert errors / sims > 0.055


@pytest.mark.slow
def test_sequential_procedure_with_the_labs_interval():
    """The same with the lab's own interval (bootstrap and t): fewer simulations, so a wider tolerance."""
    rng = np.random.default_rng(13)
    sims, errors = 200, 0
    for i in range(sims):
        v, _ = _procedure(rng, 0.1, 0.25, 0.1, [20, 40, 80, 160],
                          lambda d, conf, i=i: mean_interval(d, rng_for("sim", str(i)), conf))
        errors += v in DECIDED
    assert errors / sims <= 0.05 + 3 * (0.05 * 0.95 / sims) ** 0.5


# ================================================================================ p-values and Holm
def test_verdict_p_agrees_with_the_verdict_at_the_procedures_level():
    rng = np.random.default_rng(4)
    for i in range(40):
        d = rng.normal(rng.uniform(-0.2, 0.2), rng.uniform(0.02, 0.3), 20)
        for K in (1, 4):
            lo, hi = mean_interval(d, rng_for("p", str(i)), look_confidence(K))
            v = verdict(lo, hi, 0.05, "increase")
            p = verdict_p(d, ("p", str(i)), 0.05, "increase", K)
            assert (p <= 0.05) == (v in DECIDED), (i, K, v, p)
            if v in DECIDED:  # a smaller level than p no longer decides it, p itself (just) does
                lo2, hi2 = mean_interval(d, rng_for("p", str(i)), 1 - p / K)
                assert verdict(lo2, hi2, 0.05, "increase") == v


def test_holm_on_a_hand_computed_family():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2]) == [0.2]
    assert holm([0.6, 0.6]) == [1.0, 1.0]
    # Bonferroni would drop the second (0.02 x 3 > 0.05); Holm keeps it (0.02 x 2 = 0.04)
    adj = holm([0.001, 0.02, 0.3])
    assert adj[1] == pytest.approx(0.04) and adj[1] <= 0.05


def test_replications_needed_from_the_spread():
    # point effect 0.011 in the predicted direction, threshold 0.01: distance 0.001 to +delta; sd 0.01;
    # z at 98.75% two-sided = 2.4977 -> n = (2.4977 x 0.01 / 0.001)^2 = 623.9 -> 624
    assert replications_needed(0.011, 0.01, 0.01, "increase", 0.9875) == 624
    assert replications_needed(-0.011, 0.01, 0.01, "decrease", 0.9875) == 624
    assert replications_needed(0.01, 0.01, 0.01, "increase", 0.9875) is None  # on the threshold
    assert replications_needed(0.02, None, 0.01, "increase", 0.95) is None


# ================================================================================ blocks
def test_an_undetermined_claim_gets_more_replications_paired_with_the_first(tmp_path):
    # a threshold at the point effect of the first look leaves the primary undetermined there (the interval
    # reaches across it), whatever the model's effect is
    first = run_claims([load_claim(write(tmp_path / "a.yaml", claim(max_replications=4)))], tmp_path / "first",
                       quiet=True, workers=1, write=False)[0].record
    assert first["sequential"]["looks"] == [4]
    e = first["effect"]
    f = write(tmp_path / "c.yaml", claim(outcomes=[{"metric": "mean_capacity",
                                                     "direction": "increase" if e > 0 else "decrease",
                                                     "threshold": abs(e), "years": [1984, 1987]}]))
    plan = load_claim(f)
    assert plan.looks == [4, 8, 16]
    res = run_claims([plan], tmp_path / "out", quiet=True, workers=1)[0]
    rec = res.record
    seq = rec["sequential"]
    assert seq["n_used"] > 4 and rec["n"] == seq["n_used"]
    assert rec["confidence"] == pytest.approx(1 - 0.05 / 3)
    blocks = sorted(p.name for p in (tmp_path / "out" / "sweeps").iterdir())
    assert blocks[0] == "S1" and "S1-r4" in blocks
    # the block runs the next seeds of the same SeedSequence
    man = json.loads((tmp_path / "out" / "sweeps" / "S1-r4" / "manifest.json").read_text())
    assert man["seeds"] == replication_seeds(3, 8)[4:8]
    # moderators and the like keep the first look's replications; the contrast's four arms go on
    ctrl = plan.find("main", "control")
    assert np.isfinite(res.runs[("main", ctrl.point)]["mean_capacity"]).all(axis=1).sum() == seq["n_used"]
    if rec["verdict"] == "undetermined":
        assert seq["n_used"] == 16 and "cap" in seq["stopped"] and rec["replications_needed"]
    else:
        assert "decided" in seq["stopped"]


def test_a_quick_run_has_one_look(tmp_path):
    f = write(tmp_path / "c.yaml", claim(quick={"replications": 3, "set": {"cities.n": 100}},
                                         outcomes=[{"metric": "mean_capacity", "direction": "increase",
                                                    "threshold": 0.5, "years": [1984, 1987]}]))
    plan = load_claim(f, quick=True)
    assert plan.looks == [3]
    rec = run_claims([plan], tmp_path / "q", quiet=True, workers=1, write=False)[0].record
    assert rec["sequential"]["n_used"] == 3 and rec["confidence"] == pytest.approx(0.95)


def test_a_cap_below_the_first_look_is_refused(tmp_path):
    f = write(tmp_path / "c.yaml", claim(max_replications=3))
    with pytest.raises(ScenarioError, match="max_replications"):
        load_claim(f)
    g = write(tmp_path / "g.yaml", claim())
    with pytest.raises(ScenarioError, match="--max-replications"):
        load_claim(g, max_replications=2)


# ================================================================================ integrity
def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and ".lock" not in p.name}


def test_an_edited_threshold_is_refused_and_leaves_every_file_as_it_was(tmp_path):
    f = write(tmp_path / "c.yaml", claim())
    out = tmp_path / "out"
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    before = _digest(out)
    assert {"claims.json", "report.md", "report.html", "registry.json"} <= set(before)
    write(f, claim(outcomes=[{"metric": "mean_capacity", "direction": "increase", "threshold": 0.004,
                              "years": [1984, 1987]}]))
    with pytest.raises(ScenarioError) as e:
        run_claims([load_claim(f)], out, quiet=True, workers=1)
    assert e.value.path == "outcomes.0.threshold" and "0.002 then, 0.004 now" in e.value.message
    assert "--amend" in e.value.message
    assert _digest(out) == before  # nothing finished deleted or changed by the refusal


def test_an_amendment_is_recorded_in_claims_json_and_the_report(tmp_path):
    f = write(tmp_path / "c.yaml", claim())
    out = tmp_path / "out"
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    write(f, claim(outcomes=[{"metric": "mean_capacity", "direction": "increase", "threshold": 0.004,
                              "years": [1984, 1987]}]))
    rec = run_claims([load_claim(f)], out, quiet=True, workers=1, amend="restated in the metric's units")[0].record
    (am,) = rec["amendments"]
    assert am["reason"] == "restated in the metric's units"
    assert am["changes"] == [{"field": "outcomes.0.threshold", "old": 0.002, "new": 0.004}]
    doc = json.loads((out / "claims.json").read_text())
    assert doc["claims"][0]["amendments"][0]["changes"][0]["new"] == 0.004
    md = (out / "report.md").read_text()
    assert "Amendments" in md and "outcomes.0.threshold: 0.002 -> 0.004" in md
    # the amended promise is the one in force now: the same file resumes without a flag
    again = run_claims([load_claim(f)], out, quiet=True, workers=1)[0].record
    assert len(again["amendments"]) == 1


def test_a_resume_into_the_same_directory_writes_the_same_bytes(tmp_path):
    f = write(tmp_path / "c.yaml", claim())
    out = tmp_path / "out"
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    first = (out / "claims.json").read_bytes()
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    assert (out / "claims.json").read_bytes() == first
    # the outcomes as a table a spreadsheet opens: one row per outcome and contrast
    import pandas as pd

    t = pd.read_csv(out / "outcomes.csv")
    doc = json.loads(first)
    assert list(t["contrast"]) == ["claim", "mechanism_off", "mechanism_part"]
    assert t.loc[0, "effect"] == pytest.approx(doc["claims"][0]["effect"])
    assert t.loc[0, "verdict_adjusted"] == doc["claims"][0]["verdict_adjusted"]


def test_one_directory_holds_every_claim_run_into_it(tmp_path):
    a = write(tmp_path / "a.yaml", claim())
    b = write(tmp_path / "b.yaml", claim(id="S2", arms={"control": {"set": {"resources.pool": 60}},
                                                         "treatment": {"set": {"resources.pool": 400}}}))
    out = tmp_path / "out"
    run_claims([load_claim(a)], out, quiet=True, workers=1)
    before = _digest(out)
    with pytest.raises(ScenarioError) as e:  # S2 alone would replace S1's report
        run_claims([load_claim(b)], out, quiet=True, workers=1)
    assert "S1" in e.value.message and "--only S1,S2" in e.value.message
    assert _digest(out) == before
    res = run_claims([load_claim(a), load_claim(b)], out, quiet=True, workers=1)  # both: S2 is added
    doc = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["S1", "S2"]
    assert [r.record["family"] for r in res] == [["S1", "S2"]] * 2  # Holm over the run's primaries


def test_the_report_says_which_code_made_the_runs(tmp_path):
    f = write(tmp_path / "c.yaml", claim())
    out = tmp_path / "out"
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    prov = json.loads((out / "claims.json").read_text())["provenance"]
    (made,) = prov["runs_made_by"]
    assert made["source_sha256"] == prov["source_sha256"] and made["sweeps"] == 1
    assert "made by other model code" not in (out / "report.md").read_text()
    # a sweep resumed with other code (--allow-code-change) records the code it started with: the report says so
    mpath = out / "sweeps" / "S1" / "manifest.json"
    man = json.loads(mpath.read_text())
    man["code_changes"] = [{"from": {"version": "0.2.2", "source_sha256": "0" * 64}, "to": man["code"]}]
    mpath.write_text(json.dumps(man))
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    prov = json.loads((out / "claims.json").read_text())["provenance"]
    assert prov["runs_made_by"] == [{"version": "0.2.2", "source_sha256": "0" * 64, "sweeps": 1}]
    assert "version 0.2.2, source sha256 000000000000 (1 sweeps)" in (out / "report.md").read_text()


def test_a_claim_goes_on_while_holm_does_not_keep_its_verdict(tmp_path):
    """Four copies of a claim that is supported alone at its first look with 0.05/4 < p <= 0.05: alone it stops
    at 4 replications; in a family of four, Holm does not keep it there, so each goes on to later looks until
    Holm keeps it or the cap is reached (the headline never reads undetermined while looks are left)."""
    # a threshold at which the tiny claim's p-value lies between 0.05/4 and 0.05 (0.017 since 0.4.0's model)
    edge = [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.005, "years": [1984, 1987]}]
    one = run_claims([load_claim(write(tmp_path / "a.yaml", claim(id="A", outcomes=edge)))], tmp_path / "one", quiet=True,
                     workers=1, write=False)[0].record
    assert one["sequential"]["n_used"] == 4 and one["verdict"] == "supported"
    assert 0.05 / 4 < one["p_value"] <= 0.05, ("the tiny claim's p-value at 4 replications no longer lies where "
                                               f"Holm over four drops it ({one['p_value']}): choose another threshold")
    plans = [load_claim(write(tmp_path / f"{i}.yaml", claim(id=i, outcomes=edge))) for i in ("A", "B", "C", "D")]
    recs = [r.record for r in run_claims(plans, tmp_path / "four", quiet=True, workers=1, write=False)]
    for r in recs:
        assert r["sequential"]["n_used"] > 4
        assert r["verdict_adjusted"] != "undetermined" or r["sequential"]["n_used"] == 16
        assert r["family"] == ["A", "B", "C", "D"]
        if r["verdict_adjusted"] != r["verdict"]:
            assert r["through_mechanism_adjusted"] is None and "Holm" in r["sequential"]["stopped"]


def test_runs_without_a_record_of_their_promise_are_refused(tmp_path):
    f = write(tmp_path / "c.yaml", claim())
    out = tmp_path / "out"
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    (out / "registry.json").unlink()  # the record of what S1 promised is gone; its runs are not
    write(f, claim(outcomes=[{"metric": "mean_capacity", "direction": "increase", "threshold": 0.02,
                              "years": [1984, 1987]}]))
    before = _digest(out)
    with pytest.raises(ScenarioError) as e:
        run_claims([load_claim(f)], out, quiet=True, workers=1)
    assert "no record of what S1 promised" in e.value.message and "--amend" in e.value.message
    assert _digest(out) == before
    # another claim alone cannot replace S1's report either
    g = write(tmp_path / "g.yaml", claim(id="S2"))
    with pytest.raises(ScenarioError, match="--only S1,S2"):
        run_claims([load_claim(g)], out, quiet=True, workers=1)
    # with --amend the claim file is registered as it is now, and the report says so
    rec = run_claims([load_claim(f)], out, quiet=True, workers=1, amend="registry lost")[0].record
    assert rec["amendments"][0]["changes"][0]["field"] == "(registered after its runs started)"


def test_an_amendment_that_adds_a_key_is_recorded(tmp_path):
    """A promise that gains a key (a new fixed override) is a change like any other: refused, then recorded with
    --amend, its old value written as absent (the registry stays JSON)."""
    f = write(tmp_path / "c.yaml", claim())
    out = tmp_path / "out"
    run_claims([load_claim(f)], out, quiet=True, workers=1)
    write(f, claim(set={"cities.n": 120, "networks.initial": 8, "resources.growth": 0.0}))
    with pytest.raises(ScenarioError, match="--amend"):
        run_claims([load_claim(f)], out, quiet=True, workers=1)
    # the runs themselves change with a new override: the sweep refuses even with --amend, and nothing is lost
    before = _digest(out)
    with pytest.raises(ScenarioError):
        run_claims([load_claim(f)], out, quiet=True, workers=1, amend="a new override")
    assert _digest(out) == before
    from analysis.claims.runner import ABSENT, _changes

    assert _changes({"set": {"a": 1}}, {"set": {"a": 1, "b": 2}}) == [{"field": "set.b", "old": ABSENT, "new": 2}]
