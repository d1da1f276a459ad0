# mypy: disable-error-code="import-untyped"
"""Messages kept for users who cannot be pushed to, and the delivery state of released
passwords, on real databases (SQLite and PostgreSQL) built by the migrations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from argon2 import PasswordHasher

from bot.agents.accounts import AgentAccounts
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.channels import password_delivery
from bot.channels.password_delivery import channel_of, reveal
from bot.db import Database
from bot.devices.registry import DeviceRegistry
from bot.handoff.delivery import DeliveryState, Outbox
from bot.handoff.desk import Release, SupportDesk
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords, TemporaryPassword
from bot.handoff.vault import MemoryVault
from tests.conftest import SAMPLE_DEVICES, WriteCsv

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def password_message(reference: str) -> dict[str, object]:
    return {
        "text": "Here is your temporary password.",
        "custom": {
            "data": {"type": "temporary_password", "temporary_password": {"reference": reference}}
        },
    }


@pytest.fixture
def outbox(database: Database) -> Iterator[Outbox]:
    outbox = Outbox(database)
    yield outbox
    password_delivery._outbox = None


def released(database: Database, write_devices_csv: WriteCsv, conversation: str) -> Release:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    desk = SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())
    agent = AgentAccounts(database, hasher=CHEAP).create(
        f"a{uuid.uuid4().hex[:8]}", "Alice", "correct horse battery"
    )
    case = CaseStore(database).open_case(
        channel="chat",
        conversation_id=conversation,
        actor="assistant",
        reason="test",
        status=CaseStatus.QUEUED,
        device_id=SAMPLE_DEVICES[0]["device_id"],
    )
    desk.claim(case.code, agent)
    return desk.release(case.code, agent)


def reasons(database: Database, code: str) -> list[str]:
    return [event.reason for event in CaseStore(database).events(code)]


def test_kept_messages_come_back_in_order_once(outbox: Outbox) -> None:
    conversation, other = f"rest-{uuid.uuid4().hex}", f"rest-{uuid.uuid4().hex}"
    outbox.keep(conversation, [{"text": "one"}, {"custom": {"data": {"n": 2}}}], channel="rest")
    outbox.keep(other, [{"text": "not yours"}], channel="rest")
    outbox.keep(conversation, [{"text": "three"}], channel="rest")

    assert outbox.has_pending(conversation)
    assert outbox.take(conversation) == [
        {"text": "one"},
        {"custom": {"data": {"n": 2}}},
        {"text": "three"},
    ]
    assert outbox.take(conversation) == []
    assert not outbox.has_pending(conversation)
    assert outbox.take(other) == [{"text": "not yours"}]


def test_a_kept_password_waits_then_is_delivered_once_and_the_trail_says_so(
    database: Database, outbox: Outbox, write_devices_csv: WriteCsv
) -> None:
    conversation = f"rest-{uuid.uuid4().hex}"
    release = released(database, write_devices_csv, conversation)
    vault = MemoryVault()
    vault.deposit(release.reference, conversation, release.password, release.expires_at)
    message = password_message(release.reference)
    assert outbox.deliveries([release.reference]) == {}  # nothing known: not delivered

    outbox.keep(conversation, [message], channel="rest", release_reference=release.reference)
    waiting = outbox.deliveries([release.reference])[release.reference]
    assert (waiting.state, waiting.channel, waiting.settled_at) == (
        DeliveryState.WAITING,
        "rest",
        None,
    )
    assert "waits for the user to come back" in reasons(database, release.case.code)[-1]
    # The kept message holds the reference, never the password.
    assert release.password.value not in str(outbox.take(conversation))

    password_delivery._outbox = outbox  # as the Rasa process does (process_outbox)
    shown = reveal(message, conversation, vault, channel="rest")
    assert shown["custom"]["data"]["temporary_password"] == {  # type: ignore[index]
        "value": release.password.value,
        "expires_at": release.expires_at.isoformat(),
        # So the widget holds it by reference (the owner may ask for it again, and a
        # re-release is another one).
        "reference": release.reference,
    }
    delivered = outbox.deliveries([release.reference])[release.reference]
    assert delivered.state is DeliveryState.DELIVERED and delivered.settled_at is not None
    assert "reached the user (the REST client took it" in reasons(database, release.case.code)[-1]

    # Revealed again (a replayed trigger): unavailable, and it stays delivered.
    again = reveal(message, conversation, vault, channel="rest")
    assert again["custom"]["data"]["temporary_password"] == {"unavailable": True}  # type: ignore[index]
    assert outbox.deliveries([release.reference])[release.reference].state is (
        DeliveryState.DELIVERED
    )
    assert sum("temporary password" in r for r in reasons(database, release.case.code)) == 3


def test_a_password_dropped_before_the_user_came_back_is_lost(
    database: Database, outbox: Outbox, write_devices_csv: WriteCsv
) -> None:
    conversation = f"rest-{uuid.uuid4().hex}"
    release = released(database, write_devices_csv, conversation)
    outbox.keep(conversation, [{}], channel="rest", release_reference=release.reference)
    password_delivery._outbox = outbox

    reveal(password_message(release.reference), conversation, MemoryVault(), channel="rest")

    assert outbox.deliveries([release.reference])[release.reference].state is DeliveryState.LOST
    assert "it was not delivered (release a new one)" in reasons(database, release.case.code)[-1]


def test_another_conversation_revealing_a_reference_records_nothing(
    database: Database, outbox: Outbox, write_devices_csv: WriteCsv
) -> None:
    conversation = f"web-{uuid.uuid4().hex}"
    release = released(database, write_devices_csv, conversation)
    password_delivery._outbox = outbox
    before = reasons(database, release.case.code)

    reveal(password_message(release.reference), "someone-else", MemoryVault())

    assert outbox.deliveries([release.reference]) == {}
    assert reasons(database, release.case.code) == before


def test_the_channel_is_read_from_the_conversation_id() -> None:
    assert channel_of("web-0123abcd") == "socketio"
    assert channel_of("CA" + "0" * 32) == "phone"
    assert channel_of("alice") == "rest"


def test_a_message_for_a_web_chat_without_a_socket_waits_and_is_revealed_on_return(
    database: Database, outbox: Outbox, write_devices_csv: WriteCsv
) -> None:
    conversation = f"web-{uuid.uuid4().hex}"
    release = released(database, write_devices_csv, conversation)
    vault = MemoryVault()
    vault.deposit(release.reference, conversation, release.password, release.expires_at)
    password_delivery._outbox = outbox
    message = password_message(release.reference)

    asyncio.run(password_delivery.keep_for_later(conversation, message, "socketio"))
    assert outbox.deliveries([release.reference])[release.reference].state is (
        DeliveryState.WAITING
    )

    [kept] = asyncio.run(password_delivery.kept_for(conversation))
    assert kept.message == message
    sent: list[dict[str, Any]] = []

    async def socket(arrives: bool) -> bool:
        async def send(revealed: dict[str, Any]) -> bool:
            sent.append(revealed)
            return arrives

        return await password_delivery.deliver_once(kept.message, conversation, send, vault)

    # The socket closed before it acknowledged the message: nothing is given yet.
    assert asyncio.run(socket(arrives=False)) is False
    assert sent[-1]["custom"]["data"]["temporary_password"]["value"] == release.password.value
    assert outbox.deliveries([release.reference])[release.reference].state is (
        DeliveryState.WAITING
    )
    assert asyncio.run(password_delivery.kept_for(conversation)) == [kept]

    # The next socket acknowledges it: delivered, and kept no longer.
    assert asyncio.run(socket(arrives=True)) is True
    assert sent[-1]["custom"]["data"]["temporary_password"]["value"] == release.password.value
    delivered = outbox.deliveries([release.reference])[release.reference]
    assert (delivered.state, delivered.channel) == (DeliveryState.DELIVERED, "socketio")
    asyncio.run(password_delivery.arrived(kept))
    assert asyncio.run(password_delivery.kept_for(conversation)) == []

    # Given once: sent again (a replayed trigger), it is unavailable, and stays delivered.
    assert asyncio.run(socket(arrives=True)) is True
    assert sent[-1]["custom"]["data"]["temporary_password"] == {"unavailable": True}
    assert outbox.deliveries([release.reference])[release.reference].state is (
        DeliveryState.DELIVERED
    )


def test_kept_messages_stay_kept_until_dropped(outbox: Outbox) -> None:
    conversation = f"web-{uuid.uuid4().hex}"
    outbox.keep(conversation, [{"text": "one"}, {"text": "two"}], channel="socketio")
    outbox.keep(conversation, [{"text": "three"}], channel="socketio")

    first, second, third = outbox.kept(conversation)
    assert [k.message["text"] for k in (first, second, third)] == ["one", "two", "three"]
    assert outbox.kept(conversation) == [first, second, third]  # reading takes nothing

    outbox.drop([first.id])
    assert outbox.kept(conversation) == [second, third]
    outbox.drop([second.id, third.id])
    assert outbox.kept(conversation) == [] and not outbox.has_pending(conversation)


def test_a_lent_password_goes_to_no_one_else_until_settled() -> None:
    vault = MemoryVault(hold_for=60)
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    vault.deposit("ref-1", "chat-1", TemporaryPassword("K7PX9Q2M"), expires)

    assert vault.lend("ref-1", "chat-2") is None  # another conversation
    lent = vault.lend("ref-1", "chat-1")
    assert lent is not None and lent.password.value == "K7PX9Q2M"
    # On its way to the user: nobody else takes or borrows it meanwhile.
    assert vault.take("ref-1", "chat-1") is None
    assert vault.lend("ref-1", "chat-1") is None

    vault.settle("ref-1", given=False)  # it did not arrive: there for the next try
    assert vault.lend("ref-1", "chat-1") is not None
    vault.settle("ref-1", given=True)  # it arrived: given once
    assert vault.take("ref-1", "chat-1") is None and len(vault) == 0


def test_a_lent_password_is_not_dropped_as_stale_while_on_its_way() -> None:
    clock = [0.0]
    vault = MemoryVault(clock=lambda: clock[0], hold_for=60)
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    vault.deposit("ref-1", "chat-1", TemporaryPassword("K7PX9Q2M"), expires)
    assert vault.lend("ref-1", "chat-1") is not None
    clock[0] = 61.0
    assert len(vault) == 1  # on its way: kept until settled
    vault.settle("ref-1", given=False)
    assert len(vault) == 0  # not given, and past its time: dropped
