// cmap's command line, parsed once with getopt_long for every command.
//
// A command line without one of cmap's own commands (--alias, --check-sasl,
// --convert, --migrate, --help, --version) is a postmap command line: postmap's
// options, parsed as postmap parses them (options end at the first
// operand), with postmap's messages and exit status 1 for a usage error.
// With --alias it is a postalias command line, in the same way.
// A command may stand anywhere before a "--" (`cmap -c DIR --check-sasl`);
// its options may then follow operands too. A usage error on a command line
// that names one of cmap's commands exits with status 2, so that a script
// can tell "wrong command line" from "the check found a problem" (1).

#ifndef LIBMAPS_TOOLS_CMAP_COMMAND_LINE_H_
#define LIBMAPS_TOOLS_CMAP_COMMAND_LINE_H_

#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cmap {

// kPostalias: `cmap --alias`, postalias(1)'s command line and behaviour.
enum class Mode { kPostmap, kPostalias, kCheckSasl, kConvert, kMigrate, kHelp, kVersion };

// The exit status of a usage error on a command line naming a cmap command.
inline constexpr int kCommandUsageStatus = 2;

struct CommandLine {
  Mode mode = Mode::kPostmap;
  // Short options in the order given, with their values ("" for flags);
  // long options that mean a short one are stored as that one (--sender
  // as 'f').
  std::vector<std::pair<char, std::string>> options;
  bool resolve = false;  // --resolve (--check-sasl)
  // --migrate's: --apply, --lmdb, --convert-caches, --rollback DIR.
  bool apply = false, all_lmdb = false, convert_caches = false;
  std::string rollback;
  std::vector<std::string> operands;
};

// Parses `args` (args[0] is the program name). On a usage error prints the
// message and the usage line to `err` and returns nullopt with *status set
// to the exit status.
std::optional<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                            std::ostream& err, int* status);

// The text of --help (all commands and options).
void PrintHelp(std::ostream& out);

// The usage line of a mode (postmap's for kPostmap).
const char* UsageLine(Mode mode);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_COMMAND_LINE_H_
