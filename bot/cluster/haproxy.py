"""HAProxy's configuration for `make cluster`: the Rasa instances behind one address.

Round-robin with no stickiness: every instance can serve every turn (the state is on PostgreSQL
and Redis). What the file asks of HAProxy, and why:

* health checks every second on Rasa's ``/`` (an instance that stops answering is out after two
  failed checks, back after one good one);
* a request that met a dead or stopping instance (connection refused, closed without an answer)
  is sent to another instance (``retry-on`` with ``option redispatch``); the request's body is
  buffered first, so it can be sent again. A message with a key (``Idempotency-Key``, Twilio's
  ``I-Twilio-Idempotency-Token``, the web chat's message id) is processed once however often it
  is sent (:mod:`bot.cluster.turn_records`); a response that only took long is never retried;
* the client's address goes to the instance in ``X-Forwarded-For`` (the instances trust one
  proxy: ``SANIC_PROXIES_COUNT=1``), so the per-address limits see owners, not the balancer;
* the web chat (``/socket.io``): a WebSocket stays on the instance it opened on (the widget
  speaks only that); an older client on engine.io's long-polling needs each poll to reach the
  instance holding its engine.io session, so this path alone keeps a cookie naming the instance
  (``LOREX_CHAT_INSTANCE``); if that instance dies, the next poll goes to another, which does not
  know the session, and the client connects again there. WebSockets stay open for an hour without
  traffic (engine.io pings anyway).

Sizes are left to the instances, which answer each limit in words (a label photo over 10 MB, say).

The file is written to ``var/cluster/port-<RASA_PORT>/haproxy.cfg`` at each start; the README's
deployment section shows it as the worked example for a balancer on another machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backend:
    name: str
    port: int


def haproxy_config(*, listen_port: int, backends: Sequence[Backend], admin_socket: Path) -> str:
    servers = "\n".join(
        f"    server {b.name} 127.0.0.1:{b.port} check inter 1s fall 2 rise 1" for b in backends
    )
    tracked = "\n".join(
        f"    server {b.name} 127.0.0.1:{b.port} track rasa_instances/{b.name} cookie {b.name}"
        for b in backends
    )
    return f"""\
# Written by `make cluster` (bot/cluster/haproxy.py) at each start: edit that, not this.
global
    maxconn 4096
    # For the operator (and the tests): `echo "show stat" | socat stdio unix:<socket>`, or
    # `set server rasa_instances/rasa-1 state drain` before taking an instance out.
    stats socket {admin_socket} mode 600 level admin
    tune.bufsize 32768

defaults
    mode http
    timeout connect 2s
    timeout client 65s
    timeout server 65s
    timeout http-request 10s
    timeout tunnel 1h
    timeout client-fin 5s
    option http-keep-alive

frontend rasa
    bind 127.0.0.1:{listen_port}
    option forwardfor
    use_backend socketio_sessions if {{ path_beg /socket.io }}
    default_backend rasa_instances

backend rasa_instances
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response
{servers}

backend socketio_sessions
    balance roundrobin
    cookie LOREX_CHAT_INSTANCE insert indirect nocache httponly
    option redispatch 1
    retries 3
    retry-on conn-failure
{tracked}
"""
