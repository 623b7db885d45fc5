"""Benchmark of `run.py sweep` (analysis/sweep.py): overhead, scaling and the parent's memory.

    python benchmarks/bench_sweep.py                 # full: baseline-sized runs (2,000 cities, 45 steps)
    python benchmarks/bench_sweep.py --quick         # smaller runs, to try it out (targets not judged)
    python benchmarks/bench_sweep.py --repeat 3      # best of 3 for each timing

Three targets of the issue, each printed as a ratio measured in this one invocation:

1. overhead per run beyond the model's own time < 10% for baseline-sized runs. The sweep's time is
   the wall time of `run_sweep` (manifest, dispatch, each run's table as Parquet, results.parquet,
   summary.csv), (a) in this process (`--workers 1`) and (b) with one worker process, whose one-off
   start (process creation, imports) is reported separately and not counted per run. The model's
   own time is measured during that same sweep: the time the runs spent in `run_one` (scenario,
   model, timeseries), so that other work on a shared machine slows both alike. Judged on the
   median over rounds. Also printed: the CPU time of the sweep (this process plus the worker, from
   /proc) against the same runs done alone before it.
2. throughput with 2 local worker processes >= 1.7 x that with 1 worker process (runs per second
   of wall time, the one-off worker start excluded in both). It needs 2 idle cores, and other work
   on a shared machine can only lower it: judged on the best round, the median is printed too,
   and so is the load average of the machine.
3. the parent's memory stays flat as runs finish: 2 workers run many tiny runs (every step, every
   metric) while the parent's resident set size (/proc/self/statm) is sampled after each run; the
   growth from 10% of the runs to the end must stay under 16 MiB (results stream to disk; nothing
   per run is kept in memory).

Writes benchmarks/results/sweep.json; exits 0 if every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.execution import _init_worker, _mp_context, single_threaded_blas
from analysis.sweep import load_sweep, run_sweep
from model.loading import apply_overrides, validate_scenario
from model.model import CityDiplomacyModel

OVERHEAD_MAX = 0.10
SPEEDUP_MIN = 1.7
MEMORY_GROWTH_MAX_MIB = 16.0


def rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sweep_file(d: Path, name: str, points: int, reps: int, cities: int, steps: int, every_step: bool = False,
               metrics="all") -> Path:
    import yaml

    pools = [60 + 20 * i for i in range(points)]
    spec = {"name": name, "scenario": str(ROOT / "scenarios" / "baseline.yaml"), "set": {"cities.n": cities},
            "steps": steps, "seed": 3, "replications": reps, "parameters": {"resources.pool": pools},
            "design": "grid", "record": {"metrics": metrics, "every_step": every_step}}
    f = d / f"{name}.yaml"
    f.write_text(yaml.safe_dump(spec, sort_keys=False))
    return f


def model_time(sw) -> tuple[float, float]:
    """(wall, CPU) seconds of the same runs done directly, in this process (one BLAS thread, as the
    sweep's workers)."""
    limit = single_threaded_blas()
    wall = cpu = 0.0
    try:
        for _rid, _p, _r, params, seed in sw.runs():
            t0, c0 = time.perf_counter(), time.process_time()
            data = json.loads(json.dumps(sw.base))
            apply_overrides(data, {**params, "seed": seed})
            m = CityDiplomacyModel.from_scenario(validate_scenario(data))
            m.run()
            m.timeseries()
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    finally:
        if limit is not None:
            limit.restore_original_limits()
    return wall, cpu


def pool(n: int) -> tuple[ProcessPoolExecutor, float]:
    """n started worker processes (as LocalBackend makes them), and the time their start took."""
    from analysis.execution import _warm

    t0 = time.perf_counter()
    ex = ProcessPoolExecutor(max_workers=n, mp_context=_mp_context(), initializer=_init_worker, initargs=(os.getpid(),))
    for f in [ex.submit(_warm, 0.05) for _ in range(n)]:
        f.result()
    return ex, time.perf_counter() - t0


def proc_cpu(pids) -> float:
    """CPU seconds (user + system) used so far by these processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def timed_sweep(sw, tmp: Path, workers: int) -> dict:
    """Wall and CPU time of run_sweep with `workers` worker processes (0: in this process); the CPU
    time is this process's plus the workers' (after their start)."""
    out = tmp / f"out-{workers}-{time.monotonic_ns()}"
    start = 0.0
    if workers == 0:
        t0, c0 = time.perf_counter(), time.process_time()
        r = run_sweep(sw, out, workers=1, quiet=True, analyse=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        ex, start = pool(workers)
        try:
            pids = list(ex._processes)
            w0 = proc_cpu(pids)
            t0, c0 = time.perf_counter(), time.process_time()
            r = run_sweep(sw, out, executor=ex, workers=workers, quiet=True, analyse=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            cpu += proc_cpu(pids) - w0
        finally:
            ex.shutdown()
    shutil.rmtree(out, ignore_errors=True)
    assert r.finished == sw.n_runs, r
    # r.model_s: the time the runs spent in run_one (scenario + model + timeseries), measured by the
    # workers during this very sweep; the rest of the wall time is what the sweep adds
    return {"wall_s": wall, "cpu_s": cpu, "start_s": start, "runs": sw.n_runs, "run_one_s": r.model_s}


def memory(tmp: Path, runs: int) -> dict:
    sw = load_sweep(sweep_file(tmp, "memory", points=runs // 2, reps=2, cities=100, steps=3, every_step=True))
    samples: list[tuple[int, float]] = []

    def progress(done, failed, total):
        samples.append((done + failed, rss_mib()))

    ex, _ = pool(2)
    try:
        run_sweep(sw, tmp / "memory-out", executor=ex, workers=2, quiet=True, analyse=False, progress=progress)
    finally:
        ex.shutdown()
    after_assembly = rss_mib()
    shutil.rmtree(tmp / "memory-out", ignore_errors=True)
    k = max(1, len(samples) // 10)
    at10 = samples[k - 1][1]
    end = samples[-1][1]
    return {"runs": sw.n_runs, "rss_at_10pct_mib": at10, "rss_at_end_mib": end, "growth_mib": end - at10,
            "rss_max_mib": max(s[1] for s in samples), "rss_after_results_mib": after_assembly}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small runs (500 cities, 20 steps), fewer of them")
    ap.add_argument("--repeat", type=int, default=1, help="repeat each timing; the best is reported")
    ap.add_argument("--runs", type=int, default=12, help="baseline-sized runs per timing (default 12)")
    ap.add_argument("--memory-runs", type=int, default=600, help="tiny runs of the memory check (default 600)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    a = ap.parse_args(argv)
    cities, steps = (500, 20) if a.quick else (2000, 45)
    n = max(4, a.runs - a.runs % 2)
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"bench_sweep: {n} runs of {cities} cities x {steps} steps; cores {os.cpu_count()}; "
          f"load average before {load}", flush=True)
    try:
        sw = load_sweep(sweep_file(tmp, "timing", points=n // 2, reps=2, cities=cities, steps=steps))
        rounds = []
        for i in range(max(1, a.repeat)):
            m, mc = model_time(sw)
            serial = timed_sweep(sw, tmp, 0)
            one = timed_sweep(sw, tmp, 1)
            two = timed_sweep(sw, tmp, 2)
            print(f"  round {i + 1}: model alone {m:.2f} s wall / {mc:.2f} s CPU; sweep in-process {serial['wall_s']:.2f}"
                  f" / {serial['cpu_s']:.2f} (run_one {serial['run_one_s']:.2f}); 1 worker {one['wall_s']:.2f} / "
                  f"{one['cpu_s']:.2f} (run_one {one['run_one_s']:.2f}; +{one['start_s']:.2f} s start); 2 workers "
                  f"{two['wall_s']:.2f} / {two['cpu_s']:.2f} (+{two['start_s']:.2f} s start)", flush=True)
            rounds.append({
                "model_s": m, "model_cpu_s": mc, "serial": serial, "one": one, "two": two,
                # paired: the sweep's wall time against the model's time inside that same sweep
                "overhead_inprocess": serial["wall_s"] / serial["run_one_s"] - 1,
                "overhead_1worker": one["wall_s"] / one["run_one_s"] - 1,
                # unpaired: against the same runs done directly before (disturbed by other work on the machine)
                "overhead_cpu_inprocess_vs_direct": serial["cpu_s"] / mc - 1,
                "overhead_cpu_1worker_vs_direct": one["cpu_s"] / mc - 1,
                "speedup_2v1": one["wall_s"] / two["wall_s"],
            })
        mem = memory(tmp, a.memory_runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(key):
        return statistics.median(r[key] for r in rounds)

    ov_in, ov_one = med("overhead_inprocess"), med("overhead_1worker")
    speed_best, speed_med = max(r["speedup_2v1"] for r in rounds), med("speedup_2v1")
    per_run_ms = 1000 * statistics.median((r["one"]["wall_s"] - r["one"]["run_one_s"]) / n for r in rounds)
    judged = not a.quick
    checks = {
        "overhead_per_run": (max(ov_in, ov_one) < OVERHEAD_MAX,
                             (f"{100 * ov_in:+.1f}% in-process, {100 * ov_one:+.1f}% with 1 worker process "
                              f"({per_run_ms:.0f} ms per run; median of {len(rounds)}); CPU time against the runs "
                              f"done alone: {100 * med('overhead_cpu_inprocess_vs_direct'):+.1f}%, "
                              f"{100 * med('overhead_cpu_1worker_vs_direct'):+.1f}%; target < {100 * OVERHEAD_MAX:.0f}%")),
        "speedup_2_workers": (speed_best >= SPEEDUP_MIN,
                              (f"{speed_best:.2f}x the throughput of 1 worker (best of {len(rounds)}; median "
                               f"{speed_med:.2f}x); target >= {SPEEDUP_MIN}x")),
        "parent_memory_flat": (mem["growth_mib"] < MEMORY_GROWTH_MAX_MIB,
                               (f"{mem['growth_mib']:+.1f} MiB from 10% to 100% of {mem['runs']} runs "
                                f"({mem['rss_at_10pct_mib']:.0f} -> {mem['rss_at_end_mib']:.0f} MiB); "
                                f"target < {MEMORY_GROWTH_MAX_MIB:.0f} MiB")),
    }
    print("results (ratios measured in this run):")
    for k, (ok, text) in checks.items():
        verdict = ("PASS" if ok else "FAIL") if judged else "info"
        print(f"  {k:20s} {text}  -> {verdict}")
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"  load average after {load_after}")
    verdict = "PASS" if all(ok for ok, _ in checks.values()) else "FAIL"
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "mode": "quick" if a.quick else "full",
        "python": platform.python_version(), "cpu_count": os.cpu_count(), "load_before": load, "load_after": load_after,
        "runs": n, "cities": cities, "steps": steps, "start_method": multiprocessing.get_all_start_methods(),
        "overhead_inprocess": ov_in, "overhead_1worker": ov_one, "overhead_ms_per_run": per_run_ms,
        "speedup_2v1_best": speed_best, "speedup_2v1_median": speed_med, "memory": mem, "rounds": rounds,
        "verdict": verdict if judged else "not judged (--quick)",
    }, indent=2, default=float))
    print(f"wrote {out}")
    return 0 if verdict == "PASS" or not judged else 1


if __name__ == "__main__":
    sys.exit(main())
