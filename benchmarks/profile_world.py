"""Where the time goes in one world-scale run (pyinstrument).

    python benchmarks/profile_world.py                 # top 10 hot spots, scenarios/world_scale.yaml
    python benchmarks/profile_world.py --top 20 --html benchmarks/results/profile.html
    python benchmarks/profile_world.py --set cities.n=10000 --set steps=15

Profiles model construction + run (imports done before the profiler starts; outputs not written),
then prints two tables:
  - self time by function (time spent in the function's own code, numpy calls made directly from
    it included: pyinstrument does not see inside C code, so a line like `np.argsort(...)` counts
    either to the built-in or, when pyinstrument folds it, to the calling function);
  - inclusive time of the model's own functions (model/...), i.e. the phases and their helpers.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def aggregate(root):
    """(self, inclusive) seconds per (file, function, line), from a pyinstrument frame tree."""
    self_t, incl_t = collections.Counter(), collections.Counter()

    def key(f):
        return (f.file_path_short or "", f.function or "", f.line_no or 0)

    def is_library(fp):
        return fp.startswith(("numpy/", "scipy/", "<"))

    def walk(f, parent_key, caller, stack):
        k = key(f)
        if f.is_synthetic:
            k = parent_key  # synthetic frame: its time is the parent's own time
        elif k[0] == "<built-in>" and caller is not None:
            # a C call: name the nearest calling function outside numpy/scipy (e.g. model code)
            k = ("<built-in>", f"{k[1]} <- {caller[1]} ({caller[0]}:{caller[2]})", 0)
        kids = list(f.children)
        own = f.time - sum(c.time for c in kids)
        self_t[k] += own
        if k not in stack and k != parent_key:
            incl_t[k] += f.time
        nxt = k if (k is not None and not is_library(k[0])) else caller
        for c in kids:
            walk(c, k, nxt, stack | {k})

    walk(root, None, None, frozenset())
    return self_t, incl_t


def main(argv=None) -> int:
    from model.allocator import keep_large_arrays_on_the_heap

    keep_large_arrays_on_the_heap()  # as the command line does (model/allocator.py)
    from pyinstrument import Profiler

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "world_scale.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.001, help="sampling interval (s)")
    ap.add_argument("--html", default=None, help="also write pyinstrument's HTML report here")
    a = ap.parse_args(argv)

    from model import CityDiplomacyModel, load_scenario
    from model.loading import parse_value

    ov = {}
    for s in a.set:
        k, v = s.split("=", 1)
        ov[k.strip()] = parse_value(v)
    cfg = load_scenario(a.scenario, overrides=ov)
    CityDiplomacyModel.from_scenario(load_scenario(a.scenario, overrides=ov | {"cities.n": 200, "steps": 2})).run()  # warm-up

    prof = Profiler(interval=a.interval)
    t = time.perf_counter()
    prof.start()
    m = CityDiplomacyModel.from_scenario(cfg)
    t_c = time.perf_counter() - t
    m.run()
    prof.stop()
    wall = time.perf_counter() - t
    session = prof.last_session
    total = session.duration
    self_t, incl_t = aggregate(session.root_frame())

    print(f"{cfg.name}: {cfg.cities.n:,} cities, {cfg.steps} steps; construction {t_c:.2f} s, total {wall:.2f} s "
          f"under the profiler ({session.sample_count} samples)")
    print(f"\nTop {a.top} by self time")
    print(f"  {'s':>6} {'%':>5}  function  (file:line)")
    for (fp, fn, ln), v in self_t.most_common(a.top):
        where = "" if fp == "<built-in>" else f"  ({fp}:{ln})"
        print(f"  {v:6.2f} {100 * v / total:5.1f}  {fn}{where}")
    print("\nModel functions by inclusive time (>= 1%)")
    for (fp, fn, ln), v in incl_t.most_common():
        if (fp.startswith("model/") or "/model/" in fp) and v >= 0.01 * total:
            print(f"  {v:6.2f} {100 * v / total:5.1f}  {fn}  ({fp}:{ln})")
    if a.html:
        Path(a.html).parent.mkdir(parents=True, exist_ok=True)
        Path(a.html).write_text(prof.output_html())
        print(f"\nwrote {a.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
