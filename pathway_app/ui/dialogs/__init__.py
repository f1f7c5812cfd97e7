"""Dialogs. Each validates through the services before it writes and shows every problem
next to its field; each has a classmethod ``ask`` that tests can patch."""
