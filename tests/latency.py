"""A TCP proxy on 127.0.0.1 that adds a network's round trip in front of a local server.

Every chunk is delivered half the round trip after it arrived, in each direction, without
holding back the chunks behind it (bandwidth is not limited): what a distant server costs
an HTTP client, for emulators that have no latency option of their own (Azurite). It also
watches the HTTP requests go by, to tell how many of a kind were in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from tests.servers import free_port


class LatencyProxy:
    """The running proxy: `port` to connect to; `peak_in_flight(marker)` after the fact."""

    def __init__(self, target_port: int, round_trip: float) -> None:
        self.port = free_port()
        self._target = target_port
        self._delay = round_trip / 2
        self._lock = threading.Lock()
        self._events: list[tuple[float, int, str]] = []  # (time, +1/-1, request line)

    def peak_in_flight(self, marker: str) -> int:
        """The most requests whose first line holds `marker` that were awaiting their
        response at once."""
        now = peak = 0
        with self._lock:
            events = sorted(self._events, key=lambda e: (e[0], e[1]))
        for _, step, line in events:
            if marker in line:
                now += step
                peak = max(peak, now)
        return peak

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
        pending: list[str] = []  # this connection's requests awaiting a response, in order
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, lambda chunk: self._request(chunk, pending)),
                self._pipe(server_r, client_w, lambda chunk: self._response(chunk, pending)),
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            server_w.close()
            client_w.close()

    def _request(self, chunk: bytes, pending: list[str]) -> None:
        line = chunk.split(b"\r\n", 1)[0].decode("latin-1")
        if line.split(" ", 1)[0] in {"GET", "PUT", "POST", "HEAD", "DELETE"} and "HTTP/1" in line:
            pending.append(line)
            with self._lock:
                self._events.append((time.monotonic(), 1, line))

    def _response(self, chunk: bytes, pending: list[str]) -> None:
        if chunk.startswith(b"HTTP/1") and pending:
            with self._lock:
                self._events.append((time.monotonic(), -1, pending.pop(0)))

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        see: Callable[[bytes], None],
    ) -> None:
        """Copy `reader` to `writer`, each chunk half a round trip after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get())[1]:
                due, chunk = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))  # the wire's delay
                see(chunk)
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
