#include "backends/rule_table.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "libmaps/source_parser.h"
#include "libmaps/text.h"
#include "lookup_key.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

// Postfix's balpar(): the length of the balanced "{...}" at the start of
// `s`, or 0.
size_t BalancedLength(std::string_view s) {
  if (s.empty() || s.front() != '{') return 0;
  int level = 1;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '}') {
      if (--level == 0) return i + 1;
    } else if (s[i] == '{') {
      ++level;
    }
  }
  return 0;
}

// Postfix's extpar(): `*text` must start with a balanced "{...}" and hold
// nothing after it; on success *text becomes the inside (stripped of white
// space when `strip`). On failure returns Postfix's message.
std::string ExtractBraces(std::string_view* text, bool strip) {
  const std::string_view s = *text;
  if (s.empty() || s.front() != '{') {
    return absl::StrCat("no '{' at start of text in \"", ToAbsl(s), "\"");
  }
  const size_t len = BalancedLength(s);
  if (len == 0) return absl::StrCat("missing '}' in \"", ToAbsl(s), "\"");
  if (len != s.size()) return absl::StrCat("syntax error after '}' in \"", ToAbsl(s), "\"");
  std::string_view inside = s.substr(1, len - 2);
  if (strip) inside = TrimRight(SkipSpace(inside));
  *text = inside;
  return {};
}

bool NextListItem(std::string_view* rest, std::string_view* item) {
  auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::string_view s = *rest;
  size_t i = 0;
  while (i < s.size() && is_sep(s[i])) ++i;
  if (i == s.size()) {
    *rest = {};
    return false;
  }
  const size_t start = i;
  int level = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '{') {
      ++level;
    } else if (level > 0 && c == '}') {
      --level;
    } else if (level == 0 && is_sep(c)) {
      break;
    }
  }
  *item = s.substr(start, i - start);
  *rest = i < s.size() ? s.substr(i + 1) : std::string_view();
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// atoi() as glibc computes it (strtol, then narrowed to int), widened the
// way Postfix stores it in a size_t.
size_t PostfixIndex(const std::string& digits) {
  const int v = static_cast<int>(std::strtol(digits.c_str(), nullptr, 10));
  return static_cast<size_t>(static_cast<long>(v));
}

}  // namespace

std::vector<std::string_view> SplitBraceList(std::string_view s) {
  std::vector<std::string_view> items;
  std::string_view item;
  while (NextListItem(&s, &item)) items.push_back(item);
  return items;
}

bool StartsWithWord(std::string_view line, std::string_view word) {
  if (line.size() < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    char c = line[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != word[i]) return false;
  }
  return line.size() == word.size() || !IsRuleAlnum(line[word.size()]);
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsRuleSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view SkipSpace(std::string_view s) {
  while (!s.empty() && IsRuleSpace(s.front())) s.remove_prefix(1);
  return s;
}

absl::StatusOr<std::string> LoadRuleText(std::string_view type, std::string_view name) {
  if (name.empty() || name.front() != '{') return ReadWholeFile(std::string(name));
  std::string_view inside = name;
  std::string error = ExtractBraces(&inside, /*strip=*/false);
  std::string text;
  std::string_view item;
  while (error.empty() && NextListItem(&inside, &item)) {
    error = ExtractBraces(&item, /*strip=*/true);
    if (error.empty()) absl::StrAppend(&text, ToAbsl(item), "\n");
  }
  if (!error.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(type), " map: ", error));
  }
  return text;
}

bool RuleLineReader::Next(std::string_view* line, int* line_no) {
  auto ignored = [](std::string_view phys) {
    std::string_view rest = SkipSpace(phys);
    return rest.empty() || rest.front() == '#';
  };
  for (;;) {
    buffer_.clear();
    int first = 0;
    // The first physical line that is not ignored, then its continuations.
    while (pos_ < text_.size()) {
      const size_t nl = text_.find('\n', pos_);
      const size_t end = nl == std::string_view::npos ? text_.size() : nl;
      const std::string_view phys = text_.substr(pos_, end - pos_);
      pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
      ++physical_;
      if (!ignored(phys)) {
        if (buffer_.empty()) first = physical_;
        buffer_.append(phys);
      }
      if (!buffer_.empty()) {
        if (pos_ >= text_.size()) break;
        const char next = text_[pos_];
        if (next != '#' && !IsRuleSpace(next)) break;
      }
    }
    if (buffer_.empty()) return false;
    if (IsRuleSpace(buffer_.front())) {
      if (options_.diagnostics) {
        options_.diagnostics(
            Severity::kWarning,
            absl::StrCat(ToAbsl(path_), ": logical line must not start with whitespace: \"",
                         RedactedLine(buffer_, options_.utf8_messages), "\""));
      }
      continue;
    }
    std::string_view view(buffer_);
    const size_t nul = view.find('\0');
    if (nul != std::string_view::npos) view = view.substr(0, nul);
    *line = TrimRight(view);
    *line_no = first;
    return true;
  }
}

