// libmaps/credential.h: SASL client credentials as Postfix's SMTP client
// finds them in smtp_sasl_password_maps (lmtp_sasl_password_maps for LMTP).
//
// A password table maps a key (a next-hop destination such as
// "[mail.isp.example]:587", a server host name, or a sender address or
// domain) to a value "username:password". This header provides:
//
//  - ParseCredentialKey: classifies and checks a table key;
//  - ParseCredentialValue: splits a value into username and password the
//    way Postfix does;
//  - SaslLookupKeys: the keys Postfix's SMTP client probes, in order, for one
//    connection, so a tool can explain which table entry would be used;
//  - ParseSaslNextHop: the next-hop and host keys that follow from a next hop
//    such as a relayhost value.
//
// All functions are pure (no I/O, no DNS, no service name resolution) and
// none of them folds case: the table folds keys when it is built and looked
// up (see libmaps/map.h), so keys are returned exactly as written.
//
// Secrets: error messages may quote a key (keys are not secret) but never any
// part of a value; passwords are held in SecretString (libmaps/secret.h).
//
// Thread safety: all functions may be called concurrently.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_CREDENTIAL_H_
#define LIBMAPS_INCLUDE_LIBMAPS_CREDENTIAL_H_

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libmaps/export.h"
#include "libmaps/secret.h"

namespace libmaps {

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

// What a password-table key names, and so which probe can match it.
enum class CredentialKeyKind {
  // "[host]" or "[host]:port": a next hop written with brackets (no MX
  // lookup). Matches only a next hop written exactly the same way.
  kBracketedHost,
  // "host" or "host:port". Without a port this matches the server host name
  // probe (the MX host or the host in brackets) and an MX-style next hop
  // "host"; with a port only an MX-style next hop "host:port".
  kHost,
  // "user@domain": a sender address (sender-dependent authentication).
  kAddress,
  // "@domain": every sender in the domain (sender-dependent authentication).
  kDomain,
};

// A parsed password-table key. Fields that do not apply to the kind are
// empty.
struct CredentialKey {
  CredentialKeyKind kind = CredentialKeyKind::kHost;
  // kBracketedHost, kHost: the host name or address without brackets. An
  // IPv6 address loses its "IPv6:" prefix (any case), as in Postfix's host
  // lookup: "[IPv6:2001:db8::1]:587" gives "2001:db8::1".
  std::string host;
  // kBracketedHost, kHost: the port as written, either a number 1-65535 or a
  // service name such as "submission" (not resolved). Empty when the key has
  // no port or an empty one ("[host]:"); Postfix then uses the default port.
  std::string port;
  // kBracketedHost, kHost: true for "[host]:" and "host:", a ':' with
  // nothing after it. Such a key means the default port, but as a next-hop
  // key it only matches a next hop written with the same trailing ':'.
  bool empty_port = false;
  // kBracketedHost: always true; otherwise false.
  bool bracketed = false;
  // kAddress: the local part as written (an RFC 5322 quoted local part keeps
  // its quotes).
  std::string local_part;
  // kAddress, kDomain: the domain as written (a domain literal keeps its
  // brackets, e.g. "[192.0.2.1]").
  std::string domain;
};

// Parses a key of a SASL password table. Accepted forms:
//
//   [host]:port  [host]  [host]:        brackets: no MX lookup
//   host:port    host    host:          MX-style next hop, or server host name
//   [192.0.2.10]:587   [2001:db8::1]:587   [IPv6:2001:db8::1]:587
//   192.0.2.10   2001:db8::1            an address as the server host name
//   user@domain  "quoted local"@domain  sender address
//   @domain                             sender domain
//
// host is a DNS name (labels of letters, digits, '-', '_' or UTF-8, at most
// 63 bytes each and 255 in all, no empty label, no label starting or ending
// with '-'), an IPv4 address, or (brackets, or alone without a port) an IPv6
// address. A port is a decimal number 1-65535 or a service name (letters,
// digits and '-', at least one letter, not starting or ending with '-').
// An address is split at its last '@'; its domain is a host name or a domain
// literal in brackets.
//
// Errors: kInvalidArgument, with a message that quotes the key (up to its
// first whitespace, so a whole "key value" line passed by mistake never
// shows the value), for: an empty key; whitespace or control characters;
// bytes that are not UTF-8; unbalanced '[' / ']'; text after ']' other than
// ":port"; an empty host or domain; an invalid host name, address, domain
// literal or port; a port number outside 1-65535; an unbalanced or stray '"'
// in the local part.
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<CredentialKey> ParseCredentialKey(
    std::string_view key);

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

// A username and password from a password table. Movable, not copyable (use
// Clone()); the password is wiped when the Credential goes away.
struct LIBMAPS_EXPORT Credential {
  std::string username;
  SecretString password;

