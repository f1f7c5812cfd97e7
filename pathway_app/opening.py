"""The first step of a start, before Qt is imported (issue 9; see ui/startup.py).

Opening the SQLite file read-only and starting the password check here lets argon2 (a
deliberately slow hash, ~0.15 s, run on a thread that releases the interpreter) overlap with
importing Qt, instead of following it. Nothing here imports Qt or the data layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pathway_app import paths

if TYPE_CHECKING:
    from pathway_app.app import AppOptions
    from pathway_app.storage.first_screen import FirstScreen, PasswordCheck


@dataclass
class EarlyOpening:
    """A clinic file that can show its first screen before the data layer is loaded.

    Attributes:
        first: the file, opened read-only (closed by whoever takes it over).
        password_matches: waits for and answers the check of ``--user``'s password, started
            on a thread; None when no password was given (a sign-in dialog will ask).
    """

    first: FirstScreen
    password_matches: PasswordCheck | None


def begin(options: AppOptions) -> EarlyOpening | None:
    """The first screen's file for `options`, its password check started; None when this start
    takes the full path (PostgreSQL, a new or older database, no users yet, the demo, a
    screenshot, a file that cannot be read here)."""
    if options.demo or options.screenshot is not None:
        return None
    database = options.database or paths.default_database()
    if "://" in database:
        return None  # PostgreSQL: the data layer is needed to connect at all
    from pathway_app.storage.first_screen import FirstScreen, FirstScreenError

    first = FirstScreen.open(database)
    if first is None:
        return None
    try:
        if not first.has_users():
            first.close()
            return None  # the first administrator is created through the services
        check = None
        if options.user and options.password:
            check = first.password_check(options.user, options.password)
    except FirstScreenError:
        first.close()
        return None
    return EarlyOpening(first, check)
