"""The compiled serializers produce exactly what ``flask_restx.marshal`` produces.

Three kinds of evidence: property tests over every model the app registers and
over generated models of every field type, real responses compared with
``marshal`` of the same ORM objects, and the fallbacks for fields the compiler
does not know. "Exactly" is checked strictly: same types (``OrderedDict`` or
``dict``, ``int`` or ``bool``), same key order, and the same exception when
``marshal`` raises. The mutant tests at the end show the properties catch a
serializer that is wrong in a small way.
"""

import json
import math
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import flask_restx.marshalling
import pytest
from flask import Flask
from flask_restx import Model, fields, marshal
from flask_restx.fields import get_value
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.http.pagination import paginate
from api.restx import serialize
from api.restx.fields import Timestamp
from api.restx.serialize import MarshalWith, Namespace, compile_model
from models import Product as ProductRow
from models import User as UserRow
from models import db
from models.order import ORDERS, Status, get_order, place_order
from models.product import PRODUCTS, get_product
from models.user import Role, visible_user
from namespaces import NAMESPACES
from namespaces.orders import Order, OrderPage
from namespaces.products import Product, ProductPage
from namespaces.users import User

# --- strict comparison ---------------------------------------------------------------------


def assert_identical(actual, expected, path="$"):
    """Equal, and of the same types with the same key order all the way down."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} is not {type(expected)}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key, value in expected.items():
            assert_identical(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(left, right, f"{path}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def outcome(function, *args, **kwargs):
    """("value", result) or ("error", exception type, message): raising is behaviour too."""
    try:
        return ("value", function(*args, **kwargs))
    except Exception as error:
        return ("error", type(error), str(error))


def check(model, obj, *, skip_none=False, ordered=False):
    """The compiled serializer of ``model`` and ``marshal`` agree on ``obj``."""
    expected = outcome(marshal, obj, model, skip_none=skip_none, ordered=ordered)
    actual = outcome(compile_model(model, skip_none=skip_none, ordered=ordered), obj)
    assert actual[0] == expected[0], f"compiled: {actual!r}, marshal: {expected!r}"
    if expected[0] == "error":
        assert actual == expected
    else:
        assert_identical(actual[1], expected[1])


# --- generated objects ---------------------------------------------------------------------

MISSING = object()


class Path(dict):
    """The intermediate objects of a dotted ``attribute`` path, realized like their parent."""


class Pick:
    """A callable ``attribute=``: reads one key or attribute of the object."""

    def __init__(self, key):
        self.key = key

    def __call__(self, obj):
        return obj.get(self.key) if isinstance(obj, dict) else getattr(obj, self.key, None)


class Tracked(list):
    """A list subclass that indexes and iterates as a list (like SQLAlchemy's collections)."""


class Reversed(list):
    """A list subclass whose indexing disagrees with its iteration: restx reads both."""

    def __getitem__(self, index):
        return super().__getitem__(-1 - index)


TEXT = st.text(max_size=4)
DATETIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1))
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
# What the app's link functions (callable ``attribute=``) read from an object.
LINK_INPUTS = {
    "id": st.integers(1, 10**6),
    "user_id": st.integers(1, 10**6),
    "product_id": st.integers(1, 10**6),
    "image_sha256": st.none() | st.just("ab" * 32),
}
# Valid values first, then values the field's format converts, then ones it rejects.
SCALARS = (
    (
        fields.DateTime,
        DATETIMES
        | DATETIMES.flatmap(lambda naive: ZONES.map(lambda zone: naive.replace(tzinfo=zone)))
        | st.dates()
        | st.just("2024-02-29T12:30:00+02:00")
        | TEXT,
    ),
    (fields.String, TEXT | st.integers() | st.sampled_from([*Status, *Role]) | st.floats()),
    (
        fields.Integer,
        st.integers()
        | st.booleans()
        | st.integers().map(str)
        | st.floats(allow_nan=False, allow_infinity=False)
        | TEXT,
    ),
    (fields.Float, st.floats() | st.integers() | st.decimals(allow_nan=False) | TEXT),
    (fields.Boolean, st.booleans() | st.sampled_from(["true", "0", "", "maybe", 0, 1, [], None])),
    (
        fields.Raw,
        TEXT
        | st.integers()
        | st.dictionaries(TEXT, st.integers(), max_size=2)
        | st.lists(TEXT, max_size=2),
    ),
)


