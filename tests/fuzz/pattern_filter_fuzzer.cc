// RequiredLiteral() (backends/literal_filter) must be sound: whenever a
// pattern matches a key, the key (in ASCII lower case) contains the
// pattern's required literal. The input is a pattern, a NUL, then a key;
// the first byte picks POSIX (glibc regcomp, as regexp: compiles) or PCRE2
// (as pcre: compiles) and the case flag. Checked against the real engines.
#include <regex.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "backends/literal_filter.h"
#include "fuzz_util.h"

namespace {

std::string Folded(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool PosixMatches(const std::string& pattern, bool icase, std::string_view key, bool* compiled) {
  regex_t re;
  if (regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0) {
    *compiled = false;
    return false;
  }
  *compiled = true;
  const std::string text(key);  // regexec reads a C string
  const bool hit = regexec(&re, text.c_str(), 0, nullptr, 0) == 0;
  regfree(&re);
  return hit;
}

bool PcreMatches(const std::string& pattern, bool icase, std::string_view key, bool* compiled) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()),
                                 PCRE2_ZERO_TERMINATED,
                                 PCRE2_DOTALL | (icase ? PCRE2_CASELESS : 0), &err, &offset,
                                 nullptr);
  if (re == nullptr) {
    *compiled = false;
    return false;
  }
  *compiled = true;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  const int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(key.data()), key.size(), 0, 0, md,
                             nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc > 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 4096) return 0;
  const bool pcre = (data[0] & 1) != 0;
  const bool icase = (data[0] & 2) != 0;
  const std::string_view rest = libmaps::fuzz::AsText(data + 1, size - 1);
  const size_t nul = rest.find('\0');
  if (nul == std::string_view::npos) return 0;
  const std::string pattern(rest.substr(0, nul));
  if (libmaps::fuzz::ExplosiveRegex(pattern)) return 0;
  const std::string_view key = rest.substr(nul + 1);
  const std::string literal = libmaps::internal::RequiredLiteral(
      pattern, pcre ? libmaps::internal::PatternSyntax::kPcre
                    : libmaps::internal::PatternSyntax::kPosixExtended);
  if (literal.empty()) return 0;
  bool compiled = false;
  const bool hit = pcre ? PcreMatches(pattern, icase, key, &compiled)
                        : PosixMatches(pattern, icase, key, &compiled);
  if (hit && Folded(key).find(literal) == std::string::npos) std::abort();
  return 0;
}
