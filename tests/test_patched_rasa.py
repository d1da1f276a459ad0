"""bot/patched_rasa.py: the Rasa server's fixes keep Rasa's behaviour (their speed is measured by
``make bench``, not here)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import aiohttp
import jsonschema
import pytest
import rasa
import rasa.core.actions.action
import rasa.core.run
import rasa.engine.runner.dask
from aiohttp import web
from jsonschema import ValidationError
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.engine.exceptions import GraphRunError
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AgentUttered,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Event,
    FollowupAction,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    StoryExported,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker
from sanic import Sanic

from actions.server import MAX_BODY_BYTES
from bot import patched_rasa
from bot.channels.chat_input import client_intents, intent_parse_data
from bot.content import REPO_ROOT
from bot.patched_rasa import patches
from bot.settings import RASA_PATCH_NAMES, forget_process_settings, settings_from
from bot.turn_failures import TurnFailed, channel_turn

MODEL = REPO_ROOT / "models" / "lorex.tar.gz"

VALID_ANSWER: dict[str, Any] = {
    "events": [{"event": "slot", "name": "device_id", "value": "ND4810273945KXQ"}],
    "responses": [{"text": "Thanks, that is a registered N841."}],
}


@contextlib.contextmanager
def rasa_patched() -> Iterator[None]:
    """Rasa with ``patched_rasa.apply()``, as the server runs it; as it was again afterwards."""
    # A class's own attribute is put back; one it inherited is taken off it again.
    originals = [(owner, name, owner.__dict__.get(name)) for owner, name, _ in patches()]
    patched_rasa.apply()
    try:
        yield
    finally:
        for owner, name, original in originals:
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


@pytest.fixture
def patched() -> Iterator[None]:
    with rasa_patched():
        yield


def validate(answer: dict[str, Any]) -> bool:
    return RemoteAction("action_reset_guide", None)._validate_action_result(answer)


@pytest.mark.usefixtures("patched")
def test_a_valid_action_server_answer_passes() -> None:
    assert validate(VALID_ANSWER)
    assert validate({"events": [], "responses": []})


@pytest.mark.usefixtures("patched")
@pytest.mark.parametrize(
    "answer",
    [
        {"events": [{"event": "slot", "value": 1}]},  # a slot event without its name
        {"events": [{"event": "no_such_event"}]},
        {"events": "not a list"},
        {"events": [{"event": "user", "text": 42}]},  # only that kind's alternative says no
        {"events": [{"event": "bot", "timestamp": "yesterday"}]},  # the common part says no
        {"events": [{"text": "no kind"}]},
        {"events": [["not", "an", "object"]]},
        {"events": None},
        {"responses": [["not", "an", "object"]]},
        ["not", "an", "object"],
    ],
)
def test_an_invalid_answer_fails_as_rasa_fails_it(answer: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as patched_error:
        validate(answer)
    assert "Failed to validate Action server response from API" in patched_error.value.message
    assert "/custom-actions" in patched_error.value.message

    # Rasa's own check (jsonschema.validate) rejects the same answers with the same error.
    with pytest.raises(ValidationError) as rasa_error:
        jsonschema.validate(answer, RemoteAction.action_response_format_spec())
    assert patched_error.value.message.startswith(rasa_error.value.message)


def every_kind_of_event() -> list[dict[str, Any]]:
    """One event of each kind an action may return, as Rasa serialises it."""
    parse_data = {"intent": {"name": "greet", "confidence": 0.9}, "entities": []}
    when = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    events = [
        UserUttered("hi", parse_data["intent"], [], parse_data),
        BotUttered("Hello", {"buttons": [{"title": "Done", "payload": "/step_done"}]}),
        SlotSet("reset_step", 2.0),
        ActionExecuted("action_reset_guide"),
        SessionStarted(),
        ActiveLoop("device_id_form"),
        ActiveLoop(None),
        LoopInterrupted(True),
        ActionExecutionRejected("device_id_form"),
        ConversationPaused(),
        ConversationResumed(),
        FollowupAction("action_listen"),
        Restarted(),
        AllSlotsReset(),
        ActionReverted(),
        UserUtteranceReverted(),
        ReminderScheduled("EXTERNAL_reminder", when, name="reminder"),
        ReminderCancelled(name="reminder"),
        EntitiesAdded([{"entity": "device_id", "value": "ND4810273945KXQ"}]),
        DefinePrevUserUtteredFeaturization(False),
        StoryExported(),
        AgentUttered("An agent wrote this"),
    ]
    return [event.as_dict() for event in events]


def test_every_kind_of_event_passes_as_it_passes_rasas_check() -> None:
    answer = {"events": every_kind_of_event(), "responses": [{"text": "Step 2 of 10"}]}
    jsonschema.validate(answer, RemoteAction.action_response_format_spec())  # Rasa's check

    assert patched_rasa._event_kind_validators() is not None  # the quick check is in use
    assert patched_rasa._event_kind_validators().accept(answer)  # type: ignore[union-attr]
    assert validate(answer)


def test_the_module_runs_rasas_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.patched_rasa", "--version"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Rasa Version" in result.stdout and "3.6.21" in result.stdout


def test_the_procfile_starts_the_rasa_server_through_it() -> None:
    lines = (REPO_ROOT / "Procfile").read_text().splitlines()
    rasa = next(line for line in lines if line.startswith("rasa:"))
    assert " -m bot.patched_rasa run " in rasa


@pytest.fixture(scope="module")
def agent() -> Agent:
    if not MODEL.is_file():
        pytest.fail("models/lorex.tar.gz is missing: run `make train` (make test does)")
    return Agent.load(str(MODEL))


@contextlib.contextmanager
def counted_runs(processor: MessageProcessor) -> Iterator[CountedRuns]:
    """Counts the runs of the model's real graph runner while the block runs."""
    runs = CountedRuns(processor.graph_runner)
    processor.graph_runner.run = runs  # type: ignore[method-assign]
    try:
        yield runs
    finally:
        del processor.graph_runner.run  # the class's run again, patched or not


