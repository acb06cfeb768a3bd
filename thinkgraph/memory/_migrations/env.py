"""Alembic environment for developers' ``alembic`` commands (autogenerate, history).

At run time thinkgraph does not execute this file: :mod:`thinkgraph.memory._migrate` drives the
same scripts programmatically. To autogenerate a revision against a scratch database::

    alembic -c /dev/null -x url=sqlite:///scratch.db revision --autogenerate -m "..." \\
        # with script_location = thinkgraph/memory/_migrations
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from thinkgraph.memory._migrate import VERSION_TABLE
from thinkgraph.memory._schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Run migrations on the connection given in ``config.attributes`` or the ``-x url=`` URL."""
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database with: alembic -x url=sqlite:///scratch.db ...")
    with create_engine(url).connect() as connection:
        _run(connection)


main()
