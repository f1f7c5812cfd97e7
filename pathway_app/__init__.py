"""Care Pathway Tracker for constant-flow implantable infusion pumps.

Importing the package pulls in neither Qt nor the database.
"""

__version__ = "0.1.0"
