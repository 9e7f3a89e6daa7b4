"""Files in a local folder: the embedded default (UPLOAD_DIR), or a folder every host mounts."""
from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from app.core.storage import StorageUnavailable, StoredFile, check_key

PARTIAL_SUFFIX = ".part"  # files being written; never listed, never read


class LocalStore:
    """``file_mode``: the files' permissions (0600 by default: customers' files, read by the
    app's user only); None keeps the umask's, for a drop folder another program reads."""

    def __init__(self, root: str | os.PathLike, file_mode: int | None = 0o600):
        self.root = Path(root)
        self.file_mode = file_mode
        try:  # a fresh install has no upload folder yet; a folder that cannot be made is
            self.root.mkdir(parents=True, exist_ok=True)  # reported by the first operation
        except OSError:
            pass

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        # Written under a temporary name, then renamed: a reader (or a worker killed mid-write)
        # never leaves or sees half a file under the real name.
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if self.file_mode is not None:
                os.chmod(partial, self.file_mode)
            os.replace(partial, path)
        except OSError as exc:
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass
            raise StorageUnavailable("put", key, exc) from exc

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            if not self.root.is_dir():  # the folder itself is gone (a share not mounted)
                raise StorageUnavailable("get", key, exc) from exc
            return None
        except OSError as exc:
            raise StorageUnavailable("get", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except OSError as exc:
            raise StorageUnavailable("exists", key, exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageUnavailable("delete", key, exc) from exc

    def list(self, prefix: str) -> list[StoredFile]:
        folder, _slash, _start = prefix.rpartition("/")
        base = self.root / check_key(folder) if folder else self.root
        found = []
        try:
            if not base.is_dir():
                return []
            for dirpath, _dirs, names in os.walk(base):
                for name in names:
                    if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
                        continue
                    path = Path(dirpath) / name
                    key = path.relative_to(self.root).as_posix()
                    if not key.startswith(prefix):
                        continue
                    try:
                        stat = path.stat()
                    except FileNotFoundError:  # removed meanwhile by another process
                        continue
                    found.append(StoredFile(key, stat.st_size,
                                            datetime.fromtimestamp(stat.st_mtime, UTC)))
        except OSError as exc:
            raise StorageUnavailable("list", prefix, exc) from exc
        return sorted(found, key=lambda f: f.key)

    def check(self) -> None:
        key = f"healthcheck/{secrets.token_hex(8)}"
        self.put(key, b"ok")
        if self.get(key) != b"ok":
            raise StorageUnavailable("get", key, "read back something else")
        self.delete(key)

    def describe(self) -> str:
        return f"local folder {self.root.resolve()}"
