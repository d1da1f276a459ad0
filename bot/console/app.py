"""The agent console's web app (Sanic): login, the live queue, the case view and its actions.

Every page is rendered on the server (Jinja2, autoescaped); a small script keeps the parts that
change up to date from a server-sent events stream (``/events``), which re-reads the database
every second, so it works whatever process changed a case. Every click goes through
:class:`bot.handoff.agent_desk.AgentDesk` and comes back as a notice in words.

Nothing here ever sees a temporary password except the release form of the manual provider,
which passes the pasted code straight on; request bodies are never logged or echoed back.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sanic import Sanic
from sanic.exceptions import NotFound, SanicException
from sanic.log import error_logger
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse, html, redirect
from sanic.response import json as json_response

from bot.agents.accounts import (
    AccountError,
    AgentAccounts,
    AgentView,
    ExpiredSession,
    LoginSession,
    csrf_matches,
    normalise_username,
)
from bot.agents.throttle import (
    ADDRESS_FREE_ATTEMPTS,
    AttemptCounter,
    LoginThrottle,
    MemoryThrottle,
)
from bot.cases.errors import CaseError, CaseNotFound
from bot.cases.views import CaseView
from bot.console.render import (
    STATIC_DIR,
    CaseActions,
    Renderer,
    Transcript,
    fingerprint,
    release_notice,
)
from bot.console.security import (
    LOGIN_CSRF_COOKIE,
    NOTICE_COOKIE,
    SESSION_COOKIE,
    Cookies,
    KnownBrowsers,
    Notice,
    NoticeSigner,
    new_token,
    security_headers,
)
from bot.handoff.agent_desk import AgentDesk, Outcome
from bot.handoff.delivery import Outbox
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import AssistantUnreachable
from bot.handoff.support_centre import SupportCentre

PUBLIC_PATHS = frozenset({"/login", "/health"})
SESSION_EXPIRED = "Your session expired; please log in again."
WRONG_LOGIN = "Wrong username or password."
FORM_CHECK_FAILED = (
    "This form could not be checked (it is out of date, or did not come from the console), "
    "so nothing was done. Go back, reload the page and try again."
)
KEEP_ALIVE_TICKS = 15


@dataclass(frozen=True)
class Console:
    """What the console works with; :func:`bot.console.__main__.main` builds it from the
    environment, tests build it from their own database."""

    accounts: AgentAccounts
    agent_desk: AgentDesk
    outbox: Outbox  # whether released passwords reached their users
    throttle: LoginThrottle = field(default_factory=MemoryThrottle)
    # Where agents open the console; https:// makes every cookie Secure and adds HSTS.
    public_url: str = ""
    poll_seconds: float = 1.0  # how often the live stream re-reads the database
    transcript_every: int = 2  # ... and every how many polls it re-reads the transcript

    @property
    def desk(self) -> SupportDesk:
        return self.agent_desk.desk

    @property
    def centre(self) -> SupportCentre:
        return self.agent_desk.desk.centre

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")


def create_app(
    console: Console, *, name: str = "lorex_console", configure_logging: bool = True
) -> Sanic:
    app = Sanic(name, configure_logging=configure_logging)
    app.config.REQUEST_MAX_SIZE = 1_000_000
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 2.0
    routes = _Routes(console)
    app.register_middleware(routes.authenticate, "request")
    headers = security_headers(https=console.https)

    async def add_security_headers(_request: Request, response: BaseHTTPResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    app.register_middleware(add_security_headers, "response")
    app.add_route(routes.health, "/health", methods=["GET"])
    app.add_route(routes.login_form, "/login", methods=["GET"])
    app.add_route(routes.log_in, "/login", methods=["POST"])
    app.add_route(routes.log_out, "/logout", methods=["POST"])
    app.add_route(routes.queue, "/", methods=["GET"])
    app.add_route(routes.events, "/events", methods=["GET"])
    app.add_route(routes.case, "/cases/<code>", methods=["GET"])
    for action, handler in routes.case_actions().items():
        app.add_route(handler, f"/cases/<code>/{action}", methods=["POST"], name=action)
    app.static("/static", str(STATIC_DIR), name="static")
    app.error_handler.add(NotFound, routes.page_not_found)
    app.error_handler.add(Exception, routes.server_error)

    async def close_bridge(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        await console.agent_desk.bridge.close()

    app.register_listener(close_bridge, "after_server_stop")
    return app


def _sentence(message: str) -> str:
    """An error message as a sentence: capital first letter, full stop at the end."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message[-1] in ".!?)" else message + "."


