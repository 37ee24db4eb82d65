package main

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec moves messages as bytes, so the load generator needs no generated protobuf code and
// never spends time (de)serialising: requests are encoded once and reused, and responses are
// only measured, not copied.
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

// recvSize receives a message by recording its length only (no copy).
type recvSize int

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *[]byte:
		// SliceBuffer is not reference counted, so one encoded request can be shared read-only
		// by every goroutine.
		return mem.BufferSlice{mem.SliceBuffer(*m)}, nil
	case *mem.BufferSlice:
		// An echo: hand back the received buffers; gRPC frees the reference we took on receipt.
		return *m, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *recvSize:
		*m = recvSize(data.Len())
	case *[]byte:
		*m = (*m)[:0]
		for _, b := range data {
			*m = append(*m, b.ReadOnlyData()...)
		}
	case *mem.BufferSlice:
		data.Ref() // gRPC frees data when Unmarshal returns; keep it alive for the echo
		*m = data
	default:
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	return nil
}

// encodePayload returns the wire form of `Payload { bytes body = 1; }` with a body of `size`
// bytes (proto3 omits an empty body).
func encodePayload(size int) []byte {
	if size <= 0 {
		return nil
	}
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, make([]byte, size))
	return b
}

// encodeStreamRequest returns the wire form of `StreamRequest { int32 count = 1; int32 size = 2; }`.
func encodeStreamRequest(count, size int32) []byte {
	var b []byte
	if count != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(count)))
	}
	if size != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(size)))
	}
	return b
}

// decodeStreamRequest parses a StreamRequest, skipping unknown fields.
func decodeStreamRequest(b []byte) (count, size int32, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, 0, protowire.ParseError(n)
			}
			b = b[n:]
			if num == 1 {
				count = int32(v)
			} else {
				size = int32(v)
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, 0, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return count, size, nil
}

var errBadResponse = errors.New("response is not an echo of the request")
