// Tests for codec/percent_encoding: the grpc-message encoding.
#include "codec/percent_encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace turbogrpc::internal {
namespace {

TEST(PercentEncode, PrintableAsciiUnchanged) {
  EXPECT_EQ(percent_encode(""), "");
  EXPECT_EQ(percent_encode("Hello, world! ~{}[]"), "Hello, world! ~{}[]");
  std::string all_printable;
  for (int c = 0x20; c <= 0x7E; ++c) {
    if (c != '%') all_printable.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(percent_encode(all_printable), all_printable);
}

TEST(PercentEncode, PercentSignIsEncoded) {
  EXPECT_EQ(percent_encode("100%"), "100%25");
  EXPECT_EQ(percent_encode("%%"), "%25%25");
}

TEST(PercentEncode, ControlAndHighBytesUppercaseHex) {
  EXPECT_EQ(percent_encode(std::string("a\nb\tc\x7F", 6)), "a%0Ab%09c%7F");
  EXPECT_EQ(percent_encode(std::string("\0\x1F", 2)), "%00%1F");
  EXPECT_EQ(percent_encode("\xFF\xAB"), "%FF%AB");
}

TEST(PercentEncode, UnicodeEncodesUtf8Bytes) {
  EXPECT_EQ(percent_encode("caf\xC3\xA9"), "caf%C3%A9");                  // é
  EXPECT_EQ(percent_encode("\xE3\x81\x82"), "%E3%81%82");                 // あ
  EXPECT_EQ(percent_encode("\xF0\x9F\x98\x80!"), "%F0%9F%98%80!");        // 😀
}

TEST(PercentDecode, ValidSequencesEitherCase) {
  EXPECT_EQ(percent_decode("100%25"), "100%");
  EXPECT_EQ(percent_decode("caf%C3%A9"), "caf\xC3\xA9");
  EXPECT_EQ(percent_decode("caf%c3%a9"), "caf\xC3\xA9");
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(percent_decode("no escapes here"), "no escapes here");
}

TEST(PercentDecode, InvalidSequencesKeptLiterally) {
  EXPECT_EQ(percent_decode("%"), "%");
  EXPECT_EQ(percent_decode("50%"), "50%");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%G1"), "%G1");
  EXPECT_EQ(percent_decode("%1G"), "%1G");
  EXPECT_EQ(percent_decode("% 1x"), "% 1x");
  EXPECT_EQ(percent_decode("%%41"), "%A");  // the first '%' is literal, then %41 decodes
  EXPECT_EQ(percent_decode("a%zzb%41"), "a%zzbA");
}

TEST(PercentRoundTrip, AllBytes) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string encoded = percent_encode(all);
  for (char c : encoded) {
    EXPECT_GE(c, 0x20);
    EXPECT_LE(c, 0x7E);
  }
  EXPECT_EQ(percent_decode(encoded), all);
}

TEST(PercentRoundTrip, UnicodeMessage) {
  std::string message = "\xE2\x9C\x93 done: 50% of \xE6\x97\xA5\xE6\x9C\xAC\n";
  EXPECT_EQ(percent_decode(percent_encode(message)), message);
}

}  // namespace
}  // namespace turbogrpc::internal
