"""requests: the conversation on a request (comments), when the survey was answered

Revision ID: requests_0003
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa

revision = "requests_0003"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "request_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["customer_request.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_comment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_comment_request_id"), ["request_id"],
                              unique=False)
    with op.batch_alter_table("customer_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("satisfaction_at", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table("customer_request", schema=None) as batch_op:
        batch_op.drop_column("satisfaction_at")
    with op.batch_alter_table("request_comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_comment_request_id"))
    op.drop_table("request_comment")
