"""docs/tutorial.ipynb runs from top to bottom and shows what it says it shows, so that it cannot rot.

The notebook is executed with nbclient in a kernel of this very interpreter (sys.executable): a kernel
spec written for the test into a temporary folder, so that no installed kernel spec (a user's
`python3` pointing at another Python, or none at all in a fresh environment) decides which Python and
which packages the notebook sees. It runs offline, with `docs/` as its working folder, as Jupyter
would start it there, and its temporary files (the claim's folder) go into pytest's temporary folder.
The committed notebook has no outputs; the executed copy is not written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the test extra: pip install -e \".[test]\"")
pytest.importorskip("nbclient", reason="the test extra: pip install -e \".[test]\"")
pytest.importorskip("ipykernel", reason="the test extra: pip install -e \".[test]\"")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
VERDICTS = ("supported", "contradicted", "negligible", "undetermined")


def _text(cell) -> str:
    """Everything a code cell printed or showed as text."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
            parts.append(out["data"].get("text/html", ""))
    return "\n".join(parts)


def _images(cell) -> int:
    return sum(1 for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(path=kernels / "python3")  # argv: [sys.executable, -m, ipykernel_launcher, ...]
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    assert km.kernel_spec.argv[0] == sys.executable
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, km=km, timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(tmp_path_factory.mktemp("kernel-tmp")))  # the claim's folder (tempfile)
        try:
            client.execute()
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    print(f"\ndocs/tutorial.ipynb executed in {time.perf_counter() - t0:.1f} s")
    return nb


def test_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_tutorial_runs_and_shows_its_results(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    text = "\n".join(_text(c) for c in code)
    # the kernel imported the model of this checkout
    assert f"project folder: {REPO}" in text
    # step 1: a run of 300 cities over the scenario's 45 years
    assert "300 cities, 45 yearly steps" in text
    # step 3: common seeds make the arms identical before the platform starts
    assert "identical before 2000 in every pair: True" in text
    # figures: the time series, the network, the comparison and the claim's effects
    assert sum(_images(c) for c in code) >= 4
    # step 4: the claim's verdict, headline and unadjusted, each a verdict word, with its sentence
    verdict_cell = next(c for c in code if "verdict (headline, Holm-adjusted)" in _text(c))
    out = _text(verdict_cell)
    headline = out.split("verdict (headline, Holm-adjusted): ")[1].split(";")[0]
    assert headline in VERDICTS
    from analysis.claims.verdict import EXPLAIN

    assert EXPLAIN[headline] in out
    assert "n = 8 pairs" in out