def scalar_values(field):
    """Values for a non-container field: what its ``format`` accepts, converts and rejects."""
    for kind, strategy in SCALARS:
        if isinstance(field, kind):
            return strategy
    return SCALARS[-1][1]


def values_for(field, depth, extra):
    """What an object may hold for ``field``: missing, None, or values of every shape."""
    if isinstance(field, fields.Nested):
        if depth >= 2:
            shapes = st.just({})
        else:
            inner = instances(field.nested, depth + 1, extra)
            shapes = inner | st.lists(inner, max_size=2) | st.just({})
    elif isinstance(field, fields.List):
        shapes = list_values(field.container, depth, extra)
    else:
        shapes = scalar_values(field)
    # Present twice as often as missing or None: a value exercises more of the field.
    return st.one_of(shapes, shapes, st.just(MISSING), st.none())


def list_values(container, depth, extra):
    """Sequences of every kind ``List`` meets, and a few non-sequences."""
    if isinstance(container, fields.Nested):
        item = st.none() | (
            instances(container.nested, depth + 1, extra) if depth < 2 else st.just({})
        )
    else:
        item = st.none() | scalar_values(container) | st.just({"k": 1})
    items = st.lists(item, max_size=3)
    return (
        items
        | items.map(tuple)
        | items.map(Tracked)
        | items.map(Reversed)
        | st.sets(st.integers(), max_size=3)
        | st.integers(0, 3).map(range)
        | st.integers()
        | st.just({"k": 1})
    )


def _fill(draw, model, attrs, depth, extra):
    for name, declared in getattr(model, "resolved", model).items():
        if isinstance(declared, dict):
            # A dict of fields inside a model reads the same object.
            _fill(draw, declared, attrs, depth, extra)
            continue
        field = declared() if isinstance(declared, type) else declared
        attribute = field.attribute
        if attribute is None:
            path = [name]
        elif isinstance(attribute, Pick):
            path = [attribute.key]
        elif isinstance(attribute, str):
            path = attribute.split(".")
        else:
            continue  # one of the app's link functions: it reads LINK_INPUTS
        value = draw(values_for(field, depth, extra))
        if value is MISSING:
            continue
        target = attrs
        for part in path[:-1]:
            if not isinstance(target.get(part), Path):
                target[part] = Path()
            target = target[part]
        target[path[-1]] = value


def _realize(attrs, as_dict):
    attrs = {k: _realize(v, as_dict) if isinstance(v, Path) else v for k, v in attrs.items()}
    return attrs if as_dict else SimpleNamespace(**attrs)


@st.composite
def instances(draw, model, depth=0, extra=None):
    """An object for ``model``: a dict or an attribute object, each field maybe missing or None."""
    attrs = {key: draw(strategy) for key, strategy in (extra or {}).items()}
    _fill(draw, model, attrs, depth, extra)
    return _realize(attrs, as_dict=draw(st.booleans()))


# --- generated models ----------------------------------------------------------------------

NAMES = ["id", "name", "value", "when", "items", "keys", "get", "strip", "__iter__", "alt"]


class Shout(fields.String):
    """A field that overrides ``format`` only."""

    def format(self, value):
        return str(value).upper()


