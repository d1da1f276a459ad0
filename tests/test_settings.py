"""bot/settings.py: every setting read in one place, with its default, and a wrong value named;
bot/bootstrap.py: one database per process, shared by its channels."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from bot import bootstrap
from bot.db import Database
from bot.settings import (
    DEFAULT_DATABASE_PATH,
    DEFAULT_TRACKER_STORE_URL,
    MAX_ACTION_CALL_TIMEOUT,
    READABLE_ALPHABET,
    Settings,
    settings_from,
)

SECRET = "s" * 40


def test_every_setting_has_its_documented_default() -> None:
    settings = settings_from({})
    assert settings == Settings()
    assert (settings.rasa_port, settings.actions_port, settings.console_port) == (5005, 5055, 5006)
    assert settings.database_url == f"sqlite:///{DEFAULT_DATABASE_PATH}"
    assert settings.tracker_store_url == DEFAULT_TRACKER_STORE_URL
    assert (settings.rasa_api_token, settings.action_server_token) == ("", "")
    assert settings.action_call_timeout == 10.0
    assert settings.turn_fault_patches is True
    assert settings.rasa_turns_at_once == 2
    assert settings.chat_session_secret == ""  # the kept key file
    assert settings.chat_ping is None  # engine.io's own
    assert (settings.public_base_url, settings.twilio_auth_token) == ("", "")
    assert (
        settings.device_id_failures_per_conversation,
        settings.device_id_failures_per_address,
        settings.device_id_failures_overall,
    ) == (10, 30, 100)
    assert settings.case_collecting_timeout == timedelta(minutes=30)
    assert settings.console_session_lifetime == timedelta(hours=8)
    assert settings.console_public_url == ""
    assert (settings.temp_password_provider, settings.temp_password_length) == ("generator", 10)
    assert settings.temp_password_alphabet == READABLE_ALPHABET == "ACDEFGHJKMNPQRTUVWXY34679"


def test_each_setting_is_read_from_its_variable() -> None:
    settings = settings_from(
        {
            "DATABASE_URL": "postgres://lorex@db.internal/lorex",
            "TRACKER_STORE_URL": "sqlite:///elsewhere.db",
            "RASA_PORT": "6005",
            "ACTIONS_PORT": "6055",
            "CONSOLE_PORT": "6006",
            "RASA_API_TOKEN": "api-token",
            "ACTION_SERVER_TOKEN": "a-token-of-16-chars",
            "ACTION_CALL_TIMEOUT_SECONDS": "2.5",
            "RASA_TURN_FAULT_PATCHES": "OFF",
            "RASA_TURNS_AT_ONCE": "3",
            "CHAT_SESSION_SECRET": SECRET,
            "CHAT_PING_SECONDS": "60",
            "PUBLIC_BASE_URL": " https://bot.example.com ",
            "TWILIO_AUTH_TOKEN": "twilio",
            "DEVICE_ID_FAILURES_PER_CONVERSATION": "4",
            "DEVICE_ID_FAILURES_PER_ADDRESS": "5",
            "DEVICE_ID_FAILURES_OVERALL": "6",
            "CASE_COLLECTING_TIMEOUT_MINUTES": "45",
            "CONSOLE_SESSION_HOURS": "1.5",
            "CONSOLE_PUBLIC_URL": "https://console.example.com/",
            "TEMP_PASSWORD_LENGTH": "14",
            "TEMP_PASSWORD_ALPHABET": "ABCDEFGHJK",
        }
    )
    assert settings == Settings(
        database_url="postgresql://lorex@db.internal/lorex",  # SQLAlchemy's spelling
        tracker_store_url="sqlite:///elsewhere.db",
        rasa_port=6005,
        actions_port=6055,
        console_port=6006,
        rasa_api_token="api-token",
        action_server_token="a-token-of-16-chars",
        action_call_timeout=2.5,
        turn_fault_patches=False,
        rasa_turns_at_once=3,
        chat_session_secret=SECRET,
        chat_ping=(60, 20),  # answers are due within 20 s at most
        public_base_url="https://bot.example.com",
        twilio_auth_token="twilio",
        device_id_failures_per_conversation=4,
        device_id_failures_per_address=5,
        device_id_failures_overall=6,
        case_collecting_timeout=timedelta(minutes=45),
        console_session_lifetime=timedelta(hours=1.5),
        console_public_url="https://console.example.com",
        temp_password_length=14,
        temp_password_alphabet="ABCDEFGHJK",
    )
    assert settings.rasa_url == "http://127.0.0.1:6005"
    assert settings.action_server_url == "http://127.0.0.1:6055/webhook"


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("RASA_PORT", "55055x", "a port number from 1 to 65535"),
        ("ACTIONS_PORT", "70000", "a port number from 1 to 65535"),
        ("CONSOLE_PORT", "0", "a port number from 1 to 65535"),
        ("ACTION_SERVER_TOKEN", "short", "a secret of at least 16 characters"),
        ("ACTION_CALL_TIMEOUT_SECONDS", "301", "above 0 and at most 300"),
        ("ACTION_CALL_TIMEOUT_SECONDS", "ten", "above 0 and at most 300"),
        ("RASA_TURN_FAULT_PATCHES", "maybe", "on or off"),
        ("RASA_TURNS_AT_ONCE", "1.5", "a whole number of at least 1"),
        ("RASA_TURNS_AT_ONCE", "0", "a whole number of at least 1"),
        ("CHAT_SESSION_SECRET", "short", "at least 32 characters"),
        ("CHAT_PING_SECONDS", "0", "a whole number of seconds of at least 1"),
        ("DEVICE_ID_FAILURES_PER_CONVERSATION", "-1", "a whole number of at least 1"),
        ("DEVICE_ID_FAILURES_PER_ADDRESS", "two", "a whole number of at least 1"),
        ("DEVICE_ID_FAILURES_OVERALL", "0", "a whole number of at least 1"),
        ("CASE_COLLECTING_TIMEOUT_MINUTES", "soon", "a whole number of minutes of at least 1"),
        ("CONSOLE_SESSION_HOURS", "200", "a number of hours up to 168"),
        ("CONSOLE_PUBLIC_URL", "ftp://console.example.com", "starting with https://"),
        ("TEMP_PASSWORD_PROVIDER", "vendor", "'generator' or 'manual'"),
        ("TEMP_PASSWORD_LENGTH", "ten", "a whole number"),
        ("TEMP_PASSWORD_LENGTH", "4", ""),  # too little entropy: the generator says why
        ("REDIS_URL", "http://cache.internal:6379", "starting with redis://"),
        ("REDIS_URL", "redis://cache.internal:port", "starting with redis://"),
        ("VAULT_KEY", "c2hvcnQ=", "32 random bytes in URL-safe base64"),
        ("VAULT_KEY", "not base64!", "32 random bytes in URL-safe base64"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable_and_what_it_takes(
    variable: str, value: str, accepted: str
) -> None:
    with pytest.raises(ValueError, match=variable) as refused:
        settings_from({variable: value})
    assert accepted in str(refused.value)


def test_secrets_stay_out_of_repr() -> None:
    settings = settings_from(
        {
            "RASA_API_TOKEN": "api-token-value",
            "ACTION_SERVER_TOKEN": "action-token-value",
            "CHAT_SESSION_SECRET": SECRET,
            "TWILIO_AUTH_TOKEN": "twilio-token-value",
            "DATABASE_URL": "postgresql://lorex:hunter2@db/lorex",
            "TRACKER_STORE_URL": "postgresql://rasa:hunter3@db/rasa",
        }
    )
    shown = repr(settings)
    for secret in ("api-token-value", "action-token-value", SECRET, "twilio-token-value",
                   "hunter2", "hunter3"):
        assert secret not in shown


VAULT_KEY = bytes(range(32))


def test_shared_state_is_on_redis_only_when_redis_url_is_set() -> None:
    settings = settings_from(
        {
            "REDIS_URL": " redis://:hunter4@cache.internal:6379/2 ",
            "VAULT_KEY": base64.urlsafe_b64encode(VAULT_KEY).decode(),
        }
    )
    assert settings.redis_url == "redis://:hunter4@cache.internal:6379/2"
    assert settings.vault_key == VAULT_KEY
    assert "hunter4" not in repr(settings) and repr(VAULT_KEY) not in repr(settings)
    assert settings_from({"REDIS_URL": "unix:///run/redis.sock"}).redis_url


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/0"], ids=["memory", "redis"])
def test_the_vault_and_the_login_throttle_follow_redis_url(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    redis_url: str,
) -> None:
    from bot.agents.redis_throttle import RedisThrottle
    from bot.agents.throttle import MemoryThrottle
    from bot.handoff.redis_vault import RedisVault
    from bot.handoff.vault import MemoryVault

    environ = {"REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'lorex.db'}"}
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("VAULT_KEY", raising=False)
    vault = bootstrap.rasa_process().vault  # (clients connect on first use: no Redis needed)
    console = bootstrap.console_from(environ).console
    if redis_url:
        assert isinstance(vault, RedisVault) and isinstance(console.throttle, RedisThrottle)
        assert "VAULT_KEY is not set" in caplog.text  # a key drawn for this process, and said
    else:
        assert isinstance(vault, MemoryVault) and isinstance(console.throttle, MemoryThrottle)
        assert "VAULT_KEY" not in caplog.text


def test_the_action_call_ceiling_is_rasa_s() -> None:
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    assert MAX_ACTION_CALL_TIMEOUT == DEFAULT_REQUEST_TIMEOUT


def test_the_rasa_process_builds_its_services_once_on_one_database(
    monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("RASA_TURNS_AT_ONCE", "3")
    services = bootstrap.rasa_process()
    assert bootstrap.rasa_process() is services
    assert services.settings.rasa_turns_at_once == 3
    assert services.database.url == database.url
    monkeypatch.setenv("RASA_TURNS_AT_ONCE", "4")  # read once per process: no effect now
    assert bootstrap.rasa_process().settings.rasa_turns_at_once == 3


def test_the_channels_share_the_process_s_database(
    monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    from bot.channels.password_delivery import process_outbox
    from bot.channels.phone import PhoneChannel
    from bot.channels.widget import WidgetChannel

    monkeypatch.setenv("DATABASE_URL", database.url)

    async def nobody(_message: object) -> None:
        return None

    services = bootstrap.rasa_process()
    engine = services.database.engine
    phone = PhoneChannel()
    phone.blueprint(nobody)
    flow = phone._flow(nobody)  # what the channel answers calls with
    assert flow.store is services.cases
    assert flow.limiter is services.limiter
    assert flow.centre is services.centre
    WidgetChannel().blueprint(nobody)
    assert process_outbox() is services.outbox
    shared = {id(services.registry._database.engine), id(services.cases.database.engine),
              id(process_outbox()._database.engine)}
    assert shared == {id(engine)}
