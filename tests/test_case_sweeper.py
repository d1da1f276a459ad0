"""The stale-case sweeper runs in the console process: started with the server, every minute
(here every 0.1 s), and stopped with it. A real Sanic server on loopback, a real database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, text
from sqlalchemy import update

from bot.cases.models import SupportCase
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.db import Database
from bot.serve import settings_from, sweep_stale_cases_in
from tests.console_server import free_port


def _idle(database: Database, code: str, minutes: int) -> None:
    with database.session() as session:
        session.execute(
            update(SupportCase)
            .where(SupportCase.code == code)
            .values(updated_at=datetime.now(timezone.utc) - timedelta(minutes=minutes))
        )


def test_the_console_sweeps_stale_cases_while_it_runs(database: Database) -> None:
    store = CaseStore(database)
    stale = store.open_case(channel="chat", conversation_id="gone", actor="assistant", reason="r")
    fresh = store.open_case(channel="chat", conversation_id="here", actor="assistant", reason="r")
    _idle(database, stale.code, 45)
    settings = settings_from(
        {"DATABASE_URL": database.url, "CASE_COLLECTING_TIMEOUT_MINUTES": "30"}
    )
    port = free_port()
    Sanic.test_mode = True
    app = Sanic(f"sweeper_test_{port}", configure_logging=False)

    @app.get("/health")
    async def health(_request: Request) -> HTTPResponse:
        return text("ok")

    sweep_stale_cases_in(
        app, database, settings.case_collecting_timeout, interval=timedelta(seconds=0.1)
    )

    async def serve_briefly() -> None:
        server = await app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        for _ in range(50):
            if store.get(stale.code).status is CaseStatus.ABANDONED:
                break
            await asyncio.sleep(0.1)
        await server.before_stop()
        await server.close()
        await server.after_stop()

    asyncio.run(serve_briefly())

    assert store.get(stale.code).status is CaseStatus.ABANDONED
    assert store.get(fresh.code).status is CaseStatus.COLLECTING
    assert store.events(stale.code)[-1].actor == "system"
