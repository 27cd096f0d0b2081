"""The project's flask-restx base classes: the Api and the Resource every namespace uses."""

from functools import cached_property

from flask import Response, g, redirect, request, url_for
from flask_restx import Api
from flask_restx import Resource as RestxResource
from flask_restx.model import ModelBase
from flask_restx.swagger import Swagger, extract_path
from flask_restx.utils import unpack

from api.auth import enforce
from api.docs.spec import reflow
from api.errors import PROBLEM_DESCRIPTIONS, PROBLEM_MEDIA_TYPE, problem_response
from api.http.negotiation import negotiate, offered, render
from api.restx.examples import OperationExamples
from api.restx.validation import build_validator, validate_json_body

JSON = "application/json"
# Headers that always come with a given status, documented wherever it is.
CONVENTIONAL_HEADERS = {
    "201": {"Location": "URL of the created resource"},
    "202": {
        "Location": "URL of the job doing the work: poll it until its status is final",
        "Retry-After": "Seconds to wait before polling the job",
    },
    "401": {"WWW-Authenticate": "The scheme to authenticate with: Bearer"},
    "429": {"Retry-After": "Seconds to wait before retrying"},
}


class StorefrontSwagger(Swagger):
    """restx's Swagger 2.0 builder, plus what the project's conventions add."""

    def as_dict(self):
        """The document in the declared order, without the ``null``s restx leaves in ``info``.

        restx sorts the paths; the documents list them as the namespaces declare
        them instead, which is the order of the story (Redoc has no sorter, and
        Swagger UI keeps it). ``api.docs.spec.serialize`` orders each path's
        operations.
        """
        spec = super().as_dict()
        contact = spec["info"].get("contact")
        if contact:
            spec["info"]["contact"] = {k: v for k, v in contact.items() if v is not None}
        paths = spec["paths"]
        spec["paths"] = {path: paths[path] for path in self._declared_paths() if path in paths}
        return spec

    def _declared_paths(self) -> list[str]:
        """Every documented path, in the order of the namespaces and their routes."""
        declared = []
        for ns in self.api.namespaces:
            for resource in ns.resources:
                for url in self.api.ns_urls(ns, resource.urls):
                    path = extract_path(url)
                    if path not in declared:
                        declared.append(path)
        return declared

    def serialize_resource(self, ns, resource, url, route_doc=None, **kwargs):
        """The path item of ``resource``; its operations' examples need the path and its limit."""
        # restx does not pass either down to serialize_operation.
        self._resource = (extract_path(url), getattr(resource, "rate_limit", None))
        return super().serialize_resource(ns, resource, url, route_doc=route_doc, **kwargs)

    def serialize_operation(self, doc, method):
        """Add what every operation shares by convention.

        Any operation may answer a problem, so each lists that media type and a
        500; a 201, 401 or 429 documents the header that always comes with it.
        Descriptions reflow (docstrings are wrapped at 100 columns, which
        Markdown renderers with hard breaks would keep), and every operation
        gets its examples (``api.restx.examples``).
        """
        operation = super().serialize_operation(doc, method)
        if "description" in operation:
            operation["description"] = reflow(operation["description"])
        if "consumes" in doc[method]:
            operation["consumes"] = doc[method]["consumes"]
        operation.setdefault("produces", [JSON, PROBLEM_MEDIA_TYPE])
        # Any operation can be asked for a type it does not produce, or fail
        # unexpectedly; either way it answers a problem.
        for status in ("406", "500"):
            operation["responses"].setdefault(
                status,
                {
                    "description": PROBLEM_DESCRIPTIONS[int(status)],
                    "schema": {"$ref": "#/definitions/Problem"},
                },
            )
        conditional = {"304", "412"} & set(operation["responses"])
        if conditional and "200" in operation["responses"]:
            operation["responses"]["200"].setdefault("headers", {})["ETag"] = {
                "type": "string",
                "description": "The resource's version; send it in If-None-Match or If-Match",
            }
        for status, headers in CONVENTIONAL_HEADERS.items():
            response = operation["responses"].get(status)
            if response is not None:
                documented = response.setdefault("headers", {})
                for name, description in headers.items():
                    documented[name] = {"type": "string", "description": description}
        self._write_examples(doc, method, operation)
        return operation

    def _write_examples(self, doc, method, operation) -> None:
        path, rate_limit = self._resource
        parameters = [
            {"name": name, **parameter} for name, parameter in doc.get("params", {}).items()
        ] + (operation.get("parameters") or [])
        path_values = {p["name"]: p.get("x-example") for p in parameters if p["in"] == "path"}
        body = [p for p in parameters if p["in"] == "body"]
        body_schema = None
        if body:
            name = body[0]["schema"]["$ref"].rsplit("/", 1)[1]
            body_schema = self.api.models[name].__schema__
        OperationExamples(
            f"{method.upper()} {path}",
            path,
            operation,
            path_values,
            declared=_declared_problem_examples(doc, method),
            body_schema=body_schema,
            rate_limit=rate_limit or "RATELIMIT_DEFAULT",
        ).write(doc[method].get("body_example"))


