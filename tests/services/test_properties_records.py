"""Property-based tests for the dialogs added after the first ones (outcomes, complications,
follow-up items, fasting): extreme and malformed values give a result or a readable
`DomainError`, never another exception, and a refused action writes nothing in any table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from pathway_app.domain.errors import DomainError
from pathway_app.domain.outcomes import OralDose, OutcomeDraft
from pathway_app.domain.readiness import Intake
from pathway_app.domain.recovery import Complication
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup import add_followup, log_complication
from pathway_app.services.outcomes import record_outcome
from pathway_app.services.preparation import save_fasting
from pathway_app.storage.audit import verify_chain
from pathway_app.storage.orm import Base
from tests.services.test_properties import PROPERTY, dates, moments, numbers, texts
from tests.services.test_refill_service import implant
from tests.services.test_refill_service import make_episode as make_pump_episode


def table_counts(ctx: ServiceContext) -> dict[str, int]:
    with ctx.db.reading() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def all_or_nothing(ctx: ServiceContext, action: Callable[[], Any]) -> None:
    before = table_counts(ctx)
    try:
        action()
    except DomainError as exc:
        assert str(exc).strip(), "an error without a message"
        assert table_counts(ctx) == before, "a refused action wrote something"
        return
    after = table_counts(ctx)
    assert after["audit_entries"] > before["audit_entries"], "a write without an audit entry"
    with ctx.db.reading() as session:
        assert verify_chain(session).ok


@pytest.fixture
def episode_id(ctx: ServiceContext) -> int:
    """One implanted episode per test, shared by all of the test's generated examples."""
    episode = make_pump_episode(ctx)
    implant(ctx, episode)
    return episode


ints = st.one_of(st.none(), st.integers(-(10**6), 10**6), st.integers(-2, 12))
keys = st.one_of(texts, st.sampled_from(["baseline", "follow-up", "refill", "nausea", "oxycodone"]))


@PROPERTY
@given(
    assessed_on=dates,
    kind=keys,
    pain=ints,
    ashworth=st.one_of(st.none(), st.sampled_from(["0", "1", "1+", "2", "3", "4", "5", "x"])),
    function_text=texts,
    function_score=ints,
    oral=st.lists(st.tuples(keys, numbers), max_size=3),
    side_effects=st.frozensets(keys, max_size=3),
    other=texts,
)
def test_outcome_dialog_values(
    ctx: ServiceContext,
    episode_id: int,
    assessed_on,
    kind,
    pain,
    ashworth,
    function_text,
    function_score,
    oral,
    side_effects,
    other,
) -> None:
    draft = OutcomeDraft(
        assessed_on=assessed_on,
        kind=kind,
        pain_nrs=pain,
        ashworth=ashworth,
        function_text=function_text,
        function_score=function_score,
        oral=tuple(OralDose(drug, amount) for drug, amount in oral),
        side_effects=side_effects,
        side_effect_other=other,
    )
    all_or_nothing(ctx, lambda: record_outcome(ctx, episode_id, draft))


@PROPERTY
@given(
    category=keys | st.sampled_from(["infection-incision", "csf-leak", "other"]),
    onset=dates,
    severity=keys | st.sampled_from(["mild", "moderate", "severe"]),
    action=texts,
    resolved=dates,
    detail=texts,
)
def test_complication_dialog_values(
    ctx: ServiceContext, episode_id: int, category, onset, severity, action, resolved, detail
) -> None:
    entry = Complication(category, onset, severity, action, resolved, detail)
    all_or_nothing(ctx, lambda: log_complication(ctx, episode_id, entry))


@PROPERTY
@given(
    purpose=texts,
    due=dates,
    notes=texts,
    every=st.one_of(st.none(), st.integers(-3, 1000)),
    count=st.one_of(st.none(), st.integers(-3, 1000)),
)
def test_followup_item_dialog_values(
    ctx: ServiceContext, episode_id: int, purpose, due, notes, every, count
):
    all_or_nothing(
        ctx,
        lambda: add_followup(
            ctx, episode_id, purpose, due, notes=notes, every_months=every, count=count
        ),
    )


@PROPERTY
@given(
    start=moments(),
    intakes=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["clear_fluids", "light_meal", "fatty_meal"]), texts),
            moments(),
            st.booleans(),
        ),
        max_size=4,
    ),
)
def test_fasting_dialog_values(ctx: ServiceContext, episode_id: int, start, intakes) -> None:
    records = [Intake(kind, at, since) for kind, at, since in intakes]
    all_or_nothing(ctx, lambda: save_fasting(ctx, episode_id, start, records))


def test_sound_values_are_written(ctx: ServiceContext, episode_id: int) -> None:
    """The harness above can write: good values in each dialog are saved and audited."""
    before = table_counts(ctx)
    record_outcome(ctx, episode_id, OutcomeDraft(ctx.today(), "baseline", pain_nrs=4))
    add_followup(ctx, episode_id, "Pump function check", ctx.today())
    after = table_counts(ctx)
    assert after["audit_entries"] >= before["audit_entries"] + 2
