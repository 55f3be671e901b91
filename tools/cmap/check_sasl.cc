#include "check_sasl.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "libmaps/credential.h"
#include "libmaps/map.h"
#include "libmaps/postfix_config.h"
#include "libmaps/text.h"

namespace cmap {
namespace {

// Debian's absl::string_view is not std::string_view.
absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

constexpr std::string_view kUsage =
    "usage: cmap --check-sasl [-c config_dir] [-f sender] [next-hop ...]";

// Postfix's list separators (CHARS_COMMA_SP).
std::vector<std::string> SplitList(std::string_view s) {
  return absl::StrSplit(ToAbsl(s), absl::ByAnyChar(", \t\r\n"), absl::SkipEmpty());
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

// One table of smtp_sasl_password_maps.
struct Table {
  std::string spec;         // as listed in main.cf
  std::string type, name;   // after any proxy: prefix
  bool proxied = false;     // read through proxymap (as the postfix user)
  std::unique_ptr<libmaps::Map> map;
  // Every entry's key (as stored, folded) and whether its key is a host
  // form, with that host, for the hints of a next hop that finds nothing.
  struct Entry {
    std::string key;
    std::string host;  // empty unless a host form
  };
  std::vector<Entry> entries;
};

class Checker {
 public:
  Checker(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  int Run(const std::vector<std::string>& args) {
    if (!ParseArgs(args)) return 2;
    if (!config_dir_.empty()) ::setenv("MAIL_CONFIG", config_dir_.c_str(), 1);
    const std::string dir = libmaps::DefaultConfigDir();
    absl::StatusOr<libmaps::PostfixConfig> config = libmaps::LoadPostfixConfig(dir);
    if (!config.ok()) {
      err_ << "cmap: fatal: " << Printable(std::string(config.status().message())) << '\n';
      return 1;
    }
    config_ = *std::move(config);
    // Postfix's built-in value, which main.cf files use in table names
    // ("hash:$config_directory/sasl_passwd").
    config_.parameters.try_emplace("config_directory", dir);
    out_ << "main.cf: " << dir << "/main.cf\n";

    CheckMainCf();
    OpenTables();
    CheckNextHops();

    if (problems_ == 0) {
      out_ << "result: ok\n";
      return 0;
    }
    out_ << "result: " << problems_ << (problems_ == 1 ? " warning" : " warnings") << '\n';
    return 1;
  }

 private:
  bool ParseArgs(const std::vector<std::string>& args) {
    size_t i = 0;
    for (; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--") {
        ++i;
        break;
      }
      if (a.size() < 2 || a[0] != '-') break;
      if (a == "-c" || a == "-f") {
        if (i + 1 >= args.size()) {
          err_ << "cmap: option requires an argument -- '" << a[1] << "'\n" << kUsage << '\n';
          return false;
        }
        (a == "-c" ? config_dir_ : sender_) = args[++i];
        continue;
      }
      err_ << "cmap: invalid option for --check-sasl: " << Printable(a) << '\n'
           << kUsage << '\n';
      return false;
    }
    next_hops_.assign(args.begin() + static_cast<long>(i), args.end());
    return true;
  }

  std::string Printable(std::string_view s) const { return libmaps::Printable(s, true); }

  // Problems go into the report, where they belong, rather than to stderr:
  // the report is one text, in order, whatever buffers the streams have.
  void Problem(std::string_view message) {
    out_ << "  warning: " << Printable(message) << '\n';
    ++problems_;
  }
  void Note(std::string_view message) { out_ << "  note: " << Printable(message) << '\n'; }

  std::string Param(std::string_view name, std::string_view fallback = {}) const {
    return libmaps::GetParameter(config_, name, fallback);
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
    if (SplitList(maps_).empty()) {
      Problem("smtp_sasl_password_maps is empty: the SMTP client has no credentials");
    }
    sender_dependent_ = IsYes(Param("smtp_sender_dependent_authentication", "no"));
    const std::string tls = Param("smtp_tls_security_level");
    if (IsYes(enable) && (tls.empty() || tls == "none" || tls == "may")) {
      out_ << "smtp_tls_security_level = " << Printable(tls) << '\n';
      Note("with smtp_tls_security_level = " + (tls.empty() ? std::string("(empty)") : tls) +
           ", a server that does not offer STARTTLS (or an attacker who removes it) "
           "gets the password unencrypted; use \"encrypt\" for the relay");
    }
  }

  void OpenTables() {
    for (const std::string& spec : SplitList(maps_)) {
      Table t;
      t.spec = spec;
      std::string_view rest = spec;
      bool proxied = false;
      while (rest.substr(0, 6) == "proxy:") {
        rest.remove_prefix(6);
        proxied = true;
      }
      const size_t colon = rest.find(':');
      if (colon == std::string_view::npos) {
        Problem("table " + spec + ": no type (Postfix needs type:name, e.g. hash:" + spec + ")");
        continue;
      }
      t.proxied = proxied;
      t.type = std::string(rest.substr(0, colon));
      t.name = std::string(rest.substr(colon + 1));
      out_ << "table " << Printable(spec) << (proxied ? " (through proxymap)" : "") << '\n';
      const libmaps::TableTypeInfo* info = libmaps::FindTableType(t.type);
      if (info == nullptr || !info->can_read || !info->can_list) {
        Note("cmap checks " + CheckableTypes() + " tables only; " + t.type +
             ": tables are not checked");
        unchecked_.push_back(spec);
        continue;
      }
      CheckFiles(t);
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
      absl::StatusOr<std::unique_ptr<libmaps::Map>> map =
          libmaps::OpenMap(label, options);
      if (!map.ok()) {
        Problem("table " + label + ": " + std::string(map.status().message()));
        continue;
      }
      t.map = *std::move(map);
      CheckEntries(t);
      tables_.push_back(std::move(t));
    }
  }

  // "hash:, lmdb: and texthash:": the types whose tables can be checked.
  static std::string CheckableTypes() {
    std::vector<std::string> names;
    for (const libmaps::TableTypeInfo& info : libmaps::TableTypes()) {
      if (info.can_read && info.can_list) names.push_back(std::string(info.type) + ":");
    }
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
      out += names[i];
    }
    return out;
  }

  // The files behind a table: present, compiled after their source, and
  // not readable by other users (the passwords are in both).
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
      // Postfix folds every key it looks up in these tables; a stored key
      // that folding would change (a table built with -f) never matches.
      std::optional<std::string> folded = libmaps::FoldKey(key, config_.smtputf8_enable);
      if (folded && *folded != key) {
        Problem("table " + label + ": key " + std::string(key) +
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
        Note("key " + std::string(key) + " is a sender key, used only with "
             "smtp_sender_dependent_authentication = yes");
      }
      CheckValue(label, key, value);
      t.entries.push_back(std::move(entry));
      return true;
    });
    if (!s.ok()) {
      Problem("table " + label + ": " + std::string(s.message()));
      return;
    }
    out_ << "  " << count << (count == 1 ? " entry" : " entries") << '\n';
  }

