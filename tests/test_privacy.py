# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""Passwords never reach the conversation history: recognising them, deciding what to hide, and
the masking tracker store writing real Rasa trackers to SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from rasa.core.brokers.sql import SQLEventBroker
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.nlu.training_data.message import Message
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.content import REPO_ROOT
from bot.guide.procedure import load_procedure
from bot.privacy.masking import NAVIGATION_INTENTS, SHARE_PASSWORD_INTENT, should_mask
from bot.privacy.password_shape import MASK, is_password_like_token, looks_like_password
from bot.privacy.tracker_store import (
    TRACKER_BUSY_TIMEOUT,
    MaskingSQLTrackerStore,
    RecentTrackers,
    StoredPart,
    mask_password_messages,
)
from bot.turn_failures import TurnFailed, channel_turn
from tests.conftest import POSTGRES_URL, PostgresServer

DEVICE_ID = "ND4810273945KXQ"
SENSITIVE_STEP = next(step.number for step in load_procedure().steps if step.sensitive_input)
NOT_SENSITIVE_STEP = SENSITIVE_STEP - 1


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(REPO_ROOT / "domain")


# --- the shape of a password ----------------------------------------------------------------

NOT_PASSWORDS = [
    # Device IDs, serial numbers and case codes: all capitals and digits, typed on purpose.
    DEVICE_ID,
    "ND48-1027-3945-KXQ",
    "LRX104592837",
    "21LX0483920175",
    "LX-4K7Q9M",
    "lx-4k7q9m",
    # Ordinary sentences, including ones about passwords.
    "my password is incorrect",
    "I forgot my password",
    "My password was incorrect",
    "the password is too short?",
    "my device id is nd4810273945kxq",
    "step 3 is done",
    "my case for the password reset is LX-4K7Q9M",
    "is the password 8 characters long?",
    # Words that introduce a password, around things that are not one.
    "the temp password for ND4810273945KXQ doesn't work",
    "the temp password for ND48-1027-3945-KXQ doesn't work",
    "resetting the admin password on an LNR600",
    "support already gave me a temporary password",
    "the code they gave me doesn't work",
    "the QR code says LRX748338014",
    "it says error code 0x1234",
    "I'll use the app",
    "I entered everything and pressed OK",
    "typed the new password twice and clicked ok",
    "I'm using my iPhone13",
    # Saying what was tried or typed, around things that are not a password.
    "I tried step 3",
    "I tried that, it didn't work",
    "i tried it twice and it didn't work",
    "I tried ND4810273945KXQ",
    "I tried ND48-1027-3945-KXQ and it says not found",
    "I typed in LRX104592837",
    "I used the app on my iPhone13",
    "I put in the temporary password",
    "my email is john.smith@gmail.com and my password is lost",
    "done",
    "hello",
    "HELLO",
    # The owner's email address, asked for so the agent can verify ownership.
    "dana@example.com",
    "Grace.Liu@Example.net",
    "my email is dana@example.com",
    "",
    "   ",
]
PASSWORDS = [
    "the temp password is K7px9Q2m",
    # Called a password: capitals and digits count (temporary passwords look like that).
    "the temp password is K7PX9Q2M",
    "the temporary password they gave me is 4HTR8QZ1",
    "Tr0ub4dor&3",
    "hunter22",
    "Winter2025!",
    "  hunter22  ",
    '"hunter22".',
    "password: hunter22",
    "my new pass = Sunset2024!",
    "the new password will be 'Garage7x'",
    "passcode was kx7pq2m9",
    "HUNTER!22",
    "p@ssw0rd!",
    # Introduced as the password chosen or given, without "password is".
    "I'll use Tiger2024",
    "set it to hunter22",
    "I'll make it Lantern_Glow12",
    "i want it to be rosie2020",
    "my password used to be Pumpkin2015",
    "pwd: tiGer4life",
    "pw Lemon12",
    "passw0rd: Zebra_2024",
    "temp pw 9XWQ2LMA",
    "the code is 3KDW8PZT",
    "they gave me 3KDW8PZT",
    "the agent gave me 5YPC8NVG as the temp password",
    # A word no Device ID or ordinary word looks like, anywhere in a sentence.
    "my new one is Canyon!Echo4",
    "I'm going to use Meadow#Lark8",
    "Br1ght.Star",
    # What the owner tried or typed on the recorder, told to the chat.
    "i tried Summer2023!",
    "I tried Summer2023! and it didn't work",
    "tried summer2023",
    "I typed Summer2023 and it says wrong",
    "I put in Summer2023!",
    "i've used Summer2023 before",
    "I entered 'Summer2023!' twice",
]


