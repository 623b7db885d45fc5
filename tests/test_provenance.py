"""Provenance and citation: analysis/provenance.py (the stamp of an output), CITATION.cff, the
bibliography of docs/claims.md and the version of docs/claims_report.md."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from analysis import provenance
from analysis.sweep import store

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"model_version", "source_sha256", "claims_sha256", "git_commit", "git_dirty", "date", "command",
        "seeds", "python", "platform"}


def pyproject_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


def _digest(entries: list[tuple[str, bytes]]) -> str:
    """The documented scheme, written out: per file (sorted by path) path, NUL, SHA-256 of its bytes."""
    h = hashlib.sha256()
    for name, data in sorted(entries):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


@pytest.fixture
def tiny_tree(tmp_path, monkeypatch):
    """A project of four files (one model file, one data file, one claims-lab file, pyproject 9.8.7)
    outside any git checkout, with provenance and the sweep store pointed at it."""
    root = tmp_path / "proj"
    for rel, text in {"model/a.py": "x = 1\n", "data/d.csv": "k,v\n1,2\n", "analysis/claims/c.py": "y = 2\n",
                      "README.md": "not hashed\n",
                      "pyproject.toml": '[project]\nname = "city-diplomacy"\nversion = "9.8.7"\n'}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setattr(provenance, "ROOT", root)
    monkeypatch.setattr(store, "ROOT", root)
    return root


def test_stamp_of_this_project():
    s = provenance.stamp("python run.py claims --quick", seeds={"C1": 1}, started="2026-12-07T10:00:00+00:00")
    assert set(s) == KEYS
    assert s["model_version"] == pyproject_version()
    assert s["source_sha256"] == store.code_identity()["source_sha256"]  # the sweep manifests' value
    assert re.fullmatch(r"[0-9a-f]{64}", s["claims_sha256"]) and s["claims_sha256"] != s["source_sha256"]
    assert s["date"] == "2026-12-07T10:00:00+00:00"
    assert s["command"] == "python run.py claims --quick" and s["seeds"] == {"C1": 1}
    assert re.fullmatch(r"3\.\d+\.\d+.*", s["python"]) and s["platform"]
    json.dumps(s, allow_nan=False)  # JSON as it is


def test_stamp_commit_matches_git():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout here")
    s = provenance.stamp("x")
    assert s["git_commit"] == head.stdout.strip() and re.fullmatch(r"[0-9a-f]{40}", s["git_commit"])
    assert s["git_dirty"] in (True, False)


def test_hashes_by_hand_and_what_changes_them(tiny_tree):
    root = tiny_tree
    s = provenance.stamp("c")
    assert s["model_version"] == "9.8.7"
    assert s["source_sha256"] == _digest([("model/a.py", b"x = 1\n"), ("data/d.csv", b"k,v\n1,2\n")])
    assert s["claims_sha256"] == _digest([("analysis/claims/c.py", b"y = 2\n")])
    # not a git checkout: no commit, and no failure
    assert s["git_commit"] is None and s["git_dirty"] is None

    (root / "README.md").write_text("changed\n")  # not hashed
    assert provenance.stamp("c")["source_sha256"] == s["source_sha256"]
    (root / "model/a.py").write_text("x = 2\n")  # a model file: source changes, the claims lab's does not
    s2 = provenance.stamp("c")
    assert s2["source_sha256"] != s["source_sha256"] and s2["claims_sha256"] == s["claims_sha256"]
    (root / "analysis/claims/c.py").write_text("y = 3\n")  # the claims lab: only its hash changes
    s3 = provenance.stamp("c")
    assert s3["claims_sha256"] != s2["claims_sha256"] and s3["source_sha256"] == s2["source_sha256"]
    (root / "data/e.csv").write_text("new\n")  # a new data file counts
    assert provenance.stamp("c")["source_sha256"] != s3["source_sha256"]


def test_git_checkout_clean_and_dirty(tiny_tree):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tiny_tree
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    s = provenance.stamp("c")
    assert s["git_commit"] == head and s["git_dirty"] is False
    (root / "new_untracked.txt").write_text("u\n")  # untracked files do not make it dirty
    assert provenance.stamp("c")["git_dirty"] is False
    (root / "model/a.py").write_text("x = 5\n")
    assert provenance.stamp("c")["git_dirty"] is True
    # a directory inside the checkout is not the checkout's top level: no commit
    sub = root / "model"
    assert provenance.git_state(sub) == (None, None)


@pytest.mark.parametrize("error", [FileNotFoundError("git"), subprocess.TimeoutExpired("git", 5.0),
                                   PermissionError("git")])
def test_git_missing_or_slow_never_fails(monkeypatch, error):
    def boom(*a, **k):
        raise error

    monkeypatch.setattr(provenance.subprocess, "run", boom)
    s = provenance.stamp("c")
    assert s["git_commit"] is None and s["git_dirty"] is None
    assert s["model_version"] == pyproject_version()


def test_date_defaults_to_now_utc():
    before = datetime.now(UTC).replace(microsecond=0)
    d = datetime.fromisoformat(provenance.stamp("c")["date"])
    assert d.utcoffset().total_seconds() == 0 and before <= d <= datetime.now(UTC)


def test_seeds_become_plain_json():
    s = provenance.stamp("c", seeds={"C1": [np.int64(3), np.uint32(4)], 2: (5,)})
    assert s["seeds"] == {"C1": [3, 4], "2": [5]} and type(s["seeds"]["C1"][0]) is int
    assert provenance.stamp("c", seeds=[1, 2])["seeds"] == [1, 2]
    assert provenance.stamp("c")["seeds"] is None


def test_command_line():
    assert provenance.command_line(["run.py", "claims", "--only", "C1,C3"]) == "python run.py claims --only C1,C3"
    assert provenance.command_line(["run.py", "claims", "--out", "my dir"]) == "python run.py claims --out 'my dir'"


def test_stamp_lines_by_hand():
    s = {"model_version": "0.2.2", "source_sha256": "abc123def4567890" + "0" * 48,
         "claims_sha256": "fedcba9876543210" + "1" * 48, "git_commit": "1234567890abcdef" + "2" * 24,
         "git_dirty": False, "date": "2026-12-07T10:00:00+00:00", "command": "python run.py claims",
         "seeds": {"C1": 1, "C2": 1}, "python": "3.12.1", "platform": "Linux-x86_64"}
    assert provenance.stamp_lines(s) == [
        ("Model version 0.2.2, source sha256 abc123def456, claims lab sha256 fedcba987654, "
         "commit 1234567890ab (clean), made 2026-12-07T10:00:00+00:00."),
        "Command: `python run.py claims`.",
        'Seeds: {"C1": 1, "C2": 1}.',
        "Python 3.12.1 on Linux-x86_64.",
    ]
    dirty = provenance.stamp_lines({**s, "git_dirty": True})[0]
    assert "commit 1234567890ab (uncommitted changes)" in dirty
    none = provenance.stamp_lines({**s, "git_commit": None, "git_dirty": None, "seeds": None})
    assert none[0].endswith("claims lab sha256 fedcba987654, not a git checkout, made 2026-12-07T10:00:00+00:00.")
    assert not any(x.startswith("Seeds") for x in none)
    long = provenance.stamp_lines({**s, "seeds": list(range(1000))}, max_seeds=40)[2]
    assert long.startswith("Seeds: [0, 1, 2") and long.endswith(" ....") and len(long) < 60


def test_stamp_lines_read_back():
    """The first line carries "Model version X" as the report test below reads it."""
    line = provenance.stamp_lines(provenance.stamp("c"))[0]
    assert re.search(r"Model version ([^\s,]+)", line).group(1) == pyproject_version()


# --- CITATION.cff -------------------------------------------------------------------------------


def _readme_first_paragraph() -> str:
    """README's first paragraph after the title, markdown links as their text, whitespace collapsed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip() and not p.lstrip().startswith("#")]
    first = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", paragraphs[0])
    return " ".join(first.split())


