"""The fields of the dunning level form: choices instead of typed codes.

Channels are checkboxes, the template is one of the reminder templates that exist, and a
field that does not apply is ignored by the server whatever the browser sent (the static
script app/static/dunning/level_form.js only hides it).
"""
from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.extensions import db
from app.notifications.models import REMINDER_CHANNELS as CHANNELS

# Days before the due date a notice may go out, and after it a step may wait at most.
MIN_DAYS, MAX_DAYS = -60, 3650


class ChannelsField(SelectMultipleField):
    """'email,sms' in the database, one checkbox per channel on the form."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("choices", lambda: [(code, str(name)) for code, name in CHANNELS.items()])
        kwargs.setdefault("render_kw", {"style": "list-style: none; padding-left: 0;"})
        super().__init__(label, validators, **kwargs)

    def process_data(self, value):
        if isinstance(value, str):
            value = [code.strip() for code in value.split(",") if code.strip()]
        self.data = list(value or [])

    def populate_obj(self, obj, name):
        setattr(obj, name, ",".join(self.data or []))

    def pre_validate(self, form):
        unknown = [code for code in self.data or [] if code not in CHANNELS]
        if unknown:
            raise ValidationError(_("Unknown channel: %(value)s. Use: %(choices)s.",
                                    value=", ".join(unknown), choices=", ".join(CHANNELS)))
        if not self.data:
            raise ValidationError(_("Choose at least one channel."))


def reminder_template_keys() -> list[str]:
    """The keys of the message templates of reminders (event "dunning") that exist."""
    from app.notifications.events import DUNNING, event_for
    from app.notifications.models import MessageTemplate

    keys = db.session.scalars(select(MessageTemplate.key).distinct())
    return sorted(key for key in keys if event_for(key) is DUNNING)


class ReminderTemplateField(SelectField):
    """One of the reminder templates that exist; a key of another event is refused."""

    widget = Select2Widget()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("choices", lambda: [(key, key) for key in reminder_template_keys()])
        super().__init__(label, validators, **kwargs)

    def pre_validate(self, form):
        if not self.data:
            raise ValidationError(_("Choose the message template of this level."))
        if self.data not in {value for value, _label in self.iter_choices_values()}:
            raise ValidationError(_("\"%(key)s\" is not a reminder template: choose one of the "
                                    "list (templates of other messages cannot be used).",
                                    key=self.data))

    def iter_choices_values(self):
        for choice in self.choices or []:
            yield choice[0], choice[1]


def check_days_after_due(form, field) -> None:
    value = field.data
    if value is None:
        return
    if not MIN_DAYS <= value <= MAX_DAYS:
        raise ValidationError(_("Between %(low)s and %(high)s days.", low=MIN_DAYS,
                                high=MAX_DAYS))
    tone = getattr(getattr(form, "tone", None), "data", None)
    if value < 0 and tone != "pre_due":
        raise ValidationError(_("A negative number of days is only for the notice before the "
                                "due date (tone \"Friendly pre-due notice\")."))


def check_not_negative_days(form, field) -> None:
    if field.data is not None and not 0 <= field.data <= MAX_DAYS:
        raise ValidationError(_("Between %(low)s and %(high)s days.", low=0, high=MAX_DAYS))


def check_not_negative_amount(form, field) -> None:
    if field.data is not None and field.data < 0:
        raise ValidationError(_("The amount cannot be negative."))


def refusal(level) -> str | None:
    """The last check before a level is saved, whatever form field built it (a translated
    message naming the field, or None)."""
    from app.dunning.models import FEE_RULES

    for name, label in (("fee_amount", _("Fixed fee amount")),
                        ("min_amount", _("Minimum amount due"))):
        value = getattr(level, name)
        if value is not None and value < 0:
            return _("%(field)s: the amount cannot be negative.", field=label)
    if (level.min_days_since_previous or 0) < 0:
        return _("%(field)s: between %(low)s and %(high)s days.",
                 field=_("Days since the previous reminder"), low=0, high=MAX_DAYS)
    if level.fee_rule not in FEE_RULES:
        return _("%(field)s: unknown fee rule %(value)s.", field=_("Fee"), value=level.fee_rule)
    return None


def ignore_irrelevant(level) -> None:
    """What the chosen "counted from" and fee rule make irrelevant is not kept as typed.

    Counted from the previous reminder, the step waits "days since the previous reminder":
    days after the due date would add a hidden second wait. A fee amount is only the fixed
    fee's.
    """
    if level.days_basis == "previous":
        level.days_after_due = 0
    if level.fee_rule != "fixed":
        level.fee_amount = 0

