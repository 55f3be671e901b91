#include "libmaps/postfix_config.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "libmaps/source_parser.h"
#include "string_view_compat.h"

namespace libmaps {

using internal::ToAbsl;
using internal::ToStd;
namespace {

constexpr bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Expands $name, ${name} and $(name) from `params`. Postfix's conditional
// forms (${name?x}, ${{...}}) are left as they are. A parameter that refers
// to itself, directly or not, is left unexpanded where the loop closes
// (Postfix stops with "unreasonable macro call nesting"), and the whole
// expansion stops growing at kExpansionBudget bytes: main.cf is untrusted
// input to a fuzzer and to `cmap -c`, and "a = $b$b", "b = $c$c", ... would
// otherwise double the work at every level.
constexpr size_t kExpansionBudget = size_t{1} << 20;

struct ExpandState {
  std::vector<std::string_view> stack;  // names being expanded
  size_t budget = kExpansionBudget;
};

std::string Expand(const PostfixConfig& config, std::string_view value,
                   ExpandState& state) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (state.budget == 0) break;
    --state.budget;
    if (value[i] != '$' || i + 1 >= value.size()) {
      out.push_back(value[i]);
      continue;
    }
    size_t start = i + 1;
    size_t end;
    std::string_view name;
    if (value[start] == '{' || value[start] == '(') {
      char close = value[start] == '{' ? '}' : ')';
      end = value.find(close, start);
      if (end == value.npos) {
        out.append(value.substr(i));
        break;
      }
      name = value.substr(start + 1, end - start - 1);
      ++end;
    } else {
      end = start;
      while (end < value.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(value[end])) ||
              value[end] == '_')) {
        ++end;
      }
      name = value.substr(start, end - start);
    }
    auto it = config.parameters.find(name);
    if (it != config.parameters.end()) {
      if (std::find(state.stack.begin(), state.stack.end(), it->first) !=
              state.stack.end() ||
          state.stack.size() >= 100) {
        out.append(value.substr(i, end - i));  // a loop: left as written
      } else {
        state.stack.push_back(it->first);
        // Every byte an expansion appends was counted against the budget.
        out.append(Expand(config, it->second, state));
        state.stack.pop_back();
      }
    }
    i = end - 1;
  }
  return out;
}

std::string Expand(const PostfixConfig& config, std::string_view value) {
  ExpandState state;
  return Expand(config, value, state);
}

}  // namespace

std::string GetParameter(const PostfixConfig& config, std::string_view name,
                         std::string_view fallback) {
  auto it = config.parameters.find(name);
  ExpandState state;
  if (it == config.parameters.end()) return Expand(config, fallback, state);
  state.stack.push_back(it->first);
  return Expand(config, it->second, state);
}

std::string DefaultConfigDir() {
  const char* env = std::getenv("MAIL_CONFIG");
  if (env != nullptr && *env != '\0') return env;
  return "/etc/postfix";
}

absl::StatusOr<PostfixConfig> ParsePostfixConfig(std::string_view text) {
  PostfixConfig config;
  // main.cf uses the same logical lines as map sources.
  SourceParser parser(text, "main.cf", {.utf8 = false}, nullptr);
  std::string_view line;
  int line_no = 0;
  while (parser.NextLogicalLine(&line, &line_no)) {
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    config.parameters[std::string(Trim(line.substr(0, eq)))] =
        std::string(Trim(line.substr(eq + 1)));
  }

  int level_major = 0;
  if (auto it = config.parameters.find("compatibility_level");
      it != config.parameters.end()) {
    std::string level = Expand(config, it->second);
    std::string_view major = level;
    major = major.substr(0, major.find('.'));
    if (!absl::SimpleAtoi(ToAbsl(major), &level_major)) level_major = 0;
  }
  config.smtputf8_enable = level_major >= 1;
  if (auto it = config.parameters.find("smtputf8_enable");
      it != config.parameters.end()) {
    std::string v = absl::AsciiStrToLower(Expand(config, it->second));
    if (v == "yes" || v == "true") {
      config.smtputf8_enable = true;
    } else if (v == "no" || v == "false") {
      config.smtputf8_enable = false;
    } else if (!v.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad boolean configuration: smtputf8_enable = ", it->second));
    }
  }
  if (auto it = config.parameters.find("default_database_type");
      it != config.parameters.end()) {
    std::string v = Expand(config, it->second);
    if (!v.empty()) config.default_database_type = v;
  }
  if (auto it = config.parameters.find("lmdb_map_size");
      it != config.parameters.end()) {
    uint64_t size = 0;
    if (absl::SimpleAtoi(Expand(config, it->second), &size) && size > 0) {
      config.lmdb_map_size = size;
    }
  }
  return config;
}

absl::StatusOr<PostfixConfig> LoadPostfixConfig(std::string_view config_dir) {
  std::string path = absl::StrCat(ToAbsl(config_dir), "/main.cf");
  absl::StatusOr<std::string> text = internal::ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ParsePostfixConfig(*text);
}

}  // namespace libmaps
