"""Issue 8: the pathway summary of one episode, as a paginated PDF or on a printer.

The content comes from `services.exports_summary.episode_summary` (no clinical arithmetic here);
this module lays it out as HTML in a `QTextDocument`, draws the reservoir chart with the same
`ReservoirChart` widget as the Refills page, and prints through `print_document` (header,
"Page n of N"). Parts with nothing recorded are listed at the end under "Not included".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape

from PySide6.QtCore import QPoint, QSize, QUrl
from PySide6.QtGui import QFont, QImage, QPagedPaintDevice, QPainter, QTextDocument

from pathway_app.services.context import ServiceContext
from pathway_app.services.exports_summary import EpisodeSummary, episode_summary
from pathway_app.services.refill_views import FillView, ReservoirSeries
from pathway_app.ui.print_document import Furniture, page_image, pdf_bytes, print_document

CHART_URL = "chart://reservoir"
CHART_SIZE = QSize(900, 340)
CHART_WIDTH = 640  # in the document's logical units (1/96 inch): fits an A4 or Letter body

_CSS = """
body { font-size: 9pt; }
h1 { font-size: 15pt; margin: 0 0 2pt 0; }
h2 { font-size: 11.5pt; margin: 10pt 0 3pt 0; color: #1f3f6a; border-bottom: 1px solid #1f3f6a; }
h3 { font-size: 10pt; margin: 6pt 0 2pt 0; }
table { border-collapse: collapse; }
th { background: #e8edf3; text-align: left; font-weight: bold; }
td, th { padding: 1.5pt 3pt; border: 0.5px solid #9aa5b1; vertical-align: top; }
.muted { color: #555555; }
.caption { border: none; font-size: 10pt; padding: 4pt 0 1pt 0; }
.flag { color: #a01818; font-weight: bold; }
"""


def _d(value: date | None) -> str:
    return value.isoformat() if value is not None else "—"


def _dt(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def _n(value: float | None, unit: str = "", places: int | None = None) -> str:
    if value is None:
        return "—"
    text = f"{value:g}" if places is None else f"{value + 0.0:.{places}f}".replace("-0.0", "0.0")
    return f"{text} {unit}".strip()


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _pairs(rows: Iterable[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th width='28%'>{_e(k)}</th><td>{_e(v) if v else '—'}</td></tr>" for k, v in rows
    )
    return f"<table width='100%' cellspacing='0'>{cells}</table>"


def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    raw: bool = False,
    widths: Sequence[int] = (),
    small: bool = False,
    caption: str = "",
) -> str:
    header = "".join(
        f"<th{f' width={widths[i]}%' if widths else ''}>{_e(h)}</th>" for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    style = " style='font-size:7.5pt'" if small else ""
    # A caption as the table's first row: table rows never straddle a page break, a heading
    # paragraph right after a table can.
    top = f"<tr><td colspan='{len(head)}' class='caption'>{caption}</td></tr>" if caption else ""
    return f"<table width='100%' cellspacing='0'{style}>{top}<tr>{header}</tr>{body}</table>"


def _state(text: str) -> str:
    return text.replace("_", " ")


def _fill_row(fill: FillView) -> list[str]:
    flags = "; ".join(fill.flag_reasons)
    if fill.explanation:
        note = f"; {fill.explanation_note}" if fill.explanation_note else ""
        flags += f" (explained: {fill.explanation}{note})"
    kind = fill.kind + ("" if fill.in_force else " — corrected")
    if fill.corrects_id is not None:
        kind += f" (correction: {fill.correction_reason})"
    if fill.post_refill_volume_ml is not None:
        flags += f"{'; ' if flags else ''}measured after refill {fill.post_refill_volume_ml:g} mL"
    if fill.pocket_fill_alert:
        flags += f"{'; ' if flags else ''}{fill.pocket_fill_alert}"
    return [
        _e(_dt(fill.filled_at)).replace(" ", "<br>", 1),
        _e(kind),
        _e(_n(fill.aspirated_ml, places=1)),
        _e(_n(fill.expected_residual_ml, places=1)),
        _e(_n(fill.discrepancy_ml, places=1)),
        _e(_n(fill.flow_error_pct, places=1)),
        _e(_n(fill.added_ml, places=1)),
        _e(_n(fill.volume_after_ml, places=1)),
        _e(f"{fill.concentration:g} {fill.concentration_unit}")
        + "<br>"
        + _e(f"{fill.daily_dose:g} {fill.dose_unit}"),
        (
            f"<span class='flag'>{_e(flags)}</span>"
            if fill.flagged or fill.pocket_fill_alert
            else _e(flags)
        ),
    ]


def render_chart(series: ReservoirSeries, size: QSize = CHART_SIZE) -> QImage:
    """The Refills page's reservoir chart drawn into an image (needs a QApplication)."""
    from pathway_app.ui.reservoir_chart import ReservoirChart

    chart = ReservoirChart()
    chart.set_series(series)
    chart.resize(size)
    scale = 2
    image = QImage(size * scale, QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    try:
        chart.render(painter, QPoint())
    finally:
        painter.end()
    chart.deleteLater()
    return image


def summary_html(summary: EpisodeSummary) -> str:
    ep = summary.episode
    out: list[str] = [f"<html><head><style>{_CSS}</style></head><body>"]
    out.append(f"<h1>Pathway summary — {_e(ep.patient_name)}</h1>")
    out.append(
        f"<p class='muted'>MRN {_e(ep.mrn)} · born {_d(ep.birth_date)} · episode {ep.id} "
        f"({_e(ep.status)}) · printed {_dt(summary.generated_at)} by {_e(summary.generated_by)}</p>"
    )
    out.append("<h2>Patient and episode</h2>")
    out.append(
        _pairs(
            [
                ("Patient", f"{ep.patient_name} (MRN {ep.mrn}, born {_d(ep.birth_date)})"),
                ("Indication", ep.indication),
                ("Planned drug / pump", f"{ep.drug} / {ep.pump_model}"),
                ("Surgeon", ep.surgeon),
                ("Setting", ep.setting),
                ("Planned procedure", _d(ep.planned_procedure_on)),
                (
                    "Current stage",
                    next((st.name for st in ep.stages if st.key == ep.current_stage), "Complete"),
                ),
                ("Next action", f"{ep.next_action or '—'} (due {_d(ep.next_due_on)})"),
            ]
        )
    )
    pump = summary.pump
    out.append("<h2>Pump and drug</h2>")
    if pump is None:
        out.append("<p class='muted'>No pump implant is recorded.</p>")
    else:
        unverified = ", ".join(sorted(pump.unverified | set(pump.projection_unverified)))
        out.append(
            _pairs(
                [
                    ("Pump", f"{pump.model_name}, serial {pump.serial or '—'}"),
                    ("Reservoir", _n(pump.reservoir_ml, "mL")),
                    (
                        "Nominal flow",
                        f"{_n(pump.nominal_flow_ml_per_day, 'mL/day')} "
                        f"(tolerance ±{pump.tolerance_pct:g} %)",
                    ),
                    ("Implanted", _dt(pump.implanted_at)),
                    ("Drug", pump.drug_name),
                    ("Concentration", _n(pump.concentration, pump.concentration_unit)),
                    ("Current daily dose", _n(pump.daily_dose, pump.dose_unit)),
                    ("Last fill", _dt(pump.last_fill_at)),
                    (
                        "Next refill due",
                        f"{_dt(pump.due_at)} (limited by {pump.limited_by or '—'})",
                    ),
                    ("Empty at worst-case flow", _dt(pump.empty_by_worst_at)),
                    ("Unverified defaults used", unverified),
                ]
            )
        )
        if pump.warnings:
            out.append("<p class='flag'>" + "<br>".join(_e(w) for w in pump.warnings) + "</p>")

    out.append("<h2>Stages and milestones</h2>")
    for stage in ep.stages:
        rows = []
        for m in stage.milestones:
            done = f"{_dt(m.done_at)} {m.done_by or ''}".strip() if m.done_at else ""
            remark = m.skip_reason or m.note or ""
            rows.append(
                [
                    m.name + (" [gate]" if m.gate else ""),
                    _state(m.state),
                    _d(m.due_on),
                    done or "—",
                    remark,
                ]
            )
        out.append(
            _table(
                ["Milestone", "State", "Due", "Done", "Note / skip reason"],
                rows,
                widths=(34, 9, 12, 22, 23),
                caption=f"<b>{_e(stage.name)}</b> ({_e(_state(stage.state))})",
            )
        )
        out.append("<p style='font-size:3pt'>&nbsp;</p>")

    prep = summary.preparation
    if prep is not None:
        out.append("<h2>Readiness gates and overrides</h2>")
        out.append(
            _table(
                ["Gate", "State", "Why unmet", "Marked by"],
                [
                    [g.name, _state(g.state.value), " ".join(g.reasons), g.marked_by]
                    for g in prep.check.gates
                ],
            )
        )
        if prep.override_history:
            out.append("<h3>Overrides</h3>")
            out.append(
                _table(
                    ["When", "Authorised by", "Recorded by", "Reason", "Gates"],
                    [
                        [
                            _dt(o.at),
                            o.authorised_by,
                            o.recorded_by,
                            o.reason,
                            ", ".join(getattr(g, "name", str(g)) for g in o.gates),
                        ]
                        for o in prep.override_history
                    ],
                )
            )

    proc = summary.procedure
    if proc is not None:
        out.append("<h2>Operation record</h2>")
        personnel = "; ".join(f"{role}: {', '.join(who)}" for role, who in proc.personnel.items())
        out.append(
            _pairs(
                [
                    ("Anaesthesia", proc.anaesthesia),
                    ("Setting", proc.setting),
                    ("Personnel", personnel),
                    ("Steps", "; ".join(f"{_state(s.step)} {_dt(s.at)}" for s in proc.steps)),
                    (
                        "Duration",
                        (
                            f"{int(proc.duration.duration.total_seconds() // 60)} min"
                            + (f" — {proc.duration.flag}" if proc.duration.flag else "")
                        )
                        if proc.duration
                        else "",
                    ),
                    ("Antibiotic", f"{proc.antibiotic} {_dt(proc.antibiotic_at)}".strip()),
                    ("CSF flow confirmed", "yes" if proc.csf_flow_confirmed else "no"),
                    ("Catheter tip level", proc.catheter_tip_level),
                    ("Pocket depth", _n(proc.pocket_depth_cm, "cm")),
                    ("Recorded by", f"{proc.updated_by} {_dt(proc.updated_at)}"),
                ]
            )
        )
        if proc.events:
            out.append(
                _table(
                    ["When", "Event", "Categories", "By"],
                    [
                        [_dt(e.at), e.text, ", ".join(e.categories), e.recorded_by]
                        for e in proc.events
                    ],
                )
            )
        if proc.flags:
            out.append("<p class='flag'>" + "<br>".join(_e(f) for f in proc.flags) + "</p>")

    stay = summary.stay
    if stay is not None:
        out.append("<h2>Hospital stay</h2>")
        out.append(
            _pairs(
                [
                    ("Admitted", _dt(stay.admitted_at)),
                    (
                        "Discharged",
                        f"{_dt(stay.discharged_at)} {stay.discharged_by or ''}".strip()
                        + (
                            " (override: " + stay.discharge_override_reason + ")"
                            if stay.discharge_overridden
                            else ""
                        ),
                    ),
                    (
                        "Length of stay",
                        f"{stay.days} days (expected {stay.expected})"
                        if stay.days is not None
                        else "",
                    ),
                    (
                        "Restrictions",
                        "; ".join(stay.restrictions)
                        + (
                            f" (until {_d(stay.restrictions_end_on)})"
                            if stay.restrictions_end_on
                            else ""
                        ),
                    ),
                    ("Discharge checklist open", ", ".join(stay.open_items) or "none"),
                    ("Flag", stay.flag or ""),
                ]
            )
        )

    follow = summary.followup
    out.append("<h2>Complications and red flags</h2>")
    if follow is None or (not follow.complications and not follow.red_flags):
        out.append("<p class='muted'>None recorded.</p>")
    else:
        if follow.complications:
            out.append(
                _table(
                    ["Onset", "Complication", "Severity", "Action", "Resolved"],
                    [
                        [
                            _d(c.onset_on),
                            f"{c.category_name}: {c.detail}".strip(": "),
                            c.severity_name,
                            c.action_taken,
                            _d(c.resolved_on),
                        ]
                        for c in follow.complications
                    ],
                )
            )
        if follow.red_flags:
            out.append(
                _table(
                    ["Raised", "Red flag", "Note", "Resolved"],
                    [
                        [
                            _dt(f.raised_at),
                            f.title,
                            f.note,
                            f"{_dt(f.resolved_at)} {f.resolution}".strip()
                            if f.resolved_at
                            else "open",
                        ]
                        for f in follow.red_flags
                    ],
                )
            )

    if pump is not None:
        out.append("<h2>Refill history and reconciliation</h2>")
        if pump.fills:
            out.append(
                _table(
                    [
                        "Date",
                        "Kind",
                        "Aspirated mL",
                        "Expected mL",
                        "Diff. mL",
                        "Flow error %",
                        "Added mL",
                        "After fill mL",
                        "Drug, dose",
                        "Flags",
                    ],
                    [_fill_row(f) for f in pump.fills],
                    raw=True,
                    widths=(12, 7, 8, 8, 7, 7, 7, 7, 14, 23),
                    small=True,
                )
            )
        else:
            out.append("<p class='muted'>No fill recorded.</p>")
        out.append("<h3>Reservoir</h3>")
        out.append(
            f"<p><img src='{CHART_URL}' width='{CHART_WIDTH}' "
            f"height='{CHART_WIDTH * CHART_SIZE.height() // CHART_SIZE.width()}'></p>"
        )

    out.append("<h2>Upcoming plan</h2>")
    plan: list[list[str]] = []
    if pump is not None and pump.due_on is not None:
        plan.append([_d(pump.due_on), "Pump refill", "due"])
    if follow is not None:
        plan += [[_d(i.due_on), i.purpose, i.status.value] for i in follow.items if i.is_open]
    if ep.next_action and ep.next_due_on is not None:
        plan.append([_d(ep.next_due_on), ep.next_action, "next milestone"])
    plan.sort(key=lambda row: row[0])
    out.append(_table(["Date", "What", "Status"], plan) if plan else "<p>Nothing planned.</p>")
    if summary.omitted:
        out.append("<h2>Not included</h2><p>Nothing is recorded for: ")
        out.append(_e("; ".join(summary.omitted)) + ".</p>")
    out.append("</body></html>")
    return "".join(out)


def summary_document(summary: EpisodeSummary) -> QTextDocument:
    document = QTextDocument()
    font = QFont()
    font.setPointSizeF(9)
    document.setDefaultFont(font)
    if summary.pump is not None:
        document.addResource(
            QTextDocument.ResourceType.ImageResource.value,
            QUrl(CHART_URL),
            render_chart(summary.pump.chart),
        )
    document.setHtml(summary_html(summary))
    return document


def _furniture(summary: EpisodeSummary) -> Furniture:
    ep = summary.episode
    return Furniture(
        f"Pathway summary — {ep.patient_name} — MRN {ep.mrn}",
        f"Born {_d(ep.birth_date)} · episode {ep.id}",
        f"Care Pathway Tracker · printed {_dt(summary.generated_at)} · confidential",
    )


def summary_pdf_bytes(ctx: ServiceContext, episode_id: int) -> tuple[bytes, tuple[str, ...]]:
    """The summary as PDF bytes, and what was left out."""
    summary = episode_summary(ctx, episode_id)
    data, _pages = pdf_bytes(
        summary_document(summary), f"Pathway summary {summary.episode.mrn}", _furniture(summary)
    )
    return data, summary.omitted


def summary_page_image(ctx: ServiceContext, episode_id: int, index: int = 0) -> QImage:
    """Page `index` of the summary as an image (a preview; the tests look at page 1)."""
    summary = episode_summary(ctx, episode_id)
    return page_image(summary_document(summary), _furniture(summary), index)


def print_summary(ctx: ServiceContext, episode_id: int, device: QPagedPaintDevice) -> int:
    """Print on `device` (a QPrinter from the print dialog); returns the page count."""
    summary = episode_summary(ctx, episode_id)
    return print_document(summary_document(summary), device, _furniture(summary))
