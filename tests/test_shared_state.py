# mypy: disable-error-code="import-untyped"
"""The vault and the login throttle: one contract, run on each implementation.

``memory`` is what ``make run`` uses (one process); ``redis`` is what several instances share,
on a real Redis (``$TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``), each test under its
own key prefix, removed afterwards. Without a reachable Redis the Redis tests fail, saying how to
start one. Two "instances" are two vault objects on two connections; in memory they are one
object (one process).
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from bot.agents.redis_throttle import RedisThrottle
from bot.agents.throttle import (
    ADDRESS_FREE_ATTEMPTS,
    FORGET_AFTER,
    FREE_ATTEMPTS,
    MAX_DELAY,
    AttemptCounter,
    LoginThrottle,
    MemoryThrottle,
)
from bot.handoff.redis_vault import RedisVault, new_vault_key
from bot.handoff.temporary_password import TemporaryPassword
from bot.handoff.vault import HOLD_FOR, MemoryVault, PasswordVault
from tests.conftest import REDIS_URL

PASSWORD = "K7PX9Q2M"
RACE_ROUNDS = 200


def _later(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


@dataclass
class Vaults:
    """Vault instances on one store: ``new()`` is another instance (memory: the same one)."""

    new: Callable[..., PasswordVault]
    raw_values: Callable[[], list[bytes]]  # what the store holds, as stored (Redis only)


@pytest.fixture(params=["memory", "redis"])
def vaults(request: pytest.FixtureRequest) -> Iterator[Vaults]:
    if request.param == "memory":
        shared: dict[float, MemoryVault] = {}

        def memory(hold_for: float = HOLD_FOR) -> PasswordVault:
            return shared.setdefault(hold_for, MemoryVault(hold_for=hold_for))

        yield Vaults(new=memory, raw_values=list)
        return
    prefix = request.getfixturevalue("redis_prefix")
    key = new_vault_key()
    opened: list[RedisVault] = []

    def on_redis(hold_for: float = HOLD_FOR, vault_key: bytes = key) -> PasswordVault:
        vault = RedisVault(
            redis.Redis.from_url(REDIS_URL), vault_key, hold_for=hold_for, prefix=prefix
        )
        opened.append(vault)
        return vault

    def raw_values() -> list[bytes]:
        client = redis.Redis.from_url(REDIS_URL)
        values: list[bytes] = []
        for name in client.scan_iter(match=f"{prefix}*"):
            values.append(name)
            kind = client.type(name)
            if kind == b"hash":
                for field_name, value in client.hgetall(name).items():
                    values += [field_name, value]
            elif kind == b"string":
                values.append(client.get(name) or b"")
        client.close()
        return values

    yield Vaults(new=on_redis, raw_values=raw_values)
    for vault in opened:
        vault.close()


# -- the vault's contract -------------------------------------------------------------------------


def test_a_password_is_given_once_and_only_to_its_conversation(vaults: Vaults) -> None:
    vault = vaults.new()
    expires = _later(3600)
    vault.deposit("ref-1", "chat-1", TemporaryPassword(PASSWORD), expires)
    assert vault.take("ref-1", "chat-2") is None  # another conversation: nothing, and not used up
    assert vault.lend("ref-1", "chat-2") is None
    deposit = vault.take("ref-1", "chat-1")
    assert deposit is not None
    assert (deposit.conversation_id, deposit.password.value) == ("chat-1", PASSWORD)
    assert deposit.expires_at == expires
    assert vault.take("ref-1", "chat-1") is None  # once
    assert vaults.new().take("ref-1", "chat-1") is None  # once, on any instance
    assert vault.take("ref-unknown", "chat-1") is None


def test_a_lent_password_goes_to_no_one_else_until_settled(vaults: Vaults) -> None:
    vault, other_instance = vaults.new(), vaults.new()
    vault.deposit("ref-1", "chat-1", TemporaryPassword(PASSWORD), _later(3600))
    lent = vault.lend("ref-1", "chat-1")
    assert lent is not None and lent.password.value == PASSWORD
    for instance in (vault, other_instance):  # on its way to the user: nobody else gets it
        assert instance.take("ref-1", "chat-1") is None
        assert instance.lend("ref-1", "chat-1") is None

    vault.settle("ref-1", given=False)  # it did not arrive: there for the next try
    again = other_instance.lend("ref-1", "chat-1")
    assert again is not None and again.password.value == PASSWORD
    other_instance.settle("ref-1", given=True)  # it arrived: given once
    assert vault.take("ref-1", "chat-1") is None
    assert vault.lend("ref-1", "chat-1") is None


def test_a_new_deposit_under_a_reference_replaces_the_old_one(vaults: Vaults) -> None:
    vault = vaults.new()
    vault.deposit("ref-1", "chat-1", TemporaryPassword("AAAA"), _later(3600))
    assert vault.lend("ref-1", "chat-1") is not None
    vault.deposit("ref-1", "chat-1", TemporaryPassword("BBBB"), _later(3600))
    deposit = vault.take("ref-1", "chat-1")
    assert deposit is not None and deposit.password.value == "BBBB"


def test_a_password_not_collected_in_time_is_dropped(vaults: Vaults) -> None:
    vault = vaults.new(hold_for=0.3)
    vault.deposit("ref-held", "chat-1", TemporaryPassword(PASSWORD), _later(3600))
    lasting = vaults.new()
    lasting.deposit("ref-valid", "chat-1", TemporaryPassword(PASSWORD), _later(0.3))
    lasting.deposit("ref-expired", "chat-1", TemporaryPassword(PASSWORD), _later(-1))
    assert lasting.take("ref-expired", "chat-1") is None  # the recorder would refuse it
    time.sleep(0.5)
    assert vault.take("ref-held", "chat-1") is None  # past HOLD_FOR
    assert lasting.take("ref-valid", "chat-1") is None  # past the release's validity


def _at_once(*calls: Callable[[], object]) -> list[object]:
    """What each of ``calls`` returned, all started in threads at the same moment."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_instances_taking_at_once_give_it_exactly_once(vaults: Vaults) -> None:
    first, second = vaults.new(), vaults.new()
    for round_ in range(RACE_ROUNDS):
        reference = f"ref-{round_}"
        first.deposit(reference, "chat-1", TemporaryPassword(PASSWORD), _later(3600))
        borrow = round_ % 2 == 1  # the second takes, or lends (a web chat's socket)
        got = _at_once(
            lambda: first.take(reference, "chat-1"),  # noqa: B023 (called in this round)
            lambda: (second.lend if borrow else second.take)(reference, "chat-1"),  # noqa: B023
        )
        given = [deposit is not None for deposit in got]
        assert sorted(given) == [False, True], f"round {round_}: given {given.count(True)} times"


