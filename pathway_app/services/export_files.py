"""Issue 8: writing an export file safely, and recording that patient data left the app.

Every export is built in memory first, then written to a temporary file in the target's own
folder (owner-only, 0o600) and renamed over the target in one step, so a reader never sees a
half-written file and a failure leaves nothing behind. An existing file is refused unless the
caller says to overwrite it (in the GUI the file dialog's overwrite question counts as asked).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pathway_app.domain.users import Permission
from pathway_app.services.context import ServiceContext
from pathway_app.storage import repository as repo


class ExportError(Exception):
    """An export could not be written; the message says why in one sentence. Nothing was
    written."""


def check_target(target: Path, *, overwrite: bool = False) -> None:
    """Refuse before any work is done: an existing file (unless `overwrite`), a folder, or a
    folder that does not exist or cannot be written."""
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name to export to.")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; nothing was written (choose to overwrite).")
    folder = target.parent
    if not folder.is_dir():
        raise ExportError(f"The folder {folder} does not exist; nothing was written.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"The folder {folder} cannot be written; nothing was written.")


def write_atomic(target: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write `data` to `target` through a temporary file in the same folder, then rename.

    Raises:
        ExportError: the target exists (and not `overwrite`), or the folder cannot be written.
    """
    target = Path(target).expanduser()
    check_target(target, overwrite=overwrite)
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as exc:
        raise ExportError(f"{target.parent} cannot be written: {exc.strerror}.") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            # link() fails if the target appeared meanwhile: never clobber a file not asked for.
            try:
                os.link(temporary, target)
            except FileExistsError as exc:
                raise ExportError(f"{target} already exists; nothing was written.") from exc
            except OSError:
                if target.exists():
                    raise ExportError(f"{target} already exists; nothing was written.") from None
                os.replace(temporary, target)  # file systems without hard links
    except OSError as exc:
        raise ExportError(f"{target} could not be written: {exc.strerror or exc}.") from exc
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


def record_export(
    ctx: ServiceContext, kind: str, target: Path, *, episode_id: int | None = None, **detail: object
) -> None:
    """Append "export.<kind>" to the audit trail: patient data left the app. Any signed-in
    role may export what it may read, so this needs only the own-account permission."""
    with ctx.db.writing(Permission.OWN_ACCOUNT.value) as session:
        patient_id = None
        if episode_id is not None:
            patient_id = repo.get_episode(session, episode_id).patient_id
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action=f"export.{kind}",
            entity="episode" if episode_id is not None else "export",
            entity_id=episode_id or 0,
            episode_id=episode_id,
            patient_id=patient_id,
            new={"file": target.name, **detail},
        )