def _declared_problem_examples(doc, method) -> dict:
    """The ``example`` each status was declared with (``api.errors.problems``)."""
    declared = {}
    for level in (doc, doc[method]):
        for code, response in level.get("responses", {}).items():
            if isinstance(response, tuple) and len(response) == 3 and "example" in response[2]:
                declared[int(code)] = response[2]["example"]
    return declared


class StorefrontApi(Api):
    """An Api whose errors are problem+json and whose spec is served from cache."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Masks are off (RESTX_MASK_SWAGGER=False); their handlers would only add
        # two unused global responses to the spec.
        self.error_handlers.clear()

    @cached_property
    def __schema__(self):
        """The Swagger 2.0 document; a rendering bug raises instead of being cached."""
        return StorefrontSwagger(self).as_dict()

    def handle_error(self, e):
        """Render every error raised in a restx route as a problem response."""
        return problem_response(e)

    def render_root(self):
        """The site's root: whoever opens it in a browser wants the docs."""
        return redirect(url_for("docs_pages.swagger_ui"), 302)

    def _register_apidoc(self, app):
        # restx's own Swagger UI (its templates and its older bundle under
        # /swaggerui) is not used: api.docs.pages serves a newer one there.
        pass

    def _register_specs(self, app_or_blueprint):
        # The spec is served by api.docs.spec from cached bytes, not re-rendered.
        pass

    @property
    def specs_url(self):
        """Path of the spec that Swagger UI loads (relative: right behind any proxy)."""
        return url_for("spec")

    def validator_for(self, model: ModelBase):
        """Return the compiled JSON Schema validator of an input model (built once)."""
        cache = self.__dict__.setdefault("_validators", {})
        if model.name not in cache:
            definitions = {name: m.__schema__ for name, m in self.models.items()}
            cache[model.name] = build_validator(model.__schema__, definitions)
        return cache[model.name]


class Resource(RestxResource):
    """Base of every resource: authorize, negotiate, validate, then run and render.

    restx validates the body before any method decorator runs, so a request
    without a token would get a 400 for its body instead of a 401; the check
    declared by ``api.auth.auth_required`` therefore runs here, first. The
    response type is chosen next, from what the operation declares it
    produces, so an unacceptable ``Accept`` is a 406 before anything is done.
    """

    def dispatch_request(self, *args, **kwargs):
        """Run the operation for this request and render its result."""
        method = getattr(self, request.method.lower(), None)
        if method is None and request.method == "HEAD":
            method = self.get
        for decorator in self.method_decorators:
            method = decorator(method)
        rule = getattr(method, "__auth__", None)
        if rule is not None:
            enforce(rule)
        g.mediatype = mediatype = negotiate(method)
        self.validate_payload(method)
        result = method(*args, **kwargs)
        if isinstance(result, Response):
            return result
        data, status, headers = unpack(result)
        return render(
            mediatype,
            data,
            status,
            headers,
            root=_root_name(method, status),
            negotiable=len(offered(method)) > 1,
        )

    def validate_payload(self, func):
        """Validate the JSON body against the operation's input model."""
        for expected in getattr(func, "__apidoc__", {}).get("expect", []):
            if isinstance(expected, ModelBase):
                validate_json_body(self.api.validator_for(expected))


def _root_name(func, status: int) -> str:
    """The XML root element: the name of the model documented for ``status``."""
    documented = getattr(func, "__apidoc__", {}).get("responses", {}).get(str(status))
    model = documented[1] if isinstance(documented, tuple) and len(documented) > 1 else None
    return getattr(model, "name", None) or "response"
