"""Command line of the city-diplomacy model: `python run.py COMMAND ...` (see `--help`).

Exit codes: 0 success; 2 the user's input is wrong (one message naming file, field and what is
expected); 1 an internal error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import datetime
from pathlib import Path

EXIT_USER = 2


class UserError(Exception):
    """Wrong input from the user: printed as one line, exit code 2."""


class OutputFailed(Exception):
    """Writing the results failed for a reason outside the program (a full disk): one line, exit code 1."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is (a KeyboardInterrupt, so that every clean-up for Ctrl-C runs)."""


def _text(what: str):
    """An argparse type for a text argument that must not be empty (`--out ""` is not the default)."""
    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"an empty value; expected {what}")
        return value
    parse.__name__ = what  # argparse names the type in its own messages
    return parse


PATH, FILE, ADDRESS, HOST = _text("a directory path"), _text("a file path"), _text("an address"), _text("a host name")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one readable line, exit 2
        raise UserError(f"{self.prog}: {message} (see: {self.prog} --help)")


def _parse_sets(pairs: list[str] | None):
    """--set pairs as overrides; each remembers how it was written (errors name `--set key=VALUE`)."""
    from model.loading import parse_overrides

    return parse_overrides(pairs, source="--set")


PLUGIN_HELP = ("load interventions of your own from a Python file or an importable module before the scenario is "
               "read (repeatable; docs/plugins.md)")


def _load_plugins(specs: list[str] | None):
    """--plugin FILE_OR_MODULE, each once, in order (model.interventions.load_plugin): before any scenario
    is read, so that its interventions can name the plug-in's kinds; worker processes get them with each run."""
    from model.interventions import load_plugin

    seen = set()
    for spec in specs or []:
        if spec in seen:
            raise UserError(f"--plugin {spec} is given twice; give each plug-in once")
        seen.add(spec)
        load_plugin(spec)


def _check_workers(workers: int | None, flag: str = "--workers", memory_gb: float | None = None):
    """A whole number >= 1, and no more worker processes than the machine can hold (analysis/execution.py,
    max_workers: 4 x the cores, the memory limit, the process limit)."""
    if workers is not None and workers < 1:
        raise UserError(f"{flag} {workers}: expected a whole number >= 1")
    if workers is not None and workers > 1:
        from analysis.execution import check_workers

        check_workers(workers, flag, _memory_limit(memory_gb))


def _memory_limit(gb: float | None) -> float | None:
    """--memory-limit GB as bytes (None: the default of model/footprint.py)."""
    if gb is None:
        return None
    if not (math.isfinite(gb) and gb > 0):
        raise UserError(f"--memory-limit {gb:g}: expected a positive number of gigabytes, e.g. 16")
    return gb * 1e9


def _check_memory(cfg, source: str, gb: float | None, runs_at_once: int = 1):
    from model.footprint import check

    return check(cfg, source, _memory_limit(gb), runs_at_once=runs_at_once)


def _progress(total: int, quiet: bool, desc: str, unit: str = "step"):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True)


# ------------------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    from model import ScenarioError, load_scenario
    from model.loading import yaml_dump

    overrides = _parse_sets(args.set)
    if args.seed is not None:
        overrides["seed"] = args.seed
        overrides.labels["seed"] = f"--seed {args.seed}"
    if args.steps is not None:
        overrides["steps"] = args.steps
        overrides.labels["steps"] = f"--steps {args.steps}"
    try:
        cfg = load_scenario(args.scenario, overrides=overrides)
    except ScenarioError:
        if _is_sweep_file(args.scenario):  # asked only when the file is no valid scenario
            raise UserError(f"{args.scenario}: is a sweep file, not a scenario; run it with: "
                            f"python run.py sweep {args.scenario}") from None
        raise
    _check_memory(cfg, str(args.scenario), args.memory_limit)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out is not None else Path("results") / f"{cfg.name}-{stamp}"
    _check_out(out, "--out" if args.out is not None else "the default output directory")
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
    from analysis.outputs import disk_full

    writing = _OutputProgress(args.quiet)
    try:
        write_run(res, out, resolved=yaml_dump(cfg.model_dump(mode="json")), figures=not args.no_figures,
                  progress=writing)
    except OSError as e:
        if disk_full(e):
            raise _disk_full(e, out) from None
        raise
    finally:
        writing.close()
    if not args.quiet:
        print(f"wrote {out} ({cfg.steps} steps, {len(res.cities):,} cities, {res.runtime_s:.1f} s)")
    return 0


