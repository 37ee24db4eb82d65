// libFuzzer target for codec/compression: gzip/deflate decompression under a max size, and the
// compress -> decompress round trip. The decompressor is compared with a plain zlib inflate of
// the same bytes, so the checks are exact: valid data gives the same bytes within the limit and
// kTooLarge past it; corrupt data never passes; nothing over the limit is ever returned.
//
// Input layout:
//   byte 0      bit 0: gzip (else deflate); bit 1: also decompress with no limit
//   bytes 1-2   max message size, big endian
//   the rest    data, decompressed as it is and also compressed and decompressed again
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/compression.h"
#include "fuzz_check.h"

namespace {

namespace ti = turbogrpc::internal;
using turbogrpc::Compression;
using ti::InflateError;

// The reference inflate stops once it has produced more than this (a bomb); every max size the
// input can pick is below it.
constexpr size_t kRefCap = size_t{1} << 20;

int window_bits(Compression c) { return c == Compression::kGzip ? 15 + 16 : 15; }

struct RefInflate {
  enum Kind { kValid, kInvalid, kOverCap } kind = kInvalid;
  std::string out;  // kValid: the message; kInvalid: what came out before the error
};

// zlib's inflate, all input at once: valid means one complete stream and nothing after it.
RefInflate ref_inflate(Compression c, std::string_view in) {
  RefInflate r;
  z_stream z{};
  FUZZ_CHECK(inflateInit2(&z, window_bits(c)) == Z_OK, "inflateInit2");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  size_t produced = 0;
  r.out.resize(4096);
  for (;;) {
    if (produced == r.out.size()) r.out.resize(r.out.size() * 2);
    z.next_out = reinterpret_cast<Bytef*>(r.out.data() + produced);
    z.avail_out = static_cast<uInt>(r.out.size() - produced);
    int rc = inflate(&z, Z_NO_FLUSH);
    produced = r.out.size() - z.avail_out;
    if (rc == Z_STREAM_END) {
      r.kind = z.avail_in == 0 ? RefInflate::kValid : RefInflate::kInvalid;
      break;
    }
    if (produced > kRefCap) {
      r.kind = RefInflate::kOverCap;
      break;
    }
    if (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0)) continue;
    r.kind = RefInflate::kInvalid;  // bad data, a preset dictionary, or truncated (Z_BUF_ERROR)
    break;
  }
  inflateEnd(&z);
  r.out.resize(produced);
  return r;
}

// Deflate with the parameters compress_message documents (default level, window and strategy).
std::string ref_deflate(Compression c, std::string_view in) {
  z_stream z{};
  FUZZ_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits(c), 8,
                          Z_DEFAULT_STRATEGY) == Z_OK,
             "deflateInit2");
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "reference deflate did not finish");
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

// decompress_message with `max` must agree with the reference inflate `ref` of the same bytes.
void check_decompress(Compression c, std::string_view in, int64_t max, const RefInflate& ref) {
  std::string out = "stale";  // replaced whatever the outcome
  InflateError e = ti::decompress_message(c, in, max, out);
  if (e != InflateError::kNone) FUZZ_CHECK(out.empty(), "output left behind after an error");
  if (max >= 0) FUZZ_CHECK(out.size() <= static_cast<size_t>(max), "output over max size");
  const bool over = max >= 0 && ref.out.size() > static_cast<size_t>(max);
  switch (ref.kind) {
    case RefInflate::kValid:
      if (over) {
        FUZZ_CHECK(e == InflateError::kTooLarge, "valid data over the limit not kTooLarge");
      } else {
        FUZZ_CHECK(e == InflateError::kNone, "valid data within the limit rejected");
        FUZZ_CHECK(out == ref.out, "decompressed bytes differ from zlib's");
      }
      break;
    case RefInflate::kInvalid:
      // The limit may be hit before the corruption is reached; otherwise it must be reported.
      if (over) {
        FUZZ_CHECK(e == InflateError::kTooLarge || e == InflateError::kCorrupt,
                   "corrupt data over the limit accepted");
      } else {
        FUZZ_CHECK(e == InflateError::kCorrupt, "corrupt data not reported as kCorrupt");
      }
      break;
    case RefInflate::kOverCap:
      FUZZ_CHECK(max >= 0 && static_cast<size_t>(max) < kRefCap, "unbounded run on a bomb");
      FUZZ_CHECK(e == InflateError::kTooLarge, "a bomb not stopped at the limit");
      break;
  }
}

