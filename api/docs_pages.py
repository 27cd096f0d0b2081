"""Redoc at ``/redoc``: a second, reading view of the spec, served from local assets.

Swagger UI (``/docs``) is for trying requests; Redoc lays the same spec out as
three-pane reference documentation. Both load only from this app, so they work
offline and behind a strict firewall.

Redoc's standalone bundle comes from PyPI's ``drf-spectacular-sidecar``, which
republishes the npm ``redoc`` build every month, so a machine with only Python
gets it from ``pip``. Only its static files are used, never its Django app, so
``requirements-assets.txt`` is installed with ``--no-deps`` and pins the wheel by
hash. Without the bundle, ``/redoc`` answers a 503 problem that says how to
install it rather than a page that stays blank.
"""

import importlib.util
from pathlib import Path

from flask import Blueprint, current_app, render_template_string, send_file, url_for

from api.errors import ApiProblem

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
CONTENT_SECURITY_POLICY = "; ".join(
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
    return page, {"Content-Security-Policy": CONTENT_SECURITY_POLICY}


@blueprint.get("/redoc/redoc.standalone.js")
def redoc_script():
    """Redoc's standalone bundle, revalidated by ETag (its URL carries no version)."""
    return send_file(_bundle(), mimetype="text/javascript", conditional=True, etag=True)


def register_docs_pages(app) -> None:
    """Serve ``/redoc`` and its script; call it after the API is registered."""
    app.extensions[BUNDLE_KEY] = installed_redoc_bundle()
    app.register_blueprint(blueprint)
