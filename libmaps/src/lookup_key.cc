#include "lookup_key.h"

#include "absl/strings/str_cat.h"
#include "libmaps/text.h"
#include "string_view_compat.h"

namespace libmaps::internal {

std::optional<std::string> PrepareKey(std::string_view key, bool fold_case,
                                      bool utf8, bool utf8_messages,
                                      const DiagnosticSink& sink,
                                      std::string_view table) {
  if (utf8 && !IsAscii(key) && !IsValidUtf8(key)) {
    if (sink) {
      sink(Severity::kWarning,
           absl::StrCat(ToAbsl(table), ": non-UTF-8 key \"", Printable(key, utf8_messages),
                        "\": malformed UTF-8 or invalid codepoint"));
    }
    return std::nullopt;
  }
  if (!fold_case) return std::string(key);
  return FoldKey(key, utf8);
}

std::optional<std::string> PrepareLookupKey(std::string_view key,
                                            const OpenOptions& options,
                                            std::string_view table) {
  return PrepareKey(key, options.fold_case, options.utf8, options.utf8_messages,
                    options.diagnostics, table);
}

}  // namespace libmaps::internal
