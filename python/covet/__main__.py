"""``python -m covet``: the ``covet`` command line."""

from covet.cli import main

raise SystemExit(main())
