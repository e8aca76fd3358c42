"""`mlnb init` and `mlnb store ...`: create a store, look after it (status, rebuild its index)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import click

from mlnb import jsonout
from mlnb.cli.app import MlnbGroup, Settings, pass_settings
from mlnb.cli.output import key_values, size_text


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=str))
@pass_settings
def init(settings: Settings, path: str | None) -> None:
    """Create a store in PATH (a project folder, or the .mlnb folder itself).

    Without PATH: the --store folder, else $MLNB_HOME, else the current folder.
    Running it on an existing store does nothing.
    """
    from mlnb.store.backends.registry import open_backend, scheme_of
    from mlnb.store.location import ENV_HOME, STORE_DIRNAME, is_store
    from mlnb.store.store import Store

    target = path or settings.store_path
    url = target if target is not None else os.environ.get(ENV_HOME)
    if scheme_of(url):  # a store URL: its backend makes the store (never a local folder named after it)
        existed = open_backend(url, create=True).exists()
        store = Store.open(url, create=True)
        click.echo(f"mlnb store already exists at {store.url}" if existed else f"created mlnb store at {store.url}")
        return
    folder: Path
    if target is None and os.environ.get(ENV_HOME):
        folder = Path(os.environ[ENV_HOME]).expanduser().resolve()  # MLNB_HOME names the store itself
    else:
        folder = Path(target or os.getcwd()).expanduser().resolve()
        if folder.name != STORE_DIRNAME and not is_store(folder):
            folder = folder / STORE_DIRNAME  # a project folder: its store goes in .mlnb/
    existed = is_store(folder)
    store = Store.open(folder, create=True)
    if existed:
        click.echo(f"mlnb store already exists at {store.root}")
    else:
        click.echo(f"created mlnb store at {store.root}")


@click.group(cls=MlnbGroup)
def store() -> None:
    """Look after the store itself: its size and state, or rebuild its index."""


@store.command()
@pass_settings
def rebuild(settings: Settings) -> None:
    """Re-create the DuckDB index from the event logs (the source of truth).

    Safe to run any time; use it if the index file was deleted or seems wrong.
    """
    st = settings.open_store()
    started = time.perf_counter()
    report = st.rebuild()
    took = time.perf_counter() - started
    click.echo(
        f"rebuilt index of {st.root} in {took:.2f} s: {report['runs']} runs from "
        f"{report['events']} events in {report['files']} event files"
        + (f" ({report['bad_lines']} events quarantined: see `mlnb store status`)" if report.get("bad_lines") else "")
    )


@store.command()
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json")), default="text",
              show_default=True, help="text for people, json for programs.")
@pass_settings
def status(settings: Settings, fmt: str) -> None:
    """Show where the store is, the size of its event logs, index and artifacts, and runs by status."""
    from mlnb.store import queries

    st = settings.open_store()
    events = st.events.sources()  # source id -> bytes (locally: one file per writing process)
    event_bytes = sum(events.values())
    counts = queries.runs_by_status(st)
    quarantined = queries.quarantined_count(st)
    index_bytes = _file_size(st.db_path) + _file_size(Path(str(st.db_path) + ".wal"))
    files = [p for p in st.blobs.root.rglob("*") if p.is_file()] if st.blobs.root.is_dir() else []
    # artifacts/tmp holds artifacts being written right now (a dead writer's are removed on open)
    writing = [p for p in files if st.blobs.tmp in p.parents or p.name.startswith(".tmp-")]
    blobs = [p for p in files if p not in set(writing)]
    blob_bytes = sum(_file_size(p) for p in blobs)
    if fmt == "json":
        click.echo(jsonout.dumps({
            "store": str(st.root), "event_files": len(events), "event_bytes": event_bytes,
            "index_file": str(st.db_path), "index_bytes": index_bytes, "artifact_blobs": len(blobs),
            "artifact_bytes": blob_bytes, "runs": sum(counts.values()), "runs_by_status": counts,
            "quarantined_events": quarantined, "artifacts_being_written": len(writing),
        }, indent=2))
        return
    total = sum(counts.values())
    breakdown = ", ".join(f"{n} {s}" for s, n in counts.items())
    rows = [
        ("store", str(st.root)),
        ("event files", f"{len(events)} ({size_text(event_bytes)})"),
        ("index", f"{st.db_path.name} ({size_text(index_bytes)})"),
        ("artifacts", f"{len(blobs)} blob{'' if len(blobs) == 1 else 's'} ({size_text(blob_bytes)})"),
        ("runs", f"{total}" + (f": {breakdown}" if breakdown else "")),
    ]
    if writing:
        rows.append(("writing", f"{len(writing)} artifact{'' if len(writing) == 1 else 's'} being written "
                                f"({size_text(sum(_file_size(p) for p in writing))}) in {st.blobs.tmp}"))
    if quarantined:
        rows.append(("quarantined", f"{quarantined} event line{'' if quarantined == 1 else 's'} not ingested "
                                    "(see: mlnb sql \"SELECT * FROM quarantined_events\")"))
    click.echo("\n".join(key_values(rows, indent="")))


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
