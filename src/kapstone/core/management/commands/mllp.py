"""Receive vital signs from bedside monitors: HL7 v2 ORU^R01 over MLLP, one ACK per message.

Listens on loopback by default: a monitor gateway on another host reaches it through the
clinic's own tunnel or proxy, never over an open port. See kapstone.monitoring.
"""

import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection
from django.utils import timezone

from kapstone.monitoring import hl7v2, mllp, sink


def database_handler() -> mllp.Handler:
    """The real handler: parse, find the patient and session, store, ACK."""
    handle = hl7v2.make_handler(sink.device_store, default_tz=timezone.get_default_timezone())

    def handler(text: str) -> str:
        # One long-lived worker thread: drop a connection the database has closed meanwhile.
        # (Inside a transaction, as in a test, the connection is in use and must stay.)
        if not connection.in_atomic_block:
            close_old_connections()
        return handle(text)

    return handler


class Command(BaseCommand):
    help = "Receive bedside-monitor vital signs (HL7 v2 ORU^R01 over MLLP) and ACK each."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
        parser.add_argument("--port", type=int, default=2575, help="TCP port (2575)")
        parser.add_argument(
            "--max-message-bytes",
            type=int,
            default=mllp.DEFAULT_MAX_MESSAGE_BYTES,
            help="larger messages are answered AR",
        )

    def handle(self, *args, host, port, max_message_bytes, **options):
        if not 0 <= port <= 65535:
            raise CommandError("--port must be between 0 and 65535")
        if max_message_bytes < 1024:
            raise CommandError("--max-message-bytes must be at least 1024")
        server = mllp.MLLPServer(
            database_handler(),
            host=host,
            port=port,
            max_message_bytes=max_message_bytes,
            handler_in_thread=True,
        )
        asyncio.run(self._run(server))

    async def _run(self, server: mllp.MLLPServer) -> None:
        bound = await server.start()
        self.stdout.write(f"MLLP listener on {server.host} port {bound}")
        # Stop cleanly on Ctrl-C or a service manager's SIGTERM: open connections are closed
        # and an unfinished frame is dropped (its sender resends, having had no ACK).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        serving = asyncio.create_task(server.serve_forever())
        try:
            await stop.wait()
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await server.close()
            self.stdout.write("MLLP listener stopped")
