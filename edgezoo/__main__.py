"""``python -m edgezoo`` works like the ``edgezoo`` script."""

import sys

from edgezoo.cli import main

sys.exit(main())
