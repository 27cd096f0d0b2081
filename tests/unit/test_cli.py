"""The management commands: ``flask seed``, ``flask create-admin`` and ``flask sweep-images``."""

import logging
import os
import time

import pytest
from sqlalchemy import func, select, update

from api import create_app
from api.uploads import image_store
from models import Product, User, db
from models.base import utcnow
from models.images import LOCK_NAME, STALE_TEMPORARY_SECONDS, set_product_image
from models.seed import DEMO_PRODUCTS, DEMO_USERS
from models.user import PASSWORD_MIN_LENGTH, find_user_by_email
from tests.conftest import PASSWORD, bearer
from tests.images import picture

ADMIN_PASSWORD = "a long admin password"


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Product)),
        db.session.scalar(select(func.count()).select_from(User)),
    )


def _login(client, email, password):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def production_app(app_config, monkeypatch):
    """A production app on the test database (the shared logger is restored afterwards)."""
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    logger = logging.getLogger("api")
    handlers, level = list(logger.handlers), logger.level
    application = create_app(
        {
            **app_config,
            "APP_ENV": "production",
            "TESTING": False,
            "SECRET_KEY": "s" * 40,
            "JWT_SECRET_KEY": "j" * 40,
        }
    )
    yield application
    with application.app_context():
        db.engine.dispose()
    logger.handlers[:] = handlers
    logger.setLevel(level)


# --- seed ---------------------------------------------------------------------------------


def test_seed_creates_the_demo_data_and_prints_the_logins(runner, in_app, client):
    result = runner.invoke(args=["seed"])

    assert result.exit_code == 0, result.output
    assert f"{len(DEMO_PRODUCTS)} demo product(s) added" in result.output
    for login in DEMO_USERS:
        assert login.email in result.output
        assert login.password in result.output
        assert _login(client, login.email, login.password).status_code == 200
    assert in_app(_counts) == (len(DEMO_PRODUCTS), len(DEMO_USERS))
    assert in_app(find_user_by_email, "admin@example.com").is_admin
    assert not in_app(find_user_by_email, "customer@example.com").is_admin


def test_seed_twice_adds_nothing_the_second_time(runner, in_app):
    first = runner.invoke(args=["seed"])
    counts = in_app(_counts)

    second = runner.invoke(args=["seed"])

    assert first.exit_code == second.exit_code == 0
    assert in_app(_counts) == counts == (len(DEMO_PRODUCTS), len(DEMO_USERS))
    assert "0 demo product(s) added" in second.output
    for login in DEMO_USERS:  # the logins are printed again: they still work
        assert f"{login.email}  password: {login.password}" in second.output


def test_seed_keeps_an_existing_account_and_its_password(runner, make_user, in_app, client):
    make_user(email="customer@example.com", password=PASSWORD)

    result = runner.invoke(args=["seed"])

    assert result.exit_code == 0, result.output
    assert in_app(_counts)[1] == len(DEMO_USERS)
    assert _login(client, "customer@example.com", PASSWORD).status_code == 200


def test_seed_finds_an_account_whatever_spelling_created_it(runner, in_app):
    # Full-width "ADMIN", as an operator's input method may type it.
    created = runner.invoke(
        args=["create-admin", "--email", "\uff21\uff24\uff2d\uff29\uff2e@Example.com"],
        env={"ADMIN_PASSWORD": ADMIN_PASSWORD},
    )

    seeded = runner.invoke(args=["seed"])

    assert created.exit_code == seeded.exit_code == 0, created.output + seeded.output
    assert "admin admin@example.com created" in created.output
    assert in_app(_counts)[1] == len(DEMO_USERS)


def test_seed_is_refused_in_production(production_app, in_app):
    result = production_app.test_cli_runner().invoke(args=["seed"])

    assert result.exit_code != 0
    assert "not in production" in result.output
    assert in_app(_counts) == (0, 0)


# --- create-admin -------------------------------------------------------------------------


def test_create_admin_with_the_password_from_the_environment(runner, client):
    result = runner.invoke(
        args=["create-admin", "--email", "Boss@Example.com", "--name", "The Boss"],
        env={"ADMIN_PASSWORD": ADMIN_PASSWORD},
    )

    assert result.exit_code == 0, result.output
    assert "admin boss@example.com created" in result.output
    assert ADMIN_PASSWORD not in result.output
    tokens = _login(client, "boss@example.com", ADMIN_PASSWORD).get_json()
    me = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).get_json()
    assert me["role"] == "admin"
    assert me["name"] == "The Boss"
    product = {"sku": "NEW-1", "name": "New", "price_cents": 100}
    created = client.post("/api/v1/products", json=product, headers=bearer(tokens["access_token"]))
    assert created.status_code == 201


