"""Errors with meaning: fields on the error classes, one table of HTTP statuses, and what the server answers."""
from __future__ import annotations

import json
import pickle

import pytest

import mlnb
from mlnb import errors
from mlnb.errors import (
    ConflictError, FilterError, IndexDamagedError, IntegrityError, InvalidValueError, MissingDependencyError,
    MlnbError, NotFoundError, RunNotFoundError, SQLTimeoutError, StoreBusyError, StoreNotFoundError,
    StoreVersionError, http_status,
)
from mlnb.store.store import Store
from tests.test_server import error_of, jp_server_config, served_store  # noqa: F401 - fixtures


@pytest.mark.parametrize("exc,expected", [
    (IntegrityError("blob gone", digest="ab" * 32, problem="missing"), (409, "integrity_error")),
    (IndexDamagedError("cannot open the index"), (409, "integrity_error")),
    (ConflictError("clf/2 is archived", subject="clf/2", reason="archived"), (409, "conflict")),
    (NotFoundError("no model named 'x'"), (404, "not_found")),
    (RunNotFoundError("no run 'ff'"), (404, "not_found")),
    (StoreNotFoundError("no mlnb store"), (404, "no_store")),
    (InvalidValueError("bad alias"), (400, "bad_request")),
    (FilterError("bad filter"), (400, "bad_request")),
    (SQLTimeoutError("too slow"), (400, "bad_request")),
    (ValueError("not a number"), (400, "bad_request")),
    (MlnbError("anything else of ours"), (400, "bad_request")),
    (StoreBusyError("busy"), (503, "store_busy")),
    (TimeoutError(), (503, "store_busy")),
    (StoreVersionError("newer mlnb"), (409, "store_too_new")),
    (MissingDependencyError("plotly", "notebook"), (501, "missing_dependency")),
])
def test_each_error_class_maps_to_one_status_and_code(exc: BaseException, expected: tuple[int, str]) -> None:
    assert http_status(exc) == expected


def test_the_most_specific_listed_class_wins_and_unlisted_errors_are_not_guessed() -> None:
    class OddNotFound(NotFoundError, ValueError):  # a NotFoundError first, whatever else it is
        pass

    assert http_status(OddNotFound("gone")) == (404, "not_found")
    assert http_status(KeyError("x")) is None  # a bug, left to the server's own 500 path
    assert all(400 <= status < 600 and status != 500 for status, _ in errors.HTTP_STATUS.values())


def test_errors_keep_their_one_line_message_and_carry_fields() -> None:
    missing = MissingDependencyError("dask.distributed", "dask", needed_for="the Dask executor")
    assert str(missing) == 'the Dask executor needs dask.distributed: pip install "mlnb[dask]"'
    assert (missing.package, missing.extra, missing.install) == ("dask.distributed", "dask", 'pip install "mlnb[dask]"')
    assert not isinstance(missing, ImportError)  # an `except ImportError` fallback must not swallow it
    again = pickle.loads(pickle.dumps(missing))  # crosses processes (Dask workers) intact
    assert (str(again), again.extra) == (str(missing), "dask")
    conflict = pickle.loads(pickle.dumps(ConflictError("clf/2 is archived", subject="clf/2", reason="archived")))
    assert (str(conflict), conflict.subject, conflict.reason) == ("clf/2 is archived", "clf/2", "archived")
    assert str(NotFoundError(kind="model", name="churn")) == "no model named 'churn'"
    assert RunNotFoundError("no run 'ff'").kind == "run" and isinstance(RunNotFoundError("x"), NotFoundError)
    assert isinstance(IndexDamagedError("x"), MlnbError)


def test_a_corrupted_or_missing_blob_raises_an_integrity_error_naming_it(store: Store) -> None:
    digest, _ = store.blobs.put_bytes(b"precious bytes")
    blob = store.blobs.path_of(digest)
    blob.write_bytes(b"tampered bytes")
    with pytest.raises(IntegrityError, match="corrupted") as corrupted:
        store.blobs.read_bytes(digest)
    assert (corrupted.value.digest, corrupted.value.problem) == (digest, "hash_mismatch")
    blob.unlink()
    with pytest.raises(IntegrityError, match="missing") as missing:
        store.blobs.read_bytes(digest)
    assert (missing.value.digest, missing.value.problem) == (digest, "missing")


def test_registry_refusals_are_conflicts_with_their_reason(store: Store) -> None:
    with mlnb.start_run():
        mlnb.register_model({"w": 1}, "clf")
        mlnb.register_model({"w": 2}, "clf")
    mlnb.set_alias("clf", "champion", 1)
    with pytest.raises(ConflictError, match="still has alias") as has_aliases:
        mlnb.archive_version("clf", 1)
    assert (has_aliases.value.subject, has_aliases.value.reason) == ("clf/1", "has_aliases")
    mlnb.archive_version("clf", 2)
    with pytest.raises(ConflictError, match="is archived; register a new version") as archived:
        mlnb.set_alias("clf", "champion", 2)
    assert (archived.value.subject, archived.value.reason) == ("clf/2", "archived")
    with pytest.raises(NotFoundError) as no_version:
        mlnb.set_alias("clf", "champion", 9)
    assert (no_version.value.kind, no_version.value.name) == ("version", "clf/9")


# --- through a real Jupyter server -----------------------------------------------------------


@pytest.mark.slow
async def test_a_corrupted_blob_is_a_409_integrity_error_not_a_400(jp_fetch, served_store) -> None:  # noqa: F811
    run_id = served_store["ids"][0]
    digest = mlnb.get_run(run_id).artifacts[0]["hash"]
    blob = served_store["store"].blobs.path_of(digest)
    blob.write_bytes(b"flipped bits")

    code, error = await error_of(jp_fetch, "runs", run_id, "artifacts", "notes", "hello.txt")

    assert code == 409 and error["code"] == "integrity_error"
    assert "corrupted (hash mismatch)" in error["message"] and digest[:12] in error["message"]


@pytest.mark.slow
async def test_a_missing_blob_is_a_409_integrity_error(jp_fetch, served_store) -> None:  # noqa: F811
    run_id = served_store["ids"][1]
    digest = mlnb.get_run(run_id).artifacts[0]["hash"]
    served_store["store"].blobs.path_of(digest).unlink()  # every run logged the same bytes: one blob

    code, error = await error_of(jp_fetch, "runs", run_id, "artifacts", "notes", "hello.txt")
    assert code == 409 and error["code"] == "integrity_error" and "missing" in error["message"]
    code, error = await error_of(jp_fetch, "runs", served_store["ids"][2], "artifacts", "notes", "hello.txt")
    assert code == 409 and error["code"] == "integrity_error"


@pytest.mark.slow
async def test_moving_an_alias_to_an_archived_version_is_a_409_conflict(jp_fetch, served_store) -> None:  # noqa: F811
    mlnb.archive_version("clf", 2)

    code, error = await error_of(jp_fetch, "models", "clf", "aliases", method="POST",
                                 body=json.dumps({"alias": "champion", "version": 2}))

    assert code == 409 and error["code"] == "conflict" and "clf/2 is archived" in error["message"]
    assert mlnb.model_version("clf@champion")["version"] == 1  # not moved
