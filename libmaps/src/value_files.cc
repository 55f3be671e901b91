#include "value_files.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "libmaps/text.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

absl::Status AppendFile(const std::string& name, std::string* out) {
  absl::StatusOr<std::string> data = ReadWholeFile(name);
  // postmap's -F wording: "open NAME: ..." / "read NAME: ...".
  if (!data.ok()) return absl::InvalidArgumentError(data.status().message());
  out->append(*data);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> LoadValueFiles(std::string_view list) {
  constexpr std::string_view kSeparators = ", \t\r\n";
  std::string contents;
  bool any = false;
  size_t pos = 0;
  while (pos < list.size()) {
    size_t start = list.find_first_not_of(kSeparators, pos);
    if (start == list.npos) break;
    size_t end = list.find_first_of(kSeparators, start);
    if (end == list.npos) end = list.size();
    if (any) contents.push_back('\n');
    any = true;
    if (absl::Status s = AppendFile(std::string(list.substr(start, end - start)),
                                    &contents);
        !s.ok()) {
      return s;
    }
    pos = end;
  }
  if (!any) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty pathname list: >>", ToAbsl(list), "<<'"));
  }
  return Base64Encode(contents);
}

}  // namespace libmaps::internal
