// libmaps/source_parser.h: postmap's source file format, the one parser that
// every consumer (cmap builds, texthash:) uses.
//
// The format (docs/source-format.md has the full rules):
//  - A physical line ends at '\n'. Lines that are empty, blank, or whose first
//    non-blank byte is '#' are ignored, and they do not end an entry.
//  - An entry (a logical line) starts with a non-blank byte; every following
//    line that starts with whitespace continues it, appended as is.
//  - The key runs up to the first whitespace outside double quotes (a
//    backslash protects the next byte); quotes and backslashes stay in the
//    key. The value is the rest with surrounding whitespace removed.
//  - Text after a NUL byte on a logical line is ignored.
//
// Problems are reported to a DiagnosticSink with Postfix's wording and the
// entry is skipped; parsing always goes on to the end.
//
// Thread safety: a SourceParser is not thread-safe; parsers on different
// threads are independent.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_SOURCE_PARSER_H_
#define LIBMAPS_INCLUDE_LIBMAPS_SOURCE_PARSER_H_

#include <string>
#include <string_view>

#include "libmaps/diagnostics.h"
#include "libmaps/export.h"

namespace libmaps {

struct SourceParserOptions {
  // UTF-8 mode: skip logical lines that are neither ASCII nor valid UTF-8.
  bool utf8 = true;
  // Render non-ASCII text in messages as UTF-8 (Postfix's smtputf8_enable).
  bool utf8_messages = true;
  // texthash: wording ("... -- ignoring this line" after "expected format").
  bool texthash_wording = false;
};

// One entry of a source file. The views stay valid until the next call to
// SourceParser::Next or the parser's destruction.
struct SourceEntry {
  std::string_view key;    // as written: not folded, quotes kept
  std::string_view value;  // trimmed; never empty
  int line = 0;            // first physical line of the entry, from 1
};

class LIBMAPS_EXPORT SourceParser {
 public:
  // `text` must outlive the parser. `path` is used in messages exactly as
  // given (Postfix prints the source path as typed on the command line).
  SourceParser(std::string_view text, std::string path,
               SourceParserOptions options, DiagnosticSink sink);

  // Stores the next entry in *entry and returns true, or returns false at the
  // end of the text. Skipped lines are reported to the sink on the way.
  [[nodiscard]] bool Next(SourceEntry* entry);

  // Lower level: stores the next logical line (continuations joined, comments
  // dropped, not split, not checked) in *line and its first physical line
  // number in *first_line; false at the end. main.cf uses this.
  [[nodiscard]] bool NextLogicalLine(std::string_view* line, int* first_line);

  const std::string& path() const { return path_; }

 private:
  void Warn(int line, std::string_view message) const;

  std::string_view text_;
  size_t pos_ = 0;
  int line_no_ = 0;  // physical lines consumed so far
  std::string path_;
  SourceParserOptions options_;
  DiagnosticSink sink_;
  std::string joined_;  // a logical line built from several physical lines
};

// Quotes a source line in a message without revealing its value: the leading
// whitespace and first word, rendered with Printable(), then " ...".
[[nodiscard]] LIBMAPS_EXPORT std::string RedactedLine(std::string_view line,
                                                      bool utf8_messages);

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_SOURCE_PARSER_H_
