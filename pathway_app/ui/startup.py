"""Start-up in two steps (issue 9): paint first, load the rest meanwhile.

Importing the data layer (SQLAlchemy, the ORM, the services) and the episode pages takes about a
second, seven times what a bare Qt window needs to appear. So when the database is a SQLite file
at the current schema, the first screen needs none of it:

- with ``--user`` and ``$PATHWAY_PASSWORD`` (automation), the password is checked and the refill
  worklist's first page read through `storage.first_screen` (plain ``sqlite3``), the main window
  is painted with them, and the rest is loaded on a thread; then the sign-in is recorded by the
  services as always and the window is completed (`MainWindow.attach`; `ready` turns True);
- on a screen, the sign-in dialog appears at once and the rest loads while the user types.

Every other start (PostgreSQL, a new or older database, no users yet, the demo, a screenshot)
loads everything first, as before, and gets the same readable errors.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from pathway_app.app import (
    AppOptions,
    build_context,
    load_template,
    make_clock,
    report_problem,
)
from pathway_app.domain.errors import DomainError, TemplateError
from pathway_app.opening import EarlyOpening, begin

if TYPE_CHECKING:
    from pathway_app.services.context import ServiceContext
    from pathway_app.services.users import SignedIn
    from pathway_app.storage.first_screen import FirstScreen, PasswordCheck
    from pathway_app.storage.refill_rows import RefillWorklistRow
    from pathway_app.ui.main_window import MainWindow
    from pathway_app.ui.refill_worklist import RefillPages
    from pathway_app.ui.sign_in import SignInDialog, SignInRequest

TITLE = "Care Pathway Tracker"
# Let the sign-in dialog paint before the loading thread starts competing for the interpreter.
LOAD_AFTER_DIALOG_MS = 100
LOADING_SWITCH_INTERVAL_S = 0.0005


class ContextLoader(QObject):
    """Builds the service context on a thread; `finished` is delivered on the GUI thread."""

    finished = Signal()

    def __init__(self, load: Callable[[], ServiceContext]) -> None:
        super().__init__()
        self._load = load
        self._context: ServiceContext | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pathway-load", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive() and not self.done:
            self._thread.start()

    @property
    def done(self) -> bool:
        return self._context is not None or self._error is not None

    def _run(self) -> None:
        # While this thread imports, the GUI thread needs the interpreter for every paint and
        # model call: with the default 5 ms switch interval each could wait that long (a
        # table repaint took 3x longer). Switch often until the load is done.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(LOADING_SWITCH_INTERVAL_S)
        try:
            self._context = self._load()
        except BaseException as exc:  # handed to the GUI thread, which reports it
            self._error = exc
        finally:
            sys.setswitchinterval(interval)
        self.finished.emit()

    def result(self) -> ServiceContext:
        """Wait for the context (starting the load if it has not started); raises what the
        load raised."""
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._context is not None
        return self._context


class _OpeningPages:
    """The first screen's refill pages while the window opens. A page that can no longer be
    read there (the file changed under it) ends the list until the window is ready; the first
    page and the count are read before the window is shown, where an error means the normal
    start instead."""

    def __init__(self, pages: RefillPages) -> None:
        self._pages = pages

    def count(self) -> int:
        return self._pages.count()

    def fetch(self, offset: int, limit: int) -> list[RefillWorklistRow]:
        from pathway_app.storage.first_screen import FirstScreenError

        if offset == 0:
            return self._pages.fetch(offset, limit)
        try:
            return self._pages.fetch(offset, limit)
        except FirstScreenError:
            return []

    def position(self, episode_id: int) -> int | None:
        from pathway_app.storage.first_screen import FirstScreenError

        try:
            return self._pages.position(episode_id)
        except FirstScreenError:
            return None


def _load_everything(options: AppOptions) -> ServiceContext:
    from pathway_app.ui.main_window import preload

    ctx = build_context(options)
    preload()  # the episode pages' modules, so completing the window only builds widgets
    return ctx


class Start(QObject):
    """Opens the app for `options`: `open()` signs in and shows the main window (or returns an
    exit code); `window` is then shown, maybe still completing (`window.ready`)."""

    # The start failed after the window was shown (its exit code; `exit_code` holds it too).
    failed = Signal(int)

    def __init__(
        self,
        options: AppOptions,
        settings: QSettings | None,
        early: EarlyOpening | Literal["begin"] | None = "begin",
    ) -> None:
        """early: what `opening.begin(options)` gave before Qt was imported; by default
        `open` calls it."""
        super().__init__()
        self._early = early
        self.options = options
        self.settings = settings
        self.window: MainWindow | None = None
        self.ctx: ServiceContext | None = None
        # Set when the start failed after the window was shown; `run` returns it.
        self.exit_code: int | None = None
        self._first: FirstScreen | None = None
        self._loader: ContextLoader | None = None
        # time.perf_counter() when the first screen's rows were painted (automation start).
        self.painted_at: float | None = None
        self._signed: SignedIn | None = None
        self._password_check: PasswordCheck | None = None
        self._sign_in_refused: DomainError | None = None

    @property
    def _request(self) -> SignInRequest:
        # Made when needed: the sign-in module is not needed before the first paint.
        from pathway_app.ui.sign_in import SignInRequest

        options = self.options
        return SignInRequest(
            user=options.user,
            password=options.password,
            demo=options.demo,
            interactive=options.screenshot is None,
        )

    # --- the two ways in ------------------------------------------------------------------

    def open(self) -> int | None:
        early = begin(self.options) if self._early == "begin" else self._early
        if early is None:
            return self._open_fully()
        self._first = early.first
        if early.password_matches is not None:
            return self._open_first_screen(early.password_matches)
        from pathway_app.ui.sign_in import on_screen

        if on_screen(self._request):
            return self._open_with_early_sign_in(early.first)
        self._close_first_screen()
        return self._open_fully()

    def _open_fully(self) -> int | None:
        """Load everything, sign in, then build the whole window."""
        from pathway_app.cli import EXIT_CONFIGURATION, EXIT_DATABASE
        from pathway_app.storage.database import DatabaseOpenError
        from pathway_app.ui.main_window import MainWindow
        from pathway_app.ui.sign_in import sign_in

        try:
            ctx = build_context(self.options)
        except TemplateError as exc:
            report_problem(TITLE, f"The pathway configuration is broken: {exc}")
            return EXIT_CONFIGURATION
        except DatabaseOpenError as exc:
            report_problem(TITLE, str(exc))
            return EXIT_DATABASE
        self.ctx = ctx
        failure = sign_in(ctx, self._request, self.settings)
        if failure is not None:
            return failure
        self._show_window(MainWindow(ctx, self.settings))
        return None

    # --- automation: paint the refill worklist first ----------------------------------------

    def _open_first_screen(self, password_matches: PasswordCheck) -> int | None:
        """The password is being checked on a thread (argon2 releases the interpreter) while
        the window is built, hidden; it is shown only if the password is right."""
        from pathway_app.cli import EXIT_CONFIGURATION
        from pathway_app.storage.first_screen import FirstScreenError
        from pathway_app.ui.main_window import MainWindow, Opening

        first = self._first
        assert first is not None

        try:
            template = load_template()
        except TemplateError as exc:
            password_matches()
            self._close_first_screen()
            report_problem(TITLE, f"The pathway configuration is broken: {exc}")
            return EXIT_CONFIGURATION
        clock = make_clock(self.options.now)
        days = int(template.parameter("due_soon_days"))
        pages = _OpeningPages(first.refill_pages(clock.now(), days))
        try:
            window = MainWindow(
                None, self.settings, opening=Opening(clock, first.display_name, days, pages)
            )
        except FirstScreenError:
            password_matches()
            self._close_first_screen()
            return self._open_fully()
        self._password_check = password_matches
        if not password_matches():
            # Nothing was shown. The full path says why and records the failed attempt.
            window.deleteLater()
            self._close_first_screen()
            return self._open_fully()
        self.window = window
        window.show()
        # Paint the rows now, before the loading thread competes for the interpreter.
        QApplication.processEvents()
        window.refill_worklist.table.viewport().repaint()
        self.painted_at = time.perf_counter()
        loader = self._loader = ContextLoader(self._load_and_sign_in)
        loader.finished.connect(self._complete, Qt.ConnectionType.QueuedConnection)
        loader.start()
        return None

    def _load_and_sign_in(self) -> ServiceContext:
        """On the loading thread: load, then record the sign-in through the services (off the
        GUI thread). A refused sign-in is kept for `_complete` to report."""
        from pathway_app.services.users import record_verified_sign_in

        ctx = _load_everything(self.options)
        user, password = self.options.user, self.options.password
        check = self._password_check
        assert user is not None and password is not None
        assert check is not None and check.password_hash is not None
        try:
            # Checked already (before the first paint): recorded without hashing again,
            # unless the account changed meanwhile.
            self._signed = record_verified_sign_in(
                ctx.db, ctx.clock, user, password, check.password_hash
            )
        except DomainError as exc:  # e.g. the account was deactivated a moment ago
            self._sign_in_refused = exc
        return ctx

    @Slot()
    def _complete(self) -> None:
        """On the GUI thread once loaded: record the sign-in, then complete the window."""
        from pathway_app.cli import EXIT_SIGN_IN

        ctx = self._loaded_context()
        if ctx is None:
            return
        if self._sign_in_refused is not None or self._signed is None:
            self._fail(EXIT_SIGN_IN, str(self._sign_in_refused))
            return
        self._signed_in(ctx, self._signed)
        assert self.window is not None
        self.window.attach(ctx)
        self._close_first_screen()
        self._start_backups()

    def _loaded_context(self) -> ServiceContext | None:
        from pathway_app.cli import EXIT_CONFIGURATION, EXIT_DATABASE
        from pathway_app.storage.database import DatabaseOpenError

        assert self._loader is not None
        try:
            ctx = self._loader.result()
        except TemplateError as exc:
            self._fail(EXIT_CONFIGURATION, f"The pathway configuration is broken: {exc}")
            return None
        except DatabaseOpenError as exc:
            self._fail(EXIT_DATABASE, str(exc))
            return None
        self.ctx = ctx
        return ctx

    def _fail(self, code: int, message: str) -> None:
        self.exit_code = code
        self._close_first_screen()
        report_problem(TITLE, message)
        if self.window is not None:  # shown already: `run` ends the event loop
            self.window.hide()
            self.failed.emit(code)

    # --- on a screen: the sign-in dialog first, loading while the user types ------------------

    def _open_with_early_sign_in(self, first: FirstScreen) -> int | None:
        from pathway_app.ui.main_window import MainWindow
        from pathway_app.ui.sign_in import SignInDialog, SignInTarget, last_user

        loader = self._loader = ContextLoader(lambda: _load_everything(self.options))
        target = SignInTarget(first.display_name, self._authenticate_when_loaded)
        dialog = SignInDialog(target, self._request.user or last_user(self.settings))
        self._close_first_screen()
        # A load that fails (a broken configuration, a database that cannot be opened) ends
        # the dialog with the reason, rather than after the password is typed.
        loader.finished.connect(
            lambda: self._check_load(dialog), Qt.ConnectionType.QueuedConnection
        )
        QTimer.singleShot(LOAD_AFTER_DIALOG_MS, loader.start)
        dialog.exec()
        if self.exit_code is not None:
            return self.exit_code
        signed = dialog.signed_in
        if signed is None:
            return 0  # cancelled: nothing was opened, nothing to report
        ctx = self.ctx
        assert ctx is not None
        self._signed_in(ctx, signed)
        self._show_window(MainWindow(ctx, self.settings))
        return None

    def _authenticate_when_loaded(self, user: str, password: str) -> SignedIn:
        from pathway_app.services.users import authenticate

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            ctx = self._loaded_context()
        finally:
            QApplication.restoreOverrideCursor()
        if ctx is None:
            raise DomainError(QApplication.translate("SignIn", "The app could not start."))
        return authenticate(ctx.db, ctx.clock, user, password)

    def _check_load(self, dialog: SignInDialog) -> None:
        if self.ctx is None and self._loaded_context() is None:
            dialog.reject()

    # --- shared ------------------------------------------------------------------------------

    def _signed_in(self, ctx: ServiceContext, signed: SignedIn) -> None:
        from pathway_app.ui.sign_in import LAST_USER_KEY, apply

        apply(ctx, signed)
        if self.settings is not None:
            self.settings.setValue(LAST_USER_KEY, signed.username)

    def _show_window(self, window: MainWindow) -> None:
        self.window = window
        self._start_backups()

    def _start_backups(self) -> None:
        if self.window is not None and self.settings is not None and not self.options.demo:
            self.window.trust.start_automatic_backup()

    def _close_first_screen(self) -> None:
        if self._first is not None:
            self._first.close()
            self._first = None

    def close(self) -> None:
        """Close the database (at exit)."""
        self._close_first_screen()
        if self.ctx is not None:
            self.ctx.db.close()
        elif self._loader is not None and self._loader.done:
            # Loaded but never used (the start failed or was cancelled after loading).
            with contextlib.suppress(Exception):
                self._loader.result().db.close()
