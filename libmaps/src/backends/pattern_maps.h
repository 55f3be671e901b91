// regexp: and pcre: tables, with Postfix 3.7's syntax, semantics and
// messages (regexp_table(5), pcre_table(5); checked against real postmap in
// tests/compat/pattern_diff.py):
//
//   /pattern/flags result        first matching rule wins; "$1", "${1}" in
//   !/pattern/ result            the result are the pattern's captures
//   /p1/flags!/p2/flags result   regexp: only: p1 matches and p2 does not
//   if /pattern/ ... endif       rules inside apply when the pattern matches
//                                (`if !/pattern/`: when it does not)
//
// regexp: is POSIX extended regular expressions (glibc regcomp, compiled in
// the "C" locale as in Postfix); flags toggle i (case-insensitive, on by
// default), x (extended syntax, on by default) and m (REG_NEWLINE).
// pcre: is PCRE2 in byte mode, like Postfix's; flags toggle i (on), s (on),
// m, x, A, E, U; X is accepted with Postfix's "obsolete" warning. Patterns
// are compiled once at open (pcre: with PCRE2's JIT where it is available).
// A bad rule is skipped with Postfix's warning and the rest of the table
// loads. Keys are never folded (the patterns decide case); a key that is not
// valid UTF-8 in UTF-8 mode, or that holds a NUL, is not found.

#ifndef LIBMAPS_SRC_BACKENDS_PATTERN_MAPS_H_
#define LIBMAPS_SRC_BACKENDS_PATTERN_MAPS_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"

namespace libmaps::internal {

[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenRegexpMap(std::string_view name,
                                                                 const OpenOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenPcreMap(std::string_view name,
                                                               const OpenOptions& options);

// The same from the table's text (`name` appears in messages), for tests
// and fuzzers; `filter` false tries every rule (no LiteralFilter).
[[nodiscard]] std::unique_ptr<Map> RegexpMapFromText(std::string_view name, std::string_view text,
                                                     const OpenOptions& options, bool filter);
[[nodiscard]] std::unique_ptr<Map> PcreMapFromText(std::string_view name, std::string_view text,
                                                   const OpenOptions& options, bool filter);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_PATTERN_MAPS_H_
