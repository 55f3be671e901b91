#include "migrate.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cmap.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"
#include "libmaps/postfix_config.h"
#include "libmaps/source_parser.h"
#include "libmaps/text.h"
#include "postconf.h"

namespace cmap {
namespace {

constexpr std::string_view kManifestHeader = "cmap-migrate 1";

bool IsSeparator(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ','; }

void ScanList(std::string_view v, size_t base, std::vector<TableToken>* out);

void ScanToken(std::string_view t, size_t pos, std::vector<TableToken>* out) {
  if (t.starts_with("proxy:")) return ScanToken(t.substr(6), pos + 6, out);
  for (std::string_view composite : {"unionmap:{", "pipemap:{"}) {
    if (t.starts_with(composite) && t.ends_with("}")) {
      return ScanList(t.substr(composite.size(), t.size() - composite.size() - 1),
                      pos + composite.size(), out);
    }
  }
  const size_t colon = t.find(':');
  if (colon == std::string_view::npos || colon + 1 >= t.size()) return;
  const std::string_view type = t.substr(0, colon);
  // "$default_database_type:/etc/aliases" (Postfix 3.11's alias defaults):
  // the caller expands the type.
  if (type == "hash" || type == "btree" || (type.size() > 1 && type[0] == '$')) {
    out->push_back(TableToken{pos, std::string(type), std::string(t.substr(colon + 1))});
  }
}

// Tokens of a table list or restriction list: separated by whitespace and
// commas outside braces.
void ScanList(std::string_view v, size_t base, std::vector<TableToken>* out) {
  size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && IsSeparator(v[i])) ++i;
    const size_t start = i;
    int depth = 0;
    while (i < v.size() && (depth > 0 || !IsSeparator(v[i]))) {
      if (v[i] == '{') ++depth;
      if (v[i] == '}' && depth > 0) --depth;
      ++i;
    }
    if (i > start) ScanToken(v.substr(start, i - start), base + start, out);
  }
}

// Parameters whose tables Postfix writes itself and recreates when missing.
bool IsCacheParameter(std::string_view name) {
  return name == "address_verify_map" || name.ends_with("_cache_map") ||
         name.ends_with("_cache_database") || name.ends_with("_cache_name");
}
bool IsAliasParameter(std::string_view name) {
  return name == "alias_maps" || name == "alias_database";
}

// One parameter setting that names Berkeley DB tables (or is one of the
// default type parameters).
struct Setting {
  std::string service;  // "" for main.cf, "name/type" for a master.cf -o
  std::string name;
  std::string raw;       // as written, or Postfix's default
  bool is_default = false;
  std::vector<TableToken> tokens;
  std::string new_raw;

  std::string Where() const {
    return service.empty() ? name : service + " -o " + name;
  }
};

struct Records {
  std::map<std::string, std::string> map;
  bool ok = false;
  std::string error;
};

struct Table {
  std::string type, path;  // hash or btree, and NAME (expanded)
  std::vector<std::string> used_by;
  bool cache = false, alias = false;
  bool table_exists = false, source_exists = false;
  Records old;       // the .db's records (NULs stripped)
  std::string source_state;  // for the plan
  enum How { kFromSource, kFromTable, kRecreatedEmpty, kNothing } how = kNothing;
  std::string target;  // cdb or lmdb
  std::string problem;
  std::vector<std::string> command;  // cmap's arguments that build it

  std::string Spec() const { return type + ":" + path; }
  std::string TargetFile() const { return path + (target == "cdb" ? ".cdb" : ".lmdb"); }
};

struct Config {
  std::string dir;
  std::string postconf;  // "" when read without postconf
  std::string version;
  std::map<std::string, std::string> set;       // main.cf, as written
  std::map<std::string, std::string> defaults;  // Postfix's defaults, as written
  libmaps::PostfixConfig expanded;              // for $name expansion
  struct Override {
    std::string service, name, raw;
  };
  std::vector<Override> overrides;  // master.cf -o
  std::set<std::string> types;      // postconf -m ({} when unknown)
  bool smtputf8 = true;
};

// "name = value" lines (postconf -n, -d, -x, -P).
std::map<std::string, std::string> NameValues(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const std::string& line : Lines(text)) {
    const size_t eq = line.find(" =");
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 2);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    out[line.substr(0, eq)] = value;
  }
  return out;
}

std::string Expand(const Config& c, std::string_view raw) {
  // GetParameter expands its fallback when the name is not set; "" never is.
  return libmaps::GetParameter(c.expanded, "", raw);
}

std::string Quoted(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out.push_back(ch);
    }
  }
  return out + "'";
}

std::string CommandText(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    const bool plain = a.find_first_of(" \t'\"$\\{}*?[]<>|&;()") == std::string::npos && !a.empty();
    absl::StrAppend(&out, out.empty() ? "" : " ", plain ? a : Quoted(a));
  }
  return out;
}

std::string ErrnoText(int e) { return std::strerror(e); }

bool ReadFile(const std::string& path, std::string* data, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "open " + path + ": " + ErrnoText(errno);
    return false;
  }
  std::stringstream s;
  s << in.rdbuf();
  *data = s.str();
  return true;
}

