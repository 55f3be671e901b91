// Which SASL mechanisms the Postfix SMTP client can use with a password
// from its tables: the Cyrus SASL client plugins installed, less those that
// smtp_sasl_security_options (or its TLS variants) forbid, less those that
// smtp_sasl_mechanism_filter drops. Facts about the plugins (their files
// and security properties) are Cyrus SASL 2.1's, as its documentation and
// plugin sources state them.

#ifndef LIBMAPS_TOOLS_CMAP_SASL_MECHANISMS_H_
#define LIBMAPS_TOOLS_CMAP_SASL_MECHANISMS_H_

#include <string>
#include <string_view>
#include <vector>

namespace cmap {

struct InstalledMechanisms {
  std::vector<std::string> dirs;        // the plugin directories searched
  std::vector<std::string> mechanisms;  // of the plugins found there
};

// The plugin directories are $SASL_PATH (colon-separated) when set, as
// Cyrus SASL's own; else the distribution's (/usr/lib/<triplet>/sasl2,
// /usr/lib64/sasl2, /usr/lib/sasl2).
InstalledMechanisms FindCyrusMechanisms();

struct MechanismChoice {
  std::vector<std::string> usable;  // mechanisms that send a table's password
  std::vector<std::string> unknown_options;  // words Postfix would reject
  std::string filter_note;  // why the filter could not be applied, if so
};

// `security_options`: a value of smtp_sasl_security_options or a TLS
// variant ("noplaintext, noanonymous"); `filter`: smtp_sasl_mechanism_filter.
MechanismChoice ChooseMechanisms(const std::vector<std::string>& installed,
                                 std::string_view security_options, std::string_view filter);

// PLAIN and LOGIN: the password crosses the connection as it is.
bool IsPlaintextMechanism(std::string_view mechanism);

// "A, B and C" (or "none").
std::string JoinNames(const std::vector<std::string>& names);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_SASL_MECHANISMS_H_
