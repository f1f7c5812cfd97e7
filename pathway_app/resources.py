"""Where the data files that are not code live (pathway templates, catalogues).

In a built wheel they ship as ``pathway_app/resources``; in a source checkout they sit in the
top-level ``resources/`` folder. ``PATHWAY_RESOURCES_DIR`` points at a clinic's own copy.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PATHWAY_RESOURCES_DIR"


def resources_dir() -> Path:
    """Return the folder holding ``pathways/``, ``pumps.toml`` and ``drugs.toml``."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "resources"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of one resource file, e.g. ``resource_path("pumps.toml")``."""
    return resources_dir().joinpath(*parts)
