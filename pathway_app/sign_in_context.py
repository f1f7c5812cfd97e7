"""A service context for a signed-in user outside the window (command-line subcommands)."""

from __future__ import annotations

from pathway_app.domain.clock import Clock
from pathway_app.services.context import ServiceContext
from pathway_app.services.users import SignedIn
from pathway_app.storage.database import Database


def context_for(db: Database, clock: Clock, signed: SignedIn) -> ServiceContext:
    from pathway_app.app import load_configuration

    template, catalogue = load_configuration()
    return ServiceContext(
        db, template, catalogue, clock, signed.username, role=signed.role, user_id=signed.user_id
    )
