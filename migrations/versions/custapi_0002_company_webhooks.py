"""custapi: the company's own webhook endpoints (ERP) are endpoints without a customer

Revision ID: custapi_0002
Revises: custapi_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "custapi_0002"
down_revision = "custapi_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("custapi_webhook") as batch:
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM custapi_webhook_attempt WHERE endpoint_id IN "
               "(SELECT id FROM custapi_webhook WHERE customer_id IS NULL)")
    op.execute("DELETE FROM custapi_webhook WHERE customer_id IS NULL")
    with op.batch_alter_table("custapi_webhook") as batch:
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
