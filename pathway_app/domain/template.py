"""The pathway template: stages, milestones and parameters, loaded from a TOML file.

The template is data a clinic can edit; `load_template` refuses a broken file with a message that
names the file and the key, so the person editing it knows where to look.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathway_app.domain.errors import TemplateError
from pathway_app.domain.toml_reader import TomlReader, require_unique

_PARAMETER_DEFAULTS: dict[str, int] = {
    "due_soon_days": 14,
    "refill_buffer_days": 4,
    "planned_date_max_past_days": 365,
    "planned_date_max_future_days": 730,
}


@dataclass(frozen=True)
class MilestoneDef:
    """One milestone of a stage.

    Attributes:
        key: stable identifier, unique in the template.
        name: what the coordinator sees.
        detail: optional guidance shown beside the milestone.
        gate: the stage cannot be left while a gate is open (enforced by the readiness rules).
        offset_days: due date relative to the planned procedure date; None for no own date.
        indications: indication keys this milestone applies to; empty means all.
    """

    key: str
    name: str
    detail: str = ""
    gate: bool = False
    offset_days: int | None = None
    indications: tuple[str, ...] = ()

    def applies_to(self, indication: str) -> bool:
        return not self.indications or indication in self.indications


@dataclass(frozen=True)
class StageDef:
    key: str
    name: str
    milestones: tuple[MilestoneDef, ...]


@dataclass(frozen=True)
class Choice:
    """A named option of a list in the template (indications, settings)."""

    key: str
    name: str
    dose_step_limit_pct: float | None = None


@dataclass(frozen=True)
class PathwayTemplate:
    key: str
    name: str
    version: int
    stages: tuple[StageDef, ...]
    indications: tuple[Choice, ...]
    settings: tuple[Choice, ...]
    parameters: Mapping[str, int]
    source: str = ""

    def stage(self, key: str) -> StageDef:
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    def indication(self, key: str) -> Choice:
        for choice in self.indications:
            if choice.key == key:
                return choice
        raise KeyError(key)

    def parameter(self, name: str) -> int:
        return self.parameters[name]


def parse_template(data: Mapping[str, Any], source: str) -> PathwayTemplate:
    """Validate parsed TOML and build the template; `source` names the file in messages."""
    r = TomlReader(source)
    r.no_unknown(data, {"pathway", "parameters", "indications", "settings", "stages"}, "")
    head = r.table(data, "pathway", "")
    r.no_unknown(head, {"key", "name", "version"}, "[pathway].")
    version = r.integer(head, "version", "[pathway].")
    assert version is not None

    parameters = dict(_PARAMETER_DEFAULTS)
    raw_parameters = data.get("parameters", {})
    if not isinstance(raw_parameters, dict):
        raise r.fail("parameters", "must be a table")
    r.no_unknown(raw_parameters, set(_PARAMETER_DEFAULTS), "[parameters].")
    for name in raw_parameters:
        value = r.integer(raw_parameters, name, "[parameters].")
        assert value is not None
        if value < 0:
            raise r.fail(f"[parameters].{name}", "must not be negative")
        parameters[name] = value

    def choices(key: str, extra: set[str]) -> tuple[Choice, ...]:
        items = []
        for index, item in enumerate(r.array_of_tables(data, key, "")):
            where = f"{key}[{index}]."
            r.no_unknown(item, {"key", "name", *extra}, where)
            limit = item.get("dose_step_limit_pct")
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0
            ):
                raise r.fail(f"{where}dose_step_limit_pct", "must be a positive number")
            items.append(Choice(r.text(item, "key", where), r.text(item, "name", where), limit))
        require_unique(r, [(c.key, f"{key}[{i}].key") for i, c in enumerate(items)])
        return tuple(items)

    indications = choices("indications", {"dose_step_limit_pct"})
    settings = choices("settings", set())
    indication_keys = {c.key for c in indications}

    stages = []
    milestone_keys: list[tuple[str, str]] = []
    for s_index, raw_stage in enumerate(r.array_of_tables(data, "stages", "")):
        s_where = f"stages[{s_index}]."
        r.no_unknown(raw_stage, {"key", "name", "milestones"}, s_where)
        milestones = []
        for m_index, raw in enumerate(r.array_of_tables(raw_stage, "milestones", s_where)):
            where = f"{s_where}milestones[{m_index}]."
            r.no_unknown(
                raw, {"key", "name", "detail", "gate", "offset_days", "indications"}, where
            )
            gate = raw.get("gate", False)
            if not isinstance(gate, bool):
                raise r.fail(f"{where}gate", "must be true or false")
            applies = raw.get("indications", [])
            if not isinstance(applies, list) or not all(isinstance(a, str) for a in applies):
                raise r.fail(f"{where}indications", "must be a list of indication keys")
            for item in applies:
                if item not in indication_keys:
                    raise r.fail(f"{where}indications", f"names an unknown indication {item!r}")
            milestone = MilestoneDef(
                key=r.text(raw, "key", where),
                name=r.text(raw, "name", where),
                detail=r.text(raw, "detail", where, required=False),
                gate=gate,
                offset_days=r.integer(raw, "offset_days", where, required=False),
                indications=tuple(applies),
            )
            milestones.append(milestone)
            milestone_keys.append((milestone.key, f"{where}key"))
        stages.append(
            StageDef(
                r.text(raw_stage, "key", s_where),
                r.text(raw_stage, "name", s_where),
                tuple(milestones),
            )
        )
    require_unique(r, [(s.key, f"stages[{i}].key") for i, s in enumerate(stages)])
    require_unique(r, milestone_keys)

    return PathwayTemplate(
        key=r.text(head, "key", "[pathway]."),
        name=r.text(head, "name", "[pathway]."),
        version=version,
        stages=tuple(stages),
        indications=indications,
        settings=settings,
        parameters=parameters,
        source=source,
    )


def load_template(path: Path) -> PathwayTemplate:
    """Read and validate a template file; raise `TemplateError` naming the file and key."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: is not valid TOML ({exc})") from exc
    return parse_template(data, str(path))
