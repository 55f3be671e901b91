// cmap --check-sasl: checks a Postfix SMTP client's SASL credential setup
// without sending mail: main.cf's smtp_sasl_* settings, the password tables
// (readable, compiled, not older than their sources, not readable by other
// users, every entry well formed) and, for each next hop (relayhost by
// default), which table entry Postfix's SMTP client would use, found the way
// it looks keys up. Passwords are never printed: an entry is shown as its key
// and username.

#ifndef LIBMAPS_TOOLS_CMAP_CHECK_SASL_H_
#define LIBMAPS_TOOLS_CMAP_CHECK_SASL_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace cmap {

// `args` are the words after "--check-sasl":
//   [-c config_dir] [-f sender] [next-hop ...]
// Prints the report, warnings included, to `out`; only a usage error or a
// main.cf that cannot be read goes to `err`.
// Returns 0 when every next hop finds a usable credential and nothing is
// wrong, 1 when a problem was found, 2 for a usage error, the way a lint
// reports: a script can run it after every change.
int RunCheckSasl(const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_CHECK_SASL_H_
