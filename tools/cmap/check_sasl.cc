#include "check_sasl.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "libmaps/credential.h"
#include "libmaps/map.h"
#include "libmaps/postfix_config.h"
#include "libmaps/text.h"
#include "log.h"
#include "postconf.h"
#include "sasl_mechanisms.h"
#include "source_lint.h"

namespace cmap {
namespace {

// Debian's absl::string_view is not std::string_view.
absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

// A Postfix list of tables: separated by commas and whitespace, except
// inside { } (inline:{ a=b, c=d }, unionmap:{ ... }).
std::vector<std::string> SplitTableList(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool IsYes(std::string_view v) {
  return absl::EqualsIgnoreCase(ToAbsl(v), "yes") || absl::EqualsIgnoreCase(ToAbsl(v), "true");
}

std::string_view UpToNul(std::string_view s) { return s.substr(0, s.find('\0')); }

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Parameters whose value decides whether the SMTP client authenticates,
// and with what.
bool RelayParameter(std::string_view name) {
  return absl::StartsWith(ToAbsl(name), "smtp_sasl_") ||
         absl::StartsWith(ToAbsl(name), "smtp_tls_") || name == "relayhost" ||
         name == "transport_maps" || name == "sender_dependent_relayhost_maps" ||
         name == "smtp_sender_dependent_authentication" || name == "default_transport" ||
         name == "relay_transport";
}

// The TLS levels at which no mail goes out without TLS, and those that
// also verify the server (smtp_sasl_tls_verified_security_options).
bool TlsMandatory(std::string_view level) {
  return level == "encrypt" || level == "dane-only" || level == "fingerprint" ||
         level == "verify" || level == "secure";
}
bool TlsVerified(std::string_view level) {
  return level == "dane-only" || level == "fingerprint" || level == "verify" ||
         level == "secure";
}

// A username is shown up to its first whitespace: "userid s3cretPW" (a
// space typed where the ':' belongs) holds the password after it.
std::string ShownUsername(std::string_view username, bool* redacted) {
  const size_t ws = username.find_first_of(" \t");
  *redacted = ws != std::string_view::npos;
  return *redacted ? std::string(username.substr(0, ws)) + " ..." : std::string(username);
}

// MX hosts of `domain`, lowest preference first. Returns false with
// *error set when the lookup failed; an empty list: no MX record (Postfix
// then connects to the domain's own address).
bool LookupMx(const std::string& domain, std::vector<std::string>* hosts, std::string* error) {
  struct __res_state state {};
  if (::res_ninit(&state) != 0) {
    *error = "cannot initialise the resolver";
    return false;
  }
  state.retrans = 2;
  state.retry = 2;
  std::vector<unsigned char> answer(65536);
  const int n = ::res_nquery(&state, domain.c_str(), ns_c_in, ns_t_mx, answer.data(),
                             static_cast<int>(answer.size()));
  const int h_errno_value = state.res_h_errno;
  ::res_nclose(&state);
  if (n < 0) {
    if (h_errno_value == HOST_NOT_FOUND) {
      *error = "the domain does not exist (NXDOMAIN)";
      return false;
    }
    if (h_errno_value == NO_DATA) return true;
    *error = h_errno_value == TRY_AGAIN ? "no answer from the DNS (try again later)"
                                        : "the DNS lookup failed";
    return false;
  }
  ns_msg msg;
  if (::ns_initparse(answer.data(), n, &msg) != 0) {
    *error = "a malformed DNS answer";
    return false;
  }
  std::vector<std::pair<unsigned, std::string>> found;
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_mx ||
        ns_rr_rdlen(rr) < 3) {
      continue;
    }
    char name[NS_MAXDNAME];
    if (::dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, name,
                    sizeof name) < 0) {
      continue;
    }
    found.emplace_back(ns_get16(ns_rr_rdata(rr)), absl::AsciiStrToLower(name));
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& f : found) hosts->push_back(std::move(f.second));
  return true;
}

// One table of a table list (smtp_sasl_password_maps and the others).
struct Table {
  std::string spec;        // as listed in main.cf
  std::string type, name;  // after any proxy: prefix (and non-bdb redirection)
  bool proxied = false;    // read through proxymap (as the postfix user)
  std::unique_ptr<libmaps::Map> map;
  // Every entry's key (as stored, folded) and whether its key is a host
  // form, with that host, for the hints of a next hop that finds nothing.
  struct Entry {
    std::string key;
    std::string host;  // empty unless a host form
  };
  std::vector<Entry> entries;
};

