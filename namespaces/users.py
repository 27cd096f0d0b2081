"""User accounts: admins manage everyone, a user manages their own."""

from flask import url_for
from flask_jwt_extended import current_user
from flask_restx import fields

from api.auth import auth_required
from api.errors import BODY_PROBLEMS, problems
from api.hooks.ratelimit import spend_attempt
from api.http.conditional import conditional_read, conditional_write, expected_version, tagged
from api.http.negotiation import XML, produces
from api.http.pagination import page_model, page_of, page_parser, sort_argument
from api.http.responses import no_content
from api.restx.base import Resource
from api.restx.examples import NO_SUCH_ID, path_example, request_example
from api.restx.fields import id_param, id_route, text
from api.restx.parsers import bounded_text
from api.restx.serialize import Namespace
from models.order import ORDERS
from models.user import (
    EMAIL_MAX_LENGTH,
    MAX_AGE,
    PASSWORD_MAX_LENGTH,
    USER_SORTS,
    USERS,
    create_user,
    delete_user,
    replace_user,
    update_user,
    visible_user,
)
from namespaces.shared import (
    CURRENT_PASSWORD_GUESSES,
    ROLES,
    OrderPage,
    User,
    email_field,
    name_field,
    order_filters,
    password_field,
)

ns = Namespace(
    "users",
    description="Accounts: admins manage every user; a user reads and edits their own",
    path="/api/v1/users",
)


def _input_fields(*, required: bool, password_required: bool) -> dict:
    return {
        "email": email_field(required=required),
        "name": name_field(required=required),
        "password": password_field(required=password_required),
        "age": fields.Integer(min=0, max=MAX_AGE, example=36, description="Age in years"),
        "role": fields.String(
            enum=ROLES, example="customer", description="Only an admin may set it; default customer"
        ),
    }


# Editing an existing account: changing one's own password or email needs the
# current password, so that a stolen access token is not the account itself.
_current_password = {
    "current_password": text(
        "Your own current password: required to change your own password or email (403 without"
        " it); not needed by an admin editing someone else. When sent, it must be right (403)",
        min_length=1,
        max_length=PASSWORD_MAX_LENGTH,
        example="correct horse battery",
    )
}
UserCreate = ns.model(
    "UserCreate", _input_fields(required=True, password_required=True), strict=True
)
UserReplace = ns.model(
    "UserReplace",
    {**_input_fields(required=True, password_required=False), **_current_password},
    strict=True,
)
UserPatch = ns.model(
    "UserPatch",
    {**_input_fields(required=False, password_required=False), **_current_password},
    strict=True,
)
UserPage = page_model(ns, "UserPage", User)

# The demo customer (models/seed.py: the second account), whom the examples
# read and edit: a replacement leaves their email, name and role as they are.
DEMO_CUSTOMER_ID = 2
DEMO_CUSTOMER_REPLACED = {"email": "customer@example.com", "name": "Demo customer", "age": 30}
NOT_YOURS = "You can only access your own account"
# The domain's words for a taken email (models/user.py).
EMAIL_TAKEN = "A user with email {email} already exists"

list_parser = page_parser()
list_parser.add_argument(
    "email",
    type=bounded_text(EMAIL_MAX_LENGTH),
    location="args",
    help="Exact email (any case or width)",
)
list_parser.add_argument("role", choices=ROLES, location="args", help="Only users with this role")
list_parser.add_argument(
    "q", type=bounded_text(100), location="args", help="Name contains this text (any case)"
)
sort_argument(list_parser, USER_SORTS)

# The listing nested under /users/{user_id}/orders takes the user from the path.
order_list_parser = order_filters(page_parser(cursor=True), user_id=False)

USER_ROUTE = id_route("user_id")


