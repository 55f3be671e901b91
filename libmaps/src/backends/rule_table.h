// What regexp:, pcre: and cidr: tables share: where their text comes from
// (a file, or the rules written in place as "{ {rule}, {rule} }"), how it
// splits into logical lines (Postfix's readllines()), and the "$1"/"${1}"
// result text of the two pattern types (Postfix's mac_parse()).
//
// Messages are Postfix 3.7's, with one deliberate difference: where Postfix
// quotes a rule's result text (a table of smtp_sasl_password_maps holds
// passwords there), libmaps shows "..." instead, and a line quoted for its
// leading whitespace is shown to its first word (RedactedLine()).

#ifndef LIBMAPS_SRC_BACKENDS_RULE_TABLE_H_
#define LIBMAPS_SRC_BACKENDS_RULE_TABLE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libmaps/map.h"

namespace libmaps::internal {

// Postfix's ISSPACE(): ASCII white space.
[[nodiscard]] constexpr bool IsRuleSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
// Postfix's ISALNUM(): ASCII letters and digits only.
[[nodiscard]] constexpr bool IsRuleAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
// strncasecmp(p, word, n) == 0 && !ISALNUM(p[n]): "if", "endif".
[[nodiscard]] bool StartsWithWord(std::string_view line, std::string_view word);
// `s` without ASCII white space at its end (Postfix's trimblanks()).
[[nodiscard]] std::string_view TrimRight(std::string_view s);
[[nodiscard]] std::string_view SkipSpace(std::string_view s);

// The items of a list written in a table's name (Postfix's mystrtokq()
// with CHARS_COMMA_SP and CHARS_BRACE): split at commas and blanks outside
// "{...}", empty items skipped. unionmap:, pipemap:, inline: use it too.
[[nodiscard]] std::vector<std::string_view> SplitBraceList(std::string_view s);

// The table's text. NAME "{...}" holds the rules in place: each item of the
// comma- or blank-separated list inside the outer braces is itself "{rule}"
// and becomes one line. Otherwise NAME is a file, read whole. Errors are
// Postfix's: "TYPE map: no '{' at start of text in \"...\"", "open NAME:
// No such file or directory".
[[nodiscard]] absl::StatusOr<std::string> LoadRuleText(std::string_view type,
                                                       std::string_view name);

// Postfix's readllines(): skips empty, blank and comment lines; a line that
// starts with white space continues the logical line (appended without the
// newline; comment and blank lines in between are dropped). A logical line
// that starts with white space is skipped with a warning. The line handed
// out is cut at its first NUL (Postfix treats it as a C string) and has no
// white space at its end.
class RuleLineReader {
 public:
  RuleLineReader(std::string_view text, std::string path, const OpenOptions& options)
      : text_(text), path_(std::move(path)), options_(options) {}
  // The next logical line and the number of its first physical line.
  [[nodiscard]] bool Next(std::string_view* line, int* line_no);

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int physical_ = 0;
  std::string path_;
  const OpenOptions& options_;
  std::string buffer_;
};

// A rule's result text, prepared once: literal pieces ("$$" already made
// "$") and capture references.
struct ResultText {
  struct Piece {
    std::string literal;  // used when group == 0
    size_t group = 0;     // $n
  };
  std::vector<Piece> pieces;
  size_t max_group = 0;  // largest $n; 0: the result is `constant`
  std::string constant;
};

// How the two pattern types word their messages.
struct RuleWording {
  std::string_view type;            // "regexp" or "pcre"
  std::string_view index_range;     // "out-of-range" (regexp) or "out of range"
};

// Postfix's prescan of result text with mac_parse(): warns about "$name"
// that is not a number, "$0", an empty "$", an unclosed "${"; returns false
// when the rule must be skipped (after Postfix's "bad replacement syntax:
// skipping this rule").
[[nodiscard]] bool ParseResultText(std::string_view text, const RuleWording& wording,
                                   std::string_view map_name, int line_no,
                                   const DiagnosticSink& sink, ResultText* out);

// A capture of the last match: [begin, end) in the key, or unset.
struct CaptureSpan {
  ptrdiff_t begin = -1;
  ptrdiff_t end = -1;
};

// Appends the result for a match of `key` to *value: a capture that is
// unset or empty adds nothing.
void ExpandResult(const ResultText& result, std::string_view key,
                  const CaptureSpan* captures, std::string* value);

// Whether `key` can be looked up: Postfix passes keys as C strings, so one
// with a NUL is not found; in UTF-8 mode one that is not valid UTF-8 is not
// found, with Postfix's warning "TYPE:NAME: non-UTF-8 key ...". Keys of rule
// tables are never folded.
[[nodiscard]] bool AcceptRuleKey(const Map& map, std::string_view key,
                                 const OpenOptions& options);

// Sends "TYPE map NAME, line N: TEXT" to the sink.
void RuleWarning(const DiagnosticSink& sink, std::string_view type, std::string_view map_name,
                 int line_no, std::string_view text);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_RULE_TABLE_H_
