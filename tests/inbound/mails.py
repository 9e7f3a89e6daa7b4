"""Realistic raw e-mails: replies from Outlook, Gmail and Thunderbird users in French, Dutch and
English, with quotes and forwards; automatic replies, bounces, our own mail coming back."""
from __future__ import annotations

from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from itertools import count

_n = count(1)


def reply(text: str, *, sender: str = "client@example.test", to: str = "billing@example.test",
          subject: str = "RE: Rappel de paiement", in_reply_to: str | None = None,
          html: str | None = None, headers: dict | None = None,
          attachments: list[tuple[str, str, bytes]] = (), message_id: str | None = None
          ) -> bytes:
    body = MIMEText(text, "plain", "utf-8")
    if html is not None:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(MIMEText(html, "html", "utf-8"))
        body = alternative
    if attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(body)
        for name, subtype, data in attachments:
            part = MIMEApplication(data, subtype)
            part.add_header("Content-Disposition", "attachment", filename=name)
            mixed.attach(part)
        body = mixed
    body["From"] = f"Client <{sender}>"
    body["To"] = to
    body["Subject"] = subject
    body["Date"] = formatdate(localtime=True)
    body["Message-ID"] = message_id or f"<reply-{next(_n)}-{id(text)}@mail.example.test>"
    if in_reply_to:
        body["In-Reply-To"] = in_reply_to
        body["References"] = in_reply_to
    for name, value in (headers or {}).items():
        body[name] = value
    return body.as_bytes()


OUTLOOK_FR_PAID = """Bonjour,

Cette facture a déjà été payée le 3 novembre par virement, vous trouverez la preuve de paiement en pièce jointe.

Cordialement,
Jean Dupont

-----Message d'origine-----
De : Facturation <billing@example.test>
Envoyé : lundi 7 décembre 2026 09:12
À : Jean Dupont
Objet : Rappel de paiement

Bonjour Jean Dupont,
Sauf erreur de notre part, la facture INV-000123 reste impayée. Merci de payer sans tarder.
Si vous avez un plan de paiement, ...
"""

GMAIL_NL_PLAN = """Goedendag,

Ik kan het bedrag deze maand niet in één keer betalen. Kan ik een afbetalingsplan krijgen? Ik zou in drie schijven willen betalen.

Met vriendelijke groeten,
Els Peeters

Op ma 7 dec. 2026 om 09:12 schreef Facturatie <billing@example.test>:
> Beste Els Peeters,
> De factuur is al betaald? Dan mag u deze herinnering negeren.
> Wij betwisten niets.
"""

THUNDERBIRD_EN_DISPUTE = """Hi,

We never received the goods on this invoice, so we dispute it. The amount is wrong too.

Regards,
Mark

On 07/12/2026 09:12, Billing wrote:
> Dear customer, you have already paid? Please ignore this reminder.
"""

FORWARDED_FR_DETAILS = """Bonjour,

Nous avons déménagé : merci de noter notre nouvelle adresse, rue Neuve 12, 1000 Bruxelles.

---------- Forwarded message ---------
De : Facturation <billing@example.test>
Date: lun. 7 déc. 2026 à 09:12
Subject: Rappel de paiement
To: <ancien@example.test>

Votre facture est déjà payée ? Merci de ne pas tenir compte de ce rappel.
"""

EN_OTHER = """Hello,

Could you send me a copy of the contract we signed last year? I cannot find it.

Thanks,
Anna
"""


def out_of_office_fr(**kwargs) -> bytes:
    return reply("Je suis absente du bureau jusqu'au 15 décembre. Pour toute urgence, contactez "
                 "mon collègue.", subject="Réponse automatique : Rappel de paiement",
                 headers={"Auto-Submitted": "auto-replied"}, **kwargs)


def out_of_office_nl_without_headers(**kwargs) -> bytes:
    return reply("Beste,\n\nIk ben momenteel afwezig tot en met 4 januari. Uw e-mail wordt niet "
                 "doorgestuurd.\n\nMet vriendelijke groeten", subject="Afwezig", **kwargs)


def out_of_office_en_x_autoreply(**kwargs) -> bytes:
    return reply("I am out of the office until Monday 14 December with limited access to "
                 "e-mail.", subject="Re: Payment reminder",
                 headers={"X-Autoreply": "yes"}, **kwargs)


def bounce(failed: str, original_message_id: str, *, to: str = "billing@example.test") -> bytes:
    """A Postfix-style delivery status notification (RFC 3464), as it arrives."""
    n = next(_n)
    return f"""From: MAILER-DAEMON@mx.example.test (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Date: {formatdate(localtime=True)}
Message-ID: <bounce-{n}@mx.example.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B{n}"

--B{n}
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.test.

I'm sorry to have to inform you that your message could not be delivered to {failed}.

--B{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.test

Final-Recipient: rfc822; {failed}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown

--B{n}
Content-Type: text/rfc822-headers

Message-ID: {original_message_id}
From: billing@example.test
To: {failed}
Subject: Rappel de paiement

--B{n}--
""".replace("\n", "\r\n").encode()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
