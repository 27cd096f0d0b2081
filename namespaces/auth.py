"""Registration, login (JSON, or the OAuth 2 form of the docs' Authorize dialog), refresh,
logout and password change.

The resources are declared in the order a person uses them, which is the
order the documents list them in.
"""

from flask import current_app, url_for
from flask_jwt_extended import create_access_token, create_refresh_token, current_user
from flask_restx import fields

from api.auth import auth_required, public, revoke_current_session
from api.errors import BODY_PROBLEMS, problems
from api.hooks.ratelimit import client_key, limited_by
from api.http.conditional import conditional_read, tagged
from api.http.negotiation import XML, produces
from api.http.responses import no_content
from api.oauth import FORM, invalid_grant, password_grant, password_grant_parser
from api.restx.base import Resource
from api.restx.examples import request_example
from api.restx.fields import text
from api.restx.serialize import Namespace, marshal
from models import InvalidCredentialsError
from models.base import CHANGED_MEANWHILE
from models.user import (
    EMAIL_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    authenticate,
    change_password,
    create_user,
)
from namespaces.shared import (
    CURRENT_PASSWORD_GUESSES,
    User,
    email_field,
    name_field,
    password_field,
)

ns = Namespace(
    "auth", description="Register, log in, refresh and revoke tokens", path="/api/v1/auth"
)

RegisterInput = ns.model(
    "RegisterInput",
    {
        "email": email_field(required=True),
        "password": password_field(required=True),
        "name": name_field(required=True),
    },
    strict=True,
)
LoginInput = ns.model(
    "LoginInput",
    {
        "email": text(
            "Login email",
            required=True,
            min_length=1,
            max_length=EMAIL_MAX_LENGTH,
            example="admin@example.com",
        ),
        "password": text(
            "Password",
            required=True,
            min_length=1,
            max_length=PASSWORD_MAX_LENGTH,
            example="admin-demo-password",
        ),
    },
    strict=True,
)
PasswordChange = ns.model(
    "PasswordChange",
    {
        "current_password": text(
            "Your current password",
            required=True,
            min_length=1,
            max_length=PASSWORD_MAX_LENGTH,
            example="correct horse battery",
        ),
        "new_password": password_field(required=True),
    },
    strict=True,
)
# An example for the docs only: header and claims of a token, with a fake signature.
TOKEN_EXAMPLE = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"  # noqa: S105
_access_fields = {
    "access_token": fields.String(
        required=True, description="JWT for the Authorization header", example=TOKEN_EXAMPLE
    ),
    "token_type": fields.String(
        required=True, enum=["Bearer"], example="Bearer", description="Always Bearer"
    ),
    "expires_in": fields.Integer(
        required=True, min=1, example=900, description="Seconds until the access token expires"
    ),
}
AccessToken = ns.model("AccessToken", _access_fields)
TokenPair = ns.model(
    "TokenPair",
    {
        **_access_fields,
        "refresh_token": fields.String(
            required=True,
            description="JWT for POST /auth/refresh; lives much longer",
            example=TOKEN_EXAMPLE,
        ),
    },
)


token_form = password_grant_parser(
    username_max_length=EMAIL_MAX_LENGTH, password_max_length=PASSWORD_MAX_LENGTH
)
# What the Authorize dialog prefills: the demo admin of `flask --app wsgi seed`.
DEMO_ADMIN = {"email": "admin@example.com", "password": "admin-demo-password"}
TOKEN_FORM_EXAMPLES = {
    "grant_type": {"x-example": "password"},
    "username": {"x-example": DEMO_ADMIN["email"]},
    "password": {"x-example": DEMO_ADMIN["password"]},
}
# RFC 6749 §5.1: a response carrying tokens must not be stored by any cache.
NO_STORE = {
    "Cache-Control": "no-store: the body holds credentials",
    "Pragma": "no-cache (for HTTP/1.0 caches)",
}
# The JSON and the form login take passwords alike: they spend one budget of
# guesses per address, counted under the JSON login's endpoint as it always was.
PASSWORD_GUESSES = "api.auth_login"  # noqa: S105 (a counter's name)


def _access_token(user) -> dict:
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=user),
        "token_type": "Bearer",
        "expires_in": int(lifetime.total_seconds()),
    }


