"""The work folder's digest cache: reused for the very same file only, never for a rewritten or fresh one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from bot.adapters.objectstore import file_sha256, tree_sha256
from bot.pipeline import digests as digests_module
from bot.pipeline.digests import DigestCache
from tests.conftest import EXAMPLE

NC = EXAMPLE / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"


def _aged(path: Path, seconds: float = 60) -> Path:
    """Backdate the file's mtime (a file written a while ago, not in the current clock tick)."""
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the cache really read (file_sha256 spied on, still computing the real digest)."""
    calls: list[Path] = []

    def spy(path: Path) -> str:
        calls.append(path)
        return file_sha256(path)

    monkeypatch.setattr(digests_module, "file_sha256", spy)
    return calls


def test_a_hard_link_of_a_hashed_file_is_not_read_again_and_the_tree_digest_is_unchanged(
    tmp_path: Path, hashed: list[Path]
) -> None:
    store = tmp_path / "v1.zarr"
    (store / "sst").mkdir(parents=True)
    for i in range(3):
        shutil.copyfile(NC, store / "sst" / f"{i}.0.0")
    (store / ".zmetadata").write_text('{"zarr_consolidated_format": 1}')
    for path in store.rglob("*"):
        _aged(path)
    first = DigestCache.of_work(tmp_path / "work")
    assert first.tree(store) == tree_sha256(store)
    first.save()
    assert len(hashed) == 4

    hashed.clear()
    v2 = tmp_path / "v2.zarr"
    shutil.copytree(store, v2, copy_function=os.link)  # what an append starts from
    (v2 / "sst" / "3.0.0").write_bytes(b"new chunk")  # the appended chunk: fresh
    again = DigestCache.of_work(tmp_path / "work")
    assert again.tree(v2) == tree_sha256(v2)
    assert hashed == [v2 / "sst" / "3.0.0"]  # only the new file was read


def test_a_file_replaced_by_rename_or_touched_is_hashed_again(tmp_path: Path, hashed: list[Path]) -> None:
    path = tmp_path / "a.nc"
    path.write_bytes(b"version 1")
    _aged(path)
    cache = DigestCache.of_work(tmp_path)
    one = cache.file(path)
    cache.save()

    new = tmp_path / "a.nc.new"
    new.write_bytes(b"version 2")  # same size, another inode
    st = path.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    os.replace(new, path)
    fresh = DigestCache.of_work(tmp_path)
    assert fresh.file(path) == file_sha256(path) != one

    hashed.clear()
    with path.open("r+b") as fh:  # in place, same size: only the mtime tells
        fh.write(b"VERSION 3")
    _aged(path, 30)
    assert DigestCache.of_work(tmp_path).file(path) == file_sha256(path)
    assert hashed == [path]


def test_a_file_written_in_the_current_clock_tick_is_not_remembered(tmp_path: Path, hashed: list[Path]) -> None:
    """git's racy rule: a second same-size write within the tick would keep size and mtime; do not trust it."""
    path = tmp_path / "fresh.nc"
    path.write_bytes(b"just written")
    cache = DigestCache.of_work(tmp_path)
    assert cache.file(path) == file_sha256(path)
    cache.save()
    hashed.clear()
    DigestCache.of_work(tmp_path).file(path)
    assert hashed == [path]  # read again: the entry was too fresh to keep


def test_an_unreadable_cache_only_costs_hashing(tmp_path: Path) -> None:
    (tmp_path / ".digests.json").write_text("{not json")
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    _aged(path)
    cache = DigestCache.of_work(tmp_path)
    assert cache.file(path) == file_sha256(path)
    cache.save()
    assert '"version": 1' in (tmp_path / ".digests.json").read_text()
