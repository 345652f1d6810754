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
        self._connections: set[asyncio.Task] = set()
        self.messages = 0

    async def start(self) -> int:
        """Listen; return the port bound (useful with port 0)."""
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
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
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _answer(self, text: str) -> str:
        if self._executor is None:
            return self._safe_handle(text)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._safe_handle, text)

    def _safe_handle(self, text: str) -> str:
        try:
            return self.handler(text)
        except Exception as error:  # noqa: BLE001 (any failure is answered, never dropped)
            # The type only: an exception's message may quote the message it failed on.
            log.error("MLLP handler failed (%s); answered AR", type(error).__name__)
            return reject_ack(text, "message could not be processed")

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        framer = Framer(self.max_message_bytes)
        try:
            while data := await reader.read(READ_SIZE):
                for item in framer.feed(data):
                    if isinstance(item, Oversize):
                        log.warning("MLLP frame over %s bytes refused", self.max_message_bytes)
                        head = item.head.decode("utf-8", "replace")
                        ack = reject_ack(head, "message too large")
                    else:
                        ack = await self._answer(item.decode("utf-8", "replace"))
                    self.messages += 1
                    writer.write(frame(ack))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if framer.skipped_bytes or framer.dropped_frames:
                log.warning(
                    "MLLP connection closed: %s bytes outside frames, %s unfinished frames",
                    framer.skipped_bytes,
                    framer.dropped_frames,
                )
            writer.close()
            self._connections.discard(task)
