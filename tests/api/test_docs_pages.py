"""The Redoc page and its script, through the test client (the browser test renders them)."""

import pytest

from api.docs.pages import BUNDLE_KEY


def test_the_redoc_page_loads_the_spec_and_the_local_bundle(client):
    response = client.get("/redoc")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<redoc spec-url="/api/v1/swagger.json">' in page
    assert '<script src="/redoc/redoc.standalone.js">' in page
    assert "http://" not in page
    assert "https://" not in page
    # The browser may fetch nothing from elsewhere (Redoc's CDN logo included).
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_redoc_script_is_served_and_revalidated_by_etag(client):
    # buffered: read the file and close it, as a WSGI server does after sending it.
    script = client.get("/redoc/redoc.standalone.js", buffered=True)
    assert script.status_code == 200
    assert script.mimetype == "text/javascript"
    assert script.content_length > 500_000
    assert b"Redoc" in script.get_data()[:1000]
    again = client.get(
        "/redoc/redoc.standalone.js",
        headers={"If-None-Match": script.headers["ETag"]},
        buffered=True,
    )
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/redoc", "/redoc/redoc.standalone.js"])
def test_without_the_bundle_redoc_answers_a_problem_saying_how_to_install_it(
    app, client, monkeypatch, path
):
    monkeypatch.setitem(app.extensions, BUNDLE_KEY, None)
    response = client.get(path)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "make assets" in response.json["detail"]
