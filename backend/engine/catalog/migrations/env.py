"""Alembic environment: the connection is handed in by backend.engine.catalog.migrate."""

from alembic import context

from backend.engine.catalog.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")


def run() -> None:
    if connection is None:
        from sqlalchemy import create_engine

        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection was handed in and alembic.ini names no sqlalchemy.url")
        engine = create_engine(url)
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
