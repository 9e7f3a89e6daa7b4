"""Staff-written templates run in a sandbox: no config, no private attributes, nothing leaks."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.notifications.models import MessageTemplate
from app.notifications.outbox import queue_message
from app.notifications.rendering import TemplateBroken, render_source, render_template
from tests.helpers import make_customer

ESCAPES = [
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ customer.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ request.application.__globals__ }}",
    "{{ url_for.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(customer) }}",
    "{{ customer.items.__self__ }}",
    "{{ company.update({'name': 'Evil'}) }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "{{ customer|attr('__class__') }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escapes_fail_safely(app, source):
    customer = make_customer()
    context = {"customer": {"name": customer.name}, "company": {"name": "ACME"}}
    with pytest.raises(TemplateBroken) as caught:
        render_source("Hello", source, None, "en", context)
    assert app.config["SECRET_KEY"] not in str(caught.value)


def test_a_broken_staff_template_never_sends_secrets_and_the_event_fails_clearly(app):
    customer = make_customer()
    db.session.add(MessageTemplate(key="sneaky", channel="email", language="fr", version=1,
                                   subject="Hi", body_text="{{ config.SECRET_KEY }}"))
    db.session.commit()
    with pytest.raises(TemplateBroken):
        queue_message(customer, event="sneaky", template_key="sneaky", context={},
                      idempotency_key="sneaky-1")
    db.session.rollback()


def test_templates_see_display_values_not_orm_objects(app):
    """Even a template that only walks the customer cannot reach the session or the database."""
    from app.notifications.context import customer_view

    customer = make_customer(name="Emma")
    template = MessageTemplate(key="k", channel="email", language="en", version=1,
                               subject=None, body_text="{{ customer.contacts }}")
    with pytest.raises(TemplateBroken):
        render_template(template, {"customer": customer_view(customer)})
    ok = MessageTemplate(key="k", channel="email", language="en", version=1, subject=None,
                         body_text="{{ customer.name }} {{ 12.5|money }}")
    assert render_template(ok, {"customer": customer_view(customer)}).text.startswith("Emma €")


def test_html_is_escaped_in_the_html_part(app):
    _subject, text, html = render_source(
        "S", "{{ customer.name }}", "<p>{{ customer.name }}</p>{{ text_body|paragraphs }}", "en",
        {"customer": {"name": "<script>alert(1)</script>"}})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert text.startswith("<script>")  # the text part is plain text, shown as text
