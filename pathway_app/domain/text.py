"""Which characters free text may hold, for every field the domain validates.

A control character pasted from another program (a NUL from a PDF, an escape from a terminal)
is invisible in the field. PostgreSQL refuses a NUL when the row is written, so the user would
only see "nothing was saved"; SQLite stores it and every later export carries it. The
validators ask here first, so the message names the field on both back ends and nothing is
written.

Two kinds of field:

* single-line (names, numbers, codes, short labels): no C0 control character (U+0000 to
  U+001F) and no DEL (U+007F);
* multi-line (notes, reasons, descriptions): the same, except that line breaks (LF, and CR as
  in a CR LF pair or on its own) and tabs stay allowed; CR is kept as typed, as before.

The check runs on the trimmed text: `str.strip` already removes line breaks, tabs and the
separators U+001C to U+001F at either end, so only what would be stored is judged.
"""

from __future__ import annotations

_DEL = "\x7f"
_MULTILINE_ALLOWED = frozenset("\n\r\t")


def is_control_character(ch: str, *, multiline: bool = False) -> bool:
    """Whether a field of the given kind refuses the single character ``ch``."""
    if ch != _DEL and ord(ch) >= 0x20:
        return False
    return not (multiline and ch in _MULTILINE_ALLOWED)


def has_control_character(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds a character a field of the given kind refuses."""
    return any(is_control_character(ch, multiline=multiline) for ch in text)


def control_character_message(label: str, *, context: str = "") -> str:
    """The field message, e.g. "The note contains a control character; remove it.".

    Args:
        label: the field as other messages name it ("family name", "operator's name").
        context: what the field belongs to, for forms that list several records ("Blood
            count" gives "Blood count: the result contains ...").
    """
    if context:
        return f"{context}: the {label} contains a control character; remove it."
    return f"The {label} contains a control character; remove it."


def check_control_characters(
    errors: dict[str, str],
    field: str,
    text: str,
    label: str,
    *,
    multiline: bool = False,
    context: str = "",
) -> bool:
    """Record the field message in ``errors`` if ``text`` holds a refused character.

    An earlier message for the same field (empty, too long) is kept: the user fixes one thing
    at a time and the control character is reported on the next try.

    Returns:
        True when the text is free of refused characters.
    """
    if not has_control_character(text, multiline=multiline):
        return True
    errors.setdefault(field, control_character_message(label, context=context))
    return False


def clean_text(
    errors: dict[str, str],
    field: str,
    value: str,
    label: str,
    limit: int,
    *,
    required: bool,
    multiline: bool = False,
) -> str:
    """Trim ``value`` and record at most one problem for ``field`` in ``errors``.

    Problems, in the order they are reported: empty when ``required`` ("Enter the {label}."),
    longer than ``limit`` ("The {label} is longer than {limit} characters."), a control
    character (`control_character_message`).

    Returns:
        The trimmed text, whether or not it is valid.
    """
    text = value.strip()
    if required and not text:
        errors[field] = f"Enter the {label}."
    elif len(text) > limit:
        errors[field] = f"The {label} is longer than {limit} characters."
    else:
        check_control_characters(errors, field, text, label, multiline=multiline)
    return text