def test_citation_cff():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors", "version", "license", "abstract", "keywords"):
        assert cff.get(key), key
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == pyproject_version()  # a str, as pyproject's
    assert cff["license"] == "MIT"
    assert cff["authors"] == [{"name": "The city-diplomacy developers"}]
    assert cff["type"] == "software"
    assert " ".join(cff["abstract"].split()) == _readme_first_paragraph()
    assert all(isinstance(k, str) and k for k in cff["keywords"])


# --- the bibliography of docs/claims.md -----------------------------------------------------------


def bibliography() -> dict[str, str]:
    """Key -> entry of the `## Bibliography` section of docs/claims.md (entries `- **key**: text`)."""
    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    head = re.search(r"^## Bibliography[ \t]*$", text, re.MULTILINE)
    assert head, "docs/claims.md has no '## Bibliography' section"
    section = text[head.end():]
    nxt = re.search(r"^## ", section, re.MULTILINE)
    section = section[:nxt.start()] if nxt else section
    entries = re.findall(r"^- \*\*(.+?)\*\*: (.+?)(?=^- \*\*|^#|^\S|\Z)", section, re.MULTILINE | re.DOTALL)
    keys = [k for k, _ in entries]
    assert len(keys) == len(set(keys)), "duplicate bibliography keys"
    return {k: " ".join(v.split()) for k, v in entries}