class CountedRuns:
    def __init__(self, runner: Any) -> None:
        self.calls = 0
        self._runner = runner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        # The class's run as it is now (the block may patch it or put Rasa's back).
        return type(self._runner).run(self._runner, *args, **kwargs)


async def test_the_pipeline_runs_once_per_wording_of_a_navigation_message(agent: Agent) -> None:
    unpatched = {text: await agent.parse_message(text) for text in ("done", "go back")}
    assert unpatched["done"]["intent"]["name"] == "step_done"
    processor = agent.processor
    assert processor is not None
    with counted_runs(processor) as runs, rasa_patched():
        answers = [await agent.parse_message(text) for text in ["done", "go back"] * 3]
        assert runs.calls == 2
        assert answers == [unpatched["done"], unpatched["go back"]] * 3

        # Anything the conversation store would hide goes through the pipeline every time.
        for text in ["my password is Tiger2024!", "sunshine", "ND48 1027 3945 KXQ"] * 2:
            await agent.parse_message(text)
        assert runs.calls == 2 + 6


@pytest.mark.parametrize(
    "text",
    ["/step_done", " /go_back ", '/provide_device_id{"device_id": "ND4810273945KXQ"}'],
)
async def test_a_button_s_intent_message_gets_what_rasa_s_pipeline_answers(
    agent: Agent, text: str
) -> None:
    """The channels pass this as UserMessage.parse_data for buttons and keys (no pipeline run)."""
    processor = agent.processor
    assert processor is not None
    expected = await processor.parse_message(UserMessage(text))
    assert intent_parse_data(text, client_intents()) == expected


@pytest.mark.parametrize(
    "text",
    ["done", "/share_password", "/EXTERNAL_case_rejected", "/restart", "/no_such_intent", "/a{"],
)
def test_any_other_text_is_left_to_rasa_s_pipeline(text: str) -> None:
    assert intent_parse_data(text, client_intents()) is None


