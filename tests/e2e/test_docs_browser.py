"""Swagger UI (/docs) and Redoc (/redoc) in a real browser, against a live gunicorn.

Playwright drives Debian's Chromium (``apt-get install chromium``), never a browser
of Playwright's own download. One browser serves the whole module; each test gets
a fresh context, so an authorization never leaks from one test into the next.
Both pages render the OpenAPI 3 document; a person logs in from the Authorize
dialog with an email and a password, as the README says. Every test insists on a
console without errors or warnings and on no request leaving 127.0.0.1 or being
refused by the page's Content-Security-Policy. Screenshots land in
``build/screenshots/`` as artifacts.
"""

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

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
TOKEN_PATH = "/api/v1/auth/token"
DEMO_ADMIN = ("admin@example.com", "admin-demo-password")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with seeded_server(tmp_path_factory.mktemp("browser")) as live:
        yield live


@pytest.fixture(scope="module")
def spec(server) -> dict:
    """The document both pages render."""
    return server.request("GET", "/api/v1/openapi.json").json


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
    """What a page did besides rendering: its requests, its errors and warnings."""

    requested: list[str] = field(default_factory=list)
    blocked_by_csp: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    token_requests: list[Request] = field(default_factory=list)

    def watch(self, context: BrowserContext, page: Page) -> None:
        """Log every request of ``context`` and every error ``page`` logs or throws."""
        context.on("request", self._requested)
        context.on("requestfailed", self._failed)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _requested(self, request: Request) -> None:
        self.requested.append(request.url)
        if urlsplit(request.url).path == TOKEN_PATH:
            self.token_requests.append(request)

    def _failed(self, request: Request) -> None:
        # A request the page's Content-Security-Policy forbids is stopped inside
        # the browser; Playwright still reports it as a request, then as failed.
        if request.failure == "csp":
            self.blocked_by_csp.add(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        # A refused request, a failed load or a bug logs one of these.
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

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

    def assert_clean(self) -> None:
        """All local, nothing refused by the page's policy, and a quiet console."""
        self.assert_all_local()
        assert self.blocked_by_csp == set()
        assert self.errors == []


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


def open_docs(page: Page, server) -> None:
    """Load Swagger UI and wait until it has rendered the spec."""
    page.goto(f"{server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()


def screenshot(target, name: str, *, full_page: bool = False) -> None:
    """Keep a picture of ``target`` (a page or an element) in build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if isinstance(target, Page):
        target.screenshot(path=SCREENSHOTS / name, full_page=full_page)
    else:
        target.screenshot(path=SCREENSHOTS / name)


def try_it_out(page: Page, tag: str, operation_id: str, edit_body=None):
    """Expand an operation, press Try it out and Execute; return the response's status cell.

    ``edit_body`` receives the body Swagger UI prefilled from the examples and
    returns the one to send.
    """
    operation = page.locator(f"#operations-{tag}-{operation_id}")
    # deepLinking reopens, after a reload, the operation last opened.
    if "is-open" not in (operation.get_attribute("class") or ""):
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


def log_in_from_the_dialog(page: Page, email: str, password: str) -> None:
    """Authorize as a person does: the OAuth2 section of the dialog, email and password."""
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    oauth2 = dialog.locator(".auth-container", has=page.locator("h4", has_text="OAuth2"))
    oauth2.locator("#oauth_username").fill(email)
    oauth2.locator("#oauth_password").fill(password)
    oauth2.locator("button.authorize").click()
    # Logged in, the section offers to log out instead.
    expect(oauth2.locator("button", has_text="Logout")).to_be_visible()
    screenshot(dialog, "docs-authorized.png")
    oauth2.locator("button.btn-done").click()
    expect(dialog).to_have_count(0)


def test_docs_render_every_tag_and_operation_in_the_documents_order(page, log, server, spec):
    open_docs(page, server)
    expect(page.locator(".info .title")).to_contain_text(spec["info"]["title"])
    # The OpenAPI 3 document, not swagger.json.
    expect(page.locator(".info .version-stamp")).to_be_visible()
    expect(page.locator(".info a[href$='/api/v1/openapi.json']")).to_be_visible()
    for tag in tags_of(spec):
        expect(page.locator(f'h3.opblock-tag[data-tag="{tag}"]')).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(len(operation_ids(spec)))
    shown = [
        element.get_attribute("id").rsplit("-", 1)[1]
        for element in page.locator(".opblock[id^=operations-]").all()
    ]
    assert shown == operation_ids(spec)  # Swagger UI keeps the documents' order
    screenshot(page, "docs.png", full_page=True)
    log.assert_clean()


def test_try_it_out_lists_products(page, log, server):
    open_docs(page, server)
    expect(try_it_out(page, "products", "listProducts")).to_have_text("200")
    log.assert_clean()


def test_try_it_out_without_authorizing_cannot_create_a_product(page, log, server):
    open_docs(page, server)
    expect(try_it_out(page, "products", "createProduct", new_sku)).to_have_text("401")
    log.assert_all_local()


def test_log_in_from_the_dialog_create_a_product_reload_and_create_another(page, log, server):
    open_docs(page, server)
    log_in_from_the_dialog(page, *DEMO_ADMIN)

    # The dialog posted RFC 6749's form to the tokenUrl and got the tokens.
    (token_request,) = log.token_requests
    assert token_request.method == "POST"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(token_request.post_data))
    assert form["grant_type"] == "password"
    assert form["username"] == DEMO_ADMIN[0]
    assert token_request.response().status == 200

    expect(try_it_out(page, "products", "createProduct", new_sku)).to_have_text("201")
    live_response = page.locator("#operations-products-createProduct .live-responses-table")
    expect(live_response).to_contain_text('"sku": "UI-')
    screenshot(live_response, "docs-create-product.png")

    # persistAuthorization: after a reload the page is still logged in.
    page.reload()
    # deepLinking reopens the operation last opened (its id is in the URL's fragment).
    expect(page.locator("#operations-products-createProduct")).to_have_class(re.compile("is-open"))
    expect(try_it_out(page, "products", "createProduct", new_sku)).to_have_text("201")
    screenshot(
        page.locator("#operations-products-createProduct .live-responses-table"),
        "docs-create-product-after-reload.png",
    )
    assert len(log.token_requests) == 1  # not a second login
    log.assert_clean()


def test_the_token_operation_is_prefilled_with_the_demo_login(page, log, server):
    open_docs(page, server)
    expect(try_it_out(page, "auth", "issueToken")).to_have_text("200")
    live_response = page.locator("#operations-auth-issueToken .live-responses-table")
    expect(live_response).to_contain_text('"token_type": "Bearer"')
    expect(live_response).to_contain_text("no-store")
    log.assert_clean()


def test_redoc_renders_every_operation_from_localhost_only(page, log, server, spec):
    page.goto(f"{server.url}/redoc")
    expect(page.get_by_role("heading", name=spec["info"]["title"])).to_be_visible()
    for tag in tags_of(spec):
        expect(page.locator(f'[data-section-id="tag/{tag}"]')).to_be_attached()
    for operation_id in operation_ids(spec):
        expect(page.locator(f'[data-section-id="operation/{operation_id}"]')).to_be_attached()
    # Redoc lays the operations out in the documents' order too.
    sections = page.locator('[data-section-id^="operation/"]').all()
    shown = [section.get_attribute("data-section-id").split("/", 1)[1] for section in sections]
    assert list(dict.fromkeys(shown)) == operation_ids(spec)
    screenshot(page, "redoc.png")
    # An operation with its request and error examples, as a reader sees them.
    page.locator('[data-section-id="operation/createProduct"]').scroll_into_view_if_needed()
    screenshot(page, "redoc-create-product.png")
    # Not even Redocly's CDN logo is requested (the bundle is served without it).
    log.assert_clean()
