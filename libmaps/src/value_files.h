// postmap -F: a value names files whose contents become the stored value.

#ifndef LIBMAPS_SRC_VALUE_FILES_H_
#define LIBMAPS_SRC_VALUE_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace libmaps::internal {

// Splits `list` on commas and whitespace, reads each file whole, joins the
// contents with one '\n' between files and returns them base64-encoded.
// Errors (kInvalidArgument) carry Postfix's reason text, e.g.
// `open x: No such file or directory` or `empty pathname list: >>,<<'`.
[[nodiscard]] absl::StatusOr<std::string> LoadValueFiles(std::string_view list);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_VALUE_FILES_H_
