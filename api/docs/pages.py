"""Swagger UI at ``/docs`` and Redoc at ``/redoc``, on the OpenAPI 3 document, from local assets.

Swagger UI is for trying requests; Redoc lays the same document out as
three-pane reference documentation. Both read ``/api/v1/openapi.json``, whose
OAuth2 password flow lets Swagger UI's *Authorize* dialog log in with an email
and a password (``swagger.json`` stays served for Swagger 2.0 clients). Both
load only from this app, so they work offline and behind a strict firewall.

Their bundles come from PyPI's ``drf-spectacular-sidecar``, which republishes
the npm ``swagger-ui-dist`` and ``redoc`` builds every month, so a machine with
only Python gets them from ``pip`` (flask-restx ships an older Swagger UI, 4.19,
whose page template has inline code, and no Redoc). Only the package's static files are
used, never its Django app, so ``requirements-assets.txt`` is installed with
``--no-deps`` and pins the wheel by hash. Without it, both pages answer a 503
problem that says how to install it rather than a page that stays blank.

Each page sets its own Content-Security-Policy, which the security headers hook
keeps. The Swagger UI page has no inline code at all: its settings are in
``static/swagger-ui-init.js``, and the page passes the one thing that varies
(the spec's URL, which moves under a proxy's prefix) in a data attribute. Its
policy allows this app's scripts and styles and nothing else.
"""

import hashlib
import importlib.util
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template_string,
    request,
    send_from_directory,
    url_for,
)

from api.errors import ApiProblem
from api.hooks.security_headers import CSP

ASSETS_PACKAGE = "drf_spectacular_sidecar"
ASSETS_IN_PACKAGE = Path("static", ASSETS_PACKAGE)
SWAGGER_UI_IN_PACKAGE = ASSETS_IN_PACKAGE / "swagger-ui-dist"
BUNDLE_IN_PACKAGE = ASSETS_IN_PACKAGE / "redoc" / "bundles" / "redoc.standalone.js"
SWAGGER_UI_KEY = "storefront.swagger_ui"
BUNDLE_KEY = "storefront.redoc_bundle"
PATCHED_BUNDLE_KEY = "storefront.redoc_bundle.patched"
MISSING_ASSETS = (
    "The documentation's assets are not installed; run `make assets` "
    "(pip install --no-deps -r requirements-assets.txt)"
)
# Redoc's sidebar always shows Redocly's logo from its CDN, whatever the
# options. The page may load nothing from elsewhere, and a request its policy
# refuses is an error in the browser's console; so the bundle is served with
# that one URL pointing at an empty inline image (the attribution stays).
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"

SWAGGER_UI_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }}</title>
  <link rel="icon" type="image/png" href="{{ asset('favicon-32x32.png') }}">
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="stylesheet" href="{{ own('docs.css') }}">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{{ spec_url }}"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script src="{{ own('swagger-ui-init.js') }}"></script>
</body>
</html>
"""

# No fonts or scripts from elsewhere: Redoc falls back to the system's fonts.
REDOC_PAGE = """\
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

_COMMON_POLICY = [
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
]
# Swagger UI: its own scripts and styles only (React sets element styles
# through the DOM, which style-src does not govern); ``connect-src 'self'``
# lets it load the spec, log in and send "Try it out" requests; ``data:``
# images are the icons inlined in its stylesheet.
DOCS_POLICY = "; ".join(
    ["default-src 'none'", "script-src 'self'", "style-src 'self'", *_COMMON_POLICY]
)
# Redoc injects its styles at run time and runs its search index in a blob: worker.
REDOC_POLICY = "; ".join(
    [
        "default-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "worker-src 'self' blob:",
        *_COMMON_POLICY,
    ]
)

blueprint = Blueprint(
    "docs_pages", __name__, static_folder="static", static_url_path="/docs/static"
)


def installed_assets(relative: Path) -> Path | None:
    """Return the path of a file or directory of the assets package, or None without it.

    ``find_spec`` locates the package without importing it: its ``__init__``
    imports Django, which is deliberately not installed.
    """
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def installed_redoc_bundle() -> Path | None:
    """Return the path of Redoc's standalone bundle, or None when it is not installed."""
    return installed_assets(BUNDLE_IN_PACKAGE)


def _installed(key: str) -> Path:
    path = current_app.extensions[key]
    if path is None:
        raise ApiProblem(503, MISSING_ASSETS)
    return path


def _docs_page(template: str, policy: str, **urls):
    """A documentation page on the OpenAPI 3 document, under its own ``policy``."""
    page = render_template_string(
        template,
        title=current_app.extensions["storefront.api"].title,
        spec_url=url_for("openapi3"),
        **urls,
    )
    return page, {CSP: policy}


@blueprint.get("/docs")
def swagger_ui():
    """Swagger UI on the OpenAPI 3 document, with the policy that allows exactly its assets."""
    _installed(SWAGGER_UI_KEY)
    return _docs_page(
        SWAGGER_UI_PAGE,
        DOCS_POLICY,
        asset=lambda name: url_for("docs_pages.swagger_ui_asset", filename=name),
        own=lambda name: url_for("docs_pages.static", filename=name),
    )


@blueprint.get("/docs/")
def swagger_ui_slash():
    """The docs' address is ``/docs``; a trailing slash is how people type it too."""
    return redirect(url_for("docs_pages.swagger_ui"), 308)


@blueprint.get("/swaggerui/<path:filename>")
def swagger_ui_asset(filename: str):
    """A file of Swagger UI's distribution, revalidated by ETag (its URL carries no version)."""
    return send_from_directory(_installed(SWAGGER_UI_KEY), filename, conditional=True, etag=True)


@blueprint.get("/redoc")
def redoc_page():
    """The Redoc page; it loads the OpenAPI 3 document and the bundle below."""
    _installed(BUNDLE_KEY)
    return _docs_page(REDOC_PAGE, REDOC_POLICY, script_url=url_for("docs_pages.redoc_script"))


@blueprint.get("/redoc/redoc.standalone.js")
def redoc_script():
    """Redoc's standalone bundle, without its CDN logo, revalidated by ETag."""
    body, tag = _patched_bundle(_installed(BUNDLE_KEY))
    response = Response(body, mimetype="text/javascript")
    response.set_etag(tag)
    response.cache_control.no_cache = True
    return response.make_conditional(request)


def _patched_bundle(bundle: Path) -> tuple[bytes, str]:
    """The bundle's bytes with ``REDOC_CDN_LOGO`` replaced, and their ETag: read once."""
    cached = current_app.extensions.get(PATCHED_BUNDLE_KEY)
    if cached is None or cached[0] != bundle:
        body = bundle.read_bytes().replace(REDOC_CDN_LOGO, EMPTY_IMAGE)
        cached = (bundle, body, hashlib.sha256(body).hexdigest()[:32])
        current_app.extensions[PATCHED_BUNDLE_KEY] = cached
    return cached[1], cached[2]


def register_docs_pages(app) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets; call it after the rate limiter.

    The assets are static files, which the rate limiter never counts.
    """
    app.extensions[SWAGGER_UI_KEY] = installed_assets(SWAGGER_UI_IN_PACKAGE)
    app.extensions[BUNDLE_KEY] = installed_redoc_bundle()
    app.register_blueprint(blueprint)
    limiter = app.extensions.get("storefront.limiter")
    if limiter is not None:
        for endpoint in ("swagger_ui_asset", "redoc_script"):
            limiter.exempt(app.view_functions[f"docs_pages.{endpoint}"])