def _token_pair(user) -> dict:
    return {**_access_token(user), "refresh_token": create_refresh_token(identity=user)}


@ns.route("/register")
@limited_by("RATELIMIT_LOGIN")
class Register(Resource):
    """Self-service sign-up (limited like login: it is as open to abuse)."""

    @ns.doc(id="register")
    @public(ns)
    @ns.expect(RegisterInput, validate=True)
    @request_example(
        ns,
        {"email": "ada@example.com", "password": "correct horse battery", "name": "Ada Lovelace"},
    )
    @problems(
        ns,
        *BODY_PROBLEMS,
        409,
        429,
        d409="The email is already registered",
        examples={409: "A user with email ada@example.com already exists"},
    )
    @ns.marshal_with(User, code=201, skip_none=True, description="Registered")
    def post(self):
        """Register a customer account (the role is always customer).

        Open to anyone, no token. The account is always a `customer`: a `role` (or any other field
        besides email, password and name) in the body is a 400. The email is stored normalised
        (NFKC, lower-cased) and must not belong to a live account in any case or width (409);
        longer than 254 characters once normalised, it is a 422. Answers 201 with the user, never
        the password, and its URL in `Location`; it does not log in, so call `POST /auth/login`.
        Rate-limited per client address as strictly as login (429 with `Retry-After`).
        """
        user = create_user(**ns.payload)
        return user, 201, {"Location": url_for("api.users_user_item", user_id=user.id)}


@ns.route("/login")
@limited_by("RATELIMIT_LOGIN", budget=PASSWORD_GUESSES)
class Login(Resource):
    """Exchange credentials for tokens (strictly limited against password guessing)."""

    @ns.doc(id="login")
    @public(ns)
    @ns.expect(LoginInput, validate=True)
    @request_example(ns, DEMO_ADMIN)
    @problems(
        ns,
        *BODY_PROBLEMS,
        401,
        429,
        d401="Wrong email or password",
        examples={401: "Invalid email or password"},
    )
    @ns.marshal_with(TokenPair)
    def post(self):
        """Log in: returns an access token and a refresh token.

        Open to anyone. The email is matched in any case or width, invisible characters ignored. An
        unknown email, a wrong password and a deleted account all get the same 401, so the answer
        does not tell which accounts exist. Send `access_token` as `Authorization: Bearer <token>`;
        it expires after `expires_in` seconds. Keep `refresh_token` for `POST /auth/refresh`. The
        two tokens start a session, which `POST /auth/logout` ends. Sent with `Cache-Control:
        no-store`. Strictly rate-limited per client address against password guessing (429 with
        `Retry-After`).
        """
        user = authenticate(**ns.payload)
        return _token_pair(user)


