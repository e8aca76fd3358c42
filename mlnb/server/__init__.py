"""The Jupyter server extension: REST endpoints under /mlnb/api/ over the project's store.

Enabled automatically by `pip install` (a config file in etc/jupyter/jupyter_server_config.d/).
"""
from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlnb.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from mlnb.server.handlers import setup_handlers

    setup_handlers(serverapp.web_app, serverapp.root_dir)
    serverapp.log.info("mlnb: REST API at %smlnb/api/", serverapp.web_app.settings.get("base_url", "/"))
