// libmaps/secret.h: SecretString, a byte string that holds a secret.
//
// SecretString keeps a password (or any other secret) in a heap buffer that it
// owns alone. The bytes are overwritten with zeros (libsodium's
// sodium_memzero, which the compiler may not optimise away) whenever the
// buffer is given up: on destruction, on Clear(), and when a SecretString is
// assigned over. Moving hands the buffer over without copying it and leaves
// the source empty, so the secret exists in exactly one place.
//
// A SecretString never shows its contents by accident. Every way of printing
// it (operator<<, AbslStringify, GoogleTest's PrintTo) writes "[redacted]",
// so a secret cannot end up in a log line, a status message or a test
// failure. Use view() (or c_str()) only where the secret is really needed,
// e.g. to hand it to a SASL library.
//
// Limits: the buffer is not locked in memory (it can be swapped out), and
// copies the caller makes from view() are the caller's to wipe (WipeString()
// helps for std::string).
//
// Thread safety: as for std::string. Const methods may be called from several
// threads at once; anything else needs external synchronisation.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_SECRET_H_
#define LIBMAPS_INCLUDE_LIBMAPS_SECRET_H_

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>

#include "libmaps/export.h"

namespace libmaps {

class LIBMAPS_EXPORT SecretString {
 public:
  // An empty secret. Allocates nothing.
  SecretString() noexcept = default;

  // Copies `bytes` into a buffer owned by the new object. `bytes` may contain
  // NUL bytes. The caller remains responsible for wiping its own copy.
  explicit SecretString(std::string_view bytes);

  // Wipes and frees the buffer.
  ~SecretString();

  // Takes over the buffer of `other`, which is left empty. The buffer
  // previously held by *this (when assigning) is wiped first.
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;

  // Not copyable: a copy of a secret must be asked for (Clone()).
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;

  // Returns an independent copy holding the same bytes.
  [[nodiscard]] SecretString Clone() const;

  // The secret bytes. The view is valid until *this is cleared, assigned,
  // moved from or destroyed. An empty secret gives an empty view.
  [[nodiscard]] std::string_view view() const noexcept;

  // The secret bytes followed by a NUL byte (not counted in size()), for C
  // interfaces. Never null; lifetime as for view(). If the secret itself
  // contains NUL bytes, C code sees only the part before the first one.
  [[nodiscard]] const char* c_str() const noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // Wipes and frees the buffer; *this becomes empty.
  void Clear() noexcept;

  // Absl's formatting hook (absl::StrCat, absl::StrFormat("%v") in Abseil
  // versions that support it): always "[redacted]".
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const SecretString& /*secret*/) {
    sink.Append("[redacted]");
  }

 private:
  // size_ + 1 bytes (the last one NUL) when size_ > 0, else nullptr.
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

// What every printing of a SecretString produces.
inline constexpr std::string_view kRedacted = "[redacted]";

// Compares two secrets. When the sizes are equal the bytes are compared in
// constant time (sodium_memcmp), so the time taken does not reveal where the
// first difference is; secrets of different sizes compare unequal at once
// (the size is not treated as secret).
[[nodiscard]] LIBMAPS_EXPORT bool operator==(const SecretString& a,
                                             const SecretString& b) noexcept;

// Compares a secret with plain bytes, with the same timing rules. Meant for
// checks such as tests; prefer comparing two SecretStrings in product code.
[[nodiscard]] LIBMAPS_EXPORT bool operator==(const SecretString& a,
                                             std::string_view b) noexcept;

// Writes "[redacted]", never the secret.
LIBMAPS_EXPORT std::ostream& operator<<(std::ostream& os,
                                        const SecretString& secret);

// GoogleTest's printer hook: "[redacted]", so assertion failures that involve
// a SecretString never show the secret.
LIBMAPS_EXPORT void PrintTo(const SecretString& secret, std::ostream* os);

// Overwrites every byte of `*s`'s buffer (its whole capacity, including a
// short-string buffer) with zeros and leaves `*s` empty. Use it for temporary
// std::string copies of a secret. It cannot reach copies that std::string
// left behind when it reallocated earlier.
LIBMAPS_EXPORT void WipeString(std::string* s) noexcept;

// Wipes a string when the scope ends: for a buffer that may have held a
// secret (a table's value on its way to a credential).
class ScopedWipe {
 public:
  explicit ScopedWipe(std::string* s) noexcept : s_(s) {}
  ~ScopedWipe() { WipeString(s_); }
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  std::string* s_;
};

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_SECRET_H_
