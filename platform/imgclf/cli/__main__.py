"""`python -m imgclf.cli`: the `imgclf` command."""

import sys

from imgclf.cli import main

sys.exit(main())
