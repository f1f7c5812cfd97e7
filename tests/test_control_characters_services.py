"""Control characters in the free text that services check themselves (not through a domain
validator): a milestone's note, the procedure's antibiotic, catheter tip level and event
description, the medication list and the psychological evaluation, an outcome correction's
reason, the activity restrictions, an account's display name.

Each goes through `pathway_app.domain.text`, so a pasted NUL gets the field's message, as the
dialogs show it beside the field, and nothing is written: PostgreSQL would otherwise refuse
the row with no field named, and SQLite would keep the character. Every test here runs on
both back ends (`tests.pg_support.parametrise_backends`), except the per-character sweeps,
which test validation that runs before the database is touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.readiness import Evaluation
from pathway_app.domain.text import control_character_message
from pathway_app.domain.users import UserDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.demo_preparation import record_complete_preparation
from pathway_app.services.milestones import mark_done
from pathway_app.services.outcomes import correct_outcome, outcomes_view, record_outcome
from pathway_app.services.preparation import (
    EvaluationsDraft,
    MedicationDraft,
    save_evaluations,
    save_medication,
)
from pathway_app.services.procedure import EventDraft, add_event, save_procedure
from pathway_app.services.stay import record_admission, set_restrictions
from pathway_app.services.users import create_first_administrator, create_user, update_user
from pathway_app.storage.orm import AuditEntry, Base, Milestone
from pathway_app.storage.orm_followup import HospitalStay
from pathway_app.storage.orm_preparation import (
    MedicationRecord,
    PreparationRecord,
    ProcedureEvent,
    ProcedureRecord,
)
from pathway_app.storage.orm_trust import User
from tests.pg_support import parametrise_backends
from tests.services import test_outcomes_service as outcomes_tests
from tests.services import test_preparation_service as preparation_tests
from tests.services import test_procedure_service as procedure_tests
from tests.services import test_stay_service as stay_tests

C0 = [chr(code) for code in range(0x20)]
REFUSED_IN_A_LINE = [*C0, "\x7f"]
REFUSED_IN_NOTES = [ch for ch in REFUSED_IN_A_LINE if ch not in "\n\r\t"]
PLAIN = "Plain value-1"
TYPED_LINES = "Line one\r\nline two\n\tindented"
RESTRICTIONS_END = date(2027, 1, 19)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrise_backends(metafunc)


# --- the fields ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One service text field.

    Attributes:
        prepare: makes what the write needs (an episode, a milestone, an account) and returns
            it as ``state``.
        write: the service call with ``text`` in the field.
        stored: reads the field back as saved.
    """

    name: str
    field: str
    label: str
    multiline: bool
    prepare: Callable[[ServiceContext], Any]
    write: Callable[[ServiceContext, Any, str], object]
    stored: Callable[[ServiceContext, Any], str]

    @property
    def message(self) -> str:
        return control_character_message(self.label)


def _one(ctx: ServiceContext, column: Any, *where: Any) -> Any:
    with ctx.db.reading() as session:
        return session.scalars(select(column).where(*where)).one()


# milestones: a hand mark of the consent gate (paper consent needs no preparation record)


def _consent_milestone(ctx: ServiceContext) -> int:
    episode_id = preparation_tests.make_episode(ctx)
    return int(
        _one(ctx, Milestone.id, Milestone.episode_id == episode_id, Milestone.key == "consent")
    )


def _milestone_note(ctx: ServiceContext, milestone_id: int) -> str:
    return str(_one(ctx, Milestone.note, Milestone.id == milestone_id))


# procedure: an episode whose preparation is complete, the operation two hours ago


def _ready_for_procedure(ctx: ServiceContext) -> int:
    episode_id = procedure_tests.make_episode(ctx)
    record_complete_preparation(ctx, episode_id, procedure_tests.START)
    return episode_id


def _procedure_field(name: str) -> Callable[[ServiceContext, int], str]:
    def stored(ctx: ServiceContext, episode_id: int) -> str:
        column = getattr(ProcedureRecord, name)
        return str(_one(ctx, column, ProcedureRecord.episode_id == episode_id))

    return stored


