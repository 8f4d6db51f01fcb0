"""``python -m neuralab.cli``: the ``neuralab`` command."""

import sys

from . import main

sys.exit(main())