// Postfix's built-in defaults that name Berkeley DB tables (3.7, Debian),
// for a configuration read without postconf.
const std::map<std::string, std::string>& FallbackDefaults() {
  static const auto* defaults = new std::map<std::string, std::string>{
      {"address_verify_map", "btree:$data_directory/verify_cache"},
      {"alias_database", "hash:/etc/aliases"},
      {"alias_maps", "hash:/etc/aliases, nis:mail.aliases"},
      {"postscreen_cache_map", "btree:$data_directory/postscreen_cache"},
      {"default_database_type", "hash"},
      {"data_directory", "/var/lib/postfix"},
      {"queue_directory", "/var/spool/postfix"},
  };
  return *defaults;
}

// master.cf's -o overrides, read as postconf -P reads them: logical lines,
// "-o name=value" or "-o { name = value }" after the eighth field.
std::vector<Config::Override> ReadMasterCf(const std::string& path) {
  std::vector<Config::Override> out;
  std::string body, ignored;
  if (!ReadFile(path, &body, &ignored)) return out;  // no master.cf: no overrides
  libmaps::SourceParser parser(body, path, {.utf8 = false}, nullptr);
  std::string_view line;
  int line_no = 0;
  while (parser.NextLogicalLine(&line, &line_no)) {
    std::vector<std::string> f = absl::StrSplit(absl::string_view(line.data(), line.size()), absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
    if (f.size() < 8) continue;
    const std::string service = f[0] + "/" + f[1];
    for (size_t i = 8; i + 1 < f.size(); ++i) {
      if (f[i] != "-o") continue;
      std::string setting;
      if (f[i + 1] == "{") {
        size_t j = i + 2;
        for (; j < f.size() && f[j] != "}"; ++j) absl::StrAppend(&setting, setting.empty() ? "" : " ", f[j]);
        i = j;
      } else {
        setting = f[++i];
      }
      const size_t eq = setting.find('=');
      if (eq == std::string::npos) continue;
      out.push_back({service, std::string(absl::StripAsciiWhitespace(setting.substr(0, eq))),
                     std::string(absl::StripAsciiWhitespace(setting.substr(eq + 1)))});
    }
  }
  return out;
}

bool ReadConfig(const std::string& dir, Config* c, std::string* error) {
  c->dir = dir;
  c->postconf = FindPostconf();
  if (!c->postconf.empty()) {
    auto run = [&](std::vector<std::string> args, std::string* out) -> bool {
      std::vector<std::string> argv = {c->postconf, "-c", dir};
      argv.insert(argv.end(), args.begin(), args.end());
      std::string err;
      const int status = RunProgram(argv, out, &err);
      if (status != 0) {
        std::string first = Lines(err).empty() ? "" : Lines(err).front();
        absl::string_view text = first;
        absl::ConsumePrefix(&text, "postconf: fatal: ");
        *error = text.empty() ? CommandText(argv) + ": failed" : std::string(text);
        return false;
      }
      return true;
    };
    std::string n, d, x, p, m;
    if (!run({"-n"}, &n) || !run({"-d"}, &d) || !run({"-x"}, &x) || !run({"-P"}, &p)) {
      return false;
    }
    (void)run({"-m"}, &m);
    error->clear();
    c->set = NameValues(n);
    c->defaults = NameValues(d);
    for (auto& [name, value] : NameValues(x)) c->expanded.parameters[name] = value;
    for (auto& [key, value] : NameValues(p)) {
      const size_t slash = key.rfind('/');
      if (slash == std::string::npos) continue;
      c->overrides.push_back({key.substr(0, slash), key.substr(slash + 1), value});
    }
    for (const std::string& t : Lines(m)) c->types.insert(t);
    c->version = c->expanded.parameters.count("mail_version")
                     ? c->expanded.parameters["mail_version"]
                     : "";
    c->smtputf8 = libmaps::GetParameter(c->expanded, "smtputf8_enable", "yes") == "yes";
    return true;
  }
  // Without Postfix: cmap's own readers and the defaults above.
  absl::StatusOr<libmaps::PostfixConfig> own = libmaps::LoadPostfixConfig(dir);
  if (!own.ok()) {
    *error = std::string(own.status().message());
    return false;
  }
  c->set = {own->parameters.begin(), own->parameters.end()};
  c->defaults = FallbackDefaults();
  c->expanded = *own;
  c->expanded.parameters["config_directory"] = dir;
  for (const auto& [name, value] : c->defaults) c->expanded.parameters.emplace(name, value);
  c->smtputf8 = own->smtputf8_enable;
  c->overrides = ReadMasterCf(dir + "/master.cf");
  return true;
}

// A table's records, keys and values without Postfix's trailing NUL.
Records ReadTableRecords(const std::string& spec) {
  Records r;
  libmaps::OpenOptions options;
  options.duplicates = libmaps::DuplicatePolicy::kReplace;
  absl::StatusOr<std::unique_ptr<libmaps::Map>> map = libmaps::OpenMap(spec, options);
  if (!map.ok()) {
    r.error = std::string(map.status().message());
    return r;
  }
  auto strip = [](std::string_view s) {
    if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
    return std::string(s);
  };
  absl::Status s = (*map)->ForEach([&](std::string_view k, std::string_view v) {
    r.map[strip(k)] = strip(v);
    return true;
  });
  if (!s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  r.ok = true;
  return r;
}

// The records a build from the source would store (postmap's or
// postalias's rules, keys folded, the first of duplicates kept).
Records ReadSourceRecords(const Table& t, bool utf8) {
  Records r;
  std::string body;
  if (!ReadFile(t.path, &body, &r.error)) return r;
  libmaps::BuildOptions options;
  options.utf8 = utf8;
  auto add = [&](std::string_view k, std::string_view v) {
    std::optional<std::string> folded = libmaps::FoldKey(k, utf8);
    if (folded) r.map.emplace(*folded, std::string(v));
    return absl::OkStatus();
  };
  absl::Status s = t.alias ? libmaps::AddAliasSource(body, t.path, options, add)
                           : libmaps::AddSource(body, t.path, false, options, add);
  if (!s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  if (t.alias) r.map.emplace("@", "@");
  r.ok = true;
  return r;
}

// Records as compared: an alias table's YP_ pair holds the build's time
// and host name, not data.
std::map<std::string, std::string> Comparable(const Table& t, const Records& r) {
  std::map<std::string, std::string> out = r.map;
  if (t.alias) {
    out.erase("YP_LAST_MODIFIED");
    out.erase("YP_MASTER_NAME");
  }
  return out;
}

std::string Plural(size_t n, std::string_view one) {
  return absl::StrCat(n, " ", std::string(one), n == 1 ? "" : "s");
}

// Reads the configuration and works out every table's fate and every edit.
struct Plan {
  Config config;
  std::vector<Setting> settings;
  std::vector<Table> tables;
  std::vector<std::string> problems;
};

bool MakePlan(const MigrateOptions& o, Plan* plan, std::string* error) {
  Config& c = plan->config;
  if (!ReadConfig(o.config_dir, &c, error)) return false;
  auto consider = [&](std::string service, const std::string& name, const std::string& raw,
                      bool is_default) {
    Setting s{std::move(service), name, raw, is_default, FindBerkeleyTables(raw), ""};
    // A type written as a parameter ($default_database_type) counts when
    // it is hash or btree now; the edit of that parameter changes it.
    std::erase_if(s.tokens, [&](TableToken& tok) {
      if (tok.type[0] != '$') return false;
      tok.indirect = tok.type;
      tok.type = Expand(c, tok.type);
      return tok.type != "hash" && tok.type != "btree";
    });
    const bool type_parameter = s.service.empty() && (name == "default_database_type" ||
                                                      name == "default_cache_db_type");
    if (type_parameter && (raw == "hash" || raw == "btree")) {
      plan->settings.push_back(std::move(s));
    } else if (!s.tokens.empty()) {
      plan->settings.push_back(std::move(s));
    }
  };
  for (const auto& [name, raw] : c.set) consider("", name, raw, false);
  for (const auto& [name, raw] : c.defaults) {
    if (c.set.count(name) == 0) consider("", name, raw, true);
  }
  for (const Config::Override& ov : c.overrides) consider(ov.service, ov.name, ov.raw, false);

  std::map<std::string, size_t> by_spec;
  std::set<std::string> indirect;  // tables whose type is a $parameter
  for (Setting& s : plan->settings) {
    for (const TableToken& tok : s.tokens) {
      const std::string path = Expand(c, tok.name);
      if (!tok.indirect.empty()) indirect.insert(tok.type + ":" + path);
      const std::string spec = tok.type + ":" + path;
      auto [it, fresh] = by_spec.emplace(spec, plan->tables.size());
      if (fresh) {
        Table t;
        t.type = tok.type;
        t.path = path;
        plan->tables.push_back(std::move(t));
      }
      Table& t = plan->tables[it->second];
      t.used_by.push_back(s.Where());
      t.cache |= IsCacheParameter(s.name);
      t.alias |= IsAliasParameter(s.name);
    }
  }

  const bool have_cdb = c.types.empty() || c.types.count("cdb") > 0;
  const bool have_lmdb = c.types.empty() || c.types.count("lmdb") > 0;
  for (Table& t : plan->tables) {
    struct stat table_st, source_st;
    t.table_exists = ::stat((t.path + ".db").c_str(), &table_st) == 0;
    t.source_exists = ::stat(t.path.c_str(), &source_st) == 0 && S_ISREG(source_st.st_mode);
    if (t.table_exists) {
      t.old = ReadTableRecords(t.Spec());
      if (!t.old.ok) t.problem = "cannot read " + t.path + ".db: " + t.old.error;
    }
    std::string age;
    if (t.table_exists && t.source_exists) {
      age = source_st.st_mtime > table_st.st_mtime   ? ", newer than the table"
            : source_st.st_mtime < table_st.st_mtime ? ", older than the table"
                                                     : "";
    }
    bool source_same = false;
    if (t.cache) {
      t.source_state = "a cache";
    } else if (!t.source_exists) {
      t.source_state = "source: missing";
    } else {
      Records src = ReadSourceRecords(t, c.smtputf8);
      if (!src.ok) {
        t.source_state = "source: unreadable (" + src.error + ")";
      } else if (!t.table_exists) {
        t.source_state = "source: present, no table";
      } else if (t.old.ok && Comparable(t, src) == Comparable(t, t.old)) {
        t.source_state = "source: the same records" + age;
        source_same = true;
      } else {
        t.source_state = "source: other records than the table" + age;
      }
    }
    if (t.cache && !(o.convert_caches && t.table_exists)) {
      t.how = Table::kRecreatedEmpty;
      t.target = "lmdb";
    } else if ((source_same || (!t.table_exists && t.source_exists)) && t.problem.empty()) {
      t.how = Table::kFromSource;
      t.target = o.all_lmdb || !have_cdb ? "lmdb" : "cdb";
    } else if (t.table_exists) {
      t.how = Table::kFromTable;
      t.target = "lmdb";
    } else {
      t.how = Table::kNothing;
      t.target = o.all_lmdb || !have_cdb || t.cache ? "lmdb" : "cdb";
    }
    // A table named as $default_database_type:NAME follows that
    // parameter, which becomes lmdb.
    if (indirect.count(t.Spec()) && t.how != Table::kRecreatedEmpty) t.target = "lmdb";
    if (t.target == "lmdb" && !have_lmdb) t.target = have_cdb && !t.cache ? "cdb" : "";
    if (t.target.empty()) {
      t.problem = "this Postfix has neither lmdb: nor cdb: (postconf -m): install postfix-lmdb";
    }
    if (t.how == Table::kFromSource) {
      t.command = {"cmap"};
      if (t.alias) t.command.push_back("--alias");
      t.command.insert(t.command.end(), {"-c", c.dir, t.target + ":" + t.path});
    } else if (t.how == Table::kFromTable) {
      t.command = {"cmap", "-c", c.dir, "--convert", t.Spec(), t.target};
    }
    if (!t.problem.empty()) plan->problems.push_back(t.problem);
  }

  // The edits: each table token gets its table's new type.
  for (Setting& s : plan->settings) {
    if (s.tokens.empty()) {
      // default_database_type or default_cache_db_type; a cache needs a
      // type Postfix can update.
      if (have_lmdb) {
        s.new_raw = "lmdb";
      } else if (s.name == "default_database_type" && have_cdb) {
        s.new_raw = "cdb";
      } else {
        s.new_raw = s.raw;
        plan->problems.push_back(s.name + " = " + s.raw +
                                 ": this Postfix has no lmdb: (postconf -m): install postfix-lmdb");
      }
      continue;
    }
    s.new_raw = s.raw;
    for (auto it = s.tokens.rbegin(); it != s.tokens.rend(); ++it) {
      if (!it->indirect.empty()) continue;  // follows its parameter
      const Table& t = plan->tables[by_spec[it->type + ":" + Expand(c, it->name)]];
      s.new_raw.replace(it->type_pos, it->type.size(), t.target);
    }
  }
  // A setting whose tables all follow $default_database_type needs no edit.
  std::erase_if(plan->settings, [](const Setting& s) { return s.new_raw == s.raw; });
  return true;
}

// The change as a command an administrator could run (cmap makes the
// master.cf change itself: postconf -P refuses a value with whitespace).
std::vector<std::string> EditCommand(const Config& c, const Setting& s) {
  if (s.service.empty()) return {"postconf", "-c", c.dir, "-e", s.name + " = " + s.new_raw};
  return {"postconf", "-c", c.dir, "-P", s.service + "/" + s.name + "=" + s.new_raw};
}

void PrintPlan(const MigrateOptions& o, const Plan& p, std::ostream& out) {
  const Config& c = p.config;
  out << "cmap --migrate: configuration " << c.dir;
  if (!c.postconf.empty()) {
    out << " (Postfix " << (c.version.empty() ? "?" : c.version) << ", read with postconf)\n";
  } else {
    out << " (read without postconf: Postfix is not installed; main.cf, master.cf and "
           "Postfix 3.7's defaults)\n";
  }
  // The default types, and Postfix 3.11's non-bdb settings where this
  // Postfix has them (postfix non-bdb redirects hash: and btree: to the
  // default types at run time; cmap changes the configuration instead).
  for (const char* name : {"default_database_type", "default_cache_db_type",
                           "non_bdb_custom_mapping", "non_bdb_migration_log_redirect",
                           "non_bdb_migration_allow_root_prefixes"}) {
    auto it = c.expanded.parameters.find(name);
    if (it != c.expanded.parameters.end()) out << "  " << name << " = " << it->second << "\n";
  }
  if (!c.postconf.empty() && c.expanded.parameters.count("default_cache_db_type") == 0) {
    out << "  (no default_cache_db_type: Postfix before 3.11, whose caches are btree: unless "
           "each cache parameter says otherwise)\n";
  }
  if (p.tables.empty() && p.settings.empty()) {
    out << "Nothing to do: no parameter names a hash: or btree: table.\n";
    return;
  }
  out << "\n" << Plural(p.tables.size(), "Berkeley DB table") << ":\n";
  for (const Table& t : p.tables) {
    out << "\n" << t.Spec() << "  (";
    for (size_t i = 0; i < t.used_by.size(); ++i) out << (i ? ", " : "") << t.used_by[i];
    out << ")\n  table: ";
    if (!t.table_exists) {
      out << "no " << t.path << ".db";
    } else if (t.old.ok) {
      out << Plural(t.old.map.size(), "record");
    } else {
      out << "unreadable";
    }
    out << "; " << t.source_state << "\n";
    if (!t.problem.empty()) {
      out << "  PROBLEM: " << t.problem << "\n";
      continue;
    }
    out << "  -> " << t.target << ":" << t.path;
    switch (t.how) {
      case Table::kFromSource:
        out << ", built from the source";
        break;
      case Table::kFromTable:
        out << ", converted from " << t.path << ".db"
            << (t.source_exists ? " (the records Postfix uses now; the source is not used)"
                                : " (its source is lost)");
        break;
      case Table::kRecreatedEmpty:
        out << ", recreated empty by Postfix"
            << (t.table_exists ? " (--convert-caches to keep its records)" : "");
        break;
      case Table::kNothing:
        out << ": only the reference changes (there is neither a table nor a source)";
        break;
    }
    out << "\n";
    if (!t.command.empty()) out << "     " << CommandText(t.command) << "\n";
  }
  out << "\nConfiguration changes:\n";
  for (const Setting& s : p.settings) {
    out << "  " << CommandText(EditCommand(c, s)) << (s.is_default ? "   (not set in main.cf: Postfix's default)" : "")
        << "\n";
  }
  if (!p.problems.empty()) {
    out << "\n" << Plural(p.problems.size(), "problem")
        << ": nothing can be applied until they are solved:\n";
    for (const std::string& problem : p.problems) out << "  " << problem << "\n";
  } else if (!o.apply) {
    out << "\nDry run: nothing was changed. Apply with: cmap --migrate -c " << c.dir
        << (o.all_lmdb ? " --lmdb" : "") << (o.convert_caches ? " --convert-caches" : "")
        << " --apply\n";
  }
}

// --- files ------------------------------------------------------------------

// Writes `data` to `path` through a temporary file in the same directory,
// synced and renamed over it, with `mode` and the owner of `like` (when
// given).
bool WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode,
                         const struct stat* like, std::string* error) {
  const std::string tmp = path + ".cmap-migrate-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
  if (fd < 0) {
    *error = "create " + tmp + ": " + ErrnoText(errno);
    return false;
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "write " + tmp + ": " + ErrnoText(n < 0 ? errno : EIO);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode & 07777) != 0 ||
      (like != nullptr && ::geteuid() == 0 && ::fchown(fd, like->st_uid, like->st_gid) != 0) ||
      ::fsync(fd) != 0) {
    *error = "write " + tmp + ": " + ErrnoText(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "rename " + tmp + " to " + path + ": " + ErrnoText(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool CopyFile(const std::string& from, const std::string& to, std::string* error) {
  struct stat st;
  std::string data;
  if (::stat(from.c_str(), &st) != 0) {
    *error = "stat " + from + ": " + ErrnoText(errno);
    return false;
  }
  return ReadFile(from, &data, error) && WriteFileAtomically(to, data, st.st_mode, &st, error);
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string NewBackupDir(const std::string& config_dir) {
  char stamp[32];
  const time_t now = ::time(nullptr);
  struct tm tm_now;
  ::localtime_r(&now, &tm_now);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm_now);
  std::string dir = config_dir + "/cmap-migrate-" + stamp;
  for (int n = 2; ::mkdir(dir.c_str(), 0700) != 0; ++n) {
    if (errno != EEXIST || n > 100) return "";
    dir = absl::StrCat(config_dir, "/cmap-migrate-", stamp, "-", n);
  }
  return dir;
}

struct Manifest {
  std::string config_dir;
  std::vector<std::string> saved;     // main.cf, master.cf: copies in the backup
  std::vector<std::string> created;   // tables the migration made
  std::vector<std::pair<std::string, std::string>> replaced;  // file, its copy
};

bool WriteManifest(const std::string& backup, const Manifest& m, std::string* error) {
  std::string text = std::string(kManifestHeader) + "\nconfig_dir " + m.config_dir + "\n";
  for (const std::string& s : m.saved) text += "saved " + s + "\n";
  for (const std::string& s : m.created) text += "created " + s + "\n";
  for (const auto& [file, copy] : m.replaced) text += "replaced " + copy + " " + file + "\n";
  return WriteFileAtomically(backup + "/manifest", text, 0600, nullptr, error);
}

bool ReadManifest(const std::string& backup, Manifest* m, std::string* error) {
  std::string text;
  if (!ReadFile(backup + "/manifest", &text, error)) return false;
  std::vector<std::string> lines = Lines(text);
  if (lines.empty() || lines[0] != kManifestHeader) {
    *error = backup + "/manifest: not a cmap --migrate backup";
    return false;
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    const size_t sp = l.find(' ');
    if (sp == std::string::npos) continue;
    const std::string word = l.substr(0, sp), rest = l.substr(sp + 1);
    if (word == "config_dir") m->config_dir = rest;
    if (word == "saved") m->saved.push_back(rest);
    if (word == "created") m->created.push_back(rest);
    if (word == "replaced") {
      const size_t sp2 = rest.find(' ');
      if (sp2 != std::string::npos) m->replaced.push_back({rest.substr(sp2 + 1), rest.substr(0, sp2)});
    }
  }
  if (m->config_dir.empty()) {
    *error = backup + "/manifest: no config_dir";
    return false;
  }
  return true;
}

// Undoes what a manifest lists; returns the problems met (none: "").
// New tables go first (on a full disk that makes room); a configuration
// file that still holds its saved bytes is left alone.
std::string Restore(const std::string& backup, const Manifest& m) {
  std::string problems, error;
  for (const std::string& file : m.created) {
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      absl::StrAppend(&problems, "remove ", file, ": ", ErrnoText(errno), "; ");
    }
    ::unlink((file + "-lock").c_str());  // an lmdb table's lock file, if any
  }
  for (const auto& [file, copy] : m.replaced) {
    if (!CopyFile(backup + "/" + copy, file, &error)) absl::StrAppend(&problems, error, "; ");
  }
  for (const std::string& name : m.saved) {
    std::string saved, now, ignored;
    const std::string target = m.config_dir + "/" + name;
    if (ReadFile(backup + "/" + name, &saved, &ignored) && ReadFile(target, &now, &ignored) &&
        saved == now) {
      continue;
    }
    if (!CopyFile(backup + "/" + name, target, &error)) absl::StrAppend(&problems, error, "; ");
  }
  return problems;
}

// The entries of a main.cf or master.cf text: [begin, end) byte ranges of
// each logical line (its first line and the continuation, blank and comment
// lines after it).
std::vector<std::pair<size_t, size_t>> Entries(const std::string& text) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const size_t next = nl == std::string::npos ? text.size() : nl + 1;
    const std::string_view line(text.data() + pos, next - pos);
    const size_t first = line.find_first_not_of(" \t\r\n");
    const bool blank = first == std::string_view::npos;
    if (!blank && line[0] != ' ' && line[0] != '\t' && line[0] != '#') {
      out.push_back({pos, next});
    } else if (!blank && line[first] != '#' && !out.empty()) {
      // A continuation line: the entry runs to here (comment and blank
      // lines in between belong to it, as Postfix reads it).
      out.back().second = next;
    }
    pos = next;
  }
  return out;
}

std::string_view FirstWords(std::string_view entry, int n) {
  size_t i = 0;
  for (int w = 0; w < n; ++w) {
    while (i < entry.size() && (entry[i] == ' ' || entry[i] == '\t')) ++i;
    while (i < entry.size() && entry[i] != ' ' && entry[i] != '\t' && entry[i] != '\n') ++i;
  }
  return entry.substr(0, i);
}

// main.cf without postconf: the last "name = ..." entry is replaced by
// "name = value" (its comments and every other line stay); a name not set
// is appended.
void EditMainCfText(std::string* text, const std::string& name, const std::string& value) {
  std::optional<std::pair<size_t, size_t>> last;
  for (const auto& [b, e] : Entries(*text)) {
    std::string_view entry(text->data() + b, e - b);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = entry.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (key == name) last = {b, e};
  }
  const std::string line = name + " = " + value + "\n";
  if (last) {
    text->replace(last->first, last->second - last->first, line);
  } else {
    if (!text->empty() && text->back() != '\n') text->push_back('\n');
    *text += line;
  }
}

// master.cf: in the entry of `service` ("name/type"), the -o setting's old
// value is replaced by the new one, as written ("-o name=value" or
// "-o { name = value }"); layout and comments stay. postconf -P cannot do
// this for a value with whitespace.
bool EditMasterCfText(std::string* text, const Setting& s, std::string* error) {
  const size_t slash = s.service.find('/');
  const std::string svc = s.service.substr(0, slash), type = s.service.substr(slash + 1);
  for (const auto& [b, e] : Entries(*text)) {
    std::string_view entry(text->data() + b, e - b);
    std::vector<std::string> words = absl::StrSplit(
        absl::string_view(FirstWords(entry, 2).data(), FirstWords(entry, 2).size()),
        absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.size() != 2 || words[0] != svc || words[1] != type) continue;
    for (const std::string& form : {s.name + "=" + s.raw, s.name + " = " + s.raw}) {
      const size_t at = entry.find(form);
      if (at == std::string_view::npos) continue;
      const std::string replacement =
          form.substr(0, form.size() - s.raw.size()) + s.new_raw;
      text->replace(b + at, form.size(), replacement);
      return true;
    }
  }
  *error = "master.cf: cannot find \"-o " + s.name + "=" + s.raw + "\" in service " + s.service;
  return false;
}

// Runs cmap itself (in this process) for one table; its messages go to
// `err`.
bool RunTableCommand(const std::vector<std::string>& command, std::ostream& err) {
  std::istringstream in;
  std::ostringstream out, messages;
  const int status = RunCmap(command, in, out, messages);
  err << messages.str();
  return status == 0;
}

int Apply(const MigrateOptions& o, Plan& p, std::ostream& out, std::ostream& err) {
  const Config& c = p.config;
  auto fail = [&](const std::string& message) {
    err << "cmap: fatal: migrate: " << message << "\n";
    return 1;
  };
  // Before anything: can every file be written?
  std::set<std::string> dirs = {c.dir};
  for (const Table& t : p.tables) {
    if (t.how == Table::kFromSource || t.how == Table::kFromTable) dirs.insert(Dirname(t.path));
  }
  for (const std::string& d : dirs) {
    if (::access(d.c_str(), W_OK) != 0) {
      return fail("no write permission in " + d + " (" + ErrnoText(errno) +
                  "): nothing was changed");
    }
  }
  std::vector<std::string> config_files = {"main.cf"};
  bool master_edits = false;
  for (const Setting& s : p.settings) master_edits |= !s.service.empty();
  struct stat st;
  if (::stat((c.dir + "/master.cf").c_str(), &st) == 0) config_files.push_back("master.cf");
  for (const std::string& f : config_files) {
    if (::access((c.dir + "/" + f).c_str(), R_OK | W_OK) != 0) {
      return fail("cannot write " + c.dir + "/" + f + " (" + ErrnoText(errno) +
                  "): nothing was changed");
    }
  }

  const std::string backup = NewBackupDir(c.dir);
  if (backup.empty()) {
    return fail("cannot create a backup directory in " + c.dir + ": " + ErrnoText(errno) +
                ": nothing was changed");
  }
  Manifest m;
  m.config_dir = c.dir;
  std::string error;
  auto undo = [&](const std::string& message) {
    const std::string left = Restore(backup, m);
    err << "cmap: fatal: migrate: " << message << "\n";
    if (left.empty()) {
      err << "cmap: migrate: every change was undone; the configuration and the old tables "
             "are as they were\n";
      // The backup is of no further use.
      for (const std::string& f : m.saved) ::unlink((backup + "/" + f).c_str());
      for (const auto& [file, copy] : m.replaced) ::unlink((backup + "/" + copy).c_str());
      ::unlink((backup + "/manifest").c_str());
      ::rmdir(backup.c_str());
    } else {
      err << "cmap: migrate: could not undo everything (" << left
          << "); the backup is in " << backup << "\n";
    }
    return 1;
  };
  for (const std::string& f : config_files) {
    if (!CopyFile(c.dir + "/" + f, backup + "/" + f, &error)) return undo(error);
    m.saved.push_back(f);
  }
  if (!WriteManifest(backup, m, &error)) return undo(error);

  // Every new table, built and checked before the configuration changes.
  int replaced = 0;
  for (const Table& t : p.tables) {
    if (t.how != Table::kFromSource && t.how != Table::kFromTable) continue;
    const std::string file = t.TargetFile();
    if (::lstat(file.c_str(), &st) == 0) {
      const std::string copy = absl::StrCat("replaced-", ++replaced);
      if (!CopyFile(file, backup + "/" + copy, &error)) return undo(error);
      m.replaced.push_back({file, copy});
    } else {
      m.created.push_back(file);
    }
    if (!WriteManifest(backup, m, &error)) return undo(error);
    if (o.verbose) err << "cmap: migrate: " << CommandText(t.command) << "\n";
    if (!RunTableCommand(t.command, err)) {
      return undo("building " + t.target + ":" + t.path + " failed");
    }
    Records fresh = ReadTableRecords(t.target + ":" + t.path);
    if (!fresh.ok) return undo("the new table " + file + " cannot be read: " + fresh.error);
    if (t.table_exists && Comparable(t, fresh) != Comparable(t, t.old)) {
      return undo("the new table " + file + " does not hold the records of " + t.path + ".db");
    }
    out << "built " << t.target << ":" << t.path << " ("
        << Plural(Comparable(t, fresh).size(), "record")
        << (t.how == Table::kFromSource ? ", from the source" : ", from the .db")
        << (t.table_exists ? ", the same as the old table" : "") << ")\n";
  }

  // main.cf through postconf -e (all settings in one rewrite) where there
  // is a postconf; master.cf, and main.cf without postconf, edited in
  // place keeping every other line.
  std::vector<std::string> main_edits;
  for (const Setting& s : p.settings) {
    if (s.service.empty()) main_edits.push_back(s.name + " = " + s.new_raw);
  }
  if (!main_edits.empty() && !c.postconf.empty()) {
    std::vector<std::string> command = {c.postconf, "-c", c.dir, "-e"};
    command.insert(command.end(), main_edits.begin(), main_edits.end());
    std::string edit_out, edit_err;
    if (RunProgram(command, &edit_out, &edit_err) != 0) {
      return undo("postconf -e failed: " + edit_err);
    }
  } else if (!main_edits.empty()) {
    std::string text;
    if (!ReadFile(c.dir + "/main.cf", &text, &error)) return undo(error);
    for (const Setting& s : p.settings) {
      if (s.service.empty()) EditMainCfText(&text, s.name, s.new_raw);
    }
    if (::stat((c.dir + "/main.cf").c_str(), &st) != 0 ||
        !WriteFileAtomically(c.dir + "/main.cf", text, st.st_mode, &st, &error)) {
      return undo(error.empty() ? "stat main.cf: " + ErrnoText(errno) : error);
    }
  }
  if (master_edits) {
    std::string text;
    if (!ReadFile(c.dir + "/master.cf", &text, &error)) return undo(error);
    for (const Setting& s : p.settings) {
      if (!s.service.empty() && !EditMasterCfText(&text, s, &error)) return undo(error);
    }
    if (::stat((c.dir + "/master.cf").c_str(), &st) != 0 ||
        !WriteFileAtomically(c.dir + "/master.cf", text, st.st_mode, &st, &error)) {
      return undo(error.empty() ? "stat master.cf: " + ErrnoText(errno) : error);
    }
  }
  // Check the result as Postfix reads it.
  Plan after;
  std::string reread_error;
  if (!MakePlan(o, &after, &reread_error)) return undo("re-reading the configuration: " + reread_error);
  for (const Setting& s : after.settings) {
    for (const Setting& before : p.settings) {
      if (s.service == before.service && s.name == before.name) {
        return undo("after the edit, " + s.Where() + " still names a Berkeley DB table");
      }
    }
  }
  out << "main.cf" << (master_edits ? " and master.cf" : "") << " changed ("
      << Plural(p.settings.size(), "setting") << "); the old tables are left in place.\n"
      << "Backup: " << backup << "\n"
      << "To undo everything: cmap --migrate --rollback " << backup << "\n"
      << "Then: postfix reload\n";
  return 0;
}

// One --apply or --rollback at a time per configuration directory: two at
// once would each back up, build and edit, and a rollback could undo the
// other's work. flock(2) on the directory itself: no file to leave behind,
// released when the process ends, kept when other descriptors close.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      error_ = "open " + dir + ": " + ErrnoText(errno);
    } else if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      error_ = errno == EWOULDBLOCK
                   ? "another cmap --migrate is changing " + dir + "; try again when it is done"
                   : "lock " + dir + ": " + ErrnoText(errno);
    }
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