@pytest.mark.parametrize("message", NOT_PASSWORDS)
def test_ids_codes_and_sentences_are_not_passwords(message: str) -> None:
    assert looks_like_password(message) is False


@pytest.mark.parametrize("message", PASSWORDS)
def test_password_shaped_messages_are_recognised(message: str) -> None:
    assert looks_like_password(message) is True


def test_a_lower_case_device_id_is_saved_by_its_entity_span() -> None:
    typed = "nd4810273945kxq"
    # On its own it has the shape of a password (lower-case letters and digits) ...
    assert looks_like_password(typed) is True
    # ... but the NLU recognised it as the device_id entity, so it is not one.
    assert looks_like_password(typed, [(0, len(typed))]) is False
    # The span is compared with the message as typed, surrounding spaces included.
    padded = f"  {typed} "
    assert looks_like_password(padded, [(2, 2 + len(typed))]) is False
    # A span covering only part of the message does not excuse the rest.
    assert looks_like_password(typed, [(0, 5)]) is True


@pytest.mark.parametrize(
    ("typed", "span_start"),
    [
        ("nd48102", 0),  # an attempt at a Device ID, too short
        ("I entered nd48102", 10),
        ("Nd4810273945kxq", 0),  # a phone's capital first letter
    ],
)
def test_a_device_id_attempt_is_saved_by_its_entity_span(typed: str, span_start: int) -> None:
    assert looks_like_password(typed, [(span_start, len(typed))]) is False


@pytest.mark.parametrize(
    "typed", ["Dune_Buggy42", "hunter22", "Tiger2024", "I'll use Tiger2024", "Pine.Cone88"]
)
def test_an_entity_span_does_not_excuse_what_no_device_id_looks_like(typed: str) -> None:
    # The Device ID extractor also takes these for attempts at an ID, but their runs of letters
    # are longer than any Device ID's, or their shape is a password's.
    start = typed.rindex(" ") + 1 if " " in typed else 0
    assert looks_like_password(typed, [(start, len(typed))]) is True


def test_a_device_id_span_does_not_excuse_a_password_statement() -> None:
    message = "my password is K7px9Q2m"
    assert looks_like_password(message, [(0, len(message))]) is True


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("abc12", False),  # 5 characters: too short to be taken for a password
        ("abc123", True),
        ("a1" * 32, True),  # 64 characters: the longest still considered
        ("a1" * 32 + "a", False),
        ("abcdefgh", False),  # one class of character
        ("12345678", False),
        ("!!!!!!!!", False),
        ("ABC123XYZ", False),  # capitals and digits: the shape of IDs
        ("ABC-123-XYZ", False),  # ... with group separators
        ("1234-5678", False),
        ("ABC!123", True),  # a special character that separates nothing
        ("“hunter22”", True),  # typographic quotes are not part of the token
        ("hunter22,", True),
    ],
)
def test_password_like_tokens(token: str, expected: bool) -> None:
    assert is_password_like_token(token) is expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("K7PX9Q2M", True),
        ("K7PX-9Q2M", True),
        ("hunter22", True),
        ("LX-4K7Q9M", False),  # a case code is a case code, whatever the sentence says
        ("12345678", False),
        ("ABCDEFGH", False),
        ("K7PX9", False),
    ],
)
def test_tokens_called_a_password(token: str, expected: bool) -> None:
    assert is_password_like_token(token, called_a_password=True) is expected


