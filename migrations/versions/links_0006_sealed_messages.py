"""links: message secrets kept sealed (encrypted) apart from the readable body

Revision ID: links_0006
Revises: notifications_0002

The readable body of a message that carries a secret (sign-in link, e-mail-change confirmation,
SMS code) has the secret hidden; the real text is sealed in ``sealed_body`` for the delivery
job only, and wiped once delivered. Messages of those kinds stored before this revision had the
secret in clear: their text is replaced.
"""
import sqlalchemy as sa
from alembic import op

revision = "links_0006"
down_revision = "notifications_0002"
branch_labels = None
depends_on = None

SECRET_EVENTS = ("magic_link", "email_change_confirmation", "sms_confirmation_code")


def upgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_body", sa.Text(), nullable=True))
    message = sa.table("message", sa.column("event", sa.String), sa.column("body_text", sa.Text),
                       sa.column("body_html", sa.Text))
    op.execute(message.update().where(message.c.event.in_(SECRET_EVENTS))
               .values(body_text="(removed: this message carried a secret)", body_html=None))


def downgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("sealed_body")
