#include "backends/pattern_maps.h"

#include <locale.h>
#include <regex.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "backends/literal_filter.h"
#include "backends/rule_table.h"
#include "libmaps/text.h"
#include "lookup_key.h"
#include "string_view_compat.h"
#include "value_files.h"

namespace libmaps::internal {
namespace {

constexpr size_t kNoEndif = static_cast<size_t>(-1);

// The "C" locale, in which Postfix (which never calls setlocale()) compiles
// and runs its regular expressions, whatever the embedding process chose.
locale_t CLocale() {
  static const locale_t c = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return c;
}

class ScopedCLocale {
 public:
  ScopedCLocale() : old_(CLocale() ? uselocale(CLocale()) : nullptr) {}
  ~ScopedCLocale() {
    if (old_ != nullptr) uselocale(old_);
  }
  ScopedCLocale(const ScopedCLocale&) = delete;
  ScopedCLocale& operator=(const ScopedCLocale&) = delete;

 private:
  locale_t old_;
};

// Per-thread scratch that lookups reuse, so that a lookup allocates only
// what it returns (after a thread's first lookups have sized it).
struct Scratch {
  std::vector<regmatch_t> posix;
  std::vector<CaptureSpan> captures;
  std::string folded;               // the key in ASCII lower case
  std::string key;                  // the key with a NUL after it (regexec)
  std::vector<uint8_t> candidates;  // LiteralFilter::Mark()
  pcre2_match_data* pcre = nullptr;
  uint32_t pcre_pairs = 0;
  ~Scratch() {
    if (pcre != nullptr) pcre2_match_data_free(pcre);
  }
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// A compiled pattern.
class Matcher {
 public:
  virtual ~Matcher() = default;
  // > 0: matched; 0: no match; < 0: an engine error (ErrorText()). With
  // `groups` > 0, captures[0..groups) receive the match and its captures.
  virtual int Match(std::string_view key, size_t groups, CaptureSpan* captures,
                    Scratch& scratch) const = 0;
  virtual std::string ErrorText(int code) const = 0;
};

class PosixMatcher final : public Matcher {
 public:
  // Compiles `pattern`; on failure returns null with glibc's regerror text.
  static std::unique_ptr<PosixMatcher> Compile(const std::string& pattern, int cflags,
                                               std::string* error) {
    auto m = std::unique_ptr<PosixMatcher>(new PosixMatcher());
    ScopedCLocale c_locale;
    const int rc = regcomp(&m->re_, pattern.c_str(), cflags);
    if (rc != 0) {
      char buf[256];
      regerror(rc, &m->re_, buf, sizeof(buf));
      *error = buf;
      return nullptr;  // regcomp frees what it built when it fails
    }
    m->compiled_ = true;
    return m;
  }
  ~PosixMatcher() override {
    if (compiled_) regfree(&re_);
  }
  size_t groups_in_pattern() const { return re_.re_nsub; }

  int Match(std::string_view key, size_t groups, CaptureSpan* captures,
            Scratch& scratch) const override {
    std::vector<regmatch_t>& pm = scratch.posix;
    const size_t n = groups > 0 ? groups : 1;
    if (pm.size() < n) pm.resize(n);
    // The key is NUL-terminated (LookupInto copies it): no REG_STARTEND,
    // which sanitizers' regexec interceptors do not understand.
    const int rc = regexec(&re_, key.data(), groups, pm.data(), 0);
    if (rc == REG_NOMATCH) return 0;
    if (rc != 0) return -rc;
    for (size_t i = 0; i < groups; ++i) {
      captures[i].begin = pm[i].rm_so;
      captures[i].end = pm[i].rm_eo;
    }
    return 1;
  }
  std::string ErrorText(int code) const override {
    char buf[256];
    regerror(-code, &re_, buf, sizeof(buf));
    return buf;
  }

 private:
  PosixMatcher() = default;
  regex_t re_{};
  bool compiled_ = false;
};

std::string PcreMessage(int code) {
  PCRE2_UCHAR buf[256];
  const int len = pcre2_get_error_message(code, buf, sizeof(buf));
  if (len < 0) return absl::StrCat("unexpected pcre2 error code ", code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
}

class PcreMatcher final : public Matcher {
 public:
  static std::unique_ptr<PcreMatcher> Compile(const std::string& pattern, uint32_t options,
                                              std::string* error) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()),
                                   PCRE2_ZERO_TERMINATED, options, &code, &offset, nullptr);
    if (re == nullptr) {
      *error = absl::StrCat("error in regex at offset ", offset, ": ", PcreMessage(code));
      return nullptr;
    }
    auto m = std::unique_ptr<PcreMatcher>(new PcreMatcher(re));
    uint32_t count = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &count);
    m->captures_ = count;
    // Postfix interprets; the JIT gives the same answers, faster. Without
    // it (an architecture PCRE2 has no JIT for) the interpreter is used.
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return m;
  }
  ~PcreMatcher() override { pcre2_code_free(re_); }
  uint32_t groups_in_pattern() const { return captures_; }

