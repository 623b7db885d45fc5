"""Benchmark of `run.py claims` (analysis/claims/): wall time, runs per second, sweep overhead per run.

    python benchmarks/bench_claims.py --quick                  # the quick run: 12 claim files in two worlds
    python benchmarks/bench_claims.py                          # the full run (about 7,400 runs at the first look)
    python benchmarks/bench_claims.py --max-minutes 30         # stop the full run after 30 minutes
    python benchmarks/bench_claims.py --quick --only C1,C3 --workers 2

Three measurements, printed and written to benchmarks/results/claims[-quick].json:

1. The claims run as a user starts it: `python run.py claims [--quick] --workers N --quiet` in a
   subprocess (interpreter start and imports included), timed from start to exit; runs per second
   = runs / wall time. With --max-minutes the run is stopped (SIGTERM to the process it started) when
   the time is up; the runs finished by then give the rate and a projected total.
2. The fixed cost beyond the runs: the same command again into the same directory, which resumes
   with nothing to run (loading and checking the claim files, evaluating every claim, bootstraps,
   PRIM, figures, report.md, report.html, claims.json).
3. The sweep's overhead per run against a bare `run_scenario`: a sample of the claims' own design
   points (the first `--sample-points` points of every claim's main sweep, `--sample-reps` seeds each)
   run once bare (`model.api.run_scenario(scenario, seed=...)`, in this process) and once through the
   sweep engine (`run_sweep`, 1 worker, in this process: manifest, each run's table as Parquet,
   results.parquet). Overhead = sweep wall time / bare time - 1, and, measured in the same time window
   (robust to other work on a shared machine), sweep wall time / the runs' own time inside the sweep
   (`run_one`) - 1. Target of the issue: both under 10%.

Targets (judged only for the full run): the full run, replications until decided included, under 60
minutes on 2 cores; sweep overhead per run under 10%. The quick run should finish in under 5 minutes.
Since version 0.3 the number of runs of a full run is known only at its end: the runs of the first
look are counted before it starts (`runs`), the later blocks' runs after it (`runs_done`). Another user's
work on a shared machine slows everything: the load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FULL_MAX_S = 60 * 60
QUICK_MAX_S = 5 * 60
OVERHEAD_MAX = 0.10


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def count_runs(out: Path) -> int:
    return len(list((out / "sweeps").glob("*/runs/*.parquet"))) if (out / "sweeps").exists() else 0


def claims_command(out: Path, quick: bool, only: str | None, workers: int) -> list[str]:
    cmd = [sys.executable, str(ROOT / "run.py"), "claims", "--out", str(out), "--workers", str(workers), "--quiet"]
    if quick:
        cmd.append("--quick")
    if only:
        cmd += ["--only", only]
    return cmd


def timed_run(cmd: list[str], limit_s: float | None) -> tuple[float, int, bool]:
    """(wall seconds, exit code, stopped by the time limit)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        rc = proc.wait(timeout=limit_s)
        return time.perf_counter() - t0, rc, False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the process this benchmark started, by its id
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return time.perf_counter() - t0, proc.returncode, True


