"""Every setting the product reads from the environment, parsed and checked in one place.

This is the only module that reads ``os.environ`` (besides the entry points that hand it to
:func:`settings_from`). Each process reads its settings once, at start-up (:func:`process_settings`,
or the bootstrap of :mod:`bot.bootstrap`), and passes the values on as parameters. A value that
cannot be used raises ValueError naming the variable and what it accepts, so a wrong setting stops
a process at once with its reason instead of failing in the middle of a conversation.

The README's settings table lists them; the tests' own variables (``TEST_POSTGRES_URL``,
``SKIP_POSTGRES``) belong to the tests and are not here.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent

# Where the content files live; tests and tools may point it elsewhere (read at import: every
# content loader's paths derive from it).
DATA_DIR = Path(os.environ.get("LOREX_DATA_DIR") or REPO_ROOT / "data")

DEFAULT_DATABASE_PATH = REPO_ROOT / "var" / "lorex.db"
DEFAULT_TRACKER_STORE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'tracker.db'}"
DEFAULT_RASA_PORT = 5005
DEFAULT_ACTIONS_PORT = 5055
DEFAULT_CONSOLE_PORT = 5006
DEFAULT_CLUSTER_RASA_PORTS = (5011, 5012)  # `make cluster`'s Rasa instances, behind RASA_PORT
DEFAULT_ACTION_CALL_TIMEOUT = 10.0  # seconds: well under a chatting user's patience
# Rasa's own limit for one call (rasa.utils.endpoints.DEFAULT_REQUEST_TIMEOUT, 5 minutes); not
# imported, so that reading the settings does not load Rasa.
MAX_ACTION_CALL_TIMEOUT = 300
# Two: one turn computes while the other waits for the action server. Measured (make bench
# load, REST): 2 gave the best median and tail at 10 and 50 conversations, then 3, then 4.
DEFAULT_TURNS_AT_ONCE = 2
# A case still collecting details with no message from the owner for this long is abandoned.
DEFAULT_CASE_COLLECTING_TIMEOUT = timedelta(minutes=30)
DEFAULT_CONSOLE_SESSION = timedelta(hours=8)  # one shift
MAX_CONSOLE_SESSION_HOURS = 24 * 7
MIN_CHAT_SESSION_SECRET = 32
# engine.io's own answer timeout; a shorter ping interval shortens it too.
ENGINEIO_PING_TIMEOUT = 20
# Failed Device ID checks per sliding hour (see bot.devices.check_limits.Limits).
DEFAULT_FAILURES_PER_CONVERSATION = 10
DEFAULT_FAILURES_PER_ADDRESS = 30
DEFAULT_FAILURES_OVERALL = 100
TEMP_PASSWORD_PROVIDERS = ("generator", "manual")
DEFAULT_TEMP_PASSWORD_LENGTH = 10
READABLE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
# The fixes bot.patched_rasa makes to Rasa, each switched on or off by name in RASA_PATCHES (that
# module says what each does; bench/results/README.md what each gains). The last two are the
# turn-fault fixes, which RASA_TURN_FAULT_PATCHES=off also turns off, both at once.
RASA_PATCH_NAMES = (
    "action_answer_check",
    "action_call_events",
    "graph_in_process",
    "kept_connections",
    "parse_memo",
    "failed_action_ends_turn",
    "action_call_timeout",
)
RASA_TURN_FAULT_PATCH_NAMES = RASA_PATCH_NAMES[-2:]

MIN_ACTION_SERVER_TOKEN = 16
ACTION_SERVER_TOKEN_PROBLEM = (
    f"ACTION_SERVER_TOKEN must be set to a secret of at least {MIN_ACTION_SERVER_TOKEN} "
    "characters (the same one the Rasa server sends from endpoints.yml; `make run` draws one)"
)

PING_VARIABLE = "CHAT_PING_SECONDS"
CHAT_SECRET_VARIABLE = "CHAT_SESSION_SECRET"
BASE_URL_VARIABLE = "PUBLIC_BASE_URL"
TWILIO_TOKEN_VARIABLE = "TWILIO_AUTH_TOKEN"

REDIS_URL_SCHEMES = ("redis", "rediss", "unix")
VAULT_KEY_BYTES = 32  # AES-256


@dataclass(frozen=True)
class Settings:
    """The product's settings (README, "Settings"). Secrets and URLs that may carry a password
    stay out of ``repr``, so a settings object in a log line or a traceback leaks nothing."""

    # Where the servers listen (127.0.0.1).
    rasa_port: int = DEFAULT_RASA_PORT
    actions_port: int = DEFAULT_ACTIONS_PORT
    console_port: int = DEFAULT_CONSOLE_PORT
    cluster_rasa_ports: tuple[int, ...] = DEFAULT_CLUSTER_RASA_PORTS
    # Secrets between the processes; empty when unset (`make run` draws them: bot.serve).
    rasa_api_token: str = field(default="", repr=False)
    action_server_token: str = field(default="", repr=False)
    # Stores.
    database_url: str = field(default=f"sqlite:///{DEFAULT_DATABASE_PATH}", repr=False)
    tracker_store_url: str = field(default=DEFAULT_TRACKER_STORE_URL, repr=False)
    # Shared state (the vault, the login throttle): empty, in each process's memory (one
    # instance); a Redis URL, on that Redis (several instances).
    redis_url: str = field(default="", repr=False)
    # The vault's key on Redis; empty: each process draws its own (bot.bootstrap.password_vault).
    vault_key: bytes = field(default=b"", repr=False)
    # The Rasa server's turns.
    action_call_timeout: float = DEFAULT_ACTION_CALL_TIMEOUT
    turn_fault_patches: bool = True
    rasa_patches: frozenset[str] = frozenset(RASA_PATCH_NAMES)
    rasa_turns_at_once: int = DEFAULT_TURNS_AT_ONCE
    # Web chat.
    chat_session_secret: str = field(default="", repr=False)  # empty: the kept key file
    chat_ping: tuple[int, int] | None = None  # engine.io's (interval, timeout); None: its own
    # Phone (Twilio).
    public_base_url: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    # Device ID checks.
    device_id_failures_per_conversation: int = DEFAULT_FAILURES_PER_CONVERSATION
    device_id_failures_per_address: int = DEFAULT_FAILURES_PER_ADDRESS
    device_id_failures_overall: int = DEFAULT_FAILURES_OVERALL
    # Cases and the agent console.
    case_collecting_timeout: timedelta = DEFAULT_CASE_COLLECTING_TIMEOUT
    console_session_lifetime: timedelta = DEFAULT_CONSOLE_SESSION
    console_public_url: str = ""
    temp_password_provider: str = "generator"
    temp_password_length: int = DEFAULT_TEMP_PASSWORD_LENGTH
    temp_password_alphabet: str = READABLE_ALPHABET

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}/webhook"

    def environment(self) -> dict[str, str]:
        """The variables ``make run`` hands its processes (the Procfile and endpoints.yml read
        some of them; each process reads the rest back with :func:`settings_from`)."""
        return {
            "RASA_PORT": str(self.rasa_port),
            "ACTIONS_PORT": str(self.actions_port),
            "CONSOLE_PORT": str(self.console_port),
            "RASA_API_TOKEN": self.rasa_api_token,
            "ACTION_SERVER_TOKEN": self.action_server_token,
            "DATABASE_URL": self.database_url,
            "TRACKER_STORE_URL": self.tracker_store_url,
            "CASE_COLLECTING_TIMEOUT_MINUTES": str(
                round(self.case_collecting_timeout.total_seconds() / 60)
            ),
            "ACTION_SERVER_URL": self.action_server_url,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }


def settings_from(environ: Mapping[str, str]) -> Settings:
    """The settings in ``environ``, with the default for each one missing or empty.

    Raises ValueError naming the first variable whose value cannot be used, and what it takes.
    """
    provider, length, alphabet = _temporary_passwords(environ)
    return Settings(
        rasa_port=_port(environ, "RASA_PORT", DEFAULT_RASA_PORT),
        actions_port=_port(environ, "ACTIONS_PORT", DEFAULT_ACTIONS_PORT),
        console_port=_port(environ, "CONSOLE_PORT", DEFAULT_CONSOLE_PORT),
        rasa_api_token=environ.get("RASA_API_TOKEN", ""),
        action_server_token=_action_server_token(environ),
        database_url=database_url_from(environ),
        tracker_store_url=environ.get("TRACKER_STORE_URL", "").strip() or DEFAULT_TRACKER_STORE_URL,
        cluster_rasa_ports=_cluster_rasa_ports(environ),
        redis_url=_redis_url(environ),
        vault_key=_vault_key(environ),
        action_call_timeout=_action_call_timeout(environ),
        turn_fault_patches=_on_or_off(environ, "RASA_TURN_FAULT_PATCHES"),
        rasa_patches=_rasa_patches(environ),
        rasa_turns_at_once=_at_least_one(environ, "RASA_TURNS_AT_ONCE", DEFAULT_TURNS_AT_ONCE),
        chat_session_secret=_chat_session_secret(environ),
        chat_ping=ping_seconds(environ),
        public_base_url=environ.get(BASE_URL_VARIABLE, "").strip(),
        twilio_auth_token=environ.get(TWILIO_TOKEN_VARIABLE, ""),
        device_id_failures_per_conversation=_at_least_one(
            environ, "DEVICE_ID_FAILURES_PER_CONVERSATION", DEFAULT_FAILURES_PER_CONVERSATION
        ),
        device_id_failures_per_address=_at_least_one(
            environ, "DEVICE_ID_FAILURES_PER_ADDRESS", DEFAULT_FAILURES_PER_ADDRESS
        ),
        device_id_failures_overall=_at_least_one(
            environ, "DEVICE_ID_FAILURES_OVERALL", DEFAULT_FAILURES_OVERALL
        ),
        case_collecting_timeout=_minutes(
            environ, "CASE_COLLECTING_TIMEOUT_MINUTES", DEFAULT_CASE_COLLECTING_TIMEOUT
        ),
        console_session_lifetime=_session_lifetime(environ),
        console_public_url=_console_public_url(environ),
        temp_password_provider=provider,
        temp_password_length=length,
        temp_password_alphabet=alphabet,
    )


_process_settings: Settings | None = None
_process_settings_lock = threading.Lock()


def process_settings() -> Settings:
    """This process's settings: read from the environment on first use, then kept.

    For the Rasa server, whose channels and tracker store Rasa builds from credentials.yml and
    endpoints.yml (so nothing can pass them their settings); other processes read theirs in their
    entry point. :func:`forget_process_settings` drops them (tests that change the environment).
    """
    global _process_settings
    with _process_settings_lock:
        if _process_settings is None:
            _process_settings = settings_from(os.environ)
        return _process_settings


def forget_process_settings() -> None:
    global _process_settings
    with _process_settings_lock:
        _process_settings = None


# -- one function per kind of value ---------------------------------------------------------------


def database_url_from(environ: Mapping[str, str]) -> str:
    """``DATABASE_URL``, else the SQLite file ``var/lorex.db`` in the repository."""
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{DEFAULT_DATABASE_PATH}"
    # SQLAlchemy 1.4 no longer accepts the "postgres://" spelling many hosts still hand out.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def environment_database_url() -> str:
    """``DATABASE_URL`` read from the environment now, for command lines that need only the
    database (alembic's, through bot.db.database_url)."""
    return database_url_from(os.environ)


def ping_seconds(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """engine.io's ping interval and answer timeout from ``CHAT_PING_SECONDS``, or None for
    engine.io's own. A shorter interval notices a page that died sooner."""
    interval = _whole_number(
        environ, PING_VARIABLE, accepts="a whole number of seconds of at least 1"
    )
    return None if interval is None else (interval, min(interval, ENGINEIO_PING_TIMEOUT))


def _whole_number(
    environ: Mapping[str, str],
    name: str,
    *,
    at_most: int | None = None,
    accepts: str = "a whole number of at least 1",
) -> int | None:
    """A whole number from 1 to ``at_most`` from ``name``; None when unset. ``accepts`` says
    what the error names as accepted."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1 or (at_most is not None and int(raw) > at_most):
        raise ValueError(f"{name} must be {accepts}, not {raw!r}")
    return int(raw)


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    port = _whole_number(environ, name, at_most=65535, accepts="a port number from 1 to 65535")
    return default if port is None else port


def _cluster_rasa_ports(environ: Mapping[str, str]) -> tuple[int, ...]:
    """``CLUSTER_RASA_PORTS``: the ports of `make cluster`'s Rasa instances, comma-separated,
    one instance each (at least one)."""
    name = "CLUSTER_RASA_PORTS"
    raw = environ.get(name, "").strip()
    if not raw:
        return DEFAULT_CLUSTER_RASA_PORTS
    ports = [
        _port({name: piece}, name, 0) if piece.strip() else 0 for piece in raw.split(",")
    ]
    if 0 in ports or len(set(ports)) != len(ports):
        raise ValueError(
            f"{name} must be different port numbers separated by commas, such as 5011,5012; "
            f"not {raw!r}"
        )
    return tuple(ports)


def _at_least_one(environ: Mapping[str, str], name: str, default: int) -> int:
    number = _whole_number(environ, name)
    return default if number is None else number


def _minutes(environ: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    minutes = _whole_number(environ, name, accepts="a whole number of minutes of at least 1")
    return default if minutes is None else timedelta(minutes=minutes)


def _on_or_off(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower() or "on"
    if value not in ("on", "off"):
        raise ValueError(f"{name} must be on or off, not {value!r}")
    return value == "on"


def _rasa_patches(environ: Mapping[str, str]) -> frozenset[str]:
    """``RASA_PATCHES``: the fixes on, comma-separated, read left to right: a name turns it on,
    ``-name`` off, ``all`` and ``none`` all or none; a list that begins with ``-name`` starts
    from all (``-parse_memo``: every fix but that one). Unset or empty: all."""
    tokens = [t.strip() for t in environ.get("RASA_PATCHES", "").split(",") if t.strip()]
    on = set(RASA_PATCH_NAMES) if not tokens or tokens[0].startswith("-") else set()
    for token in tokens:
        name = token.removeprefix("-")
        if token == "all":
            on.update(RASA_PATCH_NAMES)
        elif token == "none":
            on.clear()
        elif name in RASA_PATCH_NAMES:
            (on.discard if token.startswith("-") else on.add)(name)
        else:
            raise ValueError(
                "RASA_PATCHES must list fixes to turn on (or off, as -name) from "
                f"{', '.join(RASA_PATCH_NAMES)}, or all or none, not {token!r}"
            )
    return frozenset(on)


def _action_call_timeout(environ: Mapping[str, str]) -> float:
    seconds = _above_zero(
        environ,
        "ACTION_CALL_TIMEOUT_SECONDS",
        at_most=MAX_ACTION_CALL_TIMEOUT,
        accepts=f"a number of seconds above 0 and at most {MAX_ACTION_CALL_TIMEOUT}",
    )
    return DEFAULT_ACTION_CALL_TIMEOUT if seconds is None else seconds


def _above_zero(
    environ: Mapping[str, str], name: str, *, at_most: float, accepts: str
) -> float | None:
    """A number above 0 and at most ``at_most`` from ``name``; None when unset."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        number = 0.0
    if not 0 < number <= at_most:
        raise ValueError(f"{name} must be {accepts}, not {raw!r}")
    return number


def _action_server_token(environ: Mapping[str, str]) -> str:
    """Empty when unset (``make run`` draws one; the action server refuses to start without)."""
    token = environ.get("ACTION_SERVER_TOKEN", "")
    if token and len(token) < MIN_ACTION_SERVER_TOKEN:
        raise ValueError(ACTION_SERVER_TOKEN_PROBLEM)
    return token


def _url_parts(raw: str) -> SplitResult:
    """``raw`` split into its parts; empty parts for a URL whose port is not a number."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return urlsplit("")
    return parts


def _redis_url(environ: Mapping[str, str]) -> str:
    """``REDIS_URL``, empty when unset (shared state stays in each process's memory)."""
    raw = environ.get("REDIS_URL", "").strip()
    if not raw:
        return ""
    parts = _url_parts(raw)
    if parts.scheme not in REDIS_URL_SCHEMES or not (parts.hostname or parts.path):
        # Not echoed: the URL may carry Redis's password.
        raise ValueError(
            "REDIS_URL must be a Redis address starting with redis://, rediss:// or unix://, "
            "such as redis://127.0.0.1:6379/0"
        )
    return raw


def _vault_key(environ: Mapping[str, str]) -> bytes:
    """``VAULT_KEY``: the key the vault seals passwords with on Redis; empty when unset."""
    raw = environ.get("VAULT_KEY", "").strip()
    if not raw:
        return b""
    try:
        key = base64.urlsafe_b64decode(raw.encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != VAULT_KEY_BYTES:  # (the value, a secret, is not echoed)
        raise ValueError(
            f"VAULT_KEY must be {VAULT_KEY_BYTES} random bytes in URL-safe base64, for example "
            "the output of: python -c 'import base64, os; "
            "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
        )
    return key


def _chat_session_secret(environ: Mapping[str, str]) -> str:
    secret = environ.get(CHAT_SECRET_VARIABLE, "").strip()
    if secret and len(secret) < MIN_CHAT_SESSION_SECRET:
        raise ValueError(
            f"{CHAT_SECRET_VARIABLE} must be at least {MIN_CHAT_SESSION_SECRET} characters, for "
            "example the output of: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return secret


def _session_lifetime(environ: Mapping[str, str]) -> timedelta:
    hours = _above_zero(
        environ,
        "CONSOLE_SESSION_HOURS",
        at_most=MAX_CONSOLE_SESSION_HOURS,
        accepts=f"a number of hours up to {MAX_CONSOLE_SESSION_HOURS}",
    )
    return DEFAULT_CONSOLE_SESSION if hours is None else timedelta(hours=hours)


def _console_public_url(environ: Mapping[str, str]) -> str:
    """``CONSOLE_PUBLIC_URL``: the address agents open the console at (a proxy in front of
    it), without a path; empty when unset (the console is only opened on this machine)."""
    raw = environ.get("CONSOLE_PUBLIC_URL", "").strip()
    if not raw:
        return ""
    parts = _url_parts(raw)
    if parts.username or parts.password:  # never echo a password into the log
        raise ValueError("CONSOLE_PUBLIC_URL must not carry a user name or password")
    if not (
        parts.scheme in ("http", "https")
        and parts.hostname
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment)
    ):
        raise ValueError(
            "CONSOLE_PUBLIC_URL must be the console's address starting with https:// (or "
            f"http://), such as https://console.example.com, not {raw!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _temporary_passwords(environ: Mapping[str, str]) -> tuple[str, int, str]:
    """The provider, and the length and alphabet of generated passwords."""
    kind = environ.get("TEMP_PASSWORD_PROVIDER", "").strip() or "generator"
    if kind not in TEMP_PASSWORD_PROVIDERS:
        raise ValueError(f"TEMP_PASSWORD_PROVIDER must be 'generator' or 'manual', not {kind!r}")
    if kind == "manual":  # the agent pastes the vendor's code: length and alphabet unused
        return kind, DEFAULT_TEMP_PASSWORD_LENGTH, READABLE_ALPHABET
    raw_length = environ.get("TEMP_PASSWORD_LENGTH", "").strip()
    if raw_length and not raw_length.isdigit():
        raise ValueError(f"TEMP_PASSWORD_LENGTH must be a whole number, not {raw_length!r}")
    length = int(raw_length) if raw_length else DEFAULT_TEMP_PASSWORD_LENGTH
    alphabet = environ.get("TEMP_PASSWORD_ALPHABET", "").strip() or READABLE_ALPHABET
    # The generator's own checks (entropy, characters), run now so a bad pair stops start-up.
    from bot.handoff.temporary_password import GeneratedPasswords

    try:
        GeneratedPasswords(length=length, alphabet=alphabet)
    except ValueError as exc:
        raise ValueError(f"TEMP_PASSWORD_LENGTH / TEMP_PASSWORD_ALPHABET: {exc}") from exc
    return kind, length, alphabet
