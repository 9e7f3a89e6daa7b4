"""`flask storage init | check | copy-local`: for operators setting up or moving to a shared store."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import AppGroup

from app.core.storage import StorageUnavailable, is_key, storage
from app.core.storage.local import PARTIAL_SUFFIX

storage_cli = AppGroup("storage", help="The file store (STORAGE_URL): check it, fill it.")

# Files that a domain kept in local folders before the store existed, moved in by
# `copy-local` after the instance folder: (what, mover returning how many). A registry because
# core does not import the domains: app.notifications.print_batches registers its print batches
# when it is imported (with the notifications screens, at start-up).
LOCAL_MOVERS: list[tuple[str, Callable[[], int]]] = []


def register_local_mover(what: str, mover: Callable[[], int]) -> None:
    LOCAL_MOVERS.append((what, mover))


@storage_cli.command("check")
def check() -> None:
    """Write, read back and delete a small file; exit 1 when the store cannot be used."""
    store = storage()
    try:
        store.check()
    except StorageUnavailable as exc:
        raise click.ClickException(f"{store.describe()}: {exc}") from exc
    click.echo(f"ok: {store.describe()}")


@storage_cli.command("init")
def init() -> None:
    """First deploy: make the object store's bucket if it is missing, then check the store.
    Safe to run on every deploy (nothing is made twice)."""
    store = storage()
    try:
        made = getattr(store, "create_bucket", lambda: False)()
        store.check()
    except StorageUnavailable as exc:
        raise click.ClickException(f"{store.describe()}: {exc}") from exc
    click.echo(f"{'made and checked' if made else 'ok'}: {store.describe()}")


@storage_cli.command("copy-local")
@click.argument("folder", required=False,
                type=click.Path(file_okay=False, exists=True, path_type=Path))
def copy_local(folder: Path | None) -> None:
    """Copy the files of a local upload folder (default: UPLOAD_DIR) into the configured store,
    under the same keys, so that a deployment moving to STORAGE_URL keeps every file. Files the
    store already has are left alone; running it twice copies nothing twice. Print batches in a
    local folder of this host are moved into the store too (letters/<batch>/)."""
    from flask import current_app

    source = folder or Path(current_app.config["UPLOAD_DIR"])
    store = storage()
    copied = kept = skipped = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = path.relative_to(source).as_posix()
        if path.name.endswith(PARTIAL_SUFFIX) or not is_key(key):
            skipped += 1
            continue
        if store.exists(key):
            kept += 1
            continue
        store.put(key, path.read_bytes())
        copied += 1
    click.echo(f"{copied} copied, {kept} already there, {skipped} skipped "
               f"into {store.describe()}")
    for what, mover in LOCAL_MOVERS:
        click.echo(f"{mover()} {what} moved from local folders")
