"""The post-refill measurement on a fill draft (domain.md §2.3, §9 item 8): it is optional, a
number from 0 up to the pump's reservoir, recorded with refills only, and when it falls more
than the Maino 2017 threshold (> 1 mL for a 20-mL pump, > 2 mL for a 40-mL pump) below what
should be in the reservoir it raises the pocket-fill alert, which needs the nurse to confirm
the post-refill observation has started. Plain Python, no Qt, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pathway_app.domain.refill_records import (
    FillDraft,
    FillKind,
    check_post_refill_volume,
    validate_fill_fields,
)
from tests.factories import morphine_fill

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def refill(**changes: object) -> FillDraft:
    """A valid refill: 5 mL aspirated, 18 mL added, nothing left behind."""
    return replace(morphine_fill(NOW, added_ml=18.0, aspirated_ml=5.0), **changes)  # type: ignore[arg-type]


def test_no_measurement_is_valid_and_raises_no_alert() -> None:
    draft = refill()
    assert draft.post_refill_volume_ml is None and not draft.observation_started
    assert validate_fill_fields(draft, NOW, kind=FillKind.REFILL) == {}
    check = check_post_refill_volume(draft, 20.0)
    assert check.alert is None and check.errors == {}


@pytest.mark.parametrize("value", [0.0, 17.0, 20.0])
def test_a_measurement_from_zero_to_the_reservoir_is_accepted(value: float) -> None:
    assert (
        validate_fill_fields(refill(post_refill_volume_ml=value), NOW, kind=FillKind.REFILL) == {}
    )


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True])
def test_a_negative_or_unusable_measurement_is_refused(bad: float) -> None:
    errors = validate_fill_fields(refill(post_refill_volume_ml=bad), NOW, kind=FillKind.REFILL)
    assert "measured after the refill" in errors["post_refill_volume_ml"]


def test_a_measurement_above_the_reservoir_is_refused() -> None:
    check = check_post_refill_volume(refill(post_refill_volume_ml=20.5), 20.0)
    assert check.alert is None
    assert "more than the pump's 20 mL reservoir" in check.errors["post_refill_volume_ml"]


def test_an_initial_fill_has_no_post_refill_measurement() -> None:
    draft = morphine_fill(NOW, post_refill_volume_ml=19.0)
    errors = validate_fill_fields(draft, NOW, kind=FillKind.INITIAL)
    assert "refills only" in errors["post_refill_volume_ml"]


# 20-mL pump: threshold 1 mL. 18 mL added to an emptied reservoir.
@pytest.mark.parametrize(
    ("measured", "alerts"),
    [(18.0, False), (17.5, False), (17.0, False), (16.9, True), (12.0, True)],
)
def test_twenty_ml_pump_threshold(measured: float, alerts: bool) -> None:
    check = check_post_refill_volume(refill(post_refill_volume_ml=measured), 20.0)
    assert (check.alert is not None) is alerts
    if alerts:
        assert check.alert is not None and check.alert.startswith("Possible pocket fill")
        assert "threshold 1 mL for a 20 mL pump" in check.alert


# 40-mL pump: threshold 2 mL. 36 mL added.
@pytest.mark.parametrize(
    ("measured", "alerts"), [(36.0, False), (34.0, False), (33.9, True), (20.0, True)]
)
def test_forty_ml_pump_threshold(measured: float, alerts: bool) -> None:
    check = check_post_refill_volume(refill(added_ml=36.0, post_refill_volume_ml=measured), 40.0)
    assert (check.alert is not None) is alerts
    if alerts:
        assert check.alert is not None and "threshold 2 mL for a 40 mL pump" in check.alert


def test_exactly_at_the_threshold_with_decimal_noise_does_not_alert() -> None:
    # 0.3 + 17.7 - 17.0 is 1.0000000000000002 in binary: as typed, exactly 1 mL.
    draft = refill(residual_left_ml=0.3, added_ml=17.7, post_refill_volume_ml=17.0)
    assert check_post_refill_volume(draft, 20.0).alert is None


def test_the_residual_left_in_the_pump_counts_as_in_the_reservoir() -> None:
    # 2 mL could not be aspirated: 2 + 16 = 18 mL should be there; 17.5 measured is fine.
    fine = refill(residual_left_ml=2.0, added_ml=16.0, post_refill_volume_ml=17.5)
    assert check_post_refill_volume(fine, 20.0).alert is None
    # 16 measured: the 16 mL "injected" look complete, but 2 mL are missing.
    short = replace(fine, post_refill_volume_ml=16.0)
    alert = check_post_refill_volume(short, 20.0).alert
    assert alert is not None and "2 mL injected did not reach the reservoir" in alert


def test_the_alert_needs_the_observation_confirmed() -> None:
    draft = refill(post_refill_volume_ml=15.0)
    check = check_post_refill_volume(draft, 20.0)
    assert check.alert is not None
    assert "post-refill observation" in check.errors["observation_started"]
    confirmed = check_post_refill_volume(replace(draft, observation_started=True), 20.0)
    assert confirmed.alert == check.alert and confirmed.errors == {}


def test_no_alert_needs_no_confirmation() -> None:
    assert check_post_refill_volume(refill(post_refill_volume_ml=18.0), 20.0).errors == {}


def test_fields_refused_elsewhere_give_no_alert_here() -> None:
    # The missing volume added is `validate_fill_fields`' message; no second one here.
    check = check_post_refill_volume(refill(added_ml=None, post_refill_volume_ml=1.0), 20.0)
    assert check.alert is None and check.errors == {}
