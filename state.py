"""What every process role starts from: `build_state(settings)` makes the engine, the session
factory, the read cache, the credential box and the network policy once, and sets up logging.
The web (app.py), the worker, the embedded runner, the CLI and the tests all use it, so none of
them wires these by hand."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import NetworkPolicy
from db.cache import ReadCache, database_identity
from db.credentials import CredentialBox
from db.engine import make_engine, make_session_factory
from logs import configure_logging
from settings import Settings


@dataclass(frozen=True)
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: ReadCache
    credentials: CredentialBox  # seals and opens platform credentials with the settings' keys
    network: NetworkPolicy  # where connectors may send requests (loopback only outside production)


def build_state(settings: Settings) -> AppState:
    configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        cache=ReadCache(settings.cache_dir, settings.redis_url, namespace=database_identity(settings.database_url)),
        credentials=CredentialBox(settings.credentials_keys),
        network=NetworkPolicy.for_app_env(settings.app_env),
    )
