"""``python -m modelgates.cli``: the ``modelgates`` command."""

import sys

from modelgates.cli import main

sys.exit(main())