  int Match(std::string_view key, size_t groups, CaptureSpan* captures,
            Scratch& s) const override {
    if (s.pcre_pairs < captures_ + 1) {
      if (s.pcre != nullptr) pcre2_match_data_free(s.pcre);
      s.pcre_pairs = std::max<uint32_t>(captures_ + 1, 10);
      s.pcre = pcre2_match_data_create(s.pcre_pairs, nullptr);
      if (s.pcre == nullptr) {
        s.pcre_pairs = 0;
        return PCRE2_ERROR_NOMEMORY;
      }
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(key.data());
    int rc = pcre2_match(re_, subject, key.size(), 0, 0, s.pcre, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's stack is smaller than the interpreter's heap frames.
      rc = pcre2_match(re_, subject, key.size(), 0, PCRE2_NO_JIT, s.pcre, nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return rc;
    if (rc == 0) return PCRE2_ERROR_NOMEMORY;  // cannot happen: ovector sized above
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.pcre);
    for (size_t i = 0; i < groups; ++i) {
      if (ov[2 * i] == PCRE2_UNSET) {
        captures[i] = CaptureSpan();
      } else {
        captures[i].begin = static_cast<ptrdiff_t>(ov[2 * i]);
        captures[i].end = static_cast<ptrdiff_t>(ov[2 * i + 1]);
      }
    }
    return 1;
  }
  std::string ErrorText(int code) const override { return PcreMessage(code); }

 private:
  explicit PcreMatcher(pcre2_code* re) : re_(re) {}
  pcre2_code* re_;
  uint32_t captures_ = 0;
};

enum class Flavor { kRegexp, kPcre };

struct Rule {
  enum class Op { kMatch, kIf, kEndif };
  Op op = Op::kMatch;
  int line = 0;
  bool match = true;  // false: the rule applies when `first` does not match
  std::unique_ptr<Matcher> first;
  bool second_match = true;
  std::unique_ptr<Matcher> second;  // regexp: "/p1/!/p2/"
  ResultText result;
  size_t endif = kNoEndif;  // kIf: the index of its endif
  std::string literal;      // RequiredLiteral() of `first`, until the filter is built
};

// A pattern as written: "!/text/flags".
struct WrittenPattern {
  bool match = true;
  std::string text;
  int options = 0;
};

class PatternMap final : public Map {
 public:
  PatternMap(Flavor flavor, std::string name, const OpenOptions& options)
      : Map(flavor == Flavor::kRegexp ? "regexp" : "pcre", std::move(name)),
        flavor_(flavor),
        options_(options) {}

  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }

  absl::StatusOr<bool> LookupInto(std::string_view key, std::string* value) const override {
    if (!AcceptRuleKey(*this, key, options_)) return false;
    Scratch& scratch = ThreadScratch();
    std::vector<CaptureSpan>& captures = scratch.captures;
    if (captures.size() < max_group_ + 1) captures.resize(max_group_ + 1);
    // Which rules' patterns could match at all (all, without a filter).
    const uint8_t* may_match = nullptr;
    if (filter_ != nullptr) {
      scratch.folded.resize(key.size());
      FoldAsciiInto(key, scratch.folded.data());
      if (scratch.candidates.size() < rules_.size()) scratch.candidates.resize(rules_.size());
      filter_->Mark(scratch.folded, scratch.candidates.data());
      may_match = scratch.candidates.data();
    }
    std::optional<ScopedCLocale> c_locale;
    if (flavor_ == Flavor::kRegexp) {
      c_locale.emplace();
      scratch.key.assign(key);
      key = scratch.key;
    }
    for (size_t i = 0; i < rules_.size(); ++i) {
      const Rule& rule = rules_[i];
      const bool possible = may_match == nullptr || may_match[i] != 0;
      switch (rule.op) {
        case Rule::Op::kMatch: {
          const size_t groups = rule.result.max_group > 0 ? rule.result.max_group + 1 : 0;
          if (!Holds(rule, *rule.first, rule.match, possible, key, groups, captures.data(),
                     scratch)) {
            continue;
          }
          if (rule.second && !Holds(rule, *rule.second, rule.second_match, true, key, 0,
                                    nullptr, scratch)) {
            continue;
          }
          if (rule.result.max_group == 0) {
            value->assign(rule.result.constant);
          } else {
            value->clear();
            ExpandResult(rule.result, key, captures.data(), value);
          }
          return true;
        }
        case Rule::Op::kIf:
          if (Holds(rule, *rule.first, rule.match, possible, key, 0, nullptr, scratch)) continue;
          // Postfix: an IF without ENDIF ends the search when it fails.
          if (rule.endif == kNoEndif) return false;
          i = rule.endif;
          continue;
        case Rule::Op::kEndif:
          continue;
      }
    }
    return false;
  }

  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>&) const override {
    return absl::FailedPreconditionError(
        absl::StrCat("table ", type(), ":", name(), ": sequence operation is not supported"));
  }

