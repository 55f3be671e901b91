// aliases(5) sources as cmap --alias reads them (AddAliasSource and
// ParseAliasLine): any bytes, both UTF-8 modes. No record has a NUL byte
// in its name or value; no more records than physical lines; a line
// ParseAliasLine accepts has no problem. A value may be empty ("a: \\" is
// an empty atom, which postalias stores too; the fuzzer found it), and a
// stored value is not always re-read as itself (neither is Postfix's, e.g.
// "[a\\]b]"), so neither is asserted.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "libmaps/map_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  std::string_view text = libmaps::fuzz::AsText(data, size);
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  for (bool utf8 : {true, false}) {
    libmaps::BuildOptions options;
    options.utf8 = utf8;
    options.diagnostics = [](libmaps::Severity, std::string_view m) {
      if (m.empty()) std::abort();
    };
    size_t records = 0;
    absl::Status s = libmaps::AddAliasSource(
        text, "fuzz", options, [&](std::string_view name, std::string_view value) {
          ++records;
          if (name.find('\0') != name.npos || value.find('\0') != value.npos) std::abort();
          return absl::OkStatus();
        });
    if (!s.ok() || records > lines) std::abort();
  }
  // A single line, as ParseAliasLine takes it.
  std::string name, value, problem;
  if (libmaps::ParseAliasLine(text, &name, &value, &problem)) {
    if (!problem.empty()) std::abort();
  }
  return 0;
}