def source_keys(source: str) -> list[str]:
    """The keys a source names: parts separated by ";", and in "A, as cited by B" both A and B."""
    keys = []
    for part in (p.strip() for p in source.split(";")):
        keys.extend(x.strip() for x in part.split(", as cited by "))
    return keys


def test_bibliography_section_is_last_and_complete():
    bib = bibliography()
    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    assert not re.search(r"^## ", text[text.index("## Bibliography") + 3:], re.MULTILINE), "Bibliography is not the last section"
    five = ["Lu Peng (2024)", "Wang Wei", "the history chapter", "Fernández de Losada (2024)", "Brookings (2020)"]
    for key in [*five, "Acuto and Rayner (2016)", "c40.org", "mayorsforpeace.org",
                "Grimm et al. (2006)", "Grimm et al. (2010)", "Grimm et al. (2020)"]:
        assert key in bib, key
        assert len(bib[key]) > 40, key  # a reference, not a bare key
    # what the project does not know is said, not filled in
    for key in ("Wang Wei", "the history chapter", "Lu Peng (2024)"):
        assert "publication details not recorded in the project" in bib[key], key
    assert "International Affairs* 92(5)" in bib["Acuto and Rayner (2016)"]
    assert "doi" not in " ".join(bib.values()).lower()  # no DOI is recorded in the project


def test_every_claim_source_is_in_the_bibliography():
    yaml = pytest.importorskip("yaml")
    bib = bibliography()
    files = sorted((ROOT / "scenarios" / "claims").glob("C*.yaml"))
    assert {f"C{i}" for i in range(1, 9)} <= {f.stem for f in files}
    for f in files:
        claim = yaml.safe_load(f.read_text(encoding="utf-8"))
        for key in source_keys(claim["source"]):
            assert key in bib, f"{f.name}: source {key!r} is not a key of the bibliography in docs/claims.md"
        for o in claim["outcomes"]:
            if o.get("reference_source"):  # e.g. "Acuto and Rayner (2016), 170 networks"
                assert any(o["reference_source"].startswith(k) for k in bib), f"{f.name}: {o['reference_source']}"
        for lv in claim.get("levels") or []:  # a level against the literature names its source too
            assert any(lv["source"].startswith(k) for k in bib), f"{f.name}: {lv['source']}"
    assert source_keys("Acuto and Rayner (2016), as cited by Lu Peng (2024)") == ["Acuto and Rayner (2016)",
                                                                                 "Lu Peng (2024)"]


def test_every_calibration_fact_cites_the_bibliography():
    yaml = pytest.importorskip("yaml")
    bib = bibliography()
    facts = yaml.safe_load((ROOT / "scenarios" / "history.yaml").read_text(encoding="utf-8"))["calibration"]
    assert facts
    for fact in facts:
        assert any(k in fact["source"] for k in bib), f"{fact['id']}: {fact['source']} cites no bibliography entry"


# --- the published report ------------------------------------------------------------------------


def test_claims_report_made_by_this_version():
    """docs/claims_report.md carries the stamp of the code that made it ("Model version X.Y.Z", from
    provenance.stamp_lines); it must be this version. Regenerate the report when the version changes:
    python run.py claims, then python -m analysis.claims.report --publish DIR docs/claims_report.md."""
    text = (ROOT / "docs" / "claims_report.md").read_text(encoding="utf-8")
    found = re.findall(r"Model version ([^\s,]+)", text)
    assert found, "docs/claims_report.md carries no 'Model version X.Y.Z' line: regenerate it with the stamp"
    assert set(found) == {pyproject_version()}, (
        f"docs/claims_report.md was made by model version {', '.join(sorted(set(found)))}, "
        f"the code is {pyproject_version()}: regenerate it")
