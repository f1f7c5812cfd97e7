"""Issue 8: the patient's refill card: one A6 page to carry, with the pump, the drug and its
concentration, the next refill date, the clinic's contact (resources/clinic.toml; "not
configured" in place of what is missing) and the warning signs for the drug
(resources/warning_signs.toml, from domain.md §2.4). The content is
`services.exports_card.RefillCard`; the text shrinks until it fits one page."""

from __future__ import annotations

from html import escape

from PySide6.QtGui import QFont, QPagedPaintDevice, QPageSize, QTextDocument

from pathway_app.domain.clinic import NOT_CONFIGURED
from pathway_app.services.context import ServiceContext
from pathway_app.services.exports_card import RefillCard, refill_card
from pathway_app.ui.print_document import Furniture, pdf_bytes, print_document

CARD_PAGE = QPageSize.PageSizeId.A6


def _e(value: object) -> str:
    return escape(str(value))


def _or_missing(value: str) -> str:
    return _e(value) if value else f"<span class='missing'>{NOT_CONFIGURED}</span>"


def card_html(card: RefillCard, size_pt: float) -> str:
    due = card.next_refill_on.strftime("%A %d %B %Y") if card.next_refill_on else "—"
    signs = card.signs
    out = [
        f"<html><head><style>body {{ font-size: {size_pt}pt; }}"
        f" h1 {{ font-size: {size_pt * 1.45:.1f}pt; margin: 0; }}"
        f" h2 {{ font-size: {size_pt * 1.1:.1f}pt; margin: 4pt 0 1pt 0; color: #7a1010; }}"
        " .due { font-size: %.1fpt; font-weight: bold; }"
        " .missing { color: #a01818; font-weight: bold; }"
        " td { padding: 0 3pt 0 0; vertical-align: top; } ul { margin: 0; }"
        "</style></head><body>" % (size_pt * 1.5),
        "<h1>Implanted drug pump — refill card</h1>",
        f"<p>{_e(card.patient_name)} · born {card.birth_date.isoformat()} · MRN {_e(card.mrn)}</p>",
        "<table cellspacing='0'>",
        f"<tr><td width='16%'><b>Pump</b></td><td>{_e(card.pump_model)}"
        + (f", serial {_e(card.pump_serial)}" if card.pump_serial else "")
        + "</td></tr>",
        f"<tr><td><b>Drug</b></td><td>{_e(card.drug_name)}"
        + (f", {_e(card.concentration)}" if card.concentration else "")
        + (f" ({_e(card.daily_dose)})" if card.daily_dose else "")
        + "</td></tr></table>",
        f"<p>Next refill: <span class='due'>{_e(due)}</span></p>",
        "<h2>Clinic</h2>",
        f"<p>{_or_missing(card.clinic.name)}<br>Phone: {_or_missing(card.clinic.phone)}",
    ]
    if card.clinic.after_hours:
        out.append(f"<br>Out of hours: {_e(card.clinic.after_hours)}")
    if card.clinic.address:
        out.append(f"<br>{_e(card.clinic.address)}")
    if card.clinic.email:
        out.append(f"<br>{_e(card.clinic.email)}")
    out.append("</p><h2>Warning signs</h2>")
    if signs.withdrawal:
        out.append(f"<p>{_e(signs.withdrawal_intro)}</p><ul>")
        out += [f"<li>{_e(s)}</li>" for s in signs.withdrawal]
        out.append("</ul>")
    if signs.note:
        out.append(f"<p>{_e(signs.note)}</p>")
    out.append(f"<p>{_e(signs.overdose_intro)}</p><ul>")
    out += [f"<li>{_e(s)}</li>" for s in signs.overdose]
    out.append("</ul><p><b>Always:</b></p><ul>")
    out += [f"<li>{_e(s)}</li>" for s in signs.also]
    out.append(
        f"</ul><p style='font-size:{size_pt * 0.75:.1f}pt; color:#555'>Printed "
        f"{card.printed_on.isoformat()}. Show this card to any doctor who treats you. "
        "MRI, scuba diving, flights and fever can change how fast the pump empties: ask the "
        "clinic first.</p></body></html>"
    )
    return "".join(out)


def _document(card: RefillCard, size_pt: float) -> QTextDocument:
    document = QTextDocument()
    font = QFont()
    font.setPointSizeF(size_pt)
    document.setDefaultFont(font)
    document.setHtml(card_html(card, size_pt))
    return document


def _render(card: RefillCard, device: QPagedPaintDevice, size_pt: float) -> int:
    return print_document(_document(card, size_pt), device, _furniture(card))


def _furniture(card: RefillCard) -> Furniture:
    return Furniture(
        f"Refill card — {card.patient_name}", f"MRN {card.mrn}", "Care Pathway Tracker"
    )


def card_pdf_bytes(ctx: ServiceContext, episode_id: int) -> tuple[bytes, tuple[str, ...]]:
    """The card as a one-page PDF, and what it could not say (see `RefillCard.notices`)."""
    card = refill_card(ctx, episode_id)
    data = b""
    for size in (8.0, 7.5, 7.0, 6.5, 6.0):
        data, pages = pdf_bytes(
            _document(card, size), f"Refill card {card.mrn}", _furniture(card),
            size=CARD_PAGE, margin_mm=8,
        )  # fmt: skip
        if pages == 1:
            return data, card.notices
    return data, (*card.notices, "the card did not fit on one page")


def print_card(ctx: ServiceContext, episode_id: int, device: QPagedPaintDevice) -> int:
    card = refill_card(ctx, episode_id)
    return _render(card, device, 7.5)
