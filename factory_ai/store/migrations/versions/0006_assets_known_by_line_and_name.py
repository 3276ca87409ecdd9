"""assets known by (line, name): two lines may each have a press-1

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 23:45:00

The unique index on the name alone becomes a plain one (lookups by name stay fast) and a
unique index on (coalesce(line, ''), name) takes its place, so an asset without a line is
still unique by name. Existing stores hold unique names, which are unique per line too: no
row changes. Downgrading fails while a name repeats, since the old schema cannot hold it.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_name')
        batch_op.create_index('ix_assets_name', ['name'], unique=False)
    op.create_index('ux_assets_line_name', 'assets', [sa.text("coalesce(line, '')"), 'name'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_assets_line_name', table_name='assets')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_name')
        batch_op.create_index('ix_assets_name', ['name'], unique=True)
