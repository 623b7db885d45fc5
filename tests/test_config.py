"""Scenario validation (model/config.py, model/loading.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import pytest

from model.config import ScenarioError
from model.loading import load_scenario


def _err(overrides=None, path=None):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path, overrides=overrides)
    return ei.value


def test_config_defaults_valid():
    cfg = load_scenario(None)
    assert cfg.issue_names[0] == "climate" and "peace" in cfg.issue_names
    assert cfg.end_year == cfg.start_year + cfg.steps - 1


def test_config_unknown_key_override():
    e = _err({"resources.poool": 1})
    assert e.path == "resources.poool"
    assert "unknown field" in e.message


def test_config_unknown_key_in_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("resources:\n  pool: 10\n  poool: 1\n")
    e = _err(path=f)
    assert e.path == "resources.poool"
    assert e.source == str(f)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_config_nan_override(value):
    e = _err({"resources.pool": value})
    assert e.path == "resources.pool"
    assert "finite" in e.message


def test_config_nan_in_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("knowledge:\n  production: .nan\n")
    assert _err(path=f).path == "knowledge.production"


@pytest.mark.parametrize("key, value", [
    ("resources.gamma", -1.0),
    ("networks.convergence", 1.5),
    ("cities.n", 5),
    ("spillover.up_threshold_practice", -0.1),
    ("membership.review_rate", 2),
])
def test_config_out_of_range(key, value):
    assert _err({key: value}).path == key


def test_config_rule_shares_over_one():
    e = _err({"networks.invitation_share": 0.5, "networks.competitive_share": 0.3, "networks.threshold_share": 0.3})
    assert e.path == "networks"
    assert "at most 1" in e.message
    # exactly 1 is fine
    load_scenario(None, overrides={"networks.invitation_share": 0.5, "networks.competitive_share": 0.2,
                                   "networks.threshold_share": 0.3})


def test_config_pop_range_and_duplicate_issues():
    assert _err({"cities.pop_min": 1e6, "cities.pop_max": 1e5}).path == "cities"
    assert _err({"issues": [{"name": "a"}, {"name": "a"}]}).path == "issues"
    assert _err({"issues": [{"name": "a"}, {"name": "Bad Name"}]}).path == "issues.1.name"


def test_config_bad_yaml_files(tmp_path):
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    assert "empty" in _err(path=empty).message
    lst = tmp_path / "l.yaml"
    lst.write_text("- 1\n- 2\n")
    assert "mapping" in _err(path=lst).message
    assert "not found" in _err(path=tmp_path / "missing.yaml").message
    evil = tmp_path / "x.yaml"
    evil.write_text("seed: !!python/object/apply:os.system ['true']\n")
    assert "not allowed" in _err(path=evil).message


def test_config_overrides_apply():
    cfg = load_scenario(None, overrides={"resources__pool": 50, "networks.convergence": 0.25})
    assert cfg.resources.pool == 50 and cfg.networks.convergence == 0.25
