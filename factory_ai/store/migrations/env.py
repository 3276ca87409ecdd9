"""Alembic environment: runs migrations on the connection factory-ai hands it."""

from alembic import context
from sqlmodel import SQLModel

from factory_ai.store import tables  # noqa: F401  (registers every table on the metadata)
from factory_ai.store.migrations.render import render_item

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `factory-ai db upgrade`, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_item=render_item,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
