// The source parser and texthash's use of it: any bytes, both UTF-8 modes,
// folding and -F off. Every entry must have a non-empty key and value and a
// line number within the input; lookups of every key must not fail.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "backends/texthash_map.h"
#include "fuzz_util.h"
#include "libmaps/source_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  std::string_view text = libmaps::fuzz::AsText(data, size);
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  for (bool utf8 : {true, false}) {
    libmaps::SourceParser parser(text, "fuzz", {.utf8 = utf8},
                                 [](libmaps::Severity, std::string_view m) {
                                   if (m.empty()) std::abort();
                                 });
    libmaps::SourceEntry entry;
    while (parser.Next(&entry)) {
      if (entry.key.empty() || entry.value.empty()) std::abort();
      if (entry.line < 1 || static_cast<size_t>(entry.line) > lines) std::abort();
    }
    libmaps::OpenOptions options;
    options.utf8 = utf8;
    options.duplicates = libmaps::DuplicatePolicy::kReplace;
    auto map = libmaps::internal::TexthashMapFromText(text, "fuzz", options);
    if (!map.ok()) std::abort();
    (void)(*map)->ForEach([&](std::string_view key, std::string_view) {
      auto found = (*map)->Lookup(key);
      // Folding is idempotent, so a stored key finds itself.
      if (!found.ok() || !found->has_value()) std::abort();
      return true;
    });
  }
  return 0;
}
