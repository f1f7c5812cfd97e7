"""The clinical core runs without Qt: importing every domain, storage and service module
must not load PySide6 (the import-linter contracts in pyproject.toml say the same statically)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pathway_app

CORE = ("pathway_app.domain", "pathway_app.storage", "pathway_app.services")


def core_modules() -> list[str]:
    names = []
    for module in pkgutil.walk_packages(pathway_app.__path__, "pathway_app."):
        if module.name.startswith(CORE) and ".migrations" not in module.name:
            names.append(module.name)
    return names


def test_core_modules_import_without_qt():
    modules = core_modules()
    assert "pathway_app.domain.refills" in modules and "pathway_app.services.views" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "", f"Qt loaded by the core: {result.stdout}"


def test_domain_imports_neither_sql_nor_qt():
    domain = [m for m in core_modules() if m.startswith("pathway_app.domain")]
    code = (
        "import importlib, sys\n"
        f"for name in {domain!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'sqlalchemy', 'alembic'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
