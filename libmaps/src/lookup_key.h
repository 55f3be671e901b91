// What every Postfix reader does to a query key before probing its table:
// the UTF-8 check and case folding, and the trailing-NUL probing state.

#ifndef LIBMAPS_SRC_LOOKUP_KEY_H_
#define LIBMAPS_SRC_LOOKUP_KEY_H_

#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstring>
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

// IsAscii() eight bytes at a time: true when no byte has its high bit set.
[[nodiscard]] inline bool IsAsciiText(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t high = 0;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    high |= w;
  }
  for (; n > 0; ++p, --n) high |= static_cast<unsigned char>(*p);
  return (high & 0x8080808080808080ull) == 0;
}

// ASCII lower case of eight bytes at once; bytes with the high bit set are
// left alone.
[[nodiscard]] inline uint64_t LowerAscii8(uint64_t w) {
  const uint64_t low7 = w & 0x7f7f7f7f7f7f7f7full;
  // 0x80 in each byte from 'A' (0x41) up, and in each above 'Z' (0x5a).
  const uint64_t from_a = low7 + 0x3f3f3f3f3f3f3f3full;
  const uint64_t above_z = low7 + 0x2525252525252525ull;
  const uint64_t upper = from_a & ~above_z & ~w & 0x8080808080808080ull;
  return w | (upper >> 2);  // 0x20, the case bit, in each upper-case letter
}

// Writes `in` to `out` (room for in.size() bytes) with ASCII letters
// lowered, eight bytes at a time: Postfix's folding outside UTF-8 mode, and
// what full folding does to ASCII text.
inline void FoldAsciiInto(std::string_view in, char* out) {
  size_t i = 0;
  for (; i + 8 <= in.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, in.data() + i, 8);
    w = LowerAscii8(w);
    std::memcpy(out + i, &w, 8);
  }
  for (; i < in.size(); ++i) {
    const char c = in[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
}

// `in` with ASCII letters lowered (FoldAsciiInto) into `*out`.
inline void FoldAscii(std::string_view in, std::string* out) {
  out->resize(in.size());
  FoldAsciiInto(in, out->data());
}

// A query key prepared for probing: folded as PrepareKey() folds it, with
// room for Postfix's trailing NUL. Keys up to kInline bytes that fold without
// ICU (ASCII, or fold_case off) are kept in the object itself, so preparing
// them allocates nothing. Not copyable: the views point into the object.
class ProbeKey {
 public:
  ProbeKey() = default;
  ProbeKey(const ProbeKey&) = delete;
  ProbeKey& operator=(const ProbeKey&) = delete;

  // As PrepareKey(): false, after the warning, for a key that is not valid
  // UTF-8 in UTF-8 mode. `table` is only used for that warning.
  [[nodiscard]] bool Prepare(std::string_view key, bool fold_case, bool utf8,
                             bool utf8_messages, const DiagnosticSink& sink,
                             std::string_view table);

  // The folded key, and the same followed by a NUL.
  std::string_view without_nul() const { return {data_, size_}; }
  std::string_view with_nul() const { return {data_, size_ + 1}; }

 private:
  static constexpr size_t kInline = 255;
  char inline_[kInline + 1];
  std::string heap_;
  char* data_ = inline_;
  size_t size_ = 0;
};

// Whether a map opened with `policy` keeps its shared lock for a moment
// after a lookup (LingeringLock).
inline bool Lingers(LockPolicy policy) { return policy == LockPolicy::kPerLookup; }

// When a LockPolicy::kSnapshot map next looks at its file: at most once per
// kInterval, judged by CLOCK_MONOTONIC_COARSE (read from the vDSO: a few
// nanoseconds, no system call). Thread-safe; two threads may both find a
// check due, which only costs a second check.
class RecheckTimer {
 public:
  static constexpr int64_t kIntervalNs = 1'000'000'000;

  bool Due() const { return Now() >= next_.load(std::memory_order_relaxed); }
  // The file was just checked: the next check is due in kInterval.
  void Checked() { next_.store(Now() + kIntervalNs, std::memory_order_relaxed); }
  // Makes the next lookup check (after a lookup saw the file shrink).
  void Expire() { next_.store(0, std::memory_order_relaxed); }

 private:
  static int64_t Now() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
  std::atomic<int64_t> next_{0};
};

// How long one LookupEach call holds a table's shared lock before it lets
// writers in (releases it and takes it again between two keys): the safe
// batch of map.h. Judged by CLOCK_MONOTONIC (vDSO), read every kStride keys,
// so the clock costs under 2 ns a key; a key's lookup and `fn` together
// take well under a microsecond, so the hold overshoots by a few µs at most.
class HoldBound {
 public:
  static constexpr int64_t kMaxHoldNs = 2'000'000;  // 2 ms
  static constexpr size_t kStride = 16;

  // The lock was just taken.
  void Start() {
    since_start_ = 0;
    start_ = Now();
  }
  // After each key: true when the lock has been held long enough.
  bool Expired() {
    if (++since_start_ % kStride != 0) return false;
    return Now() - start_ >= kMaxHoldNs;
  }

 private:
  static int64_t Now() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
  int64_t start_ = 0;
  size_t since_start_ = 0;
};

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