  // Reads the rules of `text`; `filter` false: no LiteralFilter.
  void Load(std::string_view text, bool filter);

 private:
  // Whether the rule's pattern is satisfied (matched, or not matched when
  // negated). An engine error is a warning and counts as "not satisfied",
  // as in Postfix. `possible` false: the filter knows it cannot match.
  bool Holds(const Rule& rule, const Matcher& m, bool sense, bool possible, std::string_view key,
             size_t groups, CaptureSpan* captures, Scratch& scratch) const {
    if (!possible) return !sense;
    const int rc = m.Match(key, groups, captures, scratch);
    if (rc > 0) return sense;
    if (rc == 0) return !sense;
    RuleWarning(options_.diagnostics, type(), name(), rule.line, m.ErrorText(rc));
    return false;
  }

  void Warn(int line, std::string_view text) const {
    RuleWarning(options_.diagnostics, type(), name(), line, text);
  }
  std::optional<WrittenPattern> ReadPattern(int line, std::string_view* p) const;
  std::unique_ptr<Matcher> Compile(int line, const WrittenPattern& pattern, bool want_groups,
                                   size_t* groups_in_pattern) const;
  std::optional<Rule> ParseRule(int line, std::string_view p, size_t nesting) const;
  std::string LiteralOf(const WrittenPattern& pattern) const;

  Flavor flavor_;
  OpenOptions options_;
  std::vector<Rule> rules_;
  size_t max_group_ = 0;
  std::unique_ptr<LiteralFilter> filter_;  // null: every rule is tried
};

std::optional<WrittenPattern> PatternMap::ReadPattern(int line, std::string_view* pp) const {
  std::string_view p = *pp;
  WrittenPattern pat;
  while (!p.empty() && (p.front() == '!' || IsRuleSpace(p.front()))) {
    if (p.front() == '!') pat.match = !pat.match;
    p.remove_prefix(1);
  }
  if (p.empty()) {
    Warn(line, "no regexp: skipping this rule");
    return std::nullopt;
  }
  const char delimiter = p.front();
  p.remove_prefix(1);
  size_t i = 0;
  bool closed = false;
  while (i < p.size()) {
    if (p[i] == '\\') {
      if (i + 1 < p.size()) {
        i += 2;
        continue;
      }
      // A backslash at the end: regexp: takes the text before it as the
      // pattern (its parser stops on the backslash); pcre: finds no
      // delimiter.
      closed = flavor_ == Flavor::kRegexp;
      break;
    }
    if (p[i] == delimiter) {
      closed = true;
      break;
    }
    ++i;
  }
  if (!closed) {
    Warn(line, absl::StrCat("no closing regexp delimiter \"", ToAbsl(std::string_view(&delimiter, 1)),
                            flavor_ == Flavor::kRegexp ? "\": skipping this rule"
                                                       : "\": ignoring this rule"));
    return std::nullopt;
  }
  pat.text.assign(p.substr(0, i));
  p.remove_prefix(std::min(i + 1, p.size()));
  if (flavor_ == Flavor::kRegexp) {
    pat.options = REG_EXTENDED | REG_ICASE;
    while (!p.empty() && !IsRuleSpace(p.front()) && p.front() != '!') {
      switch (p.front()) {
        case 'i': pat.options ^= REG_ICASE; break;
        case 'm': pat.options ^= REG_NEWLINE; break;
        case 'x': pat.options ^= REG_EXTENDED; break;
        default:
          Warn(line, absl::StrCat("unknown regexp option \"", ToAbsl(p.substr(0, 1)),
                                  "\": skipping this rule"));
          return std::nullopt;
      }
      p.remove_prefix(1);
    }
  } else {
    pat.options = PCRE2_CASELESS | PCRE2_DOTALL;
    while (!p.empty() && !IsRuleSpace(p.front())) {
      switch (p.front()) {
        case 'i': pat.options ^= PCRE2_CASELESS; break;
        case 'm': pat.options ^= PCRE2_MULTILINE; break;
        case 's': pat.options ^= PCRE2_DOTALL; break;
        case 'x': pat.options ^= PCRE2_EXTENDED; break;
        case 'A': pat.options ^= PCRE2_ANCHORED; break;
        case 'E': pat.options ^= PCRE2_DOLLAR_ENDONLY; break;
        case 'U': pat.options ^= PCRE2_UNGREEDY; break;
        case 'X':
          Warn(line, "ignoring obsolete regexp option \"X\"");
          break;
        default:
          Warn(line, absl::StrCat("unknown regexp option \"", ToAbsl(p.substr(0, 1)),
                                  "\": skipping this rule"));
          return std::nullopt;
      }
      p.remove_prefix(1);
    }
  }
  *pp = p;
  return pat;
}

