"""bot/supervisor.py with real processes (small shell commands): a program that dies is started
again alone, after a growing delay; output keeps its name; a stop signal stops everything."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from bot.supervisor import Backoff, HealthChecks, Program, Supervisor, programs_from_procfile

QUICK = Backoff(first=0.2, longest=0.8, settled=30.0)


async def supervise(programs: list[Program], seconds: float, tmp_path: Path) -> str:
    """Run ``programs`` for ``seconds``, stop, and return everything printed."""
    output = io.StringIO()
    supervisor = Supervisor(programs, env=os.environ, cwd=tmp_path, output=output, backoff=QUICK)
    running = asyncio.create_task(supervisor.run())
    await asyncio.sleep(seconds)
    supervisor.stop()
    assert await asyncio.wait_for(running, 30) == 128 + signal.SIGTERM
    return output.getvalue()


def started(output: str, name: str) -> list[str]:
    """The supervisor's "<name> started (pid=N)" lines."""
    return [
        line
        for line in output.splitlines()
        if line.split("| ", 1)[0].split()[-1] == "system" and f"| {name} started" in line
    ]


def test_a_program_that_dies_at_start_up_is_started_again_without_spinning(
    tmp_path: Path,
) -> None:
    output = asyncio.run(supervise([Program("crasher", "sh -c 'exit 3'")], 2.5, tmp_path))

    # Delays 0.2, 0.4, 0.8, 0.8 ... s: five or six starts in 2.5 s, where a loop would make
    # hundreds.
    assert 3 <= len(started(output, "crasher")) <= 7, output
    delays = [
        line.split("starting it again in ")[1]
        for line in output.splitlines()
        if "crasher exited (rc=3)" in line
    ]
    assert delays[:4] == ["0.2 s", "0.4 s", "0.8 s", "0.8 s"], output


def test_one_program_dying_leaves_the_others_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "steady.pid"
    programs = [
        Program("steady", f"sh -c 'echo $$ >> {pid_file}; exec sleep 60'"),
        Program("crasher", "sh -c 'sleep 0.3; exit 1'"),
    ]

    output = asyncio.run(supervise(programs, 2.0, tmp_path))

    assert len(started(output, "crasher")) >= 2, output
    assert len(started(output, "steady")) == 1, output
    assert len(pid_file.read_text().split()) == 1  # started once, never again
    assert "steady stopped" in output


def test_a_killed_program_is_started_again_with_a_new_pid(tmp_path: Path) -> None:
    async def scenario() -> str:
        output = io.StringIO()
        supervisor = Supervisor(
            [Program("server", "sleep 60")],
            env=os.environ,
            cwd=tmp_path,
            output=output,
            backoff=QUICK,
        )
        running = asyncio.create_task(supervisor.run())
        await asyncio.sleep(0.5)
        first = int(started(output.getvalue(), "server")[0].rsplit("pid=", 1)[1].rstrip(")"))
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(1.0)
        supervisor.stop()
        await asyncio.wait_for(running, 30)
        return output.getvalue()

    output = asyncio.run(scenario())

    pids = [line.rsplit("pid=", 1)[1] for line in started(output, "server")]
    assert len(pids) == 2 and pids[0] != pids[1], output
    assert "server exited (rc=-9)" in output


def test_every_line_carries_its_program_name(tmp_path: Path) -> None:
    programs = [Program("greeter", "sh -c 'echo hello; echo oops >&2; exec sleep 60'")]

    output = asyncio.run(supervise(programs, 0.5, tmp_path))

    assert any(line.endswith("greeter | hello") for line in output.splitlines()), output
    assert any(line.endswith("greeter | oops") for line in output.splitlines()), output


def test_ctrl_c_stops_every_program_and_exits_130(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import asyncio, os
        from pathlib import Path
        from bot.supervisor import Program, Supervisor
        programs = [Program("child", "sh -c 'echo $$ > {pid_file}; exec sleep 60'")]
        supervisor = Supervisor(programs, env=os.environ, cwd=Path({str(tmp_path)!r}))
        raise SystemExit(asyncio.run(supervisor.run()))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the foreground group
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 130, output
    assert "SIGINT received: stopping every program" in output
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()


def test_the_procfile_names_the_three_servers() -> None:
    repo = Path(__file__).resolve().parent.parent
    programs = {
        program.name: program.command for program in programs_from_procfile(repo / "Procfile")
    }

    assert set(programs) == {"actions", "rasa", "console"}
    assert programs["actions"].endswith("-m actions.server")


def test_a_program_that_stops_answering_its_health_check_is_started_again(
    tmp_path: Path,
) -> None:
    # A server that answers /health until the file "hang" exists, then holds every request: a
    # hung process (a stuck event loop, a deadlock) that a plain "is it alive" never notices.
    hang = tmp_path / "hang"
    server = textwrap.dedent(
        f"""
        import http.server, pathlib, time
        class Health(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                while pathlib.Path({str(hang)!r}).exists():
                    time.sleep(0.1)
                self.send_response(200)
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", PORT), Health).serve_forever()
        """
    )
    port = _free_port()
    script = tmp_path / "server.py"
    script.write_text(server.replace("PORT", str(port)))

    async def scenario() -> str:
        output = io.StringIO()
        supervisor = Supervisor(
            [
                Program(
                    "server",
                    f"{sys.executable} {script}",
                    health_url=f"http://127.0.0.1:{port}/health",
                )
            ],
            env=os.environ,
            cwd=tmp_path,
            output=output,
            backoff=QUICK,
            health=HealthChecks(every=0.2, timeout=0.5, unhealthy_after=1.0),
        )
        running = asyncio.create_task(supervisor.run())
        await _until(lambda: "server answers its health check" in output.getvalue())
        hang.touch()
        await _until(lambda: len(started(output.getvalue(), "server")) == 2)
        hang.unlink()
        await asyncio.sleep(1.0)  # answering again: left alone
        supervisor.stop()
        await asyncio.wait_for(running, 30)
        return output.getvalue()

    output = asyncio.run(scenario())
    assert "server has not answered its health check for 1 s: killing it" in output, output
    assert len(started(output, "server")) == 2, output


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        await asyncio.sleep(0.05)
