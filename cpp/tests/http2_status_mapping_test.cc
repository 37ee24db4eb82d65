// Tests for rpc/status_mapping: how HTTP statuses, RST_STREAM codes and the grpc-status trailer
// become gRPC status codes (tables from the gRPC spec, doc/http-grpc-status-mapping.md and
// PROTOCOL-HTTP2.md "Errors").
#include "rpc/status_mapping.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <optional>
#include <string>

namespace turbogrpc::internal {
namespace {

TEST(StatusMapping, HttpStatusFollowsTheSpecTable) {
  struct Case {
    int http;
    StatusCode expected;
  };
  const Case kCases[] = {
      {400, StatusCode::kInternal},        {401, StatusCode::kUnauthenticated},
      {403, StatusCode::kPermissionDenied}, {404, StatusCode::kUnimplemented},
      {429, StatusCode::kUnavailable},     {502, StatusCode::kUnavailable},
      {503, StatusCode::kUnavailable},     {504, StatusCode::kUnavailable},
      // Everything else is UNKNOWN, including codes that look successful or are redirects.
      {500, StatusCode::kUnknown},         {418, StatusCode::kUnknown},
      {302, StatusCode::kUnknown},         {201, StatusCode::kUnknown},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.http);
    Status s = status_from_http(c.http);
    EXPECT_EQ(s.code, c.expected) << status_code_name(s.code);
    // The details name the HTTP status, so a user can tell a proxy's 503 from a server's.
    EXPECT_NE(s.details.find(std::to_string(c.http)), std::string::npos) << s.details;
    EXPECT_FALSE(s.ok());
  }
}

TEST(StatusMapping, RstStreamCodes) {
  struct Case {
    uint32_t error_code;
    StatusCode expected;
    const char* name;  // what the details should mention
  };
  const Case kCases[] = {
      {NGHTTP2_CANCEL, StatusCode::kCancelled, "CANCEL"},
      {NGHTTP2_REFUSED_STREAM, StatusCode::kUnavailable, "REFUSED_STREAM"},
      {NGHTTP2_ENHANCE_YOUR_CALM, StatusCode::kResourceExhausted, "ENHANCE_YOUR_CALM"},
      {NGHTTP2_INADEQUATE_SECURITY, StatusCode::kPermissionDenied, "INADEQUATE_SECURITY"},
      // The spec maps the rest (and a reset with NO_ERROR before trailers) to INTERNAL.
      {NGHTTP2_PROTOCOL_ERROR, StatusCode::kInternal, "PROTOCOL_ERROR"},
      {NGHTTP2_INTERNAL_ERROR, StatusCode::kInternal, "INTERNAL_ERROR"},
      {NGHTTP2_FLOW_CONTROL_ERROR, StatusCode::kInternal, "FLOW_CONTROL_ERROR"},
      {NGHTTP2_NO_ERROR, StatusCode::kInternal, "NO_ERROR"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Status s = status_from_rst_stream(c.error_code);
    EXPECT_EQ(s.code, c.expected) << status_code_name(s.code);
    EXPECT_NE(s.details.find(c.name), std::string::npos) << s.details;
  }
}

TEST(StatusMapping, RstStreamUnknownCodeDoesNotCrash) {
  // Peers may send codes outside RFC 9113's table; they are still a reset, so INTERNAL.
  Status s = status_from_rst_stream(0xdeadbeef);
  EXPECT_EQ(s.code, StatusCode::kInternal);
  EXPECT_NE(s.details.find(std::to_string(0xdeadbeefu)), std::string::npos) << s.details;
}

TEST(StatusMapping, ParseGrpcStatusNumbers) {
  EXPECT_EQ(parse_grpc_status("0"), StatusCode::kOk);
  EXPECT_EQ(parse_grpc_status("1"), StatusCode::kCancelled);
  EXPECT_EQ(parse_grpc_status("5"), StatusCode::kNotFound);
  EXPECT_EQ(parse_grpc_status("14"), StatusCode::kUnavailable);
  EXPECT_EQ(parse_grpc_status("16"), StatusCode::kUnauthenticated);
}

TEST(StatusMapping, ParseGrpcStatusUnknownNumberIsUnknown) {
  // A well-formed number we do not know is UNKNOWN (gRPC spec), not a parse failure.
  EXPECT_EQ(parse_grpc_status("17"), StatusCode::kUnknown);
  EXPECT_EQ(parse_grpc_status("99"), StatusCode::kUnknown);
  EXPECT_EQ(parse_grpc_status("123456789"), StatusCode::kUnknown);
}

TEST(StatusMapping, ParseGrpcStatusRejectsNonNumbers) {
  EXPECT_EQ(parse_grpc_status(""), std::nullopt);
  EXPECT_EQ(parse_grpc_status("x"), std::nullopt);
  EXPECT_EQ(parse_grpc_status("-1"), std::nullopt);
  EXPECT_EQ(parse_grpc_status("+1"), std::nullopt);
  EXPECT_EQ(parse_grpc_status(" 0"), std::nullopt);
  EXPECT_EQ(parse_grpc_status("0 "), std::nullopt);
  EXPECT_EQ(parse_grpc_status("1a"), std::nullopt);
  EXPECT_EQ(parse_grpc_status("0x1"), std::nullopt);
}

TEST(StatusMapping, StatusCodeNames) {
  EXPECT_STREQ(status_code_name(StatusCode::kOk), "OK");
  EXPECT_STREQ(status_code_name(StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_STREQ(status_code_name(StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_STREQ(status_code_name(static_cast<StatusCode>(17)), "UNKNOWN");
  EXPECT_STREQ(status_code_name(static_cast<StatusCode>(-1)), "UNKNOWN");
}

}  // namespace
}  // namespace turbogrpc::internal
