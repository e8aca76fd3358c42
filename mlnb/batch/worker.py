"""`python -m mlnb.batch.worker MODULE:FUNCTION`: run one task spec (JSON on stdin), print the result as JSON."""
from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, _, name = sys.argv[1].partition(":")
    func = getattr(importlib.import_module(module), name)
    spec = json.loads(sys.stdin.read())
    result = func(spec)
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
