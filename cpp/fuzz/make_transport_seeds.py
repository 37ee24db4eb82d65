#!/usr/bin/env python3
"""Writes the seed corpora of server_connection and client_connection (corpus/<target>/): valid
HTTP/2 gRPC exchanges built by hand with the HPACK static table. Rerun after changing a seed:
    python3 cpp/fuzz/make_transport_seeds.py
Byte 0 of each seed is the fuzzer's mode byte (see the top of each *_fuzzer.cc)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hstr(s):
    b = s.encode() if isinstance(s, str) else s
    assert len(b) < 127
    return bytes([len(b)]) + b


def lit(name, value):  # literal without indexing; name: static index or a new name
    if isinstance(name, int):
        assert name < 15
        return bytes([name]) + hstr(value)
    return b"\x00" + hstr(name) + hstr(value)


def ct():  # content-type: application/grpc (static index 31 needs the 4-bit prefix continued)
    return b"\x0f\x10" + hstr("application/grpc")


def msg(body, compressed=0):
    return bytes([compressed]) + struct.pack(">I", len(body)) + body


def request(stream, path, extra=b""):
    block = b"\x83\x86" + lit(4, path) + lit(1, "x") + ct() + lit("te", "trailers") + extra
    return frame(HEADERS, END_HEADERS, stream, block)


def response_headers(stream, extra=b""):
    return frame(HEADERS, END_HEADERS, stream, b"\x88" + ct() + extra)


def trailers(stream, status="0", message=None):
    block = lit("grpc-status", status) + (lit("grpc-message", message) if message else b"")
    return frame(HEADERS, END_HEADERS | END_STREAM, stream, block)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# server_connection: mode 0x00 = preface + SETTINGS added, finish with a message, all at once.
S = "server_connection"
write(S, "unary", b"\x00" + frame(SETTINGS, ACK, 0) + request(1, "/test.Echo/Unary") +
      frame(DATA, END_STREAM, 1, msg(b"ping")))
write(S, "unary_pieces_error_status", b"\x18" + request(1, "/test.Echo/Unary") +
      frame(DATA, END_STREAM, 1, msg(b"ping")))
write(S, "streaming_two_messages", b"\x04" + request(3, "/test.Echo/Stream") +
      frame(DATA, 0, 3, msg(b"one")) + frame(DATA, END_STREAM, 3, msg(b"two")))
write(S, "timeout_and_metadata", b"\x00" + request(
    1, "/test.Echo/Unary", lit("grpc-timeout", "100m") + lit("x-blob-bin", "AAEC") +
    lit("grpc-encoding", "gzip") + lit("grpc-accept-encoding", "identity,gzip")) +
      frame(DATA, END_STREAM, 1, msg(b"ping")))
write(S, "reset_ping_window_goaway", b"\x0c" + request(1, "/test.Echo/Stream") +
      frame(PING, 0, 0, b"12345678") + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1000)) +
      frame(RST_STREAM, 0, 1, struct.pack(">I", 8)) + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0)))
write(S, "not_grpc", b"\x00" + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                     b"\x82\x86" + lit(4, "/") + lit(1, "x")))
write(S, "raw_preface_only", b"\x03PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

# client_connection: mode 0x04 = SETTINGS added, unary (stream 1) and streaming (stream 3) calls.
C = "client_connection"
write(C, "unary_ok", b"\x00" + frame(SETTINGS, ACK, 0) + response_headers(1) +
      frame(DATA, 0, 1, msg(b"pong")) + trailers(1))
write(C, "unary_and_stream", b"\x04" + response_headers(1, lit("x-initial", "i1")) +
      frame(DATA, 0, 1, msg(b"pong")) + trailers(1) + response_headers(3) +
      frame(DATA, 0, 3, msg(b"one")) + frame(DATA, 0, 3, msg(b"two")) +
      trailers(3, "0") )
write(C, "trailers_only_error", b"\x0c" + frame(
    HEADERS, END_HEADERS | END_STREAM, 1, b"\x88" + ct() + lit("grpc-status", "5") +
    lit("grpc-message", "no%20such%20thing") + lit("x-t-bin", "AAEC")))
write(C, "http_error", b"\x00" + frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x8d"))  # :status 404
write(C, "reset_and_goaway", b"\x14" + response_headers(3) + frame(RST_STREAM, 0, 3, struct.pack(">I", 8)) +
      frame(PING, 0, 0, b"abcdefgh") + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0)))
write(C, "stream_pieces", b"\x0c" + response_headers(1) + frame(DATA, 0, 1, msg(b"pong")) +
      trailers(1) + response_headers(3) + frame(DATA, 0, 3, msg(b"x" * 100)) + trailers(3))

# client_connection, mode 0x28 (health checking, in pieces of 61 bytes, one per poller iteration):
# stream 1 is the health Watch; the calls (streams 3 and 5) go out once it says SERVING. Answers
# to a stream must arrive in a later piece than what opens it, so an unknown frame type (which
# HTTP/2 says to ignore) fills each piece up.
PIECE = 61


def fill_piece(sent):
    """An ignored frame that makes `sent` bytes (after the 9-byte SETTINGS the fuzzer adds) end
    on a piece boundary."""
    left = -(9 + len(sent)) % PIECE
    left += PIECE if left < 9 else 0
    return sent + frame(0xfa, 0, 0, b"\0" * (left - 9))


serving = fill_piece(b"")
serving = fill_piece(serving + response_headers(1) + frame(DATA, 0, 1, msg(b"\x08\x01")))
write(C, "health_serving", b"\x2c" + serving + response_headers(3) + frame(DATA, 0, 3, msg(b"pong")) +
      trailers(3) + response_headers(5) + frame(DATA, 0, 5, msg(b"one")) + trailers(5))
flapping = fill_piece(b"")
flapping = fill_piece(flapping + response_headers(1) + frame(DATA, 0, 1, msg(b"\x08\x02")))
write(C, "health_not_serving_then_serving", b"\x2c" + flapping + frame(DATA, 0, 1, msg(b"\x08\x01")) +
      trailers(1, "14"))
write(C, "health_unimplemented", b"\x28" + fill_piece(b"") + frame(
    HEADERS, END_HEADERS | END_STREAM, 1, b"\x88" + ct() + lit("grpc-status", "12")))
