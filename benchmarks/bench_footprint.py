"""The memory estimate (model/footprint.py) against measured peaks: how it was calibrated.

    python benchmarks/bench_footprint.py            # every case below (a few minutes)
    python benchmarks/bench_footprint.py --only baseline world_scale

Each case runs `python run.py run SCENARIO --out DIR --quiet --set ...` as a child process (with
`--memory-limit 1000`, so that the estimate does not refuse it) and reads the child's peak resident
set size as benchmarks/bench_memory.py does (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss). It prints
the estimate, the measured peak and their ratio, and writes benchmarks/results/footprint.json. The
estimate must lie above every peak (ratio > 1) and should stay below about 2.5 times it; the cases
stress one term of the estimate each. Exit code 1 when some estimate is below its peak.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = {
    "tiny": ("scenarios/baseline.yaml", ["cities.n=10", "steps=1", "networks.initial=0"]),
    "baseline": ("scenarios/baseline.yaml", []),
    "remedies": ("scenarios/remedies.yaml", []),
    "world_scale": ("scenarios/world_scale.yaml", []),
    "history": ("scenarios/history.yaml", []),
    "history_small": ("scenarios/history.yaml", ["cities.min_population=1000000"]),
    "cities_200k": ("scenarios/baseline.yaml", ["cities.n=200000", "steps=2"]),
    "issues_30": ("scenarios/baseline.yaml", ["cities.n=20000", "steps=3", "issues=[" + ",".join(
        f"{{name: i{j}}}" for j in range(30)) + "]"]),
    "founders": ("scenarios/baseline.yaml", ["cities.n=20000", "steps=2", "networks.initial=2000",
                                             "networks.founders=300", "networks.max_networks=4000"]),
    "networks_3000": ("scenarios/baseline.yaml", ["cities.n=5000", "steps=12", "networks.founding_rate=250",
                                                  "networks.max_networks=5000"]),
    "cities_only": ("scenarios/baseline.yaml", ["cities.n=200000", "steps=2", "cities.attention_max=1",
                                                "membership.candidates=0"]),
    "city_issues": ("scenarios/baseline.yaml", ["cities.n=100000", "steps=2", "cities.attention_max=1",
                                                "membership.candidates=0", "issues=[" + ",".join(
                                                    f"{{name: i{j}}}" for j in range(30)) + "]"]),
    "founders_2m": ("scenarios/baseline.yaml", ["cities.n=20000", "steps=1", "networks.initial=1000",
                                                "networks.founders=2000", "networks.max_networks=4000",
                                                "spillover.horizontal=false"]),
    "networks_no_links": ("scenarios/baseline.yaml", ["cities.n=5000", "steps=12", "networks.founding_rate=250",
                                                      "networks.max_networks=5000", "spillover.horizontal=false"]),
    "reviews": ("scenarios/baseline.yaml", ["cities.n=40000", "steps=2", "membership.candidates=100",
                                            "cities.attention_max=60", "membership.review_rate=1.0"]),
}

_WRAPPER = r"""
import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print(json.dumps({"rc": rc, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure(scenario: str, sets: list[str]) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="bench_footprint_"))
    cmd = [sys.executable, "run.py", "run", scenario, "--out", str(tmp / "out"), "--quiet", "--memory-limit", "1000"]
    for s in sets:
        cmd += ["--set", s]
    try:
        p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if r["rc"] != 0:
            raise RuntimeError(f"{scenario} {sets}: exit {r['rc']}: {p.stderr[-1500:]}")
        return r["maxrss_kib"] * 1024.0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    from model import footprint
    from model.loading import load_scenario, parse_overrides

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="cases to run (default: all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "footprint.json"))
    a = ap.parse_args(argv)
    rows, ok = [], True
    for name, (scenario, sets) in CASES.items():
        if a.only and name not in a.only:
            continue
        cfg = load_scenario(ROOT / scenario, overrides=parse_overrides(sets))
        est = footprint.estimate(cfg)
        peak = measure(scenario, sets)
        ratio = est.total / peak
        ok &= ratio > 1
        rows.append({"case": name, "estimate_mb": round(est.total / 1e6), "peak_mb": round(peak / 1e6),
                     "ratio": round(ratio, 2), "terms_mb": {k: round(v / 1e6) for k, v in est.terms.items()},
                     "sizes": est.sizes})
        print(f"{name:15s} estimate {est.total / 1e6:8.0f} MB  peak {peak / 1e6:8.0f} MB  ratio {ratio:5.2f}  "
              f"largest term: {est.largest()}", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
