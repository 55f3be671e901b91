// A prefilter for tables of regular expressions: most rules of a large
// regexp: or pcre: table (header_checks, sender access lists) contain a
// literal that every match must contain ("\.spam42\.net$" needs
// ".spam42.net"). RequiredLiteral() finds such a literal by a conservative
// reading of the pattern; LiteralFilter indexes one three-byte piece of
// each rule's literal, so that a lookup learns, from the key's three-byte
// pieces, which rules cannot match without running them. Postfix runs
// every pattern against every key; the answers are the same, since a rule
// the filter lets through is still decided by its pattern.
//
// Soundness is the whole point: a rule is only ever ruled out when its
// pattern cannot match the key. Anything the reader does not fully
// understand (alternation at the top level, extended syntax, \Q...\E,
// non-ASCII bytes, basic regular expressions) yields no literal, and the
// rule is always run. tests/fuzz/pattern_filter_fuzzer checks the property
// against glibc's regexec and PCRE2.

#ifndef LIBMAPS_SRC_BACKENDS_LITERAL_FILTER_H_
#define LIBMAPS_SRC_BACKENDS_LITERAL_FILTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace libmaps::internal {

enum class PatternSyntax {
  kPosixExtended,  // glibc regcomp with REG_EXTENDED
  kPcre,           // PCRE2 without PCRE2_EXTENDED
};

// A literal, in ASCII lower case, that every string matched by `pattern`
// contains (ignoring case), or "" when none is known.
[[nodiscard]] std::string RequiredLiteral(std::string_view pattern, PatternSyntax syntax);

class LiteralFilter {
 public:
  // literals[i] is rule i's required literal ("" for none). Rules whose
  // literal is shorter than three bytes are never ruled out.
  explicit LiteralFilter(const std::vector<std::string>& literals);

  // Sets candidates[i] (for i < rule count) to 1 for each rule that may
  // match `folded_key` (the key in ASCII lower case) and 0 for each that
  // cannot.
  void Mark(std::string_view folded_key, uint8_t* candidates) const;

  size_t rule_count() const { return always_.size(); }
  size_t filtered_count() const { return filtered_; }

 private:
  static uint32_t Trigram(const char* p) {
    return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
           static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16;
  }

  std::vector<uint8_t> always_;  // 1: the rule has no trigram
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> rules_by_trigram_;
  size_t filtered_ = 0;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_LITERAL_FILTER_H_
