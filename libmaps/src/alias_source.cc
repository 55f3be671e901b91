// aliases(5) sources, read as postalias(1) of Postfix 3.7 reads them
// (docs/source-format.md, "Alias files").
//
// Each logical line (the same lines as a postmap source: comments, blank
// lines and continuations as SourceParser::NextLogicalLine joins them) is
// split into RFC 822 tokens; the first ':' token divides the name from the
// value. The name is stored in internal (unquoted) form, the value in
// external (quoted) form, as postalias stores them, so that Postfix's
// local(8) re-parses the value it looks up. The tokenizer follows the rules
// of Postfix's tok822 module as documented there; written from those rules.
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libmaps/map_builder.h"
#include "libmaps/source_parser.h"
#include "libmaps/text.h"
#include "string_view_compat.h"

namespace libmaps {
namespace {

using internal::ToAbsl;

// The single-byte operators: RFC 822's specials plus '|', '%' and '!'.
constexpr std::string_view kOperators = "|%!()<>@,;:\\\".[]";

enum TokenType : int {
  // Operators are their own byte value (below 256).
  kAtom = 256,
  kQuoted,         // "..." (or an atom that needs quotes)
  kComment,        // (...), kept in external form, parentheses included
  kDomainLiteral,  // [...], without the brackets
};

struct Token {
  int type;
  std::string text;  // empty for operators
};

// Linear white space as the tokenizer knows it (not \v or \f).
constexpr bool IsLinearSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool IsOperator(unsigned char c) {
  return c != 0 && kOperators.find(static_cast<char>(c)) != std::string_view::npos;
}
constexpr bool IsAsciiControl(unsigned char c) { return c < 32 || c == 127; }

// Appends bytes from s[*i] on while `more(byte)` holds. A backslash makes
// the next byte part of the text whatever it is (and is itself dropped);
// linear white space is stored as a space.
template <typename More>
void Collect(std::string_view s, size_t* i, std::string* out, More more) {
  while (*i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[*i]);
    if (c == '\\') {
      if (++*i >= s.size()) break;
      c = static_cast<unsigned char>(s[*i]);
    } else if (!more(c)) {
      break;
    }
    out->push_back(IsLinearSpace(c) ? ' ' : static_cast<char>(c));
    ++*i;
  }
}

std::vector<Token> Tokenize(std::string_view s) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (IsLinearSpace(c)) {
      ++i;
      continue;
    }
    Token t{kAtom, {}};
    if (c == '(') {
      // Comments nest; kept as written, backslash pairs included.
      t.type = kComment;
      t.text = "(";
      ++i;
      int depth = 1;
      while (i < s.size()) {
        const char b = s[i++];
        t.text.push_back(b);
        if (b == '(') {
          ++depth;
        } else if (b == ')') {
          if (--depth == 0) break;
        } else if (b == '\\') {
          if (i >= s.size()) break;
          t.text.push_back(s[i++]);
        }
      }
    } else if (c == '[' || c == '"') {
      t.type = c == '[' ? kDomainLiteral : kQuoted;
      const unsigned char close = c == '[' ? ']' : '"';
      ++i;
      Collect(s, &i, &t.text, [close](unsigned char b) { return b != close; });
      if (i < s.size()) ++i;  // the closing bracket or quote
    } else if (c != '\\' && IsOperator(c)) {
      t.type = c;
      ++i;
    } else {
      // An atom (it may start with a backslash). One that holds a byte
      // that only quotes can carry (an escaped operator or space, a
      // control byte) becomes a quoted string.
      Collect(s, &i, &t.text,
              [](unsigned char b) { return !IsLinearSpace(b) && !IsOperator(b); });
      for (unsigned char b : t.text) {
        if (b == ' ' || IsAsciiControl(b) || IsOperator(b)) {
          t.type = kQuoted;
          break;
        }
      }
    }
    tokens.push_back(std::move(t));
  }
  return tokens;
}

bool IsWord(const Token& t) {
  return t.type == kAtom || t.type == kQuoted || t.type == kComment ||
         t.type == kDomainLiteral;
}

// Whether a space follows tokens[i] of the list [begin, end).
bool SpaceAfter(const std::vector<Token>& tokens, size_t i, size_t end) {
  if (i + 1 >= end) return false;
  const Token& t = tokens[i];
  const Token& next = tokens[i + 1];
  return t.type == ',' || next.type == '<' || (IsWord(t) && IsWord(next));
}

