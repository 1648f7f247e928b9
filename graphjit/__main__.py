"""`python -m graphjit ...`: the `graphjit` command without its console script."""

import sys

from graphjit.cli import main

sys.exit(main())
