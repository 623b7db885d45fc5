"""Further contrasts between a claim's four arms (`also`), levels against the literature (`levels`), one
metric over several windows and parts of a claim (`part_of`): analysis/claims/spec.py and evaluate.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

import run as cli
from analysis.claims.evaluate import level_distance, level_verdict
from analysis.claims.plan import load_claim
from analysis.claims.runner import run_claims
from tests.support import assert_user_error, claim, write


def _run(tmp_path, name, data):
    f = write(tmp_path / f"{name}.yaml", data)
    return run_claims([load_claim(f)], tmp_path / f"out-{name}", quiet=True, workers=1)


def test_level_verdict_and_distance_by_hand():
    assert level_verdict(0.01, 0.04, 0.05) == "supported"
    assert level_verdict(0.06, 0.09, 0.05) == "contradicted"
    assert level_verdict(0.03, 0.07, 0.05) == "undetermined"
    assert level_verdict(float("nan"), 0.01, 0.05) == "undetermined"
    # two metrics, two replications: sqrt(((0.3-0.29)^2 + (0.1-0.11)^2) / 2) = 0.01; sqrt((0.04^2 + 0) / 2)
    d = level_distance({"a": np.array([0.30, 0.33]), "b": np.array([0.10, 0.11])}, {"a": 0.29, "b": 0.11})
    assert d == pytest.approx([0.01, 0.04 / np.sqrt(2)])


def test_also_contrasts_are_differences_of_the_arms_and_levels_are_judged(tmp_path):
    also = [{"name": "ceiling", "label": "the mechanism removed, no treatment", "treatment": "control_off",
             "control": "control"},
            {"name": "mine", "label": "the treatment against itself with the mechanism off",
             "treatment": "treatment", "control": "treatment_off"}]
    levels = [{"name": "near", "label": "capability near its own level", "arm": "treatment", "years": [1984, 1987],
               "reference": {"mean_capacity": 0.0}, "tolerance": 5.0, "source": "a test"},
              {"name": "far", "label": "capability far from 10", "arm": "control", "years": [1984, 1987],
               "reference": {"mean_capacity": 10.0, "share_unaffiliated": 10.0}, "tolerance": 0.5,
               "source": "a test"}]
    res = _run(tmp_path, "a", claim(also=also, levels=levels))[0]
    rec, plan = res.record, res.plan
    y = {k: np.nanmean(res.series(plan.find(*a), "mean_capacity")[:, 4:8], axis=1)
         for k, a in {"t": ("main", "treatment"), "c": ("main", "control"),
                      "to": ("off", "treatment"), "co": ("off", "control")}.items()}
    ceiling, mine = rec["also"]
    assert ceiling["outcomes"][0]["effect"] == pytest.approx(np.mean(y["co"] - y["c"]), abs=1e-12)
    assert mine["outcomes"][0]["effect"] == pytest.approx(np.mean(y["t"] - y["to"]), abs=1e-12)
    assert mine["outcomes"][0]["verdict"] in ("supported", "negligible", "undetermined", "contradicted")
    near, far = rec["levels"]
    assert near["distance"] == pytest.approx(np.mean(y["t"]), abs=1e-12) and near["verdict"] == "supported"
    assert far["verdict"] == "contradicted" and far["distance"] > 5
    assert [m["metric"] for m in far["metrics"]] == ["mean_capacity", "share_unaffiliated"]


def test_one_metric_over_two_windows_is_two_outcomes(tmp_path):
    outcomes = [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.002, "years": [1982, 1983]},
                {"metric": "mean_capacity", "direction": "increase", "threshold": 0.002, "years": [1984, 1987]}]
    res = _run(tmp_path, "w", claim(outcomes=outcomes, part_of="C0"))
    rec = res[0].record
    assert [o["name"] for o in rec["outcomes"]] == ["mean_capacity 1982-1983", "mean_capacity 1984-1987"]
    assert rec["outcomes"][0]["effect"] != rec["outcomes"][1]["effect"]
    assert rec["part_of"] == "C0"
    out = tmp_path / "out-w"
    assert (out / "figures" / "T1_mean_capacity_1982-1983_over_time.png").exists()
    assert "Part of C0" in (out / "report.md").read_text()
    doc = json.loads((out / "claims.json").read_text())
    assert doc["claims"][0]["outcomes"][1]["name"] == "mean_capacity 1984-1987"


@pytest.mark.parametrize("fields, field, expected", [
    ({"also": [{"name": "x", "label": "y", "treatment": "control", "control": "control"}]}, "also.0",
     "two different arms"),
    ({"also": [{"name": "x", "label": "y", "treatment": "both", "control": "control"}]}, "also.0.treatment",
     "treatment_off"),
    ({"levels": [{"name": "x", "label": "y", "years": [1984, 1987], "reference": {"mean_capacityy": 0.2},
                  "tolerance": 0.1, "source": "s"}]}, "levels.0.reference.mean_capacityy", "mean_capacity"),
    ({"levels": [{"name": "x", "label": "y", "years": [1984, 2087], "reference": {"mean_capacity": 0.2},
                  "tolerance": 0.1, "source": "s"}]}, "levels.0.years", "outside the run's years"),
    ({"outcomes": [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.1, "years": [1984, 1987]}] * 2},
     "", "listed twice over 1984-1987"),
])
def test_bad_contrasts_and_levels_exit_2(tmp_path, capsys, fields, field, expected):
    f = write(tmp_path / "bad.yaml", claim(**fields))
    rc = cli.main(["claims", "--file", str(f), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert_user_error(rc, err, "bad.yaml", field, expected)


def test_claims_tab_shows_parts_further_contrasts_and_levels(tmp_path):
    from analysis.server.claims_page import claims_json_html, read_claims_json

    also = [{"name": "ceiling", "label": "the mechanism removed at no cost", "treatment": "control_off",
             "control": "control"}]
    levels = [{"name": "lit", "label": "capability as the texts report", "years": [1984, 1987],
               "reference": {"mean_capacity": 0.0}, "tolerance": 5.0, "source": "a test"}]
    _run(tmp_path, "t", claim(also=also, levels=levels, part_of="C0"))
    html = claims_json_html(read_claims_json(tmp_path / "out-t" / "claims.json"))
    assert "(part of C0)" in html
    assert "ceiling: the mechanism removed at no cost" in html
    assert "level: capability as the texts report" in html and "tolerance of 5" in html
