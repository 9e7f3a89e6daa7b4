"""Customers' e-mail replies read back in: polled from the AR mailbox, tied, classified, acted on.

polling.py reads the mailbox through the enabled "inbound" plugin (plugins/imap_inbound);
receiving.py stores each message once and decides what it is (parsing, autodetect, tying,
classify); actions.py does what a reply calls for (pause reminders, one answer, a question
request, a failing address). views.py is the staff review list; timeline.py feeds the 360° page
and "My work today".
"""
