"""scheduler: one row per daily job and day (the atomic slot and its outcome), job leases,
purge heartbeat; the scheduler's bookkeeping leaves the business rules

Revision ID: scheduler_0006
Revises: retention_0004
"""
from alembic import op
import sqlalchemy as sa

revision = "scheduler_0006"
down_revision = "retention_0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scheduled_job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_name", sa.String(length=60), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rq_job_id", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_name", "business_date", name="uq_scheduled_job_run_day"),
    )
    op.create_index("ix_scheduled_job_run_business_date", "scheduled_job_run",
                    ["business_date"], unique=False)
    op.create_table(
        "job_lock",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("retention_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("status", existing_type=sa.String(length=10),
                              type_=sa.String(length=20))
    # "scheduler.last_run.<job>" rows were the scheduler's own bookkeeping (recorded even when
    # the enqueue failed), not business rules: dropped. The daily jobs are idempotent, so the
    # new slots table running today's jobs once more after the upgrade is harmless.
    op.execute("DELETE FROM setting WHERE key LIKE 'scheduler.last_run.%'")


def downgrade():
    with op.batch_alter_table("retention_run", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=20),
                              type_=sa.String(length=10))
        batch_op.drop_column("heartbeat_at")
    op.drop_table("job_lock")
    op.drop_index("ix_scheduled_job_run_business_date", table_name="scheduled_job_run")
    op.drop_table("scheduled_job_run")
