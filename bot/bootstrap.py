"""Wiring each process once: its settings, one database, and the services built on them.

Three processes run the product (the Procfile): the Rasa server with its channels, the action
server, and the agent console. Each has one function here that takes the process's
:class:`~bot.settings.Settings` (read once, in its entry point) and builds what the process shares:
one :class:`~bot.db.Database` (one engine, one connection pool), the case store, the device
registry, the Device ID check limiter, the support centre, ... Nothing else builds those or
reads the environment.

The Rasa server is the exception in how its parts reach the services: Rasa builds the channels
from credentials.yml (and the tracker store from endpoints.yml) with no way to hand them
anything. They ask :func:`rasa_process`, the one accessor, which builds the process's services
on first use from :func:`bot.settings.process_settings`, then hands back the same ones. Tests
that need other settings call :func:`forget_rasa_process` between runs (tests/conftest.py does,
around every test).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.settings import Settings, process_settings, settings_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)
    from socketio import AsyncManager  # type: ignore[import-untyped]

    from bot.agents.throttle import LoginThrottle
    from bot.cases.conversation import ConversationCases
    from bot.cases.store import CaseStore
    from bot.channels.socket_rooms import ChatRooms
    from bot.cluster.conversation_lock import RedisConversationLocks
    from bot.cluster.turn_records import TurnRecords
    from bot.console.app import Console
    from bot.db import Database
    from bot.devices.check_limits import Limits, SqlFailedCheckLimiter
    from bot.devices.registry import DeviceRegistry
    from bot.handoff.delivery import Outbox
    from bot.handoff.support_centre import SupportCentre
    from bot.handoff.temporary_password import PasswordProvider
    from bot.handoff.vault import PasswordVault
    from bot.phone.calls import CallStore

logger = logging.getLogger(__name__)

# A Redis that does not answer fails the call after this long instead of holding up a turn.
REDIS_TIMEOUT = 5.0  # seconds


def device_id_limits(settings: Settings) -> Limits:
    from bot.devices.check_limits import Limits

    return Limits(
        per_conversation=settings.device_id_failures_per_conversation,
        per_client_address=settings.device_id_failures_per_address,
        overall=settings.device_id_failures_overall,
    )


def password_provider(settings: Settings) -> PasswordProvider:
    from bot.handoff.temporary_password import GeneratedPasswords, ManualPasswords

    if settings.temp_password_provider == "manual":
        return ManualPasswords()
    return GeneratedPasswords(
        length=settings.temp_password_length, alphabet=settings.temp_password_alphabet
    )


def redis_client(settings: Settings) -> redis.Redis:
    """A client (its own connection pool) for the Redis at ``REDIS_URL``."""
    import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)

    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )


def async_redis_client(settings: Settings) -> redis.asyncio.Redis:
    """An asyncio client (its own connection pool) for the Redis at ``REDIS_URL``; its
    connections belong to the event loop that first uses them."""
    import redis.asyncio  # type: ignore[import-untyped]

    return redis.asyncio.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )


def chat_rooms(settings: Settings, prefix: str | None = None) -> ChatRooms:
    """What the web chat's instances share about each conversation's sockets
    (:mod:`bot.channels.socket_rooms`): in this process's memory, or on Redis if ``REDIS_URL``
    is set."""
    from bot.channels.socket_rooms import DEFAULT_PREFIX, MemoryRooms, RedisRooms

    if not settings.redis_url:
        return MemoryRooms()
    return RedisRooms(async_redis_client(settings), prefix=prefix or DEFAULT_PREFIX)


def socketio_manager(settings: Settings, channel: str) -> AsyncManager | None:
    """python-socketio's Redis manager when ``REDIS_URL`` is set (an emit to a room reaches its
    sockets on every instance), else None (its in-process one)."""
    if not settings.redis_url:
        return None
    from socketio import AsyncRedisManager  # type: ignore[import-untyped]

    return AsyncRedisManager(
        settings.redis_url,
        channel=channel,
        redis_options={"socket_connect_timeout": REDIS_TIMEOUT},
    )


def password_vault(settings: Settings) -> PasswordVault:
    """The vault of released passwords: in this process's memory, or on Redis if ``REDIS_URL``
    is set (several Rasa instances)."""
    if not settings.redis_url:
        from bot.handoff.vault import MemoryVault

        return MemoryVault()
    from bot.handoff.redis_vault import RedisVault, new_vault_key

    key = settings.vault_key
    if not key:
        key = new_vault_key()
        logger.warning(
            "VAULT_KEY is not set: this process drew its own key for the passwords it holds on "
            "Redis. No other Rasa instance can open them, nor this one after a restart; give "
            "every instance the same VAULT_KEY."
        )
    vault = RedisVault(redis_client(settings), key)
    if settings.vault_key:  # (a drawn key was warned about above)
        vault.check_key_is_shared()
    return vault


def call_store(settings: Settings) -> CallStore:
    """The phone calls in progress and the replay guard: in this process's memory, or on Redis if
    ``REDIS_URL`` is set (any instance serves any webhook of a call), a kept password sealed
    under ``VAULT_KEY``."""
    if not settings.redis_url:
        from bot.phone.calls import MemoryCalls

        return MemoryCalls()
    from bot.handoff.redis_vault import new_vault_key
    from bot.phone.redis_calls import RedisCalls

    key = settings.vault_key
    if not key:
        key = new_vault_key()
        logger.warning(
            "VAULT_KEY is not set: a password a phone call keeps for repeating opens only on "
            "this instance; give every instance the same VAULT_KEY."
        )
    return RedisCalls(redis_client(settings), key)


def login_throttle(settings: Settings) -> LoginThrottle:
    """The console's login throttle: in this process's memory, or on Redis if ``REDIS_URL`` is
    set (several console processes)."""
    if not settings.redis_url:
        from bot.agents.throttle import MemoryThrottle

        return MemoryThrottle()
    from bot.agents.redis_throttle import RedisThrottle

    return RedisThrottle(redis_client(settings))


@dataclass(frozen=True)
class ProductServices:
    """What the Rasa server and the action server share within their process: one database and
    the stores on it."""

    settings: Settings
    database: Database
    registry: DeviceRegistry
    limiter: SqlFailedCheckLimiter
    cases: CaseStore
    conversation_cases: ConversationCases
    outbox: Outbox
    centre: SupportCentre  # support hours, from data/content (loaded once)

    def close(self) -> None:
        self.database.dispose()


def build_services(settings: Settings, database: Database | None = None) -> ProductServices:
    """The services on ``database`` (default: one on ``settings.database_url``): one
    :class:`Database` for all of them."""
    from bot.cases.conversation import ConversationCases
    from bot.cases.store import CaseStore
    from bot.db import Database
    from bot.devices.check_limits import SqlFailedCheckLimiter
    from bot.devices.registry import DeviceRegistry
    from bot.handoff.delivery import Outbox

    database = database or Database(settings.database_url)
    cases = CaseStore(database)
    return ProductServices(
        settings=settings,
        database=database,
        registry=DeviceRegistry(database),
        limiter=SqlFailedCheckLimiter(database, device_id_limits(settings)),
        cases=cases,
        conversation_cases=ConversationCases(cases),
        outbox=Outbox(database),
        centre=support_centre(),
    )


def support_centre() -> SupportCentre:
    """Support hours and where else to get help (data/content), loaded and checked."""
    from bot.handoff.support_centre import load_support_centre

    return load_support_centre()


# -- the Rasa server ------------------------------------------------------------------------------


def conversation_locks(settings: Settings) -> RedisConversationLocks | None:
    """One turn at a time per conversation across the instances sharing ``REDIS_URL``; None with
    one instance (Rasa's in-memory lock store does: bot.channels.lock_store)."""
    if not settings.redis_url:
        return None
    from bot.cluster.conversation_lock import RedisConversationLocks

    return RedisConversationLocks(redis_client(settings))


def turn_records(settings: Settings) -> TurnRecords:
    """What each message a client sent again was answered (bot.cluster.turn_records): in this
    process's memory, or on Redis if ``REDIS_URL`` is set (a copy may reach another instance)."""
    if not settings.redis_url:
        from bot.cluster.turn_records import MemoryTurnRecords

        return MemoryTurnRecords()
    from bot.cluster.turn_records import RedisTurnRecords

    # A claim names the instance holding it (its host and port), for whoever looks at Redis.
    return RedisTurnRecords(
        redis_client(settings), holder=f"{socket.gethostname()}:{settings.rasa_port}"
    )


@dataclass(frozen=True)
class RasaServices(ProductServices):
    """The Rasa server's: the product services, the vault its output channels deliver released
    passwords from, and the conversation locks shared with other instances (None: one instance)."""

    vault: PasswordVault
    conversation_locks: RedisConversationLocks | None
    turn_records: TurnRecords

    def close(self) -> None:
        self.vault.close()
        super().close()


def build_rasa_services(settings: Settings) -> RasaServices:
    return RasaServices(
        **vars(build_services(settings)),
        vault=password_vault(settings),
        conversation_locks=conversation_locks(settings),
        turn_records=turn_records(settings),
    )


_rasa: RasaServices | None = None
_rasa_lock = threading.Lock()


def rasa_process() -> RasaServices:
    """The Rasa server's services (its channels, the masking tracker store), built once.

    The single accessor of the Rasa process; see the module's docstring for why it exists.
    """
    global _rasa
    with _rasa_lock:
        if _rasa is None:
            _rasa = build_rasa_services(process_settings())
        return _rasa


def forget_rasa_process() -> None:
    """Drop the Rasa process's settings and services (tests that change the environment)."""
    global _rasa
    from bot.settings import forget_process_settings

    with _rasa_lock:
        if _rasa is not None:
            _rasa.close()
        _rasa = None
    delivery = sys.modules.get("bot.channels.password_delivery")
    if delivery is not None:  # (only loaded with Rasa)
        delivery.stop_recording()
    forget_process_settings()


# -- the action server ----------------------------------------------------------------------------

_actions: ProductServices | None = None
_actions_lock = threading.Lock()


def start_action_server(settings: Settings) -> ProductServices:
    """The action server's services, from the settings its entry point read (actions/server.py);
    the actions reach them through :func:`action_server`."""
    global _actions
    with _actions_lock:
        if _actions is None:
            _actions = build_services(settings)
            # Its models load now, not in an owner's first turn (once per process).
            from bot.dialogue.language import load_detector

            load_detector()
        return _actions


def action_server() -> ProductServices:
    """The action server's services; built from the environment when no entry point started
    them (rasa_sdk's own ``rasa run actions``, tests calling actions directly)."""
    with _actions_lock:
        started = _actions
    return started if started is not None else start_action_server(process_settings())


def forget_action_server() -> None:
    global _actions
    with _actions_lock:
        if _actions is not None:
            _actions.close()
        _actions = None


# -- the agent console ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleProcess:
    settings: Settings
    database: Database
    console: Console


def build_console_process(settings: Settings) -> ConsoleProcess:
    """The console's parts: one database for the desk, the accounts, the outbox and the
    stale-case sweeper; the login throttle."""
    from bot.agents.accounts import AgentAccounts
    from bot.console.app import Console
    from bot.db import Database
    from bot.handoff.agent_desk import AgentDesk
    from bot.handoff.delivery import Outbox
    from bot.handoff.desk import SupportDesk
    from bot.handoff.rasa_bridge import RasaBridge

    database = Database(settings.database_url)
    desk = SupportDesk(database, centre=support_centre(), provider=password_provider(settings))
    console = Console(
        accounts=AgentAccounts(database, session_lifetime=settings.console_session_lifetime),
        agent_desk=AgentDesk(desk, RasaBridge(settings.rasa_url, settings.rasa_api_token)),
        outbox=Outbox(database),
        public_url=settings.console_public_url,
        throttle=login_throttle(settings),
    )
    return ConsoleProcess(settings=settings, database=database, console=console)


def console_from(environ: Mapping[str, str]) -> ConsoleProcess:
    """The console from an environment (its entry point passes ``os.environ``); ValueError names
    a variable that cannot be used."""
    return build_console_process(settings_from(environ))
