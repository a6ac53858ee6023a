"""``python -m cityops``: see :mod:`cityops.cli`."""

import sys

from cityops.cli import main

sys.exit(main())
