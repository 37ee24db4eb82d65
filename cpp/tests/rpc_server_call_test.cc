// ServerCall alone: its StreamPort (rpc/stream_port.h) is a recorder instead of a connection,
// so what the call puts on the wire — response headers, trailers, resets — is checked without
// sockets or nghttp2.
#include "rpc/server_call.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

namespace turbogrpc::internal {
namespace {

// What a call asked of its stream, with the viewed strings copied out.
struct RecordingPort final : StreamPort {
  struct Submission {
    Metadata fields;
    Metadata metadata;
    bool trailers = false;
    bool body_follows = false;
  };
  void resume_data(int32_t) override { ++resumes; }
  void return_stream_window(int32_t, size_t bytes) override { window_returned += bytes; }
  void reset_stream(int32_t, uint32_t error_code) override { resets.push_back(error_code); }
  bool submit_response(int32_t, const HeaderFields& fields, const Metadata& metadata,
                       ResponseBody body) override {
    submissions.push_back({copy(fields), metadata, false, body == ResponseBody::kFollows});
    return accept;
  }
  bool submit_trailers(int32_t, const HeaderFields& fields, const Metadata& metadata) override {
    submissions.push_back({copy(fields), metadata, true, false});
    return accept;
  }
  static Metadata copy(const HeaderFields& fields) {
    Metadata out;
    for (const auto& [name, value] : fields) out.emplace_back(std::string(name), std::string(value));
    return out;
  }

  bool accept = true;  // what the submissions return
  int resumes = 0;
  size_t window_returned = 0;
  std::vector<uint32_t> resets;
  std::vector<Submission> submissions;
};

std::string value_of(const Metadata& fields, const std::string& name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return "<absent>";
}

class ServerCallTest : public ::testing::Test {
 protected:
  // A call whose request headers arrived (a gRPC POST to /test.Svc/M), attached to port_.
  void receive_request() {
    call_.attach(&port_, 1);
    for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
             {":method", "POST"}, {":scheme", "http"}, {":path", "/test.Svc/M"},
             {":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"},
             {"grpc-accept-encoding", "identity,gzip"}}) {
      call_.on_header(name, value);
    }
    ASSERT_TRUE(call_.on_request_headers(/*end_stream=*/false, /*preread=*/false));
    std::vector<Event> events = cq_->drain();
    ASSERT_EQ(events.size(), 1u);
    ASSERT_EQ(events[0].kind, EventKind::kServerCall);
  }

  // Drives the data source as nghttp2 would until it reports the end; returns the DATA bytes.
  std::string drain_data_source() {
    std::string out;
    for (int frames = 0; frames < 100; ++frames) {
      uint32_t flags = 0;
      ssize_t n = call_.read_outbound(16 * 1024, &flags);
      if (n < 0) break;  // deferred: nothing more for now
      call_.take_outbound(static_cast<size_t>(n), out);
      if (flags & NGHTTP2_DATA_FLAG_EOF) break;
    }
    return out;
  }

  std::shared_ptr<CompletionQueue> cq_ = std::make_shared<CompletionQueue>();
  CallRegistry registry_;
  RecordingPort port_;
  ServerCall call_{7, 1, cq_, ServerOptions{}, registry_, nullptr, "unix:/test"};
};

TEST_F(ServerCallTest, FinishWithoutAMessageIsOneTrailersOnlyHeaderBlock) {
  receive_request();
  FinishCommand finish;
  finish.call_id = 7;
  finish.status = {StatusCode::kNotFound, "gone: \xc3\xa9"};
  finish.trailing_metadata = {{"x-why", "because"}, {"x-raw-bin", std::string("\xff\x00", 2)}};
  call_.finish(std::move(finish));

  ASSERT_EQ(port_.submissions.size(), 1u);
  const auto& s = port_.submissions[0];
  EXPECT_FALSE(s.trailers);
  EXPECT_FALSE(s.body_follows);  // the headers end the stream
  EXPECT_EQ(s.fields[0], (MetadataEntry{":status", "200"}));  // pseudo-header first
  EXPECT_EQ(value_of(s.fields, "content-type"), "application/grpc");
  EXPECT_EQ(value_of(s.fields, "grpc-status"), "5");
  EXPECT_EQ(value_of(s.fields, "grpc-message"), "gone: %C3%A9");
  // Metadata reaches the port as the application gave it: encoding -bin values is the port's job.
  EXPECT_EQ(s.metadata, (Metadata{{"x-why", "because"}, {"x-raw-bin", std::string("\xff\x00", 2)}}));
  EXPECT_TRUE(port_.resets.empty());
}

