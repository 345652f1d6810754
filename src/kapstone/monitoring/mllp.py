"""MLLP: the framing HL7 v2 travels in over TCP, and an asyncio server that answers each frame.

A frame is ``0x0B message 0x1C 0x0D``. `Framer` cuts a byte stream into messages however
the reads fall: a frame split across reads, several frames in one read, bytes outside any
frame (skipped), a start byte inside a frame (the unfinished frame is dropped), a frame
larger than the limit (reported once, then skipped to its end so the next frame is read).
hl7.mllp's stream reader raises on bytes before a start byte and cannot resynchronise after
an oversize frame, hence this small framer.

`MLLPServer` is the listener: every message goes to a `handler(text) -> ack_text`, answered on
the same connection in order. Nothing from a message reaches the log.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kapstone.monitoring.hl7v2 import reject_ack

START = b"\x0b"
END = b"\x1c\x0d"
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
# What is kept of an oversize frame: enough for its MSH, so the AR can name its control id.
HEAD_BYTES = 1024
READ_SIZE = 1 << 16

log = logging.getLogger("kapstone.mllp")


@dataclass(frozen=True)
class Oversize:
    """A frame longer than the limit: only its head is kept."""

    head: bytes


class Framer:
    """Cuts MLLP frames out of a byte stream. `feed` returns the messages (bytes, no framing)
    and `Oversize` markers completed by the bytes given, in order."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.max_message_bytes = max_message_bytes
        self.skipped_bytes = 0  # outside any frame
        self.dropped_frames = 0  # cut short by a new start byte
        self._buffer = bytearray()
        self._in_frame = False
        self._oversize = False
        self._scanned = 0  # bytes of the buffer already searched for an end

    def feed(self, data: bytes) -> list[bytes | Oversize]:
        out: list[bytes | Oversize] = []
        buffer = self._buffer
        buffer += data
        while buffer:
            if not self._in_frame:
                start = buffer.find(START)
                if start < 0:
                    self.skipped_bytes += len(buffer)
                    buffer.clear()
                    break
                self.skipped_bytes += start
                del buffer[: start + 1]
                self._in_frame, self._oversize, self._scanned = True, False, 0
                continue
            # An end may straddle the last read, so step back one byte before searching.
            from_ = max(self._scanned - 1, 0)
            end = buffer.find(END, from_)
            restart = buffer.find(START, from_, end if end >= 0 else len(buffer))
            if restart >= 0:
                self.dropped_frames += 1
                del buffer[:restart]
                self._in_frame = False
                continue
            if end >= 0:
                if end > self.max_message_bytes and not self._oversize:
                    out.append(Oversize(bytes(buffer[:HEAD_BYTES])))
                elif not self._oversize:
                    out.append(bytes(buffer[:end]))
                del buffer[: end + len(END)]
                self._in_frame = False
                continue
            self._scanned = len(buffer)
            if len(buffer) > self.max_message_bytes:
                if not self._oversize:
                    self._oversize = True
                    out.append(Oversize(bytes(buffer[:HEAD_BYTES])))
                # Keep only the last byte: it may be the first half of the end marker.
                del buffer[:-1]
                self._scanned = len(buffer)
            break
        return out


def frame(message: str | bytes) -> bytes:
    body = message.encode() if isinstance(message, str) else message
    return START + body + END


Handler = Callable[[str], str]


class MLLPServer:
    """An MLLP listener. `handler_in_thread` runs the handler on one worker thread (for a
    handler that uses the database); otherwise it runs on the event loop."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        handler_in_thread: bool = False,
    ):
        self.handler = handler
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self._executor = ThreadPoolExecutor(1, "mllp-handler") if handler_in_thread else None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.messages = 0

    async def start(self) -> int:
        """Listen; return the port bound (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("MLLP listener on %s port %s", self.host, self.port)
        return self.port

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and end the open connections (an unfinished frame is dropped)."""
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.close()
        await asyncio.gather(*(c.closed for c in connections), return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _safe_handle(self, text: str) -> str:
        try:
            return self.handler(text)
        except Exception as error:  # noqa: BLE001 (any failure is answered, never dropped)
            # The type only: an exception's message may quote the message it failed on.
            log.error("MLLP handler failed (%s); answered AR", type(error).__name__)
            return reject_ack(text, "message could not be processed")

    def _ack_for(self, item: bytes | Oversize) -> str | None:
        """The answer to a frame when it can be given at once, else None (handler thread)."""
        if isinstance(item, Oversize):
            log.warning("MLLP frame over %s bytes refused", self.max_message_bytes)
            return reject_ack(item.head.decode("utf-8", "replace"), "message too large")
        if self._executor is None:
            return self._safe_handle(item.decode("utf-8", "replace"))
        return None


class _Connection(asyncio.Protocol):
    """One sender's connection: frames in, ACKs out, in the order the frames came.

    A protocol rather than asyncio streams: a monitor waits for each ACK before it sends the
    next message, so the listener's time per message is the rate, and the stream reader's and
    writer's coroutines cost as much as reading the message. While ACKs wait for a handler
    thread, or the sender is not reading them, reading pauses.
    """

    def __init__(self, server: MLLPServer):
        self.server = server
        self.framer = Framer(server.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.waiting: list[bytes | Oversize] = []  # frames behind one in a handler thread
        self.worker: asyncio.Task | None = None
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.writing_paused = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        items = self.framer.feed(data)
        if self.worker is not None:
            self.waiting += items
            return
        server = self.server
        for position, item in enumerate(items):
            ack = server._ack_for(item)
            if ack is None:
                self.waiting += items[position:]
                self.worker = asyncio.get_running_loop().create_task(self._work())
                self.transport.pause_reading()
                return
            server.messages += 1
            self.transport.write(frame(ack))

    async def _work(self) -> None:
        """Answer the waiting frames one at a time on the handler thread, in order."""
        server = self.server
        loop = asyncio.get_running_loop()
        try:
            while self.waiting:
                item = self.waiting.pop(0)
                ack = server._ack_for(item)
                if ack is None:
                    ack = await loop.run_in_executor(
                        server._executor, server._safe_handle, item.decode("utf-8", "replace")
                    )
                server.messages += 1
                if self.transport.is_closing():
                    return
                self.transport.write(frame(ack))
        finally:
            self.worker = None
            transport = self.transport
            if transport is not None and not transport.is_closing() and not self.writing_paused:
                transport.resume_reading()

    def pause_writing(self) -> None:
        # The sender is not reading its ACKs: stop reading its messages until it does.
        self.writing_paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.worker is None:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.worker is not None:
            self.worker.cancel()
        framer = self.framer
        if framer.skipped_bytes or framer.dropped_frames:
            log.warning(
                "MLLP connection closed: %s bytes outside frames, %s unfinished frames",
                framer.skipped_bytes,
                framer.dropped_frames,
            )
        self.server._connections.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)