@ns.route("")
class UserList(Resource):
    """Every account (admins only)."""

    @ns.doc(id="listUsers")
    @produces(ns, XML)
    @auth_required(ns, admin=True)
    @ns.expect(list_parser)
    @problems(ns, 400, 422, 429)
    @ns.marshal_with(UserPage, skip_none=True)
    def get(self):
        """List live users: filtered, sorted and paged (admin).

        Admin only. Deleted users never appear. `email` matches one address exactly (any case or
        width), `role` one role, `q` part of the name (any case); `sort`: name, email or created_at,
        `-` for descending, ties by id. Paged by `page`/`per_page` (at most 100; past the last page
        the page is empty), with `_links` and a `Link` header. Unknown `sort` or `role`, or a
        non-integer: 400; a value out of bounds: 422. JSON, or XML with `Accept: application/xml`.
        """
        return page_of(list_parser, USERS)

    @ns.doc(id="createUser")
    @produces(ns, XML)
    @auth_required(ns, admin=True)
    @ns.expect(UserCreate, validate=True)
    @request_example(
        ns,
        {
            "email": "grace@example.com",
            "name": "Grace Hopper",
            "password": "correct horse battery",
            "age": 45,
            "role": "customer",
        },
    )
    @problems(
        ns,
        *BODY_PROBLEMS,
        409,
        429,
        d409="The email is already registered",
        examples={409: EMAIL_TAKEN.format(email="grace@example.com")},
    )
    @ns.marshal_with(User, code=201, skip_none=True, description="Created")
    def post(self):
        """Create a user with any role (admin).

        Admin only; unlike `POST /auth/register` it may set `role` (default customer) and `age`. The
        email is stored normalised (NFKC, lower-cased) and must not belong to another live user in
        any case or width (409); longer than 254 characters once normalised, it is a 422.
        Answers 201 with the user, never the password, and its URL in `Location`. Not idempotent: a
        retry after a lost response is a 409 for the email. JSON or XML via `Accept`.
        """
        user = create_user(**ns.payload)
        return user, 201, {"Location": url_for("api.users_user_item", user_id=user.id)}


# What a PUT or PATCH of a user can answer besides success.
edit_problems = problems(
    ns,
    *BODY_PROBLEMS,
    403,
    404,
    409,
    429,
    d403=(
        "Not your account, a role change by a non-admin, or your own password or email changed"
        " without the right current_password"
    ),
    d409="The email is already registered",
    examples={403: NOT_YOURS, 409: EMAIL_TAKEN.format(email="admin@example.com")},
)