struct NextHop {
  std::string nexthop;
  std::string source;  // "relayhost", "transport_maps entry example.com", ...
};

class Checker {
 public:
  Checker(const CommandLine& cl, std::ostream& out, std::ostream& err)
      : cl_(cl), out_(out), err_(err) {}

  int Run() {
    for (const auto& [c, value] : cl_.options) {
      if (c == 'c') config_dir_ = value;
      if (c == 'f') sender_ = value;
      if (c == 'v') ++verbose_;
    }
    if (!config_dir_.empty()) ::setenv("MAIL_CONFIG", config_dir_.c_str(), 1);
    const std::string dir = libmaps::DefaultConfigDir();
    absl::StatusOr<libmaps::PostfixConfig> config = libmaps::LoadPostfixConfig(dir);
    if (!config.ok()) return Fatal(std::string(config.status().message()));
    config_ = *std::move(config);
    // Postfix's built-in value, which main.cf files use in table names
    // ("hash:$config_directory/sasl_passwd").
    config_.parameters.try_emplace("config_directory", dir);
    if (std::string refused = LogTrail::Get().Configure(config_); !refused.empty()) {
      return Fatal(refused);
    }
    out_ << "main.cf: " << Printable(dir) << "/main.cf\n";
    if (!ReadPostfix(dir)) return 1;

    CheckMainCf();
    CheckMechanisms();
    for (const std::string& spec : SplitTableList(Param("smtp_sasl_password_maps"))) {
      OpenTable(spec, /*password_table=*/true, &tables_);
    }
    CheckNextHops();

    if (problems_ == 0) {
      out_ << "result: ok\n";
      return 0;
    }
    out_ << "result: " << problems_ << (problems_ == 1 ? " warning" : " warnings") << '\n';
    return 1;
  }

 private:
  int Fatal(const std::string& message) {
    const std::string text = Printable(message);
    err_ << "cmap: fatal: " << text << '\n';
    LogTrail::Get().Write(LogLevel::kFatal, text);
    return 1;
  }

  std::string Printable(std::string_view s) const { return libmaps::Printable(s, true); }

  // Problems go into the report, where they belong, rather than to stderr:
  // the report is one text, in order, whatever buffers the streams have.
  void Problem(std::string_view message) {
    out_ << "  warning: " << Printable(message) << '\n';
    ++problems_;
  }
  void Note(std::string_view message) { out_ << "  note: " << Printable(message) << '\n'; }

  // A parameter as Postfix sees it: from postconf -x (defaults and
  // compatibility levels applied, everything expanded) when Postfix is
  // installed, else main.cf through the library's parser with `fallback`
  // standing for Postfix's default.
  std::string Param(std::string_view name, std::string_view fallback = {}) const {
    if (postconf_) {
      auto it = postconf_->parameters.find(name);
      if (it != postconf_->parameters.end()) return it->second;
    }
    return libmaps::GetParameter(config_, name, fallback);
  }

  // Asks postconf; prints what Postfix says about main.cf.
  bool ReadPostfix(const std::string& dir) {
    std::string error;
    postconf_ = ReadPostconf(dir, &error);
    if (!postconf_) {
      out_ << "postconf: not found\n";
      Note("Postfix's postconf is not installed: main.cf is read by cmap's own parser, "
           "without Postfix's defaults, and the table types this Postfix opens are not known");
      return true;
    }
    if (!error.empty()) return Fatal(postconf_->program + ": " + error) == 0;
    if (verbose_ > 0) out_ << "postconf: " << Printable(postconf_->program) << '\n';
    out_ << "postfix: " << Printable(Param("mail_version", "unknown")) << '\n';
    for (const std::string& w : postconf_->warnings) ReportPostconfWarning(w);
    // main.cf entries without an effect on Postfix: the library's parser
    // sees every name, postconf only those it knows.
    const std::string level = Param("non_bdb_migration_level");
    non_bdb_redirect_ = level == "enable-redirect" || level == "enable-reindex";
    if (!level.empty() && postconf_->parameters.count("non_bdb_migration_level") == 0) {
      Note("main.cf sets non_bdb_migration_level, which this Postfix (" +
           Param("mail_version", "unknown") +
           ") does not know: it came with Postfix 3.11 and is ignored here");
      non_bdb_redirect_ = false;
    }
    return true;
  }

