"""A TCP proxy on 127.0.0.1 that adds a network's round trip in front of a local server.

Every chunk is delivered half the round trip after it arrived, in each direction, without
holding back the chunks behind it (bandwidth is not limited): what a distant server costs
a client, for servers that have no latency option of their own (sshd).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

from tests.servers import free_port


class LatencyProxy:
    """The running proxy: `port` to connect to."""

    def __init__(self, target_port: int, round_trip: float) -> None:
        self.port = free_port()
        self._target = target_port
        self._delay = round_trip / 2

    async def serve(self, started: threading.Event, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(self._connection(reader, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        server = await asyncio.start_server(connected, "127.0.0.1", self.port)
        started.set()
        async with server:
            await stop.wait()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            server_w.close()
            client_w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy `reader` to `writer`, each chunk half a round trip after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get())[1]:
                due, chunk = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))  # the wire's delay
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # the other side's half stays open for its answer
            else:
                writer.close()

        delivering = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(2**16):
                queue.put_nowait((time.monotonic() + self._delay, chunk))
            queue.put_nowait((0.0, b""))
            await delivering
        finally:
            delivering.cancel()


@contextlib.contextmanager
def latency_proxy(target_port: int, round_trip: float) -> Iterator[LatencyProxy]:
    """A `LatencyProxy` in front of 127.0.0.1:`target_port`, on a thread of its own."""
    proxy = LatencyProxy(target_port, round_trip)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(proxy.serve(started, stop))

    thread = threading.Thread(target=run, name="latency-proxy", daemon=True)
    thread.start()
    if not started.wait(timeout=30):
        msg = "the latency proxy did not start"
        raise RuntimeError(msg)
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
