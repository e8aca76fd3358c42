"""The datasets the store has seen, as JSON."""
from __future__ import annotations

from typing import Any

from mlnb.capture import queries as capture_queries
from mlnb.store.store import Store
from mlnb.views.json import json_safe, page_bounds


def datasets_page(store: Store, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Data fingerprints seen, newest first, with shape and the runs that read or wrote them."""
    limit, offset = page_bounds(limit, offset)
    total, rows = capture_queries.datasets_seen(store, limit, offset)
    for row in rows:
        row["first_seen"] = json_safe(row["first_seen"])
    return {"datasets": rows, "total": total, "offset": offset, "limit": limit}