def _event(ctx: ServiceContext, episode_id: int, text: str) -> int:
    at = procedure_tests.START + timedelta(minutes=30)
    return add_event(ctx, episode_id, EventDraft(at, text, frozenset()))


def _event_text(ctx: ServiceContext, episode_id: int) -> str:
    return str(_one(ctx, ProcedureEvent.text, ProcedureEvent.episode_id == episode_id))


# preparation: a drug typed in ("other") with its decision, and the psychological evaluation


def _medication(
    name: str = "Fish oil", instruction: str = "", decision_by: str = "", decision_note: str = ""
) -> MedicationDraft:
    return MedicationDraft("other", name, None, instruction, decision_by, decision_note)


def _medication_write(field: str) -> Callable[[ServiceContext, int, str], object]:
    def write(ctx: ServiceContext, episode_id: int, text: str) -> object:
        # A decision needs its clinician and its text: give the other half.
        partners = {
            "decision_by": {"decision_note": "Continue"},
            "decision_note": {"decision_by": "Dr A"},
        }
        partner = partners.get(field, {})
        return save_medication(ctx, episode_id, _medication(**{field: text, **partner}))

    return write


def _medication_field(name: str) -> Callable[[ServiceContext, int], str]:
    def stored(ctx: ServiceContext, episode_id: int) -> str:
        column = getattr(MedicationRecord, name)
        return str(_one(ctx, column, MedicationRecord.episode_id == episode_id))

    return stored


def _save_psych(field: str) -> Callable[[ServiceContext, int, str], object]:
    def write(ctx: ServiceContext, episode_id: int, text: str) -> object:
        by, note = (text, "") if field == "by" else ("Dr P", text)
        evaluation = Evaluation(preparation_tests.NOW.date(), by, True, note)
        save_evaluations(ctx, episode_id, EvaluationsDraft(None, evaluation, None, frozenset()))
        return None

    return write


def _psych_field(name: str) -> Callable[[ServiceContext, int], str]:
    def stored(ctx: ServiceContext, episode_id: int) -> str:
        column = getattr(PreparationRecord, f"psych_{name}")
        return str(_one(ctx, column, PreparationRecord.episode_id == episode_id))

    return stored


# outcomes: a baseline entry corrected with a reason


@dataclass(frozen=True)
class Entry:
    episode_id: int
    entry_id: int


BASELINE_ON = date(2026, 9, 1)


def _baseline(ctx: ServiceContext) -> Entry:
    episode_id = outcomes_tests.make_episode(ctx)
    entry_id = record_outcome(ctx, episode_id, outcomes_tests.visit(BASELINE_ON, 8, "baseline"))
    return Entry(episode_id, entry_id)


def _correct(ctx: ServiceContext, entry: Entry, reason: str) -> None:
    version = outcomes_view(ctx, entry.episode_id).entries[-1].version
    correct_outcome(
        ctx,
        entry.entry_id,
        outcomes_tests.visit(BASELINE_ON, 7, "baseline"),
        expected_version=version,
        reason=reason,
    )


def _correction_reason(ctx: ServiceContext, entry: Entry) -> str:
    detail = _one(ctx, AuditEntry.detail, AuditEntry.action == "outcome.corrected")
    return str(json.loads(detail)["new"]["reason"])


# stay: the restrictions of an admitted patient


def _admitted(ctx: ServiceContext) -> int:
    episode_id = stay_tests.make_episode(ctx)
    record_admission(ctx, episode_id, stay_tests.ADMITTED)
    return episode_id


def _restrictions(ctx: ServiceContext, episode_id: int) -> list[str]:
    texts = _one(ctx, HospitalStay.restrictions, HospitalStay.episode_id == episode_id)
    return list(json.loads(texts))


# users: an administrator renames another account


@dataclass(frozen=True)
class Account:
    admin: ServiceContext
    user_id: int


