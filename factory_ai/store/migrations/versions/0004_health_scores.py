"""health_scores: machine health per asset and time (the health family)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'health_scores',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
        sa.Column('data_ts', sa.DateTime(timezone=True), nullable=True),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('model_name', sa.String(length=200), nullable=True),
        sa.Column('model_version', sa.String(length=50), nullable=True),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('health', sa.Float(), nullable=True),
        sa.Column('alarm', sa.Boolean(), nullable=True),
        sa.Column('top_sensors', sa.JSON(), nullable=True),
        sa.Column('provider', sa.String(length=100), nullable=True),
        sa.Column('error', sa.String(), nullable=True),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_health_scores_asset_ts', 'health_scores', ['asset_id', 'ts'])


def downgrade() -> None:
    op.drop_index('ix_health_scores_asset_ts', table_name='health_scores')
    op.drop_table('health_scores')
