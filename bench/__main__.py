"""``python -m bench``: every benchmark in one run (see :mod:`bench.runner`)."""

import sys

from bench.runner import main

sys.exit(main())
