"""`mlnb models ...`: the registry from a terminal (thin faces over mlnb.model_registry)."""
from __future__ import annotations

import click

from mlnb import jsonout
from mlnb.cli.app import Settings, pass_settings
from mlnb.cli.output import format_option, print_empty, print_frame, print_table, size_text
from mlnb.errors import MlnbError


@click.group("models", invoke_without_command=True)
@format_option
@click.pass_context
def models_group(ctx: click.Context, fmt: str) -> None:
    """List registered models (name, versions, latest, aliases), or manage one.

    \b
    Examples:
      mlnb models
      mlnb models show churn
      mlnb models alias churn champion 3
      mlnb models load-check churn@champion
    """
    if ctx.invoked_subcommand is not None:
        return
    from mlnb import model_registry

    project = ctx.find_object(Settings).open_project()
    frame = model_registry.models(project=project)
    if frame.empty:
        print_empty(frame, fmt, 'no models registered yet; use mlnb.register_model(model, "name")')
    elif fmt != "table":
        print_frame(frame, fmt)
    else:
        print_table(frame, f"{len(frame)} model{'' if len(frame) == 1 else 's'}", hide_empty=False)


@models_group.command("show", epilog="Example: mlnb models show churn --format json")
@click.argument("name")
@format_option
@pass_settings
def show_model(settings: Settings, name: str, fmt: str) -> None:
    """Versions of model NAME (status, aliases, producing run, who registered it, key metrics) and its
    alias history."""
    from mlnb import model_registry
    from mlnb.model_registry.trust import registered_by

    project = settings.open_project()
    versions = model_registry.model_versions(name, project=project)
    who = [registered_by({k: v for k, v in row.items() if isinstance(v, str)})  # None/NaN: not recorded
           for row in versions[["user", "host", "mlnb_version"]].to_dict("records")]
    versions = versions.drop(columns=["user", "host", "mlnb_version"]).assign(registered_by=who)
    history = model_registry.alias_history(name, project=project)
    if fmt == "json":
        click.echo(jsonout.dumps({"versions": versions.to_dict("records"),
                                  "alias_history": history.to_dict("records")}, indent=2))
        return
    if fmt == "csv":
        print_frame(versions, fmt)
        return
    versions = versions.assign(size=versions["size"].map(size_text), run_id=versions["run_id"].str[:8])
    print_table(versions.drop(columns=["created"]), f"{len(versions)} version(s) of {name}", hide_empty=True)
    click.echo()
    if history.empty:
        click.echo("no alias changes yet")
        return
    history = history.assign(change=[f"{_v(a)} -> {_v(b)}" for a, b in zip(history["from_version"],
                                                                          history["to_version"])])
    print_table(history[["alias", "change", "user", "ts", "reason"]], f"{len(history)} alias change(s)",
                 hide_empty=True)


def _v(value: object) -> str:
    import pandas as pd

    return "-" if pd.isna(value) else str(int(value))  # no version: the alias was new, or deleted


@models_group.command("alias", epilog="Examples: mlnb models alias churn champion 3 | "
                                       "mlnb models alias churn challenger --delete")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int, required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead of setting it.")
@click.option("--force", is_flag=True, help="Allow champion on a version whose run's notebook state is not clean.")
@click.option("--reason", help="Why (kept in the alias history).")
@pass_settings
def alias_model(settings: Settings, name: str, alias: str, version: int | None, delete: bool, force: bool,
                reason: str | None) -> None:
    """Point NAME@ALIAS at VERSION (or --delete it). Every change is kept in the alias history."""
    from mlnb import model_registry

    if delete and (version is not None or force or reason):
        raise click.UsageError("--delete takes no VERSION, --force or --reason")
    project = settings.open_project()
    if delete:
        model_registry.delete_alias(name, alias, project=project)
        click.echo(f"{name}@{alias} deleted")
        return
    if version is None:
        raise MlnbError("give the VERSION to point the alias at, or --delete")
    history = model_registry.alias_history(name, project=project)
    before = history[history["alias"] == alias]["to_version"].tolist()
    record = model_registry.set_alias(name, alias, version, force=force, reason=reason, project=project)
    click.echo(f"{name}@{alias}: {_v(before[-1]) if before else '-'} -> {record['version']}")


@models_group.command("load-check", epilog="Examples: mlnb models load-check churn@champion | "
                                            "mlnb models load-check churn/1 --allow-pickle")
@click.argument("uri")
@click.option("--allow-pickle", is_flag=True, default=None,
              help="Also load formats that run code from the file (pickle, joblib, saveload); "
                   "only for models you trust. Default: $MLNB_ALLOW_PICKLE.")
@pass_settings
def load_check(settings: Settings, uri: str, allow_pickle: bool | None) -> None:
    """Verify URI's artifact hash and format, and load it if that runs no code (name/3, name@champion,
    name@latest). A pickle is only read statically (its imports are listed) unless --allow-pickle."""
    from mlnb import model_registry

    project = settings.open_project()
    record = model_registry.model_version(uri, project=project)
    try:
        checked = model_registry.check_model(record["uri"], allow_pickle=allow_pickle or None,  # None: the env
                                             project=project)
    except MlnbError:
        raise
    except Exception as exc:  # the bytes are intact but the flavor cannot turn them back into a model
        raise MlnbError(f"{record['uri']} passed the hash check but did not load ({record['flavor']}): "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    click.echo(f"ok: {record['uri']} ({record['flavor']}, {checked['model_type']}, {size_text(record['size'])}, "
               f"sha256 {record['artifact_hash'][:12]}): {checked['checked']}")