  void ReportPostconfWarning(const std::string& warning) {
    const std::string_view w = warning;
    size_t at = w.find("unused parameter: ");
    if (at != std::string_view::npos) {
      std::string_view setting = w.substr(at + 18);
      const std::string name(setting.substr(0, setting.find('=')));
      const std::string where(w.substr(0, w.find(':')));
      // The closest name Postfix knows.
      std::string best;
      size_t best_distance = 4;
      for (const auto& [known, value] : postconf_->parameters) {
        const size_t d = EditDistance(name, known);
        if (d < best_distance) {
          best_distance = d;
          best = known;
        }
      }
      const std::string text = where + " sets " + name +
                               ", which Postfix does not know (postconf: unused parameter)" +
                               (best.empty() ? std::string() : ": did you mean " + best + "?");
      if (RelayParameter(name) || RelayParameter(best) ||
          absl::StrContains(ToAbsl(name), "sasl")) {
        Problem(text);
      } else {
        Note(text);
      }
      return;
    }
    at = w.find("overriding earlier entry: ");
    if (at != std::string_view::npos) {
      std::string_view setting = w.substr(at + 26);
      const std::string name(setting.substr(0, setting.find('=')));
      const std::string where(w.substr(0, at > 2 ? at - 2 : 0));
      const std::string text = where + " sets " + name + " again: Postfix uses only this " +
                               "last line (the earlier " + std::string(setting) +
                               " has no effect); keep one line for each parameter";
      if (RelayParameter(name)) {
        Problem(text);
      } else {
        Note(text);
      }
      return;
    }
    if (absl::StrContains(ToAbsl(w), "master.cf: No such file")) return;
    Note("postconf: " + warning);
  }

  void CheckMainCf() {
    const std::string enable = Param("smtp_sasl_auth_enable", "no");
    out_ << "smtp_sasl_auth_enable = " << Printable(enable) << '\n';
    if (!IsYes(enable)) {
      Problem("smtp_sasl_auth_enable = " + enable +
              ": the SMTP client does not authenticate at all; set it to yes");
    }
    maps_ = Param("smtp_sasl_password_maps");
    out_ << "smtp_sasl_password_maps = " << Printable(maps_) << '\n';
    if (SplitTableList(maps_).empty()) {
      Problem("smtp_sasl_password_maps is empty: the SMTP client has no credentials");
    }
    sender_dependent_ = IsYes(Param("smtp_sender_dependent_authentication", "no"));
  }

  // The mechanisms the client can still offer, among the plugins installed.
  void CheckMechanisms() {
    const std::string sasl_type = Param("smtp_sasl_type", "cyrus");
    if (postconf_ && !postconf_->client_sasl_types.empty() &&
        postconf_->client_sasl_types.count(sasl_type) == 0) {
      std::string types;
      for (const std::string& t : postconf_->client_sasl_types) {
        types += (types.empty() ? "" : ", ") + t;
      }
      Problem("smtp_sasl_type = " + sasl_type + ": this Postfix's SMTP client supports " +
              (types.empty() ? std::string("no SASL") : types) + " (postconf -A)");
      return;
    }
    if (sasl_type != "cyrus") return;
    const InstalledMechanisms installed = FindCyrusMechanisms();
    std::string dirs;
    for (const std::string& d : installed.dirs) dirs += (dirs.empty() ? "" : ":") + d;
    out_ << "sasl client plugins: " << JoinNames(installed.mechanisms) << " (in " << dirs
         << ")\n";
    const MechanismChoice any = ChooseMechanisms(installed.mechanisms, "", "");
    if (any.usable.empty()) {
      Problem("no Cyrus SASL client plugin for a password mechanism is installed (looked in " +
              dirs + "): without one the SMTP client cannot authenticate (\"no mechanism "
              "available\"); install the plugins (Debian: libsasl2-modules; RHEL: "
              "cyrus-sasl-plain for PLAIN and LOGIN)");
      return;
    }
    const std::string level = Param("smtp_tls_security_level");
    const std::string filter = Param("smtp_sasl_mechanism_filter");
    out_ << "smtp_tls_security_level = " << Printable(level) << '\n';
    if (!filter.empty()) out_ << "smtp_sasl_mechanism_filter = " << Printable(filter) << '\n';
    const bool mandatory = TlsMandatory(level);
    const bool possible = mandatory || level == "may" || level == "dane";
    auto check = [&](const char* when, const std::string& param, const std::string& value,
                     bool must_work) -> std::vector<std::string> {
      const MechanismChoice c = ChooseMechanisms(installed.mechanisms, value, filter);
      out_ << "  mechanisms " << when << ": " << JoinNames(c.usable) << " (" << param << " = "
           << Printable(value) << ")\n";
      for (const std::string& word : c.unknown_options) {
        Problem(param + ": \"" + word + "\" is not a SASL security option (noplaintext, "
                "noactive, nodictionary, noanonymous, mutual_auth); Postfix refuses it");
      }
      if (!c.filter_note.empty()) Note(c.filter_note);
      if (c.usable.empty()) {
        std::string why = param + " = " + value;
        if (!filter.empty()) why += " and smtp_sasl_mechanism_filter = " + filter;
        const std::string text =
            "no mechanism is left " + std::string(when) + ": " + why + " leave none of " +
            JoinNames(any.usable) + ", so the client cannot authenticate (\"no mechanism " +
            "available\")" +
            (value.find("noplaintext") != std::string::npos
                 ? "; PLAIN and LOGIN need " + param + " without noplaintext, e.g. " + param +
                       " = noanonymous"
                 : "");
        if (must_work) {
          Problem(text);
        } else {
          Note(text);
        }
      }
      return c.usable;
    };
    if (possible) {
      const std::string param = TlsVerified(level) ? "smtp_sasl_tls_verified_security_options"
                                                   : "smtp_sasl_tls_security_options";
      check("with TLS", param,
            Param(param, TlsVerified(level) ? "$smtp_sasl_tls_security_options"
                                            : "$smtp_sasl_security_options"),
            true);
    }
    if (!mandatory) {
      const std::vector<std::string> usable =
          check("without TLS", "smtp_sasl_security_options",
                Param("smtp_sasl_security_options", "noplaintext, noanonymous"), !possible);
      std::vector<std::string> plaintext;
      for (const std::string& m : usable) {
        if (IsPlaintextMechanism(m)) plaintext.push_back(m);
      }
      if (!plaintext.empty()) {
        Problem("smtp_tls_security_level = " + (level.empty() ? "(empty)" : level) + ": " +
                JoinNames(plaintext) + " would send the password unencrypted to a server " +
                "that does not offer STARTTLS (or when an attacker removes it); set " +
                "smtp_tls_security_level = encrypt for the relay");
      }
    }
  }

