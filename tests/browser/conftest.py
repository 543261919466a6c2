"""Browser tests: the app served on loopback by a real WSGI server, driven by Debian's Chromium via Playwright."""
from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # Safety net; each browser test module also says `pytestmark = pytest.mark.browser`.
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_server(make_app):
    """Serve a fresh app (CSRF on, as in production) on a free loopback port."""
    servers = []

    def start(**overrides):
        overrides.setdefault("WTF_CSRF_ENABLED", True)
        app = make_app(**overrides)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        app.config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return app, app.config["PUBLIC_BASE_URL"]

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"Chromium is needed at {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="fr-FR")
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()
