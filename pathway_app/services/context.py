"""What every use case needs: the database, the pathway template, the catalogues, the clock
and who is acting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import Clock, local_today
from pathway_app.domain.template import PathwayTemplate
from pathway_app.storage.database import Database


@dataclass
class ServiceContext:
    """Attributes:
    db: the open database.
    template: the pathway template loaded at start.
    catalogue: pump models and drugs.
    clock: the app clock (fixed with ``--now``).
    actor: the name recorded as "who" on every write.
    """

    db: Database
    template: PathwayTemplate
    catalogue: Catalogue
    clock: Clock
    actor: str

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
