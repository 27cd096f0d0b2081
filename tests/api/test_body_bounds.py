"""Input bounds on request bodies, whatever their content (DESIGN.md, "Input bounds").

JSON nesting is bounded before anything recurses into the body, on every
operation that takes one, so a deeply nested document is a 400 problem rather
than a stack overflow in the parser or the validator.
"""

import json

import pytest

from api.http.bodies import MAX_JSON_DEPTH, json_depth
from tests.contract import SPEC_FILE
from tests.helpers import assert_problem, operations

PRODUCT = {"sku": "DEEP-1", "name": "Probe", "price_cents": 100}


def json_body_operations() -> list[tuple[str, str]]:
    """(method, URL) of every operation whose spec takes a JSON body, ids filled in."""
    found = []
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    for path, method, operation in operations(spec):
        if any(param.get("in") == "body" for param in operation.get("parameters", [])):
            url = "/".join("1" if part.startswith("{") else part for part in path.split("/"))
            found.append((method.upper(), url))
    return found


def nested(depth: int, kind: str) -> bytes:
    """A JSON document ``depth`` containers deep: arrays, objects, or both in turn."""
    if kind == "arrays":
        return b"[" * depth + b"]" * depth
    if kind == "objects":
        return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    levels = range(depth)
    opens = "".join("[" if level % 2 else '{"a":' for level in levels)
    closes = "".join("]" if level % 2 else "}" for level in reversed(levels))
    return f"{opens}0{closes}".encode()


def test_the_spec_states_the_depth_limit():
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))

    assert f"nested more than {MAX_JSON_DEPTH} levels deep" in spec["info"]["description"]


def test_json_body_operations_are_found():
    # The sweep below is only as good as this list: every body-taking resource is in it.
    paths = {url for _, url in json_body_operations()}
    assert {"/api/v1/auth/login", "/api/v1/orders", "/api/v1/products/bulk"} <= paths


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 330, 5_000, 100_000])
@pytest.mark.parametrize(("method", "url"), json_body_operations())
def test_a_body_nested_too_deep_is_a_400_on_every_json_operation(
    client, admin_headers, method, url, depth
):
    response = client.open(
        url,
        method=method,
        data=nested(depth, "arrays"),
        content_type="application/json",
        headers=admin_headers,
    )

    body = assert_problem(response, 400, fields={"body"})
    assert str(MAX_JSON_DEPTH) in body["errors"]["body"][0]


@pytest.mark.parametrize("kind", ["arrays", "objects", "mixed"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 50_000])
def test_deep_nesting_of_any_kind_is_refused_without_logging_in(client, kind, depth):
    response = client.post(
        "/api/v1/auth/login", data=nested(depth, kind), content_type="application/json"
    )

    assert_problem(response, 400, fields={"body"})


def test_a_body_at_the_depth_limit_gets_the_ordinary_answer(client):
    inner = nested(MAX_JSON_DEPTH - 1, "arrays").decode()

    response = client.post(
        "/api/v1/auth/login",
        data=f'{{"email": {inner}, "password": "x"}}',
        content_type="application/json",
    )

    # Wrong type of a field, not the depth: the document itself was acceptable.
    assert_problem(response, 400, fields={"email"})


def test_brackets_inside_strings_do_not_count(client, admin_headers):
    tricky = '[{"\\"[' * 50 + "\\\\"

    response = client.post(
        "/api/v1/products", json={**PRODUCT, "description": tricky}, headers=admin_headers
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["description"] == tricky


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        (b"", 0),
        (b"42", 0),
        (b'"[[[{"', 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}], "c": {}}', 4),
        (b'["\\\\", ["\\"]"]]', 2),
        (b"[[[", 3),
        (b'"unterminated [[[', 0),
        (json.dumps([[["é"]]]).encode("utf-16"), 3),
        (b"\xff\xfe\x00", 0),
    ],
)
def test_json_depth_counts_containers_outside_strings(document, depth):
    assert json_depth(document) == depth


# --- Size, however the body is framed ------------------------------------------------------


def send_chunked(client, method: str, url: str, data: bytes, **kwargs):
    """Send ``data`` as a server hands on a chunked body: no ``Content-Length``, input terminated.

    gunicorn decodes the chunks itself and sets ``wsgi.input_terminated``; the
    app sees a stream whose length it can only learn by reading it.
    """
    headers = {"Transfer-Encoding": "chunked", **kwargs.pop("headers", {})}
    return client.open(
        url,
        method=method,
        data=data,
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
        **kwargs,
    )


def padded_product(size: int, sku: str = "CHUNK-1") -> bytes:
    """A valid product body of exactly ``size`` bytes: its JSON, then spaces."""
    text = json.dumps({**PRODUCT, "sku": sku}).encode()
    return text + b" " * (size - len(text))


def test_a_chunked_body_over_the_limit_is_a_413_not_cut_and_parsed(client, admin_headers, app):
    limit = app.config["MAX_CONTENT_LENGTH"]

    response = send_chunked(
        client,
        "POST",
        "/api/v1/products",
        padded_product(limit + 2_500_000),
        content_type="application/json",
        headers=admin_headers,
    )

    assert_problem(response, 413)
    assert client.get("/api/v1/products").get_json()["total"] == 0


@pytest.mark.parametrize(("extra", "status"), [(0, 201), (1, 413)])
def test_a_chunked_body_of_exactly_the_limit_is_read_whole(
    client, admin_headers, app, extra, status
):
    limit = app.config["MAX_CONTENT_LENGTH"]

    response = send_chunked(
        client,
        "POST",
        "/api/v1/products",
        padded_product(limit + extra),
        content_type="application/json",
        headers=admin_headers,
    )

    assert response.status_code == status, response.get_data(as_text=True)


def test_a_small_chunked_body_is_accepted(client, admin_headers):
    response = send_chunked(
        client,
        "POST",
        "/api/v1/products",
        json.dumps(PRODUCT).encode(),
        content_type="application/json",
        headers=admin_headers,
    )

    assert response.status_code == 201, response.get_data(as_text=True)


def test_a_chunked_upload_over_its_limit_is_a_413(client, admin_headers, app, make_product):
    product_id = make_product()
    limit = int(app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
    boundary = "chunked-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * (limit + 200_000)

    response = send_chunked(
        client,
        "PUT",
        f"/api/v1/products/{product_id}/image",
        head + image + f"\r\n--{boundary}--\r\n".encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=admin_headers,
    )

    assert_problem(response, 413)
    assert "image" not in client.get(f"/api/v1/products/{product_id}").get_json()["_links"]
