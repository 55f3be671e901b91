// The Berkeley DB hash reader on raw file bytes. Any input must give an
// error or a value, never a crash, a hang or a read outside the span. Every
// key that a full walk yields is then looked up too (in a corrupt file it may
// sit in a bucket its hash does not lead to, so a miss is a valid answer).
// A file the reader opens is then also opened as a hash: map (written to a
// scratch file), with both lock policies, and its keys looked up one by one
// and as a batch (Map::LookupEach: prefetching ahead, populating the
// mapping), which must answer as the single lookups do.

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <cstdio>
#include <optional>
#include <string_view>

#include "format/bdb_hash_reader.h"
#include "fuzz_util.h"
#include "libmaps/map.h"

namespace {

// The map layer over the same bytes: single and batch lookups agree.
void MapPaths(const uint8_t* data, size_t size,
              const std::map<std::string, std::string>& pairs) {
  const std::string name = libmaps::fuzz::ScratchDir() + "/t";
  FILE* f = std::fopen((name + ".db").c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  std::vector<std::string> keys;
  for (const auto& [key, value] : pairs) {
    if (keys.size() >= 100) break;
    keys.push_back(key);
  }
  keys.push_back("key");
  keys.push_back("Missing.Example");
  std::vector<std::string_view> views(keys.begin(), keys.end());
  for (libmaps::LockPolicy lock : {libmaps::LockPolicy::kPerLookup,
                                   libmaps::LockPolicy::kSnapshot}) {
    libmaps::OpenOptions options;
    options.lock = lock;
    options.fold_case = false;
    options.utf8 = false;
    auto map = libmaps::OpenMap("hash:" + name, options);
    if (!map.ok()) return;
    std::vector<std::optional<std::string>> single;
    for (const std::string& key : keys) {
      auto found = (*map)->Lookup(key);
      single.push_back(found.ok() ? *found : std::optional<std::string>("(error)"));
    }
    (*map)->LookupEach(views, [&](size_t i, const auto& result) {
      const std::optional<std::string> batch =
          !result.ok() ? std::optional<std::string>("(error)")
          : result->has_value() ? std::optional<std::string>(std::string(**result))
                                : std::nullopt;
      if (batch != single[i]) std::abort();  // the batch path disagrees
      return true;
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  // An exact-size heap copy, so ASan sees any read past the end.
  std::vector<uint8_t> file(data, data + size);
  auto reader = libmaps::internal::BdbHashReader::Open(file);
  if (!reader.ok()) return 0;
  std::map<std::string, std::string> pairs;
  absl::Status walk = reader->ForEach([&](std::string_view k, std::string_view v) {
    pairs.emplace(std::string(k), std::string(v));  // first of duplicates
    return pairs.size() < 10000;
  });
  (void)reader->Find(std::string_view("key"));
  (void)reader->Find(std::string_view("k1\0", 3));
  if (!walk.ok()) return 0;
  for (const auto& [key, value] : pairs) {
    auto found = reader->Find(key);
    // Any answer is valid here (see above); hash_roundtrip_fuzzer checks
    // that lookups find every pair in files libmaps wrote.
    (void)found;
  }
  MapPaths(data, size, pairs);
  return 0;
}
