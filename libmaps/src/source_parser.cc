#include "libmaps/source_parser.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libmaps/text.h"
#include "string_view_compat.h"

namespace libmaps {

using internal::ToAbsl;
using internal::ToStd;
namespace {

// ISSPACE in the C locale: space, \t, \n, \v, \f, \r.
constexpr bool IsSpace(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

bool IsIgnored(std::string_view line) {
  for (char c : line) {
    if (!IsSpace(c)) return c == '#';
  }
  return true;
}

std::string_view CutAtNul(std::string_view s) {
  size_t nul = s.find('\0');
  return nul == s.npos ? s : s.substr(0, nul);
}

}  // namespace

std::string RedactedLine(std::string_view line, bool utf8_messages) {
  line = CutAtNul(line);
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  while (i < line.size() && !IsSpace(line[i])) ++i;
  return Printable(line.substr(0, i), utf8_messages) + " ...";
}

SourceParser::SourceParser(std::string_view text, std::string path,
                           SourceParserOptions options, DiagnosticSink sink)
    : text_(text),
      path_(std::move(path)),
      options_(options),
      sink_(std::move(sink)) {}

void SourceParser::Warn(int line, std::string_view message) const {
  if (!sink_) return;
  sink_(Severity::kWarning,
        absl::StrCat(ToAbsl(path_), ", line ", line, ": ", ToAbsl(message)));
}

bool SourceParser::NextLogicalLine(std::string_view* line, int* first_line) {
  for (;;) {
    // Find the first physical line that is not ignored.
    std::string_view start;
    int start_no = 0;
    while (pos_ < text_.size()) {
      size_t nl = text_.find('\n', pos_);
      size_t end = nl == text_.npos ? text_.size() : nl;
      std::string_view phys = text_.substr(pos_, end - pos_);
      pos_ = nl == text_.npos ? text_.size() : nl + 1;
      ++line_no_;
      if (!IsIgnored(phys)) {
        start = phys;
        start_no = line_no_;
        break;
      }
    }
    if (start_no == 0) return false;

    // Append continuation lines; ignored lines in between do not end it.
    bool joined = false;
    size_t scan = pos_;
    int scan_no = line_no_;
    while (scan < text_.size()) {
      size_t nl = text_.find('\n', scan);
      size_t end = nl == text_.npos ? text_.size() : nl;
      std::string_view phys = text_.substr(scan, end - scan);
      size_t next = nl == text_.npos ? text_.size() : nl + 1;
      if (IsIgnored(phys)) {
        scan = next;
        ++scan_no;
        continue;
      }
      if (!IsSpace(phys[0])) break;
      if (!joined) {
        joined_.assign(start);
        joined = true;
      }
      joined_.append(phys);
      scan = next;
      ++scan_no;
      pos_ = scan;
      line_no_ = scan_no;
    }
    std::string_view logical = joined ? std::string_view(joined_) : start;

    if (IsSpace(logical[0])) {
      // Only possible at the top of a file: nothing to continue.
      if (sink_) {
        sink_(Severity::kWarning,
              absl::StrCat(ToAbsl(path_), ", line ", start_no,
                           ": logical line must not start with whitespace: \"",
                           RedactedLine(logical, options_.utf8_messages), "\""));
      }
      continue;
    }
    *line = logical;
    *first_line = start_no;
    return true;
  }
}

bool SourceParser::Next(SourceEntry* entry) {
  std::string_view full;
  int line_no = 0;
  while (NextLogicalLine(&full, &line_no)) {
    // Postfix handles the line as a C string from here on, except that the
    // UTF-8 check covers the whole buffer.
    std::string_view line = CutAtNul(full);
    if (options_.utf8 && !IsAscii(line) && !IsValidUtf8(full)) {
      Warn(line_no, absl::StrCat("non-UTF-8 input \"",
                                 RedactedLine(line, options_.utf8_messages),
                                 "\" -- ignoring this line"));
      continue;
    }
    bool in_quotes = false;
    size_t i = 0;
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (c == '\\') {
        if (++i >= line.size()) break;
      } else if (c == '"') {
        in_quotes = !in_quotes;
      } else if (IsSpace(c) && !in_quotes) {
        break;
      }
    }
    if (in_quotes) {
      Warn(line_no, absl::StrCat("unbalanced '\"' in '",
                                 RedactedLine(line, options_.utf8_messages),
                                 "' -- ignoring this line"));
      continue;
    }
    size_t key_end = i < line.size() ? i : line.size();
    std::string_view key = line.substr(0, key_end);
    std::string_view value = line.substr(key_end);
    while (!value.empty() && IsSpace(value.front())) value.remove_prefix(1);
    while (!value.empty() && IsSpace(value.back())) value.remove_suffix(1);
    if (key.empty() || value.empty()) {
      Warn(line_no, options_.texthash_wording
                        ? "expected format: key whitespace value -- ignoring this line"
                        : "expected format: key whitespace value");
      continue;
    }
    if (key.back() == ':') {
      Warn(line_no,
           "record is in \"key: value\" format; is this an alias file?");
    }
    entry->key = key;
    entry->value = value;
    entry->line = line_no;
    return true;
  }
  return false;
}

}  // namespace libmaps
