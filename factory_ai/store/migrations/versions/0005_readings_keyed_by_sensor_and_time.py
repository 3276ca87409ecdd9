"""readings keyed by (sensor_id, ts); WITHOUT ROWID on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 20:40:00

The id column goes: nothing referred to it, and the unique (sensor_id, ts) index beside it was
a second b-tree to write on every insert. SQLite cannot change a table's key in place, so the
table is rebuilt in key order (a copy of every reading: back up, allow the time and twice the
table's disk space on a large store); PostgreSQL builds the new key's index under an exclusive
lock (readings wait in the daemons' spools meanwhile) and drops the old one.
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TABLE IF EXISTS readings_new')  # left by an interrupted run
        op.execute('CREATE TABLE readings_new (sensor_id INTEGER NOT NULL, ts DATETIME NOT NULL, value FLOAT NOT NULL, '
                   'PRIMARY KEY (sensor_id, ts), FOREIGN KEY(sensor_id) REFERENCES sensors (id)) WITHOUT ROWID')
        op.execute('INSERT INTO readings_new (sensor_id, ts, value) SELECT sensor_id, ts, value FROM readings '
                   'ORDER BY sensor_id, ts')
        op.drop_table('readings')
        op.rename_table('readings_new', 'readings')
        return
    op.drop_constraint('readings_pkey', 'readings', type_='primary')
    op.drop_column('readings', 'id')
    op.drop_constraint('uq_readings_sensor_ts', 'readings', type_='unique')
    op.create_primary_key('readings_pkey', 'readings', ['sensor_id', 'ts'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('CREATE TABLE readings_old (id INTEGER NOT NULL, sensor_id INTEGER NOT NULL, ts DATETIME NOT NULL, '
                   'value FLOAT NOT NULL, PRIMARY KEY (id), FOREIGN KEY(sensor_id) REFERENCES sensors (id), '
                   'CONSTRAINT uq_readings_sensor_ts UNIQUE (sensor_id, ts))')
        op.execute('INSERT INTO readings_old (sensor_id, ts, value) SELECT sensor_id, ts, value FROM readings')
        op.drop_table('readings')
        op.rename_table('readings_old', 'readings')
        return
    op.drop_constraint('readings_pkey', 'readings', type_='primary')
    op.execute('ALTER TABLE readings ADD COLUMN id BIGSERIAL')
    op.create_primary_key('readings_pkey', 'readings', ['id'])
    op.create_unique_constraint('uq_readings_sensor_ts', 'readings', ['sensor_id', 'ts'])
