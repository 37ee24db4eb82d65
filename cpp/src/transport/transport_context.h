// TransportContext: what connections, channels and servers need from whoever owns them — the
// poller, timers, the call registry, ids, codec offload, and a home for connections. EngineCore
// implements it; a test implements it with a poller it runs itself, so the transport can be
// driven without the engine (transport/ never includes engine/). Poller thread only.
#pragma once

#include <cstdint>
#include <memory>

#include "io/poller.h"
#include "io/resolver.h"
#include "io/timer_queue.h"
#include "rpc/call_registry.h"
#include "rpc/codec_offload.h"

namespace turbogrpc::internal {

class Call;
class Connection;

class TransportContext {
 public:
  virtual ~TransportContext() = default;

  virtual Poller& poller() = 0;
  // Timers set here fire back through the owner: kCallDeadline to calls() (Call::on_deadline),
  // kConnectionHandshake / kConnectionIdle / kConnectDeadline to the adopted connection with
  // that id (Connection::on_timer), kChannelReconnect / kChannelIdle / kAcceptRetry to the
  // channel / server.
  virtual TimerQueue& timers() = 0;
  virtual CallRegistry& calls() = 0;
  virtual Resolver& resolver() = 0;
  // Unique among everything the owner names by id (calls, connections).
  virtual uint64_t new_id() = 0;

  // Where streams send large (de)compression; null: streams do it inline.
  virtual CodecOffload* codec_offload() = 0;
  // Keeps a call whose stream closed while its codec jobs run, until the last result is in.
  virtual void keep_until_done(std::unique_ptr<Call> call) = 0;

  // The owner holds every connection from its creation; retire() frees it after the current
  // poller iteration (its handler may still be on the poller's stack).
  virtual void adopt(std::unique_ptr<Connection> connection) = 0;
  virtual void retire(Connection* connection) = 0;
  // The connection has something to send: the owner calls flush() on it once, at the end of
  // this iteration.
  virtual void mark_dirty(Connection* connection) = 0;
};

}  // namespace turbogrpc::internal
