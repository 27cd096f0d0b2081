"""Swagger UI at ``/docs`` and Redoc at ``/redoc``, served from local assets.

Swagger UI is for trying requests; Redoc lays the same spec out as three-pane
reference documentation. Both load only from this app, so they work offline and
behind a strict firewall.

Each page sets its own Content-Security-Policy, which the security headers hook
keeps. Swagger UI's template has one inline ``<script>`` and one inline
``<style>``: rather than allowing every inline script (``'unsafe-inline'``), its
policy names exactly those by their SHA-256 hash, computed from the page as
rendered (its spec URL depends on the proxy prefix).

Redoc's standalone bundle comes from PyPI's ``drf-spectacular-sidecar``, which
republishes the npm ``redoc`` build every month, so a machine with only Python
gets it from ``pip``. Only its static files are used, never its Django app, so
``requirements-assets.txt`` is installed with ``--no-deps`` and pins the wheel by
hash. Without the bundle, ``/redoc`` answers a 503 problem that says how to
install it rather than a page that stays blank.
"""

import base64
import hashlib
import importlib.util
import re
from pathlib import Path

from flask import Blueprint, current_app, make_response, render_template_string, send_file, url_for
from flask_restx.apidoc import ui_for

from api.errors import ApiProblem
from api.hooks.security_headers import CSP

ASSETS_PACKAGE = "drf_spectacular_sidecar"
BUNDLE_IN_PACKAGE = Path("static", ASSETS_PACKAGE, "redoc", "bundles", "redoc.standalone.js")
BUNDLE_KEY = "storefront.redoc_bundle"
MISSING_ASSETS = (
    "Redoc assets are not installed; run `make assets` "
    "(pip install --no-deps -r requirements-assets.txt)"
)

# No fonts or scripts from elsewhere: Redoc falls back to the system's fonts.
PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} reference</title>
  <link rel="icon" href="data:,">
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="{{ spec_url }}"></redoc>
  <script src="{{ script_url }}"></script>
</body>
</html>
"""

# The page may load from this app only. Redoc's sidebar footer always shows a
# logo from Redocly's CDN; the policy stops the browser fetching it (Redoc then
# drops the image) and anything else a later bundle might reach for. Redoc
# injects its styles at run time and runs its search index in a blob: worker.
REDOC_POLICY = "; ".join(
    [
        "default-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

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


blueprint = Blueprint("docs_pages", __name__)


def installed_redoc_bundle() -> Path | None:
    """Return the path of Redoc's standalone bundle, or None when it is not installed.

    ``find_spec`` locates the package without importing it: its ``__init__``
    imports Django, which is deliberately not installed.
    """
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    bundle = Path(next(iter(spec.submodule_search_locations))) / BUNDLE_IN_PACKAGE
    return bundle if bundle.is_file() else None


def _bundle() -> Path:
    bundle = current_app.extensions[BUNDLE_KEY]
    if bundle is None:
        raise ApiProblem(503, MISSING_ASSETS)
    return bundle


@blueprint.get("/redoc")
def redoc_page():
    """The Redoc page; it loads the spec the API serves and the bundle below."""
    _bundle()
    page = render_template_string(
        PAGE,
        title=current_app.extensions["storefront.api"].title,
        spec_url=url_for("spec"),
        script_url=url_for("docs_pages.redoc_script"),
    )
    return page, {CSP: REDOC_POLICY}


@blueprint.get("/redoc/redoc.standalone.js")
def redoc_script():
    """Redoc's standalone bundle, revalidated by ETag (its URL carries no version)."""
    return send_file(_bundle(), mimetype="text/javascript", conditional=True, etag=True)


def register_docs_pages(app) -> None:
    """Serve ``/docs``, ``/redoc`` and Redoc's script; call it after the API is registered."""
    app.extensions["storefront.api"].documentation(_docs_page)
    app.extensions[BUNDLE_KEY] = installed_redoc_bundle()
    app.register_blueprint(blueprint)