  [[nodiscard]] Credential Clone() const;
};

// Splits a table value the way Postfix 3.7 does: at the first ':', so the
// username cannot contain ':' but the password can. A value without ':' is
// all username, with an empty password. Nothing is trimmed or unquoted; an
// empty username (":password") is accepted, as Postfix accepts it.
//
// Errors (kInvalidArgument): an empty value (Postfix treats an empty lookup
// result as a table error); a NUL byte in the value (C code, Postfix
// included, would see a truncated value). The message never contains any
// part of the value.
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<Credential> ParseCredentialValue(
    std::string_view value);

// A table entry: its key and its value, both parsed.
struct LIBMAPS_EXPORT CredentialEntry {
  CredentialKey key;
  Credential credential;
};

// Parses both halves of a table entry. Errors as for ParseCredentialKey, then
// ParseCredentialValue; a value error names the key it belongs to.
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<CredentialEntry> ParseCredential(
    std::string_view key, std::string_view value);

// Prints "{username: "<username>", password: [redacted]}". When the password
// is empty the username is redacted too: a value without ':' (for instance
// "user pass", a mistake) is all username and may well hold a password.
LIBMAPS_EXPORT std::ostream& operator<<(std::ostream& os,
                                        const Credential& credential);

// GoogleTest's printer hook; the same text as operator<<.
LIBMAPS_EXPORT void PrintTo(const Credential& credential, std::ostream* os);

// ---------------------------------------------------------------------------
// Lookup order
// ---------------------------------------------------------------------------

// What Postfix's SMTP or LMTP client knows when it looks up credentials for
// one connection.
struct SaslLookupContext {
  // The envelope sender in internal (unquoted) form, as Postfix keeps it in
  // the queue, e.g. `john smith@example.com`. Empty for the null sender.
  std::string sender;
  // smtp_sender_dependent_authentication (default no).
  bool sender_dependent_authentication = false;
  // recipient_delimiter: a set of characters, any of which starts an address
  // extension. Empty: addresses have no extension.
  std::string recipient_delimiter;
  // owner_request_special (default yes): when '-' is a delimiter,
  // "owner-list" and "list-request" are not split.
  bool owner_request_special = true;
  // Whether a domain is local to this Postfix ($myorigin, $mydestination,
  // an address of a local interface). Called with the sender's domain as
  // written. Empty: no domain is local.
  std::function<bool(std::string_view domain)> is_local_domain;
  // The name of the server being connected to (Postfix's iter->host): the MX
  // host name, or the host in a bracketed next hop.
  std::string host;
  // The next-hop destination exactly as configured (Postfix's iter->dest),
  // e.g. "[mail.isp.example]:587". For LMTP without "inet:".
  std::string dest;
  // LMTP (lmtp_sasl_password_maps) rather than SMTP: no sender lookups.
  bool lmtp = false;
};

// Returns the keys Postfix's client looks up, in order; the first key the
// table has wins. The order (Postfix 3.7, smtp_sasl_passwd_lookup):
//
//  1. Only for SMTP with sender_dependent_authentication and a non-empty
//     sender, the sender probes of Postfix's address lookup:
//       a. the full address (`user+ext@domain`);
//       b. `user@domain`, the address without its extension (only when
//          recipient_delimiter is set and the local part has an extension;
//          postmaster, mailer-daemon and double-bounce are never split, nor
//          owner-/-request names as described above, nor a local part that
//          would become empty);
//       c. when the domain is local: the bare local part `user+ext`, then
//          `user` (if there is an extension);
//       d. `@domain`.
//     Each address probe (a-c) is made with the local part in external form
//     (RFC 5322: quoted when it is not a dot-atom, e.g.
//     `"john smith"@example.com`) and then, only if that differs, in the
//     internal form given. A sender without '@' gives probes a and b only.
//  2. host (the server host name).
//  3. dest (the next hop).
//
// Empty keys are left out (Postfix finds nothing for them), and so is a key
// equal to an earlier one (the table would give the same answer again, so the
// first hit does not change; e.g. host and dest are both "example.com" when
// that domain has no MX records). Case is not folded.
[[nodiscard]] LIBMAPS_EXPORT std::vector<std::string> SaslLookupKeys(
    const SaslLookupContext& context);

// The keys that follow from one next-hop destination (a relayhost value, a
// transport next hop, a sender_dependent_relayhost_maps result). A list
// ("[a]:587, [b]:587") must be split by the caller; each element is a next
// hop of its own.
struct SaslNextHop {
  // The next-hop key (SaslLookupContext::dest): the text as written, for
  // LMTP without its "inet:" or "unix:" prefix.
  std::string dest_key;
  // The host part: with brackets, the host key Postfix probes
  // (SaslLookupContext::host); for an MX-style next hop the domain whose MX
  // hosts are tried (the host key is then the MX host name, or this domain
  // when it has no MX records). Empty for an LMTP "unix:" socket, where
  // Postfix uses $myhostname. No "IPv6:" prefix.
  std::string host;
  // The port or service as written; empty for the default port.
  std::string port;
  // True when Postfix looks up MX records (SMTP, no brackets).
  bool mx_lookup = false;
};

// Derives the keys for `nexthop` as the table in the Postfix semantics spec
// (section 6.2) shows:
//
//   next hop                 dest_key                 host
//   [mail.isp.example]:587   [mail.isp.example]:587   mail.isp.example
//   [IPv6:2001:db8::1]:587   [IPv6:2001:db8::1]:587   2001:db8::1
//   [host]:                  [host]:                  host (port empty)
//   example.com              example.com              example.com (MX)
//   LMTP inet:host:24        host:24                  host
//   LMTP unix:/path          /path                    (empty)
//
// For SMTP, "inet:" and "unix:" are not prefixes: "inet:host" is host "inet"
// with service "host" (Postfix then fails on the unknown service).
//
// Errors (kInvalidArgument, quoting the next hop): the syntax errors of
// ParseCredentialKey for host forms; an address form ("user@domain"); an
// IPv6 address without brackets ("valid hostname or network address
// required", as Postfix says); an empty "unix:" path.
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<SaslNextHop> ParseSaslNextHop(
    std::string_view nexthop, bool lmtp = false);

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_CREDENTIAL_H_
