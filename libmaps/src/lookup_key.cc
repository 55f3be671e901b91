#include "lookup_key.h"

#include "absl/strings/str_cat.h"
#include "libmaps/text.h"
#include "string_view_compat.h"

namespace libmaps::internal {

std::optional<std::string> PrepareLookupKey(std::string_view key,
                                            const OpenOptions& options,
                                            std::string_view table) {
  if (options.utf8 && !IsAscii(key) && !IsValidUtf8(key)) {
    if (options.diagnostics) {
      options.diagnostics(
          Severity::kWarning,
          absl::StrCat(ToAbsl(table), ": non-UTF-8 key \"",
                       Printable(key, options.utf8_messages),
                       "\": malformed UTF-8 or invalid codepoint"));
    }
    return std::nullopt;
  }
  if (!options.fold_case) return std::string(key);
  return FoldKey(key, options.utf8);
}

}  // namespace libmaps::internal
