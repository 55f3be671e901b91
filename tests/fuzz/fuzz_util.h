// Shared helpers for the fuzz targets.

#ifndef LIBMAPS_TESTS_FUZZ_FUZZ_UTIL_H_
#define LIBMAPS_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace libmaps::fuzz {

// Inputs above this size are skipped: they only slow the fuzzer down.
inline constexpr size_t kMaxInput = 1 << 16;

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits "a<TAB>b" framing; b is empty when there is no TAB.
inline void SplitAtTab(std::string_view in, std::string_view* a,
                       std::string_view* b) {
  size_t tab = in.find('\t');
  *a = in.substr(0, tab);
  *b = tab == std::string_view::npos ? std::string_view() : in.substr(tab + 1);
}

// Regular expressions whose compilation explodes in glibc's regcomp (and so
// in Postfix too): long runs of stacked quantifiers ("a++++++"), large or
// many counted repeats. Fuzz targets skip them; they find nothing of ours.
inline bool ExplosiveRegex(std::string_view s) {
  size_t run = 0;
  size_t braces = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    run = (c == '*' || c == '+' || c == '?' || c == '{') ? run + 1 : 0;
    if (run > 3) return true;
    if (c == '{') {
      if (++braces > 4) return true;
      size_t digits = 0;
      for (size_t j = i + 1; j < s.size() && s[j] >= '0' && s[j] <= '9'; ++j) ++digits;
      if (digits > 2) return true;
    }
  }
  return false;
}

// A directory under $TMPDIR for targets that must write real files, made on
// first use and removed at exit.
inline const std::string& ScratchDir() {
  // Never destroyed: the atexit handler runs after static destructors of
  // objects constructed later than its registration.
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto* path = new std::string(std::string(tmp != nullptr && *tmp ? tmp : "/tmp") +
                                 "/libmaps-fuzz-XXXXXX");
    if (mkdtemp(path->data()) == nullptr) std::abort();
    return path;
  }();
  static const bool cleanup_registered = [] {
    std::atexit([] { std::filesystem::remove_all(*dir); });
    return true;
  }();
  (void)cleanup_registered;
  return *dir;
}

}  // namespace libmaps::fuzz

#endif  // LIBMAPS_TESTS_FUZZ_FUZZ_UTIL_H_