def test_the_model_decides_the_dialogue_with_the_conversation_policy(agent: Agent) -> None:
    processor = agent.processor
    assert processor is not None
    nodes = processor.graph_runner._instantiated_nodes  # type: ignore[attr-defined]
    policies = {type(n._component).__name__ for n in nodes.values()}
    assert "ConversationPolicy" in policies
    assert "RulePolicy" not in policies


def test_the_graph_runs_as_dask_runs_it(agent: Agent) -> None:
    """The NLU pipeline and the policies give the same answers run in process as through dask."""
    processor = agent.processor
    assert processor is not None
    texts = ["hi", "I forgot my password", "ND48 1027 3945 KXQ", "done", "my password is X9k2m"]
    conversations = [
        [ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"})],
        [
            ActionExecuted("action_listen"),
            UserUttered("I forgot my password", {"name": "request_password_reset"}),
        ],
        [
            SlotSet("guiding", True),
            ActionExecuted("action_listen"),
            UserUttered("done", {"name": "step_done"}),
        ],
    ]
    trackers = [
        DialogueStateTracker.from_events(f"owner-{n}", events, agent.domain.slots)  # type: ignore[union-attr]
        for n, events in enumerate(conversations)
    ]

    def answers() -> tuple[list[Any], list[Any]]:
        parses = [processor._parse_message_with_graph(UserMessage(t), trackers[0]) for t in texts]
        predictions = [processor._predict_next_with_tracker(tracker) for tracker in trackers]
        return parses, [(p.policy_name, p.probabilities, p.events) for p in predictions]

    through_dask = answers()
    with rasa_patched():
        in_process = answers()

    assert in_process == through_dask
    assert [p["intent"]["name"] for p in in_process[0]][:2] == ["greet", "request_password_reset"]
    # An input that names a node is refused, as Rasa refuses it.
    nlu = [processor.model_metadata.nlu_target]
    with rasa_patched(), pytest.raises(GraphRunError, match="clashes with a node name"):
        processor.graph_runner.run(inputs={"__message__": "nlu_message_converter"}, targets=nlu)


def test_the_action_server_gets_the_state_and_the_events_from_the_latest_message(
    agent: Agent,
) -> None:
    domain = agent.domain
    assert domain is not None
    earlier = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet"}),
        BotUttered("Hi!"),
        ActionExecuted("action_listen"),
    ]
    turn = [
        UserUttered("done", {"name": "step_done"}, input_channel="socketio"),
        SlotSet("reset_step", 3.0),
        ActionExecuted("action_reset_guide"),
    ]
    tracker = DialogueStateTracker.from_events("owner-1", earlier + turn, domain.slots)
    action = RemoteAction("action_reset_guide", EndpointConfig("http://127.0.0.1:5055/webhook"))
    rasas = action._action_call_format(tracker, domain)

    with rasa_patched():
        sent = action._action_call_format(tracker, domain)
        without_a_message = action._action_call_format(
            DialogueStateTracker.from_events("owner-2", earlier[:3], domain.slots), domain
        )

    assert sent["tracker"]["events"] == [event.as_dict() for event in turn]
    assert {**sent["tracker"], "events": None} == {**rasas["tracker"], "events": None}
    assert {**sent, "tracker": None} == {**rasas, "tracker": None}
    assert len(without_a_message["tracker"]["events"]) == 3  # nothing to start from: all
    # What our actions read through rasa_sdk is all there.
    sdk_tracker = Tracker.from_dict(sent["tracker"])
    assert sdk_tracker.get_latest_input_channel() == "socketio"
    assert sdk_tracker.get_slot("reset_step") == 3.0
    assert sdk_tracker.latest_message["intent"]["name"] == "step_done"


