"""Qt Widgets: the only layer that imports PySide6."""
