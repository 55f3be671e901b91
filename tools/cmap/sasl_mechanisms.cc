#include "sasl_mechanisms.h"

#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace cmap {
namespace {

// Cyrus SASL security properties (sasl.h's SASL_SEC_* flags), as the words
// of Postfix's *_sasl_security_options.
enum : unsigned {
  kNoPlaintext = 1,
  kNoActive = 2,
  kNoDictionary = 4,
  kNoAnonymous = 16,
  kMutualAuth = 64,
};

struct Mechanism {
  const char* plugin;  // lib<plugin>.so
  const char* name;
  unsigned flags;
  bool uses_password;  // takes its secret from the password table
};

constexpr Mechanism kMechanisms[] = {
    {"plain", "PLAIN", kNoAnonymous, true},
    {"login", "LOGIN", kNoAnonymous, true},
    {"crammd5", "CRAM-MD5", kNoPlaintext | kNoAnonymous, true},
    {"digestmd5", "DIGEST-MD5", kNoPlaintext | kNoAnonymous | kMutualAuth, true},
    {"ntlm", "NTLM", kNoPlaintext | kNoAnonymous, true},
    {"scram", "SCRAM-SHA-1", kNoPlaintext | kNoActive | kNoAnonymous | kMutualAuth, true},
    {"scram", "SCRAM-SHA-256", kNoPlaintext | kNoActive | kNoAnonymous | kMutualAuth, true},
    {"otp", "OTP", kNoPlaintext | kNoAnonymous, true},
    {"srp", "SRP", kNoPlaintext | kNoActive | kNoDictionary | kNoAnonymous | kMutualAuth, true},
    {"anonymous", "ANONYMOUS", kNoPlaintext, false},
    {"gssapiv2", "GSSAPI", kNoPlaintext | kNoActive | kNoAnonymous | kMutualAuth, false},
    {"gs2", "GS2-KRB5", kNoPlaintext | kNoActive | kNoAnonymous | kMutualAuth, false},
};

const Mechanism* FindMechanism(std::string_view name) {
  for (const Mechanism& m : kMechanisms) {
    if (absl::EqualsIgnoreCase(absl::string_view(name.data(), name.size()), m.name)) return &m;
  }
  return nullptr;
}

std::vector<std::string> Split(std::string_view s) {
  return absl::StrSplit(absl::string_view(s.data(), s.size()), absl::ByAnyChar(", \t\r\n"),
                        absl::SkipEmpty());
}

}  // namespace

InstalledMechanisms FindCyrusMechanisms() {
  InstalledMechanisms found;
  if (const char* env = std::getenv("SASL_PATH"); env != nullptr && *env != '\0') {
    found.dirs = absl::StrSplit(env, ':', absl::SkipEmpty());
  } else {
    glob_t g{};
    if (::glob("/usr/lib/*/sasl2", GLOB_ONLYDIR, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) found.dirs.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    found.dirs.emplace_back("/usr/lib64/sasl2");
    found.dirs.emplace_back("/usr/lib/sasl2");
  }
  std::vector<std::string> plugins;
  for (const std::string& dir : found.dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      // lib<plugin>.so, lib<plugin>.so.2, ...
      const size_t so = name.find(".so");
      if (name.substr(0, 3) != "lib" || so == std::string_view::npos) continue;
      plugins.emplace_back(name.substr(3, so - 3));
    }
    ::closedir(d);
  }
  for (const Mechanism& m : kMechanisms) {
    if (std::find(plugins.begin(), plugins.end(), m.plugin) != plugins.end() &&
        std::find(found.mechanisms.begin(), found.mechanisms.end(), m.name) ==
            found.mechanisms.end()) {
      found.mechanisms.emplace_back(m.name);
    }
  }
  return found;
}

MechanismChoice ChooseMechanisms(const std::vector<std::string>& installed,
                                 std::string_view security_options, std::string_view filter) {
  MechanismChoice choice;
  unsigned required = 0;
  for (const std::string& word : Split(security_options)) {
    const std::string w = absl::AsciiStrToLower(word);
    if (w == "noplaintext") required |= kNoPlaintext;
    else if (w == "noactive") required |= kNoActive;
    else if (w == "nodictionary") required |= kNoDictionary;
    else if (w == "noanonymous") required |= kNoAnonymous;
    else if (w == "mutual_auth") required |= kMutualAuth;
    else choice.unknown_options.push_back(word);
  }
  // The filter is a Postfix string list: the first entry that matches
  // decides ("!name" excludes); a mechanism no entry matches is dropped.
  const std::vector<std::string> entries = Split(filter);
  for (const std::string& e : entries) {
    if (e.find(':') != std::string::npos || e.find('/') != std::string::npos) {
      choice.filter_note = "smtp_sasl_mechanism_filter uses a table or pattern (" + e +
                           "), which this check does not evaluate";
    }
  }
  auto passes_filter = [&](const std::string& name) {
    if (entries.empty() || !choice.filter_note.empty()) return true;
    for (const std::string& e : entries) {
      const bool negated = !e.empty() && e[0] == '!';
      if (absl::EqualsIgnoreCase(negated ? e.substr(1) : e, name)) return !negated;
    }
    return false;
  };
  for (const std::string& name : installed) {
    const Mechanism* m = FindMechanism(name);
    if (m == nullptr || !m->uses_password) continue;
    if ((m->flags & required) != required) continue;
    if (!passes_filter(name)) continue;
    choice.usable.push_back(name);
  }
  return choice;
}

bool IsPlaintextMechanism(std::string_view mechanism) {
  const Mechanism* m = FindMechanism(mechanism);
  return m != nullptr && (m->flags & kNoPlaintext) == 0 && m->uses_password;
}

std::string JoinNames(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace cmap