async def test_a_long_session_s_action_call_stays_under_the_action_server_s_body_limit(
    agent: Agent,
) -> None:
    """Why action_call_events stays although the bench's short conversations gain little from it:
    Rasa sends the whole session with every call, which grows with every turn (and so does the
    CPU both servers spend on it), until the action server refuses it (over 1 MB)."""
    domain = agent.domain
    assert domain is not None
    parse_data = await agent.parse_message("can you repeat that")
    step = "Connect a monitor to the recorder with an HDMI or VGA cable, and plug a USB mouse in. "
    card = {"type": "reset_step", "step": 1, "total": 10, "title": "Get ready", "body": step}

    def guided_turn(n: int) -> list[Event]:
        # What a step of a guided reset writes: the kinds and sizes of a real one's events.
        return [
            UserUttered(parse_data["text"], parse_data["intent"], [], parse_data),
            DefinePrevUserUtteredFeaturization(False),
            ActionExecuted("action_converse", policy="ConversationPolicy", confidence=1.0),
            SlotSet("reset_step", float(n)),
            BotUttered(f"Step 1 of 10: Get ready\n\n{step}", {"custom": {"data": card}}),
            BotUttered("Reply done when ready, or back, repeat, or stuck."),
            ActionExecuted("action_listen"),
        ]

    def call_bytes(turns: int) -> int:
        events = [ActionExecuted("action_session_start"), SessionStarted()]
        events += [event for n in range(turns) for event in guided_turn(n)]
        tracker = DialogueStateTracker.from_events("owner-1", events, domain.slots)
        call = action._action_call_format(tracker, domain)
        return len(json.dumps(call).encode())

    action = RemoteAction("action_converse", EndpointConfig("http://127.0.0.1:5055/webhook"))
    turns = 400  # a session ends only after an hour of silence
    rasas = {n: call_bytes(n) for n in (10, turns)}
    with rasa_patched():
        ours = {n: call_bytes(n) for n in (10, turns)}
    per_turn = (rasas[turns] - rasas[10]) / (turns - 10)
    print(f"an action call after 10 and {turns} turns: Rasa's {rasas}, ours {ours} bytes")
    assert abs(ours[turns] - ours[10]) < 100  # the slots' values differ, not the events sent
    assert ours[turns] < MAX_BODY_BYTES / 20
    # Rasa's reaches the limit within a session (these turns are lighter than the bench's real
    # ones, 3.7 kB each: there the limit is reached after about 280 turns).
    assert per_turn > 2000
    assert rasas[10] + per_turn * 600 > MAX_BODY_BYTES


class EndpointServer:
    """A real HTTP server on loopback that answers each request with what it saw of it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/webhook", self._answer)
        self._runner = web.AppRunner(app)

    async def _answer(self, request: web.Request) -> web.Response:
        seen = {
            "client_port": request.transport.get_extra_info("peername")[1],
            "authorization": request.headers.get("Authorization"),
            "body": await request.json(),
        }
        self.requests.append(seen)
        return web.json_response(seen)

    async def __aenter__(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/webhook"

    async def __aexit__(self, *_: object) -> None:
        await self._runner.cleanup()


async def call_three_times(url: str) -> list[dict[str, Any]]:
    endpoint = EndpointConfig(url, basic_auth={"username": "rasa", "password": "s3cret"})
    return [await endpoint.request(json={"call": n}) for n in range(3)]


async def test_calls_to_the_action_server_reuse_one_connection() -> None:
    async with EndpointServer() as url:
        rasas = await call_three_times(url)
        with rasa_patched():
            ours = await call_three_times(url)
            loop = asyncio.get_running_loop()
            connector = patched_rasa._connectors[loop]
            app = Sanic.get_app("lorex-test", force_create=True)
            await rasa.core.run.close_resources(app, loop)  # as the server stops
            assert connector.closed and loop not in patched_rasa._connectors

    assert len({seen["client_port"] for seen in rasas}) == 3  # Rasa: a connection per call
    assert len({seen["client_port"] for seen in ours}) == 1
    # The same requests and answers otherwise.
    strip = [{**seen, "client_port": None} for seen in rasas]
    assert [{**seen, "client_port": None} for seen in ours] == strip
    assert [seen["body"] for seen in ours] == [{"call": n} for n in range(3)]
    assert ours[0]["authorization"] == aiohttp.BasicAuth("rasa", "s3cret").encode()


@contextlib.asynccontextmanager
async def never_answering_server() -> AsyncIterator[str]:
    """A real socket on loopback that takes connections and requests in and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def run_session_start(url: str) -> list[Event]:
    domain = Domain.load(REPO_ROOT / "domain")
    tracker = DialogueStateTracker.from_events("owner-1", [], domain.slots)
    action = RemoteAction("action_session_start", EndpointConfig(url))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return await action.run(CollectingOutputChannel(), nlg, tracker, domain)