@ns.route("/token")
@limited_by("RATELIMIT_LOGIN", budget=PASSWORD_GUESSES)
class Token(Resource):
    """The OAuth 2 token endpoint (password grant): the login of the docs' Authorize dialog."""

    @ns.doc(id="issueToken", consumes=[FORM], params=TOKEN_FORM_EXAMPLES)
    @public(ns)
    @ns.expect(token_form)
    @problems(
        ns,
        400,
        401,
        413,
        415,
        429,
        d400="invalid_request (a field missing, empty, too long or repeated) or "
        "unsupported_grant_type",
        d401="invalid_grant: wrong email or password",
        d415=f"The body is not {FORM}",
        examples={
            400: {
                "detail": "grant_type must be password",
                "error": "unsupported_grant_type",
                "error_description": "grant_type must be password",
            },
            401: {
                "detail": "Invalid email or password",
                "error": "invalid_grant",
                "error_description": "Invalid email or password",
            },
            415: f"Send the token request as {FORM}",
        },
    )
    @ns.response(200, "Tokens, never to be cached", TokenPair, headers=NO_STORE)
    def post(self):
        """Log in with a form (OAuth 2 password grant): what the Authorize dialog sends.

        RFC 6749 §4.3: send `grant_type=password`, your email as `username` and your `password` as
        `application/x-www-form-urlencoded`; the answer is that of `POST /auth/login`, with
        `Cache-Control: no-store`. This is the `tokenUrl` of the OAuth2 security scheme, so Swagger
        UI's *Authorize* dialog logs in here. Client credentials (`Authorization: Basic`,
        `client_id`, `client_secret`), `scope` and unknown fields are ignored. Errors are problems
        that also carry RFC 6749's `error` and `error_description`: 400 `invalid_request` or
        `unsupported_grant_type`, 401 `invalid_grant` for wrong credentials (the same for every
        account, as on login). Shares the login's rate limit per client address (429).
        """
        email, password = password_grant(token_form)
        try:
            user = authenticate(email=email, password=password)
        except InvalidCredentialsError as error:
            raise invalid_grant(error.detail) from None
        return (
            marshal(_token_pair(user), TokenPair),
            200,
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


@ns.route("/refresh")
class Refresh(Resource):
    """Trade a refresh token for a new access token."""

    @ns.doc(id="refreshToken")
    @auth_required(ns, refresh=True)
    @problems(ns, 429)
    @ns.marshal_with(AccessToken)
    def post(self):
        """Issue a new access token; send the refresh token as the Bearer token.

        Needs a refresh token from login that is not revoked and whose user still exists; an access
        token here is a 401. Returns a new access token of the same session only: the refresh token
        is not rotated and stays valid until it expires, its session is ended with `POST
        /auth/logout`, or the password changes. Sent with `Cache-Control: no-store`.
        """
        return _access_token(current_user)


@ns.route("/me")
class Me(Resource):
    """The caller's own account."""

    @ns.doc(id="getCurrentUser")
    @produces(ns, XML)
    @auth_required(ns)
    @problems(ns, 429)
    @conditional_read(ns)
    @ns.marshal_with(User, skip_none=True)
    def get(self):
        """Return the user the token belongs to.

        Needs an access token (a refresh token is a 401). The same representation as
        `GET /users/{user_id}` for your own id, with an `ETag`: send it in `If-None-Match` to get
        a bodiless 304 while your account is unchanged. JSON by default, XML with
        `Accept: application/xml`.
        """
        return tagged(current_user)


@ns.route("/logout")
class Logout(Resource):
    """End a session."""

    @ns.doc(id="logout")
    @auth_required(ns, any_token=True)
    @problems(ns, 429)
    @ns.response(204, "Logged out: every token of the session is refused from now on")
    def post(self):
        """End the session of the Bearer token sent (access or refresh), on every instance.

        Accepts an access or a refresh token and revokes its whole session: the refresh token of the
        login and every access token minted from it at login or by `POST /auth/refresh`. The user's
        other sessions (other logins, other devices) go on. From then on those tokens are a 401 on
        every worker and instance (revocations are kept in the database, and in Redis when
        configured). Repeating the call with the same token is a 401. Answers 204 with no body.
        """
        revoke_current_session()
        return no_content()


@ns.route("/password")
@limited_by("RATELIMIT_LOGIN", key=client_key, budget=CURRENT_PASSWORD_GUESSES)
class Password(Resource):
    """Change one's own password (limited like login: it checks a password too)."""

    @ns.doc(id="changePassword")
    @auth_required(ns)
    @ns.expect(PasswordChange, validate=True)
    # A wrong current password (a 403): run as-is, it leaves the demo logins working.
    @request_example(
        ns, {"current_password": "not the current one", "new_password": "a new long passphrase"}
    )
    @problems(
        ns,
        *BODY_PROBLEMS,
        403,
        409,
        429,
        d403="current_password is not your current password",
        d409="Another change of this account's password was made at the same moment and won",
        examples={409: CHANGED_MEANWHILE},
    )
    @ns.marshal_with(TokenPair, description="Changed: fresh tokens of a new session")
    def post(self):
        """Change your password: every earlier token stops working; answers fresh tokens.

        Needs an access token and your current password (403 when it is wrong). On success every
        token of yours issued before, in every session and on every device, is a 401 from now on;
        the answer is a new access and refresh token, as from `POST /auth/login`, so this client
        stays logged in. Sent with `Cache-Control: no-store`. Rate-limited as strictly as login,
        per user (429 with `Retry-After`), against guessing the current password. Two changes at
        the same moment: one wins, the other is a 409 (or a 401, its token revoked by the first).
        """
        return _token_pair(change_password(user=current_user, **ns.payload))
