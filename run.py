"""Command line of the city-diplomacy model: `python run.py COMMAND ...` (see `--help`).

Exit codes: 0 success; 2 the user's input is wrong (one message naming file, field and what is
expected); 1 an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

EXIT_USER = 2


class UserError(Exception):
    """Wrong input from the user: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one readable line, exit 2
        raise UserError(f"{self.prog}: {message} (see: {self.prog} --help)")


def _parse_sets(pairs: list[str] | None) -> dict:
    from model.loading import parse_overrides

    return parse_overrides(pairs, source="--set")


def _check_workers(workers: int | None, flag: str = "--workers"):
    if workers is not None and workers < 1:
        raise UserError(f"{flag} {workers}: expected a whole number >= 1")


def _progress(total: int, quiet: bool, desc: str):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="step", disable=disable, leave=False, dynamic_ncols=True)


# ------------------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    import yaml

    from model import ScenarioError, load_scenario

    overrides = _parse_sets(args.set)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.steps is not None:
        overrides["steps"] = args.steps
    cfg = load_scenario(args.scenario, overrides=overrides)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"{cfg.name}-{stamp}"
    _check_out(out)
    from analysis.outputs import write_run
    from model.api import run_scenario

    bar = _progress(cfg.steps, args.quiet, cfg.name)
    try:
        res = run_scenario(cfg, keep_model=not args.no_figures, progress=lambda m: bar.update(1))
    except ScenarioError as e:  # raised by an intervention when it starts: name the file too
        if e.source:
            raise
        raise ScenarioError(str(args.scenario), e.path, e.message) from None
    finally:
        bar.close()
    write_run(res, out, resolved=yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
              figures=not args.no_figures)
    if not args.quiet:
        print(f"wrote {out} ({cfg.steps} steps, {cfg.cities.n} cities, {res.runtime_s:.1f} s)")
    return 0


def _check_out(out: Path):
    """--out must be a new or empty directory whose nearest existing parent is a writable directory."""
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out}: is an existing file; expected a new or empty directory")
        if any(out.iterdir()):
            raise UserError(f"--out {out}: already exists and is not empty; choose a new directory or remove it")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--out {out}: {parent} is a file, not a directory; expected a directory path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {parent} is not writable; choose another directory")


def cmd_calibrate(args) -> int:
    from analysis.calibration import DEFAULT_SCENARIO, calibrate

    if args.replications < 1:
        raise UserError(f"--replications {args.replications}: expected at least 1")
    _check_workers(args.workers)
    out = Path(args.out) if args.out else Path("results") / f"calibration-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    _check_out(out)
    table = calibrate(args.scenario or DEFAULT_SCENARIO, out, replications=args.replications,
                      workers=args.workers, quiet=args.quiet)
    if not args.quiet:
        print(f"wrote {out}: {int(table['within_tolerance'].sum())} of {len(table)} facts within tolerance")
    return 0


