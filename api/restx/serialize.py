"""Serializers compiled once from restx models, equal to ``flask_restx.marshal`` by test.

The restx models stay the one source of truth for the spec and for the output;
only the way the output is produced changes. ``marshal`` rediscovers on every
call what each field is, runs a generator pipeline per object and calls
``format`` on every value: about 20 µs for an eight-field object, 1 ms for a page
of fifty. ``compile_model`` makes those decisions once per (model, skip_none,
ordered) and returns a plain function that produces the same value.

Equal means equal: same keys in the same order, same values of the same types,
``None`` and defaults where restx puts them, the same quirks (see the tests).
The fast paths cover the fields and values this project uses; everything else
runs restx's own code, so correctness never depends on a fast path:

- a field whose class overrides ``output`` (``Url``, ``FormattedString``, a
  custom field) is asked for its own ``output``, as ``marshal`` does;
- a value of a type the field's ``format`` might change goes through ``format``;
- a list that is not a plain ``list`` or ``tuple`` goes through ``List.format``;
- a model with a mask or a ``Wildcard`` field is handed to ``marshal`` whole.

``Namespace`` is a restx namespace whose ``marshal_with`` documents the response
with restx's own code (the spec does not change) and produces it with these.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cache, wraps
from http import HTTPStatus

from flask import current_app, has_app_context, request
from flask_restx import Namespace as RestxNamespace
from flask_restx import fields
from flask_restx import marshal as restx_marshal
from flask_restx.fields import MarshallingError, get_value, is_indexable_but_not_string
from flask_restx.marshalling import marshal_with as restx_marshal_with
from flask_restx.model import RawModel
from flask_restx.utils import unpack
from sqlalchemy.engine import Row

Serializer = Callable[[object], object]

# For these ``format`` methods a value of the given exact type comes back equal and
# of the same type (str(s), int(i), float(f), boolean(b)), so the call can be skipped.
# Subclasses (a StrEnum, a bool for Integer) still go through ``format``.
_PASSTHROUGH = {
    fields.String.format: str,
    fields.Integer.format: int,
    fields.Float.format: float,
    fields.Boolean.format: bool,
}
# Raw.format returns any value unchanged.
_ANY = object()
# Types whose values never compare equal to ``{}``, so ``skip_none`` keeps them
# without evaluating restx's ``v != OrderedDict() and v != {}``.
_NEVER_EMPTY = frozenset({str, int, float, bool, list})
_EMPTY = OrderedDict()

# (id(model), skip_none, ordered) -> (model, serializer). The model is held so that
# its id cannot be reused by another object while the entry exists.
_compiled: dict[tuple[int, bool, bool], tuple[object, Serializer]] = {}
_compiling = threading.Lock()


def compile_model(model, *, skip_none: bool = False, ordered: bool = False) -> Serializer:
    """Return a function equal to ``marshal(obj, model, skip_none=..., ordered=...)``.

    ``model`` is a restx ``Model`` or a dict of fields. The function is built on
    the first call for each (model, skip_none, ordered) and cached for the life
    of the process, so pass long-lived models (those the namespaces declare), not
    a dict of fields built per request.
    """
    key = (id(model), bool(skip_none), bool(ordered))
    found = _compiled.get(key)
    if found is None:
        with _compiling:
            found = _compiled.get(key)
            if found is None:
                found = (model, _compile(model, skip_none=bool(skip_none), ordered=bool(ordered)))
                _compiled[key] = found
    return found[1]


def marshal(data, fields, *, envelope=None, skip_none=False, mask=None, ordered=False):
    """A drop-in ``flask_restx.marshal`` that uses the compiled serializer of a model.

    Only models are compiled (they live as long as the app); a plain dict of
    fields, or a mask, is left to restx.
    """
    if mask or not isinstance(fields, RawModel):
        return restx_marshal(data, fields, envelope, skip_none, mask, ordered)
    serializer = compile_model(fields, skip_none=skip_none, ordered=ordered)
    return _envelop(serializer(data), envelope, ordered)


class MarshalWith(restx_marshal_with):
    """restx's ``marshal_with`` decorator, producing the same output with a compiled serializer.

    A mask (given here, in the model, or in the ``RESTX_MASK_HEADER`` request
    header) is left to restx; this app disables masks.
    """

    def __call__(self, func):
        """Wrap ``func`` so that its result is marshalled."""
        by_restx = super().__call__(func)
        serializer = None

        @wraps(func)
        def wrapper(*args, **kwargs):
            nonlocal serializer
            if self._masked():
                return by_restx(*args, **kwargs)
            if serializer is None:
                serializer = compile_model(
                    self.fields, skip_none=self.skip_none, ordered=self.ordered
                )
            response = func(*args, **kwargs)
            if isinstance(response, tuple):
                data, code, headers = unpack(response)
                return _envelop(serializer(data), self.envelope, self.ordered), code, headers
            return _envelop(serializer(response), self.envelope, self.ordered)

        return wrapper

    def _masked(self) -> bool:
        # The same expression restx evaluates before every marshal.
        mask = self.mask
        if has_app_context():
            mask = request.headers.get(current_app.config["RESTX_MASK_HEADER"]) or mask
        return bool(mask)


class Namespace(RestxNamespace):
    """A restx ``Namespace`` whose responses are produced by compiled serializers.

    ``marshal_with`` (and so ``marshal_list_with``) documents the response with
    restx's own code, so the spec is unchanged, and marshals with ``MarshalWith``.
    """

    def marshal_with(self, fields, as_list=False, code=HTTPStatus.OK, description=None, **kwargs):
        """Document ``fields`` as the response for ``code`` and marshal the result with it."""
        document = super().marshal_with(fields, as_list, code, description, **kwargs)

        def decorate(func):
            # restx's decorator records the response in func.__apidoc__; its
            # marshalling wrapper is not used.
            document(func)
            return MarshalWith(fields, ordered=self.ordered, **kwargs)(func)

        return decorate

    def marshal(self, data, fields, **options):
        """The compiled ``marshal``, like restx's ``Namespace.marshal`` shortcut."""
        return marshal(data, fields, **options)


