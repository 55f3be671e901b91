// "type:name" specifications and main.cf text.

#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "libmaps/map.h"
#include "libmaps/postfix_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  std::string_view text = libmaps::fuzz::AsText(data, size);
  auto spec = libmaps::ParseMapSpec(text);
  if (spec.ok() && (spec->type.empty() || spec->name.empty())) std::abort();
  auto with_default = libmaps::ParseMapSpec(text, "hash");
  if (with_default.ok() && with_default->type.empty()) std::abort();
  (void)libmaps::ParsePostfixConfig(text);
  return 0;
}