def _seconds(wait: float) -> str:
    count = max(1, math.ceil(wait))
    return f"{count} second{'s' if count != 1 else ''}"


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _case_url(code: str) -> str:
    return f"/cases/{quote(code)}"


class _Routes:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.renderer = Renderer(console.centre, console.desk.provider.needs_agent_input)
        self.cookies = Cookies(secure=console.https)
        self.notices = NoticeSigner(self.cookies)
        self.known_browsers = KnownBrowsers(self.cookies)

    # -- plumbing ------------------------------------------------------------------------------

    async def authenticate(self, request: Request) -> HTTPResponse | None:
        """Every page but the login page needs a live session; every POST its CSRF token."""
        request.ctx.login = None
        if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
            return None
        token = request.cookies.get(SESSION_COOKIE, "")
        found = await asyncio.to_thread(self.console.accounts.session, token)
        if isinstance(found, LoginSession):
            request.ctx.login = LoginSession(found.agent, found.csrf_token, found.expires_at, token)
            if request.method == "POST" and not csrf_matches(
                found.csrf_token, request.form.get("csrf_token")
            ):
                return self._message_page(request, "Security check failed", FORM_CHECK_FAILED, 403)
            return None
        if request.path == "/events":
            return json_response({"error": "not logged in"}, status=401)
        target = "/login"
        if request.method == "GET" and request.path != "/":
            target += "?next=" + quote(request.path)
        response = redirect(target, status=303)
        if isinstance(found, ExpiredSession):
            self.notices.attach(response, Notice(problem=SESSION_EXPIRED))
        if token:
            self.cookies.clear(response, SESSION_COOKIE)
        return response

    def _login(self, request: Request) -> LoginSession:
        login: LoginSession = request.ctx.login
        return login

    def _render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        notice: Notice | None = None,
        **context: Any,
    ) -> HTTPResponse:
        """A whole page, with the notice left by the previous action (if any) shown once."""
        login: LoginSession | None = getattr(request.ctx, "login", None)
        pending = self.notices.read(request)
        shown = notice or pending
        context.setdefault("fragments", {})
        body = self.renderer.page(
            template,
            agent=login.agent if login else None,
            csrf_token=login.csrf_token if login else "",
            notice=shown,
            fingerprints={name: fingerprint(h) for name, h in context["fragments"].items()},
            **context,
        )
        response = html(body, status=status, headers={"Cache-Control": "no-store"})
        if pending is not None:
            self.cookies.clear(response, NOTICE_COOKIE)
        return response

    def _message_page(
        self, request: Request, title: str, message: str, status: int
    ) -> HTTPResponse:
        return self._render(request, "message.html", status=status, title=title, message=message)

    def _redirect(self, target: str, notice: Notice | None = None) -> HTTPResponse:
        response = redirect(target, status=303)
        if notice is not None:
            self.notices.attach(response, notice)
        return response

    # -- errors ---------------------------------------------------------------------------------

    def page_not_found(self, request: Request, _exc: Exception) -> HTTPResponse:
        return self._message_page(
            request, "Not found", f"There is no page at {request.path}.", 404
        )

    def server_error(self, request: Request, exc: Exception) -> HTTPResponse:
        if isinstance(exc, SanicException) and exc.status_code < 500:
            return self._message_page(request, "Request refused", _sentence(str(exc)),
                                      exc.status_code)
        error_logger.exception("console: %s %s failed", request.method, request.path)
        return self._message_page(
            request,
            "Something went wrong",
            "The console failed to handle this request; nothing more was done. "
            "The error is in the console's log. Try again, or reload the page.",
            500,
        )

    def _case_not_found(self, request: Request, exc: CaseNotFound) -> HTTPResponse:
        return self._message_page(request, "No such case", _sentence(str(exc)), 404)

    # -- login ----------------------------------------------------------------------------------

    async def health(self, _request: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    async def login_form(self, request: Request) -> HTTPResponse:
        found = await asyncio.to_thread(
            self.console.accounts.session, request.cookies.get(SESSION_COOKIE, "")
        )
        if isinstance(found, LoginSession):
            return redirect(_safe_next(request.args.get("next")), status=303)
        return self._login_page(request, username="", notice=None, status=200)

    def _login_page(
        self, request: Request, *, username: str, notice: Notice | None, status: int
    ) -> HTTPResponse:
        csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
        response = self._render(
            request,
            "login.html",
            status=status,
            notice=notice,
            login_csrf=csrf,
            username=username,
            next=_safe_next(request.args.get("next") or request.form.get("next")),
        )
        self.cookies.set(response, LOGIN_CSRF_COOKIE, csrf)
        return response

    async def log_in(self, request: Request) -> HTTPResponse:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not csrf_matches(expected, request.form.get("csrf_token")):
            return self._login_page(
                request,
                username="",
                notice=Notice(problem="The login form had expired; please log in again."),
                status=403,
            )
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        counters = self._login_counters(request, username)
        # Counted before the password is checked, in the same step as the check of the count:
        # attempts that arrive together cannot all pass before the first failure is known.
        wait = await asyncio.to_thread(self.console.throttle.admit, *counters)  # (maybe Redis)
        if wait > 0:
            message = f"Too many failed attempts. Try again in {_seconds(wait)}."
            return self._login_page(
                request, username=username, notice=Notice(problem=message), status=429
            )
        agent = await asyncio.to_thread(self.console.accounts.authenticate, username, password)
        if agent is None:
            return self._login_page(
                request, username=username, notice=Notice(problem=WRONG_LOGIN), status=401
            )
        await asyncio.to_thread(self.console.throttle.succeeded, *counters)
        session = await asyncio.to_thread(self.console.accounts.log_in, agent)
        response = self._redirect(_safe_next(request.form.get("next")))
        self.cookies.set_session(response, session.token, session.expires_at)
        self.known_browsers.remember(response, request, agent.username)
        self.cookies.clear(response, LOGIN_CSRF_COOKIE)
        return response

    def _login_counters(self, request: Request, username: str) -> tuple[AttemptCounter, ...]:
        """What a login attempt counts against: the account and the client's address, or, from
        a browser this agent has logged in with before, that browser alone. So a flood against
        an account, or from an address shared with the attacker, keeps no agent out of the
        console on their usual browser."""
        try:
            account = normalise_username(username)
        except AccountError:
            account = "?"  # no such account; one counter for all, so nothing grows unbounded
        known = self.known_browsers.read(request)
        if known is not None and known.username == account:
            return (AttemptCounter(f"browser:{known.id}"),)
        # remote_addr is the client's address given by a trusted proxy (Sanic's PROXIES_COUNT /
        # REAL_IP_HEADER settings), ip the connection's.
        address = request.remote_addr or request.ip
        return (
            AttemptCounter(f"user:{account}"),
            AttemptCounter(f"ip:{address}", ADDRESS_FREE_ATTEMPTS, cleared_by_success=False),
        )

    async def log_out(self, request: Request) -> HTTPResponse:
        await asyncio.to_thread(self.console.accounts.log_out, self._login(request).token)
        response = self._redirect("/login", Notice(done="You are logged out."))
        self.cookies.clear(response, SESSION_COOKIE)
        return response

    # -- pages ----------------------------------------------------------------------------------

    async def queue(self, request: Request) -> HTTPResponse:
        login = self._login(request)
        fragments = await self._queue_fragments(login)
        return self._render(request, "queue.html", fragments=fragments, live="/events")

    async def case(self, request: Request, code: str) -> HTTPResponse:
        return await self._case_page(request, code)

    async def _case_page(
        self,
        request: Request,
        code: str,
        *,
        notice: Notice | None = None,
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> HTTPResponse:
        login = self._login(request)
        try:
            fragments, case = await self._case_fragments(login, code, with_transcript=True)
        except CaseNotFound as exc:
            return self._case_not_found(request, exc)
        if request.method == "GET" and case.code != code:
            return redirect(_case_url(case.code), status=301)
        return self._render(
            request,
            "case.html",
            status=status,
            notice=notice,
            fragments=fragments,
            case=case,
            actions=CaseActions.for_case(case, login.agent),
            form=form or {},
            reasons=self.console.centre.rejection_reasons,
            time_zone=self.console.centre.time_zone.key,
            live=f"/events?case={quote(case.code)}",
        )

    async def _queue_fragments(self, login: LoginSession) -> dict[str, str]:
        desk = self.console.desk
        queue = await asyncio.to_thread(desk.queue)
        mine = await asyncio.to_thread(desk.assigned_to, login.agent)
        return self.renderer.queue_fragments(login.agent, login.csrf_token, queue, mine)

    async def _case_fragments(
        self, login: LoginSession, code: str, *, with_transcript: bool
    ) -> tuple[dict[str, str], CaseView]:
        desk = self.console.desk
        case_file = await asyncio.to_thread(desk.case_file, code)
        queue = await asyncio.to_thread(desk.queue)
        transcript = await self._transcript(case_file.case) if with_transcript else None
        deliveries = await asyncio.to_thread(
            self.console.outbox.deliveries, [r.reference for r in case_file.releases]
        )
        fragments = self.renderer.case_fragments(
            login.agent, login.csrf_token, case_file, len(queue), transcript, deliveries
        )
        return fragments, case_file.case

    async def _transcript(self, case: CaseView) -> Transcript:
        try:
            lines = await self.console.agent_desk.bridge.transcript(case.conversation_id)
        except AssistantUnreachable as exc:
            return Transcript([], unavailable=_sentence(str(exc)))
        return Transcript(lines)

    # -- live updates ---------------------------------------------------------------------------

    async def events(self, request: Request) -> None:
        """Server-sent events: ``fragment`` ({name, html}) whenever a part of the page changed,
        ``session`` when the login ended, ``gone`` when the case no longer exists."""
        login = self._login(request)
        code = request.args.get("case")
        seen: dict[str, str] = {}
        for pair in (request.args.get("seen") or "").split(","):
            name, _, mark = pair.partition(":")
            if name and mark:
                seen[name] = mark
        response = await request.respond(
            content_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        await response.send("retry: 2000\n\n")
        tick = 0
        while True:
            found = await asyncio.to_thread(self.console.accounts.session, login.token)
            if not isinstance(found, LoginSession):
                await response.send("event: session\ndata: ended\n\n")
                break
            try:
                if code:
                    with_transcript = tick % self.console.transcript_every == 0
                    fragments, _ = await self._case_fragments(
                        login, code, with_transcript=with_transcript
                    )
                else:
                    fragments = await self._queue_fragments(login)
            except CaseNotFound:
                await response.send("event: gone\ndata: case\n\n")
                break
            for name, body in fragments.items():
                mark = fingerprint(body)
                if seen.get(name) != mark:
                    seen[name] = mark
                    data = json.dumps({"name": name, "html": body})
                    await response.send(f"event: fragment\ndata: {data}\n\n")
            if tick % KEEP_ALIVE_TICKS == 0:
                await response.send(": still here\n\n")
            tick += 1
            await asyncio.sleep(self.console.poll_seconds)
        await response.eof()

    # -- actions on a case ----------------------------------------------------------------------

    def case_actions(self) -> dict[str, Callable[..., Coroutine[Any, Any, HTTPResponse]]]:
        return {
            "claim": self.claim,
            "release": self.release,
            "reject": self.reject,
            "message": self.message,
            "take-over": self.take_over,
            "hand-back": self.hand_back,
            "put-back": self.put_back,
        }

    async def claim(self, request: Request, code: str) -> HTTPResponse:
        agent = self._login(request).agent
        try:
            outcome = await self.console.agent_desk.claim(code, agent)
        except CaseNotFound as exc:
            return self._case_not_found(request, exc)
        except CaseError as exc:
            return self._redirect("/", Notice(problem=_sentence(str(exc))))
        return self._redirect(_case_url(outcome.case.code), Notice(outcome.done, outcome.problem))

    async def release(self, request: Request, code: str) -> HTTPResponse:
        raw_seen = request.form.get("releases_seen") or ""
        if not raw_seen.isdigit():
            return await self._case_page(
                request,
                code,
                notice=Notice(problem="The release form was incomplete; nothing was released. "
                              "Reload the case and try again."),
                status=400,
            )
        agent_input = request.form.get("agent_input") if self.renderer.needs_agent_input else None

        async def run(agent: AgentView) -> Outcome:
            outcome = await self.console.agent_desk.release(
                code, agent, agent_input=agent_input, releases_seen=int(raw_seen)
            )
            if outcome.problem:
                return outcome
            # The assistant has answered by now: the release reached the user or waits.
            releases = (await asyncio.to_thread(self.console.desk.case_file, code)).releases
            latest = releases[-1].reference
            delivery = (await asyncio.to_thread(self.console.outbox.deliveries, [latest])).get(
                latest
            )
            return Outcome(outcome.case, release_notice(delivery, len(releases) > 1))

        # The pasted code (manual provider) is never put back into the form.
        return await self._act(request, code, run)

    async def reject(self, request: Request, code: str) -> HTTPResponse:
        reason = request.form.get("reason") or ""
        note = request.form.get("note") or ""
        form = {"reason": reason, "note": note}
        if not reason:
            return await self._case_page(
                request, code, notice=Notice(problem="Choose a reason for rejecting the case."),
                form=form, status=400,
            )

        async def run(agent: AgentView) -> Outcome:
            return await self.console.agent_desk.reject(code, agent, reason, note)

        return await self._act(request, code, run, form=form)

    async def message(self, request: Request, code: str) -> HTTPResponse:
        text = request.form.get("text") or ""

        async def run(agent: AgentView) -> Outcome:
            return await self.console.agent_desk.send_message(code, agent, text)

        return await self._act(request, code, run, form={"text": text}, keep_on_problem=True)

    async def take_over(self, request: Request, code: str) -> HTTPResponse:
        agent_desk = self.console.agent_desk

        async def run(agent: AgentView) -> Outcome:
            outcome = await agent_desk.take_over(code, agent)
            if outcome.problem:
                return outcome
            try:
                await agent_desk.bridge.announce_taken_over(
                    outcome.case.conversation_id, outcome.case.code
                )
            except AssistantUnreachable as exc:
                return Outcome(
                    outcome.case, outcome.done, f"The user's chat was not told ({exc})."
                )
            return outcome

        return await self._act(request, code, run)

    async def hand_back(self, request: Request, code: str) -> HTTPResponse:
        return await self._act(request, code, lambda a: self.console.agent_desk.hand_back(code, a))

    async def put_back(self, request: Request, code: str) -> HTTPResponse:
        return await self._act(
            request, code, lambda a: self.console.agent_desk.put_back(code, a), then="/"
        )

    async def _act(
        self,
        request: Request,
        code: str,
        run: Callable[[AgentView], Awaitable[Outcome]],
        *,
        form: dict[str, str] | None = None,
        keep_on_problem: bool = False,
        then: str | None = None,
    ) -> HTTPResponse:
        """Run one action; success goes back to the case (or ``then``) with a notice, a refusal
        shows the case again with the reason and the agent's input kept."""
        try:
            outcome = await run(self._login(request).agent)
        except CaseNotFound as exc:
            return self._case_not_found(request, exc)
        except CaseError as exc:
            return await self._case_page(
                request, code, notice=Notice(problem=_sentence(str(exc))), form=form, status=409
            )
        except ValueError as exc:
            return await self._case_page(
                request, code, notice=Notice(problem=_sentence(str(exc))), form=form, status=400
            )
        if outcome.problem and keep_on_problem:
            problem = f"{outcome.done} {_sentence(outcome.problem)}"
            return await self._case_page(
                request, code, notice=Notice(problem=problem), form=form, status=502
            )
        notice = Notice(outcome.done, _sentence(outcome.problem) if outcome.problem else None)
        return self._redirect(then or _case_url(outcome.case.code), notice)
