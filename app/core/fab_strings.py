"""Flask-AppBuilder's own screen strings that its French and Dutch catalogues leave in English.

FAB's catalogue and ours are merged for every page (FAB's translation folder first, ours after
it, so ours fills its gaps): listing the strings here keeps them in our messages.pot, where they
get their fr/nl translations. Never imported: the strings are FAB's, only the catalogue needs
them. tests/backoffice/test_crawl_locales.py finds new gaps after a FAB upgrade.
"""
from flask_babel import lazy_gettext as _l

FAB_STRINGS = (
    _l("Add"),
    _l("Edit"),
    _l("Email"),
    _l("Groups"),
    _l("List Groups"),
    _l("Add Group"),
    _l("Edit Group"),
    _l("Show Group"),
    _l("Edit User Information"),
    _l("User information changed"),
    _l("User confirmation needed"),
    _l("It's not a good policy to remove a user, just make it inactive"),
    _l("Please rewrite the user's password to confirm"),
    _l("The user's password for authentication"),
    _l("Either select a role or a group"),
    _l("User(s) exists in the group, cannot delete"),
    _l("User(s) exists in the role, cannot delete"),
    _l("List of Registration Requests"),
    _l("Contains (insensitive)"),
    _l("Start with"),
    _l("In"),
    _l("Not In"),
    _l("Select Value"),
    _l("Not a valid choice"),
    _l("Statistics"),
    _l("Database Error"),
    _l("Audit Info"),
    _l("Record Count"),
)
