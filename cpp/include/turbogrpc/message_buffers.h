// Recycled buffers for large messages. A fresh multi-megabyte allocation is paid for in page
// faults (glibc hands big freed blocks back to the kernel, so the next one starts from zeroed
// pages): for a 4 MiB message that costs more than copying it. Buffers the engine and the
// binding fill with message bytes come from here and go back here when the bytes have moved on.
// Any thread; never blocks (a contended pool behaves as an empty or full one).
#pragma once

#include <cstddef>
#include <string>

namespace turbogrpc {

// Messages smaller than this use plain strings: small allocations are cheap and warm anyway.
constexpr size_t kPooledMessageBytes = 64 * 1024;

// An empty string with capacity for at least `size` bytes; a recycled one when one fits.
std::string take_message_buffer(size_t size);

// Hands `buffer` back for reuse (kept only when large, and while the pool is under its cap).
void recycle_message_buffer(std::string&& buffer);

// How many buffers the pool holds right now: for tests and diagnostics. Unlike the two calls
// above, it waits for the pool's lock.
size_t pooled_message_buffer_count();

}  // namespace turbogrpc
