"""Which `Host` a request to the Forge Web UI may name, and the middleware that enforces it.

The UI has no login: what keeps it private is the address it is bound to. A DNS-rebinding page
gets around that (evil.example resolves to 127.0.0.1 a moment after the page loaded, and the
browser then treats the UI as evil.example's own origin), but the browser still sends
`Host: evil.example`. So every request (the event stream included) whose Host is neither a
loopback name nor the address the server is bound to is answered 421 before any route runs.

A wildcard bind (0.0.0.0, ::) is reachable under any of the machine's addresses: there, any IP
literal and the machine's own host name are accepted (a rebinding attack needs a DNS name that
the attacker controls, never an IP literal).
"""

from __future__ import annotations

import ipaddress
import socket

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def host_name(header: str) -> str:
    """`example.org:7860` -> `example.org`, `[::1]:7860` -> `::1` (lower case)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        return header.rsplit(":", 1)[0]
    return header  # a bare IPv6 address or a name without a port


class HostPolicy:
    def __init__(self, bind_host: str = "127.0.0.1", extra: tuple[str, ...] = ()):
        self.bind_host = bind_host.strip("[]").lower()
        self.wildcard = self.bind_host in WILDCARDS
        names = {n.lower() for n in extra}
        if self.wildcard:
            try:
                names.add(socket.gethostname().lower())
            except OSError:
                pass
        elif self.bind_host:
            names.add(self.bind_host)
        self.names = frozenset(names)

    def allows(self, header: str | None) -> bool:
        if not header:
            return False  # HTTP/1.1 requires Host; a request without one is not from a browser tab of ours
        name = host_name(header)
        return is_loopback(name) or name in self.names or (self.wildcard and _is_ip(name))


class HostGuard:
    """ASGI middleware: 421 Misdirected Request for a Host the policy does not allow."""

    def __init__(self, app, policy: HostPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        header = None
        for key, value in scope.get("headers") or ():
            if key == b"host":
                header = value.decode("latin-1")
                break
        if self.policy.allows(header):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return None
        body = (
            f"421 Misdirected Request: this Forge Web UI answers to localhost and the address it is bound to "
            f"({self.policy.bind_host or '*'}), not to Host {header!r}\n"
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 421,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return None