def _account(ctx: ServiceContext) -> Account:
    signed = create_first_administrator(
        ctx.db, ctx.clock, UserDraft("admin", "Ada Admin", "administrator", "correct horse 1")
    )
    admin = replace(ctx, actor=signed.username, role=signed.role, user_id=signed.user_id)
    user_id = create_user(admin, UserDraft("nurse", "Nina Nurse", "coordinator", "nurse-pass-1"))
    return Account(admin, user_id)


def _rename(ctx: ServiceContext, account: Account, name: str) -> None:
    update_user(account.admin, account.user_id, display_name=name)


def _display_name(ctx: ServiceContext, account: Account) -> str:
    return str(_one(ctx, User.display_name, User.id == account.user_id))


FIELDS = [
    Field(
        "milestone.note",
        "note",
        "note",
        True,
        _consent_milestone,
        lambda ctx, milestone_id, text: mark_done(ctx, milestone_id, note=text),
        _milestone_note,
    ),
    Field(
        "procedure.antibiotic",
        "antibiotic",
        "antibiotic",
        False,
        _ready_for_procedure,
        lambda ctx, episode_id, text: save_procedure(
            ctx, episode_id, procedure_tests.draft(antibiotic=text)
        ),
        _procedure_field("antibiotic"),
    ),
    Field(
        "procedure.catheter_tip_level",
        "catheter_tip_level",
        "catheter tip level",
        False,
        _ready_for_procedure,
        lambda ctx, episode_id, text: save_procedure(
            ctx, episode_id, procedure_tests.draft(catheter_tip_level=text)
        ),
        _procedure_field("catheter_tip_level"),
    ),
    Field(
        "procedure.event_text",
        "text",
        "description",
        True,
        _ready_for_procedure,
        _event,
        _event_text,
    ),
    Field(
        "medication.name",
        "name",
        "drug name",
        False,
        preparation_tests.make_episode,
        _medication_write("name"),
        _medication_field("name"),
    ),
    Field(
        "medication.instruction",
        "instruction",
        "instruction",
        True,
        preparation_tests.make_episode,
        _medication_write("instruction"),
        _medication_field("instruction"),
    ),
    Field(
        "medication.decision_by",
        "decision_by",
        "clinician's name",
        False,
        preparation_tests.make_episode,
        _medication_write("decision_by"),
        _medication_field("decision_by"),
    ),
    Field(
        "medication.decision_note",
        "decision_note",
        "decision",
        True,
        preparation_tests.make_episode,
        _medication_write("decision_note"),
        _medication_field("decision_note"),
    ),
    Field(
        "psych.by",
        "psych.by",
        "evaluator's name",
        False,
        preparation_tests.make_episode,
        _save_psych("by"),
        _psych_field("by"),
    ),
    Field(
        "psych.note",
        "psych.note",
        "note",
        True,
        preparation_tests.make_episode,
        _save_psych("note"),
        _psych_field("note"),
    ),
    Field(
        "outcome.correction_reason",
        "reason",
        "reason",
        True,
        _baseline,
        _correct,
        _correction_reason,
    ),
    Field(
        "stay.restriction",
        "restrictions",
        "restriction",
        False,
        _admitted,
        lambda ctx, episode_id, text: set_restrictions(ctx, episode_id, RESTRICTIONS_END, [text]),
        lambda ctx, episode_id: _restrictions(ctx, episode_id)[0],
    ),
    Field(
        "user.display_name",
        "display_name",
        "display name",
        False,
        _account,
        _rename,
        _display_name,
    ),
]
SINGLE_LINE = [f for f in FIELDS if not f.multiline]
MULTI_LINE = [f for f in FIELDS if f.multiline]


def ids(field: Field) -> str:
    return field.name


# --- what the database holds -----------------------------------------------------------------


