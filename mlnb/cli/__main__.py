"""`python -m mlnb.cli ...` is the `mlnb` command."""
import sys

from mlnb.cli import main

sys.exit(main())
