#include "cmap.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <ios>
#include <iterator>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"
#include "libmaps/postfix_config.h"
#include "libmaps/text.h"
#include "check_sasl.h"
#include "command_line.h"
#include "log.h"
#include "message_keys.h"
#include "migrate.h"

namespace cmap {
namespace {

// How Postfix names a table in messages. Its dictionary layer uses the file
// name for hash: ("hash:NAME.db"); postmap's own -q KEY and -s code uses the
// name as given ("hash:NAME"). Verified on postmap 3.7.11.
// $myhostname: main.cf's, else Postfix's default: the system's host name,
// with "." and $mydomain (default "localdomain") added when it has no dot.
std::string MyHostname(const libmaps::PostfixConfig& config) {
  std::string name = libmaps::GetParameter(config, "myhostname");
  if (!name.empty()) return name;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  name = host;
  if (name.find('.') == std::string::npos) {
    name += "." + libmaps::GetParameter(config, "mydomain", "localdomain");
  }
  return name;
}

std::string GivenName(const libmaps::Map& map) { return map.type() + ":" + map.name(); }
std::string DictName(const libmaps::Map& map) {
  const libmaps::TableTypeInfo* info = libmaps::FindTableType(map.type());
  return GivenName(map) +
         (info != nullptr && info->messages_name_file ? std::string(info->suffix) : "");
}

// "hash or lmdb": the types a whole table can be copied into.
std::string ConvertTargets() {
  std::vector<std::string> names;
  for (const libmaps::TableTypeInfo& info : libmaps::TableTypes()) {
    if (info.can_build && !info.suffix.empty()) names.emplace_back(info.type);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

constexpr std::string_view kProgram = "cmap";

// Reads one key line from stdin as postmap does: the newline is dropped, a
// final line without one counts, text after a NUL byte is ignored (keys are
// C strings). Postfix's reader also takes a final unterminated line that
// ends in byte 0xFF for the end of input; cmap does the same.
bool ReadKeyLine(std::istream& in, std::string* line) {
  if (!std::getline(in, *line)) return false;
  if (in.eof() && !line->empty() && static_cast<unsigned char>(line->back()) == 0xFF) {
    return false;
  }
  size_t nul = line->find('\0');
  if (nul != std::string::npos) line->resize(nul);
  return true;
}

// What the command is doing, for the fatal line that ends it if it runs out
// of memory or meets another exception (RunCmap's last resort).
std::string& Activity() {
  static std::string activity = "cmap";
  return activity;
}

class Command {
 public:
  Command(std::istream& in, std::ostream& out, std::ostream& err)
      : in_(in), out_(out), err_(err) {}

  int Run(const CommandLine& cl);

 private:
  // Takes the options of a parsed command line. Returns false after
  // printing an error (postmap's "specify only one of" checks).
  bool ApplyOptions(const CommandLine& cl);

  // Every message is rendered as Postfix renders log text: unprintable
  // bytes become '?' (file names from -F values, keys, paths).
  // Each also goes to the mail log (log.h), as postmap's messages do.
  int Fatal(std::string_view message) { return Emit(LogLevel::kFatal, message), 1; }
  void Warn(std::string_view message) { Emit(LogLevel::kWarning, message); }
  void Emit(LogLevel level, std::string_view message) {
    const std::string text = Printable(message);
    err_ << kProgram << ": " << LevelWord(level) << text << '\n';
    LogTrail::Get().Write(level, text);
  }
  std::string Printable(std::string_view message) const {
    return libmaps::Printable(message, config_.smtputf8_enable || !config_loaded_);
  }
  void Verbose(std::string_view message) {
    if (verbose_ > 0) Emit(LogLevel::kInfo, message);
  }
  int Usage() { return Fatal(UsageLine(alias_ ? Mode::kPostalias : Mode::kPostmap)); }
  // What -q - and -s print between a key and its value: postmap's tab, or
  // postalias's colon and tab.
  const char* Separator() const { return alias_ ? ":\t" : "\t"; }
  // postalias's records after the source ones (see Build).
  template <typename Table>
  absl::Status AddAliasBookkeeping(Table& table, const libmaps::BuildOptions& options);
  // A read error on standard input (errno as the stream left it).
  static std::string StdinError() {
    return std::string("read stdin: ") + std::strerror(errno != 0 ? errno : EIO);
  }

  // The map for operand `i`, opened on first use (postmap opens lazily, so
  // a later map's warnings only appear when it is consulted).
  libmaps::Map* MapAt(size_t i, int* status);
  // Prints a found value (decoded with -F). Returns false when -F decoding
  // failed (after the warning).
  bool RenderValue(const libmaps::Map& map, std::string_view key,
                   std::string_view value, std::string* rendered);
  void WarnEmptyValue(const std::string& table, std::string_view key);

  int Query();
  int QueryStdin();
  int Sequence();
  int Build(const libmaps::MapSpec& spec);
  int Delete();
  int Convert();
  libmaps::BuildOptions MakeBuildOptions(const struct stat* source);
  libmaps::DiagnosticSink Sink();

  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;

  // Options.
  std::string config_dir_;
  bool has_config_dir_ = false;
  std::optional<std::string> query_;
  std::optional<std::string> delete_key_;
  bool sequence_ = false;
  bool fold_ = true;
  bool files_ = false;        // -F
  bool incremental_ = false;  // -i
  bool no_utf8_ = false;      // -u
  bool body_ = false, header_ = false, mime_ = false;
  bool force_utf8_checks_ = false;  // -U
  bool keep_root_ = false;        // -o
  bool convert_ = false;          // --convert
  bool alias_ = false;            // --alias: postalias
  bool plain_mode_ = false;       // -p
  libmaps::NulPolicy nul_ = libmaps::NulPolicy::kProbe;  // -N / -n
  int verbose_ = 0;
  libmaps::DuplicatePolicy dups_ = libmaps::DuplicatePolicy::kWarn;
  std::vector<std::string> operands_;

  libmaps::PostfixConfig config_;
  bool config_loaded_ = false;
  std::vector<std::unique_ptr<libmaps::Map>> maps_;
};

bool Command::ApplyOptions(const CommandLine& cl) {
  for (const auto& [c, value] : cl.options) {
    switch (c) {
      case 'b': body_ = true; break;
      case 'c': config_dir_ = value; has_config_dir_ = true; break;
      case 'd':
        if (sequence_ || query_ || delete_key_) {
          Fatal("specify only one of -s -q or -d");
          return false;
        }
        delete_key_ = value;
        break;
      case 'f': fold_ = false; break;
      case 'F': files_ = true; break;
      case 'h': header_ = true; break;
      case 'i': incremental_ = true; break;
      case 'm': mime_ = true; break;
      case 'n': nul_ = libmaps::NulPolicy::kWithout; break;
      case 'N': nul_ = libmaps::NulPolicy::kWith; break;
      case 'o': keep_root_ = true; break;
      case 'p': plain_mode_ = true; break;
      case 'U': force_utf8_checks_ = true; break;
      case 'q':
        if (sequence_ || query_ || delete_key_) {
          Fatal("specify only one of -s -q or -d");
          return false;
        }
        query_ = value;
        break;
      case 'r': dups_ = libmaps::DuplicatePolicy::kReplace; break;
      case 's':
        if (query_ || delete_key_) {
          Fatal("specify only one of -s or -q or -d");
          return false;
        }
        sequence_ = true;
        break;
      case 'u': no_utf8_ = true; break;
      case 'v': ++verbose_; break;
      case 'w': dups_ = libmaps::DuplicatePolicy::kIgnore; break;
    }
  }
  operands_ = cl.operands;
  return true;
}

libmaps::Map* Command::MapAt(size_t i, int* status) {
  if (maps_.size() <= i) maps_.resize(i + 1);
  if (maps_[i]) return maps_[i].get();
  libmaps::OpenOptions options;
  options.fold_case = fold_;
  // -b and -h switch UTF-8 mode off unless -U, as in postmap.
  options.utf8 = config_.smtputf8_enable && !no_utf8_ &&
                 (!(body_ || header_) || force_utf8_checks_);
  options.utf8_messages = config_.smtputf8_enable;
  options.duplicates = dups_;
  options.values_are_files = files_;
  options.nul = nul_;
  options.diagnostics = Sink();
  absl::StatusOr<libmaps::MapSpec> spec =
      libmaps::ParseMapSpec(operands_[i], config_.default_database_type);
  if (!spec.ok()) {
    *status = Fatal(std::string(spec.status().message()));
    return nullptr;
  }
  Verbose("open " + spec->type + ":" + spec->name);
  auto map = libmaps::OpenMap(spec->type + ":" + spec->name, options);
  if (!map.ok()) {
    *status = Fatal(std::string(map.status().message()));
    return nullptr;
  }
  maps_[i] = *std::move(map);
  return maps_[i].get();
}

void Command::WarnEmptyValue(const std::string& table, std::string_view key) {
  Warn("table " + table + ": key " + std::string(key) +
       ": empty string result is not allowed");
  Warn("table " + table + " should return NO RESULT in case of NOT FOUND");
}

bool Command::RenderValue(const libmaps::Map& map, std::string_view key,
                          std::string_view value, std::string* rendered) {
  if (files_) {
    std::optional<std::string> decoded = libmaps::Base64Decode(value);
    if (!decoded) {
      Warn("table " + DictName(map) + ": key " + std::string(key) +
           ": malformed BASE64 value: " + std::string(value.substr(0, 30)));
      return false;
    }
    // Postfix prints the decoded value as a C string.
    rendered->assign(decoded->c_str());
  } else {
    rendered->assign(value);
  }
  return true;
}

int Command::Query() {
  for (size_t i = 0; i < operands_.size(); ++i) {
    int status = 0;
    libmaps::Map* map = MapAt(i, &status);
    if (map == nullptr) return status;
    auto value = map->Lookup(*query_);
    if (!value.ok()) return Fatal(std::string(value.status().message()));
    if (!value->has_value()) continue;
    std::string rendered;
    if (!RenderValue(*map, *query_, **value, &rendered)) {
      return Fatal("table " + DictName(*map) + ": query error");
    }
    // Queries judge the value as printed (with -F: decoded, up to a NUL).
    if (rendered.empty()) WarnEmptyValue(GivenName(*map), *query_);
    out_ << rendered << '\n';
    return 0;
  }
  return 1;
}

int Command::QueryStdin() {
  bool found_any = false;
  int status = 0;
  // Looks one key up in the maps in order; prints the first hit.
  auto query = [&](const std::string& key) -> bool {
    for (size_t i = 0; i < operands_.size(); ++i) {
      libmaps::Map* map = MapAt(i, &status);
      if (map == nullptr) return false;
      auto value = map->Lookup(key);
      if (!value.ok()) {
        status = Fatal(std::string(value.status().message()));
        return false;
      }
      if (!value->has_value()) continue;
      std::string rendered;
      if (!RenderValue(*map, key, **value, &rendered)) {
        status = Fatal("table " + DictName(*map) + ": query error");
        return false;
      }
      if (rendered.empty()) WarnEmptyValue(DictName(*map), key);
      out_ << key << Separator() << rendered << '\n';
      found_any = true;
      break;
    }
    return true;
  };
  if (body_ || header_) {
    std::string message(std::istreambuf_iterator<char>(in_), {});
    for (const MessageKey& key : MessageKeys(message, mime_)) {
      if (key.header ? !header_ : !body_) continue;
      if (!query(key.text)) return status;
    }
  } else if (operands_.size() == 1) {
    // One table: keys go to Map::LookupEach in batches of those already
    // waiting on the input (at most kBatch), so a hash: or lmdb: table is
    // locked once per batch rather than once per key. Messages come in the
    // same order as key by key; the answers are collected while the table
    // is locked and written after it is released. As postmap, the table is
    // opened when the first key has been read (no input: no open, no
    // messages).
    libmaps::Map* map = nullptr;
    constexpr size_t kBatch = 1024;
    std::vector<std::string> keys;
    std::vector<std::string_view> views;
    std::string answers;
    std::string key;
    bool more = true;
    while (more) {
      keys.clear();
      while (keys.size() < kBatch && (more = ReadKeyLine(in_, &key))) {
        keys.push_back(key);
        if (in_.rdbuf()->in_avail() <= 0) break;  // the next read could block
      }
      if (keys.empty()) break;
      if (in_.bad()) return Fatal(StdinError());
      if (map == nullptr && (map = MapAt(0, &status)) == nullptr) return status;
      views.assign(keys.begin(), keys.end());
      answers.clear();
      bool failed = false;
      // The last answer, taken back when the same key then fails (the file
      // shrank while it was read: see Map::LookupEach).
      size_t last_key = kBatch, last_at = 0;
      map->LookupEach(views, [&](size_t i, const absl::StatusOr<std::optional<std::string_view>>& value) {
        if (!value.ok()) {
          if (i == last_key) answers.resize(last_at);
          out_ << answers;
          answers.clear();
          status = Fatal(std::string(value.status().message()));
          failed = true;
          return false;
        }
        if (!value->has_value()) return true;
        std::string rendered;
        if (!RenderValue(*map, keys[i], **value, &rendered)) {
          out_ << answers;
          answers.clear();
          status = Fatal("table " + DictName(*map) + ": query error");
          failed = true;
          return false;
        }
        if (rendered.empty()) WarnEmptyValue(DictName(*map), keys[i]);
        last_key = i;
        last_at = answers.size();
        answers.append(keys[i]).append(Separator()).append(rendered).append(1, '\n');
        found_any = true;
        return true;
      });
      out_ << answers;
      if (failed) return status;
    }
  } else {
    std::string key;
    while (ReadKeyLine(in_, &key)) {
      if (!query(key)) return status;
    }
  }
  if (in_.bad()) return Fatal(StdinError());
  return found_any ? 0 : 1;
}

int Command::Sequence() {
  // postmap prints the first map only.
  int status = 0;
  libmaps::Map* map = MapAt(0, &status);
  if (map == nullptr) return status;
  absl::Status s = map->ForEach([&](std::string_view key, std::string_view value) {
    if (key.empty()) {
      Warn("table " + GivenName(*map) + ": empty lookup key value is not allowed");
    }
    // -s judges the value as stored.
    if (value.empty()) WarnEmptyValue(GivenName(*map), key);
    std::string rendered;
    if (RenderValue(*map, key, value, &rendered)) {
      out_ << key << Separator() << rendered << '\n';
    }
    return true;
  });
  if (!s.ok()) return Fatal(std::string(s.message()));
  return 0;
}

int Command::Run(const CommandLine& cl) {
  convert_ = cl.mode == Mode::kConvert;
  alias_ = cl.mode == Mode::kPostalias;
  if (!ApplyOptions(cl)) return 1;
  if (has_config_dir_) {
    // As postmap: -c sets MAIL_CONFIG for everything that follows.
    ::setenv("MAIL_CONFIG", config_dir_.c_str(), 1);
  }
  absl::StatusOr<libmaps::PostfixConfig> config =
      libmaps::LoadPostfixConfig(libmaps::DefaultConfigDir());
  if (!config.ok()) return Fatal(std::string(config.status().message()));
  config_ = *std::move(config);
  config_loaded_ = true;
  if (std::string refused = LogTrail::Get().Configure(config_); !refused.empty()) {
    return Fatal(refused);
  }
  // As every Postfix program: import_environment's name=value entries are
  // set (LANG=C by default), which environ: lookups see.
  for (absl::string_view item : absl::StrSplit(
           libmaps::GetParameter(config_, "import_environment",
                                 "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY "
                                 "LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME"),
           absl::ByAnyChar(", \t\r\n"), absl::SkipEmpty())) {
    const size_t eq = item.find('=');
    if (eq != absl::string_view::npos && eq > 0) {
      ::setenv(std::string(item.substr(0, eq)).c_str(), std::string(item.substr(eq + 1)).c_str(),
               1);
    }
  }

  bool any_key = body_ || header_ || mime_;
  if (any_key && (!query_ || *query_ != "-")) {
    return Fatal("specify -b -h or -m only with \"-q -\"");
  }
  if (mime_ && !body_ && !header_) Warn("ignoring -m option without -b or -h");

  std::string operands;
  for (const std::string& operand : operands_) absl::StrAppend(&operands, " ", operand);
  Activity() = absl::StrCat(convert_      ? "convert"
                            : sequence_   ? "dump"
                            : query_      ? "query"
                            : delete_key_ ? "delete from"
                            : incremental_ ? "update"
                                           : "build",
                            operands);
  if (convert_) return Convert();
  if (sequence_) {
    if (operands_.empty()) return 1;
    return Sequence();
  }
  if (query_) {
    if (operands_.empty()) return Usage();
    return *query_ == "-" ? QueryStdin() : Query();
  }
  if (operands_.empty()) return Usage();
  if (delete_key_) return Delete();
  for (const std::string& operand : operands_) {
    // Create mode splits "type:name" without further checks, as postmap
    // does ("lmdb:" names the file "", ":x" the type "").
    libmaps::MapSpec spec;
    size_t colon = operand.find(':');
    if (colon == std::string::npos) {
      spec = {config_.default_database_type, operand};
    } else {
      spec = {operand.substr(0, colon), operand.substr(colon + 1)};
    }
    if (int status = Build(spec); status != 0) return status;
  }
  return 0;
}

libmaps::DiagnosticSink Command::Sink() {
  return [this](libmaps::Severity severity, std::string_view m) {
    if (severity == libmaps::Severity::kWarning) {
      Warn(m);
    } else if (severity == libmaps::Severity::kError) {
      Emit(LogLevel::kError, m);
    } else {
      Verbose(m);
    }
  };
}

libmaps::BuildOptions Command::MakeBuildOptions(const struct stat* source) {
  libmaps::BuildOptions options;
  options.fold_case = fold_;
  options.utf8 = config_.smtputf8_enable && !no_utf8_;
  options.utf8_messages = config_.smtputf8_enable;
  options.duplicates = dups_;
  options.nul = nul_;
  options.lmdb_map_size = config_.lmdb_map_size;
  // postmap's rule: owner rw, group/other r only where the source has them
  // (0644 & (source | 0700)), unless -p; a pipe on stdin changes nothing.
  options.new_file_mode = 0644;
  if (!plain_mode_ && source != nullptr && S_ISREG(source->st_mode)) {
    options.new_file_mode = 0644 & (source->st_mode | 0700);
  }
  options.diagnostics = Sink();
  return options;
}

namespace {

// As postmap: run as root, work as the source file's owner (unless -o), so
// new tables belong to that user. Restores the ids when destroyed.
class EffectiveIds {
 public:
  EffectiveIds(const struct stat* source, bool keep_root) {
    if (source == nullptr || keep_root || ::getuid() != 0) return;
    if (source->st_uid == ::geteuid() && source->st_gid == ::getegid()) return;
    uid_ = ::geteuid();
    gid_ = ::getegid();
    if (::setegid(source->st_gid) == 0 && ::seteuid(source->st_uid) == 0) {
      switched_ = true;
    }
  }
  ~EffectiveIds() {
    if (!switched_) return;
    if (::seteuid(uid_) != 0 || ::setegid(gid_) != 0) std::abort();
  }

 private:
  bool switched_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

}  // namespace

// A source file's text. A regular file is mapped (MAP_POPULATE: its pages
// come straight from the page cache, nothing is copied or zeroed); anything
// else is read into an anonymous mapping. Either way, pages go back to the
// system as the parse moves past them (ReleaseBefore), so a large build
// never holds the whole source and the whole table at once.
//
// A mapped file that another process truncates while we parse it would
// raise SIGBUS. The handler below (installed once, chained to whatever
// handler was there before, as libmaps' own MappedFile does) puts a page of
// zeros where the vanished page was and notes it; the parse reads NULs
// there, and the build fails with "the file shrank" instead of the process
// dying or a partial table being installed.
namespace {

std::atomic<uintptr_t> g_source_begin{0}, g_source_end{0};
std::atomic<bool> g_source_faulted{false};
struct sigaction g_previous_sigbus;

void OnSourceSigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t addr = info != nullptr ? reinterpret_cast<uintptr_t>(info->si_addr) : 0;
  if (info != nullptr && info->si_code > 0 && addr >= g_source_begin.load() &&
      addr < g_source_end.load()) {
    const int saved_errno = errno;
    void* page = reinterpret_cast<void*>(addr & ~uintptr_t{4095});
    if (::mmap(page, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
        MAP_FAILED) {
      g_source_faulted.store(true);
      errno = saved_errno;
      return;
    }
    errno = saved_errno;
  }
  const struct sigaction& prev = g_previous_sigbus;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, context);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  } else {
    // The default action: returning re-runs the faulting read, which ends
    // the process as if this handler were not there.
    ::signal(SIGBUS, SIG_DFL);
  }
}

bool InstallSourceSigbusHandler() {
  static const bool installed = [] {
    struct sigaction act;
    std::memset(&act, 0, sizeof act);
    act.sa_sigaction = &OnSourceSigbus;
    act.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&act.sa_mask);
    return ::sigaction(SIGBUS, &act, &g_previous_sigbus) == 0;
  }();
  return installed;
}

class SourceText {
 public:
  SourceText() = default;
  SourceText(const SourceText&) = delete;
  SourceText& operator=(const SourceText&) = delete;
  ~SourceText() { Clear(); }

  // Maps or reads `fd` to its end; returns 0 or an errno value.
  int Read(int fd, const struct stat& st) {
    if (S_ISREG(st.st_mode) && st.st_size > 0 && InstallSourceSigbusHandler()) {
      const size_t size = static_cast<size_t>(st.st_size);
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) {
        data_ = static_cast<char*>(p);
        size_ = size;
        capacity_ = size;
        g_source_faulted.store(false);
        g_source_begin.store(reinterpret_cast<uintptr_t>(data_));
        g_source_end.store(reinterpret_cast<uintptr_t>(data_) + size);
        return 0;
      }
    }
    size_t want = S_ISREG(st.st_mode) && st.st_size > 0
                      ? static_cast<size_t>(st.st_size) + 1
                      : size_t{1} << 16;
    if (!Grow(want)) return ENOMEM;
    for (;;) {
      if (size_ == capacity_ && !Grow(capacity_ * 2)) return ENOMEM;
      ssize_t n = ::read(fd, data_ + size_, std::min(capacity_ - size_, size_t{1} << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return 0;
      size_ += static_cast<size_t>(n);
    }
  }

  std::string_view view() const { return {data_, size_}; }

  // Whether a mapped source shrank while it was parsed (what was parsed
  // then cannot be trusted).
  bool shrank() const { return g_source_faulted.load(); }

  // The parse is at `p`: every whole page before it can go. (Pointers that
  // are not into the text, such as a continued line the parser joined,
  // are ignored.)
  void ReleaseBefore(const char* p) {
    constexpr size_t kStep = size_t{4} << 20;  // one madvise per 4 MiB
    if (p < data_ || p > data_ + size_) return;
    const size_t upto = static_cast<size_t>(p - data_) & ~(kPage - 1);
    if (upto < released_ + kStep) return;
    ::madvise(data_ + released_, upto - released_, MADV_DONTNEED);
    released_ = upto;
  }

  void Clear() {
    if (data_ != nullptr) {
      g_source_begin.store(0);
      g_source_end.store(0);
      ::munmap(data_, capacity_);
    }
    data_ = nullptr;
    size_ = capacity_ = released_ = 0;
  }

 private:
  static constexpr size_t kPage = 4096;

  bool Grow(size_t want) {
    want = (want + kPage - 1) & ~(kPage - 1);
    void* p = data_ == nullptr
                  ? ::mmap(nullptr, want, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                  : ::mremap(data_, capacity_, want, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) return false;
    data_ = static_cast<char*>(p);
    capacity_ = want;
    return true;
  }

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t released_ = 0;
};

}  // namespace

int Command::Build(const libmaps::MapSpec& spec) {
  std::string spec_text = spec.type + ":" + spec.name;
  // postmap reads the source before it looks at the type; with -i there is
  // no source file to read.
  auto check_type = [&]() -> int {
    absl::Status buildable = libmaps::CheckBuildable(spec_text);
    return buildable.ok() ? 0 : Fatal(std::string(buildable.message()));
  };
  // proxy: is refused before the source is read, as postmap refuses it.
  if (incremental_ || spec.type == "proxy") {
    if (int status = check_type(); status != 0) return status;
  }
  // The source: the file itself, or stdin with -i.
  std::string text;
  SourceText source;
  struct stat st;
  const struct stat* source_stat = nullptr;
  std::string source_path = incremental_ ? "stdin" : spec.name;
  if (incremental_) {
    if (::fstat(0, &st) == 0) source_stat = &st;
    // A read error (the stream's buffer throws, or sets badbit) ends the
    // command before anything is written.
    try {
      text.assign(std::istreambuf_iterator<char>(in_), {});
    } catch (const std::ios_base::failure&) {
      return Fatal(StdinError());
    }
    if (in_.bad()) return Fatal(StdinError());
  } else {
    int fd = ::open(spec.name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fstat(fd, &st) < 0) {
      int e = errno;
      if (fd >= 0) ::close(fd);
      return Fatal("open " + spec.name + ": " + std::strerror(e));
    }
    source_stat = &st;
    int e = source.Read(fd, st);
    ::close(fd);
    if (e != 0) return Fatal("read " + spec.name + ": " + std::strerror(e));
    if (int status = check_type(); status != 0) return status;
  }
  libmaps::BuildOptions options = MakeBuildOptions(source_stat);
  EffectiveIds ids(source_stat, keep_root_);
  // postmap -v's line for the table it opens ("open hash smtp_pass").
  Verbose("open " + spec.type + " " + spec.name);
  if (incremental_) {
    auto updater = libmaps::OpenMapUpdater(spec_text, options, /*create=*/true);
    if (!updater.ok()) return Fatal(std::string(updater.status().message()));
    auto add = [&](std::string_view k, std::string_view v) { return (*updater)->Add(k, v); };
    absl::Status s = alias_ ? libmaps::AddAliasSource(text, source_path, options, add)
                            : libmaps::AddSource(text, source_path, files_, options, add);
    if (s.ok() && alias_) s = AddAliasBookkeeping(**updater, options);
    if (s.ok()) s = (*updater)->Commit();
    if (!s.ok()) return Fatal(std::string(s.message()));
    return 0;
  }
  auto builder = libmaps::NewMapBuilder(spec_text, options);
  if (!builder.ok()) return Fatal(std::string(builder.status().message()));
  // The builder keeps its own copy of every record, so the source is given
  // back as the parse moves through it and is gone before the table is
  // written: a large build never holds both whole.
  absl::Status s;
  if (alias_) {
    // Names and values are new strings: the source is released as a whole.
    s = libmaps::AddAliasSource(
        source.view(), source_path, options,
        [&](std::string_view k, std::string_view v) { return (*builder)->Add(k, v); });
    if (s.ok() && !source.shrank()) s = AddAliasBookkeeping(**builder, options);
  } else {
    s = libmaps::AddSource(
        source.view(), source_path, files_, options,
        [&](std::string_view k, std::string_view v) {
          source.ReleaseBefore(k.data());
          return (*builder)->Add(k, v);
        });
  }
  const bool shrank = source.shrank();
  source.Clear();
  if (s.ok() && shrank) {
    return Fatal("read " + spec.name + ": the file shrank while it was read");
  }
  if (s.ok()) s = (*builder)->Commit();
  if (!s.ok()) return Fatal(std::string(s.message()));
  return 0;
}

// postalias's records after the source's: "@" -> "@" (Sendmail's sign of
// a complete table), then YP_LAST_MODIFIED (the time, ten digits) and
// YP_MASTER_NAME ($myhostname) for NIS, stored in capitals and without a
// trailing NUL whatever the table's style. postalias -i replaces all three.
template <typename Table>
absl::Status Command::AddAliasBookkeeping(Table& table, const libmaps::BuildOptions& options) {
  libmaps::RecordOptions record = libmaps::RecordOptionsOf(options);
  if (incremental_) record.duplicates = libmaps::DuplicatePolicy::kReplace;
  if (absl::Status s = table.AddWith("@", "@", record); !s.ok()) return s;
  record.fold_case = false;
  record.nul = libmaps::NulPolicy::kWithout;
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%010ld", static_cast<long>(::time(nullptr)));
  if (absl::Status s = table.AddWith("YP_LAST_MODIFIED", stamp, record); !s.ok()) return s;
  return table.AddWith("YP_MASTER_NAME", MyHostname(config_), record);
}

int Command::Delete() {
  std::vector<std::unique_ptr<libmaps::MapUpdater>> updaters;
  libmaps::BuildOptions options = MakeBuildOptions(nullptr);
  for (const std::string& operand : operands_) {
    absl::StatusOr<libmaps::MapSpec> spec =
        libmaps::ParseMapSpec(operand, config_.default_database_type);
    if (!spec.ok()) return Fatal(std::string(spec.status().message()));
    auto updater =
        libmaps::OpenMapUpdater(spec->type + ":" + spec->name, options, false);
    if (!updater.ok()) {
      // postmap -d on a missing lmdb table creates an empty one and finds
      // nothing; cmap finds nothing without creating it.
      if (spec->type == "lmdb" && absl::IsNotFound(updater.status())) continue;
      return Fatal(std::string(updater.status().message()));
    }
    updaters.push_back(*std::move(updater));
  }
  bool deleted_any = false;
  auto delete_key = [&](std::string_view key) -> int {
    for (auto& updater : updaters) {
      absl::StatusOr<bool> deleted = updater->Delete(key);
      if (!deleted.ok()) return Fatal(std::string(deleted.status().message()));
      deleted_any |= *deleted;
    }
    return 0;
  };
  if (*delete_key_ == "-") {
    std::string key;
    while (ReadKeyLine(in_, &key)) {
      if (int status = delete_key(key); status != 0) return status;
    }
    // A read error is not the end of the input: commit nothing.
    if (in_.bad()) return Fatal(StdinError());
  } else if (int status = delete_key(*delete_key_); status != 0) {
    return status;
  }
  for (auto& updater : updaters) {
    if (absl::Status s = updater->Commit(); !s.ok()) {
      return Fatal(std::string(s.message()));
    }
  }
  return deleted_any ? 0 : 1;
}

}  // namespace

// cmap --convert [-c config_dir] [-o] [-v] TYPE:NAME NEW_TYPE
//
// Rewrites a table as another type from the table itself, not from its
// source (which may be lost: a .db left from before an upgrade that drops
// Berkeley DB). Every record is copied exactly as stored: keys are not
// folded again (a table built with -f keeps its case) and bytes are not
// checked as UTF-8 (a table built with -u keeps its bytes); each key and
// value gets Postfix's trailing NUL, which every Postfix reader accepts.
// The new table is built atomically, with the old table's owner (run as
// root: as -o is not given, it is created as that owner) and read
// permissions, so a 0600 password table stays 0600.
int Command::Convert() {
  if (operands_.size() != 2) {
    err_ << UsageLine(Mode::kConvert) << "\nTry 'cmap --help' for more information.\n";
    return kCommandUsageStatus;
  }
  int status = 0;
  libmaps::Map* from = MapAt(0, &status);
  if (from == nullptr) return status;
  const std::string& to_type = operands_[1];
  const libmaps::TableTypeInfo* to_info = libmaps::FindTableType(to_type);
  if (to_info == nullptr || !to_info->can_build || to_info->suffix.empty()) {
    return Fatal("cannot convert to \"" + to_type + "\": cmap converts to " +
                 ConvertTargets());
  }
  const libmaps::TableTypeInfo* from_info = libmaps::FindTableType(from->type());
  if (from_info == nullptr || !from_info->can_list || !from_info->has_file) {
    return Fatal("cannot convert " + from->type() + ":" + from->name() +
                 ": its records cannot be listed");
  }
  if (to_type == from->type()) {
    return Fatal("table " + from->type() + ":" + from->name() + " is already of type " +
                 to_type);
  }
  const std::string from_file = from->name() + std::string(from_info->suffix);
  struct stat st;
  if (::stat(from_file.c_str(), &st) != 0) {
    return Fatal("stat " + from_file + ": " + std::strerror(errno));
  }
  libmaps::BuildOptions options = MakeBuildOptions(&st);
  options.fold_case = false;  // keys as stored
  options.utf8 = false;       // bytes as stored
  options.duplicates = libmaps::DuplicatePolicy::kWarn;
  options.nul = libmaps::NulPolicy::kProbe;
  options.replace_other_bdb_type = true;  // hash: <-> btree: share NAME.db
  EffectiveIds ids(&st, keep_root_);
  const std::string to_spec = to_type + ":" + from->name();
  auto builder = libmaps::NewMapBuilder(to_spec, options);
  if (!builder.ok()) return Fatal(std::string(builder.status().message()));
  size_t records = 0;
  absl::Status add_status;
  absl::Status s = from->ForEach([&](std::string_view key, std::string_view value) {
    add_status = (*builder)->Add(key, value);
    ++records;
    return add_status.ok();
  });
  if (s.ok()) s = add_status;
  if (s.ok()) s = (*builder)->Commit();
  if (!s.ok()) return Fatal(std::string(s.message()));
  out_ << kProgram << ": converted " << from->type() << ":" << Printable(from->name()) << " ("
       << records << (records == 1 ? " record" : " records") << ") to " << Printable(to_spec)
       << "; main.cf must now name it " << Printable(to_spec) << "\n";
  return 0;
}

int RunCmapUnguarded(const std::vector<std::string>& args, std::istream& in,
                     std::ostream& out, std::ostream& err) {
  int status = 0;
  std::optional<CommandLine> cl = ParseCommandLine(args, err, &status);
  if (!cl) return status;
  switch (cl->mode) {
    case Mode::kHelp:
      PrintHelp(out);
      return 0;
    case Mode::kVersion:
      out << "cmap (libmaps) " << LIBMAPS_TOOL_VERSION << "\n";
      return 0;
    case Mode::kCheckSasl:
      return RunCheckSasl(*cl, out, err);
    case Mode::kMigrate: {
      MigrateOptions o;
      o.apply = cl->apply;
      o.all_lmdb = cl->all_lmdb;
      o.convert_caches = cl->convert_caches;
      o.rollback = cl->rollback;
      o.config_dir = libmaps::DefaultConfigDir();
      for (const auto& [c, value] : cl->options) {
        if (c == 'c') o.config_dir = value;
        if (c == 'v') ++o.verbose;
      }
      if (!cl->operands.empty() || (!o.rollback.empty() && (o.apply || o.all_lmdb))) {
        err << UsageLine(Mode::kMigrate) << "\nTry 'cmap --help' for more information.\n";
        return kCommandUsageStatus;
      }
      return RunMigrate(o, out, err);
    }
    default:
      break;
  }
  Command command(in, out, err);
  return command.Run(*cl);
}

int RunCmap(const std::vector<std::string>& args, std::istream& in,
            std::ostream& out, std::ostream& err) {
  // The last resort: no exception ends cmap in an abort (and a core file
  // that could hold a source's passwords). Builders write a temporary file
  // and replace the table only when it is complete, and updaters change it
  // only at Commit(), so the old table is whole here; a build's temporary
  // file is removed by the next build.
  try {
    return RunCmapUnguarded(args, in, out, err);
  } catch (const std::bad_alloc&) {
    const std::string text = libmaps::Printable(Activity(), true) + ": out of memory";
    err << kProgram << ": fatal: " << text << "\n";
    LogTrail::Get().Write(LogLevel::kFatal, text);
  } catch (const std::exception& e) {
    const std::string text =
        libmaps::Printable(Activity(), true) + ": " + libmaps::Printable(e.what(), true);
    err << kProgram << ": fatal: " << text << "\n";
    LogTrail::Get().Write(LogLevel::kFatal, text);
  }
  return 1;
}

}  // namespace cmap