# -- what only a shared store shows ---------------------------------------------------------------


on_redis = pytest.mark.parametrize("vaults", ["redis"], indirect=True)


@on_redis
def test_redis_holds_neither_the_password_nor_the_conversation_in_clear(vaults: Vaults) -> None:
    vault = vaults.new()
    vault.deposit("ref-1", "chat-owner-7", TemporaryPassword(PASSWORD), _later(3600))
    stored = vaults.raw_values()
    assert stored, "nothing was stored"
    for value in stored:
        assert PASSWORD.encode() not in value
        assert b"chat-owner-7" not in value
    # Another key (an instance set up with another VAULT_KEY) cannot read it.
    assert vaults.new(vault_key=new_vault_key()).take("ref-1", "chat-owner-7") is None
    assert vault.take("ref-1", "chat-owner-7") is not None  # (and did not use it up)


@on_redis
def test_a_sealed_password_moved_to_another_reference_does_not_open(
    vaults: Vaults, redis_prefix: str
) -> None:
    vault = vaults.new()
    vault.deposit("ref-1", "chat-1", TemporaryPassword(PASSWORD), _later(3600))
    vault.deposit("ref-2", "chat-1", TemporaryPassword("OTHER"), _later(3600))
    client = redis.Redis.from_url(REDIS_URL)
    sealed = client.hget(f"{redis_prefix}vault:ref-1", "sealed")
    client.hset(f"{redis_prefix}vault:ref-2", "sealed", sealed)
    client.close()
    assert vault.take("ref-2", "chat-1") is None


