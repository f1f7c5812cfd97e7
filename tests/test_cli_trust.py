"""The command line of issue 4, run as a user runs it: verify, backup, restore, create-admin,
add-user, and signing in without a dialog (--user with $PATHWAY_PASSWORD)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.test_cli import Runner, png_size
from tests.test_cli import run as run


def test_new_database_without_a_screen_asks_for_create_admin(run: Runner, tmp_path) -> None:
    db = tmp_path / "new.sqlite3"
    result = run("--db", str(db), "--screenshot", str(tmp_path / "x.png"))
    assert result.returncode == 6
    assert "create-admin" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_admin_user_sign_in_verify_backup_restore(run: Runner, tmp_path: Path) -> None:
    db = tmp_path / "clinic.sqlite3"
    created = run(
        "create-admin", "--db", str(db), "--username", "boss", PATHWAY_PASSWORD="admin-pass-1"
    )
    assert created.returncode == 0, created.stderr
    added = run(
        "--db", str(db), "add-user", "--admin", "boss", "--username", "nina",
        "--role", "coordinator",
        PATHWAY_ADMIN_PASSWORD="admin-pass-1", PATHWAY_PASSWORD="nurse-pass-1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    shot = tmp_path / "ok.png"
    ok = run("--db", str(db), "--user", "NINA", "--screenshot", str(shot),
             PATHWAY_PASSWORD="nurse-pass-1")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert png_size(shot)[0] > 1000

    verified = run("verify", "--db", str(db))
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout

    backups = tmp_path / "backups"
    backed = run("--db", str(db), "backup", "--to", str(backups), "--keep", "2")
    assert backed.returncode == 0, backed.stderr
    (backup,) = backups.glob("clinic-*.sqlite3")

    refused = run("restore", str(backup), "--db", str(db))
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    restored = run("restore", str(backup), "--db", str(db), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert list(tmp_path.glob("clinic.replaced-*.sqlite3"))

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TRIGGER audit_entries_no_update")
        conn.execute("UPDATE audit_entries SET actor = 'nobody' WHERE id = 2")
    conn.close()
    broken = run("verify", "--db", str(db))
    assert broken.returncode == 7
    assert "broken at entry 2" in broken.stderr


def test_backup_of_a_text_file_fails_with_exit_8(run: Runner, tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite3"
    text.write_text("not a database", encoding="utf-8")
    result = run("backup", "--db", str(text), "--to", str(tmp_path / "b"))
    assert result.returncode == 8
    assert "Traceback" not in result.stderr
    assert text.read_text(encoding="utf-8") == "not a database"
