"""What several test files share: a tiny claim for the claims lab's tests (tests/test_claims*.py,
tests/test_integrity.py: more funding raises capability, in a world of 120 cities over 8 steps, 1980-1987, so
that a run takes a few hundredths of a second), and the check of a user error on the command line."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.yaml"
TINY = {"cities.n": 120, "networks.initial": 8}


def claim(**fields) -> dict:
    """The tiny claim's mapping, with `fields` replacing its own (supported with its small threshold)."""
    c = {"id": "T1", "title": "Funding raises capability", "statement": "More funding raises capability.",
         "source": "a test", "scenario": str(BASELINE), "set": dict(TINY), "steps": 8, "seed": 3,
         "replications": 4, "quick": {"replications": 3, "set": {"cities.n": 100}},
         "arms": {"control": {"set": {"resources.pool": 30}}, "treatment": {"set": {"resources.pool": 400}}},
         "outcomes": [{"metric": "mean_capacity", "direction": "increase", "threshold": 0.002,
                       "years": [1984, 1987]}],
         "mechanism_off": {"description": "networks produce no knowledge", "set": {"knowledge.production": 0}}}
    c.update(fields)
    return c


def write(path: Path, data: dict) -> Path:
    """The claim as a YAML file at `path`."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def assert_user_error(rc, err, *expect):
    """A user error: exit code 2 and one line 'error: ...' naming what `expect` lists, no traceback."""
    assert rc == 2, (rc, err)
    assert len(err) == 1, err
    assert err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    for s in expect:
        assert s in err[0], (s, err[0])
