"""Last line of defence: an error no screen handled becomes a readable message, not a silent
traceback. Messages of domain errors are written for nurses and shown as they are; anything
else is reported by its type only, because raw database errors can quote patient data."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from pathway_app.domain.errors import DomainError


def message_for(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return str(exc)
    return QCoreApplication.translate(
        "ErrorHook",
        "Something unexpected went wrong (%1). The action was not saved. If it happens "
        "again, note what you were doing and tell the clinic's IT contact.",
    ).replace("%1", type(exc).__name__)


def install(parent: QWidget | None) -> None:
    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(exc, DomainError):
            # The frames say where it failed; the message is left out on purpose (see above).
            print(f"pathway-app: unexpected {kind.__name__}", file=sys.stderr)
            traceback.print_tb(tb, file=sys.stderr)
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            QMessageBox.warning(
                parent, QCoreApplication.translate("ErrorHook", "Not saved"), message_for(exc)
            )

    sys.excepthook = hook
