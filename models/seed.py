"""Demo data for a fresh development database."""

from dataclasses import dataclass

from models.base import db
from models.product import Product, create_product
from models.user import Role, create_user, find_user_by_email

DEMO_PRODUCTS = [
    ("MUG-001", "Enamel mug", "A 350 ml camping mug that survives drops.", 1299, 40),
    ("TEE-001", "Organic cotton tee", "Heavyweight, boxy fit, natural dye.", 2500, 120),
    ("CAP-001", "Six-panel cap", "Unstructured, adjustable brass buckle.", 1800, 60),
    ("BAG-001", "Canvas tote", "Waxed canvas, leather handles.", 4200, 25),
    ("NTB-001", "Dot-grid notebook", "A5, 160 pages of 100 g/m² paper.", 1500, 200),
    ("PEN-001", "Brass pen", "Refillable, machined from solid brass.", 3900, 0),
    ("STK-001", "Sticker pack", "Five vinyl stickers, weatherproof.", 600, 500),
    ("BTL-001", "Steel bottle", "Double-walled, keeps drinks cold for 24 hours.", 3200, 75),
]


@dataclass(frozen=True)
class DemoLogin:
    """A demo account's credentials, printed for the developer."""

    role: str
    email: str
    password: str


DEMO_USERS = [
    DemoLogin("admin", "admin@example.com", "admin-demo-password"),
    DemoLogin("customer", "customer@example.com", "customer-demo-password"),
]


def seed_demo_data() -> tuple[int, list[DemoLogin]]:
    """Add the demo products and users that are missing; return (products added, logins).

    Running it again adds nothing: products are matched by SKU, users by email.
    """
    for login in DEMO_USERS:
        if find_user_by_email(login.email) is None:
            create_user(
                email=login.email,
                password=login.password,
                name=f"Demo {login.role}",
                role=Role(login.role),
            )
    existing = set(db.session.scalars(db.select(Product.sku)))
    added = 0
    for sku, name, description, price_cents, stock in DEMO_PRODUCTS:
        if sku not in existing:
            create_product(
                sku=sku, name=name, description=description, price_cents=price_cents, stock=stock
            )
            added += 1
    return added, DEMO_USERS
