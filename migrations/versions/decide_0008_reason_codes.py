"""decide: why a request needs a person and its subject, stored as codes with their figures

The reason (``referral_codes``: a list of {"code": ..., figures}) and the subject
(``subject_code``: {"code": ..., figures}) are rendered in the reader's language when shown.
Existing rows keep their stored text (``referral_reason``, ``subject``), shown as it is when a
row has no code: the words they were written in cannot be turned back into figures reliably.

Revision ID: decide_0008
Revises: races_0007
"""
import sqlalchemy as sa
from alembic import op

revision = "decide_0008"
down_revision = "races_0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_codes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("subject_code", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("customer_request", schema=None) as batch_op:
        batch_op.drop_column("subject_code")
        batch_op.drop_column("referral_codes")
