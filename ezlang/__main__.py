"""`python -m ezlang` runs the `ezlang` command."""

from ezlang.cli import main

raise SystemExit(main())
