// hash writer -> reader round trip (see roundtrip.h): the one-pass Berkeley
// DB writer and the native reader agree on every pair.

#include "roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return RoundTrip("hash", data, size);
}
