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

bool ProbeKey::Prepare(std::string_view key, bool fold_case, bool utf8,
                       bool utf8_messages, const DiagnosticSink& sink,
                       std::string_view table) {
  const bool ascii = IsAsciiText(key);
  if (ascii || !utf8 || !fold_case) {
    if (utf8 && !ascii && !IsValidUtf8(key)) {
      return PrepareKey(key, fold_case, utf8, utf8_messages, sink, table).has_value();
    }
    if (key.size() <= kInline) {
      data_ = inline_;
    } else {
      heap_.resize(key.size() + 1);
      data_ = heap_.data();
    }
    if (fold_case) {
      FoldAsciiInto(key, data_);
    } else if (!key.empty()) {
      std::memcpy(data_, key.data(), key.size());
    }
    size_ = key.size();
    data_[size_] = '\0';
    return true;
  }
  std::optional<std::string> folded =
      PrepareKey(key, fold_case, utf8, utf8_messages, sink, table);
  if (!folded) return false;
  heap_ = *std::move(folded);
  size_ = heap_.size();
  heap_.push_back('\0');
  data_ = heap_.data();
  return true;
}

std::optional<std::string> PrepareLookupKey(std::string_view key,
                                            const OpenOptions& options,
                                            std::string_view table) {
  return PrepareKey(key, options.fold_case, options.utf8, options.utf8_messages,
                    options.diagnostics, table);
}

}  // namespace libmaps::internal
