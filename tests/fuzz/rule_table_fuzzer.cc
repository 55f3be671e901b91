// The regexp:, pcre: and cidr: parsers and lookups (backends/pattern_maps,
// backends/cidr_map). The input is a table's text, then a NUL, then keys one
// per line; the first byte picks the type and options. Properties: no
// crash, leak or overflow (ASan/UBSan in CI); a lookup answers the same
// twice; for regexp: and pcre:, the answer with the literal prefilter is
// the answer without it (the filter only skips rules that cannot match).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "backends/cidr_map.h"
#include "backends/pattern_maps.h"
#include "fuzz_util.h"
#include "libmaps/map.h"

namespace {

std::optional<std::string> Find(const libmaps::Map& map, std::string_view key) {
  std::string value;
  absl::StatusOr<bool> hit = map.LookupInto(key, &value);
  if (!hit.ok()) std::abort();  // rule tables never fail a lookup
  if (!*hit) return std::nullopt;
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > libmaps::fuzz::kMaxInput) return 0;
  const uint8_t choice = data[0];
  const std::string_view rest = libmaps::fuzz::AsText(data + 1, size - 1);
  const size_t nul = rest.find('\0');
  const std::string_view text = rest.substr(0, nul);
  const std::string_view keys = nul == std::string_view::npos ? "" : rest.substr(nul + 1);
  if (choice % 3 != 2 && libmaps::fuzz::ExplosiveRegex(text)) return 0;
  libmaps::OpenOptions options;
  options.utf8 = (choice & 4) != 0;
  std::unique_ptr<libmaps::Map> map;
  std::unique_ptr<libmaps::Map> plain;  // without the prefilter
  switch (choice % 3) {
    case 0:
      map = libmaps::internal::RegexpMapFromText("fuzz", text, options, true);
      plain = libmaps::internal::RegexpMapFromText("fuzz", text, options, false);
      break;
    case 1:
      map = libmaps::internal::PcreMapFromText("fuzz", text, options, true);
      plain = libmaps::internal::PcreMapFromText("fuzz", text, options, false);
      break;
    default:
      map = libmaps::internal::CidrMapFromText("fuzz", text, options);
      break;
  }
  size_t start = 0;
  while (start <= keys.size()) {
    size_t end = keys.find('\n', start);
    if (end == std::string_view::npos) end = keys.size();
    const std::string_view key = keys.substr(start, end - start);
    const std::optional<std::string> first = Find(*map, key);
    if (Find(*map, key) != first) std::abort();
    if (plain != nullptr && Find(*plain, key) != first) std::abort();
    start = end + 1;
  }
  return 0;
}
