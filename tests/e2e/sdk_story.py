"""A client's whole story, told through the generated Python SDK.

Run by tests/e2e/test_sdk.py with the python of a virtualenv that holds only
the generated ``storefront_client`` package: it imports nothing of this project,
exactly like a customer's program. Usage::

    python sdk_story.py BASE_URL

The server must be migrated and seeded (``flask seed``: the demo admin). Each
chapter is a function; ``main`` tells them in order and exits non-zero (with a
traceback) at the first surprise.
"""

import sys
import time
import uuid

import storefront_client as sf
from storefront_client.exceptions import ConflictException, NotFoundException

DEMO_ADMIN = ("admin@example.com", "admin-demo-password")


class Shop:
    """The SDK's API classes for one base URL, anonymous or logged in."""

    def __init__(self, base_url: str, access_token: str | None = None):
        client = sf.ApiClient(sf.Configuration(host=base_url, access_token=access_token))
        self.base_url = base_url
        self.auth = sf.AuthApi(client)
        self.products = sf.ProductsApi(client)
        self.orders = sf.OrdersApi(client)
        self.jobs = sf.JobsApi(client)

    def log_in(self, email: str, password: str) -> "Shop":
        """The same shop, holding the access token of ``email``."""
        tokens = self.auth.login(sf.LoginInput(email=email, password=password))
        assert tokens.token_type == "Bearer"
        return Shop(self.base_url, tokens.access_token)


def register_and_log_in(shop: Shop) -> Shop:
    """A newcomer registers, logs in and reads their own account."""
    email = f"sdk-{uuid.uuid4().hex[:8]}@example.com"
    password = "a long sdk password"
    user = shop.auth.register(sf.RegisterInput(email=email, password=password, name="Sdk User"))
    assert user.email == email
    assert user.role == "customer"
    customer = shop.log_in(email, password)
    me = customer.auth.get_current_user()
    assert me.id == user.id
    return customer


def browse_catalog(shop: Shop) -> None:
    """Anyone lists the seeded catalog, then filters and sorts it."""
    page = shop.products.list_products(per_page=100)
    assert page.total == len(page.items) > 0
    cheap = shop.products.list_products(max_price=1000, sort="-price_cents")
    prices = [product.price_cents for product in cheap.items]
    assert prices == sorted(prices, reverse=True)
    assert all(price <= 1000 for price in prices)
    in_stock = shop.products.list_products(in_stock=True)
    assert all(product.stock > 0 for product in in_stock.items)


def manage_catalog_as_admin(shop: Shop) -> sf.Product:
    """The demo admin creates a product and reads it back; returns it."""
    admin = shop.log_in(*DEMO_ADMIN)
    sku = f"SDK-{uuid.uuid4().hex[:8].upper()}"
    created = admin.products.create_product(
        sf.ProductInput(sku=sku, name="SDK mug", price_cents=1250, stock=4)
    )
    assert created.sku == sku
    fetched = shop.products.get_product(created.id)
    assert (fetched.name, fetched.price_cents, fetched.stock) == ("SDK mug", 1250, 4)
    found = shop.products.list_products(q=sku)
    assert [product.id for product in found.items] == [created.id]
    return created


def raised(exception: type[Exception], call, *args) -> Exception:
    """The exception that ``call(*args)`` must raise, of type ``exception``."""
    try:
        call(*args)
    except exception as error:
        return error
    raise AssertionError(f"{call.__name__} did not raise {exception.__name__}")


def see_typed_errors(shop: Shop, product: sf.Product) -> None:
    """A 404 and a 409 arrive as the SDK's exceptions, carrying the problem."""
    missing = raised(NotFoundException, shop.products.get_product, 2**62)
    assert isinstance(missing.data, sf.Problem)
    assert missing.data.status == 404

    admin = shop.log_in(*DEMO_ADMIN)
    duplicate = sf.ProductInput(sku=product.sku, name="Same SKU", price_cents=1)
    conflict = raised(ConflictException, admin.products.create_product, duplicate)
    assert isinstance(conflict.data, sf.Problem)
    assert conflict.data.status == 409


def place_and_cancel_an_order(customer: Shop, product: sf.Product) -> None:
    """A customer orders, retries safely, reads the order back and cancels it."""
    order_input = sf.OrderInput(items=[sf.OrderLineInput(product_id=product.id, quantity=3)])
    key = str(uuid.uuid4())
    order = customer.orders.create_order(order_input, idempotency_key=key)
    assert order.status == "pending"
    assert order.total_cents == 3 * product.price_cents
    retried = customer.orders.create_order(order_input, idempotency_key=key)
    assert retried.id == order.id
    assert customer.products.get_product(product.id).stock == product.stock - 3

    fetched = customer.orders.get_order(order.id)
    assert [(item.product_id, item.quantity) for item in fetched.items] == [(product.id, 3)]
    pending = customer.orders.list_orders(status="pending")
    assert [mine.id for mine in pending.items] == [order.id]

    cancelled = customer.orders.update_order_status(
        order.id, sf.OrderStatusInput(status="cancelled")
    )
    assert cancelled.status == "cancelled"
    assert customer.products.get_product(product.id).stock == product.stock

    too_many = sf.OrderInput(items=[sf.OrderLineInput(product_id=product.id, quantity=99)])
    short = raised(ConflictException, customer.orders.create_order, too_many)
    assert f"{product.stock} available" in short.data.detail


def poll(shop: Shop, job: sf.Job) -> sf.Job:
    """The job, polled until its status is final (within a minute)."""
    deadline = time.monotonic() + 60
    while job.status in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job.id} is still {job.status}"
        time.sleep(0.2)
        job = shop.jobs.get_job(job.id)
    return job


def import_a_catalog(shop: Shop) -> None:
    """The demo admin imports a CSV file, polls the job to its end, and finds the products."""
    admin = shop.log_in(*DEMO_ADMIN)
    sku = f"IMP-{uuid.uuid4().hex[:8].upper()}"
    catalog = (
        "sku,name,description,price_cents,stock\n"
        f"{sku},Imported mug,From a file,990,5\n"
        f"{sku}-2,Broken mug,,-1,1\n"
    )
    accepted = admin.products.create_product_import(
        file=("catalog.csv", catalog.encode()), idempotency_key=str(uuid.uuid4())
    )
    assert accepted.kind == "product_import"
    job = poll(admin, accepted)
    assert job.status == "succeeded", job.detail
    assert (job.result.created, job.result.updated, job.result.failed) == (1, 0, 1)
    assert job.progress.done == job.progress.total == 2
    (error,) = job.errors
    assert (error.line, error.var_field, error.message) == (3, "price_cents", "must be at least 0")
    found = shop.products.list_products(q=sku)
    assert [(p.sku, p.name, p.price_cents) for p in found.items] == [(sku, "Imported mug", 990)]
    listed = admin.jobs.list_jobs(kind="product_import")
    assert listed.items[0].id == job.id


def main(base_url: str) -> None:
    """Tell the whole story against the server at ``base_url``."""
    shop = Shop(base_url)
    customer = register_and_log_in(shop)
    browse_catalog(customer)
    product = manage_catalog_as_admin(shop)
    place_and_cancel_an_order(customer, product)
    see_typed_errors(shop, product)
    import_a_catalog(shop)
    print("story complete")  # noqa: T201 (the test reads it)


if __name__ == "__main__":
    main(sys.argv[1])
