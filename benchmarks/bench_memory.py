"""Peak-memory benchmark of the whole world-scale command line run.

    python benchmarks/bench_memory.py                  # scenarios/world_scale.yaml, limit 1536 MiB
    python benchmarks/bench_memory.py --repeat 2       # report the largest peak of 2 runs
    python benchmarks/bench_memory.py --scenario scenarios/baseline.yaml --set steps=5

Runs `python run.py run SCENARIO --out DIR --quiet` as a child process (DIR a fresh temporary
directory, removed afterwards) and reads the child's peak resident set size from
resource.getrusage(RUSAGE_CHILDREN).ru_maxrss (kilobytes on Linux). The peak covers everything the
command does: imports, construction, the run, and writing the outputs and figures. Each run is a
fresh `python -c` wrapper process, so the figure is the peak of that one command alone. Prints
PASS/FAIL against 1536 MiB (1.5 GiB), writes benchmarks/results/memory.json, and exits 0 on PASS,
1 on FAIL (or when the command itself fails).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 1536.0

# A tiny wrapper: run the command as its own child and print that child's peak RSS, so that
# RUSAGE_CHILDREN covers exactly one command (not earlier runs of this benchmark).
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "maxrss_kib": ru.ru_maxrss, "wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime}))
"""


def measure(python: str, scenario: str, sets: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    out = tmp / "out"
    cmd = [python, "run.py", "run", scenario, "--out", str(out), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    try:
        p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
        if p.returncode != 0 or not p.stdout.strip():
            raise RuntimeError(f"wrapper failed ({p.returncode}): {p.stderr[-2000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        files = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file()) if out.exists() else []
        r["outputs"] = len(files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r["cmd"] = " ".join(["python", *cmd[1:3], scenario, "--out", "DIR", "--quiet", *(f"--set {s}" for s in sets)])
    r["peak_mib"] = r["maxrss_kib"] / 1024.0
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="scenarios/world_scale.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed on to run.py")
    ap.add_argument("--repeat", type=int, default=1, help="runs; the largest peak is reported")
    ap.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    ap.add_argument("--python", default=sys.executable, help="interpreter for run.py (default: this one)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "memory.json"))
    a = ap.parse_args(argv)
    if platform.system() != "Linux":
        print("warning: ru_maxrss is read as KiB (Linux); on macOS it is bytes", file=sys.stderr)

    runs = []
    for i in range(max(1, a.repeat)):
        r = measure(a.python, a.scenario, a.set)
        runs.append(r)
        status = "ok" if r["rc"] == 0 else f"EXIT {r['rc']}"
        print(f"  run {i + 1}: peak RSS {r['peak_mib']:.0f} MiB, {r['wall_s']:.1f} s wall, "
              f"{r['user_s'] + r['sys_s']:.1f} s CPU, {r['outputs']} output files ({status})", flush=True)
    peak = max(r["peak_mib"] for r in runs)
    failed = any(r["rc"] != 0 for r in runs)
    verdict = "FAIL" if failed or peak > a.limit_mib else "PASS"
    print(f"{runs[0]['cmd']}")
    print(f"  peak RSS {peak:.0f} MiB ({peak / 1024:.2f} GiB)  limit {a.limit_mib:.0f} MiB  "
          f"({100 * peak / a.limit_mib:.0f}% of the limit)  -> {verdict}"
          + ("  [the command failed]" if failed else ""))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "scenario": a.scenario, "sets": a.set, "limit_mib": a.limit_mib,
                               "peak_mib": peak, "verdict": verdict, "runs": runs}, indent=2))
    print(f"wrote {out}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
