// Damaged .lmdb files (libFuzzer mutates the postmap-written seeds): the
// validating reader (format/lmdb_reader.h) must answer every open, walk and
// lookup with a value or an error, never a crash, a hang or a read outside
// the bytes. A key the walk yields and a lookup finds must come with the
// walk's value. Then the same bytes as an lmdb: map: cmap -s's path
// (Map::ForEach), which now walks with this reader instead of liblmdb's
// cursor, must not crash either. (Lookups through liblmdb are not driven
// here: liblmdb trusts B-tree pages, see docs/fuzzing.md.)

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "backends/lmdb_map.h"
#include "format/lmdb_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  auto reader = libmaps::internal::LmdbReader::Open(std::span<const uint8_t>(data, size));
  if (reader.ok()) {
    std::vector<std::pair<std::string, std::string>> seen;
    const bool whole = reader->ForEach([&](std::string_view k, std::string_view v) {
                         seen.emplace_back(k, v);
                         return seen.size() < 5000;
                       }).ok() &&
                       seen.size() < 5000;
    (void)reader->Find("key");
    for (const auto& [k, v] : seen) {
      auto found = reader->Find(k);
      if (!whole || !found.ok() || !found->has_value() || **found == v) continue;
      // A damaged tree may hold a key twice, and a lookup finds one copy;
      // but every page a lookup reads is one a whole walk read too, so a
      // value that the walk never produced would be a reader error.
      bool any = false;
      for (const auto& [k2, v2] : seen) any |= k2 == k && v2 == **found;
      if (!any) std::abort();
    }
  }
  const std::string name = libmaps::fuzz::ScratchDir() + "/r";
  FILE* f = std::fopen((name + ".lmdb").c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  auto map = libmaps::internal::OpenLmdbMap(name, {});
  if (map.ok()) {
    size_t n = 0;
    (void)(*map)->ForEach([&](std::string_view, std::string_view) { return ++n < 1000; });
  }
  return 0;
}
