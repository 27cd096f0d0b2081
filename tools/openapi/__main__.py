"""``python -m tools.openapi export|check``: see the package's docstring."""

import sys

from tools.openapi import main

sys.exit(main())
