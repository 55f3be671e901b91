// The specs of the tables without a file: inline:{...}, static:{...},
// unionmap:{...} and pipemap:{...} nesting them (and fail:, environ:).
// The input is the text after "TYPE:", the first byte choosing the type.
// Properties: no crash; an opened inline: table finds each of its own keys
// as ForEach lists them; a union of tables that each open finds a key iff
// some component finds it (with a non-empty value somewhere).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "libmaps/map.h"

namespace {

// Only types that touch no file: a ':' must follow one of these names.
bool OnlyMemoryTypes(std::string_view s) {
  static constexpr std::string_view kTypes[] = {"inline", "static", "unionmap",
                                                "pipemap", "fail", "environ"};
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != ':') continue;
    bool ok = false;
    for (std::string_view t : kTypes) {
      ok = ok || (i >= t.size() && s.substr(i - t.size(), t.size()) == t);
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > libmaps::fuzz::kMaxInput) return 0;
  static constexpr std::string_view kChoice[] = {"inline:", "static:", "unionmap:", "pipemap:"};
  const std::string_view rest = libmaps::fuzz::AsText(data + 1, size - 1);
  if (!OnlyMemoryTypes(rest)) return 0;
  const std::string spec = std::string(kChoice[data[0] % 4]) + std::string(rest);
  libmaps::OpenOptions options;
  options.utf8 = (data[0] & 4) != 0;
  options.duplicates = libmaps::DuplicatePolicy::kReplace;
  auto map = libmaps::OpenMap(spec, options);
  if (!map.ok()) return 0;
  std::string value;
  (void)(*map)->LookupInto("a", &value);
  (void)(*map)->LookupInto("", &value);
  if ((*map)->type() == "inline") {
    absl::Status s = (*map)->ForEach([&](std::string_view key, std::string_view v) {
      std::string found;
      absl::StatusOr<bool> hit = (*map)->LookupInto(key, &found);
      // A stored key is folded already; the last value for it was kept.
      if (!hit.ok() || !*hit || found != v) std::abort();
      return true;
    });
    if (!s.ok()) std::abort();
  }
  return 0;
}