@pytest.mark.parametrize(
    "word", ["pardon?", "Thanks!", "Repeat", "Finished", "e-mail", "my password is wrong!"]
)
def test_ordinary_words_are_not_passwords(word: str) -> None:
    assert looks_like_password(word) is False


# --- which messages are hidden --------------------------------------------------------------


def test_the_procedure_has_one_sensitive_step() -> None:
    steps = load_procedure().steps
    assert [step.number for step in steps if step.sensitive_input] == [SENSITIVE_STEP]
    assert 1 < SENSITIVE_STEP <= len(steps)


def test_every_navigation_intent_exists_in_the_domain(domain: Domain) -> None:
    assert set(domain.intents) >= NAVIGATION_INTENTS
    assert SHARE_PASSWORD_INTENT in domain.intents


@pytest.mark.parametrize(
    ("message", "intent", "at_sensitive_step", "expected"),
    [
        # Saying you share a password hides the message, wherever you are.
        ("I'll tell you my new password", SHARE_PASSWORD_INTENT, False, True),
        ("I'll tell you my new password", SHARE_PASSWORD_INTENT, True, True),
        # At the new-password step, anything that is not navigation is hidden.
        ("sunshine", "nlu_fallback", True, True),
        ("sunshine", None, True, True),
        ("blue horse battery staple", "out_of_scope", True, True),
        ("sunshine", "provide_device_id", True, True),
        # Elsewhere the same words are kept.
        ("sunshine", "nlu_fallback", False, False),
        ("blue horse battery staple", "out_of_scope", False, False),
        # Navigation at the sensitive step is kept, unless it carries a password.
        ("done", "step_done", True, False),
        ("stuck", "step_help", True, False),
        ("it says hunter22 is wrong", "temp_password_rejected", True, False),
        ("hunter22", "step_done", True, True),
        # Password-shaped text is hidden whatever the intent.
        ("hunter22", "greet", False, True),
        ("Tr0ub4dor&3", "provide_device_id", False, True),
        # Nothing to hide.
        ("", SHARE_PASSWORD_INTENT, True, False),
        (None, SHARE_PASSWORD_INTENT, True, False),
    ],
)
def test_should_mask(
    message: str | None, intent: str | None, at_sensitive_step: bool, expected: bool
) -> None:
    assert should_mask(message, intent, at_sensitive_step=at_sensitive_step) is expected


@pytest.mark.parametrize("intent", sorted(NAVIGATION_INTENTS))
def test_navigation_is_kept_at_the_sensitive_step(intent: str) -> None:
    assert should_mask("ok", intent, at_sensitive_step=True) is False
    assert should_mask("hunter22", intent, at_sensitive_step=True) is True


def test_should_mask_respects_device_id_spans() -> None:
    typed = "nd4810273945kxq"
    assert should_mask(typed, "provide_device_id", at_sensitive_step=False) is True
    assert (
        should_mask(
            typed,
            "provide_device_id",
            at_sensitive_step=False,
            device_id_spans=[(0, len(typed))],
        )
        is False
    )


# --- masking a Rasa tracker -----------------------------------------------------------------


def user(message: str, intent: str | None, entities: Sequence[dict[str, Any]] = ()) -> UserUttered:
    """A user message as the NLU pipeline hands it to the tracker."""
    intent_data = {"name": intent, "confidence": 1.0} if intent else {}
    parse_data = {
        "text": message,
        "intent": intent_data,
        "entities": list(entities),
        "intent_ranking": [intent_data] if intent else [],
    }
    return UserUttered(message, intent_data, list(entities), parse_data, input_channel="rest")


