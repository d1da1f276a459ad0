"""The Rasa custom actions, run as the action server runs them: a real ``rasa_sdk.Tracker``, a
``CollectingDispatcher``, the real domain and content files, and the product database (SQLite
and PostgreSQL) seeded from ``data/devices.csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from functools import cache
from typing import Any

import pytest
from argon2 import PasswordHasher
from rasa.core.actions.action import RemoteAction
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.device_id import (
    RESPONSE_VARIABLES,
    ActionConcludeDeviceId,
    ActionStartCase,
    ValidateDeviceIdForm,
)
from actions.guide import ActionResetGuide
from actions.handoff import ActionCloseCase, ActionQueueCase
from actions.release import (
    ActionDeliverTemporaryPassword,
    ActionExplainRejection,
    ActionHandedBack,
)
from bot.agents.accounts import AgentAccounts, AgentView
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseView
from bot.content import REPO_ROOT
from bot.db import Database
from bot.devices.check_limits import Limits
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.guide.procedure import load_procedure
from bot.guide.wording import Channel
from bot.handoff.desk import SupportDesk
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.nlu.device_id_entity import DeviceIdEntityExtractor

S = CaseStatus
SENDER = "owner-1"
DEVICES_CSV = REPO_ROOT / "data" / "devices.csv"
PROCEDURE = load_procedure()
TOTAL = PROCEDURE.total
SENSITIVE_STEP = next(step.number for step in PROCEDURE.steps if step.sensitive_input)
NAVIGATION_HINT = PROCEDURE.message("navigation_hint", "chat")

# Registered recorders from data/devices.csv, one per family of data/content/device_id_formats.yml
# (checked by test_the_sample_recorders_are_registered_in_their_families).
N_SERIES = {"device_id": "ND4810273945KXQ", "model": "N841", "serial": "21LX0483920175"}
LEGACY = {"device_id": "GQQ574398977", "model": "LNR400"}
N831 = {"device_id": "NC3307815562RTA", "model": "N831"}
HOME_APP = {"device_id": "LHAP204819375502", "model": "D881"}
SAMPLES = {"n_series": N_SERIES, "legacy": LEGACY, "n831": N831, "home_app": HOME_APP}
UNREGISTERED_ID = "ND0000000000AAA"  # N-series shape, in no registry row
UNREGISTERED_SERIAL = "20ZZ1234567890"


@cache
def load_domain() -> Domain:
    return Domain.load(REPO_ROOT / "domain")


@cache
def load_nlg() -> TemplatedNaturalLanguageGenerator:
    return TemplatedNaturalLanguageGenerator(load_domain().responses)


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return load_domain()


@pytest.fixture(scope="module")
def domain(rasa_domain: Domain) -> DomainDict:
    loaded: DomainDict = rasa_domain.as_dict()
    return loaded


@pytest.fixture(scope="module")
def nlg() -> TemplatedNaturalLanguageGenerator:
    return load_nlg()


@pytest.fixture(scope="module")
def entity_extractor() -> DeviceIdEntityExtractor:
    return DeviceIdEntityExtractor({})


# What rasa_sdk puts in every message besides the response's variables.
MESSAGE_FIELDS = {
    "text", "buttons", "elements", "custom", "template", "response", "image", "attachment"
}

CACHED_SERVICES = (
    services.database,
    services.registry,
    services.conversation_cases,
    services.check_limiter,
)


@pytest.fixture
def store(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CaseStore]:
    """The action services pointed at the test database, with the real device registry."""
    for cached in CACHED_SERVICES:
        cached.cache_clear()
    monkeypatch.setenv("DATABASE_URL", database.url)
    DeviceRegistry(database).seed_from_csv(DEVICES_CSV)
    try:
        yield CaseStore(database)
    finally:
        if services.database.cache_info().currsize:
            services.database().dispose()
        for cached in CACHED_SERVICES:
            cached.cache_clear()


def test_the_domain_is_sent_only_to_the_actions_that_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "a-token-for-the-test")
    monkeypatch.setenv("TRACKER_STORE_URL", "sqlite://")
    endpoints = AvailableEndpoints.read_endpoints(str(REPO_ROOT / "endpoints.yml"))
    domain = load_domain()
    tracker = DialogueStateTracker.from_events(SENDER, [], domain.slots)
    sent_the_domain = {
        name
        for name in domain.user_actions
        if "domain" in RemoteAction(name, endpoints.action)._action_call_format(tracker, domain)
    }
    assert sent_the_domain == {"action_session_start", "validate_device_id_form"}


# --- building what the action server receives ----------------------------------------------


def slot_defaults(domain: DomainDict) -> dict[str, Any]:
    return {name: slot.get("initial_value") for name, slot in domain["slots"].items()}


def make_tracker(
    domain: DomainDict,
    extractor: DeviceIdEntityExtractor,
    text: str = "",
    intent: str | None = None,
    *,
    slots: dict[str, Any] | None = None,
    channel: str = "socketio",
    active_loop: dict[str, Any] | None = None,
    events: Sequence[dict[str, Any]] = (),
    sender_id: str = SENDER,
) -> Tracker:
    """The tracker after the owner typed ``text``, with entities from the real NLU component."""
    message = Message(data={"text": text})
    extractor.process([message])
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0} if intent else {},
        "entities": message.get("entities", []),
    }
    user_event = {"event": "user", "text": text, "parse_data": latest, "input_channel": channel}
    return Tracker(
        sender_id,
        {**slot_defaults(domain), **(slots or {})},
        latest,
        [*events, user_event],
        False,
        None,
        active_loop or {},
        "action_listen",
    )


async def run(
    action: Action, tracker: Tracker, domain: DomainDict
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    # The domain as the action server gets it: only actions marked send_domain are sent it.
    if not load_domain().does_custom_action_explicitly_need_domain(action.name()):
        domain = {}
    events = await action.run(dispatcher, tracker, domain)
    # Whatever the action says renders completely, as Rasa would show it.
    for message in dispatcher.messages:
        shown = say(load_nlg(), message, tracker.slots)
        assert "{" not in shown, shown
    return list(events), dispatcher.messages


def slot_sets(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


def responses(messages: Sequence[dict[str, Any]]) -> list[str | None]:
    return [message["response"] for message in messages]


def texts(messages: Sequence[dict[str, Any]]) -> list[str | None]:
    return [message["text"] for message in messages]


def text_of(message: dict[str, Any]) -> str:
    text = message["text"]
    assert isinstance(text, str), message
    return text


def say(
    nlg: TemplatedNaturalLanguageGenerator, message: dict[str, Any], slots: dict[str, Any]
) -> str:
    """What the owner reads: the message rendered the way Rasa renders an action's response
    (the domain's response filled from the slots and the variables the action sent)."""
    variables = dict(message)
    response = variables.pop("response")
    if response is None:
        return text_of(message)
    rendered = nlg.generate_from_slots(response, slots, "socketio", **variables)
    assert rendered is not None, response
    text = rendered["text"]
    assert isinstance(text, str)
    return text


def only_case(store: CaseStore, sender_id: str = SENDER) -> CaseView:
    case = store.latest_for_conversation(sender_id)
    assert case is not None
    return case


def reasons(store: CaseStore, code: str) -> list[tuple[S | None, S, str]]:
    return [(e.from_status, e.to_status, e.reason) for e in store.events(code)]


def test_the_sample_recorders_are_registered_in_their_families() -> None:
    formats = load_formats()
    with open(DEVICES_CSV, encoding="utf-8", newline="") as stream:
        rows = {row["device_id"]: row for row in csv.DictReader(stream)}
    for family, sample in SAMPLES.items():
        row = rows[sample["device_id"]]
        assert row["model"] == sample["model"]
        assert formats.family_for_model(sample["model"]).name == family
    assert rows[N_SERIES["device_id"]]["serial_number"] == N_SERIES["serial"]
    assert UNREGISTERED_ID not in rows
    assert UNREGISTERED_SERIAL not in {row["serial_number"] for row in rows.values()}


async def test_the_services_use_the_test_database(store: CaseStore, database: Database) -> None:
    assert services.database().url == database.url
    device = services.registry().find_by_device_id(N_SERIES["device_id"])
    assert device is not None
    assert device.model == N_SERIES["model"]


# --- action_start_case ----------------------------------------------------------------------


async def test_start_case_opens_a_collecting_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = make_tracker(
        domain, entity_extractor, "I forgot my recorder password", "request_password_reset"
    )

    events, messages = await run(ActionStartCase(), tracker, domain)

    case = only_case(store)
    assert case.status is S.COLLECTING
    assert case.channel == "chat"
    assert events == [
        {"event": "slot", "timestamp": None, "name": "case_id", "value": case.code},
        {"event": "slot", "timestamp": None, "name": "device_id_outcome", "value": None},
        {"event": "slot", "timestamp": None, "name": "device_id_attempts", "value": 0},
        {"event": "slot", "timestamp": None, "name": "device_id_limited", "value": False},
        {"event": "slot", "timestamp": None, "name": "guiding", "value": False},
        {"event": "slot", "timestamp": None, "name": "reset_step", "value": None},
        {"event": "slot", "timestamp": None, "name": "tips_given", "value": 0},
    ]
    assert messages == []


async def test_start_case_takes_a_device_id_from_the_same_message(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = make_tracker(
        domain,
        entity_extractor,
        "forgot the password of nd48-1027-3945-kxq",
        "request_password_reset",
        channel="phone",
    )

    events, _ = await run(ActionStartCase(), tracker, domain)

    assert slot_sets(events)["device_id"] == N_SERIES["device_id"]
    assert only_case(store).channel == "phone"


async def test_start_case_twice_reuses_the_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = make_tracker(domain, entity_extractor, "reset please", "request_password_reset")
    first, _ = await run(ActionStartCase(), tracker, domain)
    second, _ = await run(ActionStartCase(), tracker, domain)
    assert slot_sets(first)["case_id"] == slot_sets(second)["case_id"]
    assert len(store.events(slot_sets(first)["case_id"])) == 1


async def test_start_case_while_guiding_ends_the_guide(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    # The rules start gathering on a reset request or a Device ID even mid-guide.
    started, _ = await guide(domain, entity_extractor, "have_temporary_password")
    guiding = only_case(store)
    slots = {**slot_sets(started), **guiding_slots(SENSITIVE_STEP, 1)}
    tracker = make_tracker(
        domain, entity_extractor, "my NVR is ND4810273945KXQ", "provide_device_id", slots=slots
    )

    events, _ = await run(ActionStartCase(), tracker, domain)

    new = only_case(store)
    assert new.code != guiding.code
    assert new.status is S.COLLECTING
    assert store.get(guiding.code).status is S.ABANDONED
    # The dialogue no longer thinks it is guiding a case that was just abandoned (nor would the
    # masking store take the Device ID for a password typed at the new-password step).
    assert slot_sets(events) == {
        "case_id": new.code,
        "device_id_outcome": None,
        "device_id_attempts": 0,
        "device_id_limited": False,
        "guiding": False,
        "reset_step": None,
        "tips_given": 0,
        "device_id": N_SERIES["device_id"],
    }


# --- validate_device_id_form ----------------------------------------------------------------


async def validate(
    domain: DomainDict,
    extractor: DeviceIdEntityExtractor,
    text: str,
    attempts: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tracker = make_tracker(
        domain,
        extractor,
        text,
        "provide_device_id",
        slots={
            "device_id": text,
            "device_id_attempts": float(attempts),
            "requested_slot": "device_id",
        },
        active_loop={"name": "device_id_form"},
    )
    dispatcher = CollectingDispatcher()
    result = await ValidateDeviceIdForm().validate_device_id(text, dispatcher, tracker, domain)
    return result, dispatcher.messages


@pytest.mark.parametrize(
    ("typed", "sample", "grouped"),
    [
        ("nd48-1027-3945-kxq", N_SERIES, "ND48 1027 3945 KXQ"),
        ("my id is ND48 1O27 3945 KXQ thanks", N_SERIES, "ND48 1027 3945 KXQ"),
        ("GQQ574398977", LEGACY, "GQQ 574 398 977"),
    ],
)
async def test_a_supported_device_id_is_confirmed(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    typed: str,
    sample: dict[str, str],
    grouped: str,
) -> None:
    result, messages = await validate(domain, entity_extractor, typed)

    assert result == {
        "device_id": sample["device_id"],
        "device_model": sample["model"],
        "device_id_outcome": "supported",
    }
    [message] = messages
    assert message["response"] == "utter_device_id_confirmed"
    assert message["grouped"] == grouped
    assert message["model"] == sample["model"]


@pytest.mark.parametrize("sample", [N831, HOME_APP])
async def test_a_recorder_with_its_own_route_ends_the_form(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    sample: dict[str, str],
) -> None:
    result, messages = await validate(domain, entity_extractor, sample["device_id"].lower())

    assert result == {
        "device_id": sample["device_id"],
        "device_model": sample["model"],
        "device_id_outcome": "other_route",
        "requested_slot": None,
    }
    assert messages == []  # action_conclude_device_id explains the route


@pytest.mark.parametrize(
    ("typed", "response", "variables"),
    [
        (
            N_SERIES["serial"],
            "utter_device_id_serial_known",
            {"model": N_SERIES["model"]},
        ),
        (UNREGISTERED_SERIAL, "utter_device_id_serial", {}),
        ("ND4810273", "utter_device_id_too_short", {"length": "9", "expected": "12, 15 or 16"}),
        (
            "ND4810273945KXQ1234",
            "utter_device_id_too_long",
            {"length": "19", "expected": "12, 15 or 16"},
        ),
        ("it's ND48#1027#3945KXQ", "utter_device_id_bad_characters", {"bad_characters": "#"}),
        (UNREGISTERED_ID, "utter_device_id_not_found", {"grouped": "ND00 0000 0000 AAA"}),
        (
            "NDX810273945KXQ",
            "utter_device_id_wrong_pattern",
            {"grouped": "NDX8 1027 3945 KXQ", "example": "ND4810273945KXQ"},
        ),
        # Far from every pattern (a password typed on the phone, where no guard reads it):
        # refused without reading it back.
        ("Meadow7Lark9", "utter_device_id_wrong_shape", {"example": "LRX104592837"}),
    ],
)
async def test_a_refused_device_id_is_explained_and_counted(
    store: CaseStore,
    domain: DomainDict,
    nlg: TemplatedNaturalLanguageGenerator,
    entity_extractor: DeviceIdEntityExtractor,
    typed: str,
    response: str,
    variables: dict[str, str],
) -> None:
    result, messages = await validate(domain, entity_extractor, typed, attempts=0)

    assert result == {"device_id": None, "device_id_attempts": 1}
    [message] = messages
    assert message["response"] == response
    assert variables.items() <= message.items()
    # Every placeholder of the response is filled: no "{grouped}" reaches the owner.
    shown = say(nlg, message, slot_defaults(domain))
    assert "{" not in shown, shown
    template = domain["responses"][response][0]["text"]
    for name, value in variables.items():
        if "{" + name + "}" in template:
            assert value in shown
    # Nothing else travels with the message into the conversation's events.
    assert set(message) - MESSAGE_FIELDS <= set(RESPONSE_VARIABLES[response])


async def test_the_limit_on_failed_checks_ends_the_form_and_says_why(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    limit = Limits().per_conversation  # the product's default
    for _ in range(limit):
        result, _ = await validate(domain, entity_extractor, UNREGISTERED_ID)
        assert result["device_id_attempts"] == 1
    # The same conversation, a new form run (attempts back at 0): still nothing is checked.
    result, messages = await validate(domain, entity_extractor, N_SERIES["device_id"])
    assert result == {
        "device_id": None,
        "device_id_limited": True,
        "device_id_outcome": "exhausted",
        "requested_slot": None,
    }
    assert messages == []
    _, said = await conclude(
        domain, entity_extractor, {"device_id_outcome": "exhausted", "device_id_limited": True}
    )
    assert responses(said) == ["utter_device_id_limit"]


async def test_no_device_id_at_all_is_not_counted(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    result, messages = await validate(domain, entity_extractor, "I don't know", attempts=1)

    assert result == {"device_id": None}
    assert responses(messages) == ["utter_device_id_not_understood"]


async def test_the_third_refusal_ends_the_form_as_exhausted(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    assert load_formats().max_attempts == 3
    second, _ = await validate(domain, entity_extractor, "ND4810273", attempts=1)
    assert second == {"device_id": None, "device_id_attempts": 2}

    third, messages = await validate(domain, entity_extractor, UNREGISTERED_ID, attempts=2)

    assert third == {
        "device_id": None,
        "device_id_attempts": 3,
        "device_id_outcome": "exhausted",
        "requested_slot": None,
    }
    assert responses(messages) == ["utter_device_id_not_found"]


async def test_the_form_validation_action_runs_as_rasa_calls_it(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    typed = "nd48-1027-3945-kxq"
    tracker = make_tracker(
        domain,
        entity_extractor,
        typed,
        "provide_device_id",
        slots={"device_id": typed, "requested_slot": "device_id"},
        active_loop={"name": "device_id_form"},
    )
    # Rasa appends the slot it extracted after the user message, then calls the validator.
    tracker.events.append({"event": "slot", "name": "device_id", "value": typed})

    events, messages = await run(ValidateDeviceIdForm(), tracker, domain)

    assert slot_sets(events) == {
        "device_id": N_SERIES["device_id"],
        "device_model": N_SERIES["model"],
        "device_id_outcome": "supported",
    }
    assert responses(messages) == ["utter_device_id_confirmed"]


async def gather(
    domain: DomainDict, extractor: DeviceIdEntityExtractor, typed: str | None
) -> dict[str, Any]:
    """action_start_case, then the form with ``typed``: the slots the dialogue holds after."""
    start = make_tracker(domain, extractor, "I forgot my password", "request_password_reset")
    started, _ = await run(ActionStartCase(), start, domain)
    slots = slot_sets(started)
    if typed is not None:
        validated, _ = await validate(domain, extractor, typed)
        slots.update(validated)
    return slots


PAUSED = {"event": "pause", "timestamp": None}
# A Wednesday, 10:00 in Toronto (data/content/support.yml): support is open.
OPEN_HOURS = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)
# The same Wednesday, 21:30 in Toronto: closed until Thursday 08:00.
AFTER_HOURS = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def support_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "now", lambda: OPEN_HOURS)


def wait_message(messages: Sequence[dict[str, Any]], position: int) -> None:
    """The last message says the owner's place in the queue and the expected wait."""
    wait = messages[-1]
    assert wait["response"] == "utter_queue_position"
    assert (wait["position"], wait["minutes"]) == (position, position * 4)


# --- action_conclude_device_id --------------------------------------------------------------


async def conclude(
    domain: DomainDict, extractor: DeviceIdEntityExtractor, slots: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tracker = make_tracker(domain, extractor, "x", "provide_device_id", slots=slots)
    return await run(ActionConcludeDeviceId(), tracker, domain)


async def test_conclude_a_supported_recorder_queues_the_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    slots = await gather(domain, entity_extractor, "nd48 1027 3945 kxq")
    assert slots["device_id_outcome"] == "supported"

    events, messages = await conclude(domain, entity_extractor, slots)

    case = only_case(store)
    assert case.code == slots["case_id"]
    assert case.status is S.QUEUED
    assert case.device_id == N_SERIES["device_id"]
    message, _ = messages
    assert message["response"] == "utter_case_queued"
    assert (message["case_id"], message["model"]) == (case.code, N_SERIES["model"])
    wait_message(messages, 1)
    assert slot_sets(events) == {"case_id": case.code, "guiding": False}
    # The assistant stays available while the owner waits; only a live agent pauses it.
    assert PAUSED not in events


async def test_conclude_after_too_many_attempts_offers_a_person(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await conclude(
        domain, entity_extractor, {"device_id_outcome": "exhausted", "device_id": None}
    )
    assert events == []
    assert responses(messages) == ["utter_offer_human"]


async def test_conclude_without_an_outcome_offers_a_person(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await conclude(domain, entity_extractor, {"device_id_outcome": None})
    assert slot_sets(events) == {"device_id_outcome": "exhausted"}
    assert responses(messages) == ["utter_offer_human"]


@pytest.mark.parametrize(
    ("sample", "response", "route"),
    [(N831, "utter_route_n831", "n831"), (HOME_APP, "utter_route_home_app", "home_app")],
)
async def test_another_route_is_explained_and_the_case_closed(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    sample: dict[str, str],
    response: str,
    route: str,
) -> None:
    start = make_tracker(domain, entity_extractor, "forgot password", "request_password_reset")
    await run(ActionStartCase(), start, domain)
    result, _ = await validate(domain, entity_extractor, sample["device_id"])
    assert result["device_id_outcome"] == "other_route"

    events, messages = await conclude(domain, entity_extractor, result)

    assert events == []
    [message] = messages
    assert message["response"] == response
    assert message["model"] == sample["model"]
    case = only_case(store)
    assert case.status is S.ABANDONED
    assert reasons(store, case.code)[-1] == (
        S.COLLECTING,
        S.ABANDONED,
        f"the {sample['model']} has its own recovery route ({route})",
    )


# --- action_queue_case and action_close_case ------------------------------------------------


async def test_queue_with_a_confirmed_device(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    slots = await gather(domain, entity_extractor, "ND4810273945KXQ")
    tracker = make_tracker(
        domain, entity_extractor, "ND4810273945KXQ", "provide_device_id", slots=slots
    )

    events, messages = await run(ActionQueueCase(), tracker, domain)

    case = only_case(store)
    assert case.code == slots["case_id"]
    assert case.status is S.QUEUED
    assert case.device_id == N_SERIES["device_id"]
    assert reasons(store, case.code)[-2:] == [
        (
            S.COLLECTING,
            S.QUEUED,
            f"Device ID {N_SERIES['device_id']} checked; an agent must release a temporary "
            "password",
        ),
        (S.QUEUED, S.QUEUED, "the user gave no owner details"),
    ]
    message, _ = messages
    assert message["response"] == "utter_case_queued"
    assert (message["case_id"], message["model"]) == (case.code, N_SERIES["model"])
    wait_message(messages, 1)
    assert slot_sets(events) == {"case_id": case.code, "guiding": False}
    assert PAUSED not in events


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        ("affirm", "the Device ID could not be confirmed; the owner accepted an agent"),
        ("request_human", "the owner asked for a person"),
    ],
)
async def test_queue_without_a_device(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    intent: str,
    reason: str,
) -> None:
    # Someone else is already waiting: this owner is second.
    other = make_tracker(domain, entity_extractor, "agent", "request_human", sender_id="other")
    await run(ActionQueueCase(), other, domain)
    slots = await gather(domain, entity_extractor, None)
    slots.update({"device_id_outcome": "exhausted", "device_id_attempts": 3.0})
    tracker = make_tracker(domain, entity_extractor, "yes", intent, slots=slots)

    events, messages = await run(ActionQueueCase(), tracker, domain)

    case = only_case(store)
    assert case.status is S.QUEUED
    assert case.device_id is None
    assert reasons(store, case.code)[-1] == (S.COLLECTING, S.QUEUED, reason)
    assert messages[0] == {
        "text": None,
        "buttons": [],
        "elements": [],
        "custom": {},
        "template": "utter_case_queued_without_device",
        "response": "utter_case_queued_without_device",
        "image": None,
        "attachment": None,
        "case_id": case.code,
    }
    wait_message(messages, 2)
    assert PAUSED not in events


async def test_a_device_with_another_route_is_not_attached(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    slots = await gather(domain, entity_extractor, N831["device_id"])
    assert slots["device_id"] == N831["device_id"]
    tracker = make_tracker(domain, entity_extractor, "agent please", "request_human", slots=slots)

    _, messages = await run(ActionQueueCase(), tracker, domain)

    assert only_case(store).device_id is None
    assert responses(messages) == ["utter_case_queued_without_device", "utter_queue_position"]


async def test_queue_when_already_queued(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = make_tracker(domain, entity_extractor, "agent", "request_human")
    await run(ActionQueueCase(), tracker, domain)
    case = only_case(store)
    trail = store.events(case.code)

    _, messages = await run(ActionQueueCase(), tracker, domain)

    message, _ = messages
    assert message["response"] == "utter_case_already_queued"
    assert message["case_id"] == case.code
    wait_message(messages, 1)
    assert store.events(case.code) == trail
    assert only_case(store) == case


async def test_queue_while_guiding_replaces_the_guiding_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    start = make_tracker(
        domain, entity_extractor, "I have a temp password", "have_temporary_password"
    )
    started, _ = await run(ActionResetGuide(), start, domain)
    guiding = only_case(store)
    assert guiding.status is S.GUIDING
    slots = slot_sets(started)
    tracker = make_tracker(domain, entity_extractor, "it's refused", "request_human", slots=slots)

    events, messages = await run(ActionQueueCase(), tracker, domain)

    new = only_case(store)
    assert new.code != guiding.code
    assert new.status is S.QUEUED
    assert store.get(guiding.code).status is S.ABANDONED
    assert reasons(store, new.code) == [(None, S.QUEUED, "the owner asked for a person")]
    assert slot_sets(events) == {"case_id": new.code, "guiding": False}
    assert responses(messages) == ["utter_case_queued_without_device", "utter_queue_position"]


async def test_close_case_after_a_declined_person(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    slots = await gather(domain, entity_extractor, "ND4810273")
    tracker = make_tracker(domain, entity_extractor, "no thanks", "deny", slots=slots)

    events, messages = await run(ActionCloseCase(), tracker, domain)

    case = only_case(store)
    assert case.code == slots["case_id"]
    assert case.status is S.ABANDONED
    assert reasons(store, case.code)[-1] == (
        S.COLLECTING,
        S.ABANDONED,
        "the owner could not give a Device ID and declined an agent",
    )
    assert events == []
    assert responses(messages) == ["utter_case_closed"]


# --- action_reset_guide ---------------------------------------------------------------------


def header(number: int, channel: Channel = "chat") -> str:
    step = PROCEDURE.step(number)
    return PROCEDURE.message("step_header", channel, number=number, total=TOTAL, title=step.title)


def guiding_slots(step: int, tips_given: int = 0) -> dict[str, Any]:
    return {"guiding": True, "reset_step": float(step), "tips_given": float(tips_given)}


async def guide(
    domain: DomainDict,
    extractor: DeviceIdEntityExtractor,
    intent: str,
    slots: dict[str, Any] | None = None,
    text: str = "...",
    channel: str = "socketio",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tracker = make_tracker(domain, extractor, text, intent, slots=slots, channel=channel)
    return await run(ActionResetGuide(), tracker, domain)


async def test_start_shows_step_one_and_opens_a_guiding_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await guide(domain, entity_extractor, "have_temporary_password")

    case = only_case(store)
    assert case.status is S.GUIDING
    assert slot_sets(events) == {
        "guiding": True,
        "reset_step": 1,
        "tips_given": 0,
        "agent_offered": False,
        "case_id": case.code,
    }
    [message] = messages
    first = PROCEDURE.step(1)
    assert message["text"] == "\n\n".join(
        [f"Step 1 of {TOTAL}: {first.title}", first.text, NAVIGATION_HINT]
    )
    assert message["custom"]["data"] == {
        "type": "reset_step",
        "step": 1,
        "total": TOTAL,
        "finished": False,
        "picture": first.picture,
        "sensitive_input": False,
    }


async def test_start_moves_a_released_case_to_guiding(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    queue = make_tracker(domain, entity_extractor, "agent", "request_human")
    await run(ActionQueueCase(), queue, domain)
    case = only_case(store)
    for status in (S.ASSIGNED, S.RELEASED):
        store.transition(case.code, status, actor="agent:sam", reason="agent")

    events, _ = await guide(domain, entity_extractor, "have_temporary_password")

    assert slot_sets(events)["case_id"] == case.code
    assert store.get(case.code).status is S.GUIDING


async def test_done_through_every_step_completes_the_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await guide(domain, entity_extractor, "have_temporary_password")
    slots = slot_sets(events)
    case_id = slots["case_id"]
    shown = [messages[0]["custom"]["data"]["step"]]
    sensitive = []

    for _ in range(TOTAL):
        events, messages = await guide(domain, entity_extractor, "step_done", slots, "done")
        slots.update(slot_sets(events))
        [message] = messages
        if not message["custom"]["data"]["finished"]:
            number = message["custom"]["data"]["step"]
            shown.append(number)
            assert message["text"].startswith(header(number) + "\n\n")
            assert "case_id" not in slot_sets(events)  # the case was opened once, at the start
            if message["custom"]["data"]["sensitive_input"]:
                sensitive.append(number)

    assert shown == list(range(1, TOTAL + 1))
    assert sensitive == [SENSITIVE_STEP]
    assert message["text"] == PROCEDURE.message("completed", "chat")
    assert message["custom"]["data"]["finished"] is True
    assert slot_sets(events) == {
        "guiding": False,
        "reset_step": None,
        "tips_given": 0,
        "agent_offered": False,
    }
    assert store.get(case_id).status is S.COMPLETED
    assert reasons(store, case_id)[-1] == (
        S.GUIDING,
        S.COMPLETED,
        "the owner finished every reset step",
    )


@pytest.mark.parametrize("intent", ["step_done", "affirm"])
async def test_done_goes_to_the_next_step(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor, intent: str
) -> None:
    events, messages = await guide(domain, entity_extractor, intent, guiding_slots(3, 2))
    assert slot_sets(events) == {
        "guiding": True,
        "reset_step": 4,
        "tips_given": 0,
        "agent_offered": False,
    }
    assert text_of(messages[0]).startswith(header(4))
    assert store.latest_for_conversation(SENDER) is None  # guiding already: no case work


async def test_back_on_the_first_step_says_so(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await guide(domain, entity_extractor, "go_back", guiding_slots(1, 1))

    assert slot_sets(events) == {
        "guiding": True,
        "reset_step": 1,
        "tips_given": 1,
        "agent_offered": False,
    }
    [message] = messages
    assert message["text"].startswith(
        PROCEDURE.message("already_first_step", "chat") + "\n\n" + header(1)
    )


async def test_back_goes_to_the_previous_step(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await guide(domain, entity_extractor, "go_back", guiding_slots(5))
    assert slot_sets(events)["reset_step"] == 4
    assert text_of(messages[0]).startswith(header(4))


async def test_repeat_shows_the_same_step_and_keeps_the_tips_count(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await guide(domain, entity_extractor, "repeat", guiding_slots(3, 2))

    assert slot_sets(events) == {
        "guiding": True,
        "reset_step": 3,
        "tips_given": 2,
        "agent_offered": False,
    }
    step = PROCEDURE.step(3)
    assert texts(messages) == ["\n\n".join([header(3), step.text, NAVIGATION_HINT])]


async def test_stuck_gives_each_tip_then_says_there_are_no_more(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    step = PROCEDURE.step(SENSITIVE_STEP)
    slots = guiding_slots(SENSITIVE_STEP)
    given = []
    for _ in range(len(step.tips) + 1):
        events, messages = await guide(domain, entity_extractor, "step_help", slots, "stuck")
        slots.update(slot_sets(events))
        [message] = messages
        given.append(message["text"])
        assert slot_sets(events)["reset_step"] == SENSITIVE_STEP

    expected_tips = [tip.text for tip in step.tips]
    no_more = PROCEDURE.message("no_more_tips", "chat")
    assert given == [
        "\n\n".join([header(SENSITIVE_STEP), tip, NAVIGATION_HINT])
        for tip in [*expected_tips, no_more]
    ]
    assert slots["tips_given"] == len(step.tips)


@pytest.mark.parametrize(
    ("intent", "message_key"),
    [
        ("share_password", "password_warning"),
        ("missing_equipment", "missing_equipment"),
        ("temp_password_rejected", "temp_password_rejected"),
        ("ask_password_rules", "password_rules"),
        ("deny", "waiting"),
    ],
)
async def test_questions_are_answered_from_the_guide_content(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    intent: str,
    message_key: str,
) -> None:
    answer = PROCEDURE.message(message_key, "chat")

    # Before the steps: the answer alone.
    events, messages = await guide(domain, entity_extractor, intent)
    assert slot_sets(events) == {"agent_offered": message_key == "temp_password_rejected"}
    assert texts(messages) == [answer]

    # During the steps: the answer, then how to go on; the step does not move.
    events, messages = await guide(domain, entity_extractor, intent, guiding_slots(SENSITIVE_STEP))
    assert slot_sets(events) == {"agent_offered": message_key == "temp_password_rejected"}
    assert texts(messages) == [answer, NAVIGATION_HINT]
    assert store.latest_for_conversation(SENDER) is None


async def test_the_password_warning_says_the_message_was_hidden(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    _, messages = await guide(
        domain, entity_extractor, "share_password", guiding_slots(SENSITIVE_STEP), "Winter2025!"
    )
    assert "don't type your new password here" in text_of(messages[0])
    assert all("Winter2025" not in str(message) for message in messages)


@pytest.mark.parametrize(
    ("intent", "response"),
    [
        ("out_of_scope", "utter_out_of_scope"),
        ("thank", "utter_you_are_welcome"),
        ("bot_challenge", "utter_iamabot"),
    ],
)
async def test_small_talk_while_guiding_is_answered_then_the_step_repeated(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    intent: str,
    response: str,
) -> None:
    events, messages = await guide(domain, entity_extractor, intent, guiding_slots(6, 1))

    assert responses(messages) == [response, None]
    assert text_of(messages[1]).startswith(header(6))
    assert slot_sets(events) == {
        "guiding": True,
        "reset_step": 6,
        "tips_given": 1,
        "agent_offered": False,
    }


async def test_anything_else_while_guiding_repeats_the_step(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, messages = await guide(domain, entity_extractor, "nlu_fallback", guiding_slots(2))
    assert responses(messages) == [None]
    assert text_of(messages[0]).startswith(header(2))
    assert slot_sets(events)["reset_step"] == 2


@pytest.mark.parametrize(
    "intent", ["step_done", "go_back", "repeat", "step_help", "affirm", "out_of_scope", "thank"]
)
async def test_step_words_before_the_steps_have_started(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor, intent: str
) -> None:
    events, messages = await guide(domain, entity_extractor, intent)
    assert events == []
    assert responses(messages) == ["utter_not_guiding"]
    assert store.latest_for_conversation(SENDER) is None


async def test_on_the_phone_the_steps_are_worded_for_voice(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    _, messages = await guide(domain, entity_extractor, "have_temporary_password", channel="phone")

    first = PROCEDURE.step(1)
    assert texts(messages) == [
        " ".join([header(1, "voice"), first.voice, PROCEDURE.message("navigation_hint", "voice")])
    ]
    assert only_case(store).channel == "phone"


async def test_starting_again_while_guiding_goes_back_to_step_one(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    events, _ = await guide(domain, entity_extractor, "have_temporary_password")
    case_id = slot_sets(events)["case_id"]
    slots = {**guiding_slots(5, 2), "case_id": case_id}

    events, messages = await guide(domain, entity_extractor, "have_temporary_password", slots)

    assert slot_sets(events) == {
        "guiding": True,
        "reset_step": 1,
        "tips_given": 0,
        "agent_offered": False,
    }
    assert text_of(messages[0]).startswith(header(1))
    assert only_case(store).code == case_id
    assert len(store.events(case_id)) == 1


@pytest.mark.parametrize("offer", ["no_more_tips", "temp_password_rejected"])
async def test_yes_to_the_offer_of_an_agent_does_not_skip_a_step(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    offer: str,
) -> None:
    step = PROCEDURE.step(3)  # log in with the temporary password
    # The turn that offered the agent set agent_offered (see the tests of those turns).
    slots = {**guiding_slots(3, len(step.tips)), "agent_offered": True}
    offered = [
        {"event": "bot", "text": PROCEDURE.message(offer, "chat")},
        {"event": "bot", "text": NAVIGATION_HINT},
    ]
    tracker = make_tracker(
        domain, entity_extractor, "yes please", "affirm", slots=slots, events=offered
    )

    events, messages = await run(ActionResetGuide(), tracker, domain)

    assert slot_sets(events).get("reset_step", 3) == 3
    assert not any(text_of(m).startswith(header(4)) for m in messages if m["text"])
    assert slot_sets(events)["agent_offered"] is False
    assert any(m["response"] == "utter_case_queued_without_device" for m in messages)


@pytest.mark.parametrize(
    ("intent", "slots_before", "offered"),
    [
        ("temp_password_rejected", {}, True),
        ("step_help", {"tips_given": len(PROCEDURE.step(3).tips)}, True),  # no tips left
        ("step_help", {"tips_given": 0}, False),
        ("step_done", {}, False),
    ],
)
async def test_the_guide_remembers_when_it_offered_an_agent(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    intent: str,
    slots_before: dict[str, Any],
    offered: bool,
) -> None:
    slots = {**guiding_slots(3, 0), **slots_before}
    tracker = make_tracker(domain, entity_extractor, "…", intent, slots=slots)

    events, _ = await run(ActionResetGuide(), tracker, domain)

    assert slot_sets(events)["agent_offered"] is offered


# --- the owner's details, asked after a supported Device ID ------------------------------------


async def validate_owner(
    domain: DomainDict, extractor: DeviceIdEntityExtractor, slot: str, text: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tracker = make_tracker(
        domain,
        extractor,
        text,
        "out_of_scope",
        slots={"requested_slot": slot, "device_id_outcome": "supported"},
        active_loop={"name": "device_id_form"},
    )
    dispatcher = CollectingDispatcher()
    validator = getattr(ValidateDeviceIdForm(), f"validate_{slot}")
    result: dict[str, Any] = await validator(text, dispatcher, tracker, domain)
    return result, dispatcher.messages


async def test_the_form_ends_after_the_third_refusal_when_run_as_rasa_runs_it(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    """The whole validation action (not just validate_device_id): the form must end, not ask
    for the Device ID a fourth time."""
    tracker = make_tracker(
        domain,
        entity_extractor,
        "ND9999999999ZZZ",
        "provide_device_id",
        slots={
            "device_id": "ND9999999999ZZZ",
            "device_id_attempts": 2.0,
            "requested_slot": "device_id",
        },
        active_loop={"name": "device_id_form"},
    )
    tracker.events.append({"event": "slot", "name": "device_id", "value": "ND9999999999ZZZ"})
    events, _ = await run(ValidateDeviceIdForm(), tracker, domain)
    slots = slot_sets(events)
    assert slots["device_id_outcome"] == "exhausted"
    assert slots["requested_slot"] is None
    assert [e["value"] for e in events if e.get("name") == "requested_slot"][-1] is None


@pytest.mark.parametrize(
    ("slot", "typed", "value", "problem"),
    [
        ("owner_name", "it's Dana Whitfield", "Dana Whitfield", None),
        ("owner_name", "skip", "skipped", None),
        ("owner_name", "12345", None, "utter_owner_name_unclear"),
        ("owner_email", "my email is Dana@Example.com.", "dana@example.com", None),
        ("owner_email", "dana at example", None, "utter_owner_email_unclear"),
        ("owner_email", "I'd rather not", "skipped", None),
        ("owner_phone", "(905) 555-0144", "(905) 555-0144", None),
        ("owner_phone", "call me on +1 416 555 0101", "+1 416 555 0101", None),
        ("owner_phone", "55", None, "utter_owner_phone_unclear"),
    ],
)
async def test_the_owners_details_are_checked_as_typed(
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    slot: str,
    typed: str,
    value: str | None,
    problem: str | None,
) -> None:
    result, messages = await validate_owner(domain, entity_extractor, slot, typed)
    assert result == {slot: value}
    assert responses(messages) == ([problem] if problem else [])


@pytest.mark.parametrize(
    ("outcome", "asked"),
    [
        ("supported", ["device_id", "owner_name", "owner_email", "owner_phone"]),
        (None, ["device_id"]),
        ("other_route", []),
        ("exhausted", []),
    ],
)
async def test_the_owners_details_are_asked_only_for_a_supported_recorder(
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    outcome: str | None,
    asked: list[str],
) -> None:
    tracker = make_tracker(domain, entity_extractor, "x", slots={"device_id_outcome": outcome})
    required = await ValidateDeviceIdForm().required_slots(
        ["device_id", "owner_name", "owner_email", "owner_phone"],
        CollectingDispatcher(),
        tracker,
        domain,
    )
    assert required == asked


async def test_queueing_passes_the_owners_details_to_the_case(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    slots = await gather(domain, entity_extractor, "ND4810273945KXQ")
    slots.update(
        {"owner_name": "Dana Whitfield", "owner_email": "skipped", "owner_phone": "416 555 0101"}
    )
    tracker = make_tracker(domain, entity_extractor, "416 555 0101", "inform", slots=slots)

    await run(ActionConcludeDeviceId(), tracker, domain)

    case = only_case(store)
    assert (case.stated_name, case.stated_email, case.stated_phone) == (
        "Dana Whitfield",
        None,
        "416 555 0101",
    )
    assert reasons(store, case.code)[-1] == (
        S.QUEUED,
        S.QUEUED,
        "the user gave the owner's name, phone",
    )


async def test_after_hours_the_owner_hears_when_support_opens(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "now", lambda: AFTER_HOURS)
    tracker = make_tracker(domain, entity_extractor, "agent", "request_human")

    _, messages = await run(ActionQueueCase(), tracker, domain)

    case = only_case(store)
    closed = messages[-1]
    assert closed["response"] == "utter_support_closed"
    assert closed["case_id"] == case.code
    assert closed["opening"] == "Thursday at 8:00 AM (America/Toronto time)"
    assert case.status is S.QUEUED  # kept for when support opens


# --- what the agent console triggers ------------------------------------------------------------


@pytest.fixture
def desk(store: CaseStore, database: Database) -> SupportDesk:
    return SupportDesk(
        database, centre=load_support_centre(), provider=GeneratedPasswords()
    )


@pytest.fixture
def agent(database: Database) -> AgentView:
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    accounts = AgentAccounts(database, hasher=cheap)
    return accounts.create("alice", "Alice", "correct horse battery")


def external(
    domain: DomainDict,
    extractor: DeviceIdEntityExtractor,
    intent: str,
    entities: dict[str, str],
    slots: dict[str, Any] | None = None,
) -> Tracker:
    tracker = make_tracker(domain, extractor, f"/{intent}", intent, slots=slots)
    tracker.latest_message["entities"] = [
        {"entity": name, "value": value} for name, value in entities.items()
    ]
    return tracker


async def queued_case(
    domain: DomainDict, extractor: DeviceIdEntityExtractor
) -> dict[str, Any]:
    slots = await gather(domain, extractor, "ND4810273945KXQ")
    tracker = make_tracker(domain, extractor, "x", "provide_device_id", slots=slots)
    events, _ = await run(ActionConcludeDeviceId(), tracker, domain)
    return {**slots, **slot_sets(events)}


async def test_a_released_password_is_delivered_by_reference_then_step_one(
    store: CaseStore,
    desk: SupportDesk,
    agent: AgentView,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
) -> None:
    slots = await queued_case(domain, entity_extractor)
    desk.claim(slots["case_id"], agent)
    release = desk.release(slots["case_id"], agent)
    tracker = external(
        domain,
        entity_extractor,
        "EXTERNAL_password_released",
        {"release_ref": release.reference},
        slots,
    )

    events, messages = await run(ActionDeliverTemporaryPassword(), tracker, domain)

    password_message, step_message = messages
    assert password_message["response"] == "utter_temporary_password"
    assert password_message["custom"] == {
        "data": {
            "type": "temporary_password",
            "temporary_password": {"reference": release.reference},
        }
    }
    assert password_message["valid_until"] == "11:59 PM tonight (America/Toronto time)"
    assert release.password.value not in repr(messages) + repr(events)
    assert text_of(step_message).startswith(header(1))
    assert slot_sets(events)["reset_step"] == 1
    assert only_case(store).status is S.GUIDING


async def test_an_unknown_release_is_not_delivered(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = external(
        domain, entity_extractor, "EXTERNAL_password_released", {"release_ref": "nope"}
    )
    events, messages = await run(ActionDeliverTemporaryPassword(), tracker, domain)
    assert events == []
    assert responses(messages) == ["utter_temporary_password_unavailable"]


@pytest.mark.parametrize("reason", ["owner_not_verified", "photos_needed"])
async def test_a_rejection_is_explained_with_the_alternatives(
    store: CaseStore,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
    reason: str,
) -> None:
    centre = load_support_centre()
    tracker = external(
        domain, entity_extractor, "EXTERNAL_case_rejected", {"rejection_reason": reason}
    )
    _, messages = await run(ActionExplainRejection(), tracker, domain)
    assert texts(messages) == [
        centre.rejection_reasons[reason].tell_user,
        centre.alternatives_text(centre.rejection_reasons[reason]),
    ]


async def test_a_rejection_without_a_known_reason_still_says_what_next(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = external(domain, entity_extractor, "EXTERNAL_case_rejected", {})
    _, messages = await run(ActionExplainRejection(), tracker, domain)
    assert responses(messages) == ["utter_case_rejected_unknown_reason"]


async def test_handed_back_after_a_release_carries_on_with_the_current_step(
    store: CaseStore,
    desk: SupportDesk,
    agent: AgentView,
    domain: DomainDict,
    entity_extractor: DeviceIdEntityExtractor,
) -> None:
    slots = await queued_case(domain, entity_extractor)
    desk.claim(slots["case_id"], agent)
    desk.release(slots["case_id"], agent)
    slots.update(guiding_slots(4))
    tracker = external(domain, entity_extractor, "EXTERNAL_handed_back", {}, slots)

    events, messages = await run(ActionHandedBack(), tracker, domain)

    assert responses(messages)[0] == "utter_handed_back_to_steps"
    assert text_of(messages[1]).startswith(header(4))
    assert slot_sets(events)["reset_step"] == 4


async def test_handed_back_without_a_release_just_says_so(
    store: CaseStore, domain: DomainDict, entity_extractor: DeviceIdEntityExtractor
) -> None:
    tracker = external(domain, entity_extractor, "EXTERNAL_handed_back", {})
    events, messages = await run(ActionHandedBack(), tracker, domain)
    assert events == []
    assert responses(messages) == ["utter_handed_back"]
