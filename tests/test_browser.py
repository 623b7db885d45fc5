"""The browser app end to end: `python run.py serve` in a subprocess, driven by Playwright with
Debian's Chromium (/usr/bin/chromium; never `playwright install`).

Every request the page makes to anything but the loopback server is aborted and recorded, and the
tests assert that none was made (and that the server did not fetch assets from the internet
either): the app works offline. The window is a classroom projector's, 1366 x 768. The tabs are
named (Explore, Compare, Claims, About) and each shows its page (figures as images; the Claims tab
runs a shipped claim on two seeds and shows its verdicts and figures, the Compare tab runs one seed
per side and says why it cannot judge "apart"); Step advances the model and changes the plots, and
the time the page takes to show its first figure and a Step to reach the browser are measured and
printed (run with -s to see them; speed targets belong to benchmarks, so the test only guards against
a gross regression); a lever change shows a pending note until Reset rebuilds the model; a seed that
is not a number is refused in the page; picking a scenario file sets the sidebar to its values; Play
runs until paused; the Compare tab runs several seeds per side, shows the table whole at 1366 px and
a typo in an override as a message in the page.

With UPDATE_SCREENSHOT=1 the first test rewrites docs/screenshot.png (README's picture of the app, as
a class sees it: 1366 x 768, twenty years in), so that it is made from the running app, not by hand:

    UPDATE_SCREENSHOT=1 python -m pytest tests/test_browser.py -k page_loads
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from model import metric_dictionary as MD

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCENARIO = "scenarios/baseline.yaml"
# README's screenshot is rewritten only on request (UPDATE_SCREENSHOT=1), so test runs leave the tree clean
SCREENSHOT = ROOT / "docs" / "screenshot.png" if os.environ.get("UPDATE_SCREENSHOT") else Path(tempfile.gettempdir()) / "citydip-screenshot.png"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIEWPORT = {"width": 1366, "height": 768}  # a classroom projector

if not Path(CHROMIUM).exists():
    pytest.skip(f"browser test needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium; "
                ".ci/run installs it when run as root)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test needs the playwright package "
                               "(pip install -e '.[test]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    env = dict(os.environ, MPLBACKEND="Agg")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "run.py", "serve", SCENARIO, "--port", str(port)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"server did not answer on {url} within 90 s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield {"url": url, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class OfflinePage:
    """A page whose requests may only reach the loopback server; others are aborted and recorded."""

    def __init__(self, browser, url: str):
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        t0 = time.perf_counter()
        self.page.goto(url)
        self.page.wait_for_selector("img.citydip-metrics", timeout=60_000)
        self.page.wait_for_function("() => { const e = document.querySelector('img.citydip-metrics'); "
                                    "return e && e.complete && e.naturalWidth > 0; }", timeout=60_000)
        self.first_paint = time.perf_counter() - t0  # from the request to the key metrics on screen
        self.page.get_by_role("button", name="Step").wait_for(timeout=30_000)

    def _route(self, route):
        u = urlparse(route.request.url)
        if u.scheme in ("data", "blob") or u.hostname in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def assert_offline(self, server):
        assert self.blocked == [], f"the page asked for non-loopback resources: {self.blocked}"
        assert self.failed == [], f"local resources failed: {self.failed}"
        log = server["log"].read_text()
        assert "Could not load URL" not in log, "the server tried to fetch assets from the internet:\n" + log

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def wait_text(self, selector: str, needle: str, timeout: float = 30_000):
        self.page.wait_for_function("([s, n]) => { const e = document.querySelector(s); return e && e.innerText.includes(n); }",
                                    arg=[selector, needle], timeout=timeout)

    def src(self, selector: str) -> str:
        return self.page.locator(selector).get_attribute("src")

    def wait_new_src(self, selector: str, old: str, timeout: float = 30_000):
        self.page.wait_for_function("([s, o]) => { const e = document.querySelector(s); return e && e.src && e.src !== o; }",
                                    arg=[selector, old], timeout=timeout)

    def close(self):
        self.context.close()


@pytest.fixture
def app_page(browser, server):
    p = OfflinePage(browser, server["url"])
    yield p
    p.close()


def _slider(page, valuemax: str):
    """The slider whose maximum is `valuemax` (sliders carry no names; their ranges tell them apart)."""
    return page.locator(f"[role=slider][aria-valuemax='{valuemax}']").first


def _slider_to_least(page, valuemax: str, label: str):
    """Move the slider of that maximum to its least value (Home) and wait until its label says `label`."""
    slider = _slider(page, valuemax)
    slider.focus()
    slider.press("Home")
    page.get_by_text(label).wait_for(timeout=10_000)


# Every panel of the Explore page has its image of the new step: the step counter says so, the key
# metrics have a new image and every image is decoded. One check in the page, polled at each frame, so
# that the time measured is the page's, not that of several round trips of the test to the browser.
_STEPPED = """([n, old]) => {
    const step = document.querySelector('.citydip-step');
    if (!step || !step.innerText.includes(`step ${n} of`)) return false;
    const m = document.querySelector('img.citydip-metrics');
    if (!m || m.src === old) return false;
    return ['metrics', 'network', 'cities', 'themes'].every(c => {
        const e = document.querySelector(`img.citydip-${c}`); return e && e.complete && e.naturalWidth > 0; });
}"""


def _step_and_wait(p, n_before: int, n_after: int, timeout=60_000) -> float:
    page = p.page
    src = p.src("img.citydip-metrics")
    t0 = time.perf_counter()
    page.get_by_role("button", name="Step").click()
    page.wait_for_function(_STEPPED, arg=[n_after, src], timeout=timeout, polling="raf")
    return time.perf_counter() - t0


def test_page_loads_offline_with_named_tabs_and_a_step_is_fast(app_page, server):
    p = app_page
    page = p.page
    assert "City diplomacy" in page.locator("header, .v-app-bar, .v-toolbar").first.inner_text()
    tabs = [t.strip().lower() for t in page.get_by_role("tab").all_inner_texts()]
    assert tabs == ["explore", "compare", "claims", "about"], tabs
    for panel in ("metrics", "network", "themes", "cities"):
        img = page.locator(f"img.citydip-{panel}")
        assert img.evaluate("e => e.naturalWidth") > 100, panel
    assert "step 0 of 45" in p.text(".citydip-step")
    assert "2,000 cities" in p.text(".citydip-city-count")
    body = page.locator("body").inner_text()
    assert "Top networks by members" in body
    # each metric panel explains itself from the metric dictionary
    frag = MD.describe("fragmentation_index")
    assert f"{frag.title} [{frag.unit}]: {frag.meaning[:40]}" in body and "Acuto and Rayner (2016) report" in body
    assert "Funding pool: 120 M USD/yr" in body  # sliders show their values and units

    before = page.locator("img.citydip-metrics").screenshot()
    _step_and_wait(p, 0, 1)
    assert "Year 1980" in p.text(".citydip-year")
    assert page.locator("img.citydip-metrics").screenshot() != before
    times = [_step_and_wait(p, k, k + 1) for k in range(1, 11)]
    print(f"\nfirst paint (request -> key metrics shown, a page of a running server): {p.first_paint:.2f} s")
    print(f"Step -> every plot updated in the browser (baseline, steps 2-11): median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s, all {[round(t, 2) for t in times]}")
    # the key metrics are drawn at about the size they are shown (text not scaled down)
    shown = page.locator("img.citydip-metrics").evaluate("e => [e.naturalWidth, e.getBoundingClientRect().width]")
    assert shown[1] >= 0.85 * shown[0], shown
    assert statistics.median(times) < 2.0, times  # a gross regression only: the target (0.5 s) is in the report

    # README's screenshot some twenty years in: 9 more steps at once (Steps per Step = 9)
    interval = _slider(page, "45")
    interval.focus()
    for _ in range(8):
        interval.press("ArrowRight")
    page.wait_for_function("() => document.querySelector(\"[role=slider][aria-valuemax='45']\")"
                           ".getAttribute('aria-valuenow') == '9'")
    _step_and_wait(p, 11, 20)
    time.sleep(1.5)  # let every panel finish drawing
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000
    from PIL import Image

    assert Image.open(SCREENSHOT).size == (VIEWPORT["width"], VIEWPORT["height"])
    # Solara's banner does not sit over any figure
    boxes = page.locator("img.citydip-figure").evaluate_all("es => es.map(e => e.getBoundingClientRect().toJSON())")
    banner = page.get_by_text("This website runs on")
    if banner.count() and banner.first.is_visible():
        b = banner.first.bounding_box()
        for r in boxes:
            assert (b["x"] > r["x"] + r["width"] or b["x"] + b["width"] < r["x"] or b["y"] > r["y"] + r["height"]
                    or b["y"] + b["height"] < r["y"]), "Solara's banner covers a figure"
    # a quiet terminal: no warning for each browser connection (Solara's cookie warning is filtered)
    log = server["log"].read_text()
    assert "samesite" not in log and "Traceback" not in log, log
    p.assert_offline(server)


def test_lever_change_is_pending_until_reset(app_page, server):
    p = app_page
    page = p.page
    _step_and_wait(p, 0, 1)
    assert "pool <b>120</b>" in page.locator(".citydip-run").inner_html()
    assert page.locator(".citydip-pending").count() == 0
    # funding pool 120 -> 60 (PageDown moves a 0-600 slider by 60), a remedy switched on
    pool = _slider(page, "600")
    assert pool.get_attribute("aria-valuenow") == "120"
    pool.focus()
    pool.press("PageDown")
    page.wait_for_function("() => document.querySelector(\"[role=slider][aria-valuemax='600']\")"
                           ".getAttribute('aria-valuenow') == '60'")
    p.wait_text(".citydip-pending", "Pending until Reset: Funding pool: 60 M USD/yr")
    assert "Funding pool: 60 M USD/yr" in page.locator("body").inner_text()
    page.get_by_label("Remedy: Open knowledge").check(force=True)
    p.wait_text(".citydip-pending", "remedies")
    # a seed that is not a whole number: a message under the field, in the page
    page.get_by_label("Seed").fill("abc")
    p.wait_text(".citydip-input-error", "Seed: expected a whole number")
    page.get_by_label("Seed").fill("1")
    page.wait_for_function("() => !document.querySelector('.citydip-input-error')", timeout=10_000)
    assert "pool <b>120</b>" in page.locator(".citydip-run").inner_html()  # nothing changed yet
    page.get_by_role("button", name="Reset").click()
    p.wait_text(".citydip-step", "step 0 of 45")
    p.wait_text(".citydip-interventions", "open_knowledge 1980+")
    page.wait_for_function("() => !document.querySelector('.citydip-pending')", timeout=30_000)
    assert "pool <b>60</b>" in page.locator(".citydip-run").inner_html()
    _step_and_wait(p, 0, 1)
    # Play runs on by itself until paused
    page.get_by_role("button", name="▶").click()
    p.wait_text(".citydip-step", "step 3 of 45", timeout=60_000)
    page.get_by_role("button", name="❚❚").click()
    page.get_by_role("button", name="▶").wait_for(timeout=30_000)
    # a step under way when Pause was pressed still finishes; then the model stays put
    deadline, last, since = time.time() + 30, p.text(".citydip-step"), time.time()
    while time.time() - since < 3.0:
        assert time.time() < deadline, "the model kept stepping after Pause"
        time.sleep(0.25)
        now = p.text(".citydip-step")
        if now != last:
            last, since = now, time.time()
    p.assert_offline(server)


def test_picking_a_scenario_file_sets_the_sidebar_to_its_values(app_page, server):
    p = app_page
    page = p.page
    page.locator(".v-select", has_text="Scenario file").first.click()
    page.get_by_role("option", name="scenarios/world_scale.yaml").click()
    page.wait_for_function("() => document.querySelector(\"[role=slider][aria-valuemax='600']\")"
                           ".getAttribute('aria-valuenow') == '400'")
    assert "Funding pool: 400 M USD/yr" in page.locator("body").inner_text()  # world_scale.yaml's pool
    p.wait_text(".citydip-pending", "scenario file scenarios/world_scale.yaml")
    assert "step 0 of 45" in p.text(".citydip-step") and "2,000 cities" in p.text(".citydip-city-count")  # not yet
    p.assert_offline(server)


def test_compare_tab_runs_several_seeds_per_side(app_page, server):
    p = app_page
    page = p.page
    page.get_by_role("tab", name="Compare").click()
    page.get_by_text("Seeds per side: 5").wait_for(timeout=30_000)  # five by default
    seeds = _slider(page, "20")
    seeds.focus()
    for _ in range(2):
        seeds.press("ArrowLeft")
    page.get_by_text("Seeds per side: 3").wait_for(timeout=10_000)
    page.get_by_role("button", name="Run both").click()
    page.wait_for_selector("img.citydip-compare-metrics", timeout=240_000)
    page.wait_for_selector("img.citydip-compare-themes", timeout=30_000)
    body = page.locator("body").inner_text()
    assert "Fragmentation index" in body and "B - A" in body and "3 seeds per side" in body
    assert "B: current run + Cross-network platform" in body  # side B: one remedy, not all of them
    # the table fits the page at 1366 px: its last column ("apart") is on screen, not cut
    table = page.locator(".citydip-compare-table")
    box = table.bounding_box()
    assert box["x"] + box["width"] <= VIEWPORT["width"], box
    assert table.evaluate("e => e.scrollWidth <= e.parentElement.clientWidth + 1")
    assert "apart" in table.locator("th").all_inner_texts()
    # a typo in an override: one message in the page, Run both disabled; nothing in the server's terminal
    page.locator(".citydip-side-A textarea").first.fill("resources.pol=60")
    p.wait_text(".citydip-input-error", "unknown field 'pol'")
    assert page.get_by_role("button", name="Run both").is_disabled()
    page.locator(".citydip-side-A textarea").first.fill("")
    assert "Traceback" not in server["log"].read_text()
    p.assert_offline(server)


def _images_drawn(page, classes: list[str]):
    """Every image of each class is present and decoded (naturalWidth > 100)."""
    for c in classes:
        imgs = page.locator(f"img.citydip-{c}")
        imgs.first.wait_for(timeout=60_000)
        for k in range(imgs.count()):
            page.wait_for_function("e => e.complete && e.naturalWidth > 100", arg=imgs.nth(k).element_handle(),
                                   timeout=30_000)


def test_every_tab_shows_its_page_and_a_claim_runs_to_its_verdict(app_page, server):
    """Explore, Compare and Claims in turn, each with what it shows; on the Claims tab a shipped claim runs
    with the smallest setting (two seeds per arm, quick world) and its verdicts appear, each one of the four
    words with its sentence. Bounded: about a minute on two cores."""
    from analysis.claims.verdict import EXPLAIN, VERDICTS

    p = app_page
    page = p.page
    t0 = time.time()
    # Explore: the four figures
    _images_drawn(page, ["metrics", "network", "themes", "cities"])
    assert "Top networks by members" in page.locator("body").inner_text()
    # Compare: its two sides; run with one seed per side, then its two figures
    page.get_by_role("tab", name="Compare").click()
    page.get_by_text("Seeds per side: 5").wait_for(timeout=30_000)
    assert page.locator("img.citydip-metrics").count() == 0  # only the shown page is drawn
    _slider_to_least(page, "20", "Seeds per side: 1")
    page.get_by_role("button", name="Run both").click()
    page.wait_for_selector("img.citydip-compare-metrics", timeout=120_000)
    _images_drawn(page, ["compare-metrics", "compare-themes"])
    body = page.locator("body").inner_text()
    assert "1 seed per side" in body and "it needs at least 3 seeds per side" in body  # never "apart: yes"
    # Claims: the claim picker offers the shipped claims; C3 on two seeds (the least) gives its verdicts
    page.get_by_role("tab", name="Claims").click()
    page.get_by_role("button", name="Run both arms").wait_for(timeout=30_000)
    assert page.locator("img.citydip-compare-metrics").count() == 0
    assert "Pick a claim" in page.locator("body").inner_text()
    page.locator(".citydip-claim-pick").first.click()
    options = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    assert [o.split(":")[0] for o in options] == ["C1", "C1b", "C2", "C3", "C4", "C4a", "C4b", "C4c", "C5", "C6",
                                                  "C7", "C8"], options
    page.get_by_role("option", name="C3: Spillover from the middle").click()
    _slider_to_least(page, "20", "Seeds per arm: 2")
    page.get_by_role("button", name="Run both arms").click()
    page.wait_for_selector(".citydip-claim-result .citydip-verdict", timeout=120_000)
    _images_drawn(page, ["claim-effects", "claim-over-time"])
    words = [w.strip() for w in page.locator(".citydip-claim-result .citydip-verdict").all_inner_texts()]
    assert words and all(w in VERDICTS for w in words), words
    legend = page.locator(".citydip-verdict-legend").inner_text()
    assert all(EXPLAIN[w] in legend for w in words), legend
    heading = page.locator(".citydip-claim-heading").inner_text()
    assert "C3: Spillover from the middle" in heading and "2 seeds per arm, quick size (synthetic world" in heading
    assert page.locator("img.citydip-claim-over-time").count() == 3  # C3's three outcomes
    # the same claim in the real world: real cities (the quick floor), its own verdicts
    page.locator(".citydip-claim-world").first.click()
    page.get_by_role("option", name="real").click()
    page.get_by_role("button", name="Run both arms").click()
    page.wait_for_function("document.querySelector('.citydip-claim-heading') && "
                           "document.querySelector('.citydip-claim-heading').innerText.includes('real world')",
                           timeout=120_000)
    heading = page.locator(".citydip-claim-heading").inner_text()
    assert "real world: real cities of 500,000 people or more" in heading, heading
    assert "inconclusive" not in page.locator("body").inner_text()
    # About: what the model is, three questions, the docs in the page
    page.get_by_role("tab", name="About").click()
    page.get_by_text("Three questions to try first").wait_for(timeout=30_000)
    page.get_by_role("button", name="Open docs/ODD.md").click()
    page.locator(".citydip-doc").get_by_text("ODD description of the model").first.wait_for(timeout=30_000)
    # back to Explore: its figures again
    page.get_by_role("tab", name="Explore").click()
    _images_drawn(page, ["metrics", "network", "themes", "cities"])
    print(f"\nevery tab, a Compare run and a claim run: {time.time() - t0:.1f} s")
    p.assert_offline(server)
