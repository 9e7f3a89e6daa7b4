"""What the template sandbox's limits cost on a normal reminder.

    python -m bench.template_limits [--invoices 20] [--rounds 2000]

Renders the shipped "dunning_firm" e-mail (subject, text and HTML layout) with the reminder's
sample values and ``--invoices`` invoices, ``--rounds`` times, through the limited sandbox
(app.notifications.rendering: counted loops, calls and filters, checked sizes, a deadline), and
the baseline in the same run: the same compiled-once template in Jinja's plain
ImmutableSandboxedEnvironment with the same filters, in alternating batches (best batch of
each kept, CPU time of this process). Prints the time per render of each and the overhead.
Needs no database (SQLite in memory).
"""
from __future__ import annotations

import time

import click


@click.command()
@click.option("--invoices", default=20, show_default=True)
@click.option("--rounds", default=2000, show_default=True)
def main(invoices: int, rounds: int) -> None:
    from flask_babel import force_locale
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from app import create_app
    from app.core.i18n import day, money
    from app.dunning.defaults import TEMPLATES_DIR
    from app.notifications.defaults import load_defaults
    from app.notifications.events import sample_context
    from app.notifications.rendering import paragraphs, render_source
    from config import TestConfig

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        from app.extensions import db

        db.create_all()
        shipped = next(d for d in load_defaults(TEMPLATES_DIR)
                       if (d.key, d.channel, d.language) == ("dunning_firm", "email", "fr"))
        context = sample_context("dunning_firm", "fr")
        context["invoices"] = context["invoices"] * invoices

        plain = {}
        for autoescape in (False, True):
            env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined,
                                                trim_blocks=True, lstrip_blocks=True)
            env.filters.update(money=money, date=day, paragraphs=paragraphs)
            plain[autoescape] = env

        def limited() -> None:
            render_source(shipped.subject, shipped.body_text, shipped.body_html, "fr", context)

        compiled = {}
        for name in ("subject", "body_text", "body_html"):  # compile once, as the cache does
            compiled[name] = plain[name == "body_html"].from_string(getattr(shipped, name))

        def baseline_cached() -> None:
            with force_locale("fr_BE"):
                subject = compiled["subject"].render(context)
                text = compiled["body_text"].render(context)
                compiled["body_html"].render({**context, "text_body": text, "subject": subject})

        # Alternating batches, best of each: the machine may be busy with other work, and the
        # fastest batch is the one least disturbed by it.
        runs = {"plain sandbox": baseline_cached, "limited sandbox": limited}
        figures = {name: float("inf") for name in runs}
        for run in runs.values():
            run()
        for _batch in range(7):
            for name, run in runs.items():
                started = time.process_time()
                for _ in range(max(rounds // 7, 1)):
                    run()
                elapsed = (time.process_time() - started) / max(rounds // 7, 1) * 1000
                figures[name] = min(figures[name], elapsed)
        for name, ms in figures.items():
            click.echo(f"{name:16} {ms:.3f} ms per reminder ({invoices} invoices)")
        overhead = figures["limited sandbox"] / figures["plain sandbox"] - 1
        click.echo(f"overhead of the limits: {overhead:+.0%}")


if __name__ == "__main__":
    main()
