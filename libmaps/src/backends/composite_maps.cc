#include "backends/composite_maps.h"

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/rule_table.h"
#include "lookup_key.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Postfix's extpar(): `text` must be "{...}" with the braces balanced;
// returns the inside, trimmed. On failure sets *error to Postfix's words
// ("missing '}'", "syntax error after '}'").
std::optional<std::string_view> StripBraces(std::string_view text, std::string* error) {
  if (text.empty() || text.front() != '{') {
    *error = "missing '{'";
    return std::nullopt;
  }
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) {
      if (i + 1 != text.size() && !Trim(text.substr(i + 1)).empty()) {
        *error = "syntax error after '}'";
        return std::nullopt;
      }
      return Trim(text.substr(1, i - 1));
    }
  }
  *error = "missing '}'";
  return std::nullopt;
}

// "table TYPE:NAME: query error: CAUSE", the wording of Postfix's lookup
// failures; a composite table reports a component's failure under its own
// name with the component's cause.
absl::Status QueryError(const Map& map, std::string_view cause) {
  return absl::UnavailableError(
      absl::StrCat("table ", map.type(), ":", map.name(), ": query error: ", ToAbsl(cause)));
}
std::string_view CauseOf(const absl::Status& status) {
  std::string_view m(status.message().data(), status.message().size());
  const size_t at = m.find(": query error: ");
  return at == std::string_view::npos ? m : m.substr(at + 15);
}

absl::Status SequenceUnsupported(const Map& map) {
  return absl::FailedPreconditionError(
      absl::StrCat("table ", map.type(), ":", map.name(), ": sequence operation is not supported"));
}

class StaticMap final : public Map {
 public:
  StaticMap(std::string name, std::string value)
      : Map("static", std::move(name)), value_(std::move(value)) {}
  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }
  absl::StatusOr<bool> LookupInto(std::string_view, std::string* value) const override {
    value->assign(value_);
    return true;
  }
  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>&) const override {
    return SequenceUnsupported(*this);
  }

 private:
  std::string value_;
};

class InlineMap final : public Map {
 public:
  InlineMap(std::string name, const OpenOptions& options)
      : Map("inline", std::move(name)), options_(options) {}
  // Keys are stored folded; a repeated key replaces the earlier value.
  void Put(std::string key, std::string value) {
    for (auto& [k, v] : entries_) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    entries_.emplace_back(std::move(key), std::move(value));
  }
  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }
  absl::StatusOr<bool> LookupInto(std::string_view key, std::string* value) const override {
    std::optional<std::string> k =
        PrepareLookupKey(key, options_, absl::StrCat("inline:", ToAbsl(name())));
    if (!k) return false;
    for (const auto& [stored, v] : entries_) {
      if (stored == *k) {
        value->assign(v);
        return true;
      }
    }
    return false;
  }
  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    for (const auto& [k, v] : entries_) {
      if (!fn(k, v)) break;
    }
    return absl::OkStatus();
  }

 private:
  OpenOptions options_;
  std::vector<std::pair<std::string, std::string>> entries_;
};

class FailMap final : public Map {
 public:
  explicit FailMap(std::string name) : Map("fail", std::move(name)) {}
  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }
  absl::StatusOr<bool> LookupInto(std::string_view, std::string*) const override {
    return QueryError(*this, "Application error");
  }
  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>&) const override {
    return SequenceUnsupported(*this);
  }
};

class EnvironMap final : public Map {
 public:
  EnvironMap(std::string name, const OpenOptions& options)
      : Map("environ", std::move(name)), options_(options) {}
  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }
  // Postfix folds the key like any other (so only lower-case variable
  // names are found unless the caller does not fold: postmap -f).
  absl::StatusOr<bool> LookupInto(std::string_view key, std::string* value) const override {
    std::optional<std::string> k =
        PrepareLookupKey(key, options_, absl::StrCat("environ:", ToAbsl(name())));
    if (!k || k->find('\0') != std::string::npos) return false;
    const char* v = std::getenv(k->c_str());
    if (v == nullptr) return false;
    value->assign(v);
    return true;
  }
  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>&) const override {
    return SequenceUnsupported(*this);
  }

 private:
  OpenOptions options_;
};

