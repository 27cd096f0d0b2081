"""Image files under real concurrency: a multi-worker gunicorn, products sharing one file.

Files are named by their content's hash, so two products with the same picture
share one file. Whatever one request does to its product's picture (replace it,
remove it, delete the product) while another gives the same bytes to a second
product, the second product's image must answer, and no file may be left that
no live product uses. Each trial races the two requests from a barrier; the
races were lost several times in 40 trials before the file's removal was
serialised with its reuse. Runs on SQLite, and on PostgreSQL with
TEST_DATABASE_URL.
"""

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from models.images import LOCK_NAME
from tests.e2e.live import race, seeded_server
from tests.images import MULTIPART, multipart, picture

TRIALS = 40

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def server(tmp_path_factory, uploads):
    with seeded_server(
        tmp_path_factory.mktemp("images"), workers=4, UPLOAD_FOLDER=str(uploads)
    ) as live:
        yield live


@pytest.fixture(scope="module")
def admin(server) -> dict:
    body = {"email": "admin@example.com", "password": "admin-demo-password"}
    token = server.request("POST", "/api/v1/auth/login", json_body=body).json["access_token"]
    return {"Authorization": f"Bearer {token}"}


def new_product(server, admin) -> int:
    body = {"sku": f"PIC-{uuid.uuid4().hex[:8].upper()}", "name": "Pictured", "price_cents": 100}
    return server.request("POST", "/api/v1/products", json_body=body, headers=admin).json["id"]


def image_path(product_id: int) -> str:
    return f"/api/v1/products/{product_id}/image"


def upload(server, admin, product_id: int, data: bytes) -> int:
    return server.request(
        "PUT",
        image_path(product_id),
        body=multipart("image", "picture.png", data),
        content_type=MULTIPART,
        headers=admin,
    ).status_code


def stored_names(folder: Path) -> set[str]:
    """The names of the files in the store, but its lock."""
    return {p.name for p in folder.rglob("*") if p.is_file() and p.name != LOCK_NAME}


def file_name(data: bytes) -> str:
    """The name the store gives a PNG: its SHA-256."""
    return f"{hashlib.sha256(data).hexdigest()}.png"


def remove_image(server, admin, product_id: int, _other: bytes) -> int:
    return server.request("DELETE", image_path(product_id), headers=admin).status_code


def delete_product(server, admin, product_id: int, _other: bytes) -> int:
    return server.request("DELETE", f"/api/v1/products/{product_id}", headers=admin).status_code


# What the first request does to product A (given A's other picture) while B gets A's picture.
RIVALS = {"replace": upload, "remove": remove_image, "delete-product": delete_product}


@pytest.mark.parametrize("rival", list(RIVALS))
def test_a_shared_file_survives_whatever_the_other_product_does(server, admin, uploads, rival):
    b = new_product(server, admin)
    base = 1000 * list(RIVALS).index(rival)  # pictures of this test's own
    lost = []
    current = {}  # product id -> the picture it should have now
    made = set()  # the file names of every picture this test uploaded
    for trial in range(TRIALS):
        a = new_product(server, admin)
        shared, other = picture(seed=base + 2 * trial), picture(seed=base + 2 * trial + 1)
        made |= {file_name(shared), file_name(other)}
        assert upload(server, admin, a, shared) == 200
        start = threading.Barrier(2)

        def first(a=a, other=other, start=start):
            start.wait()
            return RIVALS[rival](server, admin, a, other)

        def second(shared=shared, start=start):
            start.wait()
            return upload(server, admin, b, shared)

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = [future.result() for future in (pool.submit(first), pool.submit(second))]

        assert outcomes in ([200, 200], [204, 200]), outcomes
        current[b] = shared
        if rival == "replace":
            current[a] = other
        served = server.request("GET", image_path(b))
        if served.status_code != 200 or served.body != shared:
            lost.append(trial)
        # Exactly the pictures some live product shows are kept.
        in_use = {file_name(data) for data in current.values()}
        assert stored_names(uploads) & made == in_use, f"trial {trial}"

    assert lost == [], f"B's image was lost in trials {lost} of {TRIALS}"


# Two admins doing the same thing to one product at the same moment.
SAME_TWICE = {
    "remove-image": (remove_image, {204, 404, 409}),
    "delete-product": (delete_product, {204, 404, 409}),
    "replace-image": (upload, {200, 409}),
}


@pytest.mark.parametrize("action", list(SAME_TWICE))
def test_the_same_write_twice_at_once_answers_only_documented_statuses(server, admin, action):
    # Each request is contract-checked (LiveServer.request): a status the spec
    # does not list for the operation fails it. One of the two wins; the other
    # finds the work done (404) or the row changed under it (409, retry).
    call, allowed = SAME_TWICE[action]
    seen = set()
    for trial in range(TRIALS):
        product = new_product(server, admin)
        assert upload(server, admin, product, picture(seed=5000 + trial)) == 200
        pictures = [picture(seed=6000 + 2 * trial + n) for n in (0, 1)]
        statuses = race(*(partial(call, server, admin, product, data) for data in pictures))
        assert set(statuses) <= allowed, statuses
        assert statuses.count(min(allowed)) >= 1, statuses  # one of them succeeded
        seen |= set(statuses)
    assert seen - {min(allowed)}, "the two requests never overlapped: nothing was raced"
