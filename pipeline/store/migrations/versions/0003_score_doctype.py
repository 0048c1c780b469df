"""score document type

The document type the grade found (privacy_policy / user_agreement /
agreement_with_privacy_section / other) and why, recorded with each grade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 21:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('doctype', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('doctype_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_column('doctype_reason')
        batch_op.drop_column('doctype')
