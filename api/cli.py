"""Management commands: ``flask --app wsgi seed``, ``create-admin`` and ``sweep-images``."""

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from api.uploads import image_store
from models import ConflictError, InvalidValueError
from models.emails import storable_email
from models.images import sweep_unused
from models.seed import seed_demo_data
from models.user import PASSWORD_MIN_LENGTH, Role, create_user


@click.command("seed")
@with_appcontext
def seed_command():
    """Create demo products and demo logins (idempotent; refused in production)."""
    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException("seed creates accounts with public passwords: not in production")
    added, logins = seed_demo_data()
    click.echo(f"seed: {added} demo product(s) added")
    for login in logins:
        click.echo(f"demo {login.role:<8} {login.email}  password: {login.password}")


@click.command("create-admin")
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--name", default="Administrator", show_default=True, help="Display name.")
@with_appcontext
def create_admin_command(email: str, name: str):
    """Create an admin; the password comes from ADMIN_PASSWORD or a prompt."""
    # Checked before the password prompt; stored as the API would store it.
    try:
        email = storable_email(email)
    except InvalidValueError as error:
        raise click.ClickException(f"not a valid email address: {email!r} ({error.rule})") from None
    password = os.environ.get("ADMIN_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    if len(password) < PASSWORD_MIN_LENGTH:
        raise click.ClickException(f"the password needs at least {PASSWORD_MIN_LENGTH} characters")
    try:
        user = create_user(email=email, password=password, name=name, role=Role.ADMIN)
    except ConflictError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"admin {user.email} created (id {user.id})")


@click.command("sweep-images")
@with_appcontext
def sweep_images_command():
    """Remove image files no live product shows; safe while the API serves.

    Deleting or replacing a picture removes its file already; this finds what
    a crash, or a version before that, left in UPLOAD_FOLDER.
    """
    removed, kept = sweep_unused(image_store())
    click.echo(f"sweep-images: {removed} file(s) removed, {kept} in use kept")


def register_commands(app) -> None:
    """Add the project's commands to ``flask``."""
    app.cli.add_command(seed_command)
    app.cli.add_command(create_admin_command)
    app.cli.add_command(sweep_images_command)
