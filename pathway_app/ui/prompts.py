"""Thin wrappers around message boxes, so tests patch one function instead of Qt."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def show_problem(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.warning(parent, title, text)
