# mypy: disable-error-code="import-untyped"
"""What a phone call needs between two of Twilio's webhooks: one contract, run on each store.

``memory`` is what ``make run`` uses (one process); ``redis`` is what several Rasa instances
share, on a real Redis (``$TEST_REDIS_URL``), each test under its own key prefix (the
``redis_prefix`` fixture of tests/test_shared_state.py). ``stores.new()`` is another instance:
another object on another connection (in memory, the same object: one process).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
import redis

from bot.devices.check_limits import Reservation, Scope, Subject
from bot.phone.call_lock import CallBusy, holding
from bot.phone.calls import (
    CALL_KEPT_SECONDS,
    ENDED_REMEMBERED_SECONDS,
    REQUESTS_REMEMBERED_SECONDS,
    Call,
    CallStore,
    MemoryCalls,
    Seen,
)
from bot.phone.redis_calls import RedisCalls
from bot.phone.spoken import Piece
from tests.conftest import REDIS_URL
from tests.test_shared_state import _at_once

SID = "CA" + "0" * 31 + "1"
OTHER_SID = "CA" + "0" * 31 + "2"
PASSWORD = "K7qX3mNP4a"
VAULT_KEY = bytes(range(32))


def _later(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


@dataclass
class Stores:
    new: Callable[..., CallStore]
    raw_values: Callable[[], list[bytes]]  # what the store holds, as stored (Redis only)
    client: redis.Redis | None = None
    prefix: str = ""


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    if request.param == "memory":
        shared = MemoryCalls()
        yield Stores(new=lambda **_: shared, raw_values=list)
        return
    prefix = request.getfixturevalue("redis_prefix")
    opened: list[RedisCalls] = []
    client = redis.Redis.from_url(REDIS_URL)

    def on_redis(key: bytes = VAULT_KEY) -> CallStore:
        store = RedisCalls(redis.Redis.from_url(REDIS_URL), key, prefix=prefix)
        opened.append(store)
        return store

    def raw_values() -> list[bytes]:
        values: list[bytes] = []
        for name in client.scan_iter(match=f"{prefix}*"):
            values.append(name)
            kind = client.type(name)
            if kind == b"hash":
                for field_name, value in client.hgetall(name).items():
                    values += [field_name, value]
            elif kind == b"list":
                values += client.lrange(name, 0, -1)
            elif kind == b"string":
                values.append(client.get(name) or b"")
        return values

    yield Stores(new=on_redis, raw_values=raw_values, client=client, prefix=prefix)
    for store in opened:
        store.close()
    client.close()


def _everything_set(sid: str = SID) -> Call:
    """A call with every field away from its default, as it can be in the middle of a call."""
    call = Call(sid, "+14165550101")
    call.reprompts, call.waits = 2, 1
    call.last_prompt = ["Say the Device ID.", "Or press star."]
    call.prompt_kind, call.state = "confirm", "gathering"
    call.id_pieces = (Piece("N"), Piece("D", ("B", "E")), Piece("4"))
    call.keys = "6348"
    call.candidates, call.candidate = ("NB4810273945KXQ", "ND4810273945KXQ"), 1
    subjects = (Subject(Scope.CONVERSATION, sid), Subject(Scope.OVERALL, "registry"))
    call.counted = Reservation(subjects, datetime(2026, 12, 4, 17, 20, tzinfo=timezone.utc))
    call.device_id_limited = call.enqueued = call.caller_recorded = True
    call.checks_after_queue = 3
    call.password, call.password_until = PASSWORD, _later(3600).replace(microsecond=0)
    call.reading_password = True
    call.after_password = ["Step 1 of 10."]
    call.answered_request, call.answer_again = "c2lnbmF0dXJl", "<Response><Say>Hi</Say></Response>"
    call.language, call.language_asks = "fr", 1
    return call


# -- the call's state ---------------------------------------------------------------------------


def test_every_field_of_a_call_is_kept_between_two_requests(stores: Stores) -> None:
    instance, other_instance = stores.new(), stores.new()
    call = _everything_set()
    assert instance.save(call)
    loaded = other_instance.get(SID)
    assert loaded is not None
    # A field added to Call and not stored fails here.
    ignored = {"version", "pending", "pending_taken"}
    for name in {f.name for f in dataclasses.fields(Call)} - ignored:
        assert getattr(loaded, name) == getattr(call, name), name
    assert loaded.pending == [] and loaded.pending_taken == 0


def test_a_call_s_language_is_not_chosen_until_the_caller_chooses(stores: Stores) -> None:
    instance, other_instance = stores.new(), stores.new()
    call = instance.start(SID, None)
    assert (call.language, call.language_asks) == (None, 0)
    call.language_asks = 1
    assert instance.save(call)
    loaded = other_instance.get(SID)
    assert loaded is not None and (loaded.language, loaded.language_asks) == (None, 1)
    loaded.language = "es"
    assert other_instance.save(loaded)
    again = instance.get(SID)
    assert again is not None and again.language == "es"


def test_a_call_stored_before_languages_is_in_english() -> None:
    record = _everything_set().to_record()
    del record["language"], record["language_asks"]
    assert Call.from_record(record).language == "en"


def test_a_call_is_stored_only_when_saved(stores: Stores) -> None:
    store = stores.new()
    call = store.start(SID, None)
    assert store.get(SID) is None
    call.reprompts = 1
    assert store.save(call)
    loaded = stores.new().get(SID)
    assert loaded is not None and loaded.reprompts == 1
    loaded.reprompts = 2  # a change to a loaded call is nothing until saved
    again = store.get(SID)
    assert again is not None and again.reprompts == 1


def test_a_save_over_a_newer_state_is_refused(stores: Stores) -> None:
    instance, other_instance = stores.new(), stores.new()
    assert instance.save(instance.start(SID, None))
    first, second = instance.get(SID), other_instance.get(SID)
    assert first is not None and second is not None
    first.reprompts, second.waits = 1, 1
    assert other_instance.save(second)
    assert not instance.save(first)  # loaded before that save: it would lose it
    kept = instance.get(SID)
    assert kept is not None and (kept.reprompts, kept.waits) == (0, 1)
    assert instance.save(kept)  # loaded afresh, saved


def test_an_ended_call_stays_ended_everywhere(stores: Stores) -> None:
    instance, other_instance = stores.new(), stores.new()
    call = _everything_set()
    assert instance.save(call)
    assert instance.push(SID, {"text": "Step 1."})
    loaded = other_instance.get(SID)
    assert loaded is not None
    other_instance.end(SID)
    assert instance.has_ended(SID) and instance.get(SID) is None
    assert not instance.save(loaded)  # a request that was under way does not bring it back
    assert instance.get(SID) is None
    assert not instance.push(SID, {"text": "too late"})
    with pytest.raises(ValueError):
        instance.start(SID, None)
    assert not instance.has_ended(OTHER_SID)
    if stores.client is not None:  # the call's state, password and messages are gone
        keys = list(stores.client.scan_iter(match=f"{stores.prefix}*"))
        assert [key.decode().removeprefix(stores.prefix) for key in keys] == [f"ended:{SID}"]


def test_two_instances_saving_at_once_keep_one_state(stores: Stores) -> None:
    instances = [stores.new(), stores.new()]
    assert instances[0].save(instances[0].start(SID, None))
    for round_ in range(50):
        loaded: list[Call] = []
        for n, instance in enumerate(instances):
            call = instance.get(SID)
            assert call is not None
            call.waits = round_ * 2 + n
            loaded.append(call)
        saved = _at_once(
            lambda: instances[0].save(loaded[0]),  # noqa: B023 (called in this round)
            lambda: instances[1].save(loaded[1]),  # noqa: B023
        )
        assert sorted(map(bool, saved)) == [False, True], f"round {round_}: {saved}"


# -- messages pushed while the caller is on hold ------------------------------------------------


def test_pushed_messages_wait_for_the_call_and_are_removed_only_once_spoken(
    stores: Stores,
) -> None:
    instance, other_instance = stores.new(), stores.new()
    assert not instance.push(SID, {"text": "no such call"})
    assert instance.save(instance.start(SID, None))
    assert instance.push(SID, {"text": "Good news."})
    assert other_instance.push(SID, {"text": "Step 1."})
    call = other_instance.get(SID)
    assert call is not None and call.has_pending
    assert call.take_pending() == [{"text": "Good news."}, {"text": "Step 1."}]
    assert not call.has_pending and call.take_pending() == []
    assert instance.push(SID, {"text": "Step 2."})  # while that request is being answered
    unsaved = instance.get(SID)
    assert unsaved is not None and len(unsaved.pending) == 3  # the request died: still there
    assert other_instance.save(call)
    after = instance.get(SID)
    assert after is not None and after.take_pending() == [{"text": "Step 2."}]


# -- the revealed password, kept for repeating --------------------------------------------------


def test_the_password_is_kept_no_longer_than_it_is_valid(stores: Stores) -> None:
    store = stores.new()
    call = store.start(SID, None)
    call.password, call.password_until = PASSWORD, _later(0.5)
    assert store.save(call)
    loaded = stores.new().get(SID)
    assert loaded is not None and loaded.password == PASSWORD
    time.sleep(0.7)
    expired = store.get(SID)
    assert expired is not None and expired.password is None and expired.password_until is None


def test_a_password_already_past_its_validity_is_not_kept(stores: Stores) -> None:
    store = stores.new()
    call = store.start(SID, None)
    call.password, call.password_until = PASSWORD, _later(-1)
    assert store.save(call)
    loaded = store.get(SID)
    assert loaded is not None and loaded.password is None


on_redis = pytest.mark.parametrize("stores", ["redis"], indirect=True)


@on_redis
def test_redis_holds_the_password_only_encrypted(stores: Stores) -> None:
    assert stores.new().save(_everything_set())
    stored = stores.raw_values()
    assert stored
    for value in stored:
        assert PASSWORD.encode() not in value
    # An instance with another VAULT_KEY cannot open it: for it, the call holds no password.
    other = stores.new(key=bytes(32)).get(SID)
    assert other is not None and other.password is None and other.reprompts == 2


@on_redis
def test_on_redis_everything_expires(stores: Stores) -> None:
    store = stores.new()
    call = _everything_set()
    call.password_until = _later(600)
    assert store.save(call)
    store.push(SID, {"text": "Step 1."})
    store.seen("signature-1", "token-1")
    store.end(OTHER_SID)
    assert stores.client is not None
    ceilings = {
        "password": 600,
        "call:": CALL_KEPT_SECONDS,
        "request:": REQUESTS_REMEMBERED_SECONDS,
        "ended:": ENDED_REMEMBERED_SECONDS,
    }
    keys = list(stores.client.scan_iter(match=f"{stores.prefix}*"))
    assert len(keys) == 5, keys  # the call, its password, its messages, the request, the end
    for key in keys:
        name = key.decode().removeprefix(stores.prefix)
        ceiling = next(c for part, c in ceilings.items() if part in name)
        assert 0 < stores.client.pttl(key) <= ceiling * 1000, name


# -- the replay guard ------------------------------------------------------------------------------


def test_a_signature_seen_on_one_instance_is_seen_on_every_instance(stores: Stores) -> None:
    instance, other_instance = stores.new(), stores.new()
    assert instance.seen("signature-1", "token-1") is Seen.FIRST
    assert other_instance.seen("signature-1", "token-1") is Seen.RETRY
    assert other_instance.seen("signature-1", "token-2") is Seen.REPLAY
    assert instance.seen("signature-1", "") is Seen.REPLAY
    assert instance.seen("signature-2", "") is Seen.FIRST
    assert other_instance.seen("signature-2", "") is Seen.REPLAY  # no token: never a retry


def test_a_signature_sent_to_two_instances_at_once_is_first_once(stores: Stores) -> None:
    instances = [stores.new(), stores.new()]
    for round_ in range(100):
        signature = f"signature-{round_}"
        seen = _at_once(
            *(lambda n=n: instances[n % 2].seen(signature, "") for n in range(4))  # noqa: B023
        )
        assert seen.count(Seen.FIRST) == 1, f"round {round_}: {seen}"


# -- one request of a call at a time ------------------------------------------------------------


def test_a_call_s_lock_is_held_by_one_owner_until_released_or_expired(stores: Stores) -> None:
    instance, other_instance = stores.new(), stores.new()
    assert instance.lock(SID, "owner-a", 0.3)
    assert not other_instance.lock(SID, "owner-b", 0.3)
    assert other_instance.lock(OTHER_SID, "owner-b", 0.3)  # another call: no wait
    assert not other_instance.renew(SID, "owner-b", 0.3)
    other_instance.unlock(SID, "owner-b")  # not its lock: nothing happens
    assert not other_instance.lock(SID, "owner-b", 0.3)
    assert instance.renew(SID, "owner-a", 0.3)
    instance.unlock(SID, "owner-a")
    assert other_instance.lock(SID, "owner-b", 0.3)
    time.sleep(0.5)  # its holder died: the lock goes with its lifetime
    assert instance.lock(SID, "owner-a", 0.3)


def test_requests_of_one_call_are_served_one_at_a_time(stores: Stores) -> None:
    instances = [stores.new(), stores.new()]
    inside: list[int] = []
    overlaps: list[int] = []

    async def request(n: int) -> None:
        async with holding(instances[n % 2], SID, lifetime=0.3):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            await asyncio.sleep(0.05)  # longer than a renewal period: renewed meanwhile
            inside.remove(n)

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(6)))

    asyncio.run(main())
    assert overlaps == []


def test_a_call_locked_too_long_is_busy(stores: Stores) -> None:
    store = stores.new()
    assert store.lock(SID, "someone", 5.0)

    async def main() -> None:
        async with holding(store, SID, wait=0.1):
            raise AssertionError("entered a locked call")

    with pytest.raises(CallBusy):
        asyncio.run(main())


def test_the_memory_store_keeps_its_bounds() -> None:
    now = [0.0]
    calls = MemoryCalls(clock=lambda: now[0], max_calls=2)
    for sid in (SID, OTHER_SID, "CA" + "0" * 31 + "3"):
        assert calls.save(calls.start(sid, None))
    assert calls.get(SID) is None and calls.get(OTHER_SID) is not None  # the oldest went first
    now[0] = CALL_KEPT_SECONDS + 1
    assert calls.get(OTHER_SID) is None  # a call not heard from in a day is forgotten


def test_each_process_builds_its_store_from_its_settings() -> None:
    """What bot/bootstrap.py wires: memory for ``make run``; with REDIS_URL, Redis, the password
    sealed under VAULT_KEY, so another instance with the same settings opens it."""
    from bot.bootstrap import call_store
    from bot.settings import settings_from

    assert isinstance(call_store(settings_from({})), MemoryCalls)
    environ = {"REDIS_URL": REDIS_URL, "VAULT_KEY": base64.urlsafe_b64encode(VAULT_KEY).decode()}
    instance = call_store(settings_from(environ))
    other_instance = call_store(settings_from(environ))
    sid = "CA" + uuid.uuid4().hex
    try:
        assert isinstance(instance, RedisCalls)
        call = _everything_set(sid)
        assert instance.save(call)
        loaded = other_instance.get(sid)
        assert loaded is not None and loaded.password == PASSWORD
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{sid}*"):
            client.delete(key)
        client.close()
        instance.close()
        other_instance.close()