def _check_out(out: Path, flag: str = "--out"):
    """--out must be a new or empty directory that can be written (analysis/outputs.check_output_dir):
    checked before the run, so that no run is lost to a directory that cannot take its results."""
    from analysis.outputs import check_output_dir

    check_output_dir(out, flag=flag)


def _disk_full(e: OSError, out: Path, resume: str = "") -> OutputFailed:
    return OutputFailed(f"no space left on the device of {out} ({e.strerror}) while writing the results: nothing "
                        f"was lost and nothing half-written is left {resume or 'there'}; free some space and run the "
                        "same command again")
class _OutputProgress:
    """The progress of writing a run's files and figures (after the steps' bar closed): a bar on a
    terminal, nothing otherwise or with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int, what: str):
        if self.bar is None:
            self.bar = _progress(total, self.quiet, "writing", unit="file")
        self.bar.n = done
        self.bar.set_postfix_str(what, refresh=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()



def cmd_calibrate(args) -> int:
    from analysis.calibration import DEFAULT_SCENARIO, MAX_REPLICATIONS, calibrate
    from analysis.outputs import disk_full

    if not 1 <= args.replications <= MAX_REPLICATIONS:
        raise UserError(f"--replications {args.replications}: expected a whole number from 1 to {MAX_REPLICATIONS}")
    _check_workers(args.workers, memory_gb=args.memory_limit)
    out = Path(args.out) if args.out is not None else \
        Path("results") / f"calibration-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    _check_out(out, "--out" if args.out is not None else "the default output directory")
    try:
        table = calibrate(args.scenario if args.scenario is not None else DEFAULT_SCENARIO, out,
                          replications=args.replications, workers=args.workers, quiet=args.quiet,
                          memory_limit=_memory_limit(args.memory_limit))
    except OSError as e:
        if disk_full(e):
            raise _disk_full(e, out) from None
        raise
    if not args.quiet:
        print(f"wrote {out}: {int(table['within_tolerance'].sum())} of {len(table)} facts within tolerance")
    return 0


def _check_backend_flags(args, what: str) -> float | None:
    """The back-end flags of `sweep` and `claims`, checked before anything else (one line, exit 2);
    returns the memory limit in bytes (None: the default)."""
    from analysis.execution import check_scheduler_args

    _check_workers(args.workers, memory_gb=args.memory_limit)
    if args.workers is not None and (args.scheduler or args.scheduler_file):
        raise UserError(f"--workers {args.workers}: applies to local worker processes; with --scheduler or "
                        f"--scheduler-file the cluster's workers run the {what}")
    if not 0 < args.connect_timeout <= 3600:
        raise UserError(f"--connect-timeout {args.connect_timeout:g}: expected a number of seconds above 0 and at most "
                        "3600")
    check_scheduler_args(args.scheduler, args.scheduler_file)
    return _memory_limit(args.memory_limit)


def _resumable(run) -> int:
    """Run a resumable command (`sweep`, `claims`): on SIGTERM or Ctrl-C say that finished runs are kept;
    a run stopped by the machine (disk full) exits 1 with its message."""
    from analysis.sweep import SweepAborted

    try:
        run()
    except Terminated:
        print("terminated: finished runs are kept; run the same command again to resume", file=sys.stderr)
        raise
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        raise
    except SweepAborted as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_sweep(args) -> int:
    from analysis.sweep import load_sweep, run_sweep

    limit = _check_backend_flags(args, "sweep")
    sw = load_sweep(args.file, memory_limit=limit)
    return _resumable(lambda: run_sweep(
        sw, args.out, workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
        quiet=args.quiet, retry_failed=args.retry_failed, allow_code_change=args.allow_code_change,
        connect_timeout=args.connect_timeout, memory_limit=limit))


def cmd_claims(args) -> int:
    from analysis.claims import load_claims
    from analysis.claims.runner import run_claims

    limit = _check_backend_flags(args, "claims")
    only = None
    if args.only is not None:
        if len(args.only) > 1:  # argparse would keep the last one silently
            given = " ".join(f"--only {x}" for x in args.only)
            joined = ",".join(x.strip() for x in args.only if x.strip())
            raise UserError(f"--only is given {len(args.only)} times ({given}); give the claim ids once, separated "
                            f"by commas: --only {joined}")
        text = args.only[0]
        only = [x.strip() for x in text.split(",") if x.strip()]
        if not only:
            raise UserError(f"--only {text!r}: expected claim ids separated by commas, e.g. C1,C3")
        twice = next((x for i, x in enumerate(only) if x in only[:i]), None)
        if twice is not None:
            raise UserError(f"--only {text}: {twice} is listed twice; give each claim id once")
    if args.max_replications is not None and not 2 <= args.max_replications <= 10_000:
        raise UserError(f"--max-replications {args.max_replications}: expected a whole number from 2 to 10000")
    if args.amend is not None and not args.amend.strip():
        raise UserError("--amend: give the reason for the amendment, e.g. --amend \"threshold restated in units of "
                        "the metric\"")
    plans = load_claims(args.file, only=only, quick=args.quick, max_replications=args.max_replications)
    out = Path(args.out) if args.out else Path("results") / ("claims-quick" if args.quick else "claims")
    flags = (["--quick"] if args.quick else []) + ([f"--only {','.join(only)}"] if only else [])
    flags += [f"--file {f}" for f in args.file or []] + [f"--plugin {p}" for p in args.plugin or []] + [f"--out {out}"]
    if args.max_replications is not None:
        flags.append(f"--max-replications {args.max_replications}")
    command = " ".join(["python run.py claims", *flags])
    return _resumable(lambda: run_claims(
        plans, out, workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
        quiet=args.quiet, command=command, allow_code_change=args.allow_code_change,
        connect_timeout=args.connect_timeout, memory_limit=limit,
        out_flag="--out" if args.out else "the default output directory",
        amend=args.amend.strip() if args.amend else None))


def cmd_check(args) -> int:
    from model.loading import load_scenario, yaml_dump

    if _is_claim_file(args.file):
        if args.set:
            raise UserError("check --set applies to scenario files; a claim file sets its arms itself")
        sys.stdout.write(_claim_check_text(args.file))
        return 0
    if _is_sweep_file(args.file):
        from analysis.sweep import check_text

        if args.set:
            raise UserError("check --set applies to scenario files; fix a sweep's overrides in its `set` section")
        sys.stdout.write(check_text(args.file, memory_limit=_memory_limit(args.memory_limit)))
        return 0
    from model.preflight import warnings_for

    cfg = load_scenario(args.file, overrides=_parse_sets(args.set))
    est = _check_memory(cfg, str(args.file), args.memory_limit)  # `run` refuses what `check` refuses
    sys.stdout.write(f"# {args.file}: valid scenario (a run needs about {est.gb():.1f} GB of memory)\n")
    for w in warnings_for(cfg, str(args.file)):
        sys.stdout.write(f"# warning: {w} (calibrate would refuse it)\n")
    sys.stdout.write(yaml_dump(cfg.model_dump(mode="json")))
    return 0


def _is_claim_file(path) -> bool:
    from model.config import ScenarioError
    from model.loading import read_yaml

    try:
        data = read_yaml(path)
    except ScenarioError:
        return False  # reported by the scenario loader
    return isinstance(data, dict) and {"outcomes", "mechanism_off"} <= set(data)


def _claim_check_text(path) -> str:
    """What `check` prints for a claim file: valid, its arms, outcomes and how many runs it takes."""
    from analysis.claims.plan import load_claim

    full, quick = load_claim(path), load_claim(path, quick=True)
    spec = full.spec
    lines = [f"# {path}: valid claim file {spec.id} ({spec.title})",
             f"# control:   {full.labels.get('control', '')}", f"# treatment: {full.labels.get('treatment', '')}",
             f"# mechanism off: {spec.mechanism_off.description}"]
    for i, o in enumerate(spec.outcomes):
        lines.append(f"# outcome{' (primary)' if i == 0 else ''}: {o.metric} {o.direction} by at least "
                     f"{o.threshold:g}, {o.years[0]}-{o.years[1]}")
    lines.append(f"# runs: {full.n_runs} (full, {full.replications} replications per arm), "
                 f"{quick.n_runs} with --quick; run it with: python run.py claims --file {path}")
    return "\n".join(lines) + "\n"


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
    cfg = load_scenario(scenario)  # a wrong file: one message and exit 2 before any server starts
    limit = _memory_limit(args.memory_limit)
    _check_memory(cfg, str(scenario), args.memory_limit)  # the app refuses the same for every model it builds
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: expected a port number from 1 to 65535 (0: any free port)")
    if importlib.util.find_spec("solara") is None:
        raise UserError("serve needs solara (a dependency of this project): pip install -e . (see README)")
    _check_listen(args.host, args.port)
    env = dict(os.environ)
    env["CITYDIP_SCENARIO"] = str(scenario.resolve())
    if limit is not None:
        env["CITYDIP_MEMORY_LIMIT"] = repr(limit)
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


MEMORY_HELP = ("refuse a scenario whose estimated memory exceeds GB gigabytes (default: 80%% of this machine's "
               "memory; runs in parallel count together)")


def _check_listen(host: str, port: int):
    """The server can listen on host:port: the host resolves to an address of this machine and the port
    is free (a socket is bound and closed again before solara starts), else one line and exit 2."""
    import errno
    import socket

    where = f"--host {host} --port {port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UserError(f"{where}: the host {host!r} does not resolve ({reason}); expected an address of this machine, "
                        "e.g. 127.0.0.1 or 0.0.0.0") from None
    except OSError as e:
        raise UserError(f"{where}: the host {host!r} cannot be looked up ({e.strerror})") from None
    last = None
    for family, kind, proto, _, addr in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
                sock.bind(addr)
            return
        except OSError as e:
            last = e
    if last is not None and last.errno == errno.EADDRINUSE:
        raise UserError(f"{where}: port {port} on {host} is already in use (another server?); choose another --port, "
                        "or 0 for any free port")
    reason = last.strerror if last is not None and last.strerror else "no usable address"
    raise UserError(f"{where}: cannot listen on {host} port {port} ({reason}); expected an address of this machine "
                    "and a port you may use (ports below 1024 need root)")
def version() -> str:
    """The installed package's version (pyproject.toml's, when the project is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("city-diplomacy")
    except PackageNotFoundError:
        import tomllib

        with open(Path(__file__).resolve().parent / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]


