// Writer -> reader round trip shared by the lmdb and hash targets: pairs
// "key<TAB>value" per line go through the atomic builder into a real file;
// the reader must then find every pair (last value wins, -r) and ForEach
// must list exactly them.

#ifndef LIBMAPS_TESTS_FUZZ_ROUNDTRIP_H_
#define LIBMAPS_TESTS_FUZZ_ROUNDTRIP_H_

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "fuzz_util.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"
#include "libmaps/text.h"

// Runs the round trip for `type` ("lmdb" or "hash").
inline int RoundTrip(const std::string& type, const uint8_t* data, size_t size) {
  if (size > 1 << 14) return 0;
  std::string_view text = libmaps::fuzz::AsText(data, size);
  std::map<std::string, std::string> expected;  // folded key -> value
  libmaps::BuildOptions options;
  options.utf8 = false;  // any bytes
  options.duplicates = libmaps::DuplicatePolicy::kReplace;
  std::string name = libmaps::fuzz::ScratchDir() + "/rt";
  std::string spec = type + ":" + name;
  auto builder = libmaps::NewMapBuilder(spec, options);
  if (!builder.ok()) std::abort();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == text.npos ? text.npos : nl - pos);
    pos = nl == text.npos ? text.size() : nl + 1;
    std::string_view key, value;
    libmaps::fuzz::SplitAtTab(line, &key, &value);
    // Postfix's records are C strings: no NUL inside, no empty key or value.
    if (key.empty() || value.empty() || key.find('\0') != key.npos ||
        value.find('\0') != value.npos) {
      continue;
    }
    absl::Status s = (*builder)->Add(key, value);
    std::string folded = *libmaps::FoldKey(key, false);
    if (!s.ok()) {
      // Only lmdb's over-long keys may fail.
      if (type != "lmdb" || folded.size() + 1 <= 511) std::abort();
      continue;
    }
    expected[folded] = std::string(value);
  }
  if (!(*builder)->Commit().ok()) std::abort();
  libmaps::OpenOptions read_options;
  read_options.utf8 = false;
  auto map = libmaps::OpenMap(spec, read_options);
  if (!map.ok()) std::abort();
  for (const auto& [key, value] : expected) {
    auto found = (*map)->Lookup(key);
    if (!found.ok() || !found->has_value() || **found != value) std::abort();
  }
  size_t seen = 0;
  if (!(*map)->ForEach([&](std::string_view k, std::string_view v) {
         auto it = expected.find(std::string(k));
         if (it == expected.end() || it->second != v) std::abort();
         ++seen;
         return true;
       }).ok() ||
      seen != expected.size()) {
    std::abort();
  }
  return 0;
}

#endif  // LIBMAPS_TESTS_FUZZ_ROUNDTRIP_H_
