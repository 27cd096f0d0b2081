"""Users, their roles and password handling."""

import enum
from contextlib import suppress
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CheckConstraint, Index, Integer, Select, String, select
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    PG_TRGM,
    IdType,
    Listing,
    Ordering,
    SoftDeleteMixin,
    TimestampedMixin,
    check_version,
    db,
    live_listing_indexes,
    live_trigram_indexes,
    transaction,
    unicode_lower,
    utcnow,
)
from models.emails import EMAIL_MAX_LENGTH, normalize_email, storable_email
from models.errors import ConflictError, ForbiddenError, InvalidCredentialsError, NotFoundError


class Role(enum.StrEnum):
    """What a user may do: customers shop, admins run the store."""

    CUSTOMER = "customer"
    ADMIN = "admin"


NAME_MAX_LENGTH = 100
PASSWORD_MIN_LENGTH = 8
# Bounded so that hashing a request's password is a bounded amount of work.
PASSWORD_MAX_LENGTH = 128
MAX_AGE = 150


class _PasswordHashing:
    """The argon2id hasher in use, and a dummy hash for timing-safe misses."""

    def __init__(self):
        self.configure(time_cost=3, memory_cost=65536)

    def configure(self, *, time_cost: int, memory_cost: int) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
        self._dummy = None

    @property
    def dummy_hash(self) -> str:
        # Verifying against this when the email is unknown makes a failed login
        # take as long whether or not the account exists.
        if self._dummy is None:
            self._dummy = self.hasher.hash("not a real password")
        return self._dummy


_hashing = _PasswordHashing()


def configure_password_hashing(*, time_cost: int, memory_cost: int) -> None:
    """Set the argon2id cost: the defaults in production, cheap ones in tests."""
    _hashing.configure(time_cost=time_cost, memory_cost=memory_cost)


