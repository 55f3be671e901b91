#include "backends/cidr_map.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/rule_table.h"
#include "string_view_compat.h"
#include "value_files.h"

namespace libmaps::internal {
namespace {

constexpr size_t kNoEndif = static_cast<size_t>(-1);

struct CidrRule {
  enum class Op { kMatch, kIf, kEndif };
  Op op = Op::kMatch;
  bool match = true;
  int family = AF_INET;
  uint8_t bytes = 4;  // 4 or 16
  std::array<uint8_t, 16> net{};
  std::array<uint8_t, 16> mask{};
  std::string value;
  int line = 0;
  size_t endif = kNoEndif;

  // Postfix's cidr_match_entry(), for an address of the rule's family.
  bool Matches(const uint8_t* addr) const {
    for (size_t i = 0; i < bytes; ++i) {
      if ((addr[i] & mask[i]) != net[i]) return !match;
    }
    return match;
  }
};

// Postfix's address family test: a ':' anywhere makes it IPv6.
int FamilyOf(std::string_view text) {
  return text.find(':') != std::string_view::npos ? AF_INET6 : AF_INET;
}

// Keeps the first `bits` bits of `bytes` (Postfix's mask_addr()).
void KeepBits(uint8_t* bytes, size_t count, unsigned bits) {
  size_t i = bits / 8;
  const unsigned rest = bits % 8;
  if (rest != 0 && i < count) {
    bytes[i] = static_cast<uint8_t>(bytes[i] & (0xffu << (8 - rest)));
    ++i;
  }
  for (; i < count; ++i) bytes[i] = 0;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Postfix's cidr_match_parse(): `pattern` into the rule's network and
// mask; on failure returns the reason in Postfix's words.
std::optional<std::string> ParseNetwork(std::string pattern, CidrRule* rule) {
  std::string address;
  std::optional<std::string> mask;
  if (!pattern.empty() && pattern.front() == '[') {
    pattern.erase(0, 1);
    const size_t close = pattern.find(']');
    if (close == std::string::npos) {
      return absl::StrCat("missing ']' character after \"[", pattern, "\"");
    }
    address = pattern.substr(0, close);
    const std::string after = pattern.substr(close + 1);
    if (!after.empty() && after.front() != '/') {
      return absl::StrCat("garbage after \"[", address, "]\"");
    }
    if (!after.empty()) mask = after.substr(1);
    else {
      // "[addr]" alone: a '/' inside the brackets still splits.
      const size_t slash = address.find('/');
      if (slash != std::string::npos) {
        mask = address.substr(slash + 1);
        address.resize(slash);
      }
    }
  } else {
    const size_t slash = pattern.find('/');
    address = pattern.substr(0, slash);
    if (slash != std::string::npos) mask = pattern.substr(slash + 1);
  }
  rule->family = FamilyOf(address);
  rule->bytes = rule->family == AF_INET6 ? 16 : 4;
  const unsigned bit_count = rule->bytes * 8u;
  if (mask) {
    const char* reason = nullptr;
    unsigned shift = 0;
    if (!AllDigits(*mask)) {
      reason = "bad mask value";
    } else {
      // atoi() stored in an unsigned char, as Postfix does.
      const int v = static_cast<int>(std::strtol(mask->c_str(), nullptr, 10));
      shift = static_cast<uint8_t>(v);
      if (shift > bit_count) {
        reason = "bad mask length";
      } else if (inet_pton(rule->family, address.c_str(), rule->net.data()) != 1) {
        reason = "bad network value";
      }
    }
    if (reason != nullptr) return absl::StrCat(reason, " in \"", address, "/", *mask, "\"");
    rule->mask.fill(0);
    std::memset(rule->mask.data(), 0xff, rule->bytes);
    KeepBits(rule->mask.data(), rule->bytes, shift);
    for (size_t i = 0; i < rule->bytes; ++i) {
      if ((rule->net[i] & ~rule->mask[i]) != 0) {
        KeepBits(rule->net.data(), rule->bytes, shift);
        char text[INET6_ADDRSTRLEN];
        inet_ntop(rule->family, rule->net.data(), text, sizeof(text));
        return absl::StrCat("non-null host address bits in \"", address, "/", *mask,
                            "\", perhaps you should use \"", text, "/", shift, "\" instead");
      }
    }
    return std::nullopt;
  }
  if (inet_pton(rule->family, address.c_str(), rule->net.data()) != 1) {
    return absl::StrCat("bad address pattern: \"", address, "\"");
  }
  rule->mask.fill(0);
  std::memset(rule->mask.data(), 0xff, rule->bytes);
  return std::nullopt;
}

class CidrMap final : public Map {
 public:
  CidrMap(std::string name, const OpenOptions& options)
      : Map("cidr", std::move(name)), options_(options) {}

  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }

  absl::StatusOr<bool> LookupInto(std::string_view key, std::string* value) const override {
    if (!AcceptRuleKey(*this, key, options_)) return false;
    // inet_pton() wants a C string; no address is longer than this.
    char text[INET6_ADDRSTRLEN + 1];
    if (key.empty() || key.size() >= sizeof(text)) return false;
    std::memcpy(text, key.data(), key.size());
    text[key.size()] = '\0';
    const int family = FamilyOf(key);
    uint8_t addr[16];
    if (inet_pton(family, text, addr) != 1) return false;
    for (size_t i = 0; i < rules_.size(); ++i) {
      const CidrRule& rule = rules_[i];
      switch (rule.op) {
        case CidrRule::Op::kMatch:
          if (rule.family == family && rule.Matches(addr)) {
            value->assign(rule.value);
            return true;
          }
          continue;
        case CidrRule::Op::kIf:
          if (rule.family == family && rule.Matches(addr)) continue;
          if (rule.endif == kNoEndif) return false;
          i = rule.endif;
          continue;
        case CidrRule::Op::kEndif:
          continue;
      }
    }
    return false;
  }

  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>&) const override {
    return absl::FailedPreconditionError(
        absl::StrCat("table cidr:", name(), ": sequence operation is not supported"));
  }

