"""TLS over a connected socket, with a half-close that loses nothing.

Why not ssl.SSLSocket: a hijacked attach ends stdin with a TLS close_notify while the container's
output keeps coming (Go's tls.Conn.CloseWrite). SSLSocket.unwrap() calls SSL_shutdown twice, and
the second call reads the peer's records looking for its close_notify and DISCARDS any
application data among them: output that arrives just then is lost (seen as a rare flake of
`run -i` over TLS). Over memory BIOs we decide what OpenSSL gets to read: every record already
received is decrypted into our buffer first, nothing new is fed in during the shutdown, so the
second SSL_shutdown finds nothing to read, and reading afterwards returns the rest of the output.
"""

from __future__ import annotations

import ssl

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

_CHUNK = 65536


class TLSSocket:
    """The few socket methods the client uses (sendall, recv, pending, fileno, close), over TLS."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str) -> None:
        self.sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._plain = b""  # decrypted before a close_notify was sent, not yet returned
        self._eof = False
        self._until_done(self._tls.do_handshake)

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> int:
        # Bytes already taken off the socket count too: poll(2) on the socket would not see them.
        return len(self._plain) + self._tls.pending() + self._incoming.pending

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._until_done(self._tls.write, view)
            view = view[written:]

    def recv(self, size: int = _CHUNK) -> bytes:
        if self._plain:
            data, self._plain = self._plain[:size], self._plain[size:]
            return data
        try:
            return self._until_done(self._tls.read, size)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # the peer's close_notify, or the connection's end without one

    def close_write(self) -> None:
        """Send close_notify; keep reading what the peer still sends."""
        self._drain_received()
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:
            pass  # the alert is out; the peer's comes later, behind its remaining data
        self._flush()

    def close(self) -> None:
        self.sock.close()

    def _drain_received(self) -> None:
        while self._incoming.pending or self._tls.pending():
            try:
                self._plain += self._tls.read(_CHUNK)
            except ssl.SSLWantReadError:
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self.sock.sendall(data)

    def _until_done(self, operation: Callable[..., T], *args: Any) -> T:
        """Run an SSLObject operation, moving bytes between the BIOs and the socket as it asks."""
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                if self._eof:
                    raise ssl.SSLEOFError("EOF occurred in violation of protocol") from None
                data = self.sock.recv(_CHUNK)
                if data:
                    self._incoming.write(data)
                else:
                    self._eof = True
                    self._incoming.write_eof()
                continue
            self._flush()
            return result
