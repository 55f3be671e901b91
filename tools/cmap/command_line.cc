#include "command_line.h"

#include "log.h"

#include <getopt.h>

#include <cstring>
#include <ostream>
#include <string_view>

namespace cmap {
namespace {

constexpr char kPostmapUsage[] =
    "usage: cmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] "
    "[map_type:]file...";
constexpr char kPostaliasUsage[] =
    "usage: cmap --alias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] "
    "[map_type:]file...";
constexpr char kCheckSaslUsage[] =
    "usage: cmap --check-sasl [-v] [--resolve] [-c config_dir] [-f sender] [next-hop ...]";
constexpr char kMigrateUsage[] =
    "usage: cmap --migrate [-v] [-c config_dir] [--lmdb] [--convert-caches] [--apply]\n"
    "       cmap --migrate --rollback backup_dir";
constexpr char kConvertUsage[] =
    "usage: cmap --convert [-c config_dir] [-o] [-v] type:name new_type";

// Values above any char: the long options that are commands or have no
// short form.
enum LongId {
  kAliasId = 256,
  kCheckSaslId,
  kConvertId,
  kHelpId,
  kVersionId,
  kResolveId,
  kSenderId,
  kMigrateId,
  kApplyId,
  kLmdbId,
  kConvertCachesId,
  kRollbackId,
};

constexpr option kLongOptions[] = {
    {"alias", no_argument, nullptr, kAliasId},
    {"check-sasl", no_argument, nullptr, kCheckSaslId},
    {"convert", no_argument, nullptr, kConvertId},
    {"help", no_argument, nullptr, kHelpId},
    {"version", no_argument, nullptr, kVersionId},
    {"resolve", no_argument, nullptr, kResolveId},
    {"sender", required_argument, nullptr, kSenderId},
    {"migrate", no_argument, nullptr, kMigrateId},
    {"apply", no_argument, nullptr, kApplyId},
    {"lmdb", no_argument, nullptr, kLmdbId},
    {"convert-caches", no_argument, nullptr, kConvertCachesId},
    {"rollback", required_argument, nullptr, kRollbackId},
    {nullptr, 0, nullptr, 0},
};

// A long option's name, from its id.
const char* LongName(int id) {
  for (const option& o : kLongOptions) {
    if (o.val == id && o.name != nullptr) return o.name;
  }
  return "?";
}

// The command a command line names, found before parsing because it decides
// which options exist (-f is postmap's "no folding" but --check-sasl's
// sender). Values of postmap's -c, -d and -q are skipped, so that a key
// such as "--help" can still be looked up (cmap -q --help hash:x).
Mode FindMode(const std::vector<std::string>& args, std::string* second) {
  Mode mode = Mode::kPostmap;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    Mode found = Mode::kPostmap;
    if (a == "--alias") found = Mode::kPostalias;
    else if (a == "--check-sasl") found = Mode::kCheckSasl;
    else if (a == "--convert") found = Mode::kConvert;
    else if (a == "--migrate") found = Mode::kMigrate;
    else if (a == "--help") found = Mode::kHelp;
    else if (a == "--version") found = Mode::kVersion;
    else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      // A cluster of short options: a value-taking option takes the rest
      // of the word, or the next word.
      for (size_t j = 1; j < a.size(); ++j) {
        if (std::strchr("cdq", a[j]) != nullptr) {
          if (j + 1 == a.size()) ++i;
          break;
        }
      }
      continue;
    }
    if (found == Mode::kPostmap) continue;
    if (mode == Mode::kPostmap || mode == found) {
      mode = found;
    } else if (second->empty()) {
      *second = a;
    }
  }
  return mode;
}

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kPostalias: return "--alias";
    case Mode::kCheckSasl: return "--check-sasl";
    case Mode::kConvert: return "--convert";
    case Mode::kMigrate: return "--migrate";
    case Mode::kHelp: return "--help";
    case Mode::kVersion: return "--version";
    case Mode::kPostmap: break;
  }
  return "";
}

}  // namespace

const char* UsageLine(Mode mode) {
  switch (mode) {
    case Mode::kPostalias: return kPostaliasUsage;
    case Mode::kCheckSasl: return kCheckSaslUsage;
    case Mode::kConvert: return kConvertUsage;
    case Mode::kMigrate: return kMigrateUsage;
    default: return kPostmapUsage;
  }
}

