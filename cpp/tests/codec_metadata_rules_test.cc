// Tests for codec/metadata_rules: key validity, binary keys, ASCII values, hidden headers.
#include "codec/metadata_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace turbogrpc::internal {
namespace {

TEST(CheckMetadataKey, LegalKeys) {
  for (const char* key : {"x", "authorization", "my-key", "trace_id", "a.b.c", "key-0123456789",
                          "x-bin", "grpc-status-details-bin", "grpc-retry-pushback-ms", "grpcx", "grpc", "tea",
                          "user-agentx", "x-grpc-foo"}) {
    EXPECT_EQ(check_metadata_key(key), KeyProblem::kNone) << key;
  }
}

TEST(CheckMetadataKey, Empty) { EXPECT_EQ(check_metadata_key(""), KeyProblem::kEmpty); }

TEST(CheckMetadataKey, InvalidCharacters) {
  for (const char* key : {"Upper", "mY-key", "with space", "a/b", "a:b", "tab\t", "caf\xC3\xA9",
                          "x+y", "a=b"}) {
    EXPECT_EQ(check_metadata_key(key), KeyProblem::kInvalidCharacter) << key;
  }
  EXPECT_EQ(check_metadata_key(std::string("a\0b", 3)), KeyProblem::kInvalidCharacter);
}

TEST(CheckMetadataKey, Reserved) {
  for (const char* key : {":path", ":authority", ":", "grpc-", "grpc-status", "grpc-message",
                          "grpc-timeout", "grpc-foo", "grpc-status-details", "grpc-foo-bin",
                          "content-type", "te", "user-agent", "host", "connection", "keep-alive",
                          "proxy-connection", "transfer-encoding", "upgrade"}) {
    EXPECT_EQ(check_metadata_key(key), KeyProblem::kReserved) << key;
  }
}

TEST(Describe, DistinctNonEmptyTexts) {
  const KeyProblem all[] = {KeyProblem::kNone, KeyProblem::kEmpty, KeyProblem::kInvalidCharacter,
                            KeyProblem::kReserved};
  for (KeyProblem a : all) {
    ASSERT_NE(describe(a), nullptr);
    EXPECT_GT(std::string(describe(a)).size(), 0u);
    for (KeyProblem b : all) {
      if (a != b) {
        EXPECT_NE(std::string(describe(a)), std::string(describe(b)));
      }
    }
  }
  EXPECT_NE(std::string(describe(KeyProblem::kReserved)).find("reserved"), std::string::npos);
}

TEST(IsBinaryKey, SuffixOnly) {
  EXPECT_TRUE(is_binary_key("trace-bin"));
  EXPECT_TRUE(is_binary_key("grpc-status-details-bin"));
  EXPECT_FALSE(is_binary_key("trace"));
  EXPECT_FALSE(is_binary_key("bin"));
  EXPECT_FALSE(is_binary_key("trace-bin-x"));
  EXPECT_FALSE(is_binary_key("tracebin"));
  EXPECT_FALSE(is_binary_key(""));
}

TEST(IsValidAsciiValue, PrintableOnly) {
  EXPECT_TRUE(is_valid_ascii_value(""));
  EXPECT_TRUE(is_valid_ascii_value("Bearer abc.def ~!@#$%^&*()"));
  std::string all_printable;
  for (int c = 0x20; c <= 0x7E; ++c) all_printable.push_back(static_cast<char>(c));
  EXPECT_TRUE(is_valid_ascii_value(all_printable));
  EXPECT_FALSE(is_valid_ascii_value("line\nbreak"));
  EXPECT_FALSE(is_valid_ascii_value("tab\t"));
  EXPECT_FALSE(is_valid_ascii_value("del\x7F"));
  EXPECT_FALSE(is_valid_ascii_value("caf\xC3\xA9"));
  EXPECT_FALSE(is_valid_ascii_value(std::string("nul\0", 4)));
}

TEST(IsHiddenReceivedHeader, HiddenNames) {
  for (const char* name : {":status", ":path", ":authority", "content-type", "te", "grpc-status",
                           "grpc-message", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
                           "grpc-internal-encoding-request"}) {
    EXPECT_TRUE(is_hidden_received_header(name)) << name;
  }
}

TEST(IsHiddenReceivedHeader, SurfacedNames) {
  for (const char* name : {"user-agent", "grpc-status-details-bin", "authorization", "x-bin",
                           "grpc-custom", "content-length", "grpc-status-x", "tee"}) {
    EXPECT_FALSE(is_hidden_received_header(name)) << name;
  }
}

}  // namespace
}  // namespace turbogrpc::internal
