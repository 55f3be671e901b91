// Damaged or made-up .cdb files opened as cdb: maps: a lookup or a walk
// (cmap -q, cmap -s) ends in a value, a miss or an error, never a crash, a
// hang or a read outside the file. A key the walk lists and a lookup finds
// must come with a value that some record of that key holds.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "backends/cdb_map.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  const std::string name = libmaps::fuzz::ScratchDir() + "/c";
  FILE* f = std::fopen((name + ".cdb").c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  libmaps::OpenOptions options;
  options.fold_case = false;
  options.utf8 = false;
  auto map = libmaps::internal::OpenCdbMap(name, options);
  if (!map.ok()) return 0;
  std::vector<std::pair<std::string, std::string>> seen;
  const bool whole = (*map)->ForEach([&](std::string_view k, std::string_view v) {
                         seen.emplace_back(k, v);
                         return seen.size() < 2000;
                       }).ok() &&
                     seen.size() < 2000;
  (void)(*map)->Lookup("key");
  for (size_t i = 0; i < seen.size() && i < 50; ++i) {
    const std::string& k = seen[i].first;
    if (k.empty() || k.find('\0') != std::string::npos) continue;
    auto found = (*map)->Lookup(k);
    if (!whole || !found.ok() || !found->has_value()) continue;
    bool any = false;
    for (const auto& [k2, v2] : seen) any |= (k2 == k || k2 == k + '\0') && v2 == **found;
    if (!any) std::abort();  // a value no record of the key holds
  }
  return 0;
}
