"""Staff templates cannot exhaust the server: output, loop rounds, time, value sizes, range()
and numbers are limited in the sandbox; the preview shows the limit, saving refuses it quickly,
and normal templates still render."""
from __future__ import annotations

import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.notifications.events import sample_context
from app.notifications.models import MessageTemplate
from app.notifications.rendering import (
    LIMITS,
    Limits,
    TemplateBroken,
    _render_part,
    active_template,
    render_source,
)
from tests.helpers import csrf_token

ATTACKS = [
    "{{ ('x'*300000000)|length }}",
    "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(10) %}x"
    "{% endfor %}{% endfor %}{% endfor %}"),
    "{% for a in range(10**9) %}{% endfor %}",
    "{{ 9 ** 9999999 }}",
    "{{ 10 ** 10 ** 10 ** 10 }}",
    "{{ (2 ** 4000) * (2 ** 4000) }}",
    "{{ 'x'|center(300000000) }}",
    "{{ 'x'.ljust(300000000) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'ab'|format }}{{ '%s%s%s%s%s%s%s%s%s%s'|format(*['y' * 200000] * 10) }}",
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}"),
    ("{% set ns = namespace(s=['x']) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}"),
    ("{% set s = 'xxxxxxxxxx' %}{{ s.replace('x', s).replace('x', s).replace('x', s)"
    ".replace('x', s).replace('x', s).replace('x', s)|length }}"),
    "{{ 'xxxxxxxxxx'|replace('x', 'y' * 900000)|length }}",
    "{% set x %}{% for i in range(10000) %}" + "y" * 5000 + "{% endfor %}{% endset %}"
    "{{ x|length }}",
    "{% macro m(n) %}{{ m(n) }}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% for x in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}",
    ("{% set l = ['x' * 100000] %}{% set l = [l, l, l, l, l, l, l, l, l, l] %}"
    "{% set l = [l, l, l, l, l, l, l, l, l, l] %}{% set l = [l, l, l, l, l, l, l, l, l, l] %}"
    "{{ l }}"),
    "{{ range(10000)|map('string')|join('y' * 1000) }}",
    "{{ ('abc\n' * 100000)|indent(1000) }}",
    "{{ (range(5000)|list) * 1000 }}",
    "{{ ('x\t' * 1000).expandtabs(100000) }}",
    "{{ lipsum(1000, max=10000) }}",
    "{% include 'layout.html' %}",
    "{% extends 'layout.html' %}",
    "{{ config.SECRET_KEY }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ total_due|money }}" * 20000,
    "{{ '{0:{1}}'.format(1, 10 ** 9) }}",
    "{{ '{0:>{w}}'.format(1, w=10 ** 9) }}",
    "{{ '%s'|format(10 ** 9) }}{{ '{:{}}'.format('x', 999999999) }}",
]


@pytest.mark.parametrize("source", ATTACKS)
def test_each_attack_fails_quickly_as_a_template_error(app, source):
    context = sample_context("dunning_reminder", "en")
    started = time.monotonic()
    with pytest.raises(TemplateBroken) as caught:
        render_source("Hello", "Dear {{ customer.name }},\n" + source, None, "en", context)
    assert time.monotonic() - started < 2
    assert app.config["SECRET_KEY"] not in str(caught.value)
    assert caught.value.part == "body_text"


def test_the_limits_hold_for_set_blocks_macros_and_the_html_part(app):
    small = Limits(max_output=1000, max_value=500, max_range=50, max_steps=200,
                   max_int_digits=20, max_seconds=1.0)
    cases = {
        "{% set x %}{% for i in range(40) %}" + "z" * 40 + "{% endfor %}{% endset %}": "1000",
        "{% macro m() %}" + "z" * 300 + "{% endmacro %}{{ m() }}{{ m() }}{{ m() }}{{ m() }}":
            "1000",
        "{% for i in range(30) %}{% for j in range(30) %}{% endfor %}{% endfor %}": "200",
        "{{ range(51)|list }}": "50",
        "{{ 10 ** 25 }}": "20",
        "{{ 'x' * 501 }}": "500",
    }
    for source, number in cases.items():
        with pytest.raises(TemplateBroken) as caught:
            _render_part("body_html", True, source, {}, small)
        assert number in caught.value.error, (source, caught.value.error)
        assert caught.value.lineno == 1 and caught.value.part == "body_html"
    assert _render_part("body_text", False, "{{ 'x' * 500 }}", {}, small) == "x" * 500


