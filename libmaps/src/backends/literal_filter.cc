#include "backends/literal_filter.h"

#include <algorithm>
#include <cstring>

namespace libmaps::internal {
namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

bool IsAsciiAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The index after the bracket expression that starts at p[i] == '[', or
// kNone when it does not end. PCRE lets a backslash escape inside it;
// POSIX does not.
size_t SkipBracket(std::string_view p, size_t i, bool pcre) {
  size_t j = i + 1;
  if (j < p.size() && p[j] == '^') ++j;
  if (j < p.size() && p[j] == ']') ++j;  // a literal ']' first
  while (j < p.size()) {
    const char c = p[j];
    if (c == '[' && j + 1 < p.size() && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
      const char kind = p[j + 1];
      size_t k = j + 2;
      while (k + 1 < p.size() && !(p[k] == kind && p[k + 1] == ']')) ++k;
      if (k + 1 >= p.size()) return kNone;
      j = k + 2;
      continue;
    }
    if (pcre && c == '\\') {
      j += 2;
      continue;
    }
    if (c == ']') return j + 1;
    ++j;
  }
  return kNone;
}

// The index after the group that starts at p[i] == '(', or kNone.
size_t SkipGroup(std::string_view p, size_t i, bool pcre) {
  int depth = 0;
  size_t j = i;
  while (j < p.size()) {
    const char c = p[j];
    if (c == '\\') {
      j += 2;
      continue;
    }
    if (c == '[') {
      j = SkipBracket(p, j, pcre);
      if (j == kNone) return kNone;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && --depth == 0) return j + 1;
    ++j;
  }
  return kNone;
}

// The index after the interval "{n}", "{n,}", "{n,m}" (digits and at most
// one comma) that starts at p[i] == '{', or kNone when it is not one.
size_t IntervalEnd(std::string_view p, size_t i) {
  size_t j = i + 1;
  bool comma = false;
  for (; j < p.size(); ++j) {
    if (p[j] >= '0' && p[j] <= '9') continue;
    if (p[j] == ',' && !comma) {
      comma = true;
      continue;
    }
    break;
  }
  if (j < p.size() && p[j] == '}') return j + 1;
  return kNone;
}

// Escapes that stand for one position or class and take no argument.
bool IsSimpleClassEscape(char e, bool pcre) {
  if (pcre) return std::strchr("dDwWsShHvVbBAzZGRX", e) != nullptr;
  return std::strchr("wWsSbB123456789", e) != nullptr;
}

}  // namespace

