"""``surely_valid``: the quick check a catalog import runs first never passes an invalid body.

It may send a valid body on to the validator (that only costs time); it must
never pass one the validator refuses. Hypothesis throws bodies near and across
every bound of the product input model, and odd schemas, at both.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.restx.validation import build_validator, field_errors, surely_valid

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=70) | st.sampled_from(
    ["", "MUG-1", "mug", "A\x00B", "A" * 64, "A" * 65, "\ufffe", "Ünïcode", "-X"]
)
INTEGER = st.integers(-(10**12), 10**12) | st.sampled_from([0, -1, 10**9, 10**9 + 1])
VALUE = TEXT | INTEGER | st.booleans() | st.none() | st.floats(allow_nan=False) | st.just([])
NAMES = st.sampled_from(["sku", "name", "description", "price_cents", "stock", "colour"])


@pytest.fixture(scope="module")
def product_input(app):
    api = app.extensions["storefront.api"]
    return api.validator_for(api.models["ProductInput"])


@settings(max_examples=3000, deadline=None, database=None, derandomize=True)
@given(body=st.dictionaries(NAMES, VALUE, max_size=6))
def test_a_body_it_passes_is_one_the_validator_passes(product_input, body):
    if surely_valid(product_input.schema)(body):
        assert field_errors(product_input, body) == []


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    sku=st.from_regex(r"\A[A-Z0-9][A-Z0-9_-]{0,20}\Z"),
    name=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0xFFFD), min_size=1),
    price=st.integers(0, 10**9),
    stock=st.integers(0, 10**9),
)
def test_it_passes_the_valid_bodies_themselves(product_input, sku, name, price, stock):
    body = {"sku": sku, "name": name[:200], "price_cents": price, "stock": stock}
    assert surely_valid(product_input.schema)(body)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "number"}}, "additionalProperties": False},
        {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}},
        {"type": "object", "properties": {}, "minProperties": 1, "additionalProperties": False},
        {"type": "array"},
    ],
    ids=["number", "ref", "unknown-keyword", "not-an-object"],
)
def test_what_it_does_not_know_it_leaves_to_the_validator(schema):
    validator = build_validator(schema, {"A": {"type": "string"}})
    check = surely_valid(validator.schema)
    for instance in ({"a": 1}, {"a": "x"}, [], "a"):
        assert check(instance) is False