def device_id_entity(message: str, typed: str, value: str = DEVICE_ID) -> dict[str, Any]:
    start = message.index(typed)
    return {
        "entity": "device_id",
        "value": value,
        "start": start,
        "end": start + len(typed),
        "extractor": "DeviceIdEntityExtractor",
    }


def session_start() -> list[Event]:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]


def tracker_of(events: Sequence[Event], domain: Domain, sender_id: str = "owner-1") -> Any:
    return DialogueStateTracker.from_events(sender_id, list(events), domain.slots)


def user_texts(tracker: DialogueStateTracker) -> list[str]:
    return [event.text for event in tracker.events if isinstance(event, UserUttered)]


def guiding_at(step: float) -> list[Event]:
    return [SlotSet("guiding", True), SlotSet("reset_step", step)]


def test_mask_password_messages_hides_text_entities_and_parse_data(domain: Domain) -> None:
    message = "hunter22"
    event = user(message, SHARE_PASSWORD_INTENT, [{"entity": "other", "value": message}])
    tracker = tracker_of([*session_start(), event], domain)

    mask_password_messages(tracker, SENSITIVE_STEP)

    [masked] = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert masked.text == MASK
    assert masked.entities == []
    assert masked.parse_data["text"] == MASK
    assert masked.parse_data["entities"] == []
    assert masked.intent_name == SHARE_PASSWORD_INTENT  # the dialogue still knows what it was
    assert message not in json.dumps(masked.as_dict())
    assert tracker.latest_message is not None
    assert tracker.latest_message.text == MASK


def test_events_already_checked_are_followed_for_the_step_not_checked_again(
    domain: Domain,
) -> None:
    # Stored events were checked when they were saved; the step they set still counts.
    events = [*session_start(), *guiding_at(SENSITIVE_STEP), user("hunter22", "nlu_fallback")]
    tracker = tracker_of([*events, user("sunshine", "nlu_fallback")], domain)

    mask_password_messages(tracker, SENSITIVE_STEP, already_checked=len(events))

    assert user_texts(tracker) == ["hunter22", MASK]


def test_only_the_sensitive_step_while_guiding_hides_everything(domain: Domain) -> None:
    events: list[Event] = [
        *session_start(),
        user("sunshine one", "nlu_fallback"),  # not guiding: kept
        SlotSet("reset_step", float(SENSITIVE_STEP)),
        user("sunshine two", "nlu_fallback"),  # the step, but not guiding: kept
        SlotSet("guiding", True),
        SlotSet("reset_step", float(NOT_SENSITIVE_STEP)),
        user("sunshine three", "nlu_fallback"),  # guiding, another step: kept
        SlotSet("reset_step", float(SENSITIVE_STEP)),  # Rasa's float slot: 8.0 == 8
        user("sunshine four", "nlu_fallback"),  # hidden
        user("done", "step_done"),  # navigation: kept
        SlotSet("reset_step", SENSITIVE_STEP + 1),
        user("sunshine five", "nlu_fallback"),  # the next step: kept
        SlotSet("reset_step", SENSITIVE_STEP),
        SlotSet("guiding", False),
        user("sunshine six", "nlu_fallback"),  # guiding ended: kept
    ]
    tracker = tracker_of(events, domain)

    mask_password_messages(tracker, SENSITIVE_STEP)

    assert user_texts(tracker) == [
        "sunshine one",
        "sunshine two",
        "sunshine three",
        MASK,
        "done",
        "sunshine five",
        "sunshine six",
    ]


@pytest.mark.parametrize("reset", [SessionStarted, Restarted])
def test_a_new_session_or_restart_ends_the_sensitive_step(
    domain: Domain, reset: type[Event]
) -> None:
    events: list[Event] = [
        *session_start(),
        *guiding_at(SENSITIVE_STEP),
        user("sunshine one", "nlu_fallback"),
        reset(),
        user("sunshine two", "nlu_fallback"),
    ]
    tracker = tracker_of(events, domain)

    mask_password_messages(tracker, SENSITIVE_STEP)

    assert user_texts(tracker) == [MASK, "sunshine two"]