std::string RequiredLiteral(std::string_view p, PatternSyntax syntax) {
  const bool pcre = syntax == PatternSyntax::kPcre;
  if (pcre) {
    if (p.find("\\Q") != std::string_view::npos || p.find("\\E") != std::string_view::npos) {
      return {};
    }
    // An inline option that turns on extended syntax ("(?x)", "(?ix:")
    // changes what blanks and '#' mean.
    for (size_t at = p.find("(?"); at != std::string_view::npos; at = p.find("(?", at + 2)) {
      for (size_t j = at + 2; j < p.size() && p[j] != ')' && p[j] != ':'; ++j) {
        if (p[j] == 'x') return {};
      }
    }
  }
  std::string best;
  std::string run;
  size_t atom = kNone;  // where the last atom of `run` starts
  auto end_run = [&] {
    if (run.size() > best.size()) best = run;
    run.clear();
    atom = kNone;
  };
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    switch (c) {
      case '|':
        return {};  // alternation at the top: no literal is required
      case '*':
      case '?':
      case '+':
      case '{': {
        // A run of quantifiers ("b+", "b*", "b{2,}", and the stacked or
        // lazy forms "b+*", "b+?"): the atom before stays required only
        // when the whole run means "at least once". A '{' that is not an
        // interval is PCRE's literal '{' (POSIX rejects it): the run ends
        // there and scanning goes on.
        size_t j = i;
        std::string kinds;
        while (j < p.size()) {
          if (p[j] == '{') {
            const size_t close = IntervalEnd(p, j);
            if (close == kNone) break;
            kinds.push_back('{');
            j = close;
          } else if (p[j] == '*' || p[j] == '?' || p[j] == '+') {
            kinds.push_back(p[j]);
            ++j;
          } else {
            break;
          }
        }
        if (kinds.empty()) {  // a literal '{'
          end_run();
          ++i;
          continue;
        }
        bool at_least_once = kinds.front() == '+';
        for (size_t k = 1; k < kinds.size() && at_least_once; ++k) {
          // PCRE: "+?" lazy, "++" possessive. POSIX stacks: "b++" is
          // (b+)+, but "b+?" and "b+*" make b optional.
          at_least_once = kinds[k] == '+' || (pcre && k == 1 && kinds[k] == '?');
        }
        if (!at_least_once && atom != kNone) run.resize(atom);
        end_run();
        i = j;
        continue;
      }
      case '.':
      case '^':
      case '$':
        end_run();
        ++i;
        continue;
      case '(':
        end_run();
        i = SkipGroup(p, i, pcre);
        if (i == kNone) return {};
        continue;
      case ')':
        return {};
      case '[':
        end_run();
        i = SkipBracket(p, i, pcre);
        if (i == kNone) return {};
        continue;
      case '\\': {
        if (i + 1 >= p.size()) return {};
        const char e = p[i + 1];
        if (IsAsciiAlnum(e) || (!pcre && std::strchr("`'<>", e) != nullptr)) {
          if (!IsSimpleClassEscape(e, pcre) && std::strchr("`'<>", e) == nullptr) {
            return {};  // an escape with an argument or a meaning not read here
          }
          end_run();
          i += 2;
          continue;
        }
        if (static_cast<unsigned char>(e) >= 0x80) {
          end_run();
          i += 2;
          continue;
        }
        atom = run.size();
        run.push_back(Lower(e));
        i += 2;
        continue;
      }
      default:
        if (static_cast<unsigned char>(c) >= 0x80) {
          end_run();
        } else {
          atom = run.size();
          run.push_back(Lower(c));
        }
        ++i;
        continue;
    }
  }
  end_run();
  return best;
}

LiteralFilter::LiteralFilter(const std::vector<std::string>& literals) {
  always_.assign(literals.size(), 1);
  // Each rule is indexed under its least common three-byte piece.
  absl::flat_hash_map<uint32_t, uint32_t> counts;
  for (const std::string& lit : literals) {
    if (lit.size() < 3) continue;
    absl::flat_hash_map<uint32_t, bool> seen;
    for (size_t i = 0; i + 3 <= lit.size(); ++i) {
      const uint32_t t = Trigram(lit.data() + i);
      if (seen.emplace(t, true).second) ++counts[t];
    }
  }
  for (size_t r = 0; r < literals.size(); ++r) {
    const std::string& lit = literals[r];
    if (lit.size() < 3) continue;
    uint32_t pick = Trigram(lit.data());
    for (size_t i = 1; i + 3 <= lit.size(); ++i) {
      const uint32_t t = Trigram(lit.data() + i);
      if (counts[t] < counts[pick]) pick = t;
    }
    rules_by_trigram_[pick].push_back(static_cast<uint32_t>(r));
    always_[r] = 0;
    ++filtered_;
  }
}

void LiteralFilter::Mark(std::string_view folded_key, uint8_t* candidates) const {
  if (!always_.empty()) std::memcpy(candidates, always_.data(), always_.size());
  if (folded_key.size() < 3 || rules_by_trigram_.empty()) return;
  for (size_t i = 0; i + 3 <= folded_key.size(); ++i) {
    auto it = rules_by_trigram_.find(Trigram(folded_key.data() + i));
    if (it == rules_by_trigram_.end()) continue;
    for (uint32_t r : it->second) candidates[r] = 1;
  }
}

}  // namespace libmaps::internal
