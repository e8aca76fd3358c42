"""`python -m mlnb.cli ...` is the `mlnb` command."""
import sys

if __name__ == "__main__":  # importing this module (as tests walking mlnb do) runs nothing
    from mlnb.cli import main

    sys.exit(main())
