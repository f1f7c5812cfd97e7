"""Follow-up plan rules: plan proposal from the operation date, recurring series with rrule,
editing one occurrence or the whole series, missed evaluation at the exact due moment, status
changes and closing reasons."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.followup import (
    CloseKind,
    FollowUpConfig,
    FollowUpItem,
    FollowUpStatus,
    Offset,
    PlanItemDef,
    add_item,
    change_status,
    close_episode_reason,
    evaluate_missed,
    is_missed_at,
    make_series,
    missed_from,
    move_occurrence,
    move_series,
    needs_attention,
    on_worklist,
    propose_plan,
    resolve_missed,
    series_dates,
)
from pathway_app.domain.recovery import load_recovery

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "recovery.toml"
BRUSSELS = ZoneInfo("Europe/Brussels")
P = FollowUpStatus


@pytest.fixture(scope="module")
def plan() -> FollowUpConfig:
    return load_recovery(SHIPPED).followup


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- offsets and plan proposal ----------------------------------------------------------------


def test_offsets_use_calendar_months() -> None:
    assert Offset(months=1).after(date(2028, 1, 31)) == date(2028, 2, 29)
    assert Offset(months=1).after(date(2027, 1, 31)) == date(2027, 2, 28)
    assert Offset(years=1).after(date(2028, 2, 29)) == date(2029, 2, 28)
    assert Offset(days=14).after(date(2027, 12, 25)) == date(2028, 1, 8)
    assert Offset(years=1, weeks=2).describe() == "1 year, 2 weeks"


def test_plan_proposed_from_the_operation_date(plan: FollowUpConfig) -> None:
    op = date(2028, 2, 20)
    items = propose_plan(op, plan, today=date(2028, 2, 22), drug="morphine")
    wound = next(i for i in items if i.key == "wound-check")
    assert wound.due_on == date(2028, 3, 5)  # day 14, across the leap day
    assert wound.window_opens_on == date(2028, 2, 27)  # day 7
    assert wound.status is P.PLANNED and wound.series_id is None
    assert next(i for i in items if i.key == "dose-adjustment").due_on == date(2028, 3, 19)
    checks = [i for i in items if i.key == "pump-function-check"]
    assert [c.due_on for c in checks] == [
        date(2028, 5, 20),
        date(2028, 11, 20),
        date(2029, 5, 20),
        date(2029, 11, 20),
    ]
    assert [c.occurrence for c in checks] == [0, 1, 2, 3]
    assert {c.series_id for c in checks} == {"pump-function-check"}
    assert [i.due_on for i in items] == sorted(i.due_on for i in items)
    # refill visits come from the refill engine, never from the plan
    assert not any("refill" in (i.key + i.purpose).lower() for i in items)


def test_drug_specific_items(plan: FollowUpConfig) -> None:
    op = date(2027, 5, 3)
    opioid = propose_plan(op, plan, today=op, drug="morphine")
    baclofen = propose_plan(op, plan, today=op, drug="baclofen")
    assert any(i.key == "opioid-dose-trend" for i in opioid)
    assert not any(i.key == "opioid-dose-trend" for i in baclofen)
    assert not any(i.key == "opioid-dose-trend" for i in propose_plan(op, plan, today=op))


def test_plan_is_not_proposed_before_the_operation(plan: FollowUpConfig) -> None:
    with pytest.raises(ValidationError) as info:
        propose_plan(date(2027, 5, 3), plan, today=date(2027, 5, 2))
    assert "operation_on" in info.value.field_errors


def test_recurring_plan_item_window_follows_each_occurrence() -> None:
    definition = PlanItemDef(
        key="check",
        purpose="Check",
        due=Offset(months=1),
        window_opens=Offset(months=1, days=-7),
        repeat_every_months=1,
        repeat_count=3,
    )
    items = propose_plan(date(2027, 1, 10), FollowUpConfig((definition,)), today=date(2027, 1, 10))
    assert [(i.due_on - i.window_opens_on).days for i in items if i.window_opens_on] == [7, 7, 7]


# --- series -----------------------------------------------------------------------------------


def test_series_clamps_to_month_end_instead_of_skipping() -> None:
    assert series_dates(date(2027, 8, 31), 6, count=4) == (
        date(2027, 8, 31),
        date(2028, 2, 29),
        date(2028, 8, 31),
        date(2029, 2, 28),
    )
    assert series_dates(date(2028, 1, 31), 1, count=4) == (
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
    )
    assert series_dates(date(2028, 1, 30), 1, until=date(2028, 4, 30)) == (
        date(2028, 1, 30),
        date(2028, 2, 29),
        date(2028, 3, 30),
        date(2028, 4, 30),  # until is inclusive
    )
    assert series_dates(date(2027, 5, 15), 3, until=date(2028, 2, 14)) == (
        date(2027, 5, 15),
        date(2027, 8, 15),
        date(2027, 11, 15),
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"every_months": 0, "count": 2}, "every_months"),
        ({"every_months": 3}, "count"),
        ({"every_months": 3, "count": 2, "until": date(2028, 1, 1)}, "count"),
        ({"every_months": 3, "count": 0}, "count"),
        ({"every_months": 3, "count": 10_000}, "count"),
        ({"every_months": 3, "until": date(2026, 1, 1)}, "until"),
        ({"every_months": 1, "until": date(2100, 1, 1)}, "until"),
    ],
)
def test_series_parameters_are_checked(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        series_dates(date(2027, 1, 1), **kwargs)  # type: ignore[arg-type]
    assert field in info.value.field_errors


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31)),
    every=st.integers(1, 24),
    count=st.integers(1, 30),
)
def test_rrule_series_strictly_increasing_and_matches_relativedelta(
    start: date, every: int, count: int
) -> None:
    dates = series_dates(start, every, count=count)
    assert len(dates) == count
    assert all(a < b for a, b in itertools.pairwise(dates))
    assert list(dates) == [start + relativedelta(months=every * i) for i in range(count)]


def _series() -> tuple[FollowUpItem, ...]:
    return make_series("Pump-function check", date(2027, 6, 1), 3, series_id="pfc", count=5)


TODAY = date(2027, 5, 1)


def test_move_one_occurrence_leaves_the_others() -> None:
    series = _series()
    moved = move_occurrence(series, "pfc", 2, date(2027, 12, 10), today=TODAY)
    assert [i.due_on for i in moved] == [
        date(2027, 6, 1),
        date(2027, 9, 1),
        date(2027, 12, 10),
        date(2028, 3, 1),
        date(2028, 6, 1),
    ]
    assert moved[2].occurrence == 2 and moved[2].series_id == "pfc"


def test_move_series_shifts_this_and_later_open_occurrences_only() -> None:
    series = list(_series())
    series[3] = replace(series[3], status=P.DONE, done_at=utc(2027, 2, 1))  # done early
    series[4] = replace(series[4], status=P.BOOKED)
    moved = move_series(series, "pfc", 1, date(2027, 9, 8), today=TODAY)
    assert [i.due_on for i in moved] == [
        date(2027, 6, 1),  # earlier occurrence unchanged
        date(2027, 9, 8),
        date(2027, 12, 8),
        date(2028, 3, 1),  # done: kept
        date(2028, 6, 8),
    ]
    assert moved[4].status is P.BOOKED


def test_move_series_keeps_missed_and_single_move_of_done_is_refused() -> None:
    series = list(_series())
    series[0] = replace(series[0], status=P.MISSED, missed_on=series[0].due_on)
    with pytest.raises(InvalidTransition):
        move_occurrence(series, "pfc", 0, date(2027, 7, 1), today=TODAY)
    with pytest.raises(InvalidTransition):
        move_series(series, "pfc", 0, date(2027, 7, 1), today=TODAY)
    moved = move_series(series, "pfc", 1, date(2027, 10, 1), today=TODAY)
    assert moved[0] == series[0]


def test_moves_into_the_past_or_to_unknown_occurrences_are_refused() -> None:
    series = _series()
    with pytest.raises(ValidationError):
        move_occurrence(series, "pfc", 1, date(2027, 4, 30), today=TODAY)
    with pytest.raises(ValidationError):
        move_series(series, "pfc", 0, date(2027, 4, 30), today=TODAY)
    with pytest.raises(ValidationError):
        move_occurrence(series, "pfc", 9, date(2027, 7, 1), today=TODAY)
    with pytest.raises(ValidationError):
        move_occurrence(series, "other", 0, date(2027, 7, 1), today=TODAY)


def test_several_independent_follow_ups_at_once() -> None:
    items = (
        *_series(),
        *make_series("Dose review", date(2027, 6, 1), 12, series_id="dose", count=2),
        add_item("Wound check", date(2027, 5, 14), today=TODAY),
    )
    moved = move_series(items, "dose", 0, date(2027, 6, 15), today=TODAY)
    assert [i.due_on for i in moved if i.series_id == "pfc"] == [
        i.due_on for i in items if i.series_id == "pfc"
    ]
    assert [i.due_on for i in moved if i.series_id == "dose"] == [
        date(2027, 6, 15),
        date(2028, 6, 15),
    ]


def test_add_item_is_validated() -> None:
    assert add_item("  Phone call ", TODAY, today=TODAY).purpose == "Phone call"
    with pytest.raises(ValidationError) as info:
        add_item(" ", date(2027, 4, 30), today=TODAY)
    assert set(info.value.field_errors) == {"purpose", "due_on"}


# --- missed evaluation ------------------------------------------------------------------------

DUE = date(2027, 3, 10)


def _item(status: FollowUpStatus = P.PLANNED) -> FollowUpItem:
    return FollowUpItem("Wound check", DUE, status)


@pytest.mark.parametrize(
    ("offset", "missed"),
    [(-timedelta(microseconds=1), False), (timedelta(0), True), (timedelta(microseconds=1), True)],
)
def test_missed_at_the_exact_due_moment_utc(offset: timedelta, missed: bool) -> None:
    moment = missed_from(DUE, UTC)
    assert moment == utc(2027, 3, 11, 0, 0)
    (result,) = evaluate_missed([_item()], moment + offset, UTC)
    assert (result.status is P.MISSED) is missed
    assert is_missed_at(_item(P.BOOKED), moment + offset, UTC) is missed


@pytest.mark.parametrize(
    ("due", "boundary_utc"),
    [
        (date(2027, 3, 10), utc(2027, 3, 10, 23, 0)),  # winter, UTC+1
        (date(2027, 3, 27), utc(2027, 3, 27, 23, 0)),  # night before summer time starts
        (date(2027, 7, 1), utc(2027, 7, 1, 22, 0)),  # summer, UTC+2
        (date(2027, 10, 30), utc(2027, 10, 30, 22, 0)),  # night before winter time returns
    ],
)
def test_missed_at_the_exact_local_midnight(due: date, boundary_utc: datetime) -> None:
    assert missed_from(due, BRUSSELS) == boundary_utc
    item = FollowUpItem("Call", due, P.BOOKED)
    before = evaluate_missed([item], boundary_utc - timedelta(microseconds=1), BRUSSELS)
    at = evaluate_missed([item], boundary_utc, BRUSSELS)
    assert before[0].status is P.BOOKED
    assert at[0].status is P.MISSED and at[0].missed_on == due


def test_missed_from_without_zone_uses_the_workstation_zone() -> None:
    # the test suite runs with TZ=UTC (tests/conftest.py)
    assert missed_from(DUE) == utc(2027, 3, 11)


def test_only_open_items_become_missed() -> None:
    now = utc(2027, 4, 1)
    done = replace(_item(P.DONE), done_at=utc(2027, 3, 9))
    cancelled = replace(_item(P.CANCELLED), cancel_reason="Seen elsewhere")
    later = FollowUpItem("Later", date(2027, 4, 1))
    result = evaluate_missed([done, cancelled, _item(P.BOOKED), later], now, UTC)
    assert [i.status for i in result] == [P.DONE, P.CANCELLED, P.MISSED, P.PLANNED]


def test_evaluate_missed_needs_an_aware_time() -> None:
    with pytest.raises(ValidationError):
        evaluate_missed([_item()], datetime(2027, 4, 1), UTC)


_statuses = st.sampled_from(list(FollowUpStatus))
_items = st.lists(
    st.builds(
        FollowUpItem,
        purpose=st.just("Visit"),
        due_on=st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 12, 31)),
        status=_statuses,
    ),
    max_size=12,
)
_moments = st.datetimes(
    min_value=datetime(2026, 12, 1), max_value=datetime(2028, 2, 1), timezones=st.just(UTC)
)


@given(items=_items, now=_moments, later=st.timedeltas(timedelta(0), timedelta(days=400)))
def test_evaluate_missed_is_idempotent_and_never_unmisses(
    items: list[FollowUpItem], now: datetime, later: timedelta
) -> None:
    once = evaluate_missed(items, now, UTC)
    assert evaluate_missed(once, now, UTC) == once
    for before, after in zip(items, once, strict=True):
        if before.status is P.MISSED or not before.is_open:
            assert after == before
        assert after.due_on == before.due_on
    # time moving on only adds missed items
    again = evaluate_missed(once, now + later, UTC)
    for first, second in zip(once, again, strict=True):
        if first.status is P.MISSED:
            assert second.status is P.MISSED


# --- worklist visibility ----------------------------------------------------------------------


def test_missed_items_stay_on_the_worklist_whatever_the_filter() -> None:
    missed = replace(_item(P.MISSED), due_on=date(2020, 1, 1))
    assert on_worklist(missed, date(2027, 6, 1), 0)
    assert on_worklist(FollowUpItem("x", date(2027, 6, 15)), date(2027, 6, 1), 14)
    assert not on_worklist(FollowUpItem("x", date(2027, 6, 16)), date(2027, 6, 1), 14)
    assert not on_worklist(_item(P.DONE), date(2027, 3, 1), 14)
    items = [_item(P.MISSED), missed, _item()]
    assert needs_attention(items) == (missed, _item(P.MISSED))


# --- status changes ---------------------------------------------------------------------------

NOW = utc(2027, 3, 10, 12)


def test_cancel_needs_a_reason() -> None:
    for reason in ("", "  "):
        with pytest.raises(ValidationError) as info:
            change_status(_item(), P.CANCELLED, now=NOW, reason=reason)
        assert "cancel_reason" in info.value.field_errors
    cancelled = change_status(_item(P.BOOKED), P.CANCELLED, now=NOW, reason=" Moved away ")
    assert cancelled.status is P.CANCELLED and cancelled.cancel_reason == "Moved away"


def test_done_needs_a_time_not_in_the_future() -> None:
    with pytest.raises(ValidationError, match="Enter when"):
        change_status(_item(), P.DONE, now=NOW)
    with pytest.raises(ValidationError, match="future"):
        change_status(_item(), P.DONE, now=NOW, done_at=NOW + timedelta(microseconds=1))
    with pytest.raises(ValidationError, match="time zone"):
        change_status(_item(), P.DONE, now=NOW, done_at=datetime(2027, 3, 10, 9))
    done = change_status(_item(), P.DONE, now=NOW, done_at=NOW)
    assert done.status is P.DONE and done.done_at == NOW


def test_booking_and_unbooking() -> None:
    booked = change_status(_item(), P.BOOKED, now=NOW)
    assert booked.status is P.BOOKED
    assert change_status(booked, P.PLANNED, now=NOW).status is P.PLANNED


def test_final_and_missed_statuses_cannot_be_changed_directly() -> None:
    done = replace(_item(P.DONE), done_at=NOW)
    with pytest.raises(InvalidTransition):
        change_status(done, P.PLANNED, now=NOW)
    with pytest.raises(InvalidTransition, match="resolve"):
        change_status(_item(P.MISSED), P.DONE, now=NOW, done_at=NOW)


def test_no_show_can_be_marked_missed_from_the_due_day() -> None:
    early = utc(2027, 3, 9, 23, 59, 59, 999999)
    with pytest.raises(InvalidTransition):
        change_status(_item(P.BOOKED), P.MISSED, now=early, tz=UTC)
    missed = change_status(_item(P.BOOKED), P.MISSED, now=utc(2027, 3, 10), tz=UTC)
    assert missed.status is P.MISSED and missed.missed_on == DUE


def test_resolve_missed_needs_a_reason_and_keeps_the_history() -> None:
    (missed,) = evaluate_missed([_item()], utc(2027, 3, 12), UTC)
    now = utc(2027, 3, 12, 9)
    with pytest.raises(ValidationError) as info:
        resolve_missed(missed, P.DONE, " ", now=now, done_at=now)
    assert "reason" in info.value.field_errors
    late = resolve_missed(missed, P.DONE, "Seen on the ward", now=now, done_at=now)
    assert (late.status, late.missed_on, late.resolution) == (P.DONE, DUE, "Seen on the ward")
    dropped = resolve_missed(missed, P.CANCELLED, "Seen by GP", now=now)
    assert dropped.cancel_reason == "Seen by GP"
    with pytest.raises(ValidationError):
        resolve_missed(missed, P.PLANNED, "Rebook", now=now, tz=UTC)
    with pytest.raises(ValidationError):
        resolve_missed(missed, P.PLANNED, "Rebook", now=now, new_due_on=date(2027, 3, 11), tz=UTC)
    rebooked = resolve_missed(
        missed, P.BOOKED, "Patient unwell", now=now, new_due_on=date(2027, 3, 15), tz=UTC
    )
    assert (rebooked.status, rebooked.due_on, rebooked.missed_on) == (
        P.BOOKED,
        date(2027, 3, 15),
        DUE,
    )
    # not missed again before its new due day has passed
    assert evaluate_missed([rebooked], utc(2027, 3, 15, 23), UTC)[0].status is P.BOOKED
    with pytest.raises(InvalidTransition):
        resolve_missed(_item(), P.DONE, "x", now=now, done_at=now)
    with pytest.raises(InvalidTransition):
        resolve_missed(missed, P.MISSED, "x", now=now)


# --- closing the episode ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CloseKind))
def test_episode_closes_only_with_a_reason(kind: CloseKind) -> None:
    closure = close_episode_reason(kind, "  Explanted after infection ")
    assert closure.kind is kind and closure.text == "Explanted after infection"
    with pytest.raises(ValidationError) as info:
        close_episode_reason(kind, "   ")
    assert "text" in info.value.field_errors


def test_close_kind_as_stored_text_and_unknown_kinds() -> None:
    closure = close_episode_reason("deceased", "Died at home")
    assert closure.kind is CloseKind.DECEASED
    assert closure.describe() == "Patient deceased: Died at home"
    with pytest.raises(ValidationError) as info:
        close_episode_reason("bored", "")
    assert set(info.value.field_errors) == {"kind", "text"}