class _Version(argparse.Action):
    """--version, looked up only when asked for (reading package metadata costs time)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {version()}")
        parser.exit()


def build_parser() -> Parser:
    prog = "city-diplomacy" if Path(sys.argv[0]).name == "city-diplomacy" else "run.py"
    p = Parser(prog=prog, description="City diplomacy: an agent-based model of international city networks. "
               "Exit codes: 0 success, 2 wrong input (one message naming the file or flag), 1 internal error.")
    p.add_argument("--version", action=_Version, help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    r = sub.add_parser("run", help="run one scenario and write its outputs")
    r.add_argument("scenario", type=FILE, help="scenario YAML file (e.g. scenarios/baseline.yaml; sweep files: use `sweep`)")
    r.add_argument("--out", type=PATH, help="output directory (default results/<name>-<timestamp>/); must be new or empty")
    r.add_argument("--seed", type=int, help="seed (overrides the file)")
    r.add_argument("--steps", type=int, help="number of yearly steps (overrides the file)")
    r.add_argument("--set", action="append", metavar="dotted.key=VALUE", help="override a field, e.g. --set resources.pool=50 (repeatable)")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("--memory-limit", type=float, metavar="GB", help=MEMORY_HELP)
    r.add_argument("--plugin", action="append", type=FILE, metavar="FILE.py|MODULE", help=PLUGIN_HELP)
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    r.set_defaults(func=cmd_run)
    sw = sub.add_parser("sweep", help="run a batch sweep (grid, paired, lhs, sobol, morris) here or on a Dask cluster")
    sw.add_argument("file", type=FILE, help="sweep YAML file (docs/sweeps.md)")
    sw.add_argument("--out", type=PATH, help="output directory (default results/sweeps/<name>/); re-running into it resumes")
    sw.add_argument("--workers", type=int, help="local worker processes (default: the cores; 1: in this process)")
    sched = sw.add_mutually_exclusive_group()
    sched.add_argument("--scheduler", type=ADDRESS, metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    sched.add_argument("--scheduler-file", type=FILE, metavar="FILE", help="Dask scheduler file (dask scheduler --scheduler-file F)")
    sw.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="give up connecting to the Dask scheduler after SECONDS (default 10)")
    sw.add_argument("--retry-failed", action="store_true", help="run again the runs listed in failed.jsonl")
    sw.add_argument("--allow-code-change", action="store_true",
                    help="resume although the model's code changed since the sweep started (recorded in the manifest)")
    sw.add_argument("--memory-limit", type=float, metavar="GB", help=MEMORY_HELP)
    sw.add_argument("--plugin", action="append", type=FILE, metavar="FILE.py|MODULE", help=PLUGIN_HELP)
    sw.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    sw.set_defaults(func=cmd_sweep)
    cl = sub.add_parser("claims", help="test the literature's claims C1-C8 from runs (docs/claims.md)")
    cl.add_argument("--quick", action="store_true", help="fewer replications and a smaller world (minutes; not for citing)")
    cl.add_argument("--only", metavar="IDS", action="append", help="only these claims, e.g. C1,C3 (once)")
    cl.add_argument("--file", action="append", type=FILE, metavar="CLAIM.yaml",
                    help="run this claim file instead of scenarios/claims/*.yaml (repeatable)")
    cl.add_argument("--out", type=PATH, help="output directory (default results/claims/ or results/claims-quick/); "
                    "re-running into it resumes")
    cl.add_argument("--workers", type=int, help="local worker processes (default: the cores; 1: in this process)")
    csched = cl.add_mutually_exclusive_group()
    csched.add_argument("--scheduler", type=ADDRESS, metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    csched.add_argument("--scheduler-file", type=FILE, metavar="FILE", help="Dask scheduler file")
    cl.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="give up connecting to the Dask scheduler after SECONDS (default 10)")
    cl.add_argument("--allow-code-change", action="store_true",
                    help="resume although the model's code changed since the claims run started")
    cl.add_argument("--max-replications", type=int, metavar="N",
                    help="cap of replications per arm while a primary verdict is undetermined (default: each claim "
                         "file's max_replications, 160; with --quick: no later blocks)")
    cl.add_argument("--amend", metavar="REASON",
                    help="resume although a claim's promise (outcomes, thresholds, years, arms) changed since its runs "
                         "started: the change, the date and REASON are recorded and printed in the report")
    cl.add_argument("--memory-limit", type=float, metavar="GB", help=MEMORY_HELP)
    cl.add_argument("--plugin", action="append", type=FILE, metavar="FILE.py|MODULE", help=PLUGIN_HELP)
    cl.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    cl.set_defaults(func=cmd_claims)
    cal = sub.add_parser("calibrate", help="run the historical scenario with N seeds and compare it with the calibration facts")
    cal.add_argument("--scenario", type=FILE, help="scenario with a calibration section (default scenarios/history.yaml)")
    cal.add_argument("--out", type=PATH, help="output directory (default results/calibration-<timestamp>/)")
    cal.add_argument("--replications", type=int, default=10, help="number of seeds (default 10)")
    cal.add_argument("--workers", type=int, help="worker processes (default: the number of cores)")
    cal.add_argument("--memory-limit", type=float, metavar="GB", help=MEMORY_HELP)
    cal.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    cal.set_defaults(func=cmd_calibrate)
    c = sub.add_parser("check", help="validate a scenario, sweep or claim file and print what it resolves to")
    c.add_argument("file", type=FILE, help="scenario, sweep or claim YAML file")
    c.add_argument("--set", action="append", metavar="dotted.key=VALUE",
                   help="override a field of a scenario file before checking it (repeatable)")
    c.add_argument("--plugin", action="append", type=FILE, metavar="FILE.py|MODULE", help=PLUGIN_HELP)
    c.add_argument("--memory-limit", type=float, metavar="GB", help=MEMORY_HELP)
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("schema", help="print the JSON Schema of the file formats")
    s.add_argument("kind", nargs="?", default="scenario", choices=["scenario", "sweep", "claim"],
                   help="which file format (default: scenario)")
    s.set_defaults(func=cmd_schema)
    sv = sub.add_parser("serve", help="explore and compare runs in the browser (Mesa SolaraViz server)",
                        description="Start the browser app: watch a run, change levers, compare two runs. "
                        "Works offline. Stop it with Ctrl-C.")
    sv.add_argument("scenario", nargs="?", type=FILE, help="scenario YAML file to start with (default scenarios/baseline.yaml)")
    sv.add_argument("--host", default="127.0.0.1", type=HOST,
                    help="address to listen on (default 127.0.0.1: this machine only). 0.0.0.0 exposes the app "
                    "to every machine that can reach this one: anyone can then run models on it, with no password")
    sv.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    sv.add_argument("--memory-limit", type=float, metavar="GB",
                    help="refuse, in the app too, a scenario whose estimated memory exceeds GB gigabytes (default: "
                    "80%% of this machine's memory)")
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    from model.allocator import keep_large_arrays_on_the_heap
    from model.config import ScenarioError

    keep_large_arrays_on_the_heap()  # faster large runs (model/allocator.py); this process only
    parser = build_parser()
    previous = _on_sigterm()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USER
        _load_plugins(getattr(args, "plugin", None))
        return args.func(args)
    except (UserError, ScenarioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER
    except OutputFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _on_sigterm():
    """SIGTERM (kill, a batch system's time limit) raises Terminated where the program is, so that
    partial output is removed and worker processes are stopped as on Ctrl-C. Returns the previous
    handler (None when not in the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated

    return signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())

