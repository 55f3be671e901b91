#include "libmaps/credential.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "status_macros.h"

namespace libmaps {
namespace {

// Longest part of a key that an error message quotes.
constexpr std::size_t kMaxQuotedLength = 100;

constexpr std::string_view kWhitespace = " \t\r\n\v\f";

bool IsAsciiAlpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsAsciiDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

char AsciiToLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return AsciiToLower(x) == AsciiToLower(y);
         });
}
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}
bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         EqualsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra;
    char32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points above U+10FFFF.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// Text for a message: printable ASCII and valid UTF-8 as is, '"' and '\'
// backslash-escaped, anything else as \xNN.
std::string Escape(std::string_view s) {
  const bool utf8 = IsValidUtf8(s);
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (IsControl(c) || (c >= 0x80 && !utf8)) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    } else {
      out += ch;
    }
  }
  return out;
}

// `text` in double quotes, for a message. Only the part before the first
// whitespace is shown: a caller that passes a whole "key value" line by
// mistake must not see the value (a password) echoed back.
std::string Quote(std::string_view text) {
  bool cut = false;
  if (std::size_t end = text.find_first_of(kWhitespace);
      end != std::string_view::npos) {
    text = text.substr(0, end);
    cut = true;
  }
  if (text.size() > kMaxQuotedLength) {
    text = text.substr(0, kMaxQuotedLength);
    cut = true;
  }
  return absl::StrCat("\"", Escape(text), cut ? "..." : "", "\"");
}

std::string DescribeChar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c > 0x20 && c < 0x7f) return absl::StrCat("'", std::string(1, ch), "'");
  return absl::StrCat("'", Escape(std::string_view(&ch, 1)), "'");
}

