"""Signals: how core's settings and screens tell whoever listens that something happened.

app.core sits below every domain package and imports none of them (the import-linter
contracts check it). When a domain must react to something core does, core sends one of the
signals declared here (blinker, which Flask ships) and the domain connects a receiver in its own
module. The audit trail (app.core.audit) listens too: the settings registry and the staff
screens stay unaware of it (and the trail's own imports never come back to them). Receivers are connected when their module is imported; app/models.py imports every
domain at start-up, so they are connected in the web process, the CLI and the workers alike.

* ``setting_changed`` — sent by app.core.settings when a setting is stored or reset (sender:
  the key; action, old, new); received by app.core.audit, which writes the audit event.
* ``record_viewed`` — sent by app.core.admin when staff open a row's show or edit page (sender:
  the row; page); received by app.core.audit, which logs views of personal data.

A receiver runs in the sender's transaction (setting_changed: the caller commits) or opens its
own (record_viewed: a GET commits nothing else). Nothing is sent back: a signal informs, it never
decides; a rule that must refuse lives in the service that owns it.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# A setting was stored or reset to its default: sender = the key; action ("setting_changed" /
# "setting_reset"), old, new (company and rule values, never personal data).
setting_changed = _signals.signal("setting-changed")

# Staff opened the show or edit page of a row in a back office screen: sender = the row;
# page ("show" / "edit").
record_viewed = _signals.signal("record-viewed")
