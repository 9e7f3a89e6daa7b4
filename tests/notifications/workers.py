"""Real RQ worker processes for the crash tests (``flask creditdesk worker``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_worker(database_url: str, redis_url: str, instance_dir: str,
                 log_path: Path) -> subprocess.Popen:
    """A worker in its own process group, so that killing it takes its work horse too."""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "JOBS_MODE": "rq", "CREDITDESK_INSTANCE_DIR": instance_dir,
           "PUBLIC_URL": "http://127.0.0.1:5000",
           "SEED_DEMO_DATA": "0", "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "creditdesk",
                             "worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def descendants(pid: int) -> list[int]:
    """Child processes, grandchildren... (RQ's work horse runs in a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9 of the worker and of the work horse sending for it, as a crash would."""
    for pid in [*descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            kill_hard(process)