  // The tables of a Postfix table list; `password_table`: a table of
  // smtp_sasl_password_maps (files, modes and entries are checked).
  void OpenTable(const std::string& spec, bool password_table, std::vector<Table>* tables) {
    Table t;
    t.spec = spec;
    std::string_view rest = spec;
    while (rest.substr(0, 6) == "proxy:") {
      rest.remove_prefix(6);
      t.proxied = true;
    }
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      Problem("table " + spec + ": no type (Postfix needs type:name, e.g. hash:" + spec + ")");
      return;
    }
    t.type = std::string(rest.substr(0, colon));
    t.name = std::string(rest.substr(colon + 1));
    out_ << "table " << Printable(spec) << (t.proxied ? " (through proxymap)" : "") << '\n';
    if (!CheckTypeSupported(&t)) return;
    const libmaps::TableTypeInfo* info = libmaps::FindTableType(t.type);
    if (info == nullptr || !info->can_read || !info->can_list) {
      Problem("cmap cannot read " + t.type + ": tables (it checks " + CheckableTypes() +
              "), so whether this table holds a usable credential is not checked");
      unchecked_.push_back(spec);
      return;
    }
    // "hash:/etc/postfix/smtp_pass.db": Postfix adds the suffix itself.
    bool suffixed = false;
    if (!info->suffix.empty() && absl::EndsWith(t.name, ToAbsl(info->suffix))) {
      const std::string intended = t.name.substr(0, t.name.size() - info->suffix.size());
      struct stat st;
      if (::stat((t.name + std::string(info->suffix)).c_str(), &st) != 0) {
        suffixed = true;
        Problem("table " + spec + " is named with its file's " + std::string(info->suffix) +
                " suffix: Postfix adds " + std::string(info->suffix) + " itself and opens " +
                t.name + std::string(info->suffix) + "; write " + t.type + ":" + intended +
                " in main.cf");
      }
    }
    if (password_table && !suffixed) CheckFiles(t);
    libmaps::OpenOptions options;
    options.utf8 = config_.smtputf8_enable;
    options.utf8_messages = config_.smtputf8_enable;
    const std::string label = t.type + ":" + t.name;
    options.diagnostics = [this, label](libmaps::Severity severity, std::string_view m) {
      // CheckFiles reports a stale table itself (without Postfix's
      // 100-second grace).
      if (severity != libmaps::Severity::kWarning ||
          m.find(" is older than source file ") != std::string_view::npos) {
        return;
      }
      Problem(std::string(m));
    };
    absl::StatusOr<std::unique_ptr<libmaps::Map>> map = libmaps::OpenMap(label, options);
    if (!map.ok()) {
      Problem("table " + label + ": " + std::string(map.status().message()));
      return;
    }
    t.map = *std::move(map);
    if (password_table) CheckEntries(t);
    tables->push_back(std::move(t));
  }

  // Whether this Postfix opens the table's type (postconf -m), after
  // Postfix 3.11's non-bdb redirection of hash: and btree:.
  bool CheckTypeSupported(Table* t) {
    if (!postconf_ || postconf_->table_types.empty()) return true;
    if (non_bdb_redirect_ && (t->type == "hash" || t->type == "btree")) {
      const std::string to = Param("default_database_type", "cdb");
      Note("non_bdb_migration_level = " + Param("non_bdb_migration_level") + ": Postfix opens " +
           t->type + ":" + t->name + " as " + to + ":" + t->name +
           " (default_database_type); checking that table" +
           (Param("non_bdb_custom_mapping").empty()
                ? std::string()
                : "; non_bdb_custom_mapping is set and not evaluated by this check"));
      t->type = to;
    }
    if (t->proxied && postconf_->table_types.count("proxy") == 0) {
      Problem("this Postfix cannot open proxy: tables (not in postconf -m)");
      return false;
    }
    if (postconf_->table_types.count(t->type) != 0) return true;
    std::string advice;
    if (t->type == "hash" || t->type == "btree") {
      advice = "this Postfix was built without Berkeley DB; convert the table (cmap --convert " +
               t->type + ":" + t->name + " lmdb, or cdb) and name the new type in main.cf";
    } else if (t->type == "lmdb" || t->type == "cdb" || t->type == "pcre" ||
               t->type == "ldap" || t->type == "mysql" || t->type == "pgsql" ||
               t->type == "sqlite") {
      advice = "install the postfix-" + t->type + " package (Debian) or name a type it has";
    } else {
      advice = "name a type it has";
    }
    Problem("this Postfix cannot open " + t->type + ": tables (" + t->type +
            " is not in postconf -m), so the SMTP client fails on " + t->spec + ": " + advice);
    return false;
  }

  // "hash:, lmdb: and texthash:": the types whose tables can be checked.
  static std::string CheckableTypes() {
    std::vector<std::string> names;
    for (const libmaps::TableTypeInfo& info : libmaps::TableTypes()) {
      if (info.can_read && info.can_list && info.has_file) {
        names.push_back(std::string(info.type) + ":");
      }
    }
    return JoinNames(names);
  }

  // The files behind a table: present, compiled after their source, and
  // not readable by other users (the passwords are in both); the source
  // read for the mistakes postmap compiles silently.
  void CheckFiles(const Table& t) {
    const libmaps::TableTypeInfo* info = libmaps::FindTableType(t.type);
    const std::string compiled =
        info != nullptr && !info->suffix.empty() ? t.name + std::string(info->suffix)
                                                 : std::string();
    struct stat src, db;
    const bool have_src = ::stat(t.name.c_str(), &src) == 0;
    const bool have_db = !compiled.empty() && ::stat(compiled.c_str(), &db) == 0;
    auto mode = [&](const std::string& path, const struct stat& st) {
      out_ << "  file " << Printable(path) << ": mode " << Octal(st.st_mode) << ", owner uid "
           << st.st_uid << '\n';
      if ((st.st_mode & 0004) != 0) {
        Problem(path + ": mode " + Octal(st.st_mode) +
                " lets every user read the passwords; chmod 600 " + path);
      } else if ((st.st_mode & 0040) != 0 && !t.proxied) {
        // The SMTP client opens its tables as root; proxymap reads them as
        // the postfix user, which a group may be there for.
        Problem(path + ": mode " + Octal(st.st_mode) + " lets the file's group read the "
                "passwords, which the SMTP client does not need (it opens the table as "
                "root); chmod 600 " + path);
      }
    };
    if (have_src) mode(t.name, src);
    if (have_db) mode(compiled, db);
    if (have_src) LintSource(t.name);
    if (!compiled.empty() && !have_db) {
      // OpenMap reports the missing file; say what to do about it.
      if (have_src) {
        Note("the source " + t.name + " exists but was never compiled: run cmap " + t.type +
             ":" + t.name);
      }
      return;
    }
    if (compiled.empty() || !have_src) {
      if (!compiled.empty()) {
        Note("the source " + t.name + " is missing: to change this table, first get it back "
             "with cmap -s " + t.type + ":" + t.name + " > " + t.name + ", then chmod 600 it");
      }
      return;
    }
    if (src.st_mtim.tv_sec > db.st_mtim.tv_sec ||
        (src.st_mtim.tv_sec == db.st_mtim.tv_sec && src.st_mtim.tv_nsec > db.st_mtim.tv_nsec)) {
      Problem(compiled + " is older than its source " + t.name +
              ": the last changes are not in effect; run cmap " + t.type + ":" + t.name);
    }
  }

  void LintSource(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Note("cannot read the source " + path + " to check its lines");
      return;
    }
    std::ostringstream text;
    text << in.rdbuf();
    for (const SourceFinding& f : LintCredentialSource(text.str(), path,
                                                       config_.smtputf8_enable)) {
      if (f.problem) {
        Problem(f.message);
      } else {
        Note(f.message);
      }
    }
    // The copy of the source (passwords included) is dropped here; it was
    // never printed.
  }

  // Every entry: a key Postfix can match and a "username:password" value.
  // Messages name the key only.
  void CheckEntries(Table& t) {
    const std::string label = t.type + ":" + t.name;
    size_t count = 0;
    absl::Status s = t.map->ForEach([&](std::string_view raw_key, std::string_view raw_value) {
      ++count;
      const std::string_view key = UpToNul(raw_key);
      const std::string_view value = UpToNul(raw_value);
      Table::Entry entry{std::string(key), {}};
      const std::string shown = ShownKey(key, config_.smtputf8_enable);
      // Postfix folds every key it looks up in these tables; a stored key
      // that folding would change (a table built with -f) never matches.
      std::optional<std::string> folded = libmaps::FoldKey(key, config_.smtputf8_enable);
      if (folded && *folded != key) {
        Problem("table " + label + ": key " + shown +
                " has capitals, so the table was built with -f; Postfix looks keys up "
                "in lower case and never finds it: rebuild without -f");
      }
      absl::StatusOr<libmaps::CredentialKey> parsed = libmaps::ParseCredentialKey(key);
      if (!parsed.ok()) {
        Problem("table " + label + ": " + std::string(parsed.status().message()));
      } else if (parsed->kind == libmaps::CredentialKeyKind::kBracketedHost ||
                 parsed->kind == libmaps::CredentialKeyKind::kHost) {
        entry.host = parsed->host;
      } else if (!sender_dependent_) {
        Note("key " + shown + " is a sender key, used only with "
             "smtp_sender_dependent_authentication = yes");
      }
      CheckValue(label, shown, value);
      t.entries.push_back(std::move(entry));
      return true;
    });
    if (!s.ok()) {
      Problem("table " + label + ": " + std::string(s.message()));
      return;
    }
    out_ << "  " << count << (count == 1 ? " entry" : " entries") << '\n';
    if (count == 0) {
      Problem("table " + label + " has no entries: the SMTP client finds no credential in it");
    }
  }

  // `key`: as shown (ShownKey).
  void CheckValue(const std::string& label, const std::string& key, std::string_view value) {
    absl::StatusOr<libmaps::Credential> c = libmaps::ParseCredentialValue(value);
    if (!c.ok()) {
      Problem("table " + label + ": key " + key + ": " +
              std::string(c.status().message()));
      return;
    }
    if (value.find(':') == std::string_view::npos) {
      Problem("table " + label + ": key " + key +
              ": the value has no ':', so Postfix sends all of it as the username and an "
              "empty password (write username:password)");
    } else if (c->password.empty()) {
      Problem("table " + label + ": key " + key + ": the password is empty");
    }
    if (c->username.empty()) {
      Problem("table " + label + ": key " + key + ": the username is empty");
    }
    bool redacted = false;
    (void)ShownUsername(c->username, &redacted);
    if (redacted && value.find(':') != std::string_view::npos) {
      Problem("table " + label + ": key " + key +
              ": the username contains whitespace, which servers reject");
    }
  }

  // Next hops: those given, else every one this configuration routes mail
  // through with the SMTP client.
  void CheckNextHops() {
    std::vector<NextHop> hops;
    for (const std::string& h : cl_.operands) hops.push_back({h, "given"});
    if (hops.empty()) CollectNextHops(&hops);
    if (hops.empty()) {
      Problem("no next hop: relayhost is empty and no transport_maps, default_transport, "
              "relay_transport or sender_dependent_relayhost_maps entry names one, so the "
              "SMTP client delivers to each domain's MX hosts; name the next hops to check: "
              "cmap --check-sasl NEXTHOP...");
      return;
    }
    for (const NextHop& hop : hops) CheckNextHop(hop);
  }

  void AddHop(std::vector<NextHop>* hops, std::string nexthop, std::string source) {
    for (const NextHop& h : *hops) {
      if (h.nexthop == nexthop) return;
    }
    hops->push_back({std::move(nexthop), std::move(source)});
  }

  // The SMTP client transports: master.cf services that run smtp(8).
  bool IsSmtpTransport(std::string_view transport) const {
    if (transport.empty()) return IsSmtpTransport(TransportName(Param("default_transport", "smtp")));
    if (postconf_ && !postconf_->services.empty()) {
      for (const MasterService& s : postconf_->services) {
        if (s.name == transport && s.type == "unix") return s.command == "smtp";
      }
      return false;
    }
    return transport == "smtp" || transport == "relay";
  }
  static std::string TransportName(std::string_view value) {
    return std::string(value.substr(0, value.find(':')));
  }
  static std::string NexthopOf(std::string_view value) {
    const size_t colon = value.find(':');
    return colon == std::string_view::npos ? std::string() : std::string(value.substr(colon + 1));
  }

  void CollectNextHops(std::vector<NextHop>* hops) {
    // sender_dependent_relayhost_maps: with -f, the sender's own relay
    // (address, then @domain), which replaces relayhost for it.
    const std::string sdr = Param("sender_dependent_relayhost_maps");
    std::vector<Table> sdr_tables;
    for (const std::string& spec : SplitTableList(sdr)) OpenTable(spec, false, &sdr_tables);
    bool sender_relay = false;
    if (!sender_.empty()) {
      const size_t at = sender_.rfind('@');
      std::vector<std::string> keys = {sender_};
      if (at != std::string::npos) keys.push_back(sender_.substr(at));
      for (const std::string& key : keys) {
        for (const Table& t : sdr_tables) {
          std::string value;
          absl::StatusOr<bool> found = t.map->LookupInto(key, &value);
          if (found.ok() && *found && !sender_relay) {
            AddHop(hops, std::string(UpToNul(value)),
                   "sender_dependent_relayhost_maps, key " + key);
            sender_relay = true;
          }
        }
      }
    } else {
      for (const Table& t : sdr_tables) {
        (void)t.map->ForEach([&](std::string_view key, std::string_view value) {
          AddHop(hops, std::string(UpToNul(value)),
                 "sender_dependent_relayhost_maps, key " + std::string(UpToNul(key)));
          return true;
        });
      }
    }
    const std::string relayhost = Param("relayhost");
    if (!sender_relay) {
      for (const std::string& h : SplitTableList(relayhost)) AddHop(hops, h, "relayhost");
    }
    // transport_maps entries routed through an SMTP client transport.
    for (const std::string& spec : SplitTableList(Param("transport_maps"))) {
      std::vector<Table> tables;
      OpenTable(spec, false, &tables);
      for (const Table& t : tables) {
        (void)t.map->ForEach([&](std::string_view key, std::string_view raw) {
          const std::string value(UpToNul(raw));
          const std::string nexthop = NexthopOf(value);
          if (!nexthop.empty() && IsSmtpTransport(TransportName(value))) {
            AddHop(hops, nexthop, "transport_maps " + t.type + ":" + t.name + ", key " +
                                      std::string(UpToNul(key)));
          }
          return true;
        });
      }
    }
    // A next hop in default_transport or relay_transport ("smtp:[relay]:587").
    for (const char* param : {"default_transport", "relay_transport"}) {
      const std::string value = Param(param);
      const std::string nexthop = NexthopOf(value);
      if (!nexthop.empty() && IsSmtpTransport(TransportName(value))) {
        AddHop(hops, nexthop, param);
      }
    }
  }

  void CheckNextHop(const NextHop& next) {
    const std::string& nexthop = next.nexthop;
    out_ << "next hop " << Printable(nexthop) << " (" << Printable(next.source) << ")\n";
    absl::StatusOr<libmaps::SaslNextHop> hop = libmaps::ParseSaslNextHop(nexthop);
    if (!hop.ok()) {
      Problem("next hop " + nexthop + ": " + std::string(hop.status().message()));
      return;
    }
    std::vector<std::string> hosts = {hop->host};
    if (hop->mx_lookup) {
      if (!cl_.resolve) {
        Note(nexthop + " has no brackets, so Postfix looks up its MX hosts and first tries "
             "the name of the MX host it connects to; run with --resolve to look them up. "
             "Checked as if " + hop->host + " had no MX record");
      } else {
        std::vector<std::string> mx;
        std::string error;
        if (!LookupMx(hop->host, &mx, &error)) {
          Problem("next hop " + nexthop + ": MX lookup of " + hop->host + ": " + error);
          return;
        }
        if (mx.empty()) {
          out_ << "  MX: none (Postfix connects to " << Printable(hop->host) << " itself)\n";
        } else {
          out_ << "  MX: " << Printable(JoinNames(mx)) << '\n';
          hosts = mx;
        }
      }
    }
    for (const std::string& host : hosts) CheckHost(next, *hop, host);
  }

  void CheckHost(const NextHop& next, const libmaps::SaslNextHop& hop, const std::string& host) {
    libmaps::SaslLookupContext context;
    context.host = host;
    context.dest = hop.dest_key;
    context.sender = sender_;
    context.sender_dependent_authentication = sender_dependent_;
    context.recipient_delimiter = Param("recipient_delimiter");
    context.owner_request_special = IsYes(Param("owner_request_special", "yes"));
    std::vector<std::string> keys = libmaps::SaslLookupKeys(context);
    if (host != hop.host) out_ << "  host " << Printable(host) << '\n';
    out_ << "  keys, in Postfix's order:";
    for (size_t i = 0; i < keys.size(); ++i) out_ << (i == 0 ? " " : ", ") << Printable(keys[i]);
    out_ << '\n';
    if (sender_dependent_ && sender_.empty()) {
      Note("smtp_sender_dependent_authentication = yes: sender keys come first; give the "
           "sender with -f to check them");
    }
    std::string value;
    for (const std::string& key : keys) {
      for (const Table& t : tables_) {
        absl::StatusOr<bool> found = t.map->LookupInto(key, &value);
        const std::string label = t.type + ":" + t.name;
        if (!found.ok()) {
          Problem("table " + label + ": key " + key + ": " + std::string(found.status().message()));
          continue;
        }
        if (!*found) continue;
        absl::StatusOr<libmaps::Credential> c = libmaps::ParseCredentialValue(value);
        out_ << "  uses " << Printable(label) << ", key " << Printable(key);
        if (c.ok()) {
          bool redacted = false;
          const std::string shown = ShownUsername(c->username, &redacted);
          out_ << ": username \"" << Printable(shown) << "\", password "
               << (c->password.empty() ? "EMPTY" : "set (not shown)") << '\n';
          if (redacted) {
            Problem("next hop " + next.nexthop + ": the username is shown up to its first "
                    "space only: a username with whitespace usually holds the password "
                    "typed after a space instead of a ':' (write username:password)");
          }
        } else {
          out_ << ": an unusable value (see the warnings)\n";
        }
        return;
      }
    }
    if (unchecked_.empty()) {
      Problem("next hop " + next.nexthop + ": no credential: none of its keys is in " +
              (tables_.empty() ? std::string("any table") : maps_) +
              ", so Postfix will not authenticate");
    } else {
      std::string others;
      for (const std::string& u : unchecked_) others += (others.empty() ? "" : ", ") + u;
      Problem("next hop " + next.nexthop + ": no credential in the tables cmap reads; not "
              "checked: " + others);
    }
    // Keys for the same host in another form: Postfix matches them literally.
    for (const Table& t : tables_) {
      for (const Table::Entry& e : t.entries) {
        if (!e.host.empty() && absl::EqualsIgnoreCase(ToAbsl(e.host), ToAbsl(host))) {
          Note(t.type + ":" + t.name + " has the key " + ShownKey(e.key, config_.smtputf8_enable) +
               " for the same host, but Postfix looks keys up exactly as the next hop "
               "is written (brackets and port included): write it as " + hop.dest_key);
        }
      }
    }
  }

  const CommandLine& cl_;
  std::ostream& out_;
  std::ostream& err_;
  std::string config_dir_;
  std::string sender_;
  int verbose_ = 0;
  libmaps::PostfixConfig config_;
  std::optional<PostconfView> postconf_;
  bool non_bdb_redirect_ = false;
  std::string maps_;
  bool sender_dependent_ = false;
  std::vector<Table> tables_;
  std::vector<std::string> unchecked_;  // tables of types cmap cannot read
  int problems_ = 0;
};

}  // namespace

int RunCheckSasl(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  Checker checker(cl, out, err);
  return checker.Run();
}

}  // namespace cmap
