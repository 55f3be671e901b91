// cmap's own input parsers: the source lint of --check-sasl (any bytes as a
// password table's source) and the command line (NUL-separated words).
// Properties: no crash, no sanitizer report; a lint finding never quotes a
// value (every finding is built from keys, line numbers and fixed text, so
// a value made of a marker that is in no key must never appear).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "command_line.h"
#include "source_lint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    // A marker value appended to every line that has a key: it must never
    // show up in a finding.
    constexpr std::string_view kMarker = "QZXSECRETQZX";
    std::string text;
    size_t start = 0;
    while (start <= input.size()) {
      size_t end = input.find('\n', start);
      if (end == std::string_view::npos) end = input.size();
      std::string_view line = input.substr(start, end - start);
      text.append(line);
      if (!line.empty() && line.find(kMarker) == std::string_view::npos) {
        text.append(" ").append(kMarker);
      }
      if (end < input.size()) text.push_back('\n');
      start = end + 1;
    }
    if (input.find(kMarker.substr(0, 4)) != std::string_view::npos) return 0;
    for (const cmap::SourceFinding& f :
         cmap::LintCredentialSource(text, "src", (data[0] & 2) != 0)) {
      if (f.message.find(kMarker) != std::string::npos) {
        std::fprintf(stderr, "finding quotes a value: %s\n", f.message.c_str());
        std::abort();
      }
    }
    return 0;
  }
  std::vector<std::string> args = {"cmap"};
  size_t start = 0;
  while (start <= input.size() && args.size() < 64) {
    size_t end = input.find('\0', start);
    if (end == std::string_view::npos) end = input.size();
    args.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  std::ostringstream err;
  int status = 0;
  (void)cmap::ParseCommandLine(args, err, &status);
  return 0;
}
