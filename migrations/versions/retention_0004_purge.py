"""retention: legal basis in French and Dutch, purge run bookkeeping, tombstone details

Revision ID: retention_0004
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa

revision = "retention_0004"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("retention_rule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_basis_fr", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("legal_basis_nl", sa.Text(), nullable=True))

    with op.batch_alter_table("retention_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("as_of", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("source_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pending_files", sa.JSON(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("longest_transaction_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_retention_run_source_run_id", "retention_run",
                                    ["source_run_id"], ["id"])

    with op.batch_alter_table("retention_tombstone", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", sa.JSON(), nullable=False,
                                      server_default="{}"))
        batch_op.create_index(batch_op.f("ix_retention_tombstone_subject"), ["subject"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("retention_tombstone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_tombstone_subject"))
        batch_op.drop_column("categories")

    with op.batch_alter_table("retention_run", schema=None) as batch_op:
        batch_op.drop_constraint("fk_retention_run_source_run_id", type_="foreignkey")
        for column in ("error", "longest_transaction_ms", "pending_files", "approved_at",
                       "approved_by", "source_run_id", "as_of"):
            batch_op.drop_column(column)

    with op.batch_alter_table("retention_rule", schema=None) as batch_op:
        batch_op.drop_column("legal_basis_nl")
        batch_op.drop_column("legal_basis_fr")