// The internal (unquoted) form of tokens [begin, end): the name.
std::string Internal(const std::vector<Token>& tokens, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const Token& t = tokens[i];
    switch (t.type) {
      case kAtom:
      case kQuoted:
      case kComment:
        out += t.text;
        break;
      case kDomainLiteral:
        absl::StrAppend(&out, "[", t.text, "]");
        break;
      default:
        out.push_back(static_cast<char>(t.type));
    }
    if (SpaceAfter(tokens, i, end)) out.push_back(' ');
  }
  return out;
}

void AppendEscaped(std::string* out, std::string_view text, std::string_view escaped) {
  for (char c : text) {
    if (escaped.find(c) != std::string_view::npos) out->push_back('\\');
    out->push_back(c);
  }
}

// The external (quoted) form of tokens [begin, end): the value.
std::string External(const std::vector<Token>& tokens, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const Token& t = tokens[i];
    switch (t.type) {
      case ',':
        out += ", ";  // even after the last address
        continue;
      case kAtom:
      case kComment:
        out += t.text;
        break;
      case kQuoted:
        out.push_back('"');
        AppendEscaped(&out, t.text, std::string_view("\"\\\r\n", 4));
        out.push_back('"');
        break;
      case kDomainLiteral:
        out.push_back('[');
        AppendEscaped(&out, t.text, std::string_view("\\\r\n", 3));
        out.push_back(']');
        break;
      default:
        out.push_back(static_cast<char>(t.type));
    }
    if (SpaceAfter(tokens, i, end)) out.push_back(' ');
  }
  return out;
}

std::string_view CutAtNul(std::string_view s) {
  const size_t nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

}  // namespace

bool ParseAliasLine(std::string_view line, std::string* name, std::string* value,
                    std::string* problem) {
  const std::vector<Token> tokens = Tokenize(CutAtNul(line));
  if (tokens.empty()) {
    problem->clear();
    return false;
  }
  size_t colon = 0;
  while (colon < tokens.size() && tokens[colon].type != ':') ++colon;
  bool list_before = false, remote = false;
  for (size_t i = 0; i < colon && i < tokens.size(); ++i) {
    list_before |= tokens[i].type == ',';
    remote |= tokens[i].type == '@' || tokens[i].type == '%';
  }
  if (colon == tokens.size() || colon == 0 || colon + 1 == tokens.size() || list_before) {
    *problem = "need name:value pair";
    return false;
  }
  if (remote) {
    *problem = "name must be local";
    return false;
  }
  *name = Internal(tokens, 0, colon);
  *value = External(tokens, colon + 1, tokens.size());
  return true;
}

absl::Status AddAliasSource(
    std::string_view text, std::string_view path, const BuildOptions& options,
    const std::function<absl::Status(std::string_view, std::string_view)>& add) {
  SourceParser parser(text, std::string(path),
                      {.utf8 = options.utf8, .utf8_messages = options.utf8_messages},
                      options.diagnostics);
  auto warn = [&](int line, std::string_view message) {
    if (options.diagnostics) {
      options.diagnostics(Severity::kWarning,
                          absl::StrCat(ToAbsl(path), ", line ", line, ": ", ToAbsl(message)));
    }
  };
  std::string_view full;
  int line_no = 0;
  std::string name, value, problem;
  while (parser.NextLogicalLine(&full, &line_no)) {
    // As postalias: the UTF-8 check covers the whole line, the rest stops
    // at a NUL byte.
    const std::string_view line = CutAtNul(full);
    if (options.utf8 && !IsAscii(line) && !IsValidUtf8(full)) {
      // postalias quotes the whole line; only its first word here, since
      // the rest may be anything (docs/source-format.md).
      warn(line_no, absl::StrCat("non-UTF-8 input \"",
                                 RedactedLine(line, options.utf8_messages),
                                 "\" -- ignoring this line"));
      continue;
    }
    if (!ParseAliasLine(line, &name, &value, &problem)) {
      if (!problem.empty()) warn(line_no, problem);
      continue;
    }
    if (absl::Status s = add(name, value); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(ToAbsl(path), ", line ", line_no, ": ",
                                                 s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace libmaps