SCALAR_FIELDS = {
    fields.String: ["", "fallback"],
    fields.Integer: [0, 7, "5"],
    fields.Float: [0.0, 1.5],
    fields.Boolean: [False, True],
    fields.Raw: [0, {"d": 1}],
    fields.DateTime: [datetime(2020, 1, 1)],
    Timestamp: [datetime(2020, 1, 1, tzinfo=UTC)],
    Shout: ["x"],
}
ATTRIBUTES = st.sampled_from([None, None, None, "alt", "outer.inner", "hidden"]).map(
    lambda a: Pick(a) if a == "hidden" else a
)


def _constant(value):
    return lambda: value


@st.composite
def scalar_fields(draw, attribute=None):
    """A scalar field of any type, with or without a default (possibly callable or falsy)."""
    kind = draw(st.sampled_from(sorted(SCALAR_FIELDS, key=lambda k: k.__name__)))
    defaults = [None] * 4 + SCALAR_FIELDS[kind]
    default = draw(st.sampled_from(defaults))
    if default is not None and draw(st.booleans()):
        default = _constant(default)
    return kind(attribute=attribute, default=default)


@st.composite
def nested_fields(draw, depth, attribute=None):
    """A ``Nested`` with every combination of ``allow_null``, ``skip_none`` and ``default``."""
    return fields.Nested(
        draw(models(depth + 1)),
        allow_null=draw(st.booleans()),
        skip_none=draw(st.booleans()),
        default=draw(st.sampled_from([None, {"from": "default"}])),
        attribute=attribute,
    )


