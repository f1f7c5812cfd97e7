"""Issue 8: the pathway summary and the refill card as PDF, read back with pypdf (QtPdf is not
part of PySide6-Essentials), and the summary's first page rendered to an image."""

from __future__ import annotations

import io
import unicodedata

import pytest
from pypdf import PdfReader
from PySide6.QtGui import QColor

from pathway_app.services.context import ServiceContext
from pathway_app.services.exports_summary import episode_summary
from pathway_app.services.refill_views import pump_view
from pathway_app.services.views import worklist
from pathway_app.ui.print_card import card_pdf_bytes
from pathway_app.ui.print_summary import summary_page_image, summary_pdf_bytes

pytestmark = pytest.mark.usefixtures("qapp")


def _text(data: bytes) -> tuple[int, str]:
    # One well-formed PDF: a single trailer, and pypdf's strict mode finds nothing to repair.
    assert data.startswith(b"%PDF") and data.count(b"startxref") == 1
    reader = PdfReader(io.BytesIO(data), strict=True)
    return len(reader.pages), "\n".join(page.extract_text() or "" for page in reader.pages)


def _flat(text: str) -> str:
    # NFKC undoes the typographic ligatures (ﬁ, ﬂ) Qt's PDF text carries.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def test_summary_pdf_has_the_recorded_content(
    export_ctx: ServiceContext, pumped_episode: int
) -> None:
    data, omitted = summary_pdf_bytes(export_ctx, pumped_episode)
    assert data.startswith(b"%PDF")
    pages, text = _text(data)
    flat = _flat(text)
    assert pages >= 2
    summary = episode_summary(export_ctx, pumped_episode)
    pump = pump_view(export_ctx, pumped_episode)
    assert pump is not None
    for expected in (
        summary.episode.patient_name,
        summary.episode.mrn,
        summary.episode.indication,
        pump.serial,
        pump.drug_name,
        f"Page 1 of {pages}",
        f"Page {pages} of {pages}",
        "Refill history",
        "Operation record",
        "Upcoming plan",
    ):
        assert expected in flat, expected
    for stage in summary.episode.stages:
        assert stage.name in flat
    latest = next(f for f in pump.fills if f.in_force and f.aspirated_ml is not None)
    assert f"{latest.aspirated_ml:.1f}" in flat
    assert omitted == summary.omitted


def test_summary_first_page_image_is_not_blank(
    export_ctx: ServiceContext, pumped_episode: int
) -> None:
    image = summary_page_image(export_ctx, pumped_episode)
    assert image.width() > 700 and image.height() > 1000
    dark = 0
    for y in range(0, image.height(), 4):
        for x in range(0, image.width(), 4):
            if QColor(image.pixel(x, y)).lightness() < 128:
                dark += 1
    samples = (image.width() // 4) * (image.height() // 4)
    assert 0.01 < dark / samples < 0.5


def test_summary_of_an_episode_without_pump_says_what_is_left_out(
    export_ctx: ServiceContext,
) -> None:
    without = [r for r in worklist(export_ctx) if pump_view(export_ctx, r.episode_id) is None]
    data, omitted = summary_pdf_bytes(export_ctx, without[0].episode_id)
    _pages, text = _text(data)
    assert any("pump" in part for part in omitted)
    assert "Not included" in _flat(text)
    assert "No pump implant is recorded" in _flat(text)


def test_refill_card_is_one_page_with_the_warning_signs(
    export_ctx: ServiceContext, pumped_episode: int
) -> None:
    data, notices = card_pdf_bytes(export_ctx, pumped_episode)
    pages, text = _text(data)
    flat = _flat(text)
    assert pages == 1
    pump = pump_view(export_ctx, pumped_episode)
    assert pump is not None and pump.due_on is not None
    assert pump.model_name in flat
    assert pump.drug_name in flat
    assert f"{pump.concentration:g} {pump.concentration_unit}" in flat
    assert pump.due_on.strftime("%d %B %Y") in flat
    assert "not configured" in flat  # the shipped clinic.toml is a placeholder
    assert any("not configured" in n for n in notices)
    assert "Slow, shallow or difficult breathing" in flat
    if "Baclofen" in pump.drug_name:
        assert "spasticity" in flat


def test_the_summary_prints_a_fill_s_pocket_fill_alert(
    export_ctx: ServiceContext, pumped_episode: int
) -> None:
    from dataclasses import replace

    from pathway_app.ui.print_summary import _fill_row

    pump = pump_view(export_ctx, pumped_episode)
    assert pump is not None and pump.fills
    alert = "Possible pocket fill: 3 mL injected did not reach the reservoir"
    fill = replace(pump.fills[-1], post_refill_volume_ml=17.0, pocket_fill_alert=alert)
    flags = _fill_row(fill)[-1]
    assert "measured after refill 17 mL" in flags and alert in flags
    assert flags.startswith("<span class='flag'>")  # marked like a flagged reconciliation
    plain = _fill_row(replace(fill, post_refill_volume_ml=None, pocket_fill_alert=None))[-1]
    assert "pocket" not in plain and "measured after" not in plain