def cmd_sweep(args) -> int:
    from analysis.sweep import SweepAborted, load_sweep, run_sweep

    _check_workers(args.workers)
    if args.workers is not None and (args.scheduler or args.scheduler_file):
        raise UserError(f"--workers {args.workers}: applies to local worker processes; with --scheduler or "
                        "--scheduler-file the cluster's workers run the sweep")
    if args.scheduler_file and not Path(args.scheduler_file).is_file():
        raise UserError(f"--scheduler-file {args.scheduler_file}: file not found")
    sw = load_sweep(args.file)
    try:
        run_sweep(sw, args.out, workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
                  quiet=args.quiet, retry_failed=args.retry_failed)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        raise
    except SweepAborted as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_claims(args) -> int:
    from analysis.claims import load_claims
    from analysis.claims.runner import run_claims
    from analysis.sweep import SweepAborted

    _check_workers(args.workers)
    if args.workers is not None and (args.scheduler or args.scheduler_file):
        raise UserError(f"--workers {args.workers}: applies to local worker processes; with --scheduler or "
                        "--scheduler-file the cluster's workers run the claims")
    if args.scheduler_file and not Path(args.scheduler_file).is_file():
        raise UserError(f"--scheduler-file {args.scheduler_file}: file not found")
    only = None
    if args.only is not None:
        only = [x.strip() for x in args.only.split(",") if x.strip()]
        if not only:
            raise UserError(f"--only {args.only!r}: expected claim ids separated by commas, e.g. C1,C3")
    plans = load_claims(args.file, only=only, quick=args.quick)
    out = Path(args.out) if args.out else Path("results") / ("claims-quick" if args.quick else "claims")
    flags = (["--quick"] if args.quick else []) + ([f"--only {','.join(only)}"] if only else [])
    flags += [f"--file {f}" for f in args.file or []] + [f"--out {out}"]
    command = " ".join(["python run.py claims", *flags])
    try:
        run_claims(plans, out, workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
                   quiet=args.quiet, command=command)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        raise
    except SweepAborted as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args) -> int:
    import yaml

    from model.loading import load_scenario

    if _is_sweep_file(args.file):
        from analysis.sweep import check_text

        if args.set:
            raise UserError("check --set applies to scenario files; fix a sweep's overrides in its `set` section")
        sys.stdout.write(check_text(args.file))
        return 0
    cfg = load_scenario(args.file, overrides=_parse_sets(args.set))
    sys.stdout.write(f"# {args.file}: valid scenario\n")
    sys.stdout.write(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return 0


def _is_sweep_file(path) -> bool:
    from analysis.sweep.spec import is_sweep_data
    from model.config import ScenarioError
    from model.loading import read_yaml

    try:
        return is_sweep_data(read_yaml(path))
    except ScenarioError:
        return False  # reported by the scenario loader


def cmd_schema(args) -> int:
    from model.config import Scenario

    if args.kind == "sweep":
        from analysis.sweep.spec import json_schema

        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.kind == "claim":
        from analysis.claims.spec import json_schema as claim_schema

        print(json.dumps(claim_schema(), indent=2))
        return 0
    from model.interventions import scenario_json_schema

    print(json.dumps(scenario_json_schema(Scenario), indent=2))
    return 0


def cmd_serve(args) -> int:
    """Start the browser app (analysis/server/app.py: Mesa's SolaraViz, served by `solara run`) until Ctrl-C."""
    import importlib.util

    from model.loading import load_scenario

    root = Path(__file__).resolve().parent
    scenario = Path(args.scenario) if args.scenario else root / "scenarios" / "baseline.yaml"
    load_scenario(scenario)  # a wrong file: one message and exit 2 before any server starts
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: expected a port number from 1 to 65535 (0: any free port)")
    if importlib.util.find_spec("solara") is None:
        raise UserError("serve needs solara (a dependency of this project): pip install -e . (see README)")
    env = dict(os.environ)
    env["CITYDIP_SCENARIO"] = str(scenario.resolve())
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no usage reports: the app works offline
    env.setdefault("MPLBACKEND", "Agg")
    cmd = [sys.executable, "-m", "solara", "run", str(root / "analysis" / "server" / "app.py"), "--host", args.host,
           "--port", str(args.port), "--production", "--no-open", "--no-check-version"]
    print(f"serving {scenario} on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    if os.name == "posix":  # become the server: signals (Ctrl-C, kill) reach it directly
        os.execve(sys.executable, cmd, env)
    import subprocess

    return subprocess.call(cmd, env=env)


def build_parser() -> Parser:
    p = Parser(prog="run.py", description="City diplomacy: an agent-based model of international city networks.")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    r = sub.add_parser("run", help="run one scenario and write its outputs")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("--out", help="output directory (default results/<name>-<timestamp>/); must be new or empty")
    r.add_argument("--seed", type=int, help="seed (overrides the file)")
    r.add_argument("--steps", type=int, help="number of yearly steps (overrides the file)")
    r.add_argument("--set", action="append", metavar="dotted.key=VALUE", help="override a field, e.g. --set resources.pool=50 (repeatable)")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    r.set_defaults(func=cmd_run)
    sw = sub.add_parser("sweep", help="run a batch sweep (grid, paired, lhs, sobol, morris) here or on a Dask cluster")
    sw.add_argument("file", help="sweep YAML file (docs/sweeps.md)")
    sw.add_argument("--out", help="output directory (default results/sweeps/<name>/); re-running into it resumes")
    sw.add_argument("--workers", type=int, help="local worker processes (default: the cores; 1: in this process)")
    sched = sw.add_mutually_exclusive_group()
    sched.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    sched.add_argument("--scheduler-file", metavar="FILE", help="Dask scheduler file (dask scheduler --scheduler-file F)")
    sw.add_argument("--retry-failed", action="store_true", help="run again the runs listed in failed.jsonl")
    sw.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    sw.set_defaults(func=cmd_sweep)
    cl = sub.add_parser("claims", help="test the literature's claims C1-C8 from runs (docs/claims.md)")
    cl.add_argument("--quick", action="store_true", help="fewer replications and a smaller world (minutes; not for citing)")
    cl.add_argument("--only", metavar="IDS", help="only these claims, e.g. C1,C3")
    cl.add_argument("--file", action="append", metavar="CLAIM.yaml",
                    help="run this claim file instead of scenarios/claims/*.yaml (repeatable)")
    cl.add_argument("--out", help="output directory (default results/claims/ or results/claims-quick/); re-running "
                    "into it resumes")
    cl.add_argument("--workers", type=int, help="local worker processes (default: the cores; 1: in this process)")
    csched = cl.add_mutually_exclusive_group()
    csched.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    csched.add_argument("--scheduler-file", metavar="FILE", help="Dask scheduler file")
    cl.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    cl.set_defaults(func=cmd_claims)
    cal = sub.add_parser("calibrate", help="run the historical scenario with N seeds and compare it with the calibration facts")
    cal.add_argument("--scenario", help="scenario with a calibration section (default scenarios/history.yaml)")
    cal.add_argument("--out", help="output directory (default results/calibration-<timestamp>/)")
    cal.add_argument("--replications", type=int, default=10, help="number of seeds (default 10)")
    cal.add_argument("--workers", type=int, help="worker processes (default: the number of cores)")
    cal.add_argument("--quiet", action="store_true")
    cal.set_defaults(func=cmd_calibrate)
    c = sub.add_parser("check", help="validate a scenario or sweep file and print what it resolves to")
    c.add_argument("file")
    c.add_argument("--set", action="append", metavar="dotted.key=VALUE")
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("schema", help="print the JSON Schema of the file formats")
    s.add_argument("kind", nargs="?", default="scenario", choices=["scenario", "sweep", "claim"])
    s.set_defaults(func=cmd_schema)
    sv = sub.add_parser("serve", help="explore and compare runs in the browser (Mesa SolaraViz server)",
                        description="Start the browser app: watch a run, change levers, compare two runs. "
                        "Works offline. Stop it with Ctrl-C.")
    sv.add_argument("scenario", nargs="?", help="scenario YAML file to start with (default scenarios/baseline.yaml)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only). 0.0.0.0 exposes the app "
                    "to every machine that can reach this one: anyone can then run models on it, with no password")
    sv.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    from model.allocator import keep_large_arrays_on_the_heap
    from model.config import ScenarioError

    keep_large_arrays_on_the_heap()  # faster large runs (model/allocator.py); this process only
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USER
        return args.func(args)
    except (UserError, ScenarioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

