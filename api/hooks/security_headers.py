"""Security headers on every response, with the strictest Content-Security-Policy by default.

The API answers JSON that no browser should render, frame or run anything from,
so its responses get the strictest policy. A view that sets its own policy (the
documentation pages, ``api.docs.pages``) keeps it. HSTS is sent only over
HTTPS, as RFC 6797 requires; behind a TLS-terminating proxy, ``BEHIND_PROXY``
makes ``request.is_secure`` reflect the client's scheme.
"""

from flask import request

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
    """Add the security headers to every response."""
    app.after_request(_add_security_headers)