// unionmap: and pipemap:, over tables opened from the list.
class ListMap final : public Map {
 public:
  ListMap(std::string type, std::string name, std::vector<std::unique_ptr<Map>> maps)
      : Map(std::move(type), std::move(name)), maps_(std::move(maps)) {}
  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }
  absl::StatusOr<bool> LookupInto(std::string_view key, std::string* value) const override {
    return type() == "unionmap" ? Union(key, value) : Pipe(key, value);
  }
  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>&) const override {
    return SequenceUnsupported(*this);
  }

 private:
  // Postfix appends each result after a ',' when something is there
  // already: empty results count only after a non-empty one ("x,,y"), and a
  // union of empty results is not found.
  absl::StatusOr<bool> Union(std::string_view key, std::string* value) const {
    value->clear();
    std::string one;
    for (const std::unique_ptr<Map>& m : maps_) {
      absl::StatusOr<bool> hit = m->LookupInto(key, &one);
      if (!hit.ok()) return QueryError(*this, CauseOf(hit.status()));
      if (!*hit) continue;
      if (!value->empty()) value->push_back(',');
      value->append(one);
    }
    return !value->empty();
  }
  absl::StatusOr<bool> Pipe(std::string_view key, std::string* value) const {
    std::string current(key);
    for (const std::unique_ptr<Map>& m : maps_) {
      absl::StatusOr<bool> hit = m->LookupInto(current, value);
      if (!hit.ok()) return QueryError(*this, CauseOf(hit.status()));
      if (!*hit) return false;
      current = *value;
    }
    return true;
  }

  std::vector<std::unique_ptr<Map>> maps_;
};

absl::Status BadSyntax(std::string_view type, std::string_view name, std::string_view need) {
  return absl::InvalidArgumentError(absl::StrCat("bad syntax: \"", ToAbsl(type), ":",
                                                 ToAbsl(name), "\"; need \"", ToAbsl(type),
                                                 ":{", ToAbsl(need), "...}\""));
}

absl::StatusOr<std::unique_ptr<Map>> OpenList(std::string_view type, std::string_view name,
                                              const OpenOptions& options) {
  std::string error;
  std::optional<std::string_view> inside = StripBraces(name, &error);
  if (!inside || inside->empty()) return BadSyntax(type, name, "type:name");
  std::vector<std::unique_ptr<Map>> maps;
  for (std::string_view item : SplitBraceList(*inside)) {
    absl::StatusOr<std::unique_ptr<Map>> m = OpenMap(item, options);
    if (!m.ok()) return m.status();
    maps.push_back(*std::move(m));
  }
  if (maps.empty()) return BadSyntax(type, name, "type:name");
  return std::unique_ptr<Map>(
      new ListMap(std::string(type), std::string(name), std::move(maps)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> OpenStaticMap(std::string_view name,
                                                   const OpenOptions&) {
  std::string value(name);
  if (!name.empty() && name.front() == '{') {
    std::string error;
    std::optional<std::string_view> inside = StripBraces(name, &error);
    if (!inside) {
      return absl::InvalidArgumentError(absl::StrCat("bad static:name syntax: ", error,
                                                     " in \"", ToAbsl(name), "\""));
    }
    value = std::string(*inside);
  }
  return std::unique_ptr<Map>(new StaticMap(std::string(name), std::move(value)));
}

absl::StatusOr<std::unique_ptr<Map>> OpenInlineMap(std::string_view name,
                                                   const OpenOptions& options) {
  std::string error;
  std::optional<std::string_view> inside = StripBraces(name, &error);
  if (!inside || inside->empty()) return BadSyntax("inline", name, "name=value");
  auto map = std::make_unique<InlineMap>(std::string(name), options);
  const std::string table = absl::StrCat("inline:", ToAbsl(name));
  for (std::string_view item : SplitBraceList(*inside)) {
    std::string_view pair = item;
    if (pair.front() == '{') {
      std::optional<std::string_view> in = StripBraces(pair, &error);
      if (!in) return BadSyntax("inline", name, "name=value");
      pair = *in;
    }
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "missing '=' after attribute name: \"inline:", ToAbsl(name),
          "\"; need \"inline:{name=value...}\""));
    }
    const std::string_view key = Trim(pair.substr(0, eq));
    const std::string_view value = Trim(pair.substr(eq + 1));
    if (key.empty()) {
      // Postfix exits with status 1 and no message here; a message helps.
      return absl::InvalidArgumentError(absl::StrCat(
          "missing attribute name before '=': \"inline:", ToAbsl(name),
          "\"; need \"inline:{name=value...}\""));
    }
    std::optional<std::string> stored = PrepareKey(key, options.fold_case, options.utf8,
                                                   options.utf8_messages, options.diagnostics,
                                                   table);
    if (!stored) continue;
    map->Put(*std::move(stored), std::string(value));
  }
  return std::unique_ptr<Map>(std::move(map));
}

absl::StatusOr<std::unique_ptr<Map>> OpenFailMap(std::string_view name, const OpenOptions&) {
  return std::unique_ptr<Map>(new FailMap(std::string(name)));
}

absl::StatusOr<std::unique_ptr<Map>> OpenEnvironMap(std::string_view name,
                                                    const OpenOptions& options) {
  return std::unique_ptr<Map>(new EnvironMap(std::string(name), options));
}

absl::StatusOr<std::unique_ptr<Map>> OpenUnionMap(std::string_view name,
                                                  const OpenOptions& options) {
  return OpenList("unionmap", name, options);
}

absl::StatusOr<std::unique_ptr<Map>> OpenPipeMap(std::string_view name,
                                                 const OpenOptions& options) {
  return OpenList("pipemap", name, options);
}

}  // namespace libmaps::internal