def test_a_device_id_message_is_kept_with_its_entity(domain: Domain) -> None:
    message = "nd4810273945kxq"
    entity = device_id_entity(message, message)
    tracker = tracker_of([*session_start(), user(message, "provide_device_id", [entity])], domain)

    mask_password_messages(tracker, SENSITIVE_STEP)

    [kept] = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert kept.text == message
    assert kept.entities == [entity]


def button_message(text: str, domain: Domain) -> UserUttered:
    """A client's ``/intent{...}`` message as Rasa parses it (its regex message handler)."""
    [parsed] = RegexMessageHandler().process([Message.build(text)], domain)
    data = parsed.as_dict()
    return UserUttered(
        text, data["intent"], data.get("entities", []), data, input_channel="socketio"
    )


def test_a_confirmed_device_id_sent_by_a_button_is_kept(domain: Domain) -> None:
    """The photo reader's confirmed ID arrives as ``/provide_device_id{...}``: no password."""
    text = '/provide_device_id{"device_id":"ND4810273945KXQ"}'
    tracker = tracker_of([*session_start(), button_message(text, domain)], domain)

    mask_password_messages(tracker, SENSITIVE_STEP)

    [kept] = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert kept.text == text
    assert [entity["value"] for entity in kept.entities] == [DEVICE_ID]


@pytest.mark.parametrize(
    "text",
    [
        '/provide_device_id{"device_id":"hunter22"}',
        '/provide_device_id{"device_id":"Tr0ub4dor&3"}',
        # Not something a client may send: judged as any text.
        '/share_password{"device_id":"ND4810273945KXQ"}',
    ],
)
def test_a_password_shaped_entity_in_a_button_message_is_masked(text: str, domain: Domain) -> None:
    tracker = tracker_of([*session_start(), button_message(text, domain)], domain)

    mask_password_messages(tracker, SENSITIVE_STEP)

    [masked] = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert masked.text == MASK and masked.entities == []


@pytest.mark.parametrize("text", ["/step_done", "/request_human", "/greet"])
def test_a_plain_button_message_is_kept(text: str) -> None:
    assert should_mask(text, text[1:], at_sensitive_step=False) is False


# --- the masking tracker store on real databases --------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def tracker_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database Rasa has never seen: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker' / 'tracker.db'}"  # folder created by the store
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        name = url.rsplit("/", 1)[1]
        admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


@pytest.fixture
def store(tracker_store_url: str, domain: Domain) -> Iterator[MaskingSQLTrackerStore]:
    tracker_store = MaskingSQLTrackerStore(domain=domain, host=tracker_store_url)
    try:
        yield tracker_store
    finally:
        tracker_store.engine.dispose()


def raw_events(url: str) -> list[dict[str, Any]]:
    """Every row of Rasa's ``events`` table, read without Rasa."""
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM events ORDER BY id")).mappings()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


