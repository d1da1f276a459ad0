"""One instance of the phone channel in a process of its own, for a test that kills it (SIGKILL).

``python -m tests.phone_instance PORT DATABASE_URL REDIS_URL REDIS_PREFIX HANG_ON`` serves the
channel on 127.0.0.1:PORT, on the call store at REDIS_URL under REDIS_PREFIX (the key is
tests/test_phone_any_instance.py's), with tests/test_phone_channel.py's stand-in dialogue,
except that a message reading HANG_ON is never answered: the instance is then killed mid-turn.
Its call locks live a second (their holder dies with it; the other instance waits that long).
``PUBLIC_BASE_URL`` and ``TWILIO_AUTH_TOKEN`` come from the environment, as in the product.
"""

from __future__ import annotations

import asyncio
import sys

import redis  # type: ignore[import-untyped]
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.phone import PhoneChannel
from bot.db import Database
from bot.phone import call_lock
from bot.phone.redis_calls import RedisCalls
from tests.test_phone_channel import FakeDialogue

VAULT_KEY = bytes(range(32))


class HangingDialogue(FakeDialogue):
    hang_on: str = ""

    async def __call__(self, message: UserMessage) -> None:
        if message.text == self.hang_on:
            await asyncio.Event().wait()  # forever: until the process is killed
        await super().__call__(message)


def main(port: str, database_url: str, redis_url: str, prefix: str, hang_on: str) -> None:
    call_lock.LOCK_LIFETIME = 1.0
    database = Database(database_url)
    calls = RedisCalls(redis.Redis.from_url(redis_url), VAULT_KEY, prefix=prefix)
    channel = PhoneChannel(database=database, calls=calls)
    dialogue = HangingDialogue(database)
    dialogue.hang_on = hang_on
    app = Sanic(f"phone_instance_{port}")
    app.blueprint(channel.blueprint(dialogue), url_prefix="/webhooks/phone")
    app.run(host="127.0.0.1", port=int(port), access_log=False, motd=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
