"""Command line of the city-diplomacy model: `python run.py COMMAND ...` (see `--help`).

Exit codes: 0 success; 2 the user's input is wrong (one message naming file, field and what is
expected); 1 an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

EXIT_USER = 2


class UserError(Exception):
    """Wrong input from the user: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one readable line, exit 2
        raise UserError(f"{self.prog}: {message} (see: {self.prog} --help)")


def _parse_sets(pairs: list[str] | None) -> dict:
    from model.config import parse_value

    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise UserError(f"--set {p!r}: expected dotted.key=VALUE, e.g. --set resources.pool=50")
        k, v = p.split("=", 1)
        k = k.strip()
        if not k:
            raise UserError(f"--set {p!r}: the key before '=' is empty; expected dotted.key=VALUE")
        out[k] = parse_value(v)
    return out


def _progress(total: int, quiet: bool, desc: str):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="step", disable=disable, leave=False, dynamic_ncols=True)


# ------------------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    import yaml

    from analysis.outputs import write_run
    from model import CityDiplomacyModel, load_scenario

    overrides = _parse_sets(args.set)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.steps is not None:
        overrides["steps"] = args.steps
    cfg = load_scenario(args.scenario, overrides=overrides)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"{cfg.name}-{stamp}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: already exists and is not empty; choose a new directory or remove it")
    t0 = time.perf_counter()
    model = CityDiplomacyModel(cfg)
    bar = _progress(cfg.steps, args.quiet, cfg.name)
    try:
        model.run(progress=lambda m: bar.update(1))
    finally:
        bar.close()
    runtime = time.perf_counter() - t0
    write_run(model, out, runtime, resolved=yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
              figures=not args.no_figures)
    if not args.quiet:
        print(f"wrote {out} ({cfg.steps} steps, {cfg.cities.n} cities, {runtime:.1f} s)")
    return 0


def cmd_check(args) -> int:
    import yaml

    from model.config import load_scenario

    cfg = load_scenario(args.file, overrides=_parse_sets(args.set))
    sys.stdout.write(f"# {args.file}: valid scenario\n")
    sys.stdout.write(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return 0


def cmd_schema(args) -> int:
    from model.config import Scenario

    print(json.dumps(Scenario.model_json_schema(), indent=2))
    return 0


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
    c = sub.add_parser("check", help="validate a scenario file and print what it resolves to")
    c.add_argument("file")
    c.add_argument("--set", action="append", metavar="dotted.key=VALUE")
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("schema", help="print the JSON Schema of the file formats")
    s.add_argument("kind", nargs="?", default="scenario", choices=["scenario"])
    s.set_defaults(func=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    from model.config import ScenarioError

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

