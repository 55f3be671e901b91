// libmaps/sasl_maps.h: one call for the SASL credential of a connection.
//
// An MTA opens the value of its smtp_sasl_password_maps exactly as written
// in main.cf (`hash:/etc/postfix/sasl_passwd, lmdb:/etc/postfix/more`), then
// asks, per connection, for the credential Postfix's SMTP client would use:
//
//   auto maps = libmaps::SaslPasswordMaps::Open(
//       "hash:/etc/postfix/sasl_passwd, lmdb:/etc/postfix/more");
//   libmaps::SaslLookupContext c;        // libmaps/credential.h
//   c.host = "mail.isp.example";
//   c.dest = "[mail.isp.example]:587";
//   auto found = (*maps)->Find(c);       // StatusOr<optional<LockedCredential>>
//   if (found.ok() && found->has_value()) Authenticate((*found)->username(),
//                                                       (*found)->password());
//
// The order is Postfix 3.7's smtp_sasl_passwd_lookup: the keys of
// SaslLookupKeys() in order (sender probes, host, next hop), and for each
// key the tables in the order listed; the first hit wins, and so does a
// lookup error met before any hit (Postfix defers the delivery then). The
// value is split at its first ':' (a value without ':' is all username,
// with an empty password, as in Postfix).
//
// Secrets: the credential lives in locked memory (not swapped, not in core
// dumps) that is zeroed when the LockedCredential is destroyed. On its way
// from the table, the value passes only through the table's own per-call
// read buffer, which is zeroed before Find() returns. Error messages never
// contain any part of a value.
//
// Thread safety: Find() may be called from several threads at once; a
// LockedCredential belongs to one thread at a time.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_SASL_MAPS_H_
#define LIBMAPS_INCLUDE_LIBMAPS_SASL_MAPS_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libmaps/credential.h"
#include "libmaps/export.h"
#include "libmaps/map.h"

namespace libmaps {

class LIBMAPS_EXPORT LockedCredential {
 public:
  // An empty credential (no memory).
  LockedCredential() noexcept = default;
  ~LockedCredential();
  LockedCredential(LockedCredential&& other) noexcept;
  LockedCredential& operator=(LockedCredential&& other) noexcept;
  LockedCredential(const LockedCredential&) = delete;
  LockedCredential& operator=(const LockedCredential&) = delete;

  // A credential holding `username` and `password` (copied into locked
  // memory). kResourceExhausted when no memory can be had.
  [[nodiscard]] static absl::StatusOr<LockedCredential> Make(std::string_view username,
                                                             std::string_view password);

  // Views of the locked bytes, each followed by a NUL (the _c_str forms);
  // valid until *this is moved from or destroyed.
  [[nodiscard]] std::string_view username() const noexcept;
  [[nodiscard]] std::string_view password() const noexcept;
  [[nodiscard]] const char* username_c_str() const noexcept;
  [[nodiscard]] const char* password_c_str() const noexcept;

  // Where Find() found it: the key and the table ("hash:/etc/postfix/x"),
  // NUL-terminated (the _c_str forms). Not secret. Empty for a credential
  // from Make().
  [[nodiscard]] std::string_view key() const noexcept;
  [[nodiscard]] std::string_view table() const noexcept;
  [[nodiscard]] const char* key_c_str() const noexcept;
  [[nodiscard]] const char* table_c_str() const noexcept;

 private:
  friend class SaslPasswordMaps;
  void Clear() noexcept;
  // All four in one locked block: no other allocation per credential.
  [[nodiscard]] static absl::StatusOr<LockedCredential> MakeFound(
      std::string_view username, std::string_view password, std::string_view key,
      std::string_view table);

  char* data_ = nullptr;  // username NUL password NUL key NUL table NUL
  size_t capacity_ = 0;
  size_t username_size_ = 0;
  size_t password_size_ = 0;
  size_t key_size_ = 0;
  size_t table_size_ = 0;
};

class LIBMAPS_EXPORT SaslPasswordMaps {
 public:
  // Opens every table of `tables`, a list as main.cf writes it: separated by
  // commas or blanks, braces protecting lists inside ("unionmap:{a, b}").
  // Each table is opened with OpenMap() and `options`. Errors are OpenMap's;
  // an empty list is kInvalidArgument.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SaslPasswordMaps>> Open(
      std::string_view tables, const OpenOptions& options = {});

  // The credential for one connection (see the top of this file), or
  // std::nullopt when no table has any of the keys. A lookup error met
  // first is returned as is, its message naming the table.
  [[nodiscard]] absl::StatusOr<std::optional<LockedCredential>> Find(
      const SaslLookupContext& context) const;

  // The same for keys already made (SaslLookupKeys()), in order.
  [[nodiscard]] absl::StatusOr<std::optional<LockedCredential>> FindKeys(
      const std::vector<std::string>& keys) const;

  [[nodiscard]] const std::vector<std::unique_ptr<Map>>& maps() const noexcept { return maps_; }

 private:
  SaslPasswordMaps() = default;
  std::vector<std::unique_ptr<Map>> maps_;
  std::vector<std::string> specs_;  // as written, for LockedCredential::table()
};

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_SASL_MAPS_H_