@st.composite
def any_fields(draw, depth):
    """A field of any kind this project uses, plus field classes and dicts of fields."""
    attribute = draw(ATTRIBUTES)
    kinds = ["scalar"] * 3 + ["class"] + (["nested", "list", "dict"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "scalar":
        return draw(scalar_fields(attribute))
    if kind == "class":
        return draw(st.sampled_from([fields.String, fields.Integer, fields.Raw]))
    if kind == "nested":
        return draw(nested_fields(depth, attribute))
    if kind == "list":
        container_attribute = draw(st.sampled_from([None, None, None, "alt"]))
        container = draw(
            scalar_fields(container_attribute) | nested_fields(depth, container_attribute)
        )
        default = draw(st.sampled_from([None, [], ["d"]]))
        return fields.List(container, attribute=attribute, default=default)
    return dict(draw(models(depth + 1)))


@st.composite
def models(draw, depth=0):
    """A restx model of up to six fields of any kind, nested up to two levels."""
    names = draw(st.lists(st.sampled_from(NAMES), max_size=6, unique=True))
    return Model(f"Generated{depth}", {name: draw(any_fields(depth)) for name in names})


# --- 1. every registered model, and generated models of every field type -------------------

MODEL_NAMES = sorted(
    {name for ns in NAMESPACES for name in ns.models} | {"Problem"},
)
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_the_properties_cover_every_registered_model(app):
    assert sorted(app.extensions["storefront.api"].models) == MODEL_NAMES


def registry_property(app, name, **overrides):
    """The property over one registered model, as a function to run."""
    model = app.extensions["storefront.api"].models[name]

    @settings(PROPERTY, **overrides)
    @given(data=st.data())
    def prop(data):
        with app.test_request_context():
            obj = data.draw(instances(model, extra=LINK_INPUTS) | st.none())
            for skip_none in (False, True):
                check(model, obj, skip_none=skip_none)
            check(model, obj, ordered=True)

    return prop


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_marshals_as_restx_does(app, name):
    registry_property(app, name)()


@pytest.mark.parametrize("name", ["Product", "ProductPage", "Order", "OrderPage", "User"])
def test_realistic_objects_marshal_as_restx_does(app, name):
    """Objects as the app has them: every field present, lists of ORM-like rows."""
    created = datetime(2026, 11, 21, 12, 0, 0)
    product = SimpleNamespace(
        id=3,
        sku="MUG-001",
        name="Mug",
        description="",
        price_cents=1299,
        stock=0,
        created_at=created,
        updated_at=created,
        image_sha256="ab" * 32,
    )
    line = SimpleNamespace(product_id=3, quantity=2, unit_price_cents=1299)
    order = SimpleNamespace(
        id=9,
        user_id=4,
        status=Status.PAID,
        total_cents=2598,
        items=Tracked([line, line]),
        created_at=created,
        updated_at=created.replace(tzinfo=UTC),
    )
    user = SimpleNamespace(
        id=4,
        email="ada@example.com",
        name="Ada",
        age=None,
        role=Role.ADMIN,
        created_at=created,
        updated_at=created,
    )
    links = {"self": "/x?page=1", "first": "/x?page=1", "last": "/x?page=1"}
    objects = {
        "Product": product,
        "ProductPage": {
            "items": [product] * 3,
            "page": 1,
            "per_page": 20,
            "total": 3,
            "pages": 1,
            "_links": links,
        },
        "Order": order,
        "OrderPage": {
            "items": [],
            "page": 1,
            "per_page": 20,
            "total": 0,
            "pages": 0,
            "_links": links,
        },
        "User": user,
    }
    model = app.extensions["storefront.api"].models[name]
    with app.test_request_context():
        for skip_none in (False, True):
            check(model, objects[name], skip_none=skip_none)
        assert compile_model(model)(objects[name]) == marshal(objects[name], model)


def synthetic_property(**overrides):
    """The property over generated models, as a function to run (the mutant tests reuse it)."""

    @settings(PROPERTY, **overrides)
    @given(
        model=models(),
        data=st.data(),
        skip_none=st.booleans(),
        ordered=st.booleans(),
    )
    def prop(model, data, skip_none, ordered):
        obj = data.draw(instances(model) | st.lists(instances(model), max_size=2) | st.none())
        check(model, obj, skip_none=skip_none, ordered=ordered)

    return prop


def test_generated_models_of_every_field_type_marshal_as_restx_does():
    synthetic_property(max_examples=400)()


# --- restx's quirks, spelled out --------------------------------------------------------------


def test_restx_quirks_are_reproduced():
    """What surprised us in restx, each asserted against a literal and against ``marshal``."""
    inner = Model("Inner", {"a": fields.Integer})
    methods = Model("M", {"keys": fields.Raw})
    quirks = [
        # A None nested value is a dict of Nones, not None (unless allow_null)...
        (Model("N", {"n": fields.Nested(inner)}), {"n": None}, {}, {"n": {"a": None}}),
        # marshal's skip_none does not reach inside a Nested: only the Nested's own does...
        (
            Model("N", {"n": fields.Nested(inner)}),
            {"n": None},
            {"skip_none": True},
            {"n": {"a": None}},
        ),
        # ...and the dict it empties is then dropped whole, as skip_none drops any empty dict.
        (
            Model("N", {"n": fields.Nested(inner, skip_none=True)}),
            {"n": None},
            {"skip_none": True},
            {},
        ),
        # A nested default is returned as is, not marshalled.
        (Model("D", {"n": fields.Nested(inner, default={"x": 1})}), {}, {}, {"n": {"x": 1}}),
        # A list in place of a nested object marshals to a list.
        (Model("L", {"n": fields.Nested(inner)}), {"n": [{"a": "1"}]}, {}, {"n": [{"a": 1}]}),
        # A dict missing a key named like a dict method yields the bound method.
        (methods, {}, {}, None),
        # A falsy default is returned unformatted; a truthy one is formatted.
        (Model("F", {"z": fields.String(default=0)}), {}, {}, {"z": 0}),
        (Model("F", {"z": fields.Integer(default="5")}), {}, {}, {"z": 5}),
        # bool is formatted by Integer (True -> 1), and a StrEnum by String (to its value).
        (
            Model("B", {"i": fields.Integer, "s": fields.String}),
            {"i": True, "s": Role.ADMIN},
            {},
            {"i": 1, "s": "admin"},
        ),
        # List items are plain dicts even in an ordered model.
        (
            Model("O", {"l": fields.List(fields.Nested(inner))}),
            {"l": [{"a": 1}]},
            {"ordered": True},
            OrderedDict(l=[{"a": 1}]),
        ),
    ]
    for model, obj, options, literal in quirks:
        check(model, obj, **options)
        if literal is not None:
            assert_identical(compile_model(model, **options)(obj), literal)
    empty = {}
    assert compile_model(methods)(empty)["keys"] == empty.keys


def test_every_kind_of_sequence_marshals_as_restx_does():
    """Every kind of sequence a List meets, including a subclass whose indexing disagrees."""
    inner = Model("Item", {"a": fields.Integer})
    model = Model(
        "Lists",
        {"ints": fields.List(fields.Integer), "items": fields.List(fields.Nested(inner))},
    )
    for kind in (list, tuple, Tracked, Reversed):
        obj = {"ints": kind([1, "2", True, None]), "items": kind([{"a": 1}, None, {"a": "3"}])}
        for skip_none in (False, True):
            check(model, obj, skip_none=skip_none)
            check(model, SimpleNamespace(**obj), skip_none=skip_none)
    for odd in ({3, 1}, range(3), 5, None, "abc", {"a": 1}):
        check(model, {"ints": odd, "items": odd})


def test_a_model_that_nests_itself_compiles_lazily():
    tree = Model("Tree", {"label": fields.String})
    tree["children"] = fields.List(fields.Nested(tree, skip_none=True))
    leaf = {"label": "leaf", "children": []}
    check(tree, {"label": "root", "children": [leaf, {"label": 2, "children": [leaf]}]})


# --- 2. real responses ------------------------------------------------------------------------


def _body(response):
    assert response.status_code in (200, 201), response.get_data(as_text=True)[:300]
    return json.loads(response.get_data(as_text=True))


def _marshalled(app, path, build, model, *, skip_none=False):
    """``marshal`` of what ``build()`` loads, in a request for ``path``, as JSON would carry it."""
    with app.test_request_context(path):
        return json.loads(json.dumps(marshal(build(), model, skip_none=skip_none)))


@pytest.fixture
def shop(app, make_product, customer, admin):
    """Three products (one with an image), an order of two lines by the customer."""
    ids = [make_product(price_cents=100 * n, stock=5) for n in (1, 2, 3)]
    with app.app_context():
        db.session.get(ProductRow, ids[1]).image_sha256 = "cd" * 32
        db.session.commit()
        buyer = db.session.get(UserRow, customer["id"])
        with app.test_request_context():
            placed = place_order(
                user=buyer,
                items=[
                    {"product_id": ids[0], "quantity": 2},
                    {"product_id": ids[2], "quantity": 1},
                ],
            )
        return SimpleNamespace(products=ids, order=placed.order.id, customer=customer, admin=admin)


def test_real_responses_equal_marshal_of_the_same_rows(app, client, shop):
    customer, admin = shop.customer, shop.admin
    as_customer = {"Authorization": f"Bearer {customer['access']}"}
    as_admin = {"Authorization": f"Bearer {admin['access']}"}

    def viewer(user):
        return db.session.get(UserRow, user["id"])

    listing = "/api/v1/products?per_page=50"
    cases = [
        (
            listing,
            as_customer,
            ProductPage,
            True,
            lambda: paginate(PRODUCTS, page=1, per_page=50)[0],
        ),
        (
            f"/api/v1/products/{shop.products[1]}",
            as_customer,
            Product,
            False,
            lambda: get_product(shop.products[1]),
        ),
        (
            f"/api/v1/orders/{shop.order}",
            as_customer,
            Order,
            False,
            lambda: get_order(shop.order, viewer=viewer(customer)),
        ),
        (
            f"/api/v1/users/{customer['id']}/orders",
            as_customer,
            OrderPage,
            True,
            lambda: paginate(
                ORDERS, page=1, per_page=20, viewer=viewer(customer), user_id=customer["id"]
            )[0],
        ),
        (
            f"/api/v1/users/{customer['id']}",
            as_admin,
            User,
            True,
            lambda: visible_user(actor=viewer(admin), user_id=customer["id"]),
        ),
        ("/api/v1/auth/me", as_admin, User, True, lambda: viewer(admin)),
    ]
    for path, headers, model, skip_none, build in cases:
        served = _body(client.get(path, headers=headers))
        assert_identical(served, _marshalled(app, path, build, model, skip_none=skip_none))
    page = _body(client.get(listing))
    assert [len(p["_links"]) for p in page["items"]] == [1, 2, 1]  # the image link shows


def test_core_rows_marshal_as_restx_does(app, shop):
    # Read paths hand the serializer SQLAlchemy Core rows instead of ORM objects.
    with app.test_request_context(), db.engine.connect() as connection:
        rows = connection.execute(select(ProductRow.__table__).order_by(ProductRow.id)).all()
        assert any(row.image_sha256 for row in rows)
        for row in rows:
            for skip_none in (False, True):
                check(Product, row, skip_none=skip_none)


def test_every_response_is_marshalled_by_the_compiled_serializer(app, client, shop, monkeypatch):
    """restx's marshal_with is not reached: its marshal would fail the request."""

    def refuse(*args, **kwargs):
        raise AssertionError("flask_restx.marshal was called")

    monkeypatch.setattr(flask_restx.marshalling, "marshal", refuse)
    as_customer = {"Authorization": f"Bearer {shop.customer['access']}"}
    order = {"items": [{"product_id": shop.products[0], "quantity": 1}]}
    assert _body(client.post("/api/v1/orders", json=order, headers=as_customer))["items"]
    for path in (
        "/api/v1/products",
        f"/api/v1/products/{shop.products[0]}",
        f"/api/v1/orders/{shop.order}",
        "/api/v1/orders",
        "/api/v1/auth/me",
        "/health",
    ):
        _body(client.get(path, headers=as_customer))
    assert all(isinstance(ns, Namespace) for ns in NAMESPACES)


# --- 3. fallbacks -----------------------------------------------------------------------------


class Greeting(fields.Raw):
    """A custom field that overrides ``output``: the compiler cannot know what it reads."""

    calls = 0

    def output(self, key, obj, **kwargs):
        Greeting.calls += 1
        return f"hello {get_value('name', obj)}"


def test_fields_the_compiler_does_not_know_use_their_own_output():
    model = Model(
        "Custom",
        {
            "greeting": Greeting,
            "greeting_instance": Greeting(),
            "loud": Shout(attribute="name"),
            "summary": fields.FormattedString("{name} x{count}"),
            "kind": fields.ClassName(dash=True),
            "exact": fields.Arbitrary,
            "money": fields.Fixed(decimals=2),
            "day": fields.Date,
            "born": fields.DateTime(dt_format="rfc822"),
        },
    )
    values = {
        "name": "ada",
        "count": 2,
        "exact": Decimal("1.10"),
        "money": "3.14159",
        "day": date(2024, 2, 29),
        "born": datetime(1815, 12, 10, tzinfo=UTC),
    }
    before = Greeting.calls
    for obj in (values, SimpleNamespace(**values), {}):
        for skip_none in (False, True):
            check(model, obj, skip_none=skip_none)
    assert Greeting.calls > before  # the compiled serializer called it too
    assert compile_model(model)(values)["greeting"] == "hello ada"


def test_wildcards_polymorphs_and_masks_are_left_to_restx():
    wild = Model("Wild", {"id": fields.Integer, "*": fields.Wildcard(fields.String)})
    masked = Model("Masked", {"id": fields.Integer, "name": fields.String}, mask="id")
    animal = Model("Animal", {"name": fields.String})
    cat = animal.inherit("Cat", {"lives": fields.Integer})
    dog = animal.inherit("Dog", {"good": fields.Boolean})

    class Cat:
        name, lives = "tom", "9"

    class Dog:
        name, good = "rex", "true"

    poly = Model("Poly", {"pet": fields.Polymorph({Cat: cat, Dog: dog})})
    check(wild, {"id": 1, "a": "x", "b": 2}, skip_none=True)
    check(masked, {"id": 1, "name": "n"})
    check(poly, {"pet": Cat()})
    check(poly, [{"pet": Dog()}, {"pet": None}])
    assert compile_model(masked)({"id": 1, "name": "n"}) == {"id": 1}


def test_marshal_with_keeps_restx_envelope_tuple_and_mask_behaviour():
    model = Model("Thing", {"id": fields.Integer, "name": fields.String})
    row = {"id": "7", "name": None}
    variants = [{}, {"envelope": "data"}, {"skip_none": True, "ordered": True}, {"mask": "id"}]
    for options in variants:
        for result in (row, (row, 201), (row, 201, {"X": "y"}), [row, row]):
            compiled = MarshalWith(model, **options)(lambda result=result: result)
            by_restx = flask_restx.marshal_with(model, **options)(lambda result=result: result)
            assert_identical(compiled(), by_restx())
    # A mask asked for in the request header (this app disables it) is honoured by restx.
    masking_app = Flask(__name__)
    masking_app.config["RESTX_MASK_HEADER"] = "X-Fields"
    with masking_app.test_request_context(headers={"X-Fields": "name"}):
        assert MarshalWith(model)(lambda: row)() == {"name": None}


def test_the_namespace_documents_responses_exactly_as_restx_does():
    model = Model("Doc", {"id": fields.Integer})
    ours, theirs = Namespace("a"), flask_restx.Namespace("a")
    decorate = [
        lambda ns: ns.marshal_with(model),
        lambda ns: ns.marshal_with(model, code=201, description="Made", skip_none=True),
        lambda ns: ns.marshal_list_with(model, envelope="all"),
    ]
    for make in decorate:

        def view():
            """A view."""
            return {"id": 1}

        documented = make(ours)(view)
        expected = make(theirs)(view)
        assert documented.__apidoc__ == expected.__apidoc__
        assert documented.__doc__ == "A view."
        assert_identical(documented(), expected())


# --- the tests can fail -----------------------------------------------------------------------


MUTANTS = {
    "String passes ints through unformatted": lambda m: m.setitem(
        serialize._PASSTHROUGH, fields.String.format, int
    ),
    "skip_none keeps empty dicts": lambda m: m.setattr(
        serialize, "_NEVER_EMPTY", serialize._NEVER_EMPTY | {dict, OrderedDict}
    ),
    "Integer passes bools through": lambda m: m.setitem(
        serialize._PASSTHROUGH, fields.Integer.format, bool
    ),
    "list subclasses are read by iteration only": lambda m: m.setattr(
        serialize, "_plain_sequence", lambda kind: issubclass(kind, list)
    ),
    "a missing dict key is None": lambda m: m.setattr(
        serialize,
        "_getters",
        lambda source: (
            ((source, None),) * 3
            if type(source) is str and "." not in source
            else _real_getters(source)
        ),
    ),
}
_real_getters = serialize._getters


# Deterministic, and stopping at the first failure: only whether it fails matters here.
FIND_ONLY = {
    "derandomize": True,
    "database": None,
    "report_multiple_bugs": False,
    "phases": [Phase.generate],
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_a_slightly_wrong_serializer_fails_the_property(mutant, monkeypatch):
    monkeypatch.setattr(serialize, "_compiled", {})
    MUTANTS[mutant](monkeypatch)
    with pytest.raises(AssertionError):
        synthetic_property(max_examples=1500, **FIND_ONLY)()