@ns.route(USER_ROUTE)
@ns.doc(params={"user_id": id_param("User id", example=DEMO_CUSTOMER_ID)})
class UserItem(Resource):
    """One account."""

    @ns.doc(id="getUser")
    @produces(ns, XML)
    @auth_required(ns)
    @problems(
        ns,
        403,
        404,
        429,
        d403="Not your account, and you are not an admin",
        examples={403: NOT_YOURS},
    )
    @conditional_read(ns)
    @ns.marshal_with(User, skip_none=True)
    def get(self, user_id):
        """Return a user (the user themself or an admin).

        A customer may read only their own account: any other id is a 403, whether or not it exists.
        An admin may read anyone; 404 when the id is unknown or deleted. The `ETag` is the user's
        version: send it in `If-None-Match` for a bodiless 304 while unchanged, or in `If-Match` on
        PUT, PATCH or DELETE. JSON by default, XML with `Accept: application/xml`.
        """
        return tagged(visible_user(actor=current_user, user_id=user_id))

    @ns.doc(id="replaceUser")
    @produces(ns, XML)
    @auth_required(ns)
    @ns.expect(UserReplace, validate=True)
    @request_example(ns, DEMO_CUSTOMER_REPLACED)
    @edit_problems
    @conditional_write(ns)
    @ns.marshal_with(User, skip_none=True)
    def put(self, user_id):
        """Replace a user's profile; an omitted age is cleared (self or admin).

        `email` and `name` are set from the body and an omitted `age` is cleared; an omitted
        `password` or `role` keeps the current one. A customer may replace only their own account
        and may not send `role`, even unchanged (403). Changing your own `password` or `email` needs
        `current_password` (403 without it or when wrong); a new password, yours or one an admin
        resets, revokes every token of the user issued before it. 404 (admins) when the user is
        unknown or deleted; 409 when another live user has the email. Send the `ETag` you read in
        `If-Match` to get a 412 rather than overwrite a newer version. A body with
        `current_password` spends the budget of `POST /auth/password` (`RATELIMIT_LOGIN`, per
        user): 429 once it is spent. Returns the user and its new `ETag`.
        """
        _spend_password_attempt()
        return tagged(
            replace_user(
                actor=current_user,
                user_id=user_id,
                expected_version=expected_version(),
                **ns.payload,
            )
        )

    @ns.doc(id="updateUser")
    @produces(ns, XML)
    @auth_required(ns)
    @ns.expect(UserPatch, validate=True)
    @request_example(ns, {"name": "Ada Lovelace"})
    @edit_problems
    @conditional_write(ns)
    @ns.marshal_with(User, skip_none=True)
    def patch(self, user_id):
        """Change some of a user's fields (self or admin; role: admin only).

        Only the fields sent change; a new `password` is stored hashed. null is not a value (400):
        clear `age` with PUT. A customer may change only their own account and never `role` (403).
        Changing your own `password` or `email` needs `current_password` (403 without it or when
        wrong); a new password, yours or one an admin resets, revokes every token of the user issued
        before it (`POST /auth/password` changes yours and answers fresh tokens). 404 (admins) when
        the user is unknown or deleted; 409 when another live user has the email. Send the `ETag`
        you read in `If-Match` to get a 412 rather than overwrite a newer version. A body with
        `current_password` spends the budget of `POST /auth/password` (`RATELIMIT_LOGIN`, per
        user): 429 once it is spent. Returns the user and its new `ETag`; JSON or XML via `Accept`.
        """
        _spend_password_attempt()
        return tagged(
            update_user(
                actor=current_user,
                user_id=user_id,
                expected_version=expected_version(),
                **ns.payload,
            )
        )

    @ns.doc(id="deleteUser")
    @path_example(ns, user_id=NO_SUCH_ID)
    @auth_required(ns, admin=True)
    @problems(
        ns,
        404,
        409,
        429,
        d409="The last admin cannot be deleted",
        examples={409: "This is the last admin; make another admin first"},
    )
    @conditional_write(ns)
    @ns.response(204, "Deleted: no more logins, tokens refused, orders kept")
    def delete(self, user_id):
        """Soft-delete a user (admin): they cannot log in and their tokens stop working.

        Admin only. From the next request the user's tokens are a 401 and logging in fails; the
        email becomes free for a new account; their orders are kept (admins still see them in
        `GET /orders`). 404 when the user is unknown or already deleted. `If-Match` with the `ETag`
        you read makes it a 412 if the user changed since. Answers 204 with no body.
        """
        delete_user(user_id=user_id, expected_version=expected_version())
        return no_content()


@ns.route(f"{USER_ROUTE}/orders")
@ns.doc(params={"user_id": id_param("User id", example=DEMO_CUSTOMER_ID)})
class UserOrders(Resource):
    """A user's orders, nested under the user."""

    @ns.doc(id="listUserOrders")
    @produces(ns, XML)
    @auth_required(ns)
    @ns.expect(order_list_parser)
    @problems(
        ns,
        400,
        403,
        404,
        422,
        429,
        d403="Not your account, and you are not an admin",
        examples={403: NOT_YOURS},
    )
    @ns.marshal_with(OrderPage, skip_none=True)
    def get(self, user_id):
        """List one user's orders (the user themself or an admin), filtered like /orders.

        A customer may list only their own orders (any other id is a 403); an admin anyone's, with a
        404 for an unknown or deleted user. Filters as on `GET /orders`, the user coming from the
        path: `status`, `created_from` (inclusive) and `created_to` (exclusive), `sort` by
        created_at or total_cents. Paged by `page`/`per_page` (at most 100), with `_links` and a
        `Link` header; `next` links carry an `after` cursor. JSON, or XML with `Accept:
        application/xml`.
        """
        visible_user(actor=current_user, user_id=user_id)
        return page_of(order_list_parser, ORDERS.where(viewer=current_user, user_id=user_id))


def _spend_password_attempt() -> None:
    """Count a body's ``current_password`` against the budget of password attempts (429).

    Every attempt counts, right or wrong, as every request to the login and to
    ``POST /auth/password`` does.
    """
    if "current_password" in ns.payload:
        spend_attempt("RATELIMIT_LOGIN", CURRENT_PASSWORD_GUESSES)
