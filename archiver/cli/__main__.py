"""`python -m archiver.cli`: the same as the `archiver` command."""

import sys

from archiver.cli.main import main

sys.exit(main())
