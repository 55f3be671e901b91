// lmdb writer -> reader round trip (see roundtrip.h).

#include "roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return RoundTrip("lmdb", data, size);
}
