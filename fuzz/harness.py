"""What every fuzz target shares: the app, its demo data, and the checks on each answer.

A target turns the fuzzer's bytes into one request and sends it through the
app's contract-checked test client (``tests.contract.ContractClient``). The
input is a finding when the app answers a 5xx, logs an error or a traceback,
answers something the spec does not document, or raises out of the client.
The app is built once per fuzzing process, on the database named by
``FUZZ_DATABASE_URL`` (the runner makes a fresh one per target) or else on a
SQLite file of its own.
"""

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import atheris

# The code under test, instrumented for coverage as it is imported: the app's
# own packages, plus what a target names (the parts of werkzeug it exercises).
APP_PACKAGES = ("api", "models", "namespaces")


class WrongAnswerError(AssertionError):
    """An input the app answered wrongly: a 5xx, a logged error, or an undocumented answer."""


class _Records(logging.Handler):
    """Keeps the records at ERROR and above, and any with a traceback, until cleared."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record`` if it reports an error."""
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class Harness:
    """The app under fuzzing, with a client and the credentials and rows targets refer to."""

    app: object
    client: object
    admin: dict
    customer: dict
    product_id: int
    order_id: int
    user_id: int  # a user the targets may edit: neither the admin nor the customer
    records: _Records

    def send(self, method: str, url: str, **kwargs):
        """Send one request; raise ``WrongAnswerError`` for an answer the app must never give."""
        self.records.records.clear()
        response = self.client.open(url, method=method, **kwargs)
        logged = [self._describe(record) for record in self.records.records]
        if response.status_code >= 500 or logged:
            raise WrongAnswerError(
                f"{method} {url} answered {response.status_code}\n"
                f"{response.get_data(as_text=True)[:2000]}\n" + "\n".join(logged)
            )
        return response

    @staticmethod
    def _describe(record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            # The end says what failed; a RecursionError's middle is thousands of frames.
            lines = logging.Formatter().formatException(record.exc_info).splitlines()
            text += "\n" + "\n".join(
                [*lines[:12], "  ...", *lines[-30:]] if len(lines) > 50 else lines
            )
        return text


def build(*, instrument: tuple[str, ...] = ()) -> Harness:
    """Import the app with coverage instrumentation, build it and give it demo data."""
    with atheris.instrument_imports(include=[*APP_PACKAGES, *instrument]):
        # Imported here, not at the top: only what is imported inside is instrumented.
        from flask_jwt_extended import create_access_token  # noqa: PLC0415

        from api import create_app  # noqa: PLC0415
        from models import db  # noqa: PLC0415
        from models.order import place_order  # noqa: PLC0415
        from models.product import create_product  # noqa: PLC0415
        from models.user import Role, create_user  # noqa: PLC0415
        from tests.contract import ContractClient  # noqa: PLC0415

    scratch = Path(tempfile.mkdtemp(prefix="storefront-fuzz-"))
    url = os.environ.get("FUZZ_DATABASE_URL") or f"sqlite:///{scratch / 'fuzz.db'}"
    app = create_app(
        {
            "APP_ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "REDIS_URL": None,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 64,
            "UPLOAD_FOLDER": str(scratch / "uploads"),
            # Tokens made once must outlast the longest run.
            "JWT_ACCESS_TOKEN_EXPIRES": timedelta(days=7),
            # Only errors are logged, and every one is a finding.
            "LOG_LEVEL": "ERROR",
        }
    )
    app.test_client_class = ContractClient
    records = _Records()
    logging.getLogger().addHandler(records)
    # Kept, not printed: every record the app logs at this level is a finding anyway.
    app.logger.handlers[:] = [records]
    with app.app_context():
        db.drop_all()
        db.create_all()
        admin = create_user(
            email="admin@example.com", password="admin-password", name="Admin", role=Role.ADMIN
        )
        customer = create_user(
            email="customer@example.com", password="customer-password", name="Customer"
        )
        # Edited by the admin in the targets; the two whose tokens they use never are.
        other = create_user(email="other@example.com", password="other-password", name="Other")
        product = create_product(sku="FUZZ-1", name="Fuzzed mug", price_cents=1299, stock=10**6)
        create_product(sku="FUZZ-2", name="Fuzzed tee", price_cents=2500, stock=10**6)
        order = place_order(user=customer, items=[{"product_id": product.id, "quantity": 1}])
        return Harness(
            app=app,
            client=app.test_client(),
            admin={"Authorization": f"Bearer {create_access_token(identity=admin)}"},
            customer={"Authorization": f"Bearer {create_access_token(identity=customer)}"},
            product_id=product.id,
            order_id=order.order.id,
            user_id=other.id,
            records=records,
        )


def fuzz(test_one_input, argv: list[str]) -> None:
    """Run libFuzzer on ``test_one_input`` with ``argv`` (corpus dirs and flags); never returns."""
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
