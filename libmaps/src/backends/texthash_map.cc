#include "backends/texthash_map.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libmaps/source_parser.h"
#include "libmaps/text.h"
#include "file_util.h"
#include "lookup_key.h"
#include "value_files.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

class TexthashMap final : public Map {
 public:
  TexthashMap(std::string name, const OpenOptions& options)
      : Map("texthash", std::move(name)), options_(options) {}

  absl::Status Load(std::string_view text, const OpenOptions& options) {
    SourceParser parser(text, name(),
                        {.utf8 = options.utf8,
                         .utf8_messages = options.utf8_messages,
                         .texthash_wording = true},
                        options.diagnostics);
    SourceEntry entry;
    while (parser.Next(&entry)) {
      std::string value(entry.value);
      if (options.values_are_files) {
        absl::StatusOr<std::string> encoded = LoadValueFiles(entry.value);
        if (!encoded.ok()) {
          Warn(absl::StrCat(ToAbsl(name()), ", line ", entry.line, ": ",
                            encoded.status().message(), ": skipping this entry"));
          continue;
        }
        value = *std::move(encoded);
      }
      std::optional<std::string> key = options_.fold_case
                                           ? FoldKey(entry.key, options_.utf8)
                                           : std::string(entry.key);
      if (!key) continue;  // unreachable: invalid UTF-8 lines were skipped
      auto [it, inserted] = index_.try_emplace(*key, records_.size());
      if (inserted) {
        records_.emplace_back(std::move(*key), std::move(value));
        continue;
      }
      std::string message =
          absl::StrCat(ToAbsl(name()), ", line ", entry.line,
                       ": duplicate entry: \"",
                       Printable(entry.key, options_.utf8_messages), "\"");
      switch (options.duplicates) {
        case DuplicatePolicy::kFail:
          return absl::FailedPreconditionError(message);
        case DuplicatePolicy::kWarn:
          Warn(message);
          break;
        case DuplicatePolicy::kIgnore:
          break;
        case DuplicatePolicy::kReplace:
          records_[it->second].second = std::move(value);
          break;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Lookup(
      std::string_view key) const override {
    std::optional<std::string> probe =
        PrepareLookupKey(key, options_, "texthash:" + name());
    if (!probe) return std::nullopt;
    key = *probe;
    auto it = index_.find(ToAbsl(key));
    if (it == index_.end()) return std::nullopt;
    return records_[it->second].second;
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>&
                           fn) const override {
    for (const auto& [key, value] : records_) {
      if (!fn(key, value)) break;
    }
    return absl::OkStatus();
  }

 private:
  void Warn(std::string_view message) const {
    if (options_.diagnostics) options_.diagnostics(Severity::kWarning, message);
  }

  OpenOptions options_;
  // Records in source order (ForEach and -s print them in that order), and
  // an index from folded key to position.
  std::vector<std::pair<std::string, std::string>> records_;
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> TexthashMapFromText(
    std::string_view text, std::string_view name, const OpenOptions& options) {
  auto map = std::make_unique<TexthashMap>(std::string(name), options);
  if (absl::Status s = map->Load(text, options); !s.ok()) return s;
  return map;
}

absl::StatusOr<std::unique_ptr<Map>> OpenTexthashMap(std::string_view name,
                                                     const OpenOptions& options) {
  absl::StatusOr<std::string> text =
      ReadWholeFile(std::string(name), "open database");
  if (!text.ok()) return text.status();
  return TexthashMapFromText(*text, name, options);
}

}  // namespace libmaps::internal
