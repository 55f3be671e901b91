// postmap -b / -h: the keys taken from an RFC 5322 message on stdin.

#ifndef LIBMAPS_TOOLS_CMAP_MESSAGE_KEYS_H_
#define LIBMAPS_TOOLS_CMAP_MESSAGE_KEYS_H_

#include <string>
#include <string_view>
#include <vector>

namespace cmap {

struct MessageKey {
  bool header;      // a (logical, possibly multi-line) header, else a body line
  std::string text;
};

// Splits `message` into header keys and body line keys, in order, as postmap
// does: a header block (multi-line headers keep their embedded newlines)
// ends at the first line that is not a header or its continuation; the end
// of a header block yields one empty body line, which replaces the blank
// separator line when there is one. With `mime`, multipart boundaries are
// followed (nested) and each part's own header block counts as headers.
std::vector<MessageKey> MessageKeys(std::string_view message, bool mime);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_MESSAGE_KEYS_H_
