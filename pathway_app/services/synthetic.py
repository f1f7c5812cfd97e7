"""A synthetic clinic of any size for benchmarks (issue 9).

How: a prototype clinic of a few dozen patients is made through the same use cases a
coordinator uses (`demo.seed_demo` with years of history: every stage, refills every few
weeks computed by the refill engine, follow-up, complications, red flags, audit entries), in a
scratch file, relative to the same ``now``. It is then copied into the target with bulk inserts
(`storage.bulk.copy_clinic`) until the target holds the number of episodes asked for, each copy
with new MRNs and names and the audit chain re-hashed in order. Every copy is consistent with
the domain rules because every prototype is, and the worklist fields are relative to the same
clock. Deterministic for a given seed, size and ``now``.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.template import PathwayTemplate
from pathway_app.services.context import ServiceContext
from pathway_app.services.demo import FAMILY_NAMES, GIVEN_NAMES, seed_demo
from pathway_app.storage.bulk import NewPatient, copy_clinic
from pathway_app.storage.database import open_database

# Refills every 4 to 12 weeks or so: pumps fast enough to need a refill every two weeks are left
# out of the prototype (the catalogue keeps them; the demo shows them).
MAX_FLOW_ML_PER_DAY = 0.5
DEFAULT_PROTOTYPES = 60
DEFAULT_HISTORY_DAYS = 3650
ACTOR = "synthetic"
EXTRA_FAMILY = (
    "Abebe",
    "Brennan",
    "Chen",
    "Demir",
    "Esposito",
    "Fischer",
    "Gomez",
    "Hansen",
    "Ibrahim",
    "Jovanović",
    "Khan",
    "Larsen",
    "Mendes",
    "Nowak",
    "Olsen",
    "Papadopoulos",
    "Rahman",
    "Santos",
    "Takahashi",
    "Ueda",
    "Varga",
    "Wagner",
    "Young",
    "Zhang",
)


@dataclass(frozen=True)
class GenerateReport:
    episodes: int
    prototypes: int
    audit_entries: int
    seconds_prototype: float
    seconds_copy: float


def _slow_pumps(catalogue: Catalogue) -> Catalogue:
    pumps = {
        key: model
        for key, model in catalogue.pumps.items()
        if model.nominal_flow_ml_per_day is None
        or model.nominal_flow_ml_per_day <= MAX_FLOW_ML_PER_DAY
    }
    return replace(catalogue, pumps=pumps)


def _namer(seed: int) -> Callable[[int], NewPatient]:
    families = sorted({*FAMILY_NAMES, *EXTRA_FAMILY})
    givens = sorted(GIVEN_NAMES)

    def new_patient(number: int) -> NewPatient:
        rng = random.Random(seed * 1_000_003 + number)
        return NewPatient(
            mrn=f"SYN-{number + 1:07d}",
            family_name=rng.choice(families),
            given_name=rng.choice(givens),
        )

    return new_patient


def generate_clinic(
    target: Path,
    *,
    episodes: int,
    template: PathwayTemplate,
    catalogue: Catalogue,
    now: datetime,
    seed: int = 2026,
    prototypes: int = DEFAULT_PROTOTYPES,
    history_days: int = DEFAULT_HISTORY_DAYS,
    progress: Callable[[str], None] | None = None,
) -> GenerateReport:
    """Create ``target`` (a new SQLite file) holding ``episodes`` synthetic episodes.

    Raises:
        ValueError: ``target`` exists already, or a size is not positive.
    """
    import time

    if episodes < 1 or prototypes < 1:
        raise ValueError("the number of episodes and prototypes must be positive")
    if target.exists():
        raise ValueError(f"{target} exists already; the generator only creates new files")
    prototypes = min(prototypes, episodes)
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pathway-synthetic-") as scratch:
        source = Path(scratch) / "prototype.sqlite3"
        db = open_database(str(source))
        try:
            ctx = ServiceContext(db, template, _slow_pumps(catalogue), FixedClock(now), ACTOR)
            seed_demo(ctx, patients=prototypes, seed=seed, history_days=history_days)
        finally:
            db.close()
        say(f"prototype clinic of {prototypes} episodes made through the services")
        built = time.perf_counter()
        created = open_database(str(target))  # the schema, through the migrations
        created.close()
        try:
            entries = copy_clinic(
                str(source),
                str(target),
                episodes=episodes,
                new_patient=_namer(seed),
                progress=lambda n: (
                    say(f"{n} episodes written") if n % 10_000 < prototypes else None
                ),
            )
        except BaseException:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            raise
    return GenerateReport(
        episodes=episodes,
        prototypes=prototypes,
        audit_entries=entries,
        seconds_prototype=built - started,
        seconds_copy=time.perf_counter() - built,
    )