std::optional<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                            std::ostream& err, int* status) {
  CommandLine cl;
  std::string second;
  cl.mode = FindMode(args, &second);
  // postalias's command lines are handled as postmap's are.
  const bool postmap = cl.mode == Mode::kPostmap || cl.mode == Mode::kPostalias;
  // A usage error: postmap's status for postmap's (and postalias's) command
  // lines, 2 for cmap's own commands.
  auto usage = [&](std::string_view message,
                   bool cmap_option = false) -> std::optional<CommandLine> {
    if (!message.empty()) err << "cmap: " << message << '\n';
    if (postmap && !cmap_option) {
      err << "cmap: fatal: " << UsageLine(cl.mode) << '\n';
      LogTrail::Get().Write(LogLevel::kFatal, UsageLine(cl.mode));
      *status = 1;
    } else {
      err << UsageLine(cl.mode) << "\nTry 'cmap --help' for more information.\n";
      *status = kCommandUsageStatus;
    }
    return std::nullopt;
  };
  if (!second.empty()) {
    return usage(std::string(ModeName(cl.mode)) + " cannot be combined with " + second);
  }
  if (cl.mode == Mode::kHelp || cl.mode == Mode::kVersion) return cl;

  // postmap's getopt string; options end at the first operand ('+'), as in
  // postmap. cmap's commands take theirs anywhere. The leading ':' makes a
  // missing value come back as ':' rather than '?'.
  const char* optstring = cl.mode == Mode::kPostmap     ? "+:bc:d:fFhimnNopq:rsuUvw"
                          : cl.mode == Mode::kPostalias ? "+:Nc:d:finopq:rsuvw"
                          : cl.mode == Mode::kCheckSasl ? ":c:f:v"
                          : cl.mode == Mode::kMigrate   ? ":c:v"
                                                        : ":c:ov";
  std::vector<std::string> storage(args);
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(storage.size());
  optind = 0;  // glibc: start over (RunCmap may run more than once)
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv.data(), optstring, kLongOptions, nullptr)) != -1) {
    const std::string word = optind - 1 < argc ? argv[optind - 1] : "";
    switch (c) {
      case kAliasId:
      case kCheckSaslId:
      case kConvertId:
      case kMigrateId:
        break;  // found by FindMode
      case kApplyId:
      case kLmdbId:
      case kConvertCachesId:
      case kRollbackId:
        if (cl.mode != Mode::kMigrate) {
          return usage(std::string("--") + LongName(c) + " is an option of --migrate", true);
        }
        if (c == kApplyId) cl.apply = true;
        if (c == kLmdbId) cl.all_lmdb = true;
        if (c == kConvertCachesId) cl.convert_caches = true;
        if (c == kRollbackId) cl.rollback = optarg;
        break;
      case kResolveId:
        if (cl.mode != Mode::kCheckSasl) return usage("--resolve is an option of --check-sasl", true);
        cl.resolve = true;
        break;
      case kSenderId:
        if (cl.mode != Mode::kCheckSasl) return usage("--sender is an option of --check-sasl", true);
        cl.options.emplace_back('f', optarg);
        break;
      case ':':
        if (optopt >= 256 || optopt == 0) {
          return usage("option '" + word + "' requires an argument");
        }
        return usage(std::string("option requires an argument -- '") +
                     static_cast<char>(optopt) + "'");
      case '?':
        if (optopt == 0 || optopt >= 256) {
          // An unknown long option: not postmap's, so cmap's status.
          err << "cmap: unrecognized option '" << word << "'\n"
              << "Try 'cmap --help' for more information.\n";
          *status = kCommandUsageStatus;
          return std::nullopt;
        }
        if (postmap) {
          return usage(std::string("invalid option -- '") + static_cast<char>(optopt) + "'");
        }
        return usage(std::string("invalid option for ") + ModeName(cl.mode) + " -- '" +
                     static_cast<char>(optopt) + "'");
      default:
        cl.options.emplace_back(static_cast<char>(c), optarg != nullptr ? optarg : "");
        break;
    }
  }
  bool alias_word = cl.mode == Mode::kPostalias;
  for (int i = optind; i < argc; ++i) {
    // --alias after the first operand (options end there, as in
    // postalias) is still the command, not a table.
    if (alias_word && std::strcmp(argv[static_cast<size_t>(i)], "--alias") == 0) {
      alias_word = false;
      continue;
    }
    cl.operands.emplace_back(argv[static_cast<size_t>(i)]);
  }
  return cl;
}

void PrintHelp(std::ostream& out) {
  out << "cmap: Postfix lookup tables without Berkeley DB; a drop-in for postmap(1).\n\n"
      << kPostmapUsage << "\n"
      << "  As postmap(1): build a table from its source, or with\n"
      << "  -q KEY|-    look keys up          -s         list every record\n"
      << "  -i          add records from stdin -d KEY|-   delete records\n"
      << "  -c DIR      Postfix configuration directory (default $MAIL_CONFIG or /etc/postfix)\n"
      << "  -f -F -n -N -o -p -r -u -U -w -b -h -m -v: as postmap(1)\n\n"
      << kPostaliasUsage << "\n"
      << "  As postalias(1): build an alias table from an aliases(5) file (with\n"
      << "  postalias's @ and YP_ records), -q, -s, -i, -d as postalias; -q - and\n"
      << "  -s print \"name:<TAB>value\".\n\n"
      << kCheckSaslUsage << "\n"
      << "  Check the SMTP client's SASL credential set-up for each next hop\n"
      << "  (relayhost, transport_maps, sender_dependent_relayhost_maps, or those\n"
      << "  given) without sending mail. -f SENDER (--sender) checks that sender's\n"
      << "  keys and relay; --resolve looks up the MX hosts of unbracketed next hops.\n"
      << "  Exit 0: every next hop has a credential Postfix can open and use.\n\n"
      << kConvertUsage << "\n"
      << "  Rewrite a table whose source is lost as another type (hash, btree,\n"
      << "  lmdb, cdb), records as stored, owner and mode kept.\n\n"
      << kMigrateUsage << "\n"
      << "  Take the configuration off Berkeley DB: every hash: and btree: table\n"
      << "  named in main.cf or master.cf (proxy:, unionmap:{}, pipemap:{} too)\n"
      << "  rebuilt as cdb: (from its source) or lmdb: (from the .db, and caches),\n"
      << "  checked, then the settings changed with postconf, a backup kept.\n"
      << "  A dry run unless --apply; --lmdb: lmdb: everywhere.\n\n"
      << "cmap --help | --version\n\n"
      << "Exit status: as postmap for postmap's command lines (0 success or found,\n"
      << "1 failure, not found or usage error); with --check-sasl, --convert or --migrate,\n"
      << "0 success, 1 failure or problem found, 2 usage error.\n"
      << "See cmap(1).\n";
}

}  // namespace cmap
