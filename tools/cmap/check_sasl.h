// cmap --check-sasl: checks a Postfix SMTP client's SASL credential setup
// without sending mail, the way Postfix would meet it:
//  - the configuration as postconf(1) reports it (misspelt and overridden
//    parameters, compatibility defaults), the library's main.cf parser
//    only when Postfix is not installed;
//  - each table of smtp_sasl_password_maps: a type this Postfix opens
//    (postconf -m, Postfix 3.11's non-bdb redirection), files present,
//    compiled after their source, not readable by other users; every
//    entry well formed; the source beside it (duplicates, comments after a
//    value, byte-order mark, indented lines, CR LF);
//  - the SASL mechanisms left after smtp_sasl_security_options, its TLS
//    variants and smtp_sasl_mechanism_filter, among the Cyrus SASL client
//    plugins installed, and a plaintext mechanism without mandatory TLS;
//  - for each next hop (given, or relayhost, transport_maps,
//    sender_dependent_relayhost_maps, default_transport, relay_transport),
//    which entry Postfix's SMTP client would use, found the way it looks
//    keys up.
// Passwords are never printed: an entry is shown as its key and username
// (a username with whitespace only up to its first word).

#ifndef LIBMAPS_TOOLS_CMAP_CHECK_SASL_H_
#define LIBMAPS_TOOLS_CMAP_CHECK_SASL_H_

#include <iosfwd>

#include "command_line.h"

namespace cmap {

// Options: -c config_dir, -f/--sender sender, -v, --resolve; operands are
// next hops. Prints the report, warnings included, to `out`; only a main.cf
// that cannot be read goes to `err` (and the mail log).
// Returns 0 only when every next hop checked finds a credential Postfix
// can open and use and nothing is wrong, 1 when a problem was found.
int RunCheckSasl(const CommandLine& cl, std::ostream& out, std::ostream& err);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_CHECK_SASL_H_
