"""Errors all at once: a file with several mistakes is reported in one message (a first line naming the
file and the count, then one line per problem), a misspelt key says `did you mean ...?`, and a file
with one mistake keeps its one-line message."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run as cli
from model.config import ScenarioError
from model.loading import ScenarioErrors, load_scenario

POOL_KEYS = ("efficiency_gain, gamma, growth, mobilisation, n_funders, overhead, pool, regional_funders, "
             "secretariat_scale, sponsor_exclusivity, sponsor_exit, sponsor_share")
THREE = """\
name: three
steps: 0
resources:
  poool: 50
interventions:
  - kind: pandemic
    start: 1990
    params: {budget_cut: 2}
"""


def test_three_mistakes_in_one_message(tmp_path, capsys):
    f = tmp_path / "three.yaml"
    f.write_text(THREE)
    assert cli.main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: {f}: 3 problems",
        "  steps: must be >= 1 (got 0)",
        f"  resources.poool: unknown field; expected one of: {POOL_KEYS}; did you mean pool?",
        "  interventions.0.params.budget_cut: must be <= 1 (got 2)",
    ]
    assert cli.main(["run", str(f), "--out", str(tmp_path / "out")]) == 2  # run refuses the same, at once
    assert capsys.readouterr().err.startswith(f"error: {f}: 3 problems\n")
    assert not (tmp_path / "out").exists()


def test_a_problem_caused_by_a_flag_names_the_flag(tmp_path):
    f = tmp_path / "two.yaml"
    f.write_text("name: two\ncities:\n  n: many\n")
    with pytest.raises(ScenarioErrors) as e:
        load_scenario(f, overrides=cli._parse_sets(["resources.pool=-1"]))
    assert str(e.value).splitlines() == [
        f"{f}: 2 problems",
        "  cities.n: 'many' was read as text; expected a whole number",
        "  --set resources.pool=-1: must be >= 0 (got -1)",
    ]
    back = pickle.loads(pickle.dumps(e.value))  # crosses to and from worker processes
    assert str(back) == str(e.value) and len(back.problems) == 2


def test_one_mistake_keeps_its_one_line_message(tmp_path, capsys):
    f = tmp_path / "one.yaml"
    f.write_text("name: one\nsteps: 0\n")
    assert cli.main(["check", str(f)]) == 2
    assert capsys.readouterr().err == f"error: {f}: steps: must be >= 1 (got 0)\n"
    with pytest.raises(ScenarioError) as e:
        load_scenario({"resources": {"pol": 1}}, source="s.yaml")
    assert not isinstance(e.value, ScenarioErrors)
    assert str(e.value) == f"s.yaml: resources.pol: unknown field; expected one of: {POOL_KEYS}; did you mean pool?"


def test_did_you_mean_in_flags_kinds_and_nowhere_close():
    with pytest.raises(ScenarioError, match=r"--set resources\.mobilization=1: unknown field 'mobilization' in "
                                            r"resources; expected one of: .*; did you mean mobilisation\?$"):
        load_scenario(None, overrides=cli._parse_sets(["resources.mobilization=1"]))
    with pytest.raises(ScenarioError, match=r"interventions\.0\.kind: unknown kind 'pandemik'; .*did you mean "
                                            r"pandemic\? \(a kind of your own: --plugin FILE, docs/plugins\.md\)$"):
        load_scenario({"interventions": [{"kind": "pandemik", "start": 1990}]})
    with pytest.raises(ScenarioError) as e:
        load_scenario({"zzzzzz": 1})
    assert str(e.value).endswith("expected one of: " + str(e.value).split("expected one of: ")[1]) and \
        "did you mean" not in str(e.value)


def test_a_sweep_file_lists_its_problems_too(tmp_path, capsys):
    f = tmp_path / "sweep.yaml"
    f.write_text("replicates: 3\nreplications: 0\nparameters:\n  resources.pool: [1, 2]\n")
    assert cli.main(["check", str(f)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"error: {f}: 2 problems"
    assert lines[1] == "  replications: must be >= 1 (got 0)"
    assert lines[2].startswith("  replicates: unknown field; expected one of: ") and \
        lines[2].endswith("did you mean replications?")