@on_redis
@pytest.mark.parametrize(
    ("hold_for", "valid_for", "ceiling"),
    [(HOLD_FOR, 10.0, 10.0), (60.0, 3600.0, 60.0)],
    ids=["validity", "hold_for"],
)
def test_the_stored_password_lives_no_longer_than_its_validity_nor_hold_for(
    vaults: Vaults, redis_prefix: str, hold_for: float, valid_for: float, ceiling: float
) -> None:
    vaults.new(hold_for=hold_for).deposit(
        "ref-1", "chat-1", TemporaryPassword(PASSWORD), _later(valid_for)
    )
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{redis_prefix}*"))
    assert keys
    for key in keys:
        assert 0 < client.pttl(key) <= ceiling * 1000
    client.close()


# -- the login throttle's contract ----------------------------------------------------------------

ALICE = AttemptCounter("user:alice")
OFFICE = AttemptCounter("ip:1", ADDRESS_FREE_ATTEMPTS, cleared_by_success=False)


@dataclass
class Throttles:
    """Throttle instances on one store, all reading ``now`` (seconds) as their clock."""

    now: list[float]
    new: Callable[[], LoginThrottle]


@pytest.fixture(params=["memory", "redis"])
def throttles(request: pytest.FixtureRequest) -> Iterator[Throttles]:
    now = [0.0]
    if request.param == "memory":
        throttle = MemoryThrottle(clock=lambda: now[0])
        yield Throttles(now, lambda: throttle)
        return
    prefix = request.getfixturevalue("redis_prefix")
    opened: list[RedisThrottle] = []

    def on_redis() -> LoginThrottle:
        throttle = RedisThrottle(
            redis.Redis.from_url(REDIS_URL), clock=lambda: now[0], prefix=prefix
        )
        opened.append(throttle)
        return throttle

    yield Throttles(now, on_redis)
    for instance in opened:
        instance.close()


def test_repeated_attempts_slow_down_and_success_resets(throttles: Throttles) -> None:
    throttle, other_instance = throttles.new(), throttles.new()
    for _ in range(FREE_ATTEMPTS):
        assert throttle.admit(ALICE, OFFICE) == 0
    assert other_instance.admit(ALICE, OFFICE) == 1.0  # refused: nothing counted
    throttles.now[0] = 1.0
    assert throttle.admit(ALICE) == 0
    assert other_instance.admit(ALICE) == 2.0
    throttles.now[0] = 2.5
    assert throttle.admit(ALICE) == 0.5
    throttles.now[0] = 3.0
    assert throttle.admit(ALICE, OFFICE) == 0
    other_instance.succeeded(ALICE, OFFICE)
    assert throttle.admit(ALICE) == 0  # the account starts afresh
    throttles.now[0] = 2000.0
    for _ in range(FREE_ATTEMPTS):
        assert throttle.admit(ALICE) == 0  # old attempts were forgotten


def test_the_wait_doubles_up_to_its_ceiling(throttles: Throttles) -> None:
    throttle = throttles.new()
    waits: list[float] = []
    while len(waits) < 12:
        wait = throttle.admit(ALICE)
        if wait:  # refused: the next attempt comes exactly when allowed
            waits.append(wait)
            throttles.now[0] += wait
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, MAX_DELAY, MAX_DELAY, MAX_DELAY]


def test_a_success_gives_back_only_its_own_attempt_on_a_shared_address(
    throttles: Throttles,
) -> None:
    throttle = throttles.new()
    for _ in range(ADDRESS_FREE_ATTEMPTS):
        assert throttle.admit(OFFICE) == 0
    throttle.succeeded(OFFICE)  # one of the office's logins worked: one attempt given back
    assert throttle.admit(OFFICE) == 0
    assert throttle.admit(OFFICE) == 1.0


def test_a_refused_attempt_is_refused_on_every_counter(throttles: Throttles) -> None:
    throttle = throttles.new()
    for _ in range(FREE_ATTEMPTS):
        throttle.admit(ALICE)
    assert throttle.admit(ALICE, OFFICE) == 1.0
    for _ in range(ADDRESS_FREE_ATTEMPTS):
        assert throttle.admit(OFFICE) == 0  # the refused attempt was not counted on OFFICE
    assert throttle.admit(OFFICE) == 1.0


def test_a_parallel_flood_on_two_instances_gets_only_the_free_attempts(
    throttles: Throttles,
) -> None:
    instances = [throttles.new(), throttles.new()]
    waits = _at_once(*(lambda n=n: instances[n % 2].admit(ALICE) for n in range(20)))
    assert waits.count(0) == FREE_ATTEMPTS


