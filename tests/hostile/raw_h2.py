"""A raw HTTP/2 client for attack tests: frames are built by hand (so they can be wrong on
purpose), header blocks with the `hpack` package's encoder (or by hand, for HPACK tricks), and
the server's header blocks are decoded with `hpack`'s decoder."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from dataclasses import dataclass, field

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x0, 0x1, 0x7, 0x8, 0xB
MAX_FRAME = 16384  # SETTINGS_MAX_FRAME_SIZE's default, which our server keeps
SETTINGS_NAMES = {1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH", 3: "MAX_CONCURRENT_STREAMS",
                  4: "INITIAL_WINDOW_SIZE", 5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE"}


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(
        ">I", stream_id & 0x7FFFFFFF) + payload


def grpc_message(payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def request_headers(path: str = "/test.Svc/Echo", extra=()) -> list[tuple[str, str]]:
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"),
            ("te", "trailers"), *extra]


@dataclass
class StreamResult:
    headers: list = field(default_factory=list)  # every decoded field, headers then trailers
    data: bytes = b""
    reset: int | None = None  # RST_STREAM error code
    ended: bool = False       # END_STREAM seen

    def value(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return values[-1] if values else None

    @property
    def done(self) -> bool:
        return self.ended or self.reset is not None


class RawH2:
    """One connection. `send` writes raw bytes; `pump` reads frames into per-stream results,
    answering the server's SETTINGS (so it keeps talking) but never its PINGs."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder(max_header_list_size=1 << 24)
        self.streams: dict[int, StreamResult] = {}
        self.settings: dict[str, int] = {}
        self.goaway: int | None = None  # error code of the server's GOAWAY
        self.closed = False
        self._buffer = bytearray()
        self._block = b""
        self._block_stream = 0
        self._block_end_stream = False

    @classmethod
    async def connect(cls, port: int, preface: bool = True) -> "RawH2":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = cls(reader, writer)
        if preface:
            conn.send(PREFACE + frame(SETTINGS, 0, 0))
        return conn

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def headers_block(self, headers, huffman: bool = True) -> bytes:
        # hpack's Huffman coder is pure Python: about 8 s for a 200 KiB value.
        return self.encoder.encode(headers, huffman=huffman)

    def request(self, stream_id: int, headers, body: bytes | None = b"", end_stream=True,
                huffman: bool = True) -> bytes:
        """The bytes of a request (HEADERS, then DATA with `body` unless None)."""
        block = self.headers_block(headers, huffman)
        chunks = [block[i:i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)] or [b""]
        end = END_STREAM if body is None and end_stream else 0
        out = b""
        for i, chunk in enumerate(chunks):
            last = END_HEADERS if i == len(chunks) - 1 else 0
            out += frame(HEADERS, last | end, stream_id, chunk) if i == 0 else frame(CONTINUATION, last, stream_id, chunk)
        if body is not None:
            out += frame(DATA, END_STREAM if end_stream else 0, stream_id, grpc_message(body))
        return out

    async def pump(self, until, timeout: float = 5.0) -> bool:
        """Reads frames until `until(self)` is true, the connection ends, or `timeout` passes.
        Returns whether `until` became true."""
        deadline = time.monotonic() + timeout
        while not until(self):
            if self.closed:
                return False
            if not self._parse_one():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:  # one read per chunk, not per frame: floods are thousands of frames
                    chunk = await asyncio.wait_for(self.reader.read(1 << 16), left)
                except ConnectionError:
                    chunk = b""
                except asyncio.TimeoutError:
                    return False
                if not chunk:
                    self.closed = True
                    while self._parse_one():
                        pass
                    return bool(until(self))
                self._buffer += chunk
        return True

    def _parse_one(self) -> bool:
        """Handles the next whole frame in the read buffer; False when there is none."""
        if len(self._buffer) < 9:
            return False
        length = int.from_bytes(self._buffer[:3], "big")
        if len(self._buffer) < 9 + length:
            return False
        head, payload = self._buffer[:9], self._buffer[9:9 + length]
        del self._buffer[:9 + length]
        self._on_frame(head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, bytes(payload))
        return True

    def _on_frame(self, kind, flags, stream_id, payload):
        stream = self.streams.setdefault(stream_id, StreamResult()) if stream_id else None
        if kind == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                ident, value = struct.unpack(">HI", payload[i:i + 6])
                self.settings[SETTINGS_NAMES.get(ident, str(ident))] = value
            with contextlib.suppress(Exception):
                self.send(frame(SETTINGS, ACK, 0))
        elif kind in (HEADERS, CONTINUATION):
            if kind == HEADERS:
                self._block, self._block_stream = b"", stream_id
                self._block_end_stream = bool(flags & END_STREAM)
                if flags & PADDED:
                    payload = payload[1:len(payload) - payload[0]]
                if flags & 0x20:  # PRIORITY
                    payload = payload[5:]
            self._block += payload
            if flags & END_HEADERS:
                target = self.streams.setdefault(self._block_stream, StreamResult())
                target.headers += [(k.decode() if isinstance(k, bytes) else k,
                                    v.decode() if isinstance(v, bytes) else v)
                                   for k, v in self.decoder.decode(self._block)]
                target.ended = target.ended or self._block_end_stream
        elif kind == DATA:
            stream.data += payload
            stream.ended = stream.ended or bool(flags & END_STREAM)
            if payload:  # keep the server sending: give the window straight back
                increment = struct.pack(">I", len(payload))
                with contextlib.suppress(Exception):
                    self.send(frame(WINDOW_UPDATE, 0, 0, increment) + frame(WINDOW_UPDATE, 0, stream_id, increment))
        elif kind == RST_STREAM:
            stream.reset = struct.unpack(">I", payload[:4])[0]
        elif kind == GOAWAY:
            self.goaway = struct.unpack(">I", payload[4:8])[0]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def drain(conn: RawH2) -> None:
    with contextlib.suppress(ConnectionError):
        await conn.writer.drain()
