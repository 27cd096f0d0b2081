"""Swagger UI (/docs) and Redoc (/redoc) in a real browser, against a live gunicorn.

Playwright drives Debian's Chromium (``apt-get install chromium``), never a browser
of Playwright's own download. One browser serves the whole module; each test gets
a fresh context, so an authorization never leaks from one test into the next.
Screenshots land in ``build/screenshots/`` as artifacts.
"""

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    expect,
    sync_playwright,
)

from tests.e2e.live import ROOT, LiveServer, seeded_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
# This machine reaches no network but package registries: keep Chromium from
# phoning home (updates, sync, metrics), and resolve no host name at all, so a
# stray off-localhost request fails at once instead of hanging until a timeout.
LAUNCH_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
LOCAL_SCHEMES = {"data", "blob"}  # inline resources, never leave the browser

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with seeded_server(tmp_path_factory.mktemp("browser")) as live:
        yield live


@pytest.fixture(scope="module")
def spec(server) -> dict:
    return server.request("GET", "/api/v1/swagger.json").json


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (.ci/run); its absence is a bug there
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield browser
        browser.close()


@dataclass
class PageLog:
    """What a page did besides rendering: its requests and its errors."""

    requested: list[str] = field(default_factory=list)
    blocked_by_csp: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext, page: Page) -> None:
        """Log every request of ``context`` and every error ``page`` logs or throws."""
        context.on("request", self._requested)
        context.on("requestfailed", self._failed)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _requested(self, request: Request) -> None:
        self.requested.append(request.url)

    def _failed(self, request: Request) -> None:
        # A request the page's Content-Security-Policy forbids is stopped inside
        # the browser; Playwright still reports it as a request, then as failed.
        if request.failure == "csp":
            self.blocked_by_csp.add(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def left_the_browser(self) -> list[str]:
        """URLs requested over the network: not inline, not stopped by the page's CSP."""
        return [
            url
            for url in self.requested
            if urlsplit(url).scheme not in LOCAL_SCHEMES and url not in self.blocked_by_csp
        ]

    def assert_all_local(self) -> None:
        """Every request that left the browser went to the live server on 127.0.0.1."""
        sent = self.left_the_browser()
        assert sent
        assert [url for url in sent if urlsplit(url).hostname != "127.0.0.1"] == []


@pytest.fixture
def log() -> PageLog:
    """The log of the page of this test."""
    return PageLog()


@pytest.fixture
def page(browser, log) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log.watch(context, page)
    yield page
    context.close()


def tags_of(spec: dict) -> list[str]:
    """The tags the spec declares or any operation uses, declared ones first."""
    tags = [tag["name"] for tag in spec.get("tags", [])]
    for path in spec["paths"].values():
        for method, operation in path.items():
            if method != "parameters":
                tags += [tag for tag in operation.get("tags", []) if tag not in tags]
    return tags


def operation_ids(spec: dict) -> list[str]:
    """Every operationId in the spec."""
    return [
        operation["operationId"]
        for path in spec["paths"].values()
        for method, operation in path.items()
        if method != "parameters"
    ]


def login_token(server) -> str:
    """An access token from a real login of the demo admin."""
    response = server.request(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": "admin@example.com", "password": "admin-demo-password"},
    )
    assert response.status_code == 200
    return response.json["access_token"]


def open_docs(page: Page, server) -> None:
    """Load Swagger UI and wait until it has rendered the spec."""
    page.goto(f"{server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()


def try_it_out(page: Page, tag: str, operation_id: str, edit_body=None):
    """Expand an operation, press Try it out and Execute; return the response's status cell.

    ``edit_body`` receives the body Swagger UI prefilled from the examples and
    returns the one to send.
    """
    operation = page.locator(f"#operations-{tag}-{operation_id}")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    if edit_body is not None:
        textarea = operation.locator("textarea.body-param__text")
        textarea.fill(json.dumps(edit_body(json.loads(textarea.input_value()))))
    operation.locator("button.execute").click()
    return operation.locator(".live-responses-table tr.response .response-col_status")


def new_sku(body: dict) -> dict:
    """The prefilled product, with a SKU no other test used (SKUs are unique)."""
    return {**body, "sku": f"UI-{uuid.uuid4().hex[:8].upper()}"}


def test_docs_render_every_namespace_and_operation_from_localhost_only(page, log, server, spec):
    open_docs(page, server)
    for tag in tags_of(spec):
        expect(page.locator(f'h3.opblock-tag[data-tag="{tag}"]')).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(len(operation_ids(spec)))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "docs.png", full_page=True)
    log.assert_all_local()
    assert log.blocked_by_csp == set()
    assert log.errors == []


def test_try_it_out_lists_products(page, log, server):
    open_docs(page, server)
    expect(try_it_out(page, "products", "listProducts")).to_have_text("200")
    log.assert_all_local()


def test_try_it_out_without_authorizing_cannot_create_a_product(page, log, server):
    open_docs(page, server)
    expect(try_it_out(page, "products", "createProduct", new_sku)).to_have_text("401")
    log.assert_all_local()


def test_authorize_with_a_real_login_then_create_a_product(page, log, server):
    open_docs(page, server)
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.locator("input[type=text]").fill(f"Bearer {login_token(server)}")
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()
    expect(try_it_out(page, "products", "createProduct", new_sku)).to_have_text("201")
    live_response = page.locator("#operations-products-createProduct .live-responses-table")
    expect(live_response).to_contain_text('"sku": "UI-')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    live_response.screenshot(path=SCREENSHOTS / "docs-create-product.png")
    log.assert_all_local()


def test_redoc_renders_every_operation_from_localhost_only(page, log, server, spec):
    page.goto(f"{server.url}/redoc")
    expect(page.get_by_role("heading", name=spec["info"]["title"])).to_be_visible()
    for tag in tags_of(spec):
        expect(page.locator(f'[data-section-id="tag/{tag}"]')).to_be_attached()
    for operation_id in operation_ids(spec):
        expect(page.locator(f'[data-section-id="operation/{operation_id}"]')).to_be_attached()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "redoc.png")
    # Redoc always shows Redocly's logo from a CDN; /redoc's CSP stops that in
    # the browser, and stops nothing else.
    log.assert_all_local()
    assert all("Content Security Policy" in error for error in log.errors), log.errors