class User(TimestampedMixin, SoftDeleteMixin, db.Model):
    """A person who can log in: a customer or an admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'admin')", name="role"),
        CheckConstraint("age IS NULL OR (age >= 0 AND age <= 150)", name="age"),
        # Unique among live users only, so a soft-deleted account frees its email.
        Index(
            "uq_users_email_live",
            "email",
            unique=True,
            sqlite_where=db.text("deleted_at IS NULL"),
            postgresql_where=db.text("deleted_at IS NULL"),
        ),
        # Listings (``user_query``): every sort and filter column, and ``q``. (PostgreSQL
        # would still sort by id after the unique email index, hence one on (email, id).)
        *live_listing_indexes("users", "name", "email", "created_at", "role"),
        *live_trigram_indexes("users", "name"),
        PG_TRGM,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    age: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER.value)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Every token carries the version current when it was minted; a password
    # change or reset raises it, and so revokes every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Revocations of this user's sessions that the database holds but Redis may
    # lack (its write failed): while above zero, the user's tokens are checked
    # in the database, never against Redis alone (models.token.Blocklist).
    unsynced_revocations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"

    @property
    def is_admin(self) -> bool:
        """True for administrators."""
        return self.role == Role.ADMIN

    def set_password(self, password: str) -> None:
        """Store an argon2id hash of ``password``; the password itself is never kept."""
        self.password_hash = _hashing.hasher.hash(password)

    def check_password(self, password: str) -> bool:
        """Return True when ``password`` matches the stored hash."""
        try:
            return _hashing.hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def replace_password(self, password: str) -> None:
        """Set a new password and revoke every token issued before it (``token_version``)."""
        self.set_password(password)
        self.token_version += 1


def check_current_password(user: User, current_password: str | None) -> None:
    """Refuse (``ForbiddenError``) unless ``current_password`` is ``user``'s password.

    What a stolen access token must not be enough for: changing the password or
    the email, which would turn 15 minutes of access into the account itself.
    """
    if current_password is None:
        raise ForbiddenError("Send your current password as current_password for this change")
    if not user.check_password(current_password):
        raise ForbiddenError("current_password is not your current password")


def find_user_by_email(email: str) -> User | None:
    """Return the live user with this email, however it is spelt (``normalize_email``), or None."""
    return db.session.scalar(
        select(User).where(User.email == normalize_email(email), User.deleted_at.is_(None))
    )


def get_user(user_id: int) -> User:
    """Return the live user ``user_id`` or raise ``NotFoundError``."""
    user = db.session.get(User, user_id)
    if user is None or user.is_deleted:
        raise NotFoundError("User", user_id)
    return user


def _duplicate_email(email: str) -> str:
    return f"A user with email {email} already exists"


def create_user(
    *,
    email: str,
    password: str,
    name: str,
    role: Role = Role.CUSTOMER,
    age: int | None = None,
) -> User:
    """Create a user; a live user with the same email is a ``ConflictError``.

    The email is stored normalised (``storable_email``): an ``InvalidValueError``
    when it cannot be.
    """
    email = storable_email(email)
    with transaction(conflict=_duplicate_email(email)):
        if find_user_by_email(email) is not None:
            raise ConflictError(_duplicate_email(email))
        user = User(email=email, name=name, role=Role(role).value, age=age)
        user.set_password(password)
        db.session.add(user)
    return user


# The orderings a client may ask for; anything else never reaches SQL.
USER_SORTS = {"name": User.name, "email": User.email, "created_at": User.created_at}
USER_ORDERING = Ordering(USER_SORTS, User.id)


def user_query(
    *,
    email: str | None = None,
    role: str | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> Select:
    """Build the select for a filtered, sorted listing of live users."""
    query = select(User).where(User.deleted_at.is_(None))
    if email:
        query = query.where(User.email == normalize_email(email))
    if role:
        query = query.where(User.role == Role(role).value)
    if q:
        query = query.where(unicode_lower(User.name).contains(q.lower(), autoescape=True))
    return query.order_by(*USER_ORDERING.order_by(sort))


# Users are few: paged by number only.
USERS = Listing(user_query, USER_ORDERING, cursors=False)


EDITABLE_FIELDS = frozenset({"email", "name", "age", "role", "password"})


def _lock_live_admins() -> list[int]:
    """The live admins' ids, their rows locked until the transaction ends.

    Call it in a ``transaction(locking=True)``, before reading the user the
    change is about. Locked in id order, so two transactions taking these locks
    wait for each other instead of deadlocking.
    """
    return list(
        db.session.scalars(
            select(User.id)
            .where(User.role == Role.ADMIN.value, User.deleted_at.is_(None))
            .order_by(User.id)
            .with_for_update()
        )
    )


def _keep_an_admin(user: User, admins: list[int]) -> None:
    """Refuse to remove the last live admin: nobody could manage the store any more.

    ``admins`` comes from ``_lock_live_admins``: a concurrent demotion or deletion
    either committed before it was read or waits until this transaction ends.
    """
    if not any(admin_id != user.id for admin_id in admins):
        raise ConflictError("This is the last admin; make another admin first")


def visible_user(*, actor: User, user_id: int) -> User:
    """Return user ``user_id`` if ``actor`` may see it: themself, or anyone for an admin."""
    if not actor.is_admin and actor.id != user_id:
        raise ForbiddenError("You can only access your own account")
    return get_user(user_id)


def update_user(
    *,
    actor: User,
    user_id: int,
    expected_version: frozenset[int] | None = None,
    current_password: str | None = None,
    **changes: Any,
) -> User:
    """Change the given fields of a user (PATCH semantics).

    A user may change their own account; only an admin may change someone
    else's, or any ``role`` (a ``ForbiddenError`` otherwise). Changing one's
    own password or email needs ``current_password`` (an admin resetting
    someone else's does not); when sent, it must be right whatever changes. A
    new password revokes every token of the user issued before it.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    if "role" in changes and not actor.is_admin:
        raise ForbiddenError("Only an admin can change a role")
    # Authorised as the request was authenticated; the user is read again in the transaction.
    user = visible_user(actor=actor, user_id=user_id)
    if "email" in changes:
        changes["email"] = storable_email(changes["email"])
    email = changes.get("email", user.email)
    own_credentials = actor.id == user.id and ("password" in changes or email != user.email)
    if own_credentials or current_password is not None:
        check_current_password(actor, current_password)
    # Demoting may remove the last admin: decided on locked rows (``_keep_an_admin``).
    demoting = "role" in changes and changes["role"] != Role.ADMIN.value
    with transaction(conflict=_duplicate_email(email), locking=demoting):
        admins = _lock_live_admins() if demoting else []
        user = get_user(user_id)
        check_version(user, expected_version, entity="User")
        if "email" in changes:
            taken = find_user_by_email(email)
            if taken is not None and taken.id != user.id:
                raise ConflictError(_duplicate_email(email))
        if "password" in changes:
            user.replace_password(changes.pop("password"))
        if "role" in changes:
            changes["role"] = Role(changes["role"]).value
            if user.is_admin and demoting:
                _keep_an_admin(user, admins)
        for field, value in changes.items():
            setattr(user, field, value)
    return user


def replace_user(
    *,
    actor: User,
    user_id: int,
    email: str,
    name: str,
    age: int | None = None,
    expected_version: frozenset[int] | None = None,
    **optional: Any,
) -> User:
    """Replace a user's profile (PUT semantics): an omitted ``age`` is cleared.

    ``optional`` may carry ``role`` and ``password``, which are kept when omitted, and
    ``current_password``, as ``update_user`` takes it.
    """
    return update_user(
        actor=actor,
        user_id=user_id,
        expected_version=expected_version,
        email=email,
        name=name,
        age=age,
        **optional,
    )


def change_password(*, user: User, current_password: str, new_password: str) -> User:
    """Replace ``user``'s own password, given the current one (``ForbiddenError`` if wrong).

    Every token of the user issued before the change stops working, on every
    device; the caller mints fresh ones for the session that asked.
    """
    check_current_password(user, current_password)
    with transaction():
        user.replace_password(new_password)
    return user


def delete_user(*, user_id: int, expected_version: frozenset[int] | None = None) -> None:
    """Soft-delete a user: no more logins, existing tokens refused, orders kept."""
    # Locking whoever the user is: whether they are an admin is read under the lock.
    with transaction(locking=True):
        admins = _lock_live_admins()
        user = get_user(user_id)
        check_version(user, expected_version, entity="User")
        if user.is_admin:
            _keep_an_admin(user, admins)
        user.deleted_at = utcnow()


def authenticate(*, email: str, password: str) -> User:
    """Return the live user with these credentials or raise ``InvalidCredentialsError``."""
    user = find_user_by_email(email)
    if user is None:
        with suppress(VerificationError):
            _hashing.hasher.verify(_hashing.dummy_hash, password)
        raise InvalidCredentialsError()
    if not user.check_password(password):
        raise InvalidCredentialsError()
    if _hashing.hasher.check_needs_rehash(user.password_hash):
        with transaction():
            user.set_password(password)
    return user
