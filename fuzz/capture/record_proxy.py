#!/usr/bin/env python3
"""A recording TCP proxy: forwards 127.0.0.1:LISTEN to TARGET and saves
what each client sent, one file per connection, as fuzz corpus seeds.

    record_proxy.py LISTEN_PORT TARGET_HOST:PORT OUT_DIR TAG

For a connection, OUT_DIR/connection/TAG-N holds the client's whole byte
stream (the `connection` target's input) and OUT_DIR/jute_decode/TAG-N-M
each frame body it contained (the `jute_decode` target's input). Runs
until killed; loopback only.
"""

import asyncio
import os
import struct
import sys


def frames(stream):
    """Splits a client byte stream into frame bodies (a four-letter word
    or a truncated tail ends it)."""
    out = []
    pos = 0
    while pos + 4 <= len(stream):
        (n,) = struct.unpack(">i", stream[pos : pos + 4])
        if n < 0 or pos + 4 + n > len(stream):
            break
        out.append(stream[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


async def main():
    listen, target, out_dir, tag = (
        int(sys.argv[1]),
        sys.argv[2],
        sys.argv[3],
        sys.argv[4],
    )
    host, port = target.rsplit(":", 1)
    for d in ("connection", "jute_decode"):
        os.makedirs(os.path.join(out_dir, d), exist_ok=True)
    counter = 0

    async def pipe(reader, writer, record):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if record is not None:
                    record.extend(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except OSError:
                pass

    async def handle(client_r, client_w):
        nonlocal counter
        counter += 1
        n = counter
        sent = bytearray()
        try:
            server_r, server_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            pipe(client_r, server_w, sent), pipe(server_r, client_w, None)
        )
        if not sent:
            return
        name = f"{tag}-{n:03d}"
        with open(os.path.join(out_dir, "connection", name), "wb") as f:
            f.write(sent)
        for i, body in enumerate(frames(bytes(sent))):
            with open(os.path.join(out_dir, "jute_decode", f"{name}-{i:03d}"), "wb") as f:
                f.write(body)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
