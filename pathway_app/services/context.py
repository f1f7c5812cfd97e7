"""What every use case needs: the database, the pathway template, the catalogues, the clock
and who is acting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import Clock, local_today
from pathway_app.domain.outcomes import OUTCOMES_FILE, OutcomesConfig, load_outcomes  # issue 10
from pathway_app.domain.readiness import (
    HOLDS_FILE,
    READINESS_FILE,
    HoldRule,
    ReadinessConfig,
    load_holds,
    load_readiness,
)
from pathway_app.domain.recovery import RECOVERY_FILE, RecoveryConfig, load_recovery
from pathway_app.domain.template import PathwayTemplate
from pathway_app.domain.users import Permission, Role, allowed, require
from pathway_app.resources import resource_path
from pathway_app.storage.database import Database

# --- Preparation and procedure (issue 5): readiness.toml and holds.toml ------------------------
# The app loads and checks both at start (app.load_configuration) and passes them in; the
# defaults read the shipped files once, so contexts built without them keep working.


@cache
def default_readiness() -> ReadinessConfig:
    return load_readiness(resource_path(READINESS_FILE))


@cache
def default_holds() -> Mapping[str, HoldRule]:
    return load_holds(resource_path(HOLDS_FILE))


# --- Hospital stay, recovery and follow-up (issue 6): recovery.toml ----------------------------
# Loaded and checked at start by app.build_context; the default reads the shipped file once.


@cache
def default_recovery() -> RecoveryConfig:
    return load_recovery(resource_path(RECOVERY_FILE))


# --- Outcomes (issue 10): outcomes.toml ---------------------------------------------------------
# Loaded and checked at start by app.build_context; the default reads the shipped file once.


@cache
def default_outcomes() -> OutcomesConfig:
    return load_outcomes(resource_path(OUTCOMES_FILE))


@dataclass
class ServiceContext:
    """Attributes:
    db: the open database.
    template: the pathway template loaded at start.
    catalogue: pump models and drugs.
    clock: the app clock (fixed with ``--now``).
    actor: the name recorded as "who" on every write.
    readiness: readiness gates, fasting, tests, trial and procedure settings (readiness.toml).
    holds: the anticoagulant/antiplatelet hold table by drug key (holds.toml).
    recovery: stay, discharge checklist, complications, red flags, follow-up plan (recovery.toml).
    outcomes: outcome scores, oral MME factors, consent alternatives (outcomes.toml; issue 10).
    role: the signed-in user's role (`domain.users.Role`; default coordinator).
    user_id: the signed-in user's id (None for tests and tools that act without signing in).
    """

    db: Database
    template: PathwayTemplate
    catalogue: Catalogue
    clock: Clock
    actor: str
    readiness: ReadinessConfig = field(default_factory=default_readiness)
    holds: Mapping[str, HoldRule] = field(default_factory=default_holds)
    recovery: RecoveryConfig = field(default_factory=default_recovery)  # issue 6
    # Issue 4: who is signed in. Every write transaction checks the role (see __post_init__).
    role: str = Role.COORDINATOR.value
    user_id: int | None = None
    # Issue 10: scores by indication, oral MME factors, IT opioid equivalents (outcomes.toml).
    outcomes: OutcomesConfig = field(default_factory=default_outcomes)

    def __post_init__(self) -> None:
        # Every service writes through ctx.db.writing(permission); the role is checked there,
        # so a viewer's write raises PermissionDenied before anything is written, in services
        # added later too.
        self.db = self.db.guarded(lambda permission: require(self.role, Permission(permission)))

    def can(self, permission: Permission) -> bool:
        return allowed(self.role, permission)

    def require(self, permission: Permission) -> None:
        """Raise `PermissionDenied` unless the signed-in user's role allows `permission`."""
        require(self.role, permission)

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return local_today(self.clock.now())

    def stage_name(self, key: str | None) -> str:
        if key is None:
            return "Complete"
        try:
            return self.template.stage(key).name
        except KeyError:
            return key

    def indication_name(self, key: str) -> str:
        try:
            return self.template.indication(key).name
        except KeyError:
            return key

    def setting_name(self, key: str) -> str:
        return next((c.name for c in self.template.settings if c.key == key), key)

    def drug_name(self, key: str) -> str:
        drug = self.catalogue.drugs.get(key)
        return drug.name if drug else key

    def pump_name(self, key: str) -> str:
        pump = self.catalogue.pumps.get(key)
        return pump.name if pump else key
