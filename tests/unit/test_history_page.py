"""`zdd history ID --html FILE`: one run drawn as a self-contained page, opened in a real
browser (Debian's chromium, headless, driven by Playwright): each container's phases on the
timeline in the order they ran, the probe's requests and failures per second under it, and
nothing fetched from anywhere. Names from the record are escaped, not markup."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zdd.errors import DeployError
from zdd.events import Event
from zdd.history import Recorder
from zdd.history_page import page
from zdd.probe import Report, Sample

from .fakes import FakeClock

pytestmark = pytest.mark.browser
SIBLING_STEPS = ("drain", "stop", "up", "gate", "admit", "watch")


def a_deploy() -> dict[str, Any]:
    """A record: a build, two siblings replaced in turn, the second one named like markup,
    and a probe that saw one failure in the third second; it failed at the end."""
    clock, ticks = FakeClock(), iter(range(1000))
    clock.now = 1_796_645_000.0
    recorder = Recorder("deploy", ["deploy"], clock=clock, monotonic=lambda: 50.0)
    clock.sleep(2)
    recorder(Event("step", "compose build", {"kind": "build", "service": None, "seconds": 2}))
    for sibling in ("service_a", "<b>x</b>"):
        for kind in SIBLING_STEPS:
            clock.sleep(0.5 if kind != "gate" else 1.5)
            seconds = 0.5 if kind != "gate" else 1.5
            recorder(Event("step", f"{kind} {sibling}", {"kind": kind, "service": sibling,
                                                         "seconds": seconds}))  # fmt: skip
    samples = [Sample(50.0 + next(ticks) / 20, 0.01, None, "1") for _ in range(140)]
    samples[45] = Sample(samples[45].started, 0.2, "5xx", None)
    recorder.probed(Report(samples))
    return recorder.record("shop", DeployError("<script>alert(1)</script> failed"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium; missing, a failure in CI (ZDD_REQUIRE_ENGINE), else a skip."""
    binary = os.environ.get("ZDD_CHROMIUM") or shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        binary = None
    if not binary:
        if os.environ.get("ZDD_REQUIRE_ENGINE"):
            pytest.fail("chromium and playwright are required (scripts/browser-up.sh)")
        pytest.skip("chromium or playwright is not installed (scripts/browser-up.sh)")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_the_page_shows_each_container_s_phases_and_the_traffic_under_them(
    browser: Any, tmp_path: Path
) -> None:
    record = a_deploy()
    path = tmp_path / "deploy.html"
    path.write_text(page(record), encoding="utf-8")
    view = browser.new_page()
    fetched: list[str] = []
    view.on("request", lambda request: fetched.append(request.url))
    view.goto(path.as_uri())
    assert fetched == [path.as_uri()], "self-contained: nothing but the page itself"
    assert view.locator("script").count() == 0  # the error's <script> is text
    assert "<script>alert(1)</script> failed" in view.inner_text("p.error")
    for sibling in ("service_a", "<b>x</b>"):
        boxes = []
        for kind in SIBLING_STEPS:
            rect = view.locator(f"rect.phase[data-service='{sibling}'][data-kind='{kind}']")
            box = rect.bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0, (sibling, kind)
            boxes.append(box)
        starts = [box["x"] for box in boxes]
        assert starts == sorted(starts), f"{sibling}'s phases in the order they ran"
        assert len({box["y"] for box in boxes}) == 1, "one row per container"
    build = view.locator("rect.phase[data-kind='build']").bounding_box()
    assert build is not None and build["x"] < starts[0]
    assert view.locator("svg.timeline text", has_text="<b>x</b>").count() == 1  # text, not markup
    assert view.locator("svg.traffic rect.requests").count() == 7  # 140 requests, 20/s
    failed = [view.locator("svg.traffic rect.failed").nth(i).bounding_box() for i in range(7)]
    assert [i for i, box in enumerate(failed) if box and box["height"] > 0] == [2]
    assert view.locator("svg.traffic polyline.p99").count() == 1
    assert "140 requests, 1 failed" in view.inner_text("body")
    view.close()


def test_a_run_without_a_probe_says_how_to_record_traffic(browser: Any, tmp_path: Path) -> None:
    record = a_deploy() | {"traffic": [], "error": "", "result": "ok", "exit_code": 0}
    path = tmp_path / "ok.html"
    path.write_text(page(record), encoding="utf-8")
    view = browser.new_page()
    view.goto(path.as_uri())
    assert "--verify URL" in view.inner_text("p.no-traffic")
    assert view.locator("rect.phase").count() == 1 + 2 * len(SIBLING_STEPS)
    view.close()