def database_rows(ctx: ServiceContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, so an update is caught as well as an insert."""
    with ctx.db.reading() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def audit_count(ctx: ServiceContext) -> int:
    with ctx.db.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def refused(field: Field, ctx: ServiceContext, state: Any, text: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        field.write(ctx, state, text)
    return info.value.field_errors


# --- every field, on both back ends -------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_a_nul_is_refused_with_the_field_message_and_nothing_is_written(
    ctx: ServiceContext, db_backend: str, field: Field
) -> None:
    state = field.prepare(ctx)
    before, audits = database_rows(ctx), audit_count(ctx)
    assert refused(field, ctx, state, "Plain\x00 value") == {field.field: field.message}
    assert audit_count(ctx) == audits
    assert database_rows(ctx) == before


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_a_plain_value_is_saved(ctx: ServiceContext, db_backend: str, field: Field) -> None:
    state = field.prepare(ctx)
    audits = audit_count(ctx)
    field.write(ctx, state, f"  {PLAIN} ")
    assert field.stored(ctx, state) == PLAIN
    assert audit_count(ctx) > audits


@pytest.mark.parametrize("field", MULTI_LINE, ids=ids)
def test_a_multi_line_field_keeps_line_breaks_and_tabs(
    ctx: ServiceContext, db_backend: str, field: Field
) -> None:
    state = field.prepare(ctx)
    field.write(ctx, state, f"{TYPED_LINES}\n")
    assert field.stored(ctx, state) == TYPED_LINES


# --- every refused character (validation only: SQLite is enough) ------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("field", SINGLE_LINE, ids=ids)
def test_a_single_line_field_refuses_every_c0_character_and_del(
    ctx: ServiceContext, field: Field
) -> None:
    state = field.prepare(ctx)
    accepted = [
        f"U+{ord(ch):04X}"
        for ch in REFUSED_IN_A_LINE
        if refused(field, ctx, state, f"Pla{ch}in").get(field.field) != field.message
    ]
    assert accepted == []


@pytest.mark.sqlite_only
@pytest.mark.parametrize("field", MULTI_LINE, ids=ids)
def test_a_multi_line_field_refuses_the_other_control_characters(
    ctx: ServiceContext, field: Field
) -> None:
    state = field.prepare(ctx)
    accepted = [
        f"U+{ord(ch):04X}"
        for ch in REFUSED_IN_NOTES
        if refused(field, ctx, state, f"Pla{ch}in").get(field.field) != field.message
    ]
    assert accepted == []


# --- field-specific messages --------------------------------------------------------------------


def test_a_restriction_with_a_control_character_is_named_by_its_line(
    ctx: ServiceContext, db_backend: str
) -> None:
    episode_id = _admitted(ctx)
    before = database_rows(ctx)
    with pytest.raises(ValidationError) as info:
        set_restrictions(ctx, episode_id, RESTRICTIONS_END, ["No lifting", "", "No\x00 bending"])
    assert info.value.field_errors == {
        "restrictions": control_character_message("restriction", context="Line 3")
    }
    assert database_rows(ctx) == before


def test_an_empty_display_name_is_still_refused(ctx: ServiceContext, db_backend: str) -> None:
    account = _account(ctx)
    before = database_rows(ctx)
    with pytest.raises(ValidationError) as info:
        update_user(account.admin, account.user_id, display_name="  ")
    assert info.value.field_errors == {"display_name": "Enter the display name."}
    assert database_rows(ctx) == before


def test_an_empty_correction_reason_keeps_its_own_message(
    ctx: ServiceContext, db_backend: str
) -> None:
    entry = _baseline(ctx)
    with pytest.raises(ValidationError) as info:
        _correct(ctx, entry, " ")
    assert info.value.field_errors == {"reason": "Say why the entry is corrected."}


def test_a_milestone_note_over_the_limit_is_refused_before_the_control_character(
    ctx: ServiceContext, db_backend: str
) -> None:
    milestone_id = _consent_milestone(ctx)
    with pytest.raises(ValidationError) as info:
        mark_done(ctx, milestone_id, note="\x00" + "n" * 2000)
    assert info.value.field_errors == {"note": "The note is longer than 2000 characters."}
