"""The command line, run as a user runs it: ``python -m pathway_app`` in a subprocess.

Each run starts a Python interpreter (and Qt for the last three), so the cases are kept few:
seven runs in all, the argument errors exiting before Qt is imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pathway_app import __version__

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Runner:
    data_dir = tmp_path / "data"

    def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "PATHWAY_DATA_DIR": str(data_dir),
            "QT_QPA_PLATFORM": "offscreen",
            "TZ": "UTC",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "pathway_app", *args],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return _run


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    assert header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_version(run: Runner) -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pathway-app {__version__}"


def test_help_lists_the_options(run: Runner) -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in ("--db", "--demo", "--screenshot", "--now"):
        assert option in result.stdout


def test_bad_now_is_a_usage_error(run: Runner) -> None:
    result = run("--now", "garbage")
    assert result.returncode == 2
    assert "garbage" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_and_db_are_mutually_exclusive(run: Runner, tmp_path: Path) -> None:
    result = run("--demo", "--db", str(tmp_path / "x.sqlite3"))
    assert result.returncode == 2
    assert "not allowed with" in result.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_text_file_as_database_exits_3_and_leaves_it_alone(run: Runner, tmp_path: Path) -> None:
    text = tmp_path / "notadb.txt"
    text.write_text("Ward phone list\n", encoding="utf-8")
    before = hashlib.sha256(text.read_bytes()).hexdigest(), text.stat().st_mtime_ns
    shot = tmp_path / "out.png"
    result = run("--db", str(text), "--screenshot", str(shot))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert f"{text} is not a Care Pathway Tracker database" in result.stderr
    assert (hashlib.sha256(text.read_bytes()).hexdigest(), text.stat().st_mtime_ns) == before
    assert not shot.exists()


def test_demo_screenshot(run: Runner, tmp_path: Path) -> None:
    shot = tmp_path / "out.png"
    result = run("--demo", "--screenshot", str(shot), "--now", "2026-11-26T10:00")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    width, height = png_size(shot)
    assert width > 1000
    assert height > 600
    assert (tmp_path / "data" / "demo.sqlite3").is_file()


def test_broken_template_exits_4_naming_the_file(run: Runner, tmp_path: Path) -> None:
    resources = tmp_path / "resources"
    shutil.copytree(REPO / "resources", resources)
    broken = resources / "pathways" / "constant_flow_pump.toml"
    text = broken.read_text(encoding="utf-8")
    assert "offset_days = 14" in text
    broken.write_text(text.replace("offset_days = 14", "ofset_days = 14"), encoding="utf-8")
    db = tmp_path / "clinic.sqlite3"
    result = run(
        "--db",
        str(db),
        "--screenshot",
        str(tmp_path / "out.png"),
        PATHWAY_RESOURCES_DIR=str(resources),
    )
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    assert str(broken) in result.stderr
    assert "ofset_days" in result.stderr
    assert not db.exists()  # nothing is created when the configuration is broken
