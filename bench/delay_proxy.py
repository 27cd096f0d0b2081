"""A TCP proxy that adds a fixed one-way delay to every chunk: a database a few ms away.

``make bench-workers`` puts it between the app and PostgreSQL, so each query
pays a round trip as on a real network (twice the delay: once each way), while
the database itself still answers at loopback speed.

    python -m bench.delay_proxy --target 127.0.0.1:5432 --delay-ms 1   # prints its port

The delay is latency, not bandwidth: a chunk read at time t is written at
t + delay whatever else is queued, in order, so a burst of chunks arrives as
a burst. Each direction of each connection has its own queue. asyncio's timers
wake on whole milliseconds, so a delay is rounded up to one: 1 ms each way
makes about 2.6 ms per PostgreSQL round trip here, 1.25 ms about 4.6.
"""

import argparse
import asyncio
import contextlib
import threading

CHUNK = 65536


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float):
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it was read."""
    queue: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def deliver():
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:  # the peer closed its side: close ours after the data
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    delivering = asyncio.create_task(deliver())
    try:
        while True:
            chunk = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, chunk))
            if not chunk:
                break
        await delivering
    except (ConnectionError, OSError):
        delivering.cancel()
    finally:
        if not delivering.done():
            with contextlib.suppress(asyncio.CancelledError):
                await delivering


class DelayProxy:
    """Listen on a loopback port and forward each connection to ``target`` with a delay.

    ``start()`` runs it on an event loop in a daemon thread (for the benchmark
    harness and the tests); ``serve_forever()`` runs it in the calling thread.
    """

    def __init__(self, target: tuple[str, int], delay_ms: float, port: int = 0):
        self.target = target
        self.delay = delay_ms / 1000
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    async def _connection(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                _pump(client_reader, server_writer, self.delay),
                _pump(server_reader, client_writer, self.delay),
            )
        except asyncio.CancelledError:
            # The proxy is stopping. Ending quietly: asyncio (3.11) logs a
            # cancelled connection handler as an error.
            pass
        finally:
            for writer in (client_writer, server_writer):
                writer.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self._server.close()
        # The connections' tasks are cancelled and awaited, so none is left pending
        # when the loop closes.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def start(self) -> "DelayProxy":
        """Serve in a background thread; return once the port is bound."""
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._listen())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the delay proxy did not start")
        return self

    def stop(self) -> None:
        """Stop listening and end the background thread (open connections are dropped)."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""

        async def main():
            await self._listen()
            print(f"127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]}", flush=True)
            await self._server.serve_forever()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())


def main() -> None:
    """Run the proxy from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:5432", help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="one-way delay per chunk")
    parser.add_argument("--port", type=int, default=0, help="where to listen (0: any free)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    DelayProxy((host, int(port)), args.delay_ms, args.port).serve_forever()


if __name__ == "__main__":
    main()
