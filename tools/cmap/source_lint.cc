#include "source_lint.h"

#include <map>
#include <optional>

#include "libmaps/source_parser.h"
#include "libmaps/text.h"

namespace cmap {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string ShownKey(std::string_view key, bool utf8) {
  size_t ws = 0;
  while (ws < key.size() && !IsBlank(key[ws]) && key[ws] != '\n') ++ws;
  if (ws == key.size()) return libmaps::Printable(key, utf8);
  return libmaps::Printable(key.substr(0, ws), utf8) + " ...";
}

std::vector<SourceFinding> LintCredentialSource(std::string_view text, const std::string& path,
                                                bool utf8) {
  std::vector<SourceFinding> findings;
  auto at = [&](int line) { return path + ", line " + std::to_string(line) + ": "; };

  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    findings.push_back({true, at(1) + "the file starts with a UTF-8 byte-order mark (bytes EF BB "
                                      "BF, invisible in most editors): postmap keeps it as part "
                                      "of the first key, which Postfix then never finds; save the "
                                      "file as UTF-8 without BOM (or plain ASCII)"});
  }

  // Physical lines: CR LF ends, and indented lines that continue an entry.
  int line_no = 0, first_crlf = 0, crlf_lines = 0;
  int entry_line = 0;  // the physical line of the entry being continued
  bool skipped_entry = false;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      if (crlf_lines++ == 0) first_crlf = line_no;
    }
    size_t first = 0;
    while (first < line.size() && IsBlank(line[first])) ++first;
    if (first == line.size() || line[first] == '#') continue;  // blank or comment
    if (first == 0) {
      entry_line = line_no;
      skipped_entry = false;
      continue;
    }
    if (entry_line == 0) {
      if (!skipped_entry) {
        findings.push_back(
            {true, at(line_no) + "the line starts with whitespace, which makes it the "
                                 "continuation of the line before; with no entry before it, "
                                 "Postfix skips it and every indented line that follows "
                                 "(\"logical line must not start with whitespace\"): remove the "
                                 "leading whitespace"});
        skipped_entry = true;
      }
      continue;
    }
    findings.push_back({true, at(line_no) + "the line starts with whitespace, so postmap appends "
                                            "it to the entry of line " +
                                            std::to_string(entry_line) +
                                            " (to its value, the password): remove the "
                                            "leading whitespace"});
  }
  if (crlf_lines > 0) {
    findings.push_back(
        {false, at(first_crlf) + "the file has Windows line ends (CR LF" +
                    (crlf_lines > 1 ? ", " + std::to_string(crlf_lines) + " lines" : "") +
                    "): postmap drops a CR at the end of a value, so the table is not "
                    "affected, but a CR inside an entry would be kept; convert the file "
                    "with dos2unix"});
  }

  // Entries, as postmap reads them: duplicates and comments after a value.
  libmaps::SourceParserOptions options;
  options.utf8 = utf8;
  options.utf8_messages = utf8;
  libmaps::SourceParser parser(text, path, options,
                               [](libmaps::Severity, std::string_view) {});
  std::map<std::string, int, std::less<>> first_line;
  libmaps::SourceEntry entry;
  while (parser.Next(&entry)) {
    const std::string key =
        libmaps::FoldKey(entry.key, utf8).value_or(std::string(entry.key));
    const std::string shown = ShownKey(entry.key, utf8);
    auto [it, inserted] = first_line.emplace(key, entry.line);
    if (!inserted) {
      findings.push_back({true, at(entry.line) + "key " + shown + " again (first on line " +
                                    std::to_string(it->second) +
                                    "): postmap keeps the first entry and ignores this one, so "
                                    "an edit made here has no effect; delete one of the lines"});
    }
    for (size_t i = 1; i < entry.value.size(); ++i) {
      if (entry.value[i] == '#' && IsBlank(entry.value[i - 1])) {
        findings.push_back({true, at(entry.line) + "key " + shown +
                                      ": the value has a '#' after whitespace: postmap has no "
                                      "comments after a value, so the text from '#' on is part "
                                      "of the password; put the comment on a line of its own"});
        break;
      }
    }
  }
  return findings;
}

}  // namespace cmap
