"""Atomic outputs: write `OUT.partial`, then `os.replace`; a lock file refuses a second writer."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from ..errors import LockError


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


class OutputLock:
    """An exclusive `OUT.lock` holding `host pid`. A stale lock (dead pid, same host) is taken over."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.path = lock_path(self.target)
        self.held = False

    def acquire(self) -> "OutputLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    host, pid = self.path.read_text().split()
                    stale = host == socket.gethostname() and not _pid_alive(int(pid))
                except (OSError, ValueError):
                    stale = False
                    host, pid = "?", "?"
                if stale:
                    self.path.unlink(missing_ok=True)
                    continue
                raise LockError(f"{self.target}: another process ({host} pid {pid}) is writing it; "
                                f"remove {self.path} if that process is gone")
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            self.held = True
            return self
        raise LockError(f"{self.target}: could not take the lock {self.path}")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def commit(partial: Path, final: Path) -> None:
    """Move a finished partial file into place atomically (same directory, same filesystem)."""
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, final)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    tmp.write_bytes(data)
    commit(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
