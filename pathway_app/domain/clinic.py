"""Issue 8: the clinic's contact details (clinic.toml) and the warning signs printed on a
patient's refill card (warning_signs.toml, from domain.md §2.4). Plain Python: no Qt, no SQL."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathway_app.domain.errors import TemplateError

CLINIC_FILE = "clinic.toml"
WARNINGS_FILE = "warning_signs.toml"
NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class ClinicContact:
    name: str
    phone: str
    after_hours: str
    address: str
    email: str

    @property
    def configured(self) -> bool:
        return bool(self.name and self.phone)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(k for k in ("name", "phone") if not getattr(self, k))


@dataclass(frozen=True)
class WarningSigns:
    """The signs for one drug: its own withdrawal signs, then the common ones."""

    withdrawal_intro: str
    withdrawal: tuple[str, ...]
    note: str
    overdose_intro: str
    overdose: tuple[str, ...]
    also: tuple[str, ...]
    sources: tuple[str, ...]


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.strerror}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: not valid TOML ({exc}).") from exc


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise TemplateError(f"{where}: '{key}' must be text.")
    return value.strip()


def _lines(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TemplateError(f"{where}: '{key}' must be a list of texts.")
    return tuple(v.strip() for v in value)


def load_clinic(path: Path) -> ClinicContact:
    data = _read(path)
    where = str(path)
    return ClinicContact(
        name=_text(data, "name", where),
        phone=_text(data, "phone", where),
        after_hours=_text(data, "after_hours", where),
        address=_text(data, "address", where),
        email=_text(data, "email", where),
    )


def load_warning_signs(path: Path, drug_key: str) -> WarningSigns:
    """The signs for `drug_key`; a drug the file does not list gets the common signs only."""
    data = _read(path)
    common = data.get("common")
    if not isinstance(common, dict):
        raise TemplateError(f"{path}: the [common] table is missing.")
    drugs = data.get("drugs", {})
    if not isinstance(drugs, dict):
        raise TemplateError(f"{path}: 'drugs' must be a table of drugs.")
    own = drugs.get(drug_key, {})
    where = f"{path} [drugs.{drug_key}]"
    if not isinstance(own, dict):
        raise TemplateError(f"{where}: must be a table.")
    sources = [s for s in (_text(own, "source", where), _text(common, "source", str(path))) if s]
    return WarningSigns(
        withdrawal_intro=_text(common, "withdrawal_intro", str(path)),
        withdrawal=_lines(own, "withdrawal", where),
        note=_text(own, "note", where),
        overdose_intro=_text(common, "overdose_intro", str(path)),
        overdose=_lines(common, "overdose", str(path)),
        also=_lines(common, "also", str(path)),
        sources=tuple(sources),
    )
