"""`python -m robusteye` runs the command line."""

import sys

from robusteye.cli import main

sys.exit(main())
