"""The worker's webhook delivery loop in a process of its own (one sweep), so a test can
kill it mid-delivery:

    python -m tests.webhook_child

The database and Redis come from the environment, as for the worker.
"""

from __future__ import annotations

import asyncio

from app.infra.db import close_db, init_db
from app.worker import sweep_webhooks


async def main() -> None:
    await init_db()
    try:
        print("attempted", await sweep_webhooks(None), flush=True)
    finally:
        await close_db()


if __name__ == "__main__":
    asyncio.run(main())
