"""Entry point for gunicorn (``wsgi:app``) and ``flask --app wsgi``."""

import sys

import click
from flask import current_app

from api import create_app
from api.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # An operator's mistake, not a bug: one line naming the setting instead of
    # a traceback. Status 4 is what gunicorn's master reads as "the app failed
    # to load": it stops, rather than start new workers that would fail alike.
    sys.stderr.write(f"error: {error}\n")
    sys.exit(4)


@app.cli.command("openapi")
@click.argument("action", type=click.Choice(["export", "check"]))
def openapi_command(action: str) -> None:
    """Write the contract to openapi/ (export), or fail when it drifted (check).

    The same as ``python -m tools.openapi``. Registered here, not in ``api``,
    and importing ``tools`` only when run: the serving app never loads the
    converter.
    """
    from tools.openapi import main  # noqa: PLC0415

    sys.exit(main([action], app=current_app._get_current_object()))
