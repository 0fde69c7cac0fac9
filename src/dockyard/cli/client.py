"""A Docker Engine API client: HTTP/1.1 over a unix socket or TCP (optionally TLS).

Written on `_socket` (the C module under `socket`) and by hand, because `http.client` costs about
30 ms to import here and `socket` pulls in `enum`: the CLI's start-up time is mostly imports. TCP
and TLS import `socket` and `ssl` only when asked for.

Lifecycle: `Client(host)` does nothing until the first request; that request opens a connection,
negotiates the API version once (`GET /_ping`, header `API-Version`, capped at MAX_API_VERSION) and
then speaks `/v<version>/...`. A finished response gives its connection back for the next request
(keep-alive); a streamed one (logs -f, events, wait) keeps its own. `hijack` returns the raw
connection after `101 Switching Protocols` for attach and exec (docker's `Upgrade: tcp`).

Daemon errors (status >= 400) raise APIError with the daemon's `message`; a daemon that cannot be
reached raises Unreachable with docker's wording.
"""

from __future__ import annotations

import _socket
import os

from dockyard.cli import jsonio
from dockyard.cli.errors import APIError, CLIError, Unreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any, BinaryIO

    Query = Mapping[str, str | int | bool | None] | Sequence[tuple[str, str]] | None
    Body = bytes | dict[str, Any] | list[Any] | BinaryIO | Iterable[bytes] | None

DEFAULT_HOST = "unix:///run/dockyard.sock"
MAX_API_VERSION = "1.43"
MIN_API_VERSION = "1.24"
USER_AGENT = "dockyard-cli/0.1.0"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(value: str, safe: str = "") -> str:
    """Percent-encoding as Go's url.QueryEscape/PathEscape need it (no `urllib`: it imports `re`)."""
    allowed = _SAFE | frozenset(safe.encode())
    return "".join(chr(b) if b in allowed else f"%{b:02X}" for b in value.encode("utf-8"))


