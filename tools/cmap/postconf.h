// The configuration as Postfix itself sees it, from postconf(1): every
// parameter with its compatibility default and ${name?value} expansions
// (postconf -x), postconf's own warnings (a misspelt name is an "unused
// parameter", a second line for a name is an "overriding earlier entry"),
// the table types this Postfix can open (postconf -m), its SASL client
// types (postconf -A) and master.cf's services (postconf -M).

#ifndef LIBMAPS_TOOLS_CMAP_POSTCONF_H_
#define LIBMAPS_TOOLS_CMAP_POSTCONF_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cmap {

struct MasterService {
  std::string name, type, command;
  std::vector<std::string> overrides;  // "-o name=value" settings, as "name=value"
};

struct PostconfView {
  std::string program;  // the postconf that was run
  std::map<std::string, std::string, std::less<>> parameters;  // postconf -x
  std::vector<std::string> warnings;  // postconf's warnings, without "postconf: warning: "
  std::set<std::string, std::less<>> table_types;        // postconf -m
  std::set<std::string, std::less<>> client_sasl_types;  // postconf -A
  std::vector<MasterService> services;                   // postconf -M
};

// The postconf program: $CMAP_POSTCONF when set (empty: none), else the
// first "postconf" on $PATH, /usr/sbin or /usr/local/sbin; "" when none.
std::string FindPostconf();

// Runs postconf -c `config_dir` (the first "postconf" on $PATH, else
// /usr/sbin/postconf). Returns nullopt when there is no postconf; sets
// *error when it runs but fails (postconf's own fatal message).
std::optional<PostconfView> ReadPostconf(const std::string& config_dir, std::string* error);

// The non-empty lines of a program's output.
std::vector<std::string> Lines(const std::string& text);

// Runs `argv` (argv[0] a path) with no input; collects standard output and
// standard error. Returns the exit status, or -1 when it could not run.
int RunProgram(const std::vector<std::string>& argv, std::string* out, std::string* err);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_POSTCONF_H_
