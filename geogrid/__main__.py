"""``python -m geogrid`` runs the command line."""

import sys

from geogrid.cli import main

sys.exit(main())