def overhead_sample(plans, points: int, reps: int, tmp: Path) -> dict:
    """The same runs bare and through the sweep engine (1 worker, this process)."""
    from analysis.sweep import replication_seeds, run_sweep, sweep_from_points
    from model.api import run_scenario
    from model.loading import load_scenario

    bare_s = sweep_s = model_s = 0.0
    n = 0
    for p in plans:
        sw = p.main
        pts = sw.points[:points]
        sub = sweep_from_points(sw.base, pts, name=f"bench-{p.id}", source=p.source, seed=p.spec.seed,
                                replications=reps, metrics=sw.metrics)
        seeds = replication_seeds(p.spec.seed, reps)
        t0 = time.perf_counter()
        for pt in pts:
            cfg = load_scenario(sw.base, overrides=pt)
            for s in seeds:
                run_scenario(cfg, seed=s, tables=False)
        bare_s += time.perf_counter() - t0
        res = run_sweep(sub, tmp / f"bench-{p.id}", workers=1, quiet=True, analyse=False)
        sweep_s += res.wall_s
        model_s += res.model_s
        n += res.ran
    return {"runs": n, "bare_s": bare_s, "sweep_s": sweep_s, "run_one_s": model_s,
            "bare_per_run_s": bare_s / n, "sweep_per_run_s": sweep_s / n,
            "overhead": sweep_s / bare_s - 1.0, "overhead_same_window": sweep_s / model_s - 1.0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="time the quick run")
    ap.add_argument("--only", help="only these claims, e.g. C1,C3")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop the claims run after this long")
    ap.add_argument("--sample-points", type=int, default=3, help="design points per claim in the overhead sample")
    ap.add_argument("--sample-reps", type=int, default=2, help="replications per point in the overhead sample")
    ap.add_argument("--keep", metavar="DIR", help="write the claims run into DIR (kept) instead of a temporary one")
    args = ap.parse_args(argv)

    from analysis.claims import load_claims

    only = [x for x in (args.only or "").split(",") if x] or None
    plans = load_claims(only=only, quick=args.quick)
    total = sum(p.n_runs for p in plans)
    mode = "quick" if args.quick else "full"
    from analysis.claims.runner import count_text

    print(f"claims benchmark ({mode}): {count_text(plans)}, {total} runs, {args.workers} workers, "
          f"{os.cpu_count()} cores, load {load():.2f}", flush=True)
    out_rec = {"mode": mode, "claims": [p.id for p in plans], "runs": total, "workers": args.workers,
               "cores": os.cpu_count(), "python": platform.python_version(),
               "date": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="bench-claims-") as td:
        tmp = Path(td)
        out = Path(args.keep) if args.keep else tmp / "claims"
        cmd = claims_command(out, args.quick, args.only, args.workers)
        load0 = load()
        limit = args.max_minutes * 60 if args.max_minutes else None
        wall, rc, stopped = timed_run(cmd, limit)
        done = count_runs(out)
        out_rec.update({"wall_s": wall, "exit_code": rc, "stopped": stopped, "runs_done": done,
                        "runs_per_s": done / wall if wall > 0 else float("nan"), "load_before": load0,
                        "load_after": load()})
        if stopped:
            out_rec["projected_wall_s"] = wall * total / max(done, 1)
            print(f"stopped after {wall / 60:.1f} min: {done} of at least {total} runs ({done / wall:.2f} runs/s); "
                  f"projected total at least {out_rec['projected_wall_s'] / 60:.1f} min (later blocks of "
                  "replications not counted)", flush=True)
        else:
            print(f"claims run: {wall:.1f} s wall ({wall / 60:.2f} min), {done} runs ({total} at the first look, "
                  f"{done - total} in later blocks), {done / wall:.2f} runs/s, exit {rc}; load {load0:.2f} -> "
                  f"{load():.2f}", flush=True)
            t2, rc2, _ = timed_run(cmd, None)
            out_rec.update({"fixed_s": t2, "fixed_exit_code": rc2,
                            "runs_per_s_in_sweeps": done / max(wall - t2, 1e-9)})
            print(f"fixed cost (resume with nothing to run: load, evaluate, figures, reports): {t2:.1f} s; "
                  f"runs per second during the sweeps about {done / max(wall - t2, 1e-9):.2f}", flush=True)
        ov = overhead_sample(plans, args.sample_points, args.sample_reps, tmp)
        out_rec["overhead_sample"] = ov
        print(f"sweep overhead per run: {ov['runs']} runs, bare run_scenario {ov['bare_per_run_s'] * 1000:.0f} ms/run, "
              f"through the sweep {ov['sweep_per_run_s'] * 1000:.0f} ms/run: {100 * ov['overhead']:+.1f}% against the "
              f"bare runs; {100 * ov['overhead_same_window']:+.1f}% against the model's own time in the same sweep "
              f"(target < {100 * OVERHEAD_MAX:.0f}%)", flush=True)
    limit_s = QUICK_MAX_S if args.quick else FULL_MAX_S
    ok_time = (not stopped) and rc == 0 and wall < limit_s
    ok_over = max(ov["overhead"], ov["overhead_same_window"]) < OVERHEAD_MAX
    out_rec["targets"] = {"wall_under_s": limit_s, "wall_met": ok_time, "overhead_met": ok_over}
    print(f"targets: wall < {limit_s / 60:.0f} min: {'PASS' if ok_time else 'FAIL'}; overhead < "
          f"{100 * OVERHEAD_MAX:.0f}%: {'PASS' if ok_over else 'FAIL'}")
    res_dir = ROOT / "benchmarks" / "results"
    res_dir.mkdir(exist_ok=True)
    path = res_dir / f"claims{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(out_rec, indent=1, allow_nan=True) + "\n")
    print(f"wrote {path}")
    return 0 if ok_time and ok_over else 1


if __name__ == "__main__":
    sys.exit(main())
