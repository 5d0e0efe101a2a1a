"""Events after commit, through an outbox: written with the change, delivered after it."""

from .dispatch import (
    OUTBOX,
    Consumer,
    Handler,
    consumers_of,
    delivering,
    drain,
    publish,
    purge_done,
    register_consumer,
    sweep,
    unregister_consumer,
    watched_kinds,
)
from .kinds import EventKind
from .store import Event, columns, derived_insert, event, write

__all__ = [
    "Consumer",
    "Event",
    "EventKind",
    "Handler",
    "OUTBOX",
    "consumers_of",
    "delivering",
    "columns",
    "derived_insert",
    "drain",
    "event",
    "publish",
    "purge_done",
    "register_consumer",
    "sweep",
    "unregister_consumer",
    "watched_kinds",
    "write",
]
