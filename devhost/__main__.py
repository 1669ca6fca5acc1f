"""``python -m devhost``: the ``catalog`` command line."""

from devhost.cli import main

raise SystemExit(main())
