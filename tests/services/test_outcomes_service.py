"""Outcome services (issue 10): recording and correcting entries (one transaction, audit with
old and new values, viewer refused), the worklist summary kept by refresh_progress, the page's
read model with the IT dose series from the fills, and the alternatives discussed at consent.

Clock: 2026-11-26 10:00 UTC (TZ=UTC). Morphine episode, pump implanted 2026-10-01.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pathway_app.domain.errors import ConcurrentEdit, PermissionDenied, ValidationError
from pathway_app.domain.outcomes import OralDose, OutcomeDraft
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import FillDraft, ImplantDraft
from pathway_app.domain.refills import Explanation
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.outcomes import (
    correct_outcome,
    outcomes_view,
    record_consent_alternatives,
    record_outcome,
)
from pathway_app.services.patients import register_patient
from pathway_app.services.refills import record_implant, record_refill
from pathway_app.services.views import worklist
from pathway_app.storage.orm import AuditEntry
from tests.factories import morphine_fill


def make_episode(ctx: ServiceContext, indication: str = "noncancer-pain", mrn: str = "O-1") -> int:
    patient = register_patient(ctx, PatientDraft(mrn, "Outcome", "Olga", date(1960, 5, 1)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient,
            indication,
            "morphine" if "pain" in indication else "baclofen",
            "isomed-8472-20-05",
            date(2026, 10, 1),
            "Dr A",
            "hospital-or",
        ),
    )


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    return make_episode(ctx)


def visit(on: date, pain: int | None, kind: str = "follow-up", **kw: object) -> OutcomeDraft:
    return OutcomeDraft(assessed_on=on, kind=kind, pain_nrs=pain, **kw)  # type: ignore[arg-type]


def row_of(ctx: ServiceContext, episode_id: int):
    return next(r for r in worklist(ctx) if r.episode_id == episode_id)


def test_three_visits_give_the_summary_on_the_worklist(ctx: ServiceContext, episode: int) -> None:
    record_outcome(
        ctx,
        episode,
        visit(date(2026, 9, 1), 8, "baseline", oral=(OralDose("morphine", 100),)),
    )
    record_outcome(ctx, episode, visit(date(2026, 10, 15), 6, oral=(OralDose("morphine", 60),)))
    record_outcome(
        ctx, episode, visit(date(2026, 11, 20), 4, "refill", oral=(OralDose("morphine", 40),))
    )
    row = row_of(ctx, episode)
    assert row.outcome_summary == "pain −50 %, oral MME −60 mg/day"
    assert row.outcome_flag == ""
    view = outcomes_view(ctx, episode)
    assert [e.pain_nrs for e in view.entries] == [4, 6, 8]  # newest first
    assert view.has_baseline


def test_two_visit_rise_and_new_side_effect_flag_the_row(ctx: ServiceContext, episode: int) -> None:
    record_outcome(ctx, episode, visit(date(2026, 9, 1), 7, "baseline"))
    record_outcome(ctx, episode, visit(date(2026, 10, 1), 3))
    record_outcome(ctx, episode, visit(date(2026, 10, 20), 4))
    assert row_of(ctx, episode).outcome_flag == ""
    record_outcome(ctx, episode, visit(date(2026, 11, 20), 5, side_effects=frozenset({"itching"})))
    flag = row_of(ctx, episode).outcome_flag
    assert "pain rose at two consecutive visits" in flag
    assert "new side effect: itching" in flag


def test_bad_input_is_refused_per_field_and_nothing_is_written(
    ctx: ServiceContext, episode: int
) -> None:
    with pytest.raises(ValidationError) as info:
        record_outcome(ctx, episode, visit(date(2026, 11, 1), 12, oral=(OralDose("morphine", -3),)))
    assert set(info.value.field_errors) == {"pain_nrs", "oral.0"}
    assert outcomes_view(ctx, episode).entries == ()
    record_outcome(ctx, episode, visit(date(2026, 9, 1), 5, "baseline"))
    with pytest.raises(ValidationError) as info:
        record_outcome(ctx, episode, visit(date(2026, 9, 2), 5, "baseline"))
    assert "kind" in info.value.field_errors


def test_correction_keeps_old_and_new_in_the_audit(ctx: ServiceContext, episode: int) -> None:
    entry = record_outcome(ctx, episode, visit(date(2026, 9, 1), 8, "baseline"))
    record_outcome(ctx, episode, visit(date(2026, 11, 1), 6))
    version = outcomes_view(ctx, episode).entries[-1].version
    with pytest.raises(ValidationError) as info:
        correct_outcome(
            ctx, entry, visit(date(2026, 9, 1), 10, "baseline"), expected_version=version, reason=""
        )
    assert "reason" in info.value.field_errors
    correct_outcome(
        ctx,
        entry,
        visit(date(2026, 9, 1), 10, "baseline"),
        expected_version=version,
        reason="Typo",
    )
    assert row_of(ctx, episode).outcome_summary == "pain −40 %"
    with ctx.db.reading() as session:
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "outcome.corrected")
        ).one()
    data = json.loads(detail)
    assert data["old"]["pain_nrs"] == 8 and data["new"]["pain_nrs"] == 10
    assert data["new"]["reason"] == "Typo"
    with pytest.raises(ConcurrentEdit):
        correct_outcome(
            ctx,
            entry,
            visit(date(2026, 9, 1), 9, "baseline"),
            expected_version=version,
            reason="again",
        )


def test_a_viewer_cannot_record(ctx: ServiceContext, episode: int) -> None:
    ctx.role = "viewer"
    with pytest.raises(PermissionDenied):
        record_outcome(ctx, episode, visit(date(2026, 9, 1), 8, "baseline"))


def test_spasticity_episode_follows_ashworth(ctx: ServiceContext) -> None:
    episode = make_episode(ctx, "spasticity-spinal", "S-1")
    with pytest.raises(ValidationError) as info:
        record_outcome(ctx, episode, OutcomeDraft(date(2026, 9, 1), "baseline"))
    assert "ashworth" in info.value.field_errors
    record_outcome(ctx, episode, OutcomeDraft(date(2026, 9, 1), "baseline", ashworth="3"))
    record_outcome(ctx, episode, OutcomeDraft(date(2026, 11, 1), "follow-up", ashworth="1+"))
    assert row_of(ctx, episode).outcome_summary == "Ashworth 3 → 1+"
    assert [v for _, v in outcomes_view(ctx, episode).chart.scores] == [4.0, 2.0]


def test_chart_series_has_the_it_dose_from_the_fills(ctx: ServiceContext, episode: int) -> None:
    implanted = datetime(2026, 10, 1, 12, tzinfo=UTC)
    fill = morphine_fill(implanted)
    record_implant(
        ctx, ImplantDraft(episode, "isomed-8472-20-05", "SN-1", None, None, False, implanted, fill)
    )
    record_outcome(ctx, episode, visit(date(2026, 9, 1), 8, "baseline"))
    chart = outcomes_view(ctx, episode).chart
    assert chart.start == date(2026, 9, 1) and chart.end == date(2026, 11, 26)
    assert chart.it_doses == ((implanted, 5.0),)  # 10 mg/mL × 0.5 mL/day
    assert chart.it_unit == "mg/day"
    assert outcomes_view(ctx, episode).trend is None  # less than a year of fills


def test_consent_alternatives(ctx: ServiceContext, episode: int) -> None:
    with pytest.raises(ValidationError):
        record_consent_alternatives(ctx, episode, {"magic"}, expected_version=None)
    record_consent_alternatives(
        ctx, episode, {"oral-medication", "physiotherapy"}, expected_version=None
    )
    view = outcomes_view(ctx, episode)
    assert [a.key for a in view.alternatives if a.discussed] == ["oral-medication", "physiotherapy"]
    record_consent_alternatives(
        ctx, episode, {"nerve-block"}, expected_version=view.preparation_version
    )
    with pytest.raises(ConcurrentEdit):
        record_consent_alternatives(ctx, episode, set(), expected_version=view.preparation_version)


# Issue 7: the demo seeded on PostgreSQL is compared with SQLite's in tests/services/test_demo.py.
@pytest.mark.sqlite_only
def test_the_demo_has_outcomes_with_one_two_visit_rise(ctx: ServiceContext) -> None:
    from pathway_app.services.demo import seed_demo

    seed_demo(ctx)
    rows = [r for r in worklist(ctx) if r.outcome_summary]
    assert len(rows) >= 4
    assert any(r.outcome_summary.startswith("Ashworth") for r in rows)
    flagged = [r for r in rows if "rose at two consecutive visits" in r.outcome_flag]
    assert len(flagged) == 1


def test_a_rising_it_dose_over_a_year_prompts_on_the_page_model(ctx: ServiceContext) -> None:
    patient = register_patient(ctx, PatientDraft("T-1", "Trend", "Tom", date(1955, 5, 1)))
    episode = open_episode(
        ctx,
        EpisodeDraft(
            patient,
            "cancer-pain",
            "morphine",
            "isomed-8472-20-05",
            date(2026, 1, 5),
            "Dr A",
            "hospital-or",
        ),
    )
    at = datetime(2025, 11, 1, 9, tzinfo=UTC)

    def draft(when: datetime, concentration: float, aspirated: float | None) -> FillDraft:
        return FillDraft(
            filled_at=when,
            added_ml=20.0 if aspirated is None else round(20.0 - aspirated, 1),
            drug_key="morphine",
            concentration=concentration,
            concentration_unit="mg/mL",
            operator="Nurse A",
            second_checker="Nurse B",
            lot="LOT",
            expiry_on=date(2027, 12, 1),
            needle="Non-coring refill needle",
            location_method="template",
            aspirated_ml=aspirated,
        )

    record_implant(
        ctx,
        ImplantDraft(
            episode, "isomed-8472-20-05", "SN-T", None, None, False, at, draft(at, 4.0, None)
        ),
    )
    concentration = 4.0
    for step in range(1, 14):
        when = at + timedelta(days=30 * step)
        if when > ctx.now():
            break
        concentration = 4.0 + step * 0.4
        refill = draft(when, concentration, 20.0 - 0.5 * 30)
        try:
            record_refill(ctx, episode, refill)
        except ValidationError:  # rounding of the reconciliation: explained, as a nurse would
            refill = replace(refill, explanation=Explanation.OTHER, explanation_note="test")
            record_refill(ctx, episode, refill)
    view = outcomes_view(ctx, episode)
    assert view.trend is not None and view.trend.rising
    assert "not a diagnosis" in view.trend.prompt
    assert len(view.chart.dose_changes) >= 10