def _envelop(out, envelope, ordered: bool):
    if not envelope:
        return out
    return OrderedDict([(envelope, out)]) if ordered else {envelope: out}


def _compile(model, *, skip_none: bool, ordered: bool) -> Serializer:
    """Build the serializer of ``model``; ``compile_model`` caches it."""
    # marshal applies the model's mask and marshals its ``resolved`` copy
    # (inherited fields merged, discriminator defaults set).
    resolved = getattr(model, "resolved", model)
    if getattr(model, "__mask__", None) or any(_is_wildcard(f) for f in resolved.values()):

        def by_restx(data):
            return restx_marshal(data, model, skip_none=skip_none, ordered=ordered)

        return by_restx

    entries = [_plan_entry(name, field, skip_none, ordered) for name, field in resolved.items()]
    # One plan per kind of object, chosen once per object instead of once per field.
    by_key, by_attribute, by_get_value = (
        [(name, *getters[kind], unchanged, emit) for name, getters, unchanged, emit in entries]
        for kind in range(3)
    )

    def serialize(data):
        # restx's get_value indexes dicts (falling back to getattr), lists by
        # position, other iterables by key, and reads attributes of the rest.
        if type(data) is dict:
            plan, lookup = by_key, dict.get
        elif isinstance(data, (list, tuple)):
            return [serialize(item) for item in data]
        elif type(data) is Row or hasattr(data, "strip") or not hasattr(data, "__iter__"):
            # A Core row is iterable, but restx ends up reading its columns by
            # attribute too (indexing it by name fails), so read them directly.
            plan, lookup = by_attribute, getattr
        else:
            plan, lookup = by_get_value, _get_value
        out = {}
        for name, key, getter, unchanged, emit in plan:
            value = lookup(data, key, None) if getter is None else getter(data)
            if emit is not None and type(value) is not unchanged:
                value = emit(value)
            if skip_none and (value is None or (type(value) not in _NEVER_EMPTY and _empty(value))):
                continue
            out[name] = value
        return OrderedDict(out) if ordered else out

    return serialize


def _empty(value) -> bool:
    """restx's ``skip_none`` test, verbatim: with ``!=``, which an ``in`` would not use."""
    return not (value != _EMPTY and value != {})  # noqa: PLR1714


def _get_value(obj, key, default):
    return get_value(key, obj, default)


def _is_wildcard(field) -> bool:
    kind = field if isinstance(field, type) else type(field)
    return issubclass(kind, fields.Wildcard)


def _plan_entry(name, field, skip_none: bool, ordered: bool):
    """(name, one (key, getter) per kind of object, unchanged, emit) for one field of a model.

    A getter of ``None`` means: look ``key`` up the way that kind of object is
    read. ``emit`` turns the value into the output; it is skipped when it is
    ``None`` or when the value is exactly of type ``unchanged``.
    """
    if isinstance(field, dict):
        # A dict of fields inside a model is marshalled from the same object.
        nested = _lazy(field, skip_none, ordered)
        return name, ((None, nested),) * 3, None, None
    if isinstance(field, type):
        # marshal instantiates a field class on every call; so does this.
        def by_class(data):
            return field().output(name, data, ordered=ordered)

        return name, ((None, by_class),) * 3, None, None
    kind = type(field)
    source = name if field.attribute is None else field.attribute
    if kind.output is fields.Raw.output:
        return name, _getters(source), *_scalar_emitter(field, name)
    if kind.output is fields.Nested.output and kind.nested is fields.Nested.nested:
        return name, _getters(source), None, _nested_emitter(field, ordered)
    if kind.output is fields.List.output and kind.format is fields.List.format:
        return name, _getters(source), None, _list_emitter(field)

    def by_field(data):
        return field.output(name, data, ordered=ordered)

    return name, ((None, by_field),) * 3, None, None