// grpc-accept-encoding, restated: comma-separated names, spaces and tabs around them ignored.
ti::EncodingSet spec_accept_encoding(std::string_view value) {
  ti::EncodingSet set = ti::kIdentityOnly;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view item = value.substr(start, end - start);
    size_t b = item.find_first_not_of(" \t");
    size_t e = item.find_last_not_of(" \t");
    item = b == std::string_view::npos ? std::string_view() : item.substr(b, e - b + 1);
    if (item == "gzip") set |= 1u << static_cast<int>(Compression::kGzip);
    if (item == "deflate") set |= 1u << static_cast<int>(Compression::kDeflate);
    start = end + 1;
  }
  return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const Compression c = (data[0] & 1) ? Compression::kGzip : Compression::kDeflate;
  const bool also_unlimited = data[0] & 2;
  const int64_t max = (data[1] << 8) | data[2];
  std::string_view payload(reinterpret_cast<const char*>(data + 3), size - 3);

  // 1. Decompress the data as received, under the input's limit, at the exact size, one byte
  //    under it, and (if asked) with no limit.
  const RefInflate ref = ref_inflate(c, payload);
  check_decompress(c, payload, max, ref);
  if (ref.kind == RefInflate::kValid) {
    const int64_t exact = static_cast<int64_t>(ref.out.size());
    check_decompress(c, payload, exact, ref);
    if (exact > 0) check_decompress(c, payload, exact - 1, ref);
  }
  if (also_unlimited && ref.kind != RefInflate::kOverCap) check_decompress(c, payload, -1, ref);

  // Identity: the bytes as they are, within the limit.
  std::string plain;
  InflateError e = ti::decompress_message(Compression::kNone, payload, max, plain);
  if (static_cast<int64_t>(payload.size()) <= max) {
    FUZZ_CHECK(e == InflateError::kNone && plain == payload, "identity changed the bytes");
  } else {
    FUZZ_CHECK(e == InflateError::kTooLarge && plain.empty(), "identity over the limit passed");
  }

  // 2. Compress, then decompress: the same bytes, and compressed only when that is smaller.
  std::string compressed;
  bool smaller = ti::compress_message(c, payload, compressed);
  std::string expected = ref_deflate(c, payload);
  FUZZ_CHECK(smaller == (!payload.empty() && expected.size() < payload.size()),
             "compress_message declined a smaller result, or kept a larger one");
  if (smaller) {
    FUZZ_CHECK(compressed == expected, "compressed bytes differ from zlib's");
    std::string round;
    FUZZ_CHECK(ti::decompress_message(c, compressed, static_cast<int64_t>(payload.size()),
                                      round) == InflateError::kNone,
               "our own compressed message does not decompress");
    FUZZ_CHECK(round == payload, "compress -> decompress changed the bytes");
    FUZZ_CHECK(ti::decompress_message(c, compressed, static_cast<int64_t>(payload.size()) - 1,
                                      round) == InflateError::kTooLarge,
               "a limit one byte under the message not enforced");
  }
  FUZZ_CHECK(!ti::compress_message(Compression::kNone, payload, compressed),
             "identity 'compressed' a message");

  // Encoding names: grpc-accept-encoding lists and single names.
  ti::EncodingSet set = ti::parse_accept_encoding(payload);
  FUZZ_CHECK(ti::contains(set, Compression::kNone), "identity missing from an accept set");
  FUZZ_CHECK(set == spec_accept_encoding(payload), "parse_accept_encoding disagrees with spec");
  if (auto named = ti::parse_encoding(payload)) {
    FUZZ_CHECK(ti::encoding_name(*named) == payload, "encoding name does not round trip");
  }
  return 0;
}
