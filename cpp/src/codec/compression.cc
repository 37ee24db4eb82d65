#include "codec/compression.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace turbogrpc::internal {
namespace {

constexpr int kZlibWindowBits = 15;      // zlib wrapper: what gRPC calls "deflate"
constexpr int kGzipWindowBits = 15 + 16;  // +16 asks zlib for the gzip wrapper
constexpr size_t kInflateChunk = 64 * 1024;

int window_bits(Compression c) { return c == Compression::kGzip ? kGzipWindowBits : kZlibWindowBits; }

// zlib counts in uInt; feed it at most this much at a time.
uInt clamp_to_uint(size_t n) { return static_cast<uInt>(std::min<size_t>(n, UINT_MAX)); }

}  // namespace

std::string_view encoding_name(Compression c) {
  switch (c) {
    case Compression::kDeflate: return "deflate";
    case Compression::kGzip: return "gzip";
    case Compression::kNone: break;
  }
  return "identity";
}

std::optional<Compression> parse_encoding(std::string_view name) {
  if (name == "identity") return Compression::kNone;
  if (name == "gzip") return Compression::kGzip;
  if (name == "deflate") return Compression::kDeflate;
  return std::nullopt;
}

std::string_view accept_encoding_value(EncodingSet set) {
  static constexpr std::string_view kValues[4] = {"identity", "identity,deflate", "identity,gzip",
                                                   "identity,deflate,gzip"};
  int deflate = contains(set, Compression::kDeflate) ? 1 : 0;
  int gzip = contains(set, Compression::kGzip) ? 2 : 0;
  return kValues[deflate + gzip];
}

EncodingSet parse_accept_encoding(std::string_view value) {
  EncodingSet set = kIdentityOnly;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (auto c = parse_encoding(item)) set |= static_cast<EncodingSet>(1u << static_cast<int>(*c));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return set;
}

bool compress_message(Compression c, std::string_view in, std::string& out) {
  out.clear();
  if (c == Compression::kNone || in.empty()) return false;
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits(c), 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  // Anything not smaller than the input is useless: stop as soon as the output reaches it.
  out.resize(in.size() - 1);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  size_t in_left = in.size(), out_left = out.size();
  int rc = Z_OK;
  while (rc == Z_OK) {
    uInt in_chunk = clamp_to_uint(in_left), out_chunk = clamp_to_uint(out_left);
    z.avail_in = in_chunk;
    z.avail_out = out_chunk;
    bool last_input = in_chunk == in_left;
    rc = deflate(&z, last_input ? Z_FINISH : Z_NO_FLUSH);
    in_left -= in_chunk - z.avail_in;
    out_left -= out_chunk - z.avail_out;
    if (out_left == 0 && rc != Z_STREAM_END) rc = Z_BUF_ERROR;  // would not be smaller
  }
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    out.clear();
    return false;
  }
  out.resize(out.size() - out_left);
  return true;
}

InflateError decompress_message(Compression c, std::string_view in, int64_t max_size,
                                std::string& out) {
  out.clear();
  if (c == Compression::kNone) {
    if (max_size >= 0 && static_cast<int64_t>(in.size()) > max_size) return InflateError::kTooLarge;
    out.assign(in);
    return InflateError::kNone;
  }
  z_stream z{};
  if (inflateInit2(&z, window_bits(c)) != Z_OK) return InflateError::kCorrupt;
  // One byte past the limit is enough to know it is too large; never inflate further.
  size_t cap = max_size < 0 ? SIZE_MAX : static_cast<size_t>(max_size) + 1;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  size_t in_left = in.size(), produced = 0;
  InflateError result = InflateError::kCorrupt;
  for (;;) {
    if (produced == out.size()) {
      if (produced >= cap) {
        result = InflateError::kTooLarge;
        break;
      }
      size_t grow = std::max(kInflateChunk, out.size());
      size_t target = std::min(cap, produced + grow);
      out.resize(target);  // growth may double capacity: memory stays under twice the cap
    }
    uInt in_chunk = clamp_to_uint(in_left), out_chunk = clamp_to_uint(out.size() - produced);
    z.avail_in = in_chunk;
    z.avail_out = out_chunk;
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    int rc = inflate(&z, Z_NO_FLUSH);
    in_left -= in_chunk - z.avail_in;
    produced += out_chunk - z.avail_out;
    if (rc == Z_STREAM_END) {
      // Bytes after the end of the compressed data are not part of any valid message.
      result = in_left == 0 ? InflateError::kNone : InflateError::kCorrupt;
      break;
    }
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_out == 0)) break;  // corrupt or truncated
    if (rc == Z_OK && in_left == 0 && z.avail_out != 0) break;           // truncated input
  }
  inflateEnd(&z);
  if (result == InflateError::kNone && max_size >= 0 && produced > static_cast<size_t>(max_size))
    result = InflateError::kTooLarge;
  out.resize(result == InflateError::kNone ? produced : 0);
  return result;
}

}  // namespace turbogrpc::internal