bool AcceptRuleKey(const Map& map, std::string_view key, const OpenOptions& options) {
  if (key.find('\0') != std::string_view::npos) return false;
  if (!options.utf8 || IsAsciiText(key) || IsValidUtf8(key)) return true;
  if (options.diagnostics) {
    options.diagnostics(Severity::kWarning,
                        absl::StrCat(map.type(), ":", map.name(), ": non-UTF-8 key \"",
                                     Printable(key, options.utf8_messages),
                                     "\": malformed UTF-8 or invalid codepoint"));
  }
  return false;
}

void RuleWarning(const DiagnosticSink& sink, std::string_view type, std::string_view map_name,
                 int line_no, std::string_view text) {
  if (!sink) return;
  sink(Severity::kWarning, absl::StrCat(ToAbsl(type), " map ", ToAbsl(map_name), ", line ",
                                        line_no, ": ", ToAbsl(text)));
}

bool ParseResultText(std::string_view text, const RuleWording& wording,
                     std::string_view map_name, int line_no, const DiagnosticSink& sink,
                     ResultText* out) {
  *out = ResultText();
  bool error = false;
  std::string literal;
  auto flush_literal = [&] {
    if (literal.empty()) return;
    out->pieces.push_back({literal, 0});
    literal.clear();
  };
  auto name_found = [&](const std::string& name) {
    if (!AllDigits(name)) {
      // Postfix quotes the name; it is part of the result (a password?).
      RuleWarning(sink, wording.type, map_name, line_no,
                  "non-numeric replacement index \"...\"");
      error = true;
      return;
    }
    const size_t n = PostfixIndex(name);
    if (n < 1) {
      RuleWarning(sink, wording.type, map_name, line_no,
                  absl::StrCat(ToAbsl(wording.index_range), " replacement index \"", name, "\""));
      error = true;
      return;
    }
    if (n > out->max_group) out->max_group = n;
    out->pieces.push_back({std::string(), n});
  };
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      literal.push_back(text[i++]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      literal.push_back('$');
      i += 2;
      continue;
    }
    flush_literal();
    ++i;
    std::string name;
    if (i < text.size() && (text[i] == '{' || text[i] == '(')) {
      const char open = text[i];
      const char close = open == '{' ? '}' : ')';
      int level = 1;
      size_t e = i + 1;
      for (; e < text.size() && level > 0; ++e) {
        if (text[e] == open) ++level;
        if (text[e] == close) --level;
      }
      if (level > 0) {
        if (sink) sink(Severity::kWarning, "truncated macro reference: \"...\"");
        error = true;
        break;
      }
      name.assign(text.substr(i + 1, e - i - 2));
      i = e;
    } else {
      size_t e = i;
      while (e < text.size() && (IsRuleAlnum(text[e]) || text[e] == '_')) ++e;
      name.assign(text.substr(i, e - i));
      i = e;
    }
    if (name.empty()) {
      if (sink) sink(Severity::kWarning, "empty macro name: \"...\"");
      error = true;
      break;
    }
    name_found(name);
  }
  if (!error) flush_literal();
  if (error) {
    RuleWarning(sink, wording.type, map_name, line_no,
                "bad replacement syntax: skipping this rule");
    return false;
  }
  if (out->max_group == 0) {
    // No $n: the result is the text with "$$" made "$".
    for (const ResultText::Piece& piece : out->pieces) out->constant += piece.literal;
    out->pieces.clear();
  }
  return true;
}

void ExpandResult(const ResultText& result, std::string_view key, const CaptureSpan* captures,
                  std::string* value) {
  for (const ResultText::Piece& piece : result.pieces) {
    if (piece.group == 0) {
      value->append(piece.literal);
      continue;
    }
    const CaptureSpan& c = captures[piece.group];
    if (c.begin < 0 || c.end <= c.begin) continue;
    value->append(key.substr(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin)));
  }
}

}  // namespace libmaps::internal