def _getters(source):
    """How to read ``source`` from a dict, a plain object, and anything else.

    Mirrors restx's ``get_value``: a string is a key or attribute name (dotted
    for a path), a callable is called with the object.
    """
    if type(source) is str and "." not in source:
        if hasattr(dict, source):
            # restx falls back to getattr when the key is missing, so a dict
            # without "items" yields its bound ``items`` method.
            def from_dict(data):
                return data[source] if source in data else getattr(data, source, None)

            return (source, from_dict), (source, None), (source, None)
        return (source, None), (source, None), (source, None)
    if callable(source) and not isinstance(source, int):
        return ((None, source),) * 3

    def by_path(data):
        return get_value(source, data)

    return ((None, by_path),) * 3


def _lazy(model, skip_none: bool, ordered: bool) -> Serializer:
    """The serializer of ``model``, compiled on its first use.

    Compiling nested models lazily lets a model nest itself: restx marshals
    each level with a fresh ``resolved`` copy, so compiling eagerly would never end.
    """
    compiled = None

    def serialize(data):
        nonlocal compiled
        if compiled is None:
            compiled = compile_model(model, skip_none=skip_none, ordered=ordered)
        return compiled(data)

    return serialize


def _format(field, key, value):
    """``field.format(value)``, with the error restx's ``Raw.output`` raises."""
    try:
        return field.format(value)
    except MarshallingError as e:
        msg = f'Unable to marshal field "{key}" value "{value}": {e}'
        raise MarshallingError(msg) from e


def _scalar_emitter(field, key):
    """(unchanged, emit) for a field read by ``Raw.output``: the tail of that method."""
    format_ = type(field).format
    if field.mask or field.default is not None:
        # Rare: the default may be callable, and is formatted only when truthy.
        def emit_exactly(value):
            if value is None:
                default = field._v("default")
                return field.format(default) if default else default
            data = _format(field, key, value)
            return field.mask.apply(data) if field.mask else data

        return None, emit_exactly
    if format_ is fields.Raw.format:
        return None, None

    def emit(value):
        return None if value is None else _format(field, key, value)

    return _PASSTHROUGH.get(format_), emit


def _nested_emitter(field, ordered: bool):
    """``Nested.output`` after the value is read."""
    allow_null, default = field.allow_null, field.default
    serialize = None

    def emit(value):
        nonlocal serialize
        if value is None:
            if allow_null:
                return None
            if default is not None:
                return default
        if serialize is None:
            serialize = compile_model(field.nested, skip_none=field.skip_none, ordered=ordered)
        return serialize(value)

    return emit


def _list_emitter(field):
    """``List.output`` after the value is read."""
    items = _items_serializer(field.container)

    def emit(value):
        kind = type(value)
        if kind is list or kind is tuple:
            return field.format(value) if items is None else items(value)
        # The rest follows List.output line by line.
        if is_indexable_but_not_string(value) and not isinstance(value, dict):
            if items is not None and _plain_sequence(kind):
                return items(value)
            return field.format(value)
        if value is None:
            return field._v("default")
        return [restx_marshal(value, field.container.nested)]

    return emit


@cache
def _plain_sequence(kind: type) -> bool:
    """A list or tuple subclass that indexes and iterates as its base (SQLAlchemy's lists)."""
    for base in (list, tuple):
        if issubclass(kind, base):
            return kind.__getitem__ is base.__getitem__ and kind.__iter__ is base.__iter__
    return False


def _items_serializer(container):
    """Serialize a plain sequence as ``List.format`` does, or ``None`` to leave it to restx.

    ``List.format`` calls ``container.output(index, ...)`` without ``ordered``,
    so nested items are plain dicts even in an ordered model.
    """
    if container.attribute is not None:
        return None
    kind = type(container)
    if kind.output is fields.Nested.output and kind.nested is fields.Nested.nested:
        emit = _nested_emitter(container, ordered=False)

        def nested_items(sequence):
            return [emit(value) for value in sequence]

        return nested_items
    if kind.output is not fields.Raw.output or container.mask or container.default is not None:
        return None
    passthrough = _ANY if kind.format is fields.Raw.format else _PASSTHROUGH.get(kind.format)
    # List.format hands a dict item itself to the container, except to a plain Raw.
    dict_is_object = kind is not fields.Raw

    def scalar_items(sequence):
        out = []
        for index, value in enumerate(sequence):
            if dict_is_object and isinstance(value, dict):
                out.append(container.output(index, value))
            elif passthrough is _ANY or type(value) is passthrough:
                out.append(value)
            else:
                out.append(container.output(index, sequence))
        return out

    return scalar_items