  void Load(std::string_view text);

 private:
  std::optional<std::string> ParseRule(std::string_view p, size_t nesting, CidrRule* rule) const;
  std::optional<std::string> ParsePattern(std::string_view p, size_t nesting,
                                          CidrRule* rule) const;

  OpenOptions options_;
  std::vector<CidrRule> rules_;
};

std::optional<std::string> CidrMap::ParseRule(std::string_view p, size_t nesting,
                                              CidrRule* rule) const {
  std::optional<std::string> why = ParsePattern(p, nesting, rule);
  if (why || !options_.values_are_files) return why;
  // postmap -F: the result names files; their contents, base64-encoded, are
  // the result. Postfix converts the empty result of if and endif too (and
  // so skips them with a warning).
  absl::StatusOr<std::string> encoded = LoadValueFiles(rule->value);
  if (!encoded.ok()) return std::string(encoded.status().message());
  rule->value = *std::move(encoded);
  return std::nullopt;
}

std::optional<std::string> CidrMap::ParsePattern(std::string_view p, size_t nesting,
                                                 CidrRule* rule) const {
  bool match = true;
  if (StartsWithWord(p, "if")) {
    p.remove_prefix(2);
    while (!p.empty() && (p.front() == '!' || IsRuleSpace(p.front()))) {
      if (p.front() == '!') match = !match;
      p.remove_prefix(1);
    }
    if (p.empty()) return std::string("no address pattern");
    std::optional<std::string> why = ParseNetwork(std::string(TrimRight(p)), rule);
    if (why) return why;
    rule->op = CidrRule::Op::kIf;
    rule->match = match;
    return std::nullopt;
  }
  if (StartsWithWord(p, "endif")) {
    if (!SkipSpace(p.substr(5)).empty()) return std::string("garbage after ENDIF");
    if (nesting == 0) return std::string("ENDIF without IF");
    rule->op = CidrRule::Op::kEndif;
    return std::nullopt;
  }
  while (!p.empty() && (p.front() == '!' || IsRuleSpace(p.front()))) {
    if (p.front() == '!') match = !match;
    p.remove_prefix(1);
  }
  size_t end = 0;
  while (end < p.size() && !IsRuleSpace(p[end])) ++end;
  const std::string_view pattern = p.substr(0, end);
  const std::string_view value = TrimRight(SkipSpace(p.substr(end)));
  if (pattern.empty()) return std::string("no address pattern");
  std::optional<std::string> why = ParseNetwork(std::string(pattern), rule);
  if (why) return why;
  if (value.empty()) return std::string("no lookup result");
  rule->op = CidrRule::Op::kMatch;
  rule->match = match;
  rule->value.assign(value);
  return std::nullopt;
}

void CidrMap::Load(std::string_view text) {
  RuleLineReader lines(text, name(), options_);
  std::vector<size_t> open_ifs;
  std::string_view line;
  int line_no = 0;
  while (lines.Next(&line, &line_no)) {
    CidrRule rule;
    rule.line = line_no;
    std::optional<std::string> why = ParseRule(line, open_ifs.size(), &rule);
    if (why) {
      RuleWarning(options_.diagnostics, "cidr", name(), line_no,
                  absl::StrCat(*why, ": skipping this rule"));
      continue;
    }
    const size_t index = rules_.size();
    if (rule.op == CidrRule::Op::kIf) {
      open_ifs.push_back(index);
    } else if (rule.op == CidrRule::Op::kEndif) {
      rules_[open_ifs.back()].endif = index;
      open_ifs.pop_back();
    }
    rules_.push_back(std::move(rule));
  }
  for (auto it = open_ifs.rbegin(); it != open_ifs.rend(); ++it) {
    RuleWarning(options_.diagnostics, "cidr", name(), rules_[*it].line,
                "IF has no matching ENDIF");
  }
}

}  // namespace

std::unique_ptr<Map> CidrMapFromText(std::string_view name, std::string_view text,
                                     const OpenOptions& options) {
  auto map = std::make_unique<CidrMap>(std::string(name), options);
  map->Load(text);
  return map;
}

absl::StatusOr<std::unique_ptr<Map>> OpenCidrMap(std::string_view name,
                                                 const OpenOptions& options) {
  absl::StatusOr<std::string> text = LoadRuleText("cidr", name);
  if (!text.ok()) return text.status();
  return CidrMapFromText(name, *text, options);
}

}  // namespace libmaps::internal