async def test_an_action_call_gives_up_after_its_timeout_and_inside_a_turn_ends_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rasa's RemoteAction.run passes the module's DEFAULT_REQUEST_TIMEOUT to every call.
    assert "DEFAULT_REQUEST_TIMEOUT" in RemoteAction.run.__code__.co_names
    monkeypatch.setenv("ACTION_CALL_TIMEOUT_SECONDS", "0.5")
    async with never_answering_server() as url:
        with rasa_patched():
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):  # outside a turn: what Rasa raised
                await run_session_start(url)
            assert time.monotonic() - started < 5
            with channel_turn(), pytest.raises(TurnFailed) as failed:
                await run_session_start(url)
    assert failed.value.part == "action server, action_session_start"
    assert failed.value.reason == "no answer in time"


async def test_a_form_s_rejection_is_still_rasa_s_inside_a_turn() -> None:
    async def reject(_request: web.Request) -> web.Response:
        body = {"action_name": "action_session_start", "error": "not now"}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_post("/webhook", reject)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        with rasa_patched(), channel_turn(), pytest.raises(ActionExecutionRejection):
            await run_session_start(f"http://127.0.0.1:{runner.addresses[0][1]}/webhook")
    finally:
        await runner.cleanup()


def test_the_turn_fault_patches_have_a_setting_a_switch_and_a_version_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fault_patches = {(RemoteAction, "run"), (rasa.core.actions.action, "DEFAULT_REQUEST_TIMEOUT")}
    assert fault_patches <= {(owner, name) for owner, name, _ in patches()}
    assert patched_rasa.action_call_timeout() == patched_rasa.DEFAULT_ACTION_CALL_TIMEOUT
    for bad in ("0", "-3", "ten", "301"):
        monkeypatch.setenv("ACTION_CALL_TIMEOUT_SECONDS", bad)
        forget_process_settings()  # read once per process: this test plays several
        with pytest.raises(ValueError, match="ACTION_CALL_TIMEOUT_SECONDS"):
            patches()
    monkeypatch.delenv("ACTION_CALL_TIMEOUT_SECONDS")
    monkeypatch.setenv("RASA_TURN_FAULT_PATCHES", "off")
    forget_process_settings()
    assert not fault_patches & {(owner, name) for owner, name, _ in patches()}
    monkeypatch.setenv("RASA_TURN_FAULT_PATCHES", "on")
    forget_process_settings()
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(RuntimeError, match=r"checked against Rasa 3\.6\.21, not 3\.7\.0"):
        patches()


