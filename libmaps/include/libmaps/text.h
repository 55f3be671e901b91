// libmaps/text.h: the byte-level text rules Postfix applies to keys.
//
// Thread safety: every function here is pure and thread-safe.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_TEXT_H_
#define LIBMAPS_INCLUDE_LIBMAPS_TEXT_H_

#include <optional>
#include <string>
#include <string_view>

#include "libmaps/export.h"

namespace libmaps {

// True when every byte of `s` is below 0x80. The empty string is ASCII.
[[nodiscard]] LIBMAPS_EXPORT bool IsAscii(std::string_view s);

// True when `s` is well-formed UTF-8: no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no lead bytes 0xF5..0xFF, no
// truncated sequences. NUL bytes are valid. The empty string is valid.
[[nodiscard]] LIBMAPS_EXPORT bool IsValidUtf8(std::string_view s);

// Folds a key as Postfix does. With `utf8` false, only ASCII A-Z are
// lowered and other bytes are kept. With `utf8` true, an all-ASCII key is
// lowered the same way and anything else gets full Unicode case folding
// (ICU, default options: "Straße" -> "strasse", "ΣΊΣΥΦΟΣ" -> "σίσυφοσ").
// Returns std::nullopt when `utf8` is true and `key` is not valid UTF-8.
[[nodiscard]] LIBMAPS_EXPORT std::optional<std::string> FoldKey(
    std::string_view key, bool utf8);

// Renders `s` for a log line as Postfix does: printable ASCII is kept, other
// bytes become '?', except that with `utf8` true a lead byte 0xC2..0xFE
// followed by a continuation byte keeps that byte and all continuation bytes
// after it. The result stops at the first NUL byte.
[[nodiscard]] LIBMAPS_EXPORT std::string Printable(std::string_view s,
                                                   bool utf8);

// Standard base64 (A-Z a-z 0-9 + /, '=' padding, no line breaks).
[[nodiscard]] LIBMAPS_EXPORT std::string Base64Encode(std::string_view data);

// Decodes base64 as postmap -F does: the length must be a multiple of 4,
// bytes outside the alphabet are rejected, decoding stops at the first '='.
// Returns std::nullopt on malformed input.
[[nodiscard]] LIBMAPS_EXPORT std::optional<std::string> Base64Decode(
    std::string_view text);

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_TEXT_H_
