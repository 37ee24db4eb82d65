// Call: the commands every call answers, on top of MessageStream. ClientCall and ServerCall
// implement them; the engine finds calls in the CallRegistry and forwards commands here.
#pragma once

#include <string>

#include "rpc/call_registry.h"
#include "rpc/message_stream.h"
#include "turbogrpc/commands.h"

namespace turbogrpc::internal {

class Call : public MessageStream {
 public:
  // kNo: a hedged call's later attempt, which shares the id of the one registered.
  enum class Registered : uint8_t { kYes, kNo };
  Call(uint64_t id, std::shared_ptr<CompletionQueue> cq, int64_t max_receive_size,
       int64_t max_send_size, CallRegistry& registry, CodecOffload* offload,
       Registered registered = Registered::kYes)
      : MessageStream(id, std::move(cq), max_receive_size, max_send_size, offload),
        registry_(registry) {
    if (registered == Registered::kYes) registry_.add(id, this);
  }
  ~Call() override { registry_.remove(id_, this); }

  virtual void send(SendMessageCommand&& command) = 0;
  virtual void half_close() {}
  void read() { add_read_credit(); }
  virtual void cancel(const Status& status) = 0;
  virtual void send_initial_metadata(SendInitialMetadataCommand&& command) {}
  virtual void finish(FinishCommand&& command) {}
  virtual void on_deadline() = 0;

  // From the transport: the HTTP/2 stream closed (`error_code` from RST_STREAM, or NO_ERROR);
  // the whole connection was lost (the stream with it).
  virtual void on_stream_closed(uint32_t error_code) = 0;
  virtual void on_connection_lost(const Status& reason) = 0;

 protected:
  // The call is done as far as the consumer is concerned: commands are ignored from here on.
  void leave_registry() { registry_.remove(id_, this); }

  CallRegistry& registry_;
};

}  // namespace turbogrpc::internal
