"""Behind a proxy (``BEHIND_PROXY``): one proxy's ``X-Forwarded-*`` headers are trusted.

So the docs load the spec over the client's https and under the proxy's prefix;
without the setting the headers are ignored.
"""

import re

from api.hooks.security_headers import HSTS

# The Swagger UI page passes its spec's URL to its script in this attribute.
SPEC_URL = re.compile(r'data-spec-url="([^"]*)"')

FORWARDED_HTTPS = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "api.example.com",
}


def test_behind_a_proxy_docs_load_the_spec_over_the_clients_https(build_app):
    client = build_app(BEHIND_PROXY=True).test_client()

    response = client.get("/docs", headers=FORWARDED_HTTPS)

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == HSTS
    page = response.get_data(as_text=True)
    # Relative: the browser resolves it against the https page it is on.
    assert SPEC_URL.search(page).group(1) == "/api/v1/openapi.json"
    assert "http://api.example.com" not in page
    assert "http://localhost" not in page


def test_behind_a_proxy_with_a_prefix_docs_find_the_spec_under_it(build_app):
    client = build_app(BEHIND_PROXY=True).test_client()

    response = client.get("/docs", headers={**FORWARDED_HTTPS, "X-Forwarded-Prefix": "/shop"})

    page = response.get_data(as_text=True)
    assert SPEC_URL.search(page).group(1) == "/shop/api/v1/openapi.json"
    assert 'href="/shop/swaggerui/swagger-ui.css"' in page
    assert 'src="/shop/docs/static/swagger-ui-init.js"' in page


def test_forwarded_headers_are_ignored_unless_behind_a_proxy(client):
    response = client.get("/docs", headers=FORWARDED_HTTPS)

    assert "Strict-Transport-Security" not in response.headers