def test_a_slow_template_is_stopped_by_the_deadline(app):
    quick = Limits(max_seconds=0.05)
    source = ("{% for a in range(10000) %}{% for b in range(10000) %}{{ b|string|length }}"
              "{% endfor %}{% endfor %}")
    started = time.monotonic()
    with pytest.raises(TemplateBroken) as caught:
        _render_part("body_text", False, source, {}, quick)
    assert time.monotonic() - started < 1
    assert "second" in caught.value.error


def test_a_busy_host_does_not_make_a_normal_template_too_slow(app):
    """The deadline counts the rendering thread's own CPU time: other threads (other requests,
    other jobs) taking the processor stretch the wall time, not the template's budget."""
    source = "{% for i in range(5000) %}{{ i|string }} {% endfor %}"
    roomy = Limits(max_steps=100_000, max_seconds=60)
    _render_part("body_text", False, source, {}, roomy)  # compiled once, then measured
    started = time.thread_time()
    _render_part("body_text", False, source, {}, roomy)
    budget = Limits(max_steps=100_000, max_seconds=(time.thread_time() - started) * 3)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(2000))

    competitors = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
    switching = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the threads take turns often, as a busy server's do
    for competitor in competitors:
        competitor.start()
    try:
        wall = time.monotonic()
        for _ in range(5):
            assert _render_part("body_text", False, source, {}, budget).startswith("0 1 2")
        wall = (time.monotonic() - wall) / 5
    finally:
        stop.set()
        for competitor in competitors:
            competitor.join()
        sys.setswitchinterval(switching)
    assert wall > budget.max_seconds  # the wall clock alone would have stopped it


def test_normal_templates_still_render_every_shipped_reminder(app, defaults):
    from app.dunning.defaults import install_templates

    install_templates()
    db.session.commit()
    rows = db.session.scalars(select(MessageTemplate).where(
        MessageTemplate.key.like("dunning_%"))).all()
    assert len(rows) == 63
    for row in rows:
        context = sample_context(row.key, row.language, row.channel)
        _subject, text, _html = render_source(row.subject, row.body_text, row.body_html,
                                            row.language, context)
        assert text.strip() and "{{" not in text, (row.key, row.channel, row.language)
        if row.channel != "sms":
            assert "INV-000123" in text, (row.key, row.channel, row.language)
    # a big but real reminder: 2,000 invoices fit within the limits
    context = sample_context("dunning_firm", "fr")
    context["invoices"] = context["invoices"] * 2000
    template = active_template("dunning_firm", "letter", "fr")
    _s, text, _h = render_source(template.subject, template.body_text, None, "fr", context)
    assert text.count("INV-000123") >= 2000
    assert LIMITS.max_output > len(text)


def _count() -> int:
    return db.session.scalar(select(func.count(MessageTemplate.id)))


@pytest.mark.parametrize("attack", [ATTACKS[0], ATTACKS[1], ATTACKS[10], ATTACKS[16]])
def test_saving_an_attack_is_refused_quickly_and_nothing_is_saved(defaults, staff_client,
                                                                  attack):
    client = staff_client("Credit manager")
    template = active_template("payment_received", "email", "en")
    before = _count()
    page = client.get(f"/messagetemplateview/edit/{template.id}").get_data(as_text=True)
    token = csrf_token(page)
    started = time.monotonic()
    response = client.post(f"/messagetemplateview/edit/{template.id}", data={
        "csrf_token": token, "active": "y", "subject": template.subject,
        "body_text": "Hello\n" + attack, "body_html": template.body_html})
    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert "Template error on line 2" in response.get_data(as_text=True)
    preview = client.post("/messagetemplateview/preview", data={
        "csrf_token": token, "template_id": str(template.id), "body_text": "Hello\n" + attack})
    assert preview.status_code == 200 and "line 2" in preview.get_json()["error"]
    db.session.expire_all()
    assert _count() == before
    assert active_template("payment_received", "email", "en").id == template.id