def encode_query(query: Query) -> str:
    if not query:
        return ""
    pairs: Iterable[tuple[str, str | int | bool | None]] = \
        query.items() if isinstance(query, dict) else query  # type: ignore[assignment]
    parts = []
    for key, value in pairs:
        if value is None:
            continue
        if value is True:
            value = "1"
        elif value is False:
            value = "0"
        parts.append(f"{quote(key)}={quote(str(value))}")
    return "?" + "&".join(parts) if parts else ""


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def split_hostport(hostport: str) -> tuple[str, str]:
    """("host", "port") from "host:port", "[v6]:port", "host" ("" for a missing port)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        rest = hostport[end + 1:]
        return hostport[1:end], rest[1:] if rest.startswith(":") else ""
    if hostport.count(":") == 1:
        name, _, port = hostport.partition(":")
        return name, port
    return hostport, ""


class TLSOptions:
    __slots__ = ("ca", "cert", "key", "verify")

    def __init__(self, verify: bool, ca: str | None, cert: str | None, key: str | None) -> None:
        self.verify = verify
        self.ca = ca
        self.cert = cert
        self.key = key


class Connection:
    """A connected stream socket with a read buffer."""

    __slots__ = ("buf", "closed", "sock")

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buf = b""
        self.closed = False

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, size: int = 65536) -> bytes:
        """Buffered bytes first, else one read from the socket (b"" at EOF)."""
        if self.buf:
            data, self.buf = self.buf, b""
            return data
        return bytes(self.sock.recv(size))

    def pending(self) -> bool:
        return bool(self.buf) or bool(getattr(self.sock, "pending", lambda: 0)())

    def read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while True:
            at = self.buf.find(marker)
            if at >= 0:
                data, self.buf = self.buf[:at + len(marker)], self.buf[at + len(marker):]
                return data
            if len(self.buf) > limit:
                raise CLIError("malformed response from the daemon: header too long")
            more = self.sock.recv(65536)
            if not more:
                data, self.buf = self.buf, b""
                return data
            self.buf += more

    def read_exact(self, size: int) -> bytes:
        while len(self.buf) < size:
            more = self.sock.recv(max(65536, size - len(self.buf)))
            if not more:
                break
            self.buf += more
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def shutdown_write(self) -> None:
        """End what we send (stdin's EOF) but keep reading. On TLS that is a close_notify alert,
        as Go's tls.Conn.CloseWrite sends (see tlsconn.py for why that needs care)."""
        try:
            if hasattr(self.sock, "close_write"):
                self.sock.close_write()
            else:
                self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


class Response:
    """Status, lower-cased headers, and the body read once: whole (`read`, `json`) or as it comes
    (`chunks`)."""

    __slots__ = ("_client", "_left", "_mode", "conn", "headers", "method", "reason", "status")

    def __init__(self, client: Client | None, conn: Connection, method: str) -> None:
        self._client = client
        self.conn = conn
        self.method = method
        line = conn.read_until(b"\r\n")
        if not line:
            raise CLIError("error during connect: the daemon closed the connection without an answer")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise CLIError(f"malformed response from the daemon: {line[:80]!r}")
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers: dict[str, str] = {}
        while True:
            raw = conn.read_until(b"\r\n")
            if raw in (b"\r\n", b""):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._mode, self._left = "length", 0
        elif self.headers.get("transfer-encoding", "").lower() == "chunked":
            self._mode, self._left = "chunked", 0
        elif "content-length" in self.headers:
            self._mode, self._left = "length", int(self.headers["content-length"])
        else:
            self._mode, self._left = "eof", -1

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives. The connection returns to the client's pool at the end."""
        conn = self.conn
        if self._mode == "length":
            while self._left > 0:
                data = conn.recv(min(self._left, 1 << 20))
                if not data:
                    raise CLIError("unexpected EOF from the daemon")
                if len(data) > self._left:
                    conn.buf = data[self._left:] + conn.buf
                    data = data[:self._left]
                self._left -= len(data)
                yield data
        elif self._mode == "chunked":
            while True:
                size_line = conn.read_until(b"\r\n")
                if not size_line:
                    raise CLIError("unexpected EOF from the daemon")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while conn.read_until(b"\r\n") not in (b"\r\n", b""):
                        pass  # trailers
                    break
                while size > 0:
                    data = conn.recv(min(size, 1 << 20))
                    if not data:
                        raise CLIError("unexpected EOF from the daemon")
                    if len(data) > size:
                        conn.buf = data[size:] + conn.buf
                        data = data[:size]
                    size -= len(data)
                    yield data
                conn.read_exact(2)
        else:
            while True:
                data = conn.recv()
                if not data:
                    break
                yield data
            conn.close()
        self._finish()

    def _finish(self) -> None:
        if self._client is not None and self._mode != "eof" and not self.conn.closed \
                and self.headers.get("connection", "").lower() != "close":
            self._client.give_back(self.conn)
        else:
            self.conn.close()
        self._client = None

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def json(self) -> Any:
        data = self.read()
        try:
            return jsonio.loads(data)
        except ValueError as e:
            raise CLIError(f"malformed JSON from the daemon: {e}") from None

    def close(self) -> None:
        self.conn.close()
        self._client = None


def error_message(status: int, body: bytes, path: str) -> str:
    """The daemon's `{"message": ...}`, else its text, else what docker says for an empty body."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = jsonio.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return str(doc["message"])
    if text:
        return text
    reason = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
              409: "Conflict", 500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}
    return (f"request returned {reason.get(status, str(status))} for API route and version {path}, "
            "check if the server supports the requested API version")


class Client:
    """One daemon address. Nothing happens until the first request."""

    def __init__(self, host: str = DEFAULT_HOST, tls: TLSOptions | None = None, version: str | None = None) -> None:
        self.host = host
        self.tls = tls
        self._version = version
        self._idle: list[Connection] = []
        self.os_type = "linux"
        if host.startswith("unix://"):
            self._unix: str | None = host[len("unix://"):]
            self._addr: tuple[str, int] = ("", 0)
        elif host.startswith(("tcp://", "http://", "https://")):
            self._unix = None
            name, port = split_hostport(host.split("://", 1)[1].split("/", 1)[0])
            default = 2376 if tls is not None else 2375
            self._addr = (name or "127.0.0.1", int(port) if port.isdigit() else default)
        else:
            raise CLIError(f"unable to parse docker host `{host}`")

    # --- connections -----------------------------------------------------------------------

    def _unreachable(self, err: OSError) -> CLIError:
        import errno
        if err.errno in (errno.EACCES, errno.EPERM):
            return Unreachable(f"permission denied while trying to connect to the dockyard daemon socket at {self.host}: "
                               f"connect: {os.strerror(err.errno)}")
        return Unreachable(f"Cannot connect to the dockyard daemon at {self.host}. Is the dockyard daemon running?")

    def connect(self) -> Connection:
        if self._idle:
            return self._idle.pop()
        try:
            if self._unix is not None:
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    sock.connect(self._unix)
                except OSError:
                    sock.close()
                    raise
            else:
                import socket
                sock = socket.create_connection(self._addr)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                if self.tls is not None:
                    sock = self._wrap_tls(sock)
        except OSError as e:
            raise self._unreachable(e) from None
        return Connection(sock)

    def _wrap_tls(self, sock: Any) -> Any:
        import ssl
        tls = self.tls
        assert tls is not None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls.verify:
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            if tls.ca:
                ctx.load_verify_locations(cafile=tls.ca)
            else:
                ctx.load_default_certs()
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            if tls.cert and tls.key:
                ctx.load_cert_chain(tls.cert, tls.key)
            from dockyard.cli.tlsconn import TLSSocket

            return TLSSocket(sock, ctx, server_hostname=self._addr[0])
        except (ssl.SSLError, OSError) as e:
            sock.close()
            raise CLIError(f"error during connect: {e}") from None

    def give_back(self, conn: Connection) -> None:
        if not conn.closed and not conn.buf:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    # --- API version -----------------------------------------------------------------------

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self._negotiate()
        return self._version

    def _negotiate(self) -> str:
        resp = self._exchange("GET", "/_ping", b"", {})
        body = resp.read()
        server = resp.headers.get("api-version", "")
        self.os_type = resp.headers.get("ostype", "linux")
        if resp.status >= 400 and not server:
            raise APIError(resp.status, error_message(resp.status, body, "/_ping"))
        if not server:
            return MIN_API_VERSION
        return server if version_tuple(server) < version_tuple(MAX_API_VERSION) else MAX_API_VERSION

    def ping(self) -> dict[str, str]:
        resp = self._exchange("GET", "/_ping", b"", {})
        resp.read()
        return resp.headers

    def at_least(self, version: str) -> bool:
        return version_tuple(self.version) >= version_tuple(version)

    # --- requests --------------------------------------------------------------------------

    def _head(self, method: str, target: str, headers: dict[str, str], length: int | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", "Host: docker", f"User-Agent: {USER_AGENT}"]
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        if length is None:
            lines.append("Transfer-Encoding: chunked")
        elif length or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, conn: Connection, method: str, target: str, body: Body, headers: dict[str, str]) -> None:
        if body is None or isinstance(body, (bytes, bytearray)):
            data = bytes(body or b"")
            conn.send(self._head(method, target, headers, len(data)) + data)
            return
        if isinstance(body, (dict, list)):
            data = jsonio.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
            conn.send(self._head(method, target, headers, len(data)) + data)
            return
        conn.send(self._head(method, target, headers, None))
        pieces: Iterable[bytes]
        if hasattr(body, "read"):
            reader = body.read

            def gen() -> Iterator[bytes]:
                while True:
                    piece = reader(1 << 20)
                    if not piece:
                        return
                    yield piece
            pieces = gen()
        else:
            pieces = body
        for piece in pieces:
            if piece:
                conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")

    def _exchange(self, method: str, target: str, body: Body, headers: dict[str, str]) -> Response:
        reused = bool(self._idle)
        conn = self.connect()
        try:
            self._send(conn, method, target, body, headers)
            return Response(self, conn, method)
        except (OSError, CLIError) as e:
            conn.close()
            if reused and (isinstance(e, OSError) or "without an answer" in str(e)) and \
                    (body is None or isinstance(body, (bytes, bytearray, dict, list))):
                return self._exchange(method, target, body, headers)  # the daemon closed an idle connection
            if isinstance(e, OSError):
                raise CLIError(f"error during connect: {e}") from None
            raise

    def target(self, path: str, query: Query = None, versioned: bool = True) -> str:
        prefix = f"/v{self.version}" if versioned else ""
        return prefix + path + encode_query(query)

    def request(self, method: str, path: str, query: Query = None, body: Body = None,
                headers: dict[str, str] | None = None, *, check: bool = True, versioned: bool = True) -> Response:
        """Send one request; with `check`, a status >= 400 raises APIError (body consumed)."""
        target = self.target(path, query, versioned)
        resp = self._exchange(method, target, body, dict(headers or {}))
        if check and resp.status >= 400:
            raise APIError(resp.status, error_message(resp.status, resp.read(), target))
        return resp

    def get(self, path: str, query: Query = None) -> Any:
        return self.request("GET", path, query).json()

    def post(self, path: str, query: Query = None, body: Body = None) -> Response:
        resp = self.request("POST", path, query, body)
        resp.read()
        return resp

    def post_json(self, path: str, query: Query = None, body: Body = None) -> Any:
        return self.request("POST", path, query, body).json()

    def delete(self, path: str, query: Query = None) -> Any:
        data = self.request("DELETE", path, query).read()
        return jsonio.loads(data) if data.strip() else None

    def raw_get(self, path: str, query: Query = None) -> bytes:
        return self.request("GET", path, query).read()

    def hijack(self, path: str, query: Query = None, body: Body = None) -> Connection:
        """POST with `Upgrade: tcp`; the raw two-way stream after 101 (or 200 from old daemons)."""
        target = self.target(path, query)
        conn = self.connect()
        headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if body is None:
            headers["Content-Type"] = "text/plain"
        try:
            self._send(conn, "POST", target, body, headers)
            resp = Response(None, conn, "POST")
        except OSError as e:
            conn.close()
            raise CLIError(f"error during connect: {e}") from None
        if resp.status >= 400:
            raise APIError(resp.status, error_message(resp.status, resp.read(), target))
        return conn  # 101, or 200 from old daemons that then stream until they close

    def open_request(self, method: str, path: str, query: Query = None, body: Body = None) -> Connection:
        """Send a request on a connection of its own and return without reading the answer (for
        `wait`, whose answer comes when the container exits); read it later with Response(...)."""
        conn = self.connect()
        try:
            self._send(conn, method, self.target(path, query), body, {})
        except OSError as e:
            conn.close()
            raise CLIError(f"error during connect: {e}") from None
        return conn

    def stream_json(self, resp: Response) -> Iterator[Any]:
        """Each JSON value of a streamed body (events, stats, load and import progress)."""
        pending = ""
        undecoded = b""
        for chunk in resp.chunks():
            undecoded += chunk
            try:
                pending += undecoded.decode("utf-8")
                undecoded = b""
            except UnicodeDecodeError as e:  # a character split between two chunks, or a bad byte
                cut = e.start if len(undecoded) - e.start < 4 else len(undecoded)
                pending += undecoded[:cut].decode("utf-8", "replace")
                undecoded = undecoded[cut:]
            consumed = 0
            for value, end in jsonio.iter_values(pending):
                consumed = end
                yield value
            pending = pending[consumed:]
        if pending.strip():
            yield jsonio.loads(pending)
