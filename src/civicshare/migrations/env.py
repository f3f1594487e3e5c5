"""Alembic environment: the engine comes from civicshare.db.alembic_config (or alembic.ini)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from civicshare.db import Base, import_models

import_models()
config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # `alembic` run by hand with alembic.ini
        from civicshare.config import get_settings

        config.set_main_option("sqlalchemy.url", get_settings().effective_database_url)
        engine = engine_from_config(
            config.get_section(config.config_ini_section, {}), poolclass=pool.NullPool
        )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
