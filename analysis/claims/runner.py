"""Running claims: every arm of every claim through the sweep engine, then the outputs.

`run_claims(plans, out)` runs each claim's sweeps (analysis/claims/plan.py) with `run_sweep` into
`out/sweeps/<claim id>/` and `out/sweeps/<claim id>-lhs/` (manifest, one file per run, resume after
a kill), on one execution back-end shared by all of them (local worker processes, a Dask cluster,
or a given executor), with one progress bar over all runs. Then, while a claim's primary verdict is
undetermined and its schedule of looks has one left, it runs the next block of replications of the
claim's contrast (sequential.py, `out/sweeps/<claim id>-r<start>/`) and looks again. Then it
evaluates every claim (evaluate.py), adjusts the primaries' verdicts for multiplicity (Holm, over the
claims of the run) and writes claims.json, report.md, report.html and figures/ (report.py).

Integrity (docs/claims.md, "Runs, resume, outputs"):
- `out/registry.json` records, per claim, what it promised before its runs (outcomes, directions,
  thresholds, years, arms, replications and cap: `promise`), when its runs started, and every
  amendment. A resume after any change of a promise is refused, naming the change, unless the caller
  passes an amendment reason (`--amend "why"`), which records old and new values and the date.
- One `out` holds the reports of every claim run into it: a run that leaves out a claim the
  directory holds is refused (run them together to add one).
- Everything that can be refused is checked before anything is written: a refusal never touches a
  finished claims.json, report.md or report.html. Once the checks pass, the finished outputs of the
  previous command are set aside (hidden) while the runs go on, so a run stopped part-way does not
  leave an old report that looks like this one's; they are removed when the new ones are written.

Running the same command again into the same directory runs only what is missing and writes the
same claims.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from analysis.claims import sequential
from analysis.claims.evaluate import ClaimResult, evaluate
from analysis.claims.plan import ClaimPlan
from analysis.claims.report import write_outputs
from analysis.claims.statistics import ALPHA, holm
from analysis.claims.verdict import UNDETERMINED, describe
from model.config import ScenarioError
from model.overrides import MISSING, differences

OUTPUTS = ("claims.json", "report.md", "report.html")
REGISTRY = "registry.json"
REGISTRY_FORMAT = "city-diplomacy-claims-registry"
# what a claim file says only in words: changing it changes no promise
WORDING = ("title", "statement", "source", "operationalisation", "part_of")


def check_out(out: Path, flag: str = "--out"):
    """DIR must be new, empty, or a claims directory (one with sweeps/), and writable: the checks of
    every output directory (analysis/outputs.check_output_dir: links, read-only mounts, names too long)
    made before anything runs."""
    from analysis.outputs import check_output_dir

    where = f"{flag} {out}"
    check_output_dir(out, flag=flag, resume=True)
    if out.is_dir():
        entries = [p for p in out.iterdir() if not p.name.startswith(".")]
        if entries and not (out / "sweeps").is_dir():
            raise ScenarioError(where, "", "already exists, is not empty and holds no claims run (no sweeps/); "
                                           "choose a new directory or remove it")


def _lock(out: Path):
    from analysis.sweep.store import _lock as lock

    return lock(out, ".claims.lock", "run.py claims")


def _backend(workers, scheduler, scheduler_file, executor, client, connect_timeout=None):
    """One back-end for every sweep of the run: kwargs for run_sweep, and what to close at the end."""
    from analysis.execution import DaskBackend, LocalBackend, SharedBackend, default_workers

    if executor is not None:
        return {"executor": executor, "workers": workers}, None
    if client is not None:
        return {"client": client}, None
    if scheduler is not None or scheduler_file is not None:
        from analysis.execution import CONNECT_TIMEOUT

        b = DaskBackend(address=scheduler, scheduler_file=scheduler_file,
                        timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
        return {"backend": SharedBackend(b)}, b
    n = default_workers() if workers is None else int(workers)
    if n <= 1:
        return {"workers": 1}, None
    b = LocalBackend(n)  # restartable: a worker that dies is found and its run recorded, as in any sweep
    return {"backend": SharedBackend(b)}, b


def promise(plan: ClaimPlan) -> dict:
    """What a claim promised before its runs: its outcomes (metric, direction, threshold, years), arms or
    gradient, mechanism-off and no-network arms, conditions, seed, replications and the schedule of looks,
    and the mode. Words (titles, statements, labels, reasons) are not promises."""
    d = plan.spec.model_dump(mode="json", by_alias=True)
    for k in WORDING:
        d.pop(k, None)
    for o in d.get("outcomes") or []:
        for k in ("why", "reference", "reference_source"):
            o.pop(k, None)
    for item in (d.get("also") or []) + (d.get("levels") or []):
        for k in ("label", "why", "source"):
            item.pop(k, None)
    for k in ("mechanism_off", "no_network"):
        if isinstance(d.get(k), dict):
            d[k].pop("description", None)
    for a in ((d.get("arms") or {}).values()):
        if isinstance(a, dict):
            a.pop("label", None)
    d.pop("quick", None)  # what --quick changes shows in mode, looks and the runs themselves
    d.pop("max_replications", None)
    d["mode"] = "quick" if plan.quick else "full"
    d["looks"] = list(plan.looks)
    return without_words(d)


def without_words(d: dict | None) -> dict | None:
    """A promise without the words that explain it (what a world is and why; why an uncertain range is what it
    is, and its source): changing them changes no promise. Applied to a registry's stored promise too, so
    that a promise recorded with those words compares equal."""
    if not isinstance(d, dict):
        return d
    d = json.loads(json.dumps(d))
    for w in d.get("worlds") or []:
        for k in ("label", "why"):
            w.pop(k, None)
    for b in ((d.get("uncertainty") or {}).get("parameters") or {}).values():
        if isinstance(b, dict):
            for k in ("source", "why"):
                b.pop(k, None)
    return d


ABSENT = "(absent)"  # a key on one side only, as the registry and the report write it


def _changes(old: dict, new: dict) -> list[dict]:
    """The differences of two promises as {field, old, new} (JSON-ready: a key on one side only is ABSENT)."""
    return [{"field": path, "old": ABSENT if x is MISSING else x, "new": ABSENT if y is MISSING else y}
            for path, _kind, x, y in differences(old, new)]


def _show(x) -> str:
    t = json.dumps(x, sort_keys=True, default=str)
    return t if len(t) <= 60 else t[:57] + "..."


def read_registry(out: Path) -> dict:
    path = out / REGISTRY
    if not path.exists():
        return {"format": REGISTRY_FORMAT, "claims": {}}
    try:
        reg = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ScenarioError(f"--out {out}", REGISTRY, f"cannot be read ({e}); choose another --out") from None
    if not isinstance(reg, dict) or reg.get("format") != REGISTRY_FORMAT or not isinstance(reg.get("claims"), dict):
        raise ScenarioError(f"--out {out}", REGISTRY, "is not a claims registry; choose another --out")
    return reg


def check_registry(plans: list[ClaimPlan], out: Path, out_flag: str, amend: str | None) -> dict:
    """The registry as it will be after this run (not written here): refuses a run that leaves out a claim
    the directory holds, and a changed promise without an amendment reason; with one, records the change."""
    reg = read_registry(out)
    held = reg["claims"]
    ids = [p.id for p in plans]
    with_runs = claims_with_runs(out)
    missing = [c for c in dict.fromkeys([*held, *with_runs]) if c not in ids]
    if missing:
        every = ",".join(dict.fromkeys([*held, *with_runs, *ids]))
        raise ScenarioError(f"{out_flag} {out}", "", f"holds the claims {', '.join(held)}; a run without "
                            f"{', '.join(missing)} would replace their report. Run them together (--only {every}) to "
                            "add claims to this directory, or choose another --out")
    today = datetime.now(UTC).isoformat(timespec="seconds")
    new_reg = {"format": REGISTRY_FORMAT, "claims": {}}
    for p in plans:
        now = promise(p)
        entry = held.get(p.id)
        if entry is None:
            if p.id in with_runs:  # runs on disk, but no record of what they promised (registry.json removed)
                if not amend:
                    raise ScenarioError(f"{out_flag} {out}", REGISTRY, f"has no record of what {p.id} promised, but "
                                        f"{p.id}'s runs are in sweeps/ (registry.json removed or made by an older "
                                        "version): its thresholds, directions and years cannot be checked against "
                                        "them. Run into a new --out, or register the claim file as it is now with "
                                        "--amend \"why\" (recorded in the report)")
                new_reg["claims"][p.id] = {"promise": now, "started": today, "amendments": [
                    {"date": today, "reason": amend, "changes": [
                        {"field": "(registered after its runs started)", "old": None, "new": "the claim file as it is"}]}]}
                continue
            new_reg["claims"][p.id] = {"promise": now, "started": today, "amendments": []}
            continue
        changes = _changes(without_words(entry.get("promise")), now)
        entry = {**entry, "amendments": list(entry.get("amendments") or [])}
        if changes:
            first = changes[0]
            if not amend:
                more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
                raise ScenarioError(p.source, first["field"], f"changed since its runs started in {out} "
                                    f"({_show(first['old'])} then, {_show(first['new'])} now){more}: what a claim "
                                    "promised is fixed once its runs start. Run into a new --out, or record the "
                                    "change as an amendment with --amend \"why\" (it is printed in the report)")
            entry["amendments"].append({"date": today, "reason": amend, "changes": changes})
            entry["promise"] = now
        new_reg["claims"][p.id] = entry
    return new_reg


def claims_with_runs(out: Path) -> list[str]:
    """Ids of the claims whose main sweep has begun in `out` (sweeps/<id>/manifest.json; not the uncertainty
    samples `<id>-lhs` nor the later blocks `<id>-r<start>`)."""
    import re

    d = out / "sweeps"
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "manifest.json").exists()
                  and not re.search(r"-(lhs|r\d+)$", p.name))


def preflight(plans: list[ClaimPlan], out: Path, allow_code_change: bool):
    """Every sweep the run would resume (the initial ones and the later blocks already started) must hold this
    very design, made by the same code: found before anything is written."""
    from analysis.sweep.store import resume_problem

    for p in plans:
        for name, sw in p.sweeps():
            err = resume_problem(sw, out / "sweeps" / name, allow_code_change)
            if err is not None:
                raise ScenarioError(p.source, "", f"{name}: {err}")
        n_blocks = len(p.blocks)
        try:  # later blocks on disk: built as this plan would build them
            while sequential.next_look(p) is not None and (out / "sweeps" / sequential.block_name(p, p.n_used)).exists():
                b = sequential.add_block(p)
                err = resume_problem(b.sweep, out / "sweeps" / b.name, allow_code_change)
                if err is not None:
                    raise ScenarioError(p.source, "", f"{b.name}: {err}")
        finally:
            del p.blocks[n_blocks:]


def _set_aside(out: Path) -> Path | None:
    """Move the finished outputs of an earlier command out of sight (out/.previous/); None if there are none."""
    for old in out.glob(".previous*"):
        shutil.rmtree(old, ignore_errors=True)
    present = [n for n in (*OUTPUTS, "figures") if (out / n).exists()]
    if not present:
        return None
    prev = out / ".previous"
    prev.mkdir()
    for n in present:
        os.replace(out / n, prev / n)
    return prev


def _after_refusal(out: Path, previous: Path | None):
    """A refusal during the runs (e.g. the memory check of a sweep): put the earlier outputs back, and keep in
    the registry only the claims that have runs."""
    if previous is not None and previous.is_dir():
        for p in previous.iterdir():
            if not (out / p.name).exists():
                os.replace(p, out / p.name)
        shutil.rmtree(previous, ignore_errors=True)
    try:
        reg = read_registry(out)
    except ScenarioError:
        return
    kept = {k: v for k, v in reg["claims"].items() if (out / "sweeps" / k / "manifest.json").exists()}
    if kept != reg["claims"]:
        from analysis.outputs import write_text_atomic

        reg["claims"] = kept
        write_text_atomic(out / REGISTRY, json.dumps(reg, indent=1, allow_nan=False) + "\n")


def _provenance(results: list[ClaimResult], registry: dict, command: str, out: Path) -> dict:
    """The stamp of claims.json and the reports: model version, source hash, commit, the date the runs started
    (the registry's earliest: a resume writes the same file), the command and every claim's seed entropy."""
    from analysis.provenance import stamp

    started = min(registry["claims"][r.plan.id]["started"] for r in results)
    seeds = {r.plan.id: r.plan.spec.seed for r in results}
    s = stamp(command or "python run.py claims", seeds=seeds, started=started)
    s["runs_made_by"] = runs_made_by([r.plan for r in results], out)
    return s


def runs_made_by(plans: list[ClaimPlan], out: Path) -> list[dict]:
    """The model code the runs were made by, from every sweep's manifest: the code it started with (before any
    --allow-code-change, which the manifest records), as {version, source_sha256, sweeps}. One entry when every
    run came from the same code; the report says so when it is not the code that evaluates them."""
    seen: dict = {}
    for p in plans:
        for name, _ in p.sweeps():
            try:
                m = json.loads((out / "sweeps" / name / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            changes = m.get("code_changes") or []
            first = (changes[0].get("from") if changes else None) or m.get("code") or {}
            key = first.get("source_sha256")
            e = seen.setdefault(key, {"version": first.get("version"), "source_sha256": key, "sweeps": 0})
            e["sweeps"] += 1
    return list(seen.values())


def count_text(plans: list[ClaimPlan]) -> str:
    """'12 claims in 2 worlds (24 contrasts)', or '3 claims' for claim files without worlds."""
    claims = list(dict.fromkeys(p.claim for p in plans))
    worlds = list(dict.fromkeys(p.world.name for p in plans if p.world is not None))
    text = f"{len(claims)} claim{'s' if len(claims) != 1 else ''}"
    if worlds:
        text += f" in {len(worlds)} world{'s' if len(worlds) != 1 else ''} ({len(plans)} contrasts)"
    return text


def adjust(results: list[ClaimResult], alpha: float = ALPHA):
    """Holm over the primaries of the run (one family): each record gets `verdict_adjusted` (its verdict when
    Holm keeps it, else undetermined), `p_adjusted` and `family`."""
    ps = [r.record["p_value"] for r in results]
    adj = holm(ps, alpha)
    for r, pa in zip(results, adj):
        rec = r.record
        v = rec["verdict"] if pa <= alpha else UNDETERMINED
        rec["p_adjusted"] = pa
        rec["verdict_adjusted"] = v
        rec["verdict_adjusted_text"] = describe(v, rec["ci_low"], rec["ci_high"], rec.get("identical", False))
        rec["family"] = [x.record["id"] for x in results]
        if v != rec["verdict"]:  # the headline follows Holm: nothing to attribute, and why the procedure stopped
            rec["through_mechanism_adjusted"] = None
            rec["through_mechanism_adjusted_reason"] = (f"n/a: Holm's adjustment does not keep the {rec['verdict']} "
                                                        "verdict (unadjusted: "
                                                        f"{'yes' if rec['through_mechanism'] else rec['through_mechanism_reason']})")
            rec["sequential"]["stopped"] += (f"; Holm's adjustment over the run's {len(results)} primaries does not "
                                             f"keep the {rec['verdict']} verdict (adjusted p {pa:.3g})")
        else:
            rec["through_mechanism_adjusted"] = rec["through_mechanism"]
            rec["through_mechanism_adjusted_reason"] = rec["through_mechanism_reason"]


def run_claims(plans: list[ClaimPlan], out, *, workers: int | None = None, scheduler: str | None = None,
               scheduler_file: str | None = None, executor=None, client=None, quiet: bool = False,
               command: str = "", task=None, write: bool = True, allow_code_change: bool = False,
               connect_timeout: float | None = None, memory_limit: float | None = None,
               out_flag: str = "--out", amend: str | None = None) -> list[ClaimResult]:
    """Run (or resume) every claim's sweeps into `out`, add blocks of replications until each primary verdict
    is decided or its cap is reached, evaluate the claims and write the outputs (`write=False`: only return
    the results; the sweeps stay in `out/sweeps/`). `task` replaces the sweep's worker function (tests).
    `allow_code_change`, `connect_timeout` and `memory_limit` are those of run_sweep; `amend` is the reason
    recorded for a changed promise (module docstring)."""
    from tqdm import tqdm

    from analysis.sweep import run_sweep

    out = Path(out)
    if not plans:
        raise ScenarioError("--only", "", "no claims to run")
    check_out(out, out_flag)
    quick = plans[0].quick
    t0 = time.perf_counter()
    registry = check_registry(plans, out, out_flag, amend)  # refusals first: nothing is written before them
    preflight(plans, out, allow_code_change)
    sweeps = [(name, sw) for p in plans for name, sw in p.sweeps()]
    total = sum(sw.n_runs for _, sw in sweeps)
    kwargs, backend = _backend(workers, scheduler, scheduler_file, executor, client, connect_timeout)
    lock = None
    previous = None
    try:
        (out / "sweeps").mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
        from analysis.outputs import write_text_atomic

        write_text_atomic(out / REGISTRY, json.dumps(registry, indent=1, allow_nan=False) + "\n")
        previous = _set_aside(out)  # a result of an earlier command must not look like this one's
        if not quiet:
            where = backend.describe() if backend is not None else (
                "1 worker (in this process)" if kwargs.get("workers") == 1 else "the given back-end")
            print(f"claims ({'quick' if quick else 'full'} run): {count_text(plans)}, "
                  f"{total} runs on {where} -> {out}", file=sys.stderr)
        bar = tqdm(total=total, initial=0, desc="claims", unit="run",
                   disable=quiet or not sys.stderr.isatty(), leave=False, dynamic_ncols=True, smoothing=0.05)
        done = [0]  # runs of the sweeps finished so far (counted as each sweep ends)

        def run_all(batch):
            for name, sw in batch:
                bar.set_description(f"claims {name}")

                def progress(finished, failed, n, _o=done[0]):
                    bar.n = min(_o + finished + failed, bar.total)
                    bar.refresh()

                run_sweep(sw, out / "sweeps" / name, quiet=True, progress=progress, analyse=False, task=task,
                          allow_code_change=allow_code_change, memory_limit=memory_limit, **kwargs)
                done[0] += sw.n_runs
                bar.n = min(done[0], bar.total)
                bar.refresh()

        try:
            run_all(sweeps)
            # replications until decided: the next block of every claim whose primary is still undetermined
            # a claim goes on while its Holm-adjusted primary (over the run's claims) is undetermined and it has a
            # look left: the Bonferroni split over looks holds whatever rule stops, so Holm may steer it
            cache: dict = {}  # (claim, replications) -> its evaluation: the last look's is the result
            while True:
                dirs = {name: out / "sweeps" / name for p in plans for name, _ in p.sweeps()}
                recs = []
                for p in plans:
                    key = (p.id, p.n_used)
                    if key not in cache:
                        cache[key] = evaluate(p, dirs)
                    recs.append(cache[key].record)
                adj = holm([r["p_value"] for r in recs])
                pending = [p for p, r, pa in zip(plans, recs, adj) if sequential.next_look(p) is not None
                           and (r["verdict"] == UNDETERMINED or pa > ALPHA)]
                if not pending:
                    break
                blocks = [sequential.add_block(p) for p in pending]
                bar.total += sum(b.sweep.n_runs for b in blocks)
                if not quiet:
                    print("claims: undetermined after "
                          + ", ".join(f"{p.id} {b.start}" for p, b in zip(pending, blocks))
                          + " replications; running the next block (up to "
                          + ", ".join(f"{b.stop}" for b in blocks) + ")", file=sys.stderr)
                run_all([(b.name, b.sweep) for b in blocks])
        finally:
            bar.close()
        if not quiet:
            print(f"claims: the runs are done; writing the report of {count_text(plans)}", file=sys.stderr)
        results = [cache[(p.id, p.n_used)] for p in plans]  # evaluated at the last look, above
        adjust(results)
        for r in results:
            entry = registry["claims"][r.plan.id]
            r.record["registered"] = entry["started"]
            r.record["amendments"] = entry["amendments"]
        if write:
            write_outputs(results, out, quick, command=command, provenance=_provenance(results, registry, command, out))
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException as e:
        if backend is not None:
            backend.close(cancel=not isinstance(e, ScenarioError))
            backend = None
        if isinstance(e, ScenarioError):
            _after_refusal(out, previous)
        raise
    finally:
        if backend is not None:
            backend.close()
        if lock is not None:
            lock.close()
    failed = sum(r.record["design"]["failed_runs"] for r in results)
    if failed:
        print(f"warning: {failed} runs failed (see failed.jsonl under {out / 'sweeps'}); their pairs are left out",
              file=sys.stderr)
    if not quiet:
        counts = {}
        for r in results:
            counts[r.record["verdict_adjusted"]] = counts.get(r.record["verdict_adjusted"], 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        print(f"wrote {out}: {count_text([r.plan for r in results])} ({summary}) in {time.perf_counter() - t0:.1f} s"
              + (" [QUICK RUN]" if quick else ""))
    return results
