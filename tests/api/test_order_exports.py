"""POST /orders/exports: every matching order, as the CSV a job writes and serves."""

import csv
import io

import pytest

from models import db
from models.order import Order, place_order
from models.user import User
from tests.helpers import assert_problem

URL = "/api/v1/orders/exports"


@pytest.fixture
def orders(app, in_app, make_product, make_user, customer):
    """Five orders of the customer and two of another user, some cancelled; their ids."""
    product = make_product(stock=100, price_cents=250)
    other = make_user()

    def place(user_id, quantity):
        user = db.session.get(User, user_id)
        return place_order(
            user=user, items=[{"product_id": product, "quantity": quantity}]
        ).order.id

    ids = [in_app(place, customer["id"], q) for q in (1, 2, 3, 4, 5)]
    ids += [in_app(place, other["id"], q) for q in (6, 7)]

    def cancel(order_id):
        order = db.session.get(Order, order_id)
        order.status = "cancelled"
        db.session.commit()

    in_app(cancel, ids[1])
    return ids


def download(client, headers, job) -> list[list[str]]:
    response = client.get(job["_links"]["download"], headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    response.close()
    return rows


def test_an_export_writes_the_rows_of_the_csv_listing(client, admin_headers, orders):
    response = client.post(URL, headers=admin_headers, json={})

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["kind"], job["status"]) == ("order_export", "succeeded")
    assert job["result"] == {"rows": 7}
    assert job["progress"] == {"done": 7, "total": 7}
    rows = download(client, admin_headers, job)
    listing = client.get(
        "/api/v1/orders?per_page=100", headers={**admin_headers, "Accept": "text/csv"}
    )
    assert rows == list(csv.reader(io.StringIO(listing.get_data(as_text=True))))
    assert rows[0] == ["id", "user_id", "status", "total_cents", "created_at", "updated_at"]
    assert [int(row[0]) for row in rows[1:]] == orders


def test_an_export_takes_the_filters_of_the_listing(client, admin_headers, orders, customer):
    body = {"status": "pending", "user_id": customer["id"], "sort": "-total_cents"}

    job = client.post(URL, headers=admin_headers, json=body).get_json()

    rows = download(client, admin_headers, job)
    assert [int(row[0]) for row in rows[1:]] == [orders[4], orders[3], orders[2], orders[0]]
    none = client.post(
        URL, headers=admin_headers, json={"created_to": "2000-01-01T00:00:00Z"}
    ).get_json()
    assert none["result"] == {"rows": 0}
    assert download(client, admin_headers, none) == [rows[0]]


def test_the_export_body_is_checked_like_any_body(client, admin_headers):
    assert_problem(
        client.post(URL, headers=admin_headers, json={"colour": "red"}), 400, fields=["colour"]
    )
    assert_problem(
        client.post(URL, headers=admin_headers, json={"status": "lost"}), 422, fields=["status"]
    )
    assert_problem(client.post(URL, headers=admin_headers, data="x"), 415)


def test_only_admins_export(client, customer_headers):
    assert_problem(client.post(URL, headers=customer_headers, json={}), 403)
    assert_problem(client.post(URL, json={}), 401)


def test_a_retried_export_with_the_same_key_is_the_same_job(client, admin_headers, orders):
    headers = {**admin_headers, "Idempotency-Key": "export-1"}
    first = client.post(URL, headers=headers, json={"status": "paid"}).get_json()

    assert client.post(URL, headers=headers, json={"status": "paid"}).get_json() == first
    assert_problem(client.post(URL, headers=headers, json={}), 409)
