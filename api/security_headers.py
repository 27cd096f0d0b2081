"""Security headers on every response, and a Content-Security-Policy per kind of page.

The API answers JSON that no browser should render, frame or run anything from,
so its responses get the strictest policy. Swagger UI at ``/docs`` is the one
page that needs more: its template has one inline ``<script>`` and one inline
``<style>``. Rather than allowing every inline script (``'unsafe-inline'``), the
docs page names exactly those two by their SHA-256 hash, computed from the page
as rendered (its spec URL depends on the proxy prefix).

A view that sets its own policy (``/redoc``) keeps it. HSTS is sent only over
HTTPS, as RFC 6797 requires; behind a TLS-terminating proxy, ``BEHIND_PROXY``
makes ``request.is_secure`` reflect the client's scheme.
"""

import base64
import hashlib
import re

from flask import current_app, make_response, request
from flask_restx.apidoc import ui_for

CSP = "Content-Security-Policy"
# JSON, problems, files: nothing to run, style, embed or frame.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# What every response gets unless its view set its own (``/redoc`` sets a CSP).
_DEFAULTS = (*SECURITY_HEADERS.items(), (CSP, API_POLICY))
_INLINE = {
    "script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL),
    "style": re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL),
    "style attribute": re.compile(r'\sstyle="([^"]*)"'),
}


def _hashes(page: str, kind: str) -> str:
    """CSP hash sources of every inline ``kind`` (script, style, style attribute) of ``page``."""
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in sorted(set(_INLINE[kind].findall(page)))
    )


def docs_policy(page: str) -> str:
    """The policy of the Swagger UI page: its own assets, and its inline code by hash.

    ``connect-src 'self'`` lets it load the spec and send "Try it out" requests;
    ``data:`` images are the icons inlined in its stylesheet. The template also
    hides its SVG sprite with a ``style`` attribute, which only ``'unsafe-hashes'``
    plus that attribute's hash allows (CSP Level 3).
    """
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {_hashes(page, 'script')}",
            f"style-src 'self' {_hashes(page, 'style')}"
            f" 'unsafe-hashes' {_hashes(page, 'style attribute')}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _docs_page():
    """Swagger UI, as flask-restx renders it, with the policy for exactly this page."""
    page = ui_for(current_app.extensions["storefront.api"])
    response = make_response(page)
    response.headers[CSP] = docs_policy(page)
    return response


def _add_security_headers(response):
    headers = response.headers
    # One pass over the headers instead of a scan per setdefault: this runs on
    # every response.
    present = {name.lower() for name, _ in headers.items()}
    for name, value in _DEFAULTS:
        if name.lower() not in present:
            headers.add(name, value)
    if request.is_secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    return response


def register_security_headers(app) -> None:
    """Add the security headers to every response; call it after the API is registered."""
    app.extensions["storefront.api"].documentation(_docs_page)
    app.after_request(_add_security_headers)
