"""Hospital stay and recovery rules: the expected-stay boundary, restriction end dates across
month ends and leap years, the discharge checklist and its override, complications, red flags,
and the loader of ``recovery.toml``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathway_app.domain.errors import TemplateError, ValidationError
from pathway_app.domain.recovery import (
    Complication,
    Mark,
    MonitoringNote,
    RecoveryConfig,
    StayConfig,
    WoundCareInstruction,
    complication_summary,
    default_restriction_end,
    discharge_blockers,
    discharge_decision,
    expected_stay_text,
    length_of_stay,
    load_recovery,
    open_complications,
    restriction_end,
    restrictions_active,
    stay_days,
    stay_flag,
    urgent_items,
    validate_complication,
    validate_monitoring_note,
    validate_restriction_end,
    validate_stay,
    validate_wound_care,
)

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "recovery.toml"
BRUSSELS = ZoneInfo("Europe/Brussels")
STAY = StayConfig(expected_min_days=1, expected_max_days=2)


@pytest.fixture(scope="module")
def config() -> RecoveryConfig:
    return load_recovery(SHIPPED)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- the shipped file -------------------------------------------------------------------------


def test_shipped_file_loads_with_the_issue_lists(config: RecoveryConfig) -> None:
    assert (config.stay.expected_min_days, config.stay.expected_max_days) == (1, 2)
    r = config.restrictions
    assert (r.window_min_weeks, r.window_max_weeks, r.default_weeks) == (6, 8, 8)
    assert [i.key for i in r.items] == [
        "no-bending-twisting",
        "no-lifting",
        "no-arms-overhead",
        "incision-clean-dry",
    ]
    assert [c.key for c in config.discharge_checklist] == [
        "wound-care-taught",
        "restrictions-explained",
        "implant-card-issued",
        "refill-plan-explained",
        "red-flags-explained",
        "first-follow-up-booked",
    ]
    keys = {c.key for c in config.complications}
    assert {
        "infection",
        "catheter-malfunction",
        "pump-malfunction",
        "bleeding",
        "allergic-reaction",
        "csf-leak",
        "overdose",
        "underdose-withdrawal",
        "pocket-fill",
        "seroma-hematoma-hygroma",
        "catheter-tip-granuloma",
        "neurological-injury",
    } <= keys
    assert config.complication("other").requires_detail
    assert [s.key for s in config.severities] == ["mild", "moderate", "severe"]
    assert {"fever", "positional-headache", "new-bulge", "bowel-bladder-change"} <= {
        f.key for f in config.red_flags
    }


def test_shipped_file_marks_unverified_and_clinic_defaults(config: RecoveryConfig) -> None:
    assert config.mark("followup.items.wound-check.due") is Mark.UNVERIFIED
    assert config.mark("followup.items.wound-check.window_opens") is Mark.UNVERIFIED
    assert config.mark("restrictions.default_weeks") is Mark.CLINIC_DEFAULT
    assert config.mark("severity.levels") is Mark.CLINIC_DEFAULT
    assert config.mark("stay.expected_max_days") is Mark.CLINIC_DEFAULT
    assert config.mark("followup.items.pump-function-check.repeat_every_months") is (
        Mark.CLINIC_DEFAULT
    )
    # sourced [V] values carry no mark
    assert config.mark("restrictions.window_min_weeks") is None
    # every plan item without a source for its date says so
    for item in config.followup.items:
        assert "due" in item.unverified | item.clinic_defaults


# --- loader errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("expected_max_days = 2", 'expected_max_days = "two"', "[stay].expected_max_days"),
        ("expected_min_days = 1", "expected_min_days = 3", "[stay].expected_min_days"),
        ("expected_max_days = 2", "expected_max_days = 2\nmax_days = 4", "[stay].max_days"),
        ("default_weeks = 8", "default_weeks = 9", "[restrictions].default_weeks"),
        ("window_min_weeks = 6", "window_min_weeks = 10", "[restrictions].window_min_weeks"),
        (
            'clinic_defaults = ["default_weeks"]',
            'clinic_defaults = ["default_days"]',
            "[restrictions].clinic_defaults",
        ),
        (
            'key = "restrictions-explained"',
            'key = "wound-care-taught"',
            "[discharge].checklist[1].key",
        ),
        ('key = "wound-care-taught"', 'key = ""', "[discharge].checklist[0].key"),
        ("requires_detail = true", 'requires_detail = "yes"', "requires_detail"),
        ('refill_visits = "refill-engine"', 'refill_visits = "plan"', "[followup].refill_visits"),
        ("due = { days = 14 }", "due = { fortnights = 1 }", "[followup].items[0].due.fortnights"),
        ("due = { days = 14 }", "due = { days = 0 }", "[followup].items[0].due"),
        ("due = { days = 14 }", "due = { days = -3 }", "[followup].items[0].due.days"),
        (
            "window_opens = { days = 7 }",
            "window_opens = { days = 21 }",
            "[followup].items[0].window_opens",
        ),
        ("repeat_every_months = 6\n", "", "[followup].items[2].repeat_count"),
        ("repeat_count = 4\n", "", "[followup].items[2].repeat_every_months"),
        (
            'unverified = ["due", "window_opens"]',
            'unverified = ["due"]\nclinic_defaults = ["due"]',
            "[followup].items[0].clinic_defaults",
        ),
        ("[recovery]\nversion = 1", "[recovery]\nversion = 0", "[recovery].version"),
    ],
)
def test_broken_file_is_refused_naming_file_and_key(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "recovery.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        load_recovery(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message


def test_missing_table_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    path = tmp_path / "recovery.toml"
    path.write_text(text.split("[followup]")[0], encoding="utf-8")
    with pytest.raises(TemplateError, match=r"recovery\.toml: followup must be a table"):
        load_recovery(path)
    path.write_text("[stay\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="not valid TOML"):
        load_recovery(path)
    with pytest.raises(TemplateError, match="cannot be read"):
        load_recovery(tmp_path / "missing.toml")


# --- length of stay ---------------------------------------------------------------------------


def test_length_of_stay_refuses_discharge_before_admission() -> None:
    admitted = utc(2027, 3, 1, 14, 0)
    assert length_of_stay(admitted, admitted + timedelta(hours=20)) == timedelta(hours=20)
    assert length_of_stay(admitted, admitted) == timedelta(0)
    with pytest.raises(ValidationError) as info:
        length_of_stay(admitted, admitted - timedelta(microseconds=1))
    assert "discharged_at" in info.value.field_errors
    with pytest.raises(ValidationError):
        length_of_stay(datetime(2027, 3, 1, 14, 0), admitted)


def test_days_are_midnights_crossed() -> None:
    admitted = utc(2027, 3, 1, 23, 30)
    assert stay_days(admitted, utc(2027, 3, 1, 23, 59), UTC) == 0
    assert stay_days(admitted, utc(2027, 3, 2, 0, 10), UTC) == 1  # 40 minutes, one night
    assert stay_days(utc(2027, 3, 1, 0, 5), utc(2027, 3, 2, 23, 55), UTC) == 1  # ~48 h


def test_expected_stay_boundary_for_a_discharged_patient() -> None:
    admitted = utc(2027, 3, 1, 14, 0)
    last_ok = utc(2027, 3, 3, 23, 59, 59, 999999)
    assert stay_flag(admitted, last_ok, last_ok, STAY, UTC) is None
    too_long = utc(2027, 3, 4, 0, 0)
    flag = stay_flag(admitted, too_long, too_long, STAY, UTC)
    assert flag == "Stay of 3 days was longer than the expected 1-2 days."


def test_running_stay_is_flagged_from_the_exact_local_midnight() -> None:
    admitted = datetime(2027, 3, 1, 9, 0, tzinfo=BRUSSELS)
    # local midnight beginning 4 March in Brussels (UTC+1) is 23:00 UTC on 3 March
    boundary = utc(2027, 3, 3, 23, 0)
    assert stay_flag(admitted, None, boundary - timedelta(microseconds=1), STAY, BRUSSELS) is None
    assert stay_flag(admitted, None, boundary, STAY, BRUSSELS) == (
        "In hospital for 3 days, longer than the expected 1-2 days."
    )
    assert stay_flag(admitted, None, boundary + timedelta(microseconds=1), STAY, BRUSSELS)


def test_configured_expected_stay_is_used() -> None:
    admitted = utc(2027, 3, 1, 9)
    assert stay_flag(admitted, utc(2027, 3, 5, 9), utc(2027, 3, 9), StayConfig(2, 4), UTC) is None
    assert stay_flag(admitted, utc(2027, 3, 2, 9), utc(2027, 3, 9), StayConfig(0, 0), UTC)
    assert expected_stay_text(StayConfig(1, 1)) == "1 day"


@given(
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    first=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
    more=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
)
def test_a_running_stay_once_flagged_stays_flagged(
    start: datetime, first: timedelta, more: timedelta
) -> None:
    if stay_flag(start, None, start + first, STAY, UTC) is not None:
        assert stay_flag(start, None, start + first + more, STAY, UTC) is not None


def test_validate_stay() -> None:
    now = utc(2027, 3, 5, 12)
    assert validate_stay(utc(2027, 3, 1), None, now) == (utc(2027, 3, 1), None)
    with pytest.raises(ValidationError) as info:
        validate_stay(utc(2027, 3, 6), utc(2027, 3, 7), now)
    assert set(info.value.field_errors) == {"admitted_at", "discharged_at"}
    with pytest.raises(ValidationError) as info:
        validate_stay(utc(2027, 3, 2), utc(2027, 3, 1), now)
    assert info.value.field_errors == {"discharged_at": "The discharge is before the admission."}
    with pytest.raises(ValidationError) as info:
        validate_stay(None, None, now)
    assert "admitted_at" in info.value.field_errors


def test_monitoring_note_and_wound_care_are_validated() -> None:
    now = utc(2027, 3, 2, 12)
    admitted = utc(2027, 3, 1, 8)
    note = validate_monitoring_note(
        MonitoringNote(utc(2027, 3, 1, 20), " Nurse A ", " Wound dry, no headache. "),
        admitted_at=admitted,
        now=now,
    )
    assert (note.author, note.text) == ("Nurse A", "Wound dry, no headache.")
    with pytest.raises(ValidationError) as info:
        validate_monitoring_note(
            MonitoringNote(utc(2027, 3, 1, 7), "", ""), admitted_at=admitted, now=now
        )
    assert set(info.value.field_errors) == {"at", "author", "text"}
    record = validate_wound_care(
        WoundCareInstruction("Nurse B", utc(2027, 3, 2, 10)), operation_at=admitted, now=now
    )
    assert record.given_by == "Nurse B"
    with pytest.raises(ValidationError) as info:
        validate_wound_care(
            WoundCareInstruction(" ", utc(2027, 3, 3)), operation_at=admitted, now=now
        )
    assert set(info.value.field_errors) == {"given_by", "given_at"}


# --- activity restrictions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation_on", "weeks", "end_on"),
    [
        (date(2028, 1, 4), 8, date(2028, 2, 29)),  # lands on the leap day
        (date(2027, 1, 4), 8, date(2027, 3, 1)),  # same date in a common year: 1 March
        (date(2027, 12, 31), 8, date(2028, 2, 25)),  # across the year end
        (date(2028, 2, 29), 6, date(2028, 4, 11)),  # from the leap day
        (date(2028, 2, 29), 8, date(2028, 4, 25)),
        (date(2027, 1, 31), 6, date(2027, 3, 14)),  # across a short February
        (date(2027, 10, 31), 8, date(2027, 12, 26)),
        (date(2027, 11, 30), 6, date(2028, 1, 11)),
    ],
)
def test_restriction_end_across_month_ends_and_leap_years(
    operation_on: date, weeks: int, end_on: date
) -> None:
    assert restriction_end(operation_on, weeks) == end_on


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)), st.integers(1, 52))
def test_restriction_end_is_exactly_that_many_weeks(operation_on: date, weeks: int) -> None:
    end = restriction_end(operation_on, weeks)
    assert end - operation_on == timedelta(weeks=weeks)
    assert end.weekday() == operation_on.weekday()


def test_restriction_end_refuses_nonsense_weeks() -> None:
    with pytest.raises(ValidationError):
        restriction_end(date(2027, 1, 1), 0)


def test_default_end_is_eight_weeks(config: RecoveryConfig) -> None:
    assert default_restriction_end(date(2028, 1, 4), config.restrictions) == date(2028, 2, 29)


def test_restrictions_are_shown_through_the_end_day() -> None:
    end = date(2028, 2, 29)
    assert restrictions_active(end, date(2028, 2, 28))
    assert restrictions_active(end, end)
    assert not restrictions_active(end, date(2028, 3, 1))
    assert not restrictions_active(end, date(2028, 1, 3), operation_on=date(2028, 1, 4))
    assert restrictions_active(end, date(2028, 1, 4), operation_on=date(2028, 1, 4))


def test_adjusted_end_outside_the_window_is_warned(config: RecoveryConfig) -> None:
    op = date(2028, 1, 4)
    assert validate_restriction_end(op, date(2028, 2, 15), config.restrictions) is None  # 6 w
    warning = validate_restriction_end(op, date(2028, 2, 14), config.restrictions)
    assert warning is not None and "6 weeks" in warning
    assert validate_restriction_end(op, date(2028, 3, 1), config.restrictions) is not None
    with pytest.raises(ValidationError):
        validate_restriction_end(op, op, config.restrictions)


# --- discharge checklist ----------------------------------------------------------------------


def test_discharge_blocked_then_overridden(config: RecoveryConfig) -> None:
    checklist = config.discharge_checklist
    ticked = {"wound-care-taught", "restrictions-explained", "implant-card-issued", "gone"}
    blockers = discharge_blockers(checklist, ticked)
    assert [b.key for b in blockers] == [
        "refill-plan-explained",
        "red-flags-explained",
        "first-follow-up-booked",
    ]
    for reason in ("", "   "):
        with pytest.raises(ValidationError) as info:
            discharge_decision(blockers, reason)
        message = info.value.field_errors["override_reason"]
        assert "3 checklist items open" in message
        assert "Refill plan explained" in message
    decision = discharge_decision(blockers, "  Follow-up clinic books by phone  ")
    assert decision.overridden
    assert decision.override_reason == "Follow-up clinic books by phone"
    assert decision.open_items == (
        "refill-plan-explained",
        "red-flags-explained",
        "first-follow-up-booked",
    )


def test_discharge_with_everything_ticked_needs_no_reason(config: RecoveryConfig) -> None:
    all_keys = {c.key for c in config.discharge_checklist}
    assert discharge_blockers(config.discharge_checklist, all_keys) == ()
    decision = discharge_decision((), "")
    assert not decision.overridden and decision.open_items == ()


# --- complications ----------------------------------------------------------------------------

OP = date(2027, 3, 1)
TODAY = date(2027, 4, 1)


def test_valid_complication_is_trimmed(config: RecoveryConfig) -> None:
    entry = Complication("csf-leak", OP, "mild", "  Bed rest, fluids  ")
    result = validate_complication(entry, operation_on=OP, today=TODAY, config=config)
    assert result.action_taken == "Bed rest, fluids"
    same_day = Complication("infection", OP, "severe", resolved_on=OP)
    assert validate_complication(same_day, operation_on=OP, today=TODAY, config=config)


@pytest.mark.parametrize(
    ("entry", "fields"),
    [
        (Complication("infection", date(2027, 2, 28), "mild"), {"onset_on"}),
        (Complication("infection", date(2027, 4, 2), "mild"), {"onset_on"}),
        (Complication("infection", None, "mild"), {"onset_on"}),
        (
            Complication("infection", date(2027, 3, 10), "mild", resolved_on=date(2027, 3, 9)),
            {"resolved_on"},
        ),
        (
            Complication("infection", date(2027, 3, 10), "mild", resolved_on=date(2027, 4, 2)),
            {"resolved_on"},
        ),
        (Complication("sunburn", OP, "mild"), {"category"}),
        (Complication("infection", OP, "catastrophic"), {"severity"}),
        (Complication("other", OP, "mild", detail=" "), {"detail"}),
        (Complication("nope", date(2027, 1, 1), "?"), {"category", "severity", "onset_on"}),
    ],
)
def test_complication_dates_and_lists_are_validated(
    config: RecoveryConfig, entry: Complication, fields: set[str]
) -> None:
    with pytest.raises(ValidationError) as info:
        validate_complication(entry, operation_on=OP, today=TODAY, config=config)
    assert set(info.value.field_errors) == fields


def test_open_complications_for_the_worklist_row(config: RecoveryConfig) -> None:
    entries = [
        Complication("csf-leak", date(2027, 3, 2), "mild"),
        Complication("bleeding", date(2027, 3, 1), "moderate", resolved_on=date(2027, 3, 5)),
        Complication("infection", date(2027, 3, 12), "severe"),
    ]
    assert [e.category for e in open_complications(entries)] == ["csf-leak", "infection"]
    assert complication_summary(entries, config) == (
        "Infection at the incision or pump pocket (Severe); "
        "Spinal-fluid (CSF) leak or positional headache (Mild)"
    )
    assert complication_summary([], config) == ""


# --- red flags --------------------------------------------------------------------------------


def test_ticked_red_flags_create_urgent_items(config: RecoveryConfig) -> None:
    at = utc(2027, 3, 20, 9, 15)
    items = urgent_items({"positional-headache", "fever"}, at, config.red_flags, "Called back")
    assert [i.flag_key for i in items] == ["fever", "positional-headache"]  # list order
    assert items[0].title == "Red flag: Fever"
    assert all(i.raised_at == at and i.note == "Called back" for i in items)
    assert urgent_items(set(), at, config.red_flags) == ()


def test_unknown_red_flag_or_naive_time_is_refused(config: RecoveryConfig) -> None:
    with pytest.raises(ValidationError, match="headache-ish"):
        urgent_items({"headache-ish"}, utc(2027, 3, 20), config.red_flags)
    with pytest.raises(ValidationError):
        urgent_items({"fever"}, datetime(2027, 3, 20), config.red_flags)