int Rollback(const MigrateOptions& o, std::ostream& out, std::ostream& err) {
  Manifest m;
  std::string error;
  if (!ReadManifest(o.rollback, &m, &error)) {
    err << "cmap: fatal: migrate: " << error << "\n";
    return 1;
  }
  DirLock lock(m.config_dir);
  if (!lock.error().empty()) {
    err << "cmap: fatal: migrate: " << lock.error() << "\n";
    return 1;
  }
  const std::string problems = Restore(o.rollback, m);
  if (!problems.empty()) {
    err << "cmap: fatal: migrate: rollback incomplete: " << problems << "\n";
    return 1;
  }
  out << "restored";
  for (const std::string& f : m.saved) out << " " << m.config_dir << "/" << f;
  out << "; removed " << Plural(m.created.size(), "new table file");
  if (!m.replaced.empty()) out << "; put back " << Plural(m.replaced.size(), "replaced file");
  out << ".\nThen: postfix reload\n";
  return 0;
}

}  // namespace

std::vector<TableToken> FindBerkeleyTables(std::string_view value) {
  std::vector<TableToken> out;
  ScanList(value, 0, &out);
  return out;
}

int RunMigrate(const MigrateOptions& given, std::ostream& out, std::ostream& err) {
  if (!given.rollback.empty()) return Rollback(given, out, err);
  // An absolute directory: the plan's commands and the backup's manifest
  // must not depend on where they are run.
  MigrateOptions o = given;
  // Tables are read whole into memory rather than mapped: a mapped read can
  // fail where read(2) does not (a hole of a sparse .db on a full tmpfs
  // needs a new page), and a migration reads each table once or twice.
  libmaps::SetFileAccess(libmaps::FileAccess::kReadIntoMemory);
  if (char* real = ::realpath(o.config_dir.c_str(), nullptr); real != nullptr) {
    o.config_dir = real;
    std::free(real);
  }
  std::optional<DirLock> lock;
  if (o.apply) {
    lock.emplace(o.config_dir);
    if (!lock->error().empty()) {
      err << "cmap: fatal: migrate: " << lock->error() << "\n";
      return 1;
    }
  }
  Plan plan;
  std::string error;
  if (!MakePlan(o, &plan, &error)) {
    err << "cmap: fatal: migrate: " << error << "\n";
    return 1;
  }
  PrintPlan(o, plan, out);
  if (!plan.problems.empty()) return 1;
  if (!o.apply || (plan.tables.empty() && plan.settings.empty())) return 0;
  out << "\n";
  return Apply(o, plan, out, err);
}

}  // namespace cmap
