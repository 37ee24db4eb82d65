#include "codec/compression.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace turbogrpc::internal {
namespace {

std::string repetitive(size_t n) {
  std::string s;
  while (s.size() < n) s += "turbogrpc compresses repetitive text well; ";
  s.resize(n);
  return s;
}

std::string random_bytes(size_t n) {
  std::mt19937 gen(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

class RoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(RoundTrip, CompressesAndRestoresTheMessage) {
  std::string in = repetitive(200000), packed, out;
  ASSERT_TRUE(compress_message(GetParam(), in, packed));
  EXPECT_LT(packed.size(), in.size() / 10);
  ASSERT_EQ(decompress_message(GetParam(), packed, -1, out), InflateError::kNone);
  EXPECT_EQ(out, in);
}

TEST_P(RoundTrip, DeclinesWhenTheResultWouldNotBeSmaller) {
  std::string packed;
  EXPECT_FALSE(compress_message(GetParam(), random_bytes(4096), packed));
  EXPECT_FALSE(compress_message(GetParam(), "", packed));
  EXPECT_TRUE(packed.empty());
}

TEST_P(RoundTrip, StopsInflatingABombAtTheLimit) {
  std::string zeros(64 << 20, '\0'), packed, out;
  ASSERT_TRUE(compress_message(GetParam(), zeros, packed));
  EXPECT_LT(packed.size(), 256u << 10);
  EXPECT_EQ(decompress_message(GetParam(), packed, 4 << 20, out), InflateError::kTooLarge);
  EXPECT_TRUE(out.empty());
  EXPECT_LE(out.capacity(), 2 * ((4u << 20) + 1));  // 64 MiB were never inflated
}

TEST_P(RoundTrip, AcceptsAMessageExactlyAtTheLimit) {
  std::string in = repetitive(100000), packed, out;
  ASSERT_TRUE(compress_message(GetParam(), in, packed));
  EXPECT_EQ(decompress_message(GetParam(), packed, 100000, out), InflateError::kNone);
  EXPECT_EQ(decompress_message(GetParam(), packed, 99999, out), InflateError::kTooLarge);
}

TEST_P(RoundTrip, RejectsCorruptTruncatedAndTrailingBytes) {
  std::string in = repetitive(50000), packed, out;
  ASSERT_TRUE(compress_message(GetParam(), in, packed));
  EXPECT_EQ(decompress_message(GetParam(), packed.substr(0, packed.size() / 2), -1, out),
            InflateError::kCorrupt);
  EXPECT_EQ(decompress_message(GetParam(), packed + "junk", -1, out), InflateError::kCorrupt);
  EXPECT_EQ(decompress_message(GetParam(), "not compressed at all", -1, out), InflateError::kCorrupt);
  EXPECT_EQ(decompress_message(GetParam(), "", -1, out), InflateError::kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RoundTrip,
                         ::testing::Values(Compression::kGzip, Compression::kDeflate));

TEST(Compression, GzipAndDeflateAreDifferentFormats) {
  std::string in = repetitive(10000), gz, out;
  ASSERT_TRUE(compress_message(Compression::kGzip, in, gz));
  EXPECT_EQ(static_cast<uint8_t>(gz[0]), 0x1f);  // gzip magic
  EXPECT_EQ(decompress_message(Compression::kDeflate, gz, -1, out), InflateError::kCorrupt);
}

TEST(Compression, IdentityIsACopyWithTheLimitApplied) {
  std::string out;
  EXPECT_EQ(decompress_message(Compression::kNone, "abc", 3, out), InflateError::kNone);
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(decompress_message(Compression::kNone, "abcd", 3, out), InflateError::kTooLarge);
}

TEST(Compression, EncodingNames) {
  EXPECT_EQ(parse_encoding("gzip"), Compression::kGzip);
  EXPECT_EQ(parse_encoding("deflate"), Compression::kDeflate);
  EXPECT_EQ(parse_encoding("identity"), Compression::kNone);
  EXPECT_EQ(parse_encoding("br"), std::nullopt);
  EXPECT_EQ(parse_encoding("GZIP"), std::nullopt);
  for (auto c : {Compression::kNone, Compression::kDeflate, Compression::kGzip})
    EXPECT_EQ(parse_encoding(encoding_name(c)), c);
}

TEST(Compression, AcceptEncodingLists) {
  EncodingSet all = parse_accept_encoding(kAcceptEncodingValue);
  EXPECT_TRUE(contains(all, Compression::kGzip));
  EXPECT_TRUE(contains(all, Compression::kDeflate));
  EncodingSet gzip_only = parse_accept_encoding(" gzip , br");
  EXPECT_TRUE(contains(gzip_only, Compression::kGzip));
  EXPECT_FALSE(contains(gzip_only, Compression::kDeflate));
  EXPECT_TRUE(contains(gzip_only, Compression::kNone));  // identity is always acceptable
  EXPECT_EQ(parse_accept_encoding(""), kIdentityOnly);
}

}  // namespace
}  // namespace turbogrpc::internal