def assert_nowhere(secrets: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        for column, value in row.items():
            for secret in secrets:
                assert secret.lower() not in str(value).lower(), (column, row)


ID_MESSAGE = "my device id is nd4810273945kxq"
SECRETS = ("hunter22", "K7px9Q2m", "sunshine", "Tr0ub4dor&3")


def conversation() -> list[Event]:
    """A conversation in which the owner types three passwords and one secret word."""
    return [
        *session_start(),
        user("hi", "greet"),
        BotUttered("Hi! I'm the Lorex recorder assistant."),
        user(ID_MESSAGE, "provide_device_id", [device_id_entity(ID_MESSAGE, "nd4810273945kxq")]),
        BotUttered("Thanks, ND48 1027 3945 KXQ is a registered N841."),
        user("hunter22", "nlu_fallback"),  # the shape of a password
        user("the temp password is K7px9Q2m", SHARE_PASSWORD_INTENT),
        SlotSet("guiding", True),
        SlotSet("reset_step", float(NOT_SENSITIVE_STEP)),
        user("done", "step_done"),
        SlotSet("reset_step", float(SENSITIVE_STEP)),
        BotUttered("Type your new password in New Password."),
        user("sunshine", "nlu_fallback"),  # only the step tells it is a password
        BotUttered("Please don't type your new password here."),
        user("stuck", "step_help"),
    ]


KEPT = ["hi", ID_MESSAGE, MASK, MASK, "done", MASK, "stuck"]


async def test_the_store_writes_no_password_to_the_database(
    store: MaskingSQLTrackerStore, tracker_store_url: str, domain: Domain
) -> None:
    tracker = tracker_of(conversation(), domain)

    await store.save(tracker)

    rows = raw_events(tracker_store_url)
    assert len(rows) == len(tracker.events)
    assert_nowhere(SECRETS, rows)
    user_rows = [row for row in rows if row["type_name"] == "user"]
    assert [json.loads(row["data"])["text"] for row in user_rows] == KEPT
    # What the dialogue needs is kept: the intent, and the Device ID with its entity.
    assert [row["intent_name"] for row in user_rows] == [
        "greet",
        "provide_device_id",
        "nlu_fallback",
        SHARE_PASSWORD_INTENT,
        "step_done",
        "nlu_fallback",
        "step_help",
    ]
    id_data = json.loads(user_rows[1]["data"])
    assert id_data["parse_data"]["text"] == ID_MESSAGE
    assert [e["value"] for e in id_data["parse_data"]["entities"]] == [DEVICE_ID]
    bot_texts = [json.loads(row["data"])["text"] for row in rows if row["type_name"] == "bot"]
    assert bot_texts[1] == "Thanks, ND48 1027 3945 KXQ is a registered N841."


async def test_a_sqlite_tracker_store_keeps_its_connections_in_write_ahead_log_mode(
    tmp_path: Path, domain: Domain
) -> None:
    store = MaskingSQLTrackerStore(domain=domain, host=f"sqlite:///{tmp_path / 'tracker.db'}")
    try:
        await store.save(tracker_of(conversation(), domain, sender_id="owner-wal"))
        with store.session_scope() as session:
            connection = session.connection()
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        # Pooled: the connection outlives the session, so the log is not checkpointed each time.
        assert store.engine.pool.checkedin() == 1
        retrieved = await store.retrieve("owner-wal")
        assert retrieved is not None and user_texts(retrieved) == KEPT
    finally:
        store.engine.dispose()


async def test_a_sqlite_store_locked_by_another_connection_ends_a_turn_and_keeps_nothing(
    tmp_path: Path, domain: Domain
) -> None:
    database = tmp_path / "tracker.db"
    store = MaskingSQLTrackerStore(domain=domain, host=f"sqlite:///{database}")
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        await store.save(tracker_of(conversation()[:3], domain, sender_id="owner-lock"))
        tracker = await store.retrieve("owner-lock")  # handed out: the turn now owns it
        assert tracker is not None
        tracker.update(UserUttered("what is the next step?", {"name": "step_help"}))
        lock.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with channel_turn(), pytest.raises(TurnFailed) as failed:
            await store.save(tracker)
        waited = time.monotonic() - started
        with pytest.raises(OperationalError):  # outside a channel turn: Rasa's API's error
            await store.save(tracker)
        lock.execute("ROLLBACK")
    finally:
        lock.close()
    assert failed.value.part == "tracker store"
    assert failed.value.reason == "OperationalError: database is locked"
    assert "what is the next step" not in str(failed.value)
    assert TRACKER_BUSY_TIMEOUT <= waited < TRACKER_BUSY_TIMEOUT + 3  # bounded, then it fails
    retrieved = await store.retrieve("owner-lock")  # from the database, not the failed turn
    assert retrieved is not None and "what is the next step?" not in user_texts(retrieved)
    store.engine.dispose()


async def test_retrieve_gives_back_the_masked_conversation(
    store: MaskingSQLTrackerStore, domain: Domain
) -> None:
    await store.save(tracker_of(conversation(), domain, sender_id="owner-2"))

    retrieved = await store.retrieve("owner-2")

    assert retrieved is not None
    assert user_texts(retrieved) == KEPT
    assert retrieved.get_slot("reset_step") == SENSITIVE_STEP
    assert retrieved.get_slot("guiding") is True
    assert await store.retrieve("nobody") is None


async def test_saving_again_neither_duplicates_nor_unmasks(
    store: MaskingSQLTrackerStore, tracker_store_url: str, domain: Domain
) -> None:
    first_turn = tracker_of(conversation(), domain)
    await store.save(first_turn)
    stored = len(first_turn.events)

    # Later turns, as Rasa's processor runs them: retrieve, add the turn's events, save. (Rasa's
    # retrieve starts at SessionStarted, so the tracker lines up with the rows it counts.)
    retrieved = await store.retrieve(first_turn.sender_id)
    assert retrieved is not None
    await store.save(retrieved)  # nothing new
    assert len(raw_events(tracker_store_url)) == stored

    retrieved.update(user("Winter2025!", "nlu_fallback"))
    retrieved.update(BotUttered("Please don't type your new password here."))
    retrieved.update(user("repeat", "repeat"))
    await store.save(retrieved)
    await store.save(retrieved)

    rows = raw_events(tracker_store_url)
    assert len(rows) == stored + 3
    assert_nowhere((*SECRETS, "Winter2025"), rows)
    user_rows = [json.loads(row["data"]) for row in rows if row["type_name"] == "user"]
    assert [data["text"] for data in user_rows] == [*KEPT, MASK, "repeat"]
    # Masked once, stays masked: what is read back is what was written.
    again = await store.retrieve(first_turn.sender_id)
    assert again is not None
    assert user_texts(again) == [*KEPT, MASK, "repeat"]
    await store.save(again)
    assert raw_events(tracker_store_url) == rows


async def test_the_event_broker_only_sees_masked_messages(
    tracker_store_url: str, domain: Domain, tmp_path: Path
) -> None:
    broker_path = tmp_path / "broker.db"
    broker = SQLEventBroker(dialect="sqlite", db=str(broker_path))
    store = MaskingSQLTrackerStore(domain=domain, host=tracker_store_url, event_broker=broker)
    try:
        await store.save(tracker_of(conversation(), domain))
    finally:
        store.engine.dispose()
        broker.engine.dispose()

    published = raw_events(f"sqlite:///{broker_path}")
    assert len(published) == len(conversation())
    assert_nowhere(SECRETS, published)
    events = [json.loads(row["data"]) for row in published]
    assert [event["text"] for event in events if event["event"] == "user"] == KEPT


# --- recent trackers kept between turns -----------------------------------------------------


async def read_back(url: str, domain: Domain, sender_id: str) -> list[dict[str, Any]]:
    """The conversation as a store that has kept nothing reads it from the database."""
    fresh = MaskingSQLTrackerStore(domain=domain, host=url)
    try:
        tracker = await fresh.retrieve(sender_id)
        assert tracker is not None
        return list(tracker.current_state(EventVerbosity.ALL)["events"])
    finally:
        fresh.engine.dispose()


def off_the_steps() -> list[Event]:
    """The conversation, then the owner leaves the steps: what they type is kept again."""
    return [*conversation(), SlotSet("guiding", False)]


def events_of(tracker: DialogueStateTracker) -> list[dict[str, Any]]:
    return list(tracker.current_state(EventVerbosity.ALL)["events"])


async def test_the_next_turn_gets_the_tracker_kept_from_the_last_one(
    store: MaskingSQLTrackerStore, tracker_store_url: str, domain: Domain
) -> None:
    await store.save(tracker_of(off_the_steps(), domain))
    kept: DialogueStateTracker | None = None
    for number, said in enumerate(["done", "hunter23", "go back", "repeat"]):
        tracker = await store.retrieve("owner-1")
        assert tracker is not None
        # The first turn reads the database (the saved tracker started the session).
        assert (tracker is kept) == (number > 0)
        assert events_of(tracker) == await read_back(tracker_store_url, domain, "owner-1")
        tracker.update(user(said, "nlu_fallback"))
        tracker.update(BotUttered(f"answer {number}"))
        await store.save(tracker)
        kept = tracker

    assert kept is not None
    rows = raw_events(tracker_store_url)
    assert len(rows) == len(off_the_steps()) + 8  # each event written once
    assert_nowhere(("hunter23",), rows)
    # Masked in the kept tracker as in the database.
    assert user_texts(kept)[-4:] == ["done", MASK, "go back", "repeat"]
    assert events_of(kept) == await read_back(tracker_store_url, domain, "owner-1")


async def test_what_another_instance_wrote_is_read_from_the_database(
    store: MaskingSQLTrackerStore, tracker_store_url: str, domain: Domain
) -> None:
    await store.save(tracker_of(off_the_steps(), domain))
    mine = await store.retrieve("owner-1")
    assert mine is not None
    await store.save(mine)  # kept
    other = MaskingSQLTrackerStore(domain=domain, host=tracker_store_url)
    try:
        theirs = await other.retrieve("owner-1")
        assert theirs is not None
        theirs.update(user("written elsewhere", "out_of_scope"))
        await other.save(theirs)
    finally:
        other.engine.dispose()

    again = await store.retrieve("owner-1")

    assert again is not None and again is not mine
    assert user_texts(again)[-1] == "written elsewhere"
    assert events_of(again) == await read_back(tracker_store_url, domain, "owner-1")


async def test_a_turn_that_fails_before_saving_leaves_nothing_behind(
    store: MaskingSQLTrackerStore, domain: Domain
) -> None:
    await store.save(tracker_of(off_the_steps(), domain))
    tracker = await store.retrieve("owner-1")
    assert tracker is not None
    await store.save(tracker)
    taken = await store.retrieve("owner-1")
    assert taken is tracker
    taken.update(user("never saved", "out_of_scope"))  # the turn fails here

    again = await store.retrieve("owner-1")

    assert again is not None and again is not taken
    assert "never saved" not in user_texts(again)


async def test_the_turn_that_starts_a_new_session_is_read_back_from_its_start(
    store: MaskingSQLTrackerStore, tracker_store_url: str, domain: Domain
) -> None:
    await store.save(tracker_of(off_the_steps(), domain))
    tracker = await store.retrieve("owner-1")
    assert tracker is not None
    for event in session_start():
        tracker.update(event)
    tracker.update(user("hello again", "greet"))
    await store.save(tracker)

    again = await store.retrieve("owner-1")

    assert again is not None and again is not tracker
    assert user_texts(again) == ["hello again"]
    assert events_of(again) == await read_back(tracker_store_url, domain, "owner-1")


def test_only_the_most_recent_conversations_are_kept(domain: Domain) -> None:
    recent = RecentTrackers(capacity=2)
    trackers = {name: tracker_of(conversation(), domain, sender_id=name) for name in "abc"}
    for row, (name, tracker) in enumerate(trackers.items(), start=1):
        recent.keep(name, tracker, StoredPart(len(tracker.events), last_row=row))

    assert len(recent) == 2
    assert recent.take("a", last_row=1) is None  # the oldest, dropped
    assert recent.take("b", last_row=99) is None  # a row written since: out of date
    assert recent.take("c", last_row=3) is trackers["c"]
    assert recent.take("c", last_row=3) is None  # handed out once
