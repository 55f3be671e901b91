// The Berkeley DB hash reader on raw file bytes. Any input must give an
// error or a value, never a crash, a hang or a read outside the span. Every
// key that a full walk yields is then looked up too (in a corrupt file it may
// sit in a bucket its hash does not lead to, so a miss is a valid answer).

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "format/bdb_hash_reader.h"

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
  return 0;
}
