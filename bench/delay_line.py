#!/usr/bin/env python3
"""delay_line.py — a TCP forwarder on 127.0.0.1 that delays every byte by a
fixed one-way time, in both directions, with unbounded buffering (so it adds
latency, not a bandwidth limit, up to what Python can move: ~100+ MB/s).

    python3 bench/delay_line.py LISTEN_PORT TARGET_PORT ONE_WAY_MS

Put it between a tunnel's client and server (the client's server address is
127.0.0.1:LISTEN_PORT) to see how a tunnel behaves at a WAN round-trip time
(2 x ONE_WAY_MS) without touching the machine's loopback (no tc/netem needed).
compare.py --rtt-ms uses it; docs/BENCHMARKS.md shows what it is for: a
per-stream flow-control window caps one stream at window / RTT.
"""
import asyncio
import collections
import sys


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    q = collections.deque()
    ready = asyncio.Event()
    done = False

    async def feeder():
        nonlocal done
        try:
            while True:
                data = await reader.read(1 << 18)
                if not data:
                    break
                q.append((loop.time() + delay, data))
                ready.set()
        except (ConnectionError, OSError):
            pass
        done = True
        ready.set()

    task = asyncio.ensure_future(feeder())
    try:
        while True:
            if not q:
                if done:
                    break
                ready.clear()
                await ready.wait()
                continue
            when, data = q[0]
            wait = when - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            q.popleft()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        task.cancel()


async def handle(cr, cw, target, delay):
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pump(cr, sw, delay), pump(sr, cw, delay))
    cw.close()
    sw.close()


async def main():
    listen, target, one_way_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = one_way_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, delay),
                                        "127.0.0.1", listen)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
