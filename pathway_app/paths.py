"""Where the app keeps its files, each overridable for clinics, tests and automation."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "PATHWAY_DATA_DIR"
DB_ENV = "PATHWAY_DB"
DATABASE_FILE = "pathway.sqlite3"
DEMO_DATABASE_FILE = "demo.sqlite3"
SETTINGS_FILE = "settings.ini"


def data_dir() -> Path:
    """The per-user data folder (``$PATHWAY_DATA_DIR`` when set); created on first use."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_path  # not needed by a start that names its files

        path = user_data_path("pathway-app", False)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_database() -> str:
    """``$PATHWAY_DB`` if set, else the SQLite file in the data folder."""
    return os.environ.get(DB_ENV) or str(data_dir() / DATABASE_FILE)


def demo_database() -> Path:
    return data_dir() / DEMO_DATABASE_FILE


def settings_file() -> Path:
    return data_dir() / SETTINGS_FILE
