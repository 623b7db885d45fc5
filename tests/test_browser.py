"""The browser app end to end: `python run.py serve` in a subprocess, driven by Playwright with
Debian's Chromium (/usr/bin/chromium; never `playwright install`).

Every request the page makes to anything but the loopback server is aborted and recorded, and the
tests assert that none was made (and that the server did not fetch assets from the internet
either): the app works offline. Step advances the model and changes a plot; a lever and a remedy
switch followed by Reset rebuild the model; Play runs until paused; the comparison page runs two
settings side by side. With UPDATE_SCREENSHOT=1 the first test rewrites docs/screenshot.png (README).
"""

from __future__ import annotations

import os
import tempfile
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCENARIO = "scenarios/baseline.yaml"
# README's screenshot is rewritten only on request (UPDATE_SCREENSHOT=1), so test runs leave the tree clean
SCREENSHOT = ROOT / "docs" / "screenshot.png" if os.environ.get("UPDATE_SCREENSHOT") else Path(tempfile.gettempdir()) / "citydip-screenshot.png"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

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
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000})
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.goto(url)
        self.page.wait_for_selector("img.citydip-metrics", timeout=60_000)
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


def test_page_loads_offline_and_step_changes_the_plots(app_page, server):
    p = app_page
    page = p.page
    assert "City diplomacy" in page.locator("header, .v-app-bar, .v-toolbar").first.inner_text()
    for panel in ("metrics", "network", "themes", "cities"):
        img = page.locator(f"img.citydip-{panel}")
        assert img.evaluate("e => e.naturalWidth") > 100, panel
    assert "step 0 of 45" in p.text(".citydip-step")
    assert "Top networks by members" in page.locator("body").inner_text()

    before = page.locator("img.citydip-metrics").screenshot()
    src = p.src("img.citydip-metrics")
    t0 = time.perf_counter()
    page.get_by_role("button", name="Step").click()
    p.wait_text(".citydip-step", "step 1 of 45")
    p.wait_new_src("img.citydip-metrics", src)
    print(f"Step -> updated plots in the browser: {time.perf_counter() - t0:.2f} s")
    assert "Year 1980" in p.text(".citydip-year")
    assert page.locator("img.citydip-metrics").screenshot() != before

    # the README screenshot, some twenty years in: Step with a render interval of 19 (keyboard on the slider)
    interval = page.get_by_role("slider").nth(1)
    interval.focus()
    for _ in range(9):
        interval.press("ArrowRight")
    page.wait_for_function("() => document.querySelectorAll('[role=slider]')[1].getAttribute('aria-valuenow') == '19'")
    src = p.src("img.citydip-network")
    page.get_by_role("button", name="Step").click()
    p.wait_text(".citydip-step", "step 20 of 45", timeout=60_000)
    p.wait_new_src("img.citydip-network", src)
    page.set_viewport_size({"width": 1600, "height": 1350})  # tall enough for the table and the Run panel
    time.sleep(1.5)  # let every panel finish drawing
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000
    p.assert_offline(server)


def test_lever_and_remedy_then_reset_rebuild_the_model(app_page, server):
    p = app_page
    page = p.page
    page.get_by_role("button", name="Step").click()
    p.wait_text(".citydip-step", "step 1 of 45")
    assert "pool <b>120</b>" in page.locator(".citydip-run").inner_html()
    # funding pool 120 -> 60 (PageDown moves a 0-600 slider by 60), a remedy switched on
    pool = page.get_by_role("slider").nth(2)
    assert pool.get_attribute("aria-valuenow") == "120"
    pool.focus()
    pool.press("PageDown")
    page.wait_for_function("() => document.querySelectorAll('[role=slider]')[2].getAttribute('aria-valuenow') == '60'")
    page.get_by_label("Remedy: Open knowledge").check(force=True)
    page.get_by_role("button", name="Reset").click()
    p.wait_text(".citydip-step", "step 0 of 45")
    p.wait_text(".citydip-interventions", "open_knowledge 1980+")
    assert "pool <b>60</b>" in page.locator(".citydip-run").inner_html()
    src = p.src("img.citydip-metrics")
    page.get_by_role("button", name="Step").click()
    p.wait_text(".citydip-step", "step 1 of 45")
    p.wait_new_src("img.citydip-metrics", src)
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


def test_compare_page_runs_two_settings_side_by_side(app_page, server):
    p = app_page
    page = p.page
    page.get_by_role("tab", name="Page 1").click()
    page.get_by_role("button", name="Run both").click()
    page.wait_for_selector("img.citydip-compare-metrics", timeout=90_000)
    page.wait_for_selector("img.citydip-compare-themes", timeout=30_000)
    body = page.locator("body").inner_text()
    assert "Fragmentation index" in body and "B - A" in body
    assert "6 remedies" in body  # side B: the current run plus every remedy
    p.assert_offline(server)
