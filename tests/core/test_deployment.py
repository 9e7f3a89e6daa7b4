"""docker-compose.yml and the Dockerfile use commands that exist in the project."""
from __future__ import annotations

import importlib
import shlex
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _flask_command_exists(app, words: list[str]) -> bool:
    """Walk `flask <group> <command>` through the app's click groups."""
    import click

    group: click.Command = app.cli
    ctx = click.Context(group)
    for word in words:
        if word.startswith("-"):
            break
        if not isinstance(group, click.Group):
            return False
        group = group.get_command(ctx, word)
        if group is None:
            return False
    return True


def _check_command(app, command: list[str]) -> None:
    program = command[0]
    if program == "sh" and command[1] == "-c":  # a deploy step of several commands, in order
        for part in command[2].split("&&"):
            _check_command(app, shlex.split(part))
        return
    assert shutil.which(program, path=str(Path(sys.executable).parent)) or shutil.which(program), \
        f"{program} is not installed by the project"
    if program == "gunicorn":
        target = next(arg for arg in command[1:] if ":" in arg and not arg.startswith("0.0.0.0"))
        module_name, attr = target.split(":")
        assert (ROOT / f"{module_name}.py").exists()
        source = (ROOT / f"{module_name}.py").read_text()
        assert f"{attr} = create_app(" in source
    elif program == "flask":
        assert command[1:3] == ["--app", "app"]
        assert _flask_command_exists(app, command[3:]), f"no such command: {command}"
    else:
        raise AssertionError(f"unexpected program {program}")


def test_every_service_command_resolves(app):
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "scheduler"} <= set(services)
    for name in ("migrate", "web", "worker", "scheduler"):
        _check_command(app, services[name]["command"])


def test_app_services_get_database_redis_and_secret_from_the_environment():
    services = _compose()["services"]
    for name in ("web", "worker", "scheduler", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://")
        assert "${SECRET_KEY" in env["SECRET_KEY"]


def test_every_host_shares_one_file_store():
    """Several web and worker hosts: files go to the object store, never a host's own disk."""
    services = _compose()["services"]
    assert services["objectstore"]["healthcheck"]
    for name in ("web", "worker", "scheduler", "migrate"):
        env = services[name]["environment"]
        assert env["STORAGE_URL"].startswith("${STORAGE_URL:-s3://")
        assert "${OBJECTSTORE_SECRET_KEY" in env["AWS_SECRET_ACCESS_KEY"]
    # The bucket is made on the first deploy, before the migrations.
    assert services["migrate"]["command"][2].startswith("flask --app app storage init")
    assert "'.[s3]'" in (ROOT / "Dockerfile").read_text()


def test_dockerfile_default_command_matches_the_web_service():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"wsgi:app"' in dockerfile
    for path in ("app", "migrations", "translations", "plugins"):
        assert f"COPY {path} ./{path}" in dockerfile


def test_wsgi_module_builds_the_app(monkeypatch):
    module = importlib.import_module("wsgi")
    assert module.app.name == "app"
