// Tests for codec/base64: RFC 4648 vectors, unpadded output, padded/unpadded input, rejects.
#include "codec/base64.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace turbogrpc::internal {
namespace {

struct Vector {
  const char* plain;
  const char* unpadded;
  const char* padded;
};

// RFC 4648 section 10.
constexpr Vector kRfc4648Vectors[] = {
    {"", "", ""},
    {"f", "Zg", "Zg=="},
    {"fo", "Zm8", "Zm8="},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg", "Zm9vYg=="},
    {"fooba", "Zm9vYmE", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64Encode, Rfc4648VectorsWithoutPadding) {
  for (const Vector& v : kRfc4648Vectors) {
    EXPECT_EQ(base64_encode(v.plain), v.unpadded) << v.plain;
  }
}

TEST(Base64Decode, Rfc4648VectorsPaddedAndUnpadded) {
  for (const Vector& v : kRfc4648Vectors) {
    EXPECT_EQ(base64_decode(v.padded), std::optional<std::string>(v.plain)) << v.padded;
    EXPECT_EQ(base64_decode(v.unpadded), std::optional<std::string>(v.plain)) << v.unpadded;
  }
}

TEST(Base64Encode, UsesStandardAlphabet) {
  EXPECT_EQ(base64_encode("\xFB\xFF"), "+/8");
  EXPECT_EQ(base64_encode(std::string("\0\0\0", 3)), "AAAA");
  EXPECT_EQ(base64_encode("\xFF\xFF\xFF"), "////");
}

TEST(Base64, BinaryRoundTrip) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t len = 0; len <= all.size(); len += 1) {
    std::string bytes = all.substr(0, len);
    std::string text = base64_encode(bytes);
    EXPECT_EQ(text.find('='), std::string::npos);
    EXPECT_EQ(base64_decode(text), std::optional<std::string>(bytes)) << len;
  }
}

TEST(Base64Decode, RejectsInvalidCharacters) {
  for (const char* bad : {"Zm9v!", "Zm-v", "Zm_v", "Zm9 v", "Zm9v\n", "Zm\x80v", "Zg=a",
                          "Z=g=", "=Zg="}) {
    EXPECT_EQ(base64_decode(bad), std::nullopt) << bad;
  }
}

TEST(Base64Decode, RejectsBadLengthAndPadding) {
  for (const char* bad : {"Z", "Zm9vY", "Z===", "Zg=", "Zg===", "Zm8==", "=", "==", "===="}) {
    EXPECT_EQ(base64_decode(bad), std::nullopt) << bad;
  }
}

TEST(Base64Decode, RejectsNulByte) {
  EXPECT_EQ(base64_decode(std::string("Zm\0v", 4)), std::nullopt);
}

}  // namespace
}  // namespace turbogrpc::internal