absl::Status Problem(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// Prefixes a problem found in `text` with what `text` is and its quoted form.
absl::Status Annotate(const absl::Status& problem, const char* noun,
                      std::string_view text) {
  const absl::string_view message = problem.message();
  return absl::Status(
      problem.code(),
      absl::StrCat(noun, " ", Quote(text), ": ",
                   std::string(message.data(), message.size())));
}

// Whitespace, control characters and encoding: checked before anything else,
// so that later messages can quote the text safely.
absl::Status CheckCharacters(std::string_view text) {
  if (std::size_t ws = text.find_first_of(kWhitespace);
      ws != std::string_view::npos) {
    return Problem(ws == 0 ? "starts with whitespace" : "contains whitespace");
  }
  if (std::any_of(text.begin(), text.end(), [](char c) {
        return IsControl(static_cast<unsigned char>(c));
      })) {
    return Problem("contains a control character");
  }
  if (!IsValidUtf8(text)) return Problem("is not valid UTF-8");
  return absl::OkStatus();
}

bool IsIpv4Address(std::string_view s) {
  const std::string copy(s);
  in_addr addr;
  return inet_pton(AF_INET, copy.c_str(), &addr) == 1;
}

bool IsIpv6Address(std::string_view s) {
  const std::string copy(s);
  in6_addr addr;
  return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

// A DNS name (letters, digits, '-', '_', UTF-8) or an IPv4 address. `noun` is
// "host name" or "domain".
absl::Status CheckHostName(std::string_view name, const char* noun) {
  if (name.empty()) return Problem(absl::StrCat("empty ", noun));
  if (std::all_of(name.begin(), name.end(), [](char c) {
        return IsAsciiDigit(static_cast<unsigned char>(c)) || c == '.';
      })) {
    if (IsIpv4Address(name)) return absl::OkStatus();
    return Problem(absl::StrCat("invalid IPv4 address ", Quote(name)));
  }
  if (name.size() > 255) {
    return Problem(absl::StrCat(noun, " is longer than 255 bytes"));
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label = name.substr(
        start,
        dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) {
      return Problem(absl::StrCat("empty label in ", noun, " ", Quote(name)));
    }
    if (label.size() > 63) {
      return Problem(absl::StrCat("label longer than 63 bytes in ", noun));
    }
    for (char ch : label) {
      const auto c = static_cast<unsigned char>(ch);
      if (!IsAsciiAlpha(c) && !IsAsciiDigit(c) && ch != '-' && ch != '_' &&
          c < 0x80) {
        return Problem(
            absl::StrCat("invalid character ", DescribeChar(ch), " in ", noun));
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Problem(absl::StrCat("label starts or ends with '-' in ", noun,
                                  " ", Quote(name)));
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return absl::OkStatus();
}

// Empty (default port), a number 1-65535, or a service name.
absl::Status CheckPort(std::string_view port) {
  if (port.empty()) return absl::OkStatus();
  if (std::all_of(port.begin(), port.end(), [](char c) {
        return IsAsciiDigit(static_cast<unsigned char>(c));
      })) {
    unsigned long value = 0;
    for (char c : port) {
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535) break;
    }
    if (value < 1 || value > 65535) {
      return Problem(
          absl::StrCat("port ", Quote(port), " is out of range 1-65535"));
    }
    return absl::OkStatus();
  }
  for (char ch : port) {
    const auto c = static_cast<unsigned char>(ch);
    if (!IsAsciiAlpha(c) && !IsAsciiDigit(c) && ch != '-') {
      return Problem(
          absl::StrCat("invalid character ", DescribeChar(ch), " in port"));
    }
  }
  const bool has_letter = std::any_of(port.begin(), port.end(), [](char c) {
    return IsAsciiAlpha(static_cast<unsigned char>(c));
  });
  if (!has_letter || port.front() == '-' || port.back() == '-') {
    return Problem(absl::StrCat("invalid service name ", Quote(port)));
  }
  return absl::OkStatus();
}

constexpr std::string_view kIpv6Prefix = "ipv6:";

// The inside of "[...]": an "IPv6:"-prefixed or plain IPv6 address, an IPv4
// address or a host name. Returns the host with any prefix removed.
absl::StatusOr<std::string> ParseBracketContent(std::string_view content) {
  if (content.empty()) return Problem("empty host name");
  if (StartsWithIgnoreCase(content, kIpv6Prefix)) {
    const std::string_view address = content.substr(kIpv6Prefix.size());
    if (address.empty()) return Problem("empty IPv6 address");
    if (!IsIpv6Address(address)) {
      return Problem(absl::StrCat("invalid IPv6 address ", Quote(address)));
    }
    return std::string(address);
  }
  if (content.find(':') != std::string_view::npos) {
    if (!IsIpv6Address(content)) {
      return Problem(absl::StrCat("invalid IPv6 address ", Quote(content)));
    }
    return std::string(content);
  }
  LIBMAPS_RETURN_IF_ERROR(CheckHostName(content, "host name"));
  return std::string(content);
}

struct HostPort {
  std::string host;
  std::string port;
  bool empty_port = false;
  bool bracketed = false;
};

// Postfix's host[:port] syntax, with and without brackets. A bare text with
// two or more ':' is an IPv6 address when `allow_bare_ipv6` (a host key for
// an address next hop), and an error otherwise.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text,
                                       bool allow_bare_ipv6) {
  HostPort result;
  std::string_view port;
  bool has_port_separator = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return Problem("missing ']'");
    const std::string_view content = text.substr(1, close - 1);
    if (content.find('[') != std::string_view::npos) {
      return Problem("unbalanced '['");
    }
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Problem("unexpected text after ']' (expected \":port\")");
      }
      has_port_separator = true;
      port = rest.substr(1);
      if (port.find_first_of("[]") != std::string_view::npos) {
        return Problem("unbalanced brackets");
      }
    }
    LIBMAPS_ASSIGN_OR_RETURN(result.host, ParseBracketContent(content));
    result.bracketed = true;
  } else {
    if (text.find('[') != std::string_view::npos) {
      return Problem("'[' is only allowed at the start");
    }
    if (text.find(']') != std::string_view::npos) {
      return Problem("unbalanced ']'");
    }
    const std::size_t colons = std::count(text.begin(), text.end(), ':');
    std::string_view host = text;
    if (colons == 1) {
      const std::size_t colon = text.find(':');
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      has_port_separator = true;
    } else if (colons > 1) {
      if (!allow_bare_ipv6) {
        return Problem(
            "valid hostname or network address required (an IPv6 address "
            "needs brackets)");
      }
      if (!IsIpv6Address(text)) {
        return Problem(
            "invalid IPv6 address (an address with a port needs brackets: "
            "[address]:port)");
      }
      result.host = std::string(text);
      return result;
    }
    if (host.empty()) return Problem("empty host name");
    LIBMAPS_RETURN_IF_ERROR(CheckHostName(host, "host name"));
    result.host = std::string(host);
  }
  LIBMAPS_RETURN_IF_ERROR(CheckPort(port));
  result.port = std::string(port);
  result.empty_port = has_port_separator && port.empty();
  return result;
}

// An address domain: a host name, or a domain literal "[192.0.2.1]" or
// "[IPv6:2001:db8::1]".
absl::Status CheckDomain(std::string_view domain) {
  if (domain.empty()) return Problem("empty domain");
  if (domain.front() == '[') {
    if (domain.back() != ']' || domain.size() < 2) {
      return Problem("missing ']' in domain literal");
    }
    const std::string_view content = domain.substr(1, domain.size() - 2);
    if (content.find_first_of("[]") != std::string_view::npos) {
      return Problem("unbalanced brackets in domain literal");
    }
    if (StartsWithIgnoreCase(content, kIpv6Prefix)) {
      if (IsIpv6Address(content.substr(kIpv6Prefix.size()))) {
        return absl::OkStatus();
      }
    } else if (IsIpv4Address(content)) {
      return absl::OkStatus();
    }
    return Problem(absl::StrCat("invalid domain literal ", Quote(domain)));
  }
  if (domain.find_first_of("[]") != std::string_view::npos) {
    return Problem("unbalanced brackets in domain");
  }
  return CheckHostName(domain, "domain");
}

