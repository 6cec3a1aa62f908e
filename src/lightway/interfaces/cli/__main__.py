"""`python -m lightway.interfaces.cli` is the `lightway` command (used by `lightway up`)."""

import sys

from lightway.interfaces.cli.main import main

sys.exit(main())