def test_create_admin_with_the_password_from_a_prompt(runner, client, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)

    result = runner.invoke(
        args=["create-admin", "--email", "prompted@example.com"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "admin prompted@example.com created" in result.output
    assert ADMIN_PASSWORD not in result.output  # the prompt hides what is typed
    assert _login(client, "prompted@example.com", ADMIN_PASSWORD).status_code == 200


def test_create_admin_asks_again_when_the_confirmation_differs(runner, in_app, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)

    result = runner.invoke(
        args=["create-admin", "--email", "typo@example.com"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}x\n",
    )

    assert result.exit_code != 0
    assert "do not match" in result.output
    assert in_app(find_user_by_email, "typo@example.com") is None


def test_create_admin_refuses_an_email_that_is_taken(runner, make_user, in_app):
    existing = make_user(email="taken@example.com")

    result = runner.invoke(
        args=["create-admin", "--email", "TAKEN@example.com"],
        env={"ADMIN_PASSWORD": ADMIN_PASSWORD},
    )

    assert result.exit_code == 1
    assert "Error: A user with email taken@example.com already exists" in result.output
    assert "Traceback" not in result.output
    user = in_app(find_user_by_email, "taken@example.com")
    assert user.id == existing["id"]
    assert not user.is_admin


def test_create_admin_refuses_a_look_alike_of_a_taken_email(runner, make_user, in_app):
    existing = make_user(email="taken@example.com")

    result = runner.invoke(
        args=["create-admin", "--email", "\uff54\uff41\uff4b\uff45\uff4e@example.com"],
        env={"ADMIN_PASSWORD": ADMIN_PASSWORD},
    )

    assert result.exit_code == 1
    assert "Error: A user with email taken@example.com already exists" in result.output
    assert not in_app(find_user_by_email, "taken@example.com").is_admin
    assert in_app(find_user_by_email, "taken@example.com").id == existing["id"]
    assert in_app(_counts)[1] == 1


@pytest.mark.parametrize("how", ["env", "prompt"])
def test_create_admin_refuses_a_short_password(runner, in_app, monkeypatch, how):
    short = "x" * (PASSWORD_MIN_LENGTH - 1)
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    if how == "env":
        options = {"env": {"ADMIN_PASSWORD": short}}
    else:
        options = {"input": f"{short}\n{short}\n"}

    result = runner.invoke(args=["create-admin", "--email", "short@example.com"], **options)

    assert result.exit_code == 1
    assert f"at least {PASSWORD_MIN_LENGTH} characters" in result.output
    assert in_app(find_user_by_email, "short@example.com") is None


def test_create_admin_needs_an_email(runner, in_app):
    result = runner.invoke(args=["create-admin"], env={"ADMIN_PASSWORD": ADMIN_PASSWORD})

    assert result.exit_code == 2
    assert "--email" in result.output
    assert in_app(_counts) == (0, 0)


@pytest.mark.parametrize(
    "email",
    [
        "not an email",
        "no-at-sign.example.com",
        "a@b",
        "x" * 250 + "@e.com",
        pytest.param("ad\u200bmin@example.com", id="a-zero-width-space"),
        pytest.param("\u0130" * 240 + "@x.example", id="490-characters-once-lower-cased"),
    ],
)
def test_create_admin_refuses_an_invalid_email_before_asking_for_a_password(runner, in_app, email):
    result = runner.invoke(args=["create-admin", "--email", email], input="")

    assert result.exit_code == 1
    assert "not a valid email address" in result.output
    assert "Password" not in result.output
    assert in_app(_counts) == (0, 0)


# --- sweep-images -------------------------------------------------------------------------


def test_sweep_images_removes_files_no_live_product_shows(build_app, make_product, tmp_path):
    app = build_app(UPLOAD_FOLDER=str(tmp_path))
    shown, deleted = make_product(), make_product()
    with app.app_context():
        store = image_store()
        for product_id, seed in ((shown, 1), (deleted, 2)):
            set_product_image(product_id=product_id, data=picture(seed=seed), store=store)
        # Deleted the way it used to be: the row, not the file.
        db.session.execute(update(Product).where(Product.id == deleted).values(deleted_at=utcnow()))
        db.session.commit()
        with store.locked():
            store.write(picture(seed=3), "image/png")  # written, its reference never committed
        kept = store.path(db.session.get(Product, shown).image_sha256, "image/png")
    shard = kept.parent
    stale, fresh = shard / ".upload-crashed", shard / ".upload-in-flight"
    for temporary in (stale, fresh):
        temporary.write_bytes(b"half a picture")
    an_hour_ago = time.time() - STALE_TEMPORARY_SECONDS - 60
    os.utime(stale, (an_hour_ago, an_hour_ago))

    result = app.test_cli_runner().invoke(args=["sweep-images"])

    assert result.exit_code == 0, result.output
    assert result.output == "sweep-images: 3 file(s) removed, 1 in use kept\n"
    left = {p for p in tmp_path.rglob("*") if p.is_file() and p.name != LOCK_NAME}
    assert left == {kept, fresh}
    again = app.test_cli_runner().invoke(args=["sweep-images"])
    assert again.output == "sweep-images: 0 file(s) removed, 1 in use kept\n"
