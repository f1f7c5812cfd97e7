"""``python -m pathway_app`` runs the same entry point as ``pathway-app``."""

import sys

from pathway_app.cli import main

sys.exit(main())
