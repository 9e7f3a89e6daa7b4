"""CreditDesk on its embedded default: `python run.py`.

SQLite under instance/, background jobs in-process, demo data and one staff login per role on
first start. With DATABASE_URL / REDIS_URL set it uses PostgreSQL and Redis instead (then run
`flask --app app creditdesk worker` for the jobs).
"""
from __future__ import annotations

import argparse
import os


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run CreditDesk (embedded default: SQLite, no Redis).")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--no-demo", action="store_true", help="Do not seed demo data.")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="Do not run the daily jobs in this process.")
    return parser.parse_args(argv)


def prepare(app, seed_demo: bool = True) -> list[tuple[str, str, str]]:
    """Migrate, create roles, seed demo data and staff users; returns the new logins."""
    from app.setup_cli import prepare_database
    from app.demo import create_demo_staff, seed_demo_data

    with app.app_context():
        prepare_database()
        if seed_demo and app.config.get("SEED_DEMO_DATA", True):
            summary = seed_demo_data()
            if summary.created:
                print(f"Demo data: {summary}")
        return create_demo_staff(app)


def print_logins(logins: list[tuple[str, str, str]], base_url: str) -> None:
    print(f"\nCreditDesk back office: {base_url}/   (API spec: {base_url}/api/v1/_openapi)")
    if not logins:
        print("Staff users already exist; their passwords are unchanged.")
        return
    print("Staff logins (shown once; set DEMO_PASSWORD to choose the password):")
    for username, role, password in logins:
        print(f"  {role:<20} {username:<12} {password}")
    print()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from app import create_app
    from app.core import links

    app = create_app()
    # Links in messages (and the console's "read it at" lines) use the address we listen on,
    # unless PUBLIC_URL or the setting says where people reach us; never a request's Host.
    address = links.listen_url(args.host, args.port)
    links.remember_listen_url(app, address)
    logins = prepare(app, seed_demo=not args.no_demo)
    if not args.no_scheduler and app.config["JOBS_MODE"] != "rq":
        from app.core.scheduler import start_in_thread

        start_in_thread(app)
    print_logins(logins, address)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
