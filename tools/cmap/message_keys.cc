#include "message_keys.h"

#include <cctype>
#include <optional>

namespace cmap {
namespace {

// A header line: a field name of printable ASCII other than ':', then
// optional blanks, then ':'.
bool IsHeaderLine(std::string_view line) {
  size_t i = 0;
  while (i < line.size()) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == ':' || c == ' ' || c == '\t' || c < 0x21 || c > 0x7e) break;
    ++i;
  }
  if (i == 0) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// What a header block says about the body that follows it.
struct PartType {
  std::optional<std::string> boundary;  // multipart/*
  bool message = false;                 // message/rfc822: the body is a message
};

void InspectHeader(std::string_view header, PartType* type) {
  std::string lower = Lower(header);
  if (lower.rfind("content-type", 0) != 0) return;
  size_t colon = lower.find(':');
  if (colon == std::string::npos) return;
  std::string_view value = std::string_view(lower).substr(colon + 1);
  size_t start = value.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return;
  value.remove_prefix(start);
  if (value.rfind("message/rfc822", 0) == 0) {
    type->message = true;
    return;
  }
  if (value.rfind("multipart/", 0) != 0) return;
  size_t b = lower.find("boundary", colon);
  if (b == std::string::npos) return;
  size_t eq = lower.find('=', b);
  if (eq == std::string::npos) return;
  // Take the boundary from the original text: it is case-sensitive.
  std::string_view rest = header.substr(eq + 1);
  size_t s = rest.find_first_not_of(" \t\r\n");
  if (s == std::string_view::npos) return;
  rest.remove_prefix(s);
  std::string boundary;
  if (rest.front() == '"') {
    size_t end = rest.find('"', 1);
    boundary = std::string(rest.substr(1, end == std::string_view::npos
                                              ? std::string_view::npos
                                              : end - 1));
  } else {
    size_t end = rest.find_first_of(" \t\r\n;");
    boundary = std::string(rest.substr(0, end));
  }
  if (!boundary.empty()) type->boundary = boundary;
}

}  // namespace

std::vector<MessageKey> MessageKeys(std::string_view message, bool mime) {
  std::vector<MessageKey> keys;
  std::vector<std::string> boundaries;  // open multiparts, innermost last
  bool in_headers = true;
  std::string header;
  bool have_header = false;
  PartType type;

  auto flush_header = [&] {
    if (!have_header) return;
    if (mime) InspectHeader(header, &type);
    keys.push_back({true, header});
    header.clear();
    have_header = false;
  };
  // Ends a header block: one empty body line, and what the block announced.
  auto end_headers = [&] {
    flush_header();
    keys.push_back({false, ""});
    in_headers = false;
    if (type.boundary) boundaries.push_back(*type.boundary);
    if (type.message) in_headers = true;  // the body is another header block
    type = PartType{};
  };

  size_t pos = 0;
  while (pos < message.size()) {
    size_t nl = message.find('\n', pos);
    size_t end = nl == std::string_view::npos ? message.size() : nl;
    std::string_view line = message.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? message.size() : nl + 1;

    if (in_headers) {
      if (have_header && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
        header.push_back('\n');
        header.append(line);
        continue;
      }
      if (IsHeaderLine(line)) {
        flush_header();
        header.assign(line);
        have_header = true;
        continue;
      }
      end_headers();
      if (line.empty()) continue;  // the separator itself
    }
    if (mime && line.size() > 2 && line[0] == '-' && line[1] == '-') {
      std::string_view rest = line.substr(2);
      for (size_t i = boundaries.size(); i-- > 0;) {
        const std::string& b = boundaries[i];
        if (rest.substr(0, b.size()) != b) continue;
        std::string_view tail = rest.substr(b.size());
        keys.push_back({false, std::string(line)});
        boundaries.resize(i + 1);
        if (tail.substr(0, 2) == "--") {
          boundaries.pop_back();  // the closing boundary
        } else {
          in_headers = true;  // a new part starts with its headers
        }
        goto next_line;
      }
    }
    keys.push_back({false, std::string(line)});
  next_line:;
  }
  if (in_headers) flush_header();
  return keys;
}

}  // namespace cmap
