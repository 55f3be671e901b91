// What every Postfix reader does to a query key before probing its table:
// the UTF-8 check and case folding, and the trailing-NUL probing state.

#ifndef LIBMAPS_SRC_LOOKUP_KEY_H_
#define LIBMAPS_SRC_LOOKUP_KEY_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libmaps/diagnostics.h"
#include "libmaps/map.h"

namespace libmaps::internal {

// Returns the key to probe: folded when `options.fold_case`. In UTF-8 mode a
// key that is not valid UTF-8 is a miss (std::nullopt), reported as Postfix
// does: `TABLE: non-UTF-8 key "KEY": malformed UTF-8 or invalid codepoint`,
// where TABLE is e.g. "texthash:/etc/x" or "hash:/etc/x.db".
[[nodiscard]] std::optional<std::string> PrepareLookupKey(
    std::string_view key, const OpenOptions& options, std::string_view table);

// The same for a key being stored (Postfix's update-side check), with the
// options spelled out so builders can share it.
[[nodiscard]] std::optional<std::string> PrepareKey(
    std::string_view key, bool fold_case, bool utf8, bool utf8_messages,
    const DiagnosticSink& sink, std::string_view table);

// Postfix's trailing-NUL probing (dict_db.c, dict_lmdb.c): a reader tries
// key+NUL, then key, and the first hit fixes the style for the life of the
// handle. Thread-safe.
class NulProbe {
 public:
  explicit NulProbe(NulPolicy policy)
      : flags_(policy == NulPolicy::kWith      ? kWith
               : policy == NulPolicy::kWithout ? kWithout
                                               : kWith | kWithout) {}
  bool try_with() const { return flags_.load(std::memory_order_relaxed) & kWith; }
  bool try_without() const {
    return flags_.load(std::memory_order_relaxed) & kWithout;
  }
  // Records a hit found with (`with_nul`) or without the NUL.
  void Hit(bool with_nul) {
    flags_.store(with_nul ? kWith : kWithout, std::memory_order_relaxed);
  }

 private:
  static constexpr uint8_t kWith = 1;
  static constexpr uint8_t kWithout = 2;
  std::atomic<uint8_t> flags_;
};

// A stored value as Postfix returns it: a C string, so the text ends at the
// first NUL (a trailing NUL disappears).
inline std::string_view AsCString(std::string_view stored) {
  size_t nul = stored.find('\0');
  return nul == std::string_view::npos ? stored : stored.substr(0, nul);
}

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_LOOKUP_KEY_H_
