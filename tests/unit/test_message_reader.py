"""message_reader: which deserializers get views of large received messages, and that every
other consumer gets bytes."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from turbogrpc._core._message_reader import as_bytes, message_reader


def test_protobuf_parsers_take_views_directly():
    parse = timestamp_pb2.Timestamp.FromString
    assert message_reader(parse) is parse
    wire = timestamp_pb2.Timestamp(seconds=7, nanos=9).SerializeToString()
    assert message_reader(parse)(memoryview(wire)).seconds == 7


def test_no_deserializer_means_bytes():
    read = message_reader(None)
    out = read(memoryview(b"abc"))
    assert type(out) is bytes and out == b"abc"
    same = b"xyz"
    assert read(same) is same  # bytes pass through uncopied


def test_other_deserializers_get_bytes():
    seen = []
    read = message_reader(lambda raw: seen.append(type(raw)) or len(raw))
    assert read(memoryview(b"abcd")) == 4
    assert read(b"ab") == 2
    assert seen == [bytes, bytes]


def test_from_string_of_something_else_gets_bytes():
    class NotProtobuf:
        @classmethod
        def FromString(cls, raw):  # noqa: N802 - the name protobuf uses
            return type(raw)

    assert message_reader(NotProtobuf.FromString)(memoryview(b"q")) is bytes


def test_as_bytes():
    assert as_bytes(memoryview(b"\x00\x01")) == b"\x00\x01"
    assert type(as_bytes(bytearray(b"z"))) is bytes