std::unique_ptr<Matcher> PatternMap::Compile(int line, const WrittenPattern& pattern,
                                             bool want_groups, size_t* groups_in_pattern) const {
  std::string error;
  if (flavor_ == Flavor::kRegexp) {
    const int cflags = pattern.options | (want_groups ? 0 : REG_NOSUB);
    std::unique_ptr<PosixMatcher> m = PosixMatcher::Compile(pattern.text, cflags, &error);
    if (m == nullptr) {
      Warn(line, error);
      return nullptr;
    }
    if (groups_in_pattern != nullptr) *groups_in_pattern = m->groups_in_pattern();
    return m;
  }
  std::unique_ptr<PcreMatcher> m =
      PcreMatcher::Compile(pattern.text, static_cast<uint32_t>(pattern.options), &error);
  if (m == nullptr) {
    Warn(line, error);
    return nullptr;
  }
  if (groups_in_pattern != nullptr) *groups_in_pattern = m->groups_in_pattern();
  return m;
}

std::optional<Rule> PatternMap::ParseRule(int line, std::string_view p, size_t nesting) const {
  Rule rule;
  rule.line = line;
  if (!IsRuleAlnum(p.front())) {
    std::optional<WrittenPattern> first = ReadPattern(line, &p);
    if (!first) return std::nullopt;
    std::optional<WrittenPattern> second;
    if (flavor_ == Flavor::kRegexp && !p.empty() && p.front() == '!') {
      second = ReadPattern(line, &p);
      if (!second) return std::nullopt;
    }
    p = SkipSpace(p);
    if (p.empty()) Warn(line, "no replacement text: using empty string");
    std::string from_files;
    if (options_.values_are_files) {
      // postmap -F: the result names files; their contents, base64-encoded,
      // are the result.
      absl::StatusOr<std::string> encoded = LoadValueFiles(p);
      if (!encoded.ok()) {
        Warn(line, absl::StrCat(encoded.status().message(), ": skipping this rule"));
        return std::nullopt;
      }
      from_files = *std::move(encoded);
      p = from_files;
    }
    const RuleWording wording{type(), flavor_ == Flavor::kRegexp ? "out-of-range" : "out of range"};
    if (!ParseResultText(p, wording, name(), line, options_.diagnostics, &rule.result)) {
      return std::nullopt;
    }
    if (rule.result.max_group > 0 && !first->match) {
      Warn(line, "$number found in negative match replacement text: skipping this rule");
      return std::nullopt;
    }
    size_t groups = 0;
    rule.first = Compile(line, *first, rule.result.max_group > 0, &groups);
    if (rule.first == nullptr) return std::nullopt;
    if (rule.result.max_group > groups) {
      Warn(line, absl::StrCat("out of range replacement index \"",
                              static_cast<int>(rule.result.max_group), "\": skipping this rule"));
      return std::nullopt;
    }
    rule.match = first->match;
    rule.literal = LiteralOf(*first);
    if (second) {
      rule.second = Compile(line, *second, false, nullptr);
      if (rule.second == nullptr) return std::nullopt;
      rule.second_match = second->match;
    }
    rule.op = Rule::Op::kMatch;
    return rule;
  }
  if (StartsWithWord(p, "if")) {
    p = SkipSpace(p.substr(2));
    std::optional<WrittenPattern> pattern = ReadPattern(line, &p);
    if (!pattern) return std::nullopt;
    p = SkipSpace(p);
    if (!p.empty()) {
      Warn(line, absl::StrCat("ignoring extra text after IF statement: \"", ToAbsl(p), "\""));
      Warn(line, "do not prepend whitespace to statements between IF and ENDIF");
    }
    rule.first = Compile(line, *pattern, false, nullptr);
    if (rule.first == nullptr) return std::nullopt;
    rule.match = pattern->match;
    rule.literal = LiteralOf(*pattern);
    rule.op = Rule::Op::kIf;
    return rule;
  }
  if (StartsWithWord(p, "endif")) {
    if (nesting == 0) {
      Warn(line, "ignoring ENDIF without matching IF");
      return std::nullopt;
    }
    if (!SkipSpace(p.substr(5)).empty()) Warn(line, "ignoring extra text after ENDIF");
    rule.op = Rule::Op::kEndif;
    return rule;
  }
  Warn(line, "ignoring unrecognized request");
  return std::nullopt;
}

