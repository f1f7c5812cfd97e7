"""Migration 0009 (issue 9: one- and two-character searches): a 0008 clinic gets a word-prefix
index of its patients, later writes keep it current (triggers on SQLite), the index matches the
models, and a downgrade removes exactly what 0009 added. One or two characters find the
patients with a word of the name or MRN starting with them, the same on SQLite and PostgreSQL
(where the planner uses the new GIN index); Unicode case folding is as for longer searches."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pathway_app.services.context import ServiceContext
from pathway_app.services.views import worklist_filter
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Base, Patient
from tests.storage.test_migration_0008 import _config

PATIENTS = [
    (1, "OLD-1", "Öztürk", "Émile"),
    (2, "OLD-2", "García", "Yara"),
    (3, "MRN-300", "Older", "Ada"),
    (4, "X9", "Smith-Jones", "Mary Ann"),
    (5, "AB_7", "O'Brien", "Siobhán"),
    (6, "40-2", "Varga", "Greta"),
]
SORT_INDEXES = {
    "ix_episodes_status_indication",
    "ix_episodes_status_current_stage",
    "ix_episodes_status_next_action",
}
TRIGGERS = {
    "patient_search_words_insert",
    "patient_search_words_update",
    "patient_search_words_delete",
}
# Expected by the meaning alone ("a word -- letters and digits -- starts with it"); each is
# checked against the Python reference below too.
CASES = {
    "g": {2, 6},  # García, Greta -- not Varga
    "GA": {2},
    "öz": {1},  # Unicode case folding, as the trigram search does
    "ÉM": {1},
    "oz": set(),  # accents are kept: "oz" is not "öz"
    "br": {5},  # O'Brien: "Brien" is a word
    "o'": {1, 2, 3, 5},  # punctuation ignored: words starting "o" (OLD-1, OLD-2, Older, O')
    "jo": {4},  # Smith-Jones
    "an": {4},  # "Mary Ann"
    "30": {3},  # MRN-300
    "2": {2, 6},  # OLD-2, 40-2
    "7": {5},  # AB_7: "_" separates words
    "x9": {4},
    "ra": set(),  # inside words only (Yara)
    "%": set(),  # no letter or digit: still "contains", wildcards literal
    "_": {5},
}


def _mine(conn: Connection) -> list[object]:
    """Differences between the models and this database in what 0009 adds."""
    diff = compare_metadata(
        MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": repo.is_compared_schema_object}
        ),
        Base.metadata,
    )
    return [d for d in diff if "search" in repr(d) or any(i in repr(d) for i in SORT_INDEXES)]


def _insert(conn: Connection, patients: list[tuple[int, str, str, str]]) -> None:
    for patient_id, mrn, family, given in patients:
        conn.execute(
            text(
                "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, "
                "created_at, version) VALUES (:id, :mrn, :family, :given, '1950-01-02', "
                "'2026-01-01 08:00:00', 1)"
            ),
            {"id": patient_id, "mrn": mrn, "family": family, "given": given},
        )


def _found(conn: Connection, search: str) -> set[int]:
    return set(conn.scalars(select(Patient.id).where(repo._patient_matches(search))))


def _reference(conn: Connection, search: str) -> set[int]:
    """The meaning, in Python: a word of "Given Family MRN" starts with the search's letters
    and digits."""
    prefix = "".join(c for c in search.strip() if c.isalnum()).casefold()
    found = set()
    for patient_id, given, family, mrn in conn.execute(
        select(Patient.id, Patient.given_name, Patient.family_name, Patient.mrn)
    ):
        words = re.split(r"[\W_]+", f"{given} {family} {mrn}".casefold())
        if any(word.startswith(prefix) for word in words):
            found.add(patient_id)
    return found


def _check_meaning(conn: Connection) -> None:
    for search, expected in CASES.items():
        assert _found(conn, search) == expected, search
    names = " ".join(f"{p[1]} {p[2]} {p[3]}" for p in PATIENTS)
    singles = sorted({c for c in names.casefold() if c.isalnum()})
    pairs = sorted({names[i : i + 2] for i in range(len(names) - 1) if names[i].isalnum()})
    for search in singles + pairs + [s.upper() for s in singles]:
        if any(c.isalnum() for c in search):
            assert _found(conn, search) == _reference(conn, search), search
    # The patient finder shares the predicate with both worklists.
    with Session(conn) as session:
        assert {p.id for p in repo.search_patients(session, " ga ")} == {2}


def test_sqlite_upgrade_indexes_words_and_keeps_them_current(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    url = f"sqlite:///{path}"
    command.upgrade(_config(url), "0008")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _insert(conn, PATIENTS)
        command.upgrade(_config(url), "0009")
        with engine.begin() as conn:
            assert _mine(conn) == []
            indexes = {row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
            assert indexes >= SORT_INDEXES
            count = conn.exec_driver_sql("SELECT count(*) FROM patient_search_words").scalar()
            assert count == len(PATIENTS)
            _check_meaning(conn)
            # Later writes keep the index current.
            conn.exec_driver_sql("UPDATE patients SET family_name = 'Newer' WHERE id = 3")
            conn.exec_driver_sql("DELETE FROM patients WHERE id = 2")
            _insert(conn, [(7, "N-4", "Zoë", "Åsa")])
            assert _found(conn, "ol") == {1}  # OLD-1 still; Older renamed
            assert _found(conn, "ne") == {3}
            assert _found(conn, "ga") == set()
            assert _found(conn, "ås") == {7}
            assert _found(conn, "ZO") == {7}
        command.downgrade(_config(url), "0008")
    finally:
        engine.dispose()
    with sqlite3.connect(path) as raw:
        names = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        assert not {n for n in names if n.startswith("patient_search_words")}
        assert not names & TRIGGERS
        assert not names & SORT_INDEXES
        assert "patient_search" in names  # 0008's trigram table stays
        assert raw.execute("SELECT count(*) FROM patients").fetchone()[0] == len(PATIENTS)


def test_postgresql_upgrade_adds_a_word_prefix_index_the_search_uses(pg_url: str) -> None:
    command.upgrade(_config(pg_url), "0008")
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            _insert(conn, PATIENTS)
        command.upgrade(_config(pg_url), "0009")
        with engine.begin() as conn:
            assert _mine(conn) == []
            indexes = set(conn.scalars(text("SELECT indexname FROM pg_indexes")))
            assert repo.WORDS_INDEX in indexes
            assert indexes >= SORT_INDEXES
            # The query's expression is the indexed one: the planner can use the index.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            query = select(Patient.id).where(repo._patient_matches("ga"))
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = "\n".join(conn.scalars(text(f"EXPLAIN {sql}")))
            assert repo.WORDS_INDEX in plan, plan
        with engine.begin() as conn:
            _check_meaning(conn)
            conn.execute(text("UPDATE patients SET family_name = 'Newer' WHERE id = 3"))
            assert _found(conn, "ne") == {3}
        command.downgrade(_config(pg_url), "0008")
        with engine.connect() as conn:
            indexes = set(conn.scalars(text("SELECT indexname FROM pg_indexes")))
            assert repo.WORDS_INDEX not in indexes
            assert not indexes & SORT_INDEXES
            assert repo.SEARCH_INDEX in indexes or not conn.scalar(
                text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
            )
    finally:
        engine.dispose()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("sort", ["indication", "stage", "next_action"])
@pytest.mark.parametrize("descending", [False, True])
def test_the_header_sorts_read_their_index_in_order(
    ctx: ServiceContext, sort: str, descending: bool
) -> None:
    """Sorting by indication, stage or next action reads the open episodes in order from the
    column's index, continuing after a row from its value, instead of sorting them all."""
    where = worklist_filter(ctx, sort=sort, descending=descending)
    column = "current_stage" if sort == "stage" else sort
    with ctx.db.reading() as session:
        connection = session.connection()
        for number, part in enumerate(repo._worklist_parts(where)):
            for after in (
                None,
                tuple(0 if n == len(part[1]) - 1 else "x" for n in range(len(part[1]))),
            ):
                compiled = repo._part_rows(part, number, after).limit(100).compile(connection)
                params = compiled.construct_params()
                values = tuple(params[name] for name in compiled.positiontup or ())
                explained = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
                plan = " | ".join(r[3] for r in explained)
                assert f"ix_episodes_status_{column}" in plan, plan
                assert "TEMP B-TREE" not in plan, plan
