// The source file beside a password table, read for the mistakes that
// postmap compiles without a word (or with a warning nobody reads): a line
// for the same key further down that loses to the first, a '#' comment
// after a value (postmap keeps it as part of the password), a UTF-8
// byte-order mark (part of the first key), indented lines (continuations
// of the line before, or skipped when nothing precedes them), and CR LF
// line ends. Findings name the line and the key, never a value.

#ifndef LIBMAPS_TOOLS_CMAP_SOURCE_LINT_H_
#define LIBMAPS_TOOLS_CMAP_SOURCE_LINT_H_

#include <string>
#include <string_view>
#include <vector>

namespace cmap {

struct SourceFinding {
  bool problem;         // false: a note
  std::string message;  // "PATH, line N: ..."
};

// A table key for a message: rendered printable, and cut at its first
// whitespace (" ..." follows) when it has any: a quoted key can run over
// the password that follows it on the line.
std::string ShownKey(std::string_view key, bool utf8);

// `utf8`: Postfix's smtputf8_enable (how keys fold and messages render).
std::vector<SourceFinding> LintCredentialSource(std::string_view text, const std::string& path,
                                                bool utf8);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_SOURCE_LINT_H_
