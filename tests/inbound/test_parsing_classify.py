"""Reading replies as they really come: quotes, forwards, HTML with scripts, broken MIME,
automatic replies and bounces; classification of FR/NL/EN replies."""
from __future__ import annotations

import pytest

from app.inbound.autodetect import kind_of
from app.inbound.classify import classify, language_of
from app.inbound.parsing import parse
from tests.inbound import mails

OWN = {"billing@example.test"}


@pytest.mark.parametrize("text, category, language", [
    (mails.OUTLOOK_FR_PAID, "paid", "fr"),
    (mails.GMAIL_NL_PLAN, "more_time", "nl"),
    (mails.THUNDERBIRD_EN_DISPUTE, "dispute", "en"),
    (mails.FORWARDED_FR_DETAILS, "details", "fr"),
    (mails.EN_OTHER, "other", "en"),
    ("Goedemiddag, de factuur werd vorige week al betaald via overschrijving. Groeten, Jan",
     "paid", "nl"),
    ("Bonjour, je conteste cette facture : je n'ai jamais commandé ce service.", "dispute", "fr"),
    ("Dear Sir, I lost my job and need more time. Could we agree on a payment plan?",
     "more_time", "en"),
    ("Beste, wij zijn verhuisd. Ons nieuw adres is Kerkstraat 5, 9000 Gent.", "details", "nl"),
    ("Bonjour, pourriez-vous m'envoyer un duplicata de la facture ? Merci.", "other", "fr"),
])
def test_realistic_replies_are_classified_from_the_customers_own_words(text, category,
                                                                         language):
    mail = parse(mails.reply(text))
    result = classify(mail.new_text, mail.subject)
    assert (result.category, result.language) == (category, language), (mail.new_text, result)


def test_the_quoted_reminder_below_does_not_count():
    # The quoted reminder says "already paid?" and "dispute": the customer only asks for a plan.
    mail = parse(mails.reply(mails.GMAIL_NL_PLAN))
    assert "afbetalingsplan" in mail.new_text
    assert "betwisten" not in mail.new_text and "schreef" not in mail.new_text
    assert "betwisten" in mail.text  # kept whole for staff


def test_outlook_quote_header_and_forward_marker_cut_the_text():
    outlook = parse(mails.reply(mails.OUTLOOK_FR_PAID)).new_text
    assert outlook.startswith("Bonjour") and "Message d'origine" not in outlook
    assert "INV-000123" not in outlook
    forwarded = parse(mails.reply(mails.FORWARDED_FR_DETAILS)).new_text
    assert "nouvelle adresse" in forwarded and "déjà payée" not in forwarded


def test_html_only_reply_becomes_plain_text_without_scripts():
    raw = mails.reply("", html="<html><head><style>p{}</style><script>alert('x')</script></head>"
                               "<body><p>J'ai d&eacute;j&agrave; pay&eacute; hier.</p>"
                               "<img src=x onerror=alert(1)><blockquote>Rappel</blockquote>"
                               "</body></html>")
    # An empty text part next to the HTML: the HTML is what the customer wrote.
    mail = parse(raw)
    assert "alert" not in mail.text and "<" not in mail.text
    assert "J'ai déjà payé hier." in mail.new_text
    assert "Rappel" not in mail.new_text  # the quoted block
    assert classify(mail.new_text).category == "paid"


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\x01\x02 garbage without headers",
    (b"From: <>\r\nSubject: =?utf-8?B?####?=\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n"
     b"\r\n--x\r\nContent-Type: text/plain; charset=unknown-8bit\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n"),
    b"Content-Type: multipart/alternative\r\n\r\nno boundary at all",
    (b"Date: not a date\r\nMessage-ID: <a@b>\r\nContent-Type: text/plain; charset=\"x-nope\"\r\n"
     b"\r\nJ'ai pay\xe9\r\n"),
])
def test_malformed_mime_never_raises(raw):
    mail = parse(raw)
    assert isinstance(mail.text, str)


def test_huge_text_is_capped():
    mail = parse(mails.reply("x " * 400_000))
    assert len(mail.text) <= 100_000


def test_automatic_replies_are_recognised_in_three_languages():
    assert kind_of(parse(mails.out_of_office_fr()), OWN)[0] == "auto_reply"
    assert kind_of(parse(mails.out_of_office_en_x_autoreply()), OWN)[0] == "auto_reply"
    # No header at all: the subject and the opening words give it away.
    assert kind_of(parse(mails.out_of_office_nl_without_headers()), OWN)[0] == "auto_reply"


def test_a_person_mentioning_holidays_is_still_a_person():
    text = "Bonjour, j'étais en congé, je paierai la facture la semaine prochaine. Merci"
    assert kind_of(parse(mails.reply(text, subject="RE: Rappel")), OWN)[0] == "human"


def test_bounces_and_loops_are_recognised():
    bounce = parse(mails.bounce("gone@example.test", "<abc.creditdesk@example.test>"))
    assert kind_of(bounce, OWN)[0] == "bounce"
    assert bounce.bounces[0].recipient == "gone@example.test" and bounce.bounces[0].permanent
    assert bounce.returned_ids == ["<abc.creditdesk@example.test>"]
    ours = parse(mails.reply("Rappel", sender="billing@example.test"))
    assert kind_of(ours, OWN) == ("loop", ["our_address"])
    plus = parse(mails.reply("Rappel", sender="billing+r4-0123456789abcdef@example.test"))
    assert kind_of(plus, OWN)[0] == "loop"
    echoed = parse(mails.reply("Rappel", headers={"X-CreditDesk-Idempotency-Key": "k:email"}))
    assert kind_of(echoed, OWN)[0] == "loop"


def test_language_falls_back_to_the_customers_own():
    assert language_of("12345 +++", "nl") == "nl"
    assert language_of("Bonjour, merci pour la facture", "nl") == "fr"
