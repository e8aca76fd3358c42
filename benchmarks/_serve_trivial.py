"""A trivial HTTP/1.1 server for bench_serve: measures the load client's own ceiling.

    python _serve_trivial.py PORT

Answers every POST with the same small JSON body (the shape of an mlnb answer), keep-alive, with
no parsing beyond the request head and Content-Length: whatever rate the client reaches against it
is the most it can measure on this machine.
"""
from __future__ import annotations

import asyncio
import sys

BODY = b'{"request_id":"0","model":"wine","version":1,"alias":"champion","status":"ok","predictions":[0]}'
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: 0\r\nx-mlnb-version: 1\r\n"
            b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class Trivial(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:  # every complete request in the buffer gets the fixed answer
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Trivial, "127.0.0.1", port)
    print("listening", port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
