// gRPC message compression: encoding names, grpc-accept-encoding lists, and zlib-backed
// compress/decompress with a hard cap on inflated size (a decompression bomb stops at the cap).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "turbogrpc/compression.h"

namespace turbogrpc::internal {

// What we send in grpc-accept-encoding: everything we can decompress.
constexpr std::string_view kAcceptEncodingValue = "identity,deflate,gzip";

// "identity", "deflate", "gzip".
std::string_view encoding_name(Compression c);

// The algorithm a grpc-encoding value names; nullopt for one we do not implement.
std::optional<Compression> parse_encoding(std::string_view name);

// A set of algorithms as bits (1 << value); identity is always in it.
using EncodingSet = uint8_t;
constexpr EncodingSet kIdentityOnly = 1u << static_cast<int>(Compression::kNone);
constexpr bool contains(EncodingSet set, Compression c) { return (set >> static_cast<int>(c)) & 1u; }

constexpr EncodingSet kAllEncodings = 0b111;

// The grpc-accept-encoding value listing `set` ("identity,deflate,gzip" for all).
std::string_view accept_encoding_value(EncodingSet set);

// The algorithms a grpc-accept-encoding value lists (comma-separated, spaces ignored, unknown
// names skipped).
EncodingSet parse_accept_encoding(std::string_view value);

// Compresses `in` with `c` into `out` (replacing its contents). False when the result would not
// be smaller than the input, or `c` is kNone: the message is then sent as it is.
bool compress_message(Compression c, std::string_view in, std::string& out);

enum class InflateError : uint8_t {
  kNone,
  kTooLarge,  // the inflated message would exceed max_size (stopped at the cap)
  kCorrupt,   // not valid data for the algorithm, or truncated
};

// Decompresses `in` into `out`. `max_size` < 0 means unlimited.
InflateError decompress_message(Compression c, std::string_view in, int64_t max_size,
                                std::string& out);

}  // namespace turbogrpc::internal
