"""Model archives (the `path` and `saveload` flavors) never write outside their own folder on load."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mlnb.errors import MlnbError
from mlnb.model_registry.flavors import get_flavor


def _archive(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        good = tarfile.TarInfo("files/model.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize("flavor", ["path", "saveload"])
@pytest.mark.parametrize("member", [
    _member("../escaped.txt"),
    _member("files/../../escaped.txt"),
    _member("/tmp/mlnb-absolute-escape.txt"),
    _member("files/link", tarfile.SYMTYPE, "/etc/passwd"),
    _member("files/hard", tarfile.LNKTYPE, "/etc/passwd"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"])
def test_an_archive_entry_that_escapes_is_refused_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 flavor: str, member: tarfile.TarInfo) -> None:
    # Given a model archive with one entry pointing outside its folder
    cache = tmp_path / "deep" / "cache"
    monkeypatch.setenv("MLNB_MODEL_CACHE", str(cache))
    payload = _archive(member, b"pwned")
    # When it is loaded
    with pytest.raises(MlnbError) as caught:
        get_flavor(flavor).load(payload)
    # Then mlnb refuses it by name, in one line, and wrote nothing outside the cache
    message = str(caught.value)
    assert "escapes its folder" in message and member.name in message and "\n" not in message
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/mlnb-absolute-escape.txt").exists()
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))