  void CheckValue(const std::string& label, std::string_view key, std::string_view value) {
    absl::StatusOr<libmaps::Credential> c = libmaps::ParseCredentialValue(value);
    if (!c.ok()) {
      Problem("table " + label + ": key " + std::string(key) + ": " +
              std::string(c.status().message()));
      return;
    }
    if (value.find(':') == std::string_view::npos) {
      Problem("table " + label + ": key " + std::string(key) +
              ": the value has no ':', so Postfix sends all of it as the username and an "
              "empty password (write username:password)");
    } else if (c->password.empty()) {
      Problem("table " + label + ": key " + std::string(key) + ": the password is empty");
    }
    if (c->username.empty()) {
      Problem("table " + label + ": key " + std::string(key) + ": the username is empty");
    }
  }

  void CheckNextHops() {
    std::string source = "given";
    if (next_hops_.empty()) {
      const std::string relayhost = Param("relayhost");
      next_hops_ = SplitList(relayhost);
      source = "relayhost";
      if (next_hops_.empty()) {
        Problem("relayhost is empty and no next hop was given: the SMTP client delivers to "
                "each domain's MX hosts; name the next hops to check: cmap --check-sasl "
                "NEXTHOP...");
        return;
      }
    }
    for (const std::string& nexthop : next_hops_) CheckNextHop(nexthop, source);
  }

  void CheckNextHop(const std::string& nexthop, const std::string& source) {
    out_ << "next hop " << Printable(nexthop) << " (" << source << ")\n";
    absl::StatusOr<libmaps::SaslNextHop> hop = libmaps::ParseSaslNextHop(nexthop);
    if (!hop.ok()) {
      Problem("next hop " + nexthop + ": " + std::string(hop.status().message()));
      return;
    }
    if (hop->mx_lookup) {
      Note(nexthop + " has no brackets, so Postfix looks up its MX hosts and first tries "
           "the name of the MX host it connects to, which this check does not resolve; "
           "it is checked as if " + hop->host + " had no MX record");
    }
    libmaps::SaslLookupContext context;
    context.host = hop->host;
    context.dest = hop->dest_key;
    context.sender = sender_;
    context.sender_dependent_authentication = sender_dependent_;
    context.recipient_delimiter = Param("recipient_delimiter");
    context.owner_request_special = IsYes(Param("owner_request_special", "yes"));
    std::vector<std::string> keys = libmaps::SaslLookupKeys(context);
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
          out_ << ": username \"" << Printable(c->username) << "\", password "
               << (c->password.empty() ? "EMPTY" : "set (not shown)") << '\n';
        } else {
          out_ << ": an unusable value (see the warnings)\n";
        }
        return;
      }
    }
    if (unchecked_.empty()) {
      Problem("next hop " + nexthop + ": no credential: none of its keys is in " +
              (tables_.empty() ? std::string("any table") : maps_) +
              ", so Postfix will not authenticate");
    } else {
      // The credential may be in a table cmap cannot read.
      std::string others;
      for (const std::string& u : unchecked_) others += (others.empty() ? "" : ", ") + u;
      Note("no credential in the tables cmap reads; not checked: " + others);
    }
    // Keys for the same host in another form: Postfix matches them literally.
    for (const Table& t : tables_) {
      for (const Table::Entry& e : t.entries) {
        if (!e.host.empty() && absl::EqualsIgnoreCase(ToAbsl(e.host), ToAbsl(hop->host))) {
          Note(t.type + ":" + t.name + " has the key " + e.key +
               " for the same host, but Postfix looks keys up exactly as the next hop "
               "is written (brackets and port included): write it as " + hop->dest_key);
        }
      }
    }
  }

  std::ostream& out_;
  std::ostream& err_;
  std::string config_dir_;
  std::string sender_;
  std::vector<std::string> next_hops_;
  libmaps::PostfixConfig config_;
  std::string maps_;
  bool sender_dependent_ = false;
  std::vector<Table> tables_;
  std::vector<std::string> unchecked_;  // tables of types cmap cannot read
  int problems_ = 0;
};

}  // namespace

int RunCheckSasl(const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err) {
  Checker checker(out, err);
  return checker.Run(args);
}

}  // namespace cmap