TEST_F(ServerCallTest, FinishWithAMessageSendsHeadersThenDataThenTrailers) {
  receive_request();
  FinishCommand finish;
  finish.call_id = 7;
  finish.initial_metadata = {{"x-initial", "1"}};
  finish.message = "pong";
  finish.status = {StatusCode::kOk, ""};
  finish.trailing_metadata = {{"x-trailing", "2"}};
  call_.finish(std::move(finish));

  ASSERT_EQ(port_.submissions.size(), 1u);
  EXPECT_TRUE(port_.submissions[0].body_follows);
  EXPECT_EQ(port_.submissions[0].metadata, (Metadata{{"x-initial", "1"}}));
  EXPECT_EQ(value_of(port_.submissions[0].fields, "grpc-status"), "<absent>");

  EXPECT_EQ(drain_data_source(), std::string("\0\0\0\0\4pong", 9));
  ASSERT_EQ(port_.submissions.size(), 2u);
  const auto& trailers = port_.submissions[1];
  EXPECT_TRUE(trailers.trailers);
  EXPECT_EQ(trailers.fields, (Metadata{{"grpc-status", "0"}}));  // no grpc-message when empty
  EXPECT_EQ(trailers.metadata, (Metadata{{"x-trailing", "2"}}));
}

TEST_F(ServerCallTest, ResponseHeadersTheSessionRefusesResetTheStream) {
  receive_request();
  port_.accept = false;
  FinishCommand finish;
  finish.call_id = 7;
  finish.status = {StatusCode::kInternal, "x"};
  call_.finish(std::move(finish));
  EXPECT_EQ(port_.resets, (std::vector<uint32_t>{NGHTTP2_INTERNAL_ERROR}));
}

TEST_F(ServerCallTest, ARequestThatIsNotPostGetsHttp405AndNoCall) {
  call_.attach(&port_, 1);
  call_.on_header(":method", "GET");
  call_.on_header(":path", "/test.Svc/M");
  call_.on_header("content-type", "application/grpc");
  EXPECT_FALSE(call_.on_request_headers(/*end_stream=*/true, /*preread=*/false));
  ASSERT_EQ(port_.submissions.size(), 1u);
  EXPECT_EQ(port_.submissions[0].fields[0], (MetadataEntry{":status", "405"}));
  EXPECT_FALSE(port_.submissions[0].body_follows);
  EXPECT_TRUE(cq_->drain().empty());
}

TEST(ServerCallCompressionTest, DisabledAlgorithmIsUnimplementedAndNeverOffered) {
  auto cq = std::make_shared<CompletionQueue>();
  CallRegistry registry;
  RecordingPort port;
  ServerOptions options;
  options.enabled_compression = 0b101;  // identity and gzip; deflate disabled
  ServerCall deflated{7, 1, cq, options, registry, nullptr, "unix:/test"};
  deflated.attach(&port, 1);
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {":method", "POST"}, {":path", "/test.Svc/M"}, {"content-type", "application/grpc"},
           {"grpc-encoding", "deflate"}, {"grpc-accept-encoding", "identity,deflate,gzip"}})
    deflated.on_header(name, value);
  EXPECT_FALSE(deflated.on_request_headers(/*end_stream=*/false, /*preread=*/false));
  EXPECT_TRUE(cq->drain().empty()) << "no handler may run";
  ASSERT_EQ(port.submissions.size(), 1u);
  EXPECT_EQ(value_of(port.submissions[0].fields, "grpc-status"), "12");
  EXPECT_EQ(value_of(port.submissions[0].fields, "grpc-message"), "Compression algorithm 'deflate' is disabled.");
  EXPECT_EQ(value_of(port.submissions[0].fields, "grpc-accept-encoding"), "identity,gzip");

  ServerCall plain{8, 1, cq, options, registry, nullptr, "unix:/test"};
  plain.attach(&port, 3);
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {":method", "POST"}, {":path", "/test.Svc/M"}, {"content-type", "application/grpc"},
           {"grpc-accept-encoding", "identity,deflate"}})
    plain.on_header(name, value);
  ASSERT_TRUE(plain.on_request_headers(/*end_stream=*/false, /*preread=*/false));
  SendInitialMetadataCommand headers;
  headers.call_id = 8;
  headers.compression = Compression::kDeflate;  // wanted, accepted by the client, but disabled here
  plain.send_initial_metadata(std::move(headers));
  ASSERT_EQ(port.submissions.size(), 2u);
  EXPECT_EQ(value_of(port.submissions[1].fields, "grpc-encoding"), "<absent>");
  FinishCommand finish;
  finish.call_id = 8;
  plain.finish(std::move(finish));
}

}  // namespace
}  // namespace turbogrpc::internal
