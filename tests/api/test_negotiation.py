"""Content negotiation: JSON by default, XML and CSV where declared, 406 otherwise."""

import csv
import io
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from models import Order, db

PRODUCTS = "/api/v1/products"


def test_json_is_the_default(client, make_product):
    make_product()

    for accept in (None, "*/*", "application/*", "application/json"):
        headers = {"Accept": accept} if accept else {}
        response = client.get(PRODUCTS, headers=headers)
        assert response.status_code == 200
        assert response.mimetype == "application/json"


def test_a_product_as_xml_is_well_formed_and_escaped(client, make_product):
    product_id = make_product(name='Tom & Jerry\'s <"mug">', description="line one\nline two")

    response = client.get(f"{PRODUCTS}/{product_id}", headers={"Accept": "application/xml"})

    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert "Accept" in response.headers["Vary"]
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "Product"
    assert root.findtext("name") == 'Tom & Jerry\'s <"mug">'
    assert root.findtext("description") == "line one\nline two"
    assert root.findtext("_links/self") == f"/api/v1/products/{product_id}"
    assert response.headers["ETag"] == '"1-xml"'


def test_a_page_as_xml_lists_items(client, make_product):
    make_product(name="A")
    make_product(name="B")

    root = ElementTree.fromstring(
        client.get(PRODUCTS, headers={"Accept": "application/xml"}).get_data()
    )

    assert root.tag == "ProductPage"
    assert [item.findtext("name") for item in root.findall("items/item")] == ["A", "B"]
    assert root.findtext("total") == "2"


def test_products_export_as_csv_honouring_filters(client, make_product):
    make_product(name="Cheap", price_cents=100)
    make_product(name='=HYPERLINK("http://evil")', price_cents=500)
    make_product(name="Dear", price_cents=9000)

    response = client.get(
        PRODUCTS,
        query_string={"max_price": 1000, "sort": "price_cents"},
        headers={"Accept": "text/csv"},
    )

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="ProductPage.csv"' in response.headers["Content-Disposition"]
    assert "Link" in response.headers
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["name"] for row in rows] == ["Cheap", '\'=HYPERLINK("http://evil")']
    assert set(rows[0]) == {
        "id",
        "sku",
        "name",
        "description",
        "price_cents",
        "stock",
        "created_at",
        "updated_at",
    }


def test_orders_export_as_csv(client, make_product, customer_headers):
    product_id = make_product()
    client.post(
        "/api/v1/orders",
        json={"items": [{"product_id": product_id, "quantity": 2}]},
        headers=customer_headers,
    )

    response = client.get("/api/v1/orders", headers={**customer_headers, "Accept": "text/csv"})

    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(row["status"], row["total_cents"]) for row in rows] == [("pending", "2000")]


def test_an_empty_page_as_csv_is_an_empty_document(client):
    response = client.get(PRODUCTS, headers={"Accept": "text/csv"})

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "\r\n"


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        (PRODUCTS, "image/png"),
        (PRODUCTS, "application/xml;q=0, application/json;q=0, text/csv;q=0"),
        ("/api/v1/products/1", "text/csv"),
        ("/health", "application/xml"),
    ],
)
def test_an_accept_we_cannot_serve_is_a_406_problem(client, make_product, path, accept):
    make_product()

    response = client.get(path, headers={"Accept": accept})

    assert response.status_code == 406
    assert response.mimetype == "application/problem+json"
    assert "application/json" in response.get_json()["detail"]


def test_a_406_is_decided_before_anything_is_written(
    client, make_product, customer_headers, in_app
):
    product_id = make_product(stock=5)

    response = client.post(
        "/api/v1/orders",
        json={"items": [{"product_id": product_id, "quantity": 1}]},
        headers={**customer_headers, "Accept": "text/csv"},
    )

    assert response.status_code == 406
    assert in_app(lambda: db.session.scalar(select(func.count()).select_from(Order))) == 0


def test_a_new_order_can_be_answered_in_xml(client, make_product, customer_headers):
    product_id = make_product()

    response = client.post(
        "/api/v1/orders",
        json={"items": [{"product_id": product_id, "quantity": 1}]},
        headers={**customer_headers, "Accept": "application/xml"},
    )

    assert response.status_code == 201
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "Order"
    assert root.findtext("items/item/product_id") == str(product_id)


def test_representations_vary_by_accept_and_have_their_own_etags(
    client, make_product, admin_headers
):
    url = f"{PRODUCTS}/{make_product()}"
    as_json = client.get(url)
    as_xml = client.get(url, headers={"Accept": "application/xml"})

    assert "Accept" in as_json.headers["Vary"]
    assert (as_json.headers["ETag"], as_xml.headers["ETag"]) == ('"1"', '"1-xml"')
    # A cache holding the JSON body cannot have it confirmed for an XML request.
    revalidated = client.get(url, headers={"Accept": "application/xml", "If-None-Match": '"1"'})
    assert revalidated.status_code == 200
    assert revalidated.mimetype == "application/xml"
    # Either representation's tag names the version an editor saw.
    edited = client.patch(url, json={"stock": 2}, headers={**admin_headers, "If-Match": '"1-xml"'})
    assert edited.status_code == 200


# --- a browser opening an API URL ---------------------------------------------------------

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [CHROME, FIREFOX, "text/html"])
@pytest.mark.parametrize("path", [PRODUCTS, PRODUCTS + "/{id}", "/health"])
def test_a_browser_opening_an_api_url_gets_json(client, make_product, path, accept):
    product_id = make_product()

    response = client.get(path.format(id=product_id), headers={"Accept": accept})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    response.get_json()


@pytest.mark.parametrize(
    "accept",
    ["application/xml", "application/xml, text/html", "text/html;q=0.5, application/xml"],
)
def test_any_other_accept_is_negotiated_as_it_says(client, make_product, accept):
    product_id = make_product()

    response = client.get(f"/api/v1/products/{product_id}", headers={"Accept": accept})

    assert response.status_code == 200
    assert response.mimetype == "application/xml"


def test_html_refused_outright_is_still_a_406(client):
    response = client.get(PRODUCTS, headers={"Accept": "text/html;q=0, application/json;q=0"})

    assert response.status_code == 406