// A local part as written in a table key: either an RFC 5322 quoted string
// or anything without '"' (an internal-form key may contain any other
// character; whitespace and controls were rejected before).
absl::Status CheckLocalPart(std::string_view local) {
  if (local.front() != '"') {
    if (local.find('"') != std::string_view::npos) {
      return Problem("stray '\"' in local part");
    }
    return absl::OkStatus();
  }
  std::size_t i = 1;
  while (i < local.size()) {
    if (local[i] == '\\') {
      i += 2;
      continue;
    }
    if (local[i] == '"') break;
    ++i;
  }
  if (i >= local.size()) return Problem("unbalanced '\"' in local part");
  if (i != local.size() - 1) return Problem("stray '\"' in local part");
  return absl::OkStatus();
}

absl::StatusOr<CredentialKey> ParseKeyImpl(std::string_view key) {
  LIBMAPS_RETURN_IF_ERROR(CheckCharacters(key));
  CredentialKey result;
  if (key.front() != '[' && key.find('@') != std::string_view::npos) {
    const std::size_t at = key.rfind('@');
    const std::string_view local = key.substr(0, at);
    const std::string_view domain = key.substr(at + 1);
    LIBMAPS_RETURN_IF_ERROR(CheckDomain(domain));
    if (local.empty()) {
      result.kind = CredentialKeyKind::kDomain;
    } else {
      LIBMAPS_RETURN_IF_ERROR(CheckLocalPart(local));
      result.kind = CredentialKeyKind::kAddress;
      result.local_part = std::string(local);
    }
    result.domain = std::string(domain);
    return result;
  }
  LIBMAPS_ASSIGN_OR_RETURN(HostPort host_port,
                           ParseHostPort(key, /*allow_bare_ipv6=*/true));
  result.kind = host_port.bracketed ? CredentialKeyKind::kBracketedHost
                                    : CredentialKeyKind::kHost;
  result.host = std::move(host_port.host);
  result.port = std::move(host_port.port);
  result.empty_port = host_port.empty_port;
  result.bracketed = host_port.bracketed;
  return result;
}

// RFC 5322: a local part that is not a dot-atom must be quoted. Bytes above
// 0x7f count as atom text (SMTPUTF8).
bool LocalPartNeedsQuoting(std::string_view local) {
  if (local.empty()) return false;
  if (local.front() == '.' || local.back() == '.') return true;
  bool previous_dot = false;
  for (char ch : local) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '.') {
      if (previous_dot) return true;
      previous_dot = true;
      continue;
    }
    previous_dot = false;
    if (c >= 0x80) continue;
    if (c <= 0x20 || c == 0x7f) return true;
    if (std::string_view("()<>@,;:\\\"[]").find(ch) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

std::string ExternalLocalPart(std::string_view local) {
  if (!LocalPartNeedsQuoting(local)) return std::string(local);
  std::string out = "\"";
  for (char ch : local) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
  return out;
}

// The local part without its address extension, or nullopt when it is not
// split (see SaslLookupKeys in the header for the exceptions).
std::optional<std::string_view> StripExtension(
    std::string_view local, const SaslLookupContext& context) {
  const std::string_view delimiters = context.recipient_delimiter;
  if (delimiters.empty()) return std::nullopt;
  for (std::string_view reserved :
       {"postmaster", "mailer-daemon", "double-bounce"}) {
    if (EqualsIgnoreCase(local, reserved)) return std::nullopt;
  }
  if (context.owner_request_special &&
      delimiters.find('-') != std::string_view::npos &&
      (StartsWithIgnoreCase(local, "owner-") ||
       EndsWithIgnoreCase(local, "-request"))) {
    return std::nullopt;
  }
  const std::size_t pos = local.find_first_of(delimiters);
  if (pos == std::string_view::npos || pos == 0) return std::nullopt;
  return local.substr(0, pos);
}

class KeyList {
 public:
  void Add(std::string key) {
    if (key.empty()) return;
    if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) return;
    keys_.push_back(std::move(key));
  }

  // One address probe: external form, then internal form if different.
  void AddAddress(std::string_view local,
                  std::optional<std::string_view> domain) {
    std::string external = ExternalLocalPart(local);
    std::string internal(local);
    if (domain.has_value()) {
      absl::StrAppend(&external, "@", std::string(*domain));
      absl::StrAppend(&internal, "@", std::string(*domain));
    }
    Add(std::move(external));
    Add(std::move(internal));
  }

  std::vector<std::string> Take() && { return std::move(keys_); }

 private:
  std::vector<std::string> keys_;
};

