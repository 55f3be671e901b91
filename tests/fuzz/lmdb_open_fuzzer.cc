// Opening fuzzer-written bytes as an lmdb table. liblmdb trusts its file:
// it validates the meta pages (magic, version, page size) when it opens an
// environment but not the B-tree pages it follows afterwards, so a crafted
// file can make a lookup read out of bounds inside liblmdb. This target
// therefore covers what libmaps can defend, the open path (size checks,
// environment open, main database open), and stops before any lookup.
// docs/fuzzing.md says the same.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "backends/lmdb_map.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string name = libmaps::fuzz::ScratchDir() + "/open";
  std::string path = name + ".lmdb";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  auto map = libmaps::internal::OpenLmdbMap(name, {});
  (void)map;
  return 0;
}
