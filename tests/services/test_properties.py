"""Property-based tests: every dialog's service fed extreme and malformed values (empty, huge,
negative, NaN, infinities, wrong units, dates around DST changes and leap days, Unicode, very
long text) answers with a result or a readable `DomainError` (a `ValidationError` per field),
never another exception, and never writes half an action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pathway_app.domain.errors import DomainError
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.milestones import mark_done, mark_skipped, undo_mark
from pathway_app.services.patients import register_patient
from pathway_app.services.refills import preview_refill, record_refill
from pathway_app.services.views import episode_view
from pathway_app.storage.audit import verify_chain
from pathway_app.storage.orm import AuditEntry, Episode, Fill, Milestone, Patient
from tests.services.test_refill_service import IMPLANT, fill, implant
from tests.services.test_refill_service import make_episode as make_pump_episode

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ZONES = [
    UTC,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
]
SPECIAL_DAYS = [
    date(2024, 2, 29),  # leap day
    date(2028, 2, 29),
    date(2026, 3, 29),  # EU spring forward
    date(2026, 10, 25),  # EU fall back
    date(2026, 3, 8),  # US spring forward
    date(2026, 11, 1),  # US fall back
    date(1900, 1, 1),
    date(1, 1, 1),
    date(9999, 12, 31),
]
texts = st.one_of(
    st.just(""),
    st.just("   "),
    st.text(max_size=40),
    st.text(st.characters(categories=["L", "M", "Zs", "So"]), min_size=1, max_size=40),
    st.sampled_from(["Ørjan", "Zoë", "王秀英", "محمد", "O'Brien-Łukasz", "🙂", "\u200b", "a\x00b"]),
    st.integers(101, 5000).map(lambda n: "x" * n),
    st.just("line\nbreak"),
)
dates = st.one_of(st.none(), st.sampled_from(SPECIAL_DAYS), st.dates())
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-12, 1e308, float("nan"), float("inf"), -float("inf")]),
    st.floats(0.01, 100),
)


@st.composite
def moments(draw: st.DrawFn) -> datetime | None:
    day = draw(
        st.one_of(st.sampled_from(SPECIAL_DAYS[:6]), st.dates(date(2020, 1, 1), date(2030, 1, 1)))
    )
    at = datetime(day.year, day.month, day.day) + timedelta(minutes=draw(st.integers(0, 1439)))
    kind = draw(st.sampled_from(["aware", "aware", "naive", "none"]))
    if kind == "none":
        return None
    if kind == "naive":
        return at
    return at.replace(tzinfo=draw(st.sampled_from(ZONES)), fold=draw(st.integers(0, 1)))


def counts(ctx: ServiceContext) -> dict[str, int]:
    with ctx.db.reading() as session:
        return {
            m.__name__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Patient, Episode, Milestone, AuditEntry, Fill)
        }


def all_or_nothing(ctx: ServiceContext, action: Callable[[], Any]) -> bool:
    """Run `action`; a DomainError must leave every table as it was. True when it wrote."""
    before = counts(ctx)
    try:
        action()
    except DomainError as exc:
        assert str(exc).strip(), "an error without a message"
        assert counts(ctx) == before, "a refused action wrote something"
        return False
    after = counts(ctx)
    assert after["AuditEntry"] > before["AuditEntry"], "a write without an audit entry"
    return True


def chain_ok(ctx: ServiceContext) -> None:
    with ctx.db.reading() as session:
        assert verify_chain(session).ok


@PROPERTY
@given(mrn=texts, family=texts, given_name=texts, birth=dates)
def test_patient_dialog_values(ctx: ServiceContext, mrn, family, given_name, birth) -> None:
    all_or_nothing(ctx, lambda: register_patient(ctx, PatientDraft(mrn, family, given_name, birth)))
    chain_ok(ctx)


@PROPERTY
@given(
    patient=st.sampled_from([None, -1, 0, 1, 10**9]),
    indication=st.sampled_from(["noncancer-pain", "", "nope", "spasticity-spinal"]),
    drug=st.sampled_from(["morphine", "baclofen", "", "Morphine", "x" * 500]),
    pump=st.sampled_from(["isomed-8472-20-05", "", "unknown-pump"]),
    planned=dates,
    surgeon=texts,
    setting=st.sampled_from(["hospital-or", "", "garage"]),
)
def test_episode_dialog_values(
    ctx: ServiceContext, patient, indication, drug, pump, planned, surgeon, setting
) -> None:
    if counts(ctx)["Patient"] == 0:
        register_patient(ctx, PatientDraft("P-1", "Prop", "Erty", date(1960, 1, 1)))
    draft = EpisodeDraft(patient, indication, drug, pump, planned, surgeon, setting)
    if all_or_nothing(ctx, lambda: open_episode(ctx, draft)):
        # A second open episode for the same patient is refused from now on; start afresh.
        with ctx.db.writing() as session:
            session.get(Episode, session.scalar(select(func.max(Episode.id)))).status = "closed"
    chain_ok(ctx)


@PROPERTY
@given(when=moments(), note=texts, reason=texts, skip=st.booleans())
def test_mark_and_skip_dialog_values(ctx: ServiceContext, when, note, reason, skip) -> None:
    if counts(ctx)["Episode"] == 0:
        make_pump_episode(ctx, "M-1")
    episode_id = 1
    m = episode_view(ctx, episode_id).stages[0].milestones[0]
    if skip:
        wrote = all_or_nothing(
            ctx, lambda: mark_skipped(ctx, m.id, reason, expected_version=m.version)
        )
    else:
        wrote = all_or_nothing(
            ctx, lambda: mark_done(ctx, m.id, done_at=when, note=note, expected_version=m.version)
        )
    if wrote:
        undo_mark(ctx, m.id)
    chain_ok(ctx)


@PROPERTY
@given(
    at=moments(),
    added=numbers,
    aspirated=numbers,
    residual_left=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0)),
    concentration=numbers,
    unit=st.sampled_from(["mg/mL", "mcg/mL", "mL", "", "µg/mL", "MG/ML"]),
    drug=st.sampled_from(["morphine", "baclofen", "", "unknown"]),
    lot=texts,
    expiry=dates,
    checker=st.sampled_from(["Nurse B", "Nurse A", "", "x" * 300]),
    location=st.sampled_from(["template", "", "guess"]),
    notes=texts,
)
def test_refill_dialog_values(
    ctx: ServiceContext,
    at,
    added,
    aspirated,
    residual_left,
    concentration,
    unit,
    drug,
    lot,
    expiry,
    checker,
    location,
    notes,
) -> None:
    if counts(ctx)["Fill"] == 0:
        implant(ctx, make_pump_episode(ctx, "F-1"))
    draft = replace(
        fill(at or IMPLANT + timedelta(days=20)),
        filled_at=at,
        added_ml=added,
        aspirated_ml=aspirated,
        residual_left_ml=residual_left,
        concentration=concentration,
        concentration_unit=unit,
        drug_key=drug,
        lot=lot,
        expiry_on=expiry,
        second_checker=checker,
        location_method=location,
        notes=notes,
    )
    before = counts(ctx)
    preview = preview_refill(ctx, 1, draft)  # writes nothing, raises nothing
    assert counts(ctx) == before
    assert isinstance(preview.errors, dict)
    all_or_nothing(ctx, lambda: record_refill(ctx, 1, draft))
    chain_ok(ctx)


def test_a_good_refill_still_goes_through(ctx: ServiceContext) -> None:
    """The generators above are not all refusals: the baseline draft is accepted."""
    implant(ctx, make_pump_episode(ctx, "G-1"))
    draft = fill(IMPLANT + timedelta(days=20), aspirated_ml=10.0)
    assert not preview_refill(ctx, 1, draft).errors
    assert all_or_nothing(ctx, lambda: record_refill(ctx, 1, draft))