void AddSenderProbes(const SaslLookupContext& context, KeyList& keys) {
  const std::string_view sender = context.sender;
  const std::size_t at = sender.rfind('@');
  const std::string_view local = sender.substr(0, at);
  std::optional<std::string_view> domain;
  if (at != std::string_view::npos) domain = sender.substr(at + 1);
  const std::optional<std::string_view> bare = StripExtension(local, context);

  keys.AddAddress(local, domain);
  if (bare.has_value()) keys.AddAddress(*bare, domain);
  if (!domain.has_value() || domain->empty()) return;
  if (context.is_local_domain && context.is_local_domain(*domain)) {
    keys.AddAddress(local, std::nullopt);
    if (bare.has_value()) keys.AddAddress(*bare, std::nullopt);
  }
  keys.Add(absl::StrCat("@", std::string(*domain)));
}

}  // namespace

absl::StatusOr<CredentialKey> ParseCredentialKey(std::string_view key) {
  if (key.empty()) return Problem("empty credential key");
  absl::StatusOr<CredentialKey> result = ParseKeyImpl(key);
  if (!result.ok()) return Annotate(result.status(), "credential key", key);
  return result;
}

Credential Credential::Clone() const {
  return Credential{username, password.Clone()};
}

absl::StatusOr<Credential> ParseCredentialValue(std::string_view value) {
  // The messages below are fixed texts: nothing of the value may appear.
  if (value.empty()) return Problem("empty credential value");
  if (value.find('\0') != std::string_view::npos) {
    return Problem("credential value contains a NUL byte");
  }
  const std::size_t colon = value.find(':');
  Credential credential;
  credential.username = std::string(value.substr(0, colon));
  if (colon != std::string_view::npos) {
    credential.password = SecretString(value.substr(colon + 1));
  }
  return credential;
}

absl::StatusOr<CredentialEntry> ParseCredential(std::string_view key,
                                                std::string_view value) {
  CredentialEntry entry;
  LIBMAPS_ASSIGN_OR_RETURN(entry.key, ParseCredentialKey(key));
  absl::StatusOr<Credential> credential = ParseCredentialValue(value);
  if (!credential.ok()) {
    return Annotate(credential.status(), "credential key", key);
  }
  entry.credential = *std::move(credential);
  return entry;
}

std::ostream& operator<<(std::ostream& os, const Credential& credential) {
  os << "{username: ";
  if (credential.password.empty()) {
    os << kRedacted;
  } else {
    os << '"' << Escape(credential.username) << '"';
  }
  return os << ", password: " << kRedacted << "}";
}

void PrintTo(const Credential& credential, std::ostream* os) {
  *os << credential;
}

std::vector<std::string> SaslLookupKeys(const SaslLookupContext& context) {
  KeyList keys;
  if (!context.lmtp && context.sender_dependent_authentication &&
      !context.sender.empty()) {
    AddSenderProbes(context, keys);
  }
  keys.Add(context.host);
  keys.Add(context.dest);
  return std::move(keys).Take();
}

absl::StatusOr<SaslNextHop> ParseSaslNextHop(std::string_view nexthop,
                                             bool lmtp) {
  if (nexthop.empty()) return Problem("empty next hop");
  std::string_view text = nexthop;
  if (lmtp) {
    constexpr std::string_view kUnix = "unix:";
    constexpr std::string_view kInet = "inet:";
    if (text.substr(0, kUnix.size()) == kUnix) {
      const std::string_view path = text.substr(kUnix.size());
      if (path.empty()) {
        return Annotate(Problem("empty socket path"), "next hop", nexthop);
      }
      if (absl::Status s = CheckCharacters(path); !s.ok()) {
        return Annotate(s, "next hop", nexthop);
      }
      SaslNextHop result;
      result.dest_key = std::string(path);
      return result;
    }
    if (text.substr(0, kInet.size()) == kInet) text.remove_prefix(kInet.size());
  }
  absl::Status status = CheckCharacters(nexthop);
  absl::StatusOr<HostPort> host_port =
      status.ok() ? ParseHostPort(text, /*allow_bare_ipv6=*/false)
                  : absl::StatusOr<HostPort>(status);
  if (!host_port.ok()) return Annotate(host_port.status(), "next hop", nexthop);
  SaslNextHop result;
  result.dest_key = std::string(text);
  result.host = std::move(host_port->host);
  result.port = std::move(host_port->port);
  result.mx_lookup = !lmtp && !host_port->bracketed;
  return result;
}

}  // namespace libmaps
