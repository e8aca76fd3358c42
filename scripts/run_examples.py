"""Execute every example notebook into the project's store (used by `make demo` and the tests).

Usage: python scripts/run_examples.py [--out DIR] [NOTEBOOK ...]

Without arguments every numbered notebook runs, in name order: 06-serving serves the models that
03-model-registry registers, so it runs after it (and after 05).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example-notebooks"


def execute(notebook: Path, out_dir: Path) -> Path:
    """Run one notebook top to bottom in a fresh kernel (cwd = its folder); save the executed copy."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}},
                            store_widget_state=False)
    try:
        client.execute()
    except CellExecutionError:
        index, error = next(
            (i, o) for i, cell in enumerate(nb.cells) for o in cell.get("outputs", []) if o.get("output_type") == "error"
        )
        raise SystemExit(f"error: {notebook.name} failed in cell {index}: {error['ename']}: {error['evalue']}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    nbformat.write(nb, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every example-notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=EXAMPLES / "executed", help="where executed copies go")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted(EXAMPLES.glob("[0-9]*.ipynb"))
    for number, notebook in enumerate(notebooks, 1):
        started = time.perf_counter()
        print(f"[{number}/{len(notebooks)}] {notebook.name} ...", end=" ", flush=True)
        target = execute(notebook.resolve(), args.out)
        print(f"ok in {time.perf_counter() - started:.1f} s -> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")


if __name__ == "__main__":
    sys.exit(main())
