"""Two app instances (windows) on one SQLite file, or two workstations on one PostgreSQL
database: each sees the other's writes on refresh, a
conflicting edit of the same record is refused with nothing overwritten, and a database on a
read-only disk or without write permission is refused at open, untouched."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pathway_app.domain.errors import ConcurrentEdit
from pathway_app.services.context import ServiceContext
from pathway_app.services.milestones import mark_done, mark_skipped, undo_mark
from pathway_app.services.views import episode_view, worklist
from pathway_app.storage import database as database_module
from pathway_app.storage.database import DatabaseOpenError, open_database
from tests.services.test_milestones import make_episode


@pytest.fixture
def second(
    db_url: str, ctx: ServiceContext, template, catalogue, clock
) -> Iterator[ServiceContext]:
    """A second app instance on the same database (issue 7: a second workstation on
    PostgreSQL)."""
    db = open_database(db_url)
    yield ServiceContext(db, template, catalogue, clock, "Second Window")
    db.close()


def first_open_milestone(ctx: ServiceContext, episode_id: int):
    """The first planned milestone of the first stage (preparation: no readiness rules)."""
    view = episode_view(ctx, episode_id)
    return next(m for m in view.stages[0].milestones if m.state == "planned")


def test_writes_of_one_window_appear_in_the_other(ctx, second) -> None:
    assert worklist(second) == []
    episode_id = make_episode(ctx)
    assert [row.episode_id for row in worklist(second)] == [episode_id]
    m = first_open_milestone(second, episode_id)
    mark_done(second, m.id, expected_version=m.version)
    refreshed = episode_view(ctx, episode_id)
    state = {x.id: x for s in refreshed.stages for x in s.milestones}[m.id]
    assert (state.state, state.done_by) == ("done", "Second Window")


def test_a_conflicting_edit_is_refused_and_nothing_is_overwritten(ctx, second) -> None:
    episode_id = make_episode(ctx)
    seen_by_first = first_open_milestone(ctx, episode_id)
    seen_by_second = first_open_milestone(second, episode_id)
    assert seen_by_first.id == seen_by_second.id
    mark_skipped(
        second, seen_by_second.id, "Done elsewhere", expected_version=seen_by_second.version
    )
    with pytest.raises(ConcurrentEdit, match="Nothing was overwritten"):
        mark_done(ctx, seen_by_first.id, expected_version=seen_by_first.version, note="mine")
    with pytest.raises(ConcurrentEdit):
        undo_mark(ctx, seen_by_first.id, expected_version=seen_by_first.version)
    now = first_open_milestone(ctx, episode_id)  # the next one: ours stays skipped
    view = episode_view(ctx, episode_id)
    kept = {x.id: x for s in view.stages for x in s.milestones}[seen_by_first.id]
    assert (kept.state, kept.skip_reason, kept.note) == ("skipped", "Done elsewhere", None)
    assert now.id != seen_by_first.id
    # After a refresh the current version goes through.
    undo_mark(ctx, kept.id, expected_version=kept.version)


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture
def closed_db(db_path: Path) -> Path:
    open_database(str(db_path)).close()
    return db_path


def test_a_read_only_disk_is_refused_untouched(closed_db: Path, monkeypatch) -> None:
    before = fingerprint(closed_db)
    monkeypatch.setattr(database_module, "_read_only_filesystem", lambda folder: True)
    with pytest.raises(DatabaseOpenError, match=r"read-only disk.*not changed"):
        open_database(str(closed_db))
    assert fingerprint(closed_db) == before


def test_a_file_without_write_permission_is_refused_untouched(closed_db: Path, monkeypatch) -> None:
    before = fingerprint(closed_db)
    real_access = os.access
    monkeypatch.setattr(
        database_module.os,
        "access",
        lambda path, mode: False if mode == os.W_OK else real_access(path, mode),
    )
    with pytest.raises(DatabaseOpenError, match=r"cannot be written.*not changed"):
        open_database(str(closed_db))
    assert fingerprint(closed_db) == before


def test_a_new_database_in_a_read_only_folder_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(database_module, "_read_only_filesystem", lambda folder: True)
    with pytest.raises(DatabaseOpenError, match="read-only disk"):
        open_database(str(tmp_path / "new.sqlite3"))
    assert not (tmp_path / "new.sqlite3").exists()


def test_the_statvfs_flag_is_read(tmp_path: Path) -> None:
    assert database_module._read_only_filesystem(tmp_path) is False