def test_on_redis_the_throttle_keeps_time_by_redis_s_clock(redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    throttle = RedisThrottle(client, prefix=redis_prefix)  # no clock: Redis's TIME
    for _ in range(FREE_ATTEMPTS):
        assert throttle.admit(ALICE) == 0
    assert 0.9 < throttle.admit(ALICE) <= 1.0
    assert 0 < client.pttl(f"{redis_prefix}login:{ALICE.key}") <= (FORGET_AFTER + 1) * 1000
    time.sleep(1.05)
    assert throttle.admit(ALICE) == 0
    throttle.close()


def test_with_redis_url_a_password_deposited_on_one_instance_is_delivered_by_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What bot/bootstrap.py wires: the Rasa process's vault on Redis, under VAULT_KEY."""
    from bot import bootstrap
    from bot.channels.password_delivery import reveal

    key = new_vault_key()
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VAULT_KEY", base64.urlsafe_b64encode(key).decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lorex.db'}")
    reference = uuid.uuid4().hex
    other_instance = RedisVault(redis.Redis.from_url(REDIS_URL), key)
    other_instance.deposit(reference, "chat-1", TemporaryPassword(PASSWORD), _later(3600))
    message = {
        "custom": {
            "data": {"type": "temporary_password", "temporary_password": {"reference": reference}}
        }
    }
    assert isinstance(bootstrap.rasa_process().vault, RedisVault)
    shown = reveal(message, "chat-1", channel="rest")
    assert shown["custom"]["data"]["temporary_password"]["value"] == PASSWORD
    again = reveal(message, "chat-1", channel="rest")
    assert again["custom"]["data"]["temporary_password"] == {"unavailable": True}
    other_instance.close()


def test_an_instance_with_another_vault_key_refuses_to_start(redis_prefix: str) -> None:
    first = RedisVault(redis.Redis.from_url(REDIS_URL), new_vault_key(), prefix=redis_prefix)
    first.check_key_is_shared()
    same_key = RedisVault(
        redis.Redis.from_url(REDIS_URL), first_key := new_vault_key(), prefix=f"{redis_prefix}b:"
    )
    same_key.check_key_is_shared()
    RedisVault(
        redis.Redis.from_url(REDIS_URL), first_key, prefix=f"{redis_prefix}b:"
    ).check_key_is_shared()  # a second instance with the same key: welcome
    with pytest.raises(ValueError, match="VAULT_KEY differs"):
        RedisVault(
            redis.Redis.from_url(REDIS_URL), new_vault_key(), prefix=redis_prefix
        ).check_key_is_shared()


def test_a_new_vault_key_is_accepted_once_the_old_ones_passwords_have_expired(
    redis_prefix: str,
) -> None:
    old = RedisVault(
        redis.Redis.from_url(REDIS_URL), new_vault_key(), hold_for=0.3, prefix=redis_prefix
    )
    old.check_key_is_shared()
    new = RedisVault(
        redis.Redis.from_url(REDIS_URL), new_vault_key(), hold_for=0.3, prefix=redis_prefix
    )
    with pytest.raises(ValueError, match="VAULT_KEY differs"):
        new.check_key_is_shared()
    time.sleep(0.4)
    new.check_key_is_shared()


def test_a_password_lent_by_an_instance_that_died_can_be_given_after_the_lend(
    redis_prefix: str,
) -> None:
    key = new_vault_key()
    dying = RedisVault(redis.Redis.from_url(REDIS_URL), key, prefix=redis_prefix, lent_for=0.3)
    survivor = RedisVault(redis.Redis.from_url(REDIS_URL), key, prefix=redis_prefix, lent_for=0.3)
    dying.deposit("ref-1", "chat-1", TemporaryPassword(PASSWORD), _later(3600))
    assert dying.lend("ref-1", "chat-1") is not None  # then SIGKILL: never settled
    assert survivor.take("ref-1", "chat-1") is None  # its message may be arriving
    time.sleep(0.4)
    given = survivor.take("ref-1", "chat-1")
    assert given is not None and given.password.value == PASSWORD
    assert survivor.take("ref-1", "chat-1") is None
