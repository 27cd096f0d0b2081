"""Property-based contract tests: schemathesis drives every operation in-process.

Every operation, as an admin and as a customer, with schemathesis' default
checks (documented status codes and content types, response schemas, 401 for a
missing token, 405 for undeclared methods, negative inputs rejected with 4xx).
Rate limits are off for this run: a 429 would be a failure here.
"""

import pytest
import schemathesis
from flask_jwt_extended import create_access_token
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import content_type_conformance

from models import User, db
from models.user import Role

MAX_EXAMPLES = 25


ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]
# A generated If-Match names a version the resource is not at: RFC 9110 makes
# that a 412 Precondition Failed, whatever else the request gets right. And
# Swagger 2.0's `type: file` cannot say "a PNG, JPEG or WebP of at most 5 MB",
# so generated files that are neither get the 415 (or 413) the issue requires;
# nor "a UTF-8 CSV file whose first line is the import's header", so generated
# files get the 422 an import answers at once for anything else.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "operations": [
            {
                "include-operation-id": "putProductImage",
                # Schema-valid bytes are rarely a decodable image: 422 (issue 12).
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [*ACCEPTED, "413", "415", "422"]
                    }
                },
            },
            {
                "include-operation-id": "createProductImport",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            },
        ],
    }
)


@pytest.fixture
def api_schema(app):
    """The live spec, loaded from the app itself."""
    return schemathesis.openapi.from_wsgi("/api/v1/swagger.json", app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


def _token_minter(app, make_user, role):
    """A function minting a new token per case: a generated logout revokes only its own."""
    user_id = make_user(role=role)["id"]

    def mint() -> str:
        with app.app_context():
            return create_access_token(identity=db.session.get(User, user_id))

    return mint


@pytest.fixture
def admin_token(app, make_user):
    return _token_minter(app, make_user, Role.ADMIN)


@pytest.fixture
def customer_token(app, make_user):
    return _token_minter(app, make_user, Role.CUSTOMER)


HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _mode(case, location: ParameterLocation) -> GenerationMode | None:
    """How schemathesis generated one part of the request (None: it did not)."""
    component = case.meta.components.get(location) if case.meta else None
    return component.mode if component is not None else None


def _call(case, token: str, make_product) -> None:
    # Some live products, so item operations sometimes find one (ids start at 1).
    make_product()
    # A keyset cursor is opaque: the schema cannot describe the ones the API
    # makes, so a generated one is well-formed yet names no position (400), and
    # `page` with `after` is a 400 too. Valid cases go without it;
    # tests/api/test_cursors.py covers cursors.
    if _mode(case, ParameterLocation.QUERY) is GenerationMode.POSITIVE and case.query:
        case.query.pop("after", None)
    # The in-process WSGI transport does not decode compressed bodies: ask for none.
    headers = {"Accept-Encoding": "identity"}
    # A case that tests a missing or broken header must reach the API as generated.
    if _mode(case, ParameterLocation.HEADER) is not GenerationMode.NEGATIVE:
        headers["Authorization"] = f"Bearer {token}"
    response = case.call(headers=headers)
    # A 304 carries no content, hence no Content-Type (RFC 9110 15.4.5; werkzeug
    # strips it). Every other check still applies, and tests/contract.py checks
    # that the 304 really is empty.
    excluded = [content_type_conformance] if response.status_code == 304 else []
    case.validate_response(response, excluded_checks=excluded, headers=headers)


@schema.parametrize()
@HYPOTHESIS
def test_every_operation_as_admin(case, admin_token, make_product):
    _call(case, admin_token(), make_product)


@schema.parametrize()
@HYPOTHESIS
def test_every_operation_as_customer(case, customer_token, make_product):
    _call(case, customer_token(), make_product)
