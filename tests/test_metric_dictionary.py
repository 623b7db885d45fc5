"""The metric dictionary (model/metric_dictionary.py) covers exactly the metrics the model writes, and
every metric a run produces lies in the range the dictionary states."""

from __future__ import annotations

import numpy as np
import pytest

from model import metric_dictionary as D
from model.loading import load_scenario
from model.metrics import metric_names
from model.model import CityDiplomacyModel


@pytest.mark.parametrize("issues", [load_scenario(None).issue_names, ["water", "peace", "x_1"]])
def test_dictionary_covers_exactly_the_metric_names(issues):
    names = metric_names(issues)
    entries = D.for_issues(issues)
    assert [m.name for m in entries] == names
    # and no entry of the dictionary is left unused (a metric removed from the model must leave it too)
    used = {m.name for m in D.ENTRIES if not m.name.endswith(D.ISSUE)}
    assert used <= set(names)
    for prefix in D.FAMILIES:
        assert any(n.startswith(prefix) for n in names), prefix
    for m in entries:
        assert m.title and m.meaning and m.unit and m.odd
        assert "\n" not in m.meaning and D.ISSUE not in m.meaning + m.title
        if m.low is not None and m.high is not None:
            assert m.low < m.high


def test_unknown_names_are_not_guessed():
    with pytest.raises(KeyError):
        D.describe("bogus_metric")
    with pytest.raises(KeyError):
        D.describe("theme_share_")
    assert D.get("step") is None
    assert D.describe("theme_share_climate").meaning.endswith("climate.")


def test_table_has_one_row_per_metric():
    issues = load_scenario(None).issue_names
    tab = D.table(issues)
    assert list(tab.columns) == ["name", "title", "meaning", "unit", "low", "high", "odd_section"]
    assert tab["name"].tolist() == metric_names(issues)
    assert tab.loc[tab["name"] == "nonmember_access", "high"].isna().all()
    assert (tab.loc[tab["name"] == "fragmentation_index", ["low", "high"]].to_numpy() == [[0, 1]]).all()


def test_clip_keeps_values_in_range():
    m = D.describe("fragmentation_index")
    assert m.clip(-0.2) == 0.0 and m.clip(1.3) == 1.0 and m.clip(0.4) == 0.4
    assert np.isnan(m.clip(float("nan")))
    assert D.describe("n_networks").clip(1e9) == 1e9


def test_a_run_stays_inside_the_stated_ranges():
    cfg = load_scenario(None, overrides={"cities.n": 300, "steps": 12, "networks.initial": 15})
    m = CityDiplomacyModel.from_scenario(cfg)
    m.run()
    ts = m.timeseries()
    for meta in D.for_issues(cfg.issue_names):
        x = ts[meta.name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]  # NaN: not defined (the flows of the initial state; non-member access without a closed network)
        if meta.low is not None:
            assert (x >= meta.low - 1e-12).all(), meta.name
        if meta.high is not None:
            assert (x <= meta.high + 1e-12).all(), meta.name
