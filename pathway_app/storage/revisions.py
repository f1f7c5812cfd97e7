"""The schema revisions this version of the app knows, read from the migration files' text.

Importing Alembic (or SQLAlchemy) costs a good part of a second of start-up (issue 9), and
the first screen only needs to know whether a database is at the newest revision; so the
revision graph is read here from the literal ``revision``/``down_revision`` assignments of the
files, with the standard library only. tests/storage/test_database.py checks it against
Alembic's own reading.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_NAMES = ("revision", "down_revision")
# Where a migration's module header (docstring, imports, revision identifiers) ends: its first
# top-level function, class or decorator.
_FIRST_DEFINITION = re.compile(r"^(?:def |async def |class |@)", re.MULTILINE)
_TOP_LEVEL_ASSIGNMENT = re.compile(r"^(?:down_)?revision\b", re.MULTILINE)


def _assignments(source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in _NAMES and value is not None:
            values[target.id] = ast.literal_eval(value)
    return values


def _identifiers(source: str) -> dict[str, Any]:
    """The top-level ``revision``/``down_revision`` values of one migration's source."""
    # NOTE: parsing only the header takes a twentieth of the time of the whole file (1 ms
    # rather than 20 ms for all of them, at every start-up). The whole file is parsed when the
    # header is not valid on its own (a string holding "def " at a line start) or when the
    # identifiers might be assigned again after it, so the answer is the whole file's.
    first = _FIRST_DEFINITION.search(source)
    if first is not None and not _TOP_LEVEL_ASSIGNMENT.search(source, first.start()):
        try:
            return _assignments(source[: first.start()])
        except SyntaxError:
            pass
    return _assignments(source)


@functools.cache
def revision_graph() -> dict[str, tuple[str, ...]]:
    """Each known revision and the revisions it follows."""
    graph: dict[str, tuple[str, ...]] = {}
    for script in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        values = _identifiers(script.read_text(encoding="utf-8"))
        if "revision" not in values:
            continue
        down = values.get("down_revision")
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        graph[str(values["revision"])] = downs
    return graph


def head_revisions() -> tuple[str, ...]:
    """The newest schema revision(s) this version knows, sorted.

    Released versions have exactly one; several exist only while parallel branches of work
    are being merged, and opening a database then applies all of them. A database is at head
    when the sorted ``version_num`` values of its ``alembic_version`` table equal these.
    """
    graph = revision_graph()
    parents = {parent for downs in graph.values() for parent in downs}
    return tuple(sorted(revision for revision in graph if revision not in parents))


def head_revision() -> str:
    """The head revision(s) as one text, for messages (``a+b`` while branches are merged)."""
    return "+".join(head_revisions())
