"""Composition root: builds the service context and the Qt application from the options."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathway_app import paths
from pathway_app.domain.clock import Clock, FixedClock, SystemClock
from pathway_app.resources import resource_path, resources_dir

if TYPE_CHECKING:
    # Issue 9: importing this module must not import the data layer (SQLAlchemy, the ORM):
    # the first screen is painted before it is loaded (see ui/startup.py).
    from pathway_app.domain.catalogues import Catalogue
    from pathway_app.domain.readiness import HoldRule, ReadinessConfig
    from pathway_app.domain.template import PathwayTemplate
    from pathway_app.services.context import ServiceContext
    from pathway_app.storage.database import Database
    from pathway_app.ui.startup import Start

TEMPLATE_FILE = ("pathways", "constant_flow_pump.toml")


@dataclass(frozen=True)
class AppOptions:
    database: str | None = None
    demo: bool = False
    screenshot: Path | None = None
    now: datetime | None = None
    actor: str = "unknown user"
    # Issue 4: who signs in. With both set, no sign-in dialog (automation); see sign_in.py.
    user: str | None = None
    password: str | None = None


def load_configuration() -> tuple[PathwayTemplate, Catalogue]:
    """Load and validate the pathway template and the catalogues (raises TemplateError).

    The preparation files (readiness.toml, holds.toml) are loaded and checked against the
    template here too, so a broken one stops the app at start; `load_preparation_configuration`
    returns them.
    """
    from pathway_app.domain.catalogues import load_catalogue

    template = load_template()
    catalogue = load_catalogue(resources_dir())
    load_preparation_configuration(template)
    return template, catalogue


def load_template() -> PathwayTemplate:
    """The pathway template alone (raises TemplateError); `load_configuration` checks the rest."""
    from pathway_app.domain.template import load_template as load

    return load(resource_path(*TEMPLATE_FILE))


def load_preparation_configuration(
    template: PathwayTemplate,
) -> tuple[ReadinessConfig, dict[str, HoldRule]]:
    """Load readiness.toml and holds.toml and check the readiness gates and indications against
    the template's gate milestones (raises TemplateError naming the file and the key)."""
    from pathway_app.domain.readiness import (
        HOLDS_FILE,
        READINESS_FILE,
        check_against_template,
        load_holds,
        load_readiness,
    )

    readiness = load_readiness(resource_path(READINESS_FILE))
    holds = load_holds(resource_path(HOLDS_FILE))
    check_against_template(
        readiness,
        [i.key for i in template.indications],
        [m.key for stage in template.stages for m in stage.milestones if m.gate],
    )
    return readiness, holds


def make_clock(now: datetime | None) -> Clock:
    return FixedClock(now) if now is not None else SystemClock()


def open_demo_database(template: PathwayTemplate, catalogue: Catalogue, clock: Clock) -> Database:
    """Recreate the demo database so its dates are always relative to today."""
    from pathway_app.services.context import ServiceContext
    from pathway_app.services.demo import seed_demo
    from pathway_app.storage.database import open_database

    path = paths.demo_database()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_database(str(path))
    seed_demo(ServiceContext(db, template, catalogue, clock, "demo"))
    from pathway_app.services.users import seed_demo_users

    seed_demo_users(db, clock)  # issue 4: demo accounts with the documented demo password
    return db


def build_context(options: AppOptions) -> ServiceContext:
    """Everything but Qt. Raises TemplateError or DatabaseOpenError with readable messages."""
    from pathway_app.domain.outcomes import OUTCOMES_FILE, load_outcomes  # issue 10
    from pathway_app.domain.recovery import RECOVERY_FILE, load_recovery
    from pathway_app.services.context import ServiceContext
    from pathway_app.storage.database import open_database

    template, catalogue = load_configuration()
    readiness, holds = load_preparation_configuration(template)
    # Issue 6: a broken recovery.toml stops the app at start with a message naming the key.
    recovery = load_recovery(resource_path(RECOVERY_FILE))
    outcomes = load_outcomes(resource_path(OUTCOMES_FILE))  # issue 10: refused at start if broken
    clock = make_clock(options.now)
    if options.demo:
        db = open_demo_database(template, catalogue, clock)
    else:
        db = open_database(options.database or paths.default_database())
    return ServiceContext(
        db,
        template,
        catalogue,
        clock,
        options.actor,
        readiness,
        holds,
        recovery=recovery,
        outcomes=outcomes,
    )


def report_problem(title: str, message: str) -> None:
    """Print the problem, and show it in a message box when there is a screen to show it on."""
    print(f"pathway-app: {message}", file=sys.stderr)
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if QGuiApplication.platformName() not in ("offscreen", "minimal"):
        QMessageBox.critical(None, title, message)
    del app


def start_app(options: AppOptions, *, use_settings: bool = True) -> tuple[Any, Start, int | None]:
    """Make the Qt application and open the app for `options`: (application, the `Start`
    with its window, None) or, when nothing was opened, (application, start, exit code).

    use_settings: read and write the settings file (the sign-in's last user, window geometry,
    automatic backups); the benchmarks open clinics without it.
    """
    from pathway_app.opening import begin

    # Before Qt is imported: the password check (argon2, on a thread) overlaps the import.
    early = begin(options)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from pathway_app.ui.startup import Start

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Care Pathway Tracker")
    app.setOrganizationName("pathway-app")
    settings = None
    if options.screenshot is None and use_settings:
        settings = QSettings(str(paths.settings_file()), QSettings.Format.IniFormat)
    # Issue 4: nobody sees patient data before signing in (a dialog, or --user with
    # $PATHWAY_PASSWORD for automation; the demo signs in its demo coordinator).
    start = Start(options, settings, early)
    start.failed.connect(app.exit)
    return app, start, start.open()


def run(options: AppOptions) -> int:
    app, start, failure = start_app(options)
    if failure is not None:
        start.close()
        return failure
    window = start.window
    assert window is not None
    try:
        if options.screenshot is not None:
            from pathway_app.cli import EXIT_SCREENSHOT

            return int(_screenshot(app, window, options.screenshot, EXIT_SCREENSHOT))
        from pathway_app.ui import error_hook

        error_hook.install(window)
        window.show()
        code = app.exec()
        return start.exit_code if start.exit_code is not None else int(code)
    finally:
        start.close()


def _screenshot(app: object, window: object, target: Path, failure_code: int) -> int:
    from PySide6.QtWidgets import QApplication

    from pathway_app.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window.show()
    # Open the most urgent refill on its pump page, so the picture shows what a coordinator
    # sees first: the refill worklist, the episode and its reservoir chart.
    window.refill_worklist.table.selectRow(0)
    window.refill_worklist.open_selected()
    window.episode_view.tabs.setCurrentWidget(window.pump_page)
    QApplication.processEvents()
    if not window.grab().save(str(target), "PNG"):
        print(f"pathway-app: the screenshot could not be written to {target}", file=sys.stderr)
        return failure_code
    window.close()
    return 0
