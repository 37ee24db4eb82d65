// Invariant checks for the libFuzzer targets: a failed check prints what broke and aborts, which
// libFuzzer records as a crash (with the input saved), exactly like a sanitizer report.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                          \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, \
                   what, #cond);                                                        \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
