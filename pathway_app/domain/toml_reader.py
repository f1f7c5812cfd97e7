"""Reading typed values out of parsed TOML, for every data file the domain loads (template,
readiness, recovery…), so each reports a wrong value the same way: the file, the key, the rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathway_app.domain.errors import TemplateError


class TomlReader:
    """Reads typed values out of parsed TOML and names the offending key when one is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> TemplateError:
        return TemplateError(f"{self.source}: {where} {message}")

    def table(self, data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.fail(f"{where}{key}", "must be a table")
        return value

    def tables(self, data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
        value = data.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(f"{where}{key}", "must be a non-empty array of tables ([[...]])")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{where}{key}[{index}]", "must be a table")
        return value

    array_of_tables = tables

    def text(self, data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}{key}", "must be a non-empty string")
        return value.strip()

    def integer(
        self, data: Mapping[str, Any], key: str, where: str, *, required: bool = True
    ) -> int | None:
        value = data.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}{key}", "must be a whole number")
        return value

    def no_unknown(self, data: Mapping[str, Any], known: set[str], where: str) -> None:
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.fail(f"{where}{unknown[0]}", "is not a known key")


def require_unique(reader: TomlReader, keys: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for key, where in keys:
        if key in seen:
            raise reader.fail(where, f"repeats the key {key!r}; keys must be unique")
        seen.add(key)