# -- each fix's own switch -------------------------------------------------------------------------


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read again from the environment the test sets, and forgotten afterwards."""
    forget_process_settings()
    yield
    forget_process_settings()


def test_every_fix_has_a_name_in_the_settings() -> None:
    assert tuple(patched_rasa.fixes()) == RASA_PATCH_NAMES
    assert set(RASA_PATCH_NAMES) > patched_rasa.TURN_FAULT_FIXES


@pytest.mark.parametrize(
    ("value", "on"),
    [
        ("", set(RASA_PATCH_NAMES)),
        ("all", set(RASA_PATCH_NAMES)),
        ("none", set()),
        ("parse_memo, kept_connections", {"parse_memo", "kept_connections"}),
        ("-kept_connections", set(RASA_PATCH_NAMES) - {"kept_connections"}),
        (
            "all,-graph_in_process,-parse_memo",
            set(RASA_PATCH_NAMES) - {"graph_in_process", "parse_memo"},
        ),
        ("none,parse_memo", {"parse_memo"}),
    ],
)
def test_rasa_patches_lists_the_fixes_on(value: str, on: set[str]) -> None:
    assert settings_from({"RASA_PATCHES": value}).rasa_patches == on


@pytest.mark.parametrize(
    "value",
    ["parse-memo", "all,-rule_matching", "everything", "-event_classes"],
)
def test_an_unknown_fix_is_refused_with_the_names(value: str) -> None:
    with pytest.raises(ValueError, match=r"RASA_PATCHES must list .*action_answer_check"):
        settings_from({"RASA_PATCHES": value})


async def fix_seen(name: str, agent: Agent, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the fix ``name`` is at work, seen from what it changes (Rasa as it is now)."""
    if name == "action_answer_check":  # Rasa's check is jsonschema.validate, ours is not
        checks = CountedCalls(monkeypatch, jsonschema, "validate")
        validate(VALID_ANSWER)
        return checks.calls == 0
    if name == "action_call_events":  # Rasa sends every event, ours from the latest message
        tracker, domain = conversation_with_two_messages(agent)
        call = RemoteAction("action_reset_guide", None)._action_call_format(tracker, domain)
        return len(call["tracker"]["events"]) < len(tracker.events)
    if name == "graph_in_process":  # Rasa's runs the graph through dask
        dask_runs = CountedCalls(monkeypatch, rasa.engine.runner.dask.dask, "get")
        await agent.parse_message("I forgot my password")
        return dask_runs.calls == 0
    if name == "kept_connections":  # ours shares a connector; Rasa's session owns its own
        async with EndpointConfig("http://127.0.0.1:9/webhook").session() as session:
            return not session.connector_owner
    if name == "parse_memo":  # ours runs the pipeline once for the same navigation message
        processor = agent.processor
        assert processor is not None
        patched_rasa._parse_memos.clear()
        with counted_runs(processor) as runs:
            for _ in range(2):
                await agent.parse_message("go back")
        return runs.calls == 1
    if name == "failed_action_ends_turn":  # ours ends the turn; Rasa's error is its own
        with channel_turn():
            try:
                await run_session_start("http://127.0.0.1:9/webhook")  # nothing listens
            except TurnFailed:
                return True
            except Exception:
                return False
        raise AssertionError("an action call to a closed port succeeded")
    if name == "action_call_timeout":
        timeout = rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT
        return bool(timeout == patched_rasa.DEFAULT_ACTION_CALL_TIMEOUT)
    raise AssertionError(f"no way to see the fix {name}")


class CountedCalls:
    """Counts the calls of a module's function (and lets each run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.calls = 0
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def conversation_with_two_messages(agent: Agent) -> tuple[DialogueStateTracker, Domain]:
    domain = agent.domain
    assert domain is not None
    events = [
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet"}),
        ActionExecuted("action_listen"),
        UserUttered("done", {"name": "step_done"}),
    ]
    return DialogueStateTracker.from_events("owner-1", events, domain.slots), domain


@pytest.mark.usefixtures("fresh_settings")
@pytest.mark.parametrize("off", [None, *RASA_PATCH_NAMES])
async def test_each_switch_turns_off_its_fix_alone(
    off: str | None, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_PATCHES", f"-{off}" if off else "all")
    with rasa_patched():
        seen = {name: await fix_seen(name, agent, monkeypatch) for name in RASA_PATCH_NAMES}
    assert seen == {name: name != off for name in RASA_PATCH_NAMES}


@pytest.mark.usefixtures("fresh_settings")
async def test_with_every_fix_off_rasa_runs_unpatched_on_any_version(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_PATCHES", "none")
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    assert patches() == []
    with rasa_patched():
        seen = {name: await fix_seen(name, agent, monkeypatch) for name in RASA_PATCH_NAMES}
    assert not any(seen.values())
    monkeypatch.setenv("RASA_PATCHES", "parse_memo")
    forget_process_settings()
    with pytest.raises(RuntimeError, match=r"not 3\.7\.0: .* or set RASA_PATCHES=none"):
        patches()


@pytest.mark.usefixtures("fresh_settings")
def test_rasa_turn_fault_patches_off_turns_off_the_two_turn_fault_fixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RASA_TURN_FAULT_PATCHES", "off")
    assert patched_rasa.switched_on() == set(RASA_PATCH_NAMES) - patched_rasa.TURN_FAULT_FIXES
