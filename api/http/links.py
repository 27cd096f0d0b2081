"""``_links``: the one way the namespaces build the URLs a representation links to.

``links_to(self=link("api.users_user_item", "user_id"), ...)`` is the
``attribute`` of a ``_links`` field. Each relation names a route and the
object attribute that fills its one id argument. The route is resolved with
``url_for`` once per request and relation, not once per item: on a page of a
hundred products, ``url_for`` per link would be most of the cost of rendering it.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import g, url_for

from api.restx.fields import MAX_ID

# An id no real row has in the middle of a URL: the template is cut around it.
_PLACEHOLDER = str(MAX_ID)


@dataclass(frozen=True)
class Relation:
    """One link: the route ``endpoint``, its id ``argument``, filled from ``attribute``.

    ``when``: the name of an attribute that must be truthy for the link to be
    given (an image link only for a product that has one).
    """

    endpoint: str
    argument: str
    attribute: str = "id"
    when: str | None = None


def link(endpoint: str, argument: str, *, attribute: str = "id", when: str | None = None):
    """A ``Relation``: the URL of ``endpoint``, its ``argument`` read from ``attribute``."""
    return Relation(endpoint, argument, attribute, when)


def _template(relation: Relation) -> tuple[str, str]:
    """The URL of ``relation`` around its id, resolved once per request."""
    templates = g.setdefault("link_templates", {})
    key = (relation.endpoint, relation.argument)
    if key not in templates:
        url = url_for(relation.endpoint, **{relation.argument: MAX_ID})
        prefix, _, suffix = url.rpartition(_PLACEHOLDER)
        templates[key] = (prefix, suffix)
    return templates[key]


def links_to(**relations: Relation) -> Callable[[object], dict]:
    """The ``attribute`` function of a ``_links`` field: relation name to URL."""
    named = tuple(relations.items())

    def build(item) -> dict:
        links = {}
        for name, relation in named:
            if relation.when is None or getattr(item, relation.when):
                prefix, suffix = _template(relation)
                links[name] = f"{prefix}{getattr(item, relation.attribute)}{suffix}"
        return links

    return build