void PatternMap::Load(std::string_view text, bool filter_wanted) {
  RuleLineReader lines(text, name(), options_);
  std::vector<size_t> open_ifs;
  std::string_view line;
  int line_no = 0;
  while (lines.Next(&line, &line_no)) {
    if (line.empty()) continue;
    std::optional<Rule> rule = ParseRule(line_no, line, open_ifs.size());
    if (!rule) continue;
    const size_t index = rules_.size();
    if (rule->op == Rule::Op::kIf) {
      open_ifs.push_back(index);
    } else if (rule->op == Rule::Op::kEndif) {
      rules_[open_ifs.back()].endif = index;
      open_ifs.pop_back();
    } else if (rule->result.max_group > max_group_) {
      max_group_ = rule->result.max_group;
    }
    rules_.push_back(*std::move(rule));
  }
  for (auto it = open_ifs.rbegin(); it != open_ifs.rend(); ++it) {
    Warn(rules_[*it].line, "IF has no matching ENDIF");
  }
  // A few rules are tried faster than the filter is consulted.
  constexpr size_t kFilterFrom = 4;
  std::vector<std::string> literals;
  literals.reserve(rules_.size());
  for (Rule& rule : rules_) literals.push_back(std::move(rule.literal));
  auto filter = std::make_unique<LiteralFilter>(literals);
  if (filter_wanted && filter->filtered_count() >= kFilterFrom) filter_ = std::move(filter);
}

std::string PatternMap::LiteralOf(const WrittenPattern& pattern) const {
  if (flavor_ == Flavor::kRegexp) {
    if ((pattern.options & REG_EXTENDED) == 0) return {};
    return RequiredLiteral(pattern.text, PatternSyntax::kPosixExtended);
  }
  if ((pattern.options & PCRE2_EXTENDED) != 0) return {};
  return RequiredLiteral(pattern.text, PatternSyntax::kPcre);
}

std::unique_ptr<Map> PatternMapFromText(Flavor flavor, std::string_view name,
                                        std::string_view text, const OpenOptions& options,
                                        bool filter) {
  auto map = std::make_unique<PatternMap>(flavor, std::string(name), options);
  map->Load(text, filter);
  return map;
}

absl::StatusOr<std::unique_ptr<Map>> OpenPatternMap(Flavor flavor, std::string_view name,
                                                    const OpenOptions& options) {
  const std::string_view type = flavor == Flavor::kRegexp ? "regexp" : "pcre";
  absl::StatusOr<std::string> text = LoadRuleText(type, name);
  if (!text.ok()) return text.status();
  return PatternMapFromText(flavor, name, *text, options, true);
}

}  // namespace

std::unique_ptr<Map> RegexpMapFromText(std::string_view name, std::string_view text,
                                       const OpenOptions& options, bool filter) {
  return PatternMapFromText(Flavor::kRegexp, name, text, options, filter);
}

std::unique_ptr<Map> PcreMapFromText(std::string_view name, std::string_view text,
                                     const OpenOptions& options, bool filter) {
  return PatternMapFromText(Flavor::kPcre, name, text, options, filter);
}

absl::StatusOr<std::unique_ptr<Map>> OpenRegexpMap(std::string_view name,
                                                   const OpenOptions& options) {
  return OpenPatternMap(Flavor::kRegexp, name, options);
}

absl::StatusOr<std::unique_ptr<Map>> OpenPcreMap(std::string_view name,
                                                 const OpenOptions& options) {
  return OpenPatternMap(Flavor::kPcre, name, options);
}

}  // namespace libmaps::internal
