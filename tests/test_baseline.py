"""Fixed-seed baseline regression (in the style of Covasim's baseline test).

Two pinned runs (`PINNED`), each repeated and every final metric compared with its recorded value
(relative tolerance 1e-6):
- `baseline`, in tests/baseline.json: the baseline scenario as shipped (scenarios/baseline.yaml, 2,000
  cities, 45 yearly steps, seed 1; no overrides);
- `remedies`, in tests/baseline_remedies.json: scenarios/remedies.yaml (a cross-network platform,
  secretariat exchange, city-first governance, open knowledge, and a pandemic with networks extending
  services) at 800 cities, its own seed 1: the interventions' and the shock's code paths pinned too
  (as Covasim pins a run with interventions "to increase coverage").
A failure prints which metrics changed, by how much, and which appeared or disappeared. When a change
is intended, regenerate the files:

    python -m tests.test_baseline --regenerate              (from the repository root; every pinned run)
    python -m tests.test_baseline --regenerate remedies     (one of them)

and commit them with the change. `python -m tests.test_baseline` alone prints the comparisons.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HERE = Path(__file__).resolve().parent
BASELINE_FILE = HERE / "baseline.json"
# What the baseline runs: edit here, then regenerate.
SCENARIO = "scenarios/baseline.yaml"
OVERRIDES: dict = {}
# Every pinned run: name -> (file, scenario, overrides). Edit here, then regenerate that run.
PINNED: dict[str, tuple[Path, str, dict]] = {
    "baseline": (BASELINE_FILE, SCENARIO, OVERRIDES),
    "remedies": (HERE / "baseline_remedies.json", "scenarios/remedies.yaml", {"cities.n": 800}),
}
RTOL = 1e-6
ATOL = 1e-10  # for metrics that are (nearly) zero
DIGITS = 10  # significant digits stored


def _round(v: float) -> float:
    return float(f"{v:.{DIGITS}g}")


def compute(scenario: str = SCENARIO, overrides: dict | None = None) -> tuple[dict, dict]:
    """Run the baseline; return (settings, final metrics)."""
    from model.api import run_scenario

    res = run_scenario(REPO / scenario, overrides=dict(overrides or {}), tables=False)
    cfg = res.scenario
    settings = {"scenario": scenario, "overrides": dict(overrides or {}), "seed": cfg.seed, "steps": cfg.steps,
                "cities": cfg.cities.n}
    return settings, res.final


def differences(expected: dict[str, float], got: dict[str, float], rtol: float = RTOL, atol: float = ATOL):
    """(changed [(metric, baseline, now)], missing metrics, new metrics)."""
    changed = []
    for k, e in expected.items():
        if k in got:
            g = got[k]
            if not ((math.isnan(e) and math.isnan(g)) or abs(g - e) <= rtol * abs(e) + atol):
                changed.append((k, e, g))
    return changed, [k for k in expected if k not in got], [k for k in got if k not in expected]


def compare(expected: dict[str, float], got: dict[str, float], rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """Readable lines for every difference, largest relative change first (empty: identical within tolerance)."""
    changed, missing, new = differences(expected, got, rtol, atol)
    lines = []
    if changed:
        rel = {k: ((g - e) / abs(e) if e != 0 else math.inf) for k, e, g in changed}
        w = max(6, max(len(k) for k, _, _ in changed))
        lines.append(f"  {'metric':<{w}}  {'baseline':>16}  {'now':>16}  {'change':>10}")
        for k, e, g in sorted(changed, key=lambda t: -abs(rel[t[0]])):
            ch = f"{100 * rel[k]:+.4g}%" if math.isfinite(rel[k]) else "from 0"
            lines.append(f"  {k:<{w}}  {e:>16.10g}  {g:>16.10g}  {ch:>10}")
    if missing:
        lines.append(f"  metrics no longer produced: {', '.join(missing)}")
    if new:
        lines.append(f"  new metrics (not in the baseline): {', '.join(new)}")
    return lines


def report(stored: dict, got: dict) -> str:
    changed, missing, new = differences(stored["metrics"], got, stored["rtol"], stored["atol"])
    head = (f"baseline regression: {len(changed)} of {len(stored['metrics'])} metrics changed beyond rtol "
            f"{stored['rtol']:g}, {len(missing)} missing, {len(new)} new "
            f"({stored['scenario']}, seed {stored['seed']}, {stored['steps']} steps, {stored['cities']} cities)")
    tail = "If the change is intended, regenerate: python -m tests.test_baseline --regenerate"
    return "\n".join([head] + compare(stored["metrics"], got, stored["rtol"], stored["atol"]) + [tail])


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True,
                             timeout=10, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def regenerate(name: str = "baseline") -> dict:
    path, scenario, overrides = PINNED[name]
    settings, metrics = compute(scenario, overrides)
    data = {
        "about": "Fixed-seed baseline regression; compared by tests/test_baseline.py. "
                 f"Regenerate with: python -m tests.test_baseline --regenerate {name}",
        **settings,
        "rtol": RTOL,
        "atol": ATOL,
        "generated_at_commit": _git_commit(),
        "metrics": {k: _round(v) for k, v in metrics.items()},
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def load(name: str = "baseline") -> dict:
    return json.loads(PINNED[name][0].read_text())


# ------------------------------------------------------------------------------------ tests
def _check(name: str):
    import pytest

    stored = load(name)
    settings, got = compute(stored["scenario"], stored["overrides"])
    keys = ("seed", "steps", "cities")
    assert {k: settings[k] for k in keys} == {k: stored[k] for k in keys}, \
        "the scenario file changed its seed, steps or size; regenerate the baseline"
    diff = compare(stored["metrics"], got, stored["rtol"], stored["atol"])
    if diff:
        msg = report(stored, got)
        print(msg)
        pytest.fail(msg, pytrace=False)


def test_baseline_regression():
    _check("baseline")


def test_remedies_regression():
    """The second pinned run: remedies and a pandemic (tests/baseline_remedies.json)."""
    _check("remedies")


def _complete(name: str):
    from model.loading import load_scenario
    from model.metrics import metric_names

    path, scenario, overrides = PINNED[name]
    stored = load(name)
    assert stored["scenario"] == scenario and stored["overrides"] == overrides, \
        f"{path.name} is not for this test's run: regenerate it (python -m tests.test_baseline --regenerate {name})"
    names = metric_names(load_scenario(REPO / stored["scenario"]).issue_names)
    assert list(stored["metrics"]) == names
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in stored["metrics"].values())


def test_baseline_file_is_complete():
    _complete("baseline")


def test_remedies_file_is_complete():
    _complete("remedies")
    assert {iv.kind for iv in _scenario("remedies").interventions} >= {"pandemic", "cross_network_platform"}


def _scenario(name: str):
    from model.loading import load_scenario

    _, scenario, overrides = PINNED[name]
    return load_scenario(REPO / scenario, overrides=dict(overrides))


def test_compare_reports_changes():
    exp = {"a": 1.0, "b": 0.0, "c": 2.0, "gone": 1.0}
    got = {"a": 1.0 + 1e-9, "b": 0.5, "c": 2.1, "new": 3.0}
    lines = compare(exp, got)
    text = "\n".join(lines)
    assert "a " not in text.replace("metric", "")  # within tolerance
    assert "  c " in text and "+5%" in text
    assert "  b " in text and "from 0" in text
    assert "gone" in text and "new" in text
    assert compare(exp, dict(exp)) == []


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m tests.test_baseline", description=__doc__.splitlines()[0])
    ap.add_argument("--regenerate", action="store_true",
                    help="rewrite the pinned runs' files (tests/baseline*.json) from the current model")
    ap.add_argument("runs", nargs="*", metavar="RUN",
                    help=f"pinned runs to compare or regenerate (default: all of {', '.join(PINNED)})")
    a = ap.parse_args()
    unknown = [r for r in a.runs if r not in PINNED]
    if unknown:
        ap.error(f"unknown pinned run(s) {', '.join(unknown)}; expected some of {', '.join(PINNED)}")
    runs = a.runs or list(PINNED)
    if a.regenerate:
        for r in runs:
            d = regenerate(r)
            print(f"wrote {PINNED[r][0].relative_to(REPO)}: {len(d['metrics'])} metrics "
                  f"({d['scenario']}, seed {d['seed']}, {d['steps']} steps, {d['cities']} cities)")
        sys.exit(0)
    failed = False
    for r in runs:
        stored = load(r)
        _, got = compute(stored["scenario"], stored["overrides"])
        diff = compare(stored["metrics"], got, stored["rtol"], stored["atol"])
        print(report(stored, got) if diff else f"{r}: baseline matches ({len(stored['metrics'])} metrics)")
        failed = failed or bool(diff)
    sys.exit(1 if failed else 0)
