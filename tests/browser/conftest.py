"""The console's browser tests: Playwright (sync API) driving Debian's chromium, headless,
against a real multi-node local network. Chromium is launched once per module; each test
saves its screenshots under tests/browser/artifacts/<test>/ (git-ignored).

Skipped, saying why, when /usr/bin/chromium, Playwright or the vendored browser code
(scripts/vendor_console.py) is missing: scripts/install.sh provides all three."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.localnet import LocalNet

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
VENDOR = (Path(__file__).resolve().parents[2] / "src/consortium/console/static/vendor")


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (VENDOR / "htmx.min.js").is_file() or not (VENDOR / "ethers.umd.min.js").is_file():
        return "the console's vendored browser code is missing (scripts/vendor_console.py)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module's tests."""
    why = _missing()
    if why is not None:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu",
                                           "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def console_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    """A real 4-validator network (the module's), its consoles on at /console."""
    if _missing() is not None:
        pytest.skip(_missing() or "")
    yield from running_net(tmp_path_factory, "console", validators=4)


def running_net(tmp_path_factory: pytest.TempPathFactory, name: str,
                **kwargs: Any) -> Iterator[LocalNet]:
    """A real local network (LocalNet's arguments) up at height 2, for a module fixture to
    `yield from`; cleaned up after."""
    net = LocalNet(tmp_path_factory.mktemp(name) / "net", **kwargs)
    try:
        net.up()
        net.wait_height(2, timeout=90)
        yield net
    finally:
        net.cleanup()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page; console errors of the page fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(20_000)
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"the page raised: {errors}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """shot(page, "name") saves a full-page screenshot as artifacts/<test>/<n>-name.png."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    count = [0]

    def take(pg: Any, name: str) -> Path:
        count[0] += 1
        path = folder / f"{count[0]:02d}-{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    return take
