"""Entry point for gunicorn (``wsgi:app``) and ``flask --app wsgi``."""

import sys

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
