#include "backends/hash_builder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "file_util.h"
#include "format/bdb_btree_editor.h"
#include "format/bdb_btree_writer.h"
#include "format/bdb_editor.h"
#include "format/bdb_hash_editor.h"
#include "format/bdb_hash_reader.h"
#include "format/bdb_hash_writer.h"
#include "libmaps/text.h"
#include "lookup_key.h"
#include "mapped_file.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

// A writer that keeps replacing the file faster than we can lock it.
constexpr int kLockAttempts = 100;

std::mutex settings_mu;
HashWriteSettings testing_settings;  // guarded by settings_mu

HashWriteSettings DefaultSettings() {
  std::lock_guard<std::mutex> guard(settings_mu);
  return testing_settings;
}

std::string ErrnoText(int err) { return std::strerror(err); }

absl::Status OpenError(const std::string& path, int err) {
  std::string message = absl::StrCat("open database ", path, ": ", ErrnoText(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM || err == EROFS) {
    return absl::PermissionDeniedError(message);
  }
  return absl::UnavailableError(message);
}

bool IsZeroLengthFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
}

void Warn(const BuildOptions& o, std::string_view message) {
  if (o.diagnostics) o.diagnostics(Severity::kWarning, message);
}

// A table file opened for changes by this process. Postfix's writer lock is
// flock(), and two descriptors of one process conflict under flock, so all
// updaters of one file in a process (postmap -d KEY hash:x hash:x, or two
// names of one file) share one lock and one editor; the last of them to
// commit writes the changes.
struct OpenTable {
  dev_t dev = 0;
  ino_t ino = 0;
  UniqueFd lock;  // flock(LOCK_EX) on the table file, and the file
  std::unique_ptr<BdbEditor> editor;
  int uncommitted = 0;  // updaters that have not committed yet
};

std::mutex tables_mu;
std::vector<std::weak_ptr<OpenTable>> open_tables;  // guarded by tables_mu

std::shared_ptr<OpenTable> FindOpenTable(dev_t dev, ino_t ino) {
  std::lock_guard<std::mutex> guard(tables_mu);
  std::erase_if(open_tables, [](const auto& w) { return w.expired(); });
  for (const auto& w : open_tables) {
    std::shared_ptr<OpenTable> t = w.lock();
    if (t && t->dev == dev && t->ino == ino) return t;
  }
  return nullptr;
}

void RegisterOpenTable(const std::shared_ptr<OpenTable>& table) {
  std::lock_guard<std::mutex> guard(tables_mu);
  open_tables.push_back(table);
}

// Opens `path` and takes flock(LOCK_EX) on it, Postfix's writer lock. Another
// writer may rename a new file over `path` while we wait for the lock; then
// the file we hold is not the table any more, and we lock the new one. An
// invalid descriptor means that there is no file. `display` names the table
// in messages.
absl::StatusOr<UniqueFd> LockTableFile(const std::string& path,
                                       const std::string& display) {
  for (int attempt = 0; attempt < kLockAttempts; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return UniqueFd();
      return OpenError(display, errno);
    }
    struct stat locked, now;
    if (::fstat(fd.get(), &locked) != 0) return OpenError(display, errno);
    if (FindOpenTable(locked.st_dev, locked.st_ino) != nullptr) {
      // Our own updater holds the lock: waiting would never end.
      return absl::FailedPreconditionError(absl::StrCat(
          "database ", display, " is being changed by this process"));
    }
    if (FlockRetry(fd.get(), LOCK_EX) != 0) {
      return absl::UnavailableError(
          absl::StrCat("lock database ", display, ": ", ErrnoText(errno)));
    }
    if (::stat(path.c_str(), &now) == 0 && now.st_dev == locked.st_dev &&
        now.st_ino == locked.st_ino) {
      return fd;
    }
  }
  return absl::UnavailableError(
      absl::StrCat("database ", display, " keeps changing; try again later"));
}

// The writer's options for a new file `st` (its inode and block size) under
// `settings`.
BdbHashWriterOptions WriterOptions(const HashWriteSettings& settings, const struct stat& st) {
  BdbHashWriterOptions wo;
  wo.page_size = settings.page_size != 0
                     ? settings.page_size
                     : BdbPageSizeForBlockSize(static_cast<uint64_t>(st.st_blksize));
  wo.big_endian = settings.big_endian;
  wo.uid = MakeBdbFileUid(st.st_ino, st.st_dev);
  return wo;
}

// Writes the bytes of the file to a descriptor with pwrite(2).
class FdSink final : public BdbFileSink {
 public:
  FdSink(int fd, const std::string& display) : fd_(fd), display_(display) {}
  absl::Status Write(uint64_t offset, std::span<const uint8_t> bytes) override {
    return PwriteAll(fd_, offset, bytes, display_);
  }

 private:
  int fd_;
  const std::string& display_;
};

// What differs between the Berkeley DB types: the file's magic number, how
// a whole file is written and how one is changed in place.
struct BdbFlavor {
  std::string_view type;  // "hash", "btree"
  uint32_t magic;
  // Writes a whole file of `live` (in insertion order; `hashes` are their
  // keys' libdb hashes) and returns a line for the verbose log.
  absl::StatusOr<std::string> (*write)(std::vector<BdbRecord>& live,
                                       std::span<const uint32_t> hashes,
                                       const HashWriteSettings& settings,
                                       const struct stat& st, BdbFileSink& sink);
  absl::StatusOr<std::unique_ptr<BdbEditor>> (*open_editor)(int fd,
                                                           std::string_view display);
};

absl::StatusOr<std::string> WriteHashFile(std::vector<BdbRecord>& live,
                                          std::span<const uint32_t> hashes,
                                          const HashWriteSettings& settings,
                                          const struct stat& st, BdbFileSink& sink) {
  const BdbHashWriterOptions wo = WriterOptions(settings, st);
  absl::StatusOr<BdbHashWriteStats> stats = WriteBdbHash(live, wo, sink, hashes);
  if (!stats.ok()) return stats.status();
  return absl::StrCat(live.size(), " records, ", stats->buckets, " buckets, ", stats->pages,
                      " pages of ", wo.page_size, " bytes (", stats->chained_pages,
                      " chained, ", stats->overflow_pages, " overflow)");
}

absl::StatusOr<std::unique_ptr<BdbEditor>> OpenHashEditor(int fd, std::string_view display) {
  absl::StatusOr<std::unique_ptr<BdbHashEditor>> editor = BdbHashEditor::Open(fd, display);
  if (!editor.ok()) return editor.status();
  return std::unique_ptr<BdbEditor>(*std::move(editor));
}

absl::StatusOr<std::string> WriteBtreeFile(std::vector<BdbRecord>& live,
                                           std::span<const uint32_t> /*hashes*/,
                                           const HashWriteSettings& settings,
                                           const struct stat& st, BdbFileSink& sink) {
  const BdbHashWriterOptions hwo = WriterOptions(settings, st);
  BdbBtreeWriterOptions wo;
  wo.page_size = hwo.page_size;
  wo.big_endian = hwo.big_endian;
  wo.uid = hwo.uid;
  SortBdbRecords(live);
  absl::StatusOr<BdbBtreeWriteStats> stats = WriteBdbBtree(live, wo, sink);
  if (!stats.ok()) return stats.status();
  return absl::StrCat(live.size(), " records, ", stats->levels, " levels, ",
                      stats->leaf_pages, " leaf pages, ", stats->internal_pages,
                      " internal, ", stats->overflow_pages, " overflow, of ", wo.page_size,
                      " bytes");
}

constexpr BdbFlavor kHashFlavor = {"hash", bdb::kHashMagic, &WriteHashFile, &OpenHashEditor};
constexpr BdbFlavor kBtreeFlavor = {"btree", bdb::kBtreeMagic, &WriteBtreeFile,
                                    &BdbBtreeEditor::Open};

// Whether a build may replace `target` (the file behind `display`): it does
// not exist, is empty (postmap removes such a table), or is a Berkeley DB
// file of the flavor's type (of either kind with
// options.replace_other_bdb_type), in either byte order. Anything else (a symbolic link to the
// wrong file, a btree .db, another program's file) is refused with the
// message postmap's readers give, and a line saying why.
absl::Status CheckReplaceable(const std::string& target, const std::string& display,
                              const BuildOptions& options, const BdbFlavor& flavor) {
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) return absl::OkStatus();
  if (S_ISREG(st.st_mode) && st.st_size == 0) return absl::OkStatus();
  bool replaceable = false;
  if (S_ISREG(st.st_mode)) {
    UniqueFd fd(::open(target.c_str(), O_RDONLY | O_CLOEXEC));
    uint8_t head[16];
    if (fd.valid() && ::pread(fd.get(), head, sizeof head, 0) == sizeof head) {
      for (uint32_t magic : {bdb::LoadLe32(head + bdb::kMetaMagic),
                             bdb::LoadBe32(head + bdb::kMetaMagic)}) {
        replaceable = replaceable || magic == flavor.magic ||
                  (options.replace_other_bdb_type &&
                   (magic == bdb::kHashMagic || magic == bdb::kBtreeMagic));
      }
    }
  }
  if (replaceable) return absl::OkStatus();
  if (options.diagnostics) {
    options.diagnostics(Severity::kError,
                        absl::StrCat(display, ": not a Berkeley DB ", ToAbsl(flavor.type),
                                     " file; cmap does not replace it"));
  }
  return absl::DataLossError(absl::StrCat("open database ", display, ": ", ErrnoText(EINVAL)));
}

// Writes `records` as a new file that replaces `target` (the table file,
// symbolic links resolved), renamed into place under the table's writer
// lock. `held_lock`, if valid, is that lock, already taken; otherwise it is
// taken here. `display` is the table's file name for messages.
absl::Status WriteAndReplace(RecordSet& records, const std::string& target,
                             const std::string& display, const BuildOptions& options,
                             const HashWriteSettings& settings, UniqueFd* held_lock,
                             const BdbFlavor& flavor) {
  auto write = [&](int fd, const std::string& tmp) -> absl::Status {
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return absl::UnavailableError(absl::StrCat("stat ", tmp, ": ", ErrnoText(errno)));
    }
    std::vector<BdbRecord> live;
    std::vector<uint32_t> hashes;
    records.Live(&live, &hashes);
    FdSink sink(fd, display);
    absl::StatusOr<std::string> summary = flavor.write(live, hashes, settings, st, sink);
    if (!summary.ok()) {
      if (summary.status().code() == absl::StatusCode::kUnavailable) return summary.status();
      return absl::Status(summary.status().code(),
                          absl::StrCat("write database ", display, ": ",
                                       summary.status().message()));
    }
    if (options.diagnostics) {
      options.diagnostics(Severity::kVerbose,
                          absl::StrCat("database ", display, ": ", *summary));
    }
    return absl::OkStatus();
  };
  auto lock = [&]() -> absl::Status {
    if (held_lock->valid()) return absl::OkStatus();
    absl::StatusOr<UniqueFd> taken = LockTableFile(target, display);
    if (!taken.ok()) return taken.status();
    *held_lock = *std::move(taken);
    return absl::OkStatus();
  };
  return CommitNewFile(target, display, options.new_file_mode,
                       [&](std::string_view w) { Warn(options, w); }, write, lock);
}

// Adds one record under the duplicate policy; returns whether the table
// changed.
absl::StatusOr<bool> AddRecord(RecordSet& records, std::string_view key,
                               std::string_view value, const BuildOptions& options,
                               const RecordOptions& record, const std::string& display,
                               const std::string& table) {
  ProbeKey folded;
  if (!folded.Prepare(key, record.fold_case, options.utf8, options.utf8_messages,
                      options.diagnostics, table)) {
    return false;
  }
  const bool nul = record.nul != NulPolicy::kWithout;
  auto [index, inserted] = records.Insert(folded.without_nul(), value, nul);
  if (inserted) return true;
  std::string message = absl::StrCat(
      display, ": duplicate entry: \"",
      Printable(folded.without_nul(), options.utf8_messages), "\"");
  switch (record.duplicates) {
    case DuplicatePolicy::kReplace:
      records.ReplaceValue(index, value, nul);
      return true;
    case DuplicatePolicy::kIgnore:
      return false;
    case DuplicatePolicy::kWarn:
      Warn(options, message);
      return false;
    case DuplicatePolicy::kFail:
      return absl::InvalidArgumentError(message);
  }
  return false;
}

class BdbBuilder final : public MapBuilder {
 public:
  BdbBuilder(const BdbFlavor& flavor, std::string name, const BuildOptions& options,
             const HashWriteSettings& settings)
      : MapBuilder(std::string(flavor.type), std::move(name)),
        flavor_(flavor),
        options_(options),
        settings_(settings),
        display_(this->name() + ".db"),
        table_(absl::StrCat(ToAbsl(flavor.type), ":", display_)) {}

  absl::Status Add(std::string_view key, std::string_view value) override {
    return AddWith(key, value, record_);
  }
  absl::Status AddWith(std::string_view key, std::string_view value,
                       const RecordOptions& record) override {
    absl::StatusOr<bool> added =
        AddRecord(records_, key, value, options_, record, display_, table_);
    return added.ok() ? absl::OkStatus() : added.status();
  }

  absl::Status Commit() override {
    UniqueFd lock;
    const std::string target = ResolveTarget(display_);
    if (absl::Status s = CheckReplaceable(target, display_, options_, flavor_); !s.ok()) {
      return s;
    }
    return WriteAndReplace(records_, target, display_, options_, settings_, &lock, flavor_);
  }

 private:
  const BdbFlavor& flavor_;
  BuildOptions options_;
  RecordOptions record_ = RecordOptionsOf(options_);
  HashWriteSettings settings_;
  std::string display_;  // NAME.db
  std::string table_;    // TYPE:NAME.db, for messages
  RecordSet records_;
};

class BdbUpdater final : public MapUpdater {
 public:
  BdbUpdater(const BdbFlavor& flavor, std::string name, const BuildOptions& options)
      : MapUpdater(std::string(flavor.type), std::move(name)),
        flavor_(flavor),
        options_(options),
        display_(this->name() + ".db"),
        target_(ResolveTarget(display_)),
        probe_(options.nul) {}

  ~BdbUpdater() override {
    if (table_ && !committed_) --table_->uncommitted;
  }

  // Locks the table and opens it for changes in place. See the header for
  // what `create` changes.
  absl::Status Open(bool create) {
    for (int attempt = 0; attempt < kLockAttempts; ++attempt) {
      UniqueFd fd(::open(target_.c_str(), O_RDWR | O_CLOEXEC));
      if (!fd.valid()) {
        if (errno != ENOENT) return OpenError(display_, errno);
        if (!create) return OpenError(display_, ENOENT);
        // A new empty table, put in place with link(2), which never
        // replaces a table another writer made meanwhile.
        absl::StatusOr<UniqueFd> made = CreateEmpty();
        if (!made.ok()) return made.status();
        if (!made->valid()) continue;  // someone else made it: lock theirs
        fd = *std::move(made);
      } else {
        struct stat locked;
        if (::fstat(fd.get(), &locked) != 0) return OpenError(display_, errno);
        if (std::shared_ptr<OpenTable> shared = FindOpenTable(locked.st_dev, locked.st_ino)) {
          Adopt(std::move(shared));
          return absl::OkStatus();
        }
        if (FlockRetry(fd.get(), LOCK_EX) != 0) {
          return absl::UnavailableError(
              absl::StrCat("lock database ", display_, ": ", ErrnoText(errno)));
        }
      }
      // Another writer may have renamed a new file over this one while we
      // waited for the lock (a rebuild does).
      struct stat locked, now;
      if (::fstat(fd.get(), &locked) != 0) return OpenError(display_, errno);
      if (::stat(target_.c_str(), &now) != 0 || now.st_dev != locked.st_dev ||
          now.st_ino != locked.st_ino) {
        continue;
      }
      auto table = std::make_shared<OpenTable>();
      table->dev = locked.st_dev;
      table->ino = locked.st_ino;
      table->lock = std::move(fd);
      if (absl::Status s = Load(*table, locked, create); !s.ok()) return s;
      RegisterOpenTable(table);
      Adopt(std::move(table));
      return absl::OkStatus();
    }
    return absl::UnavailableError(
        absl::StrCat("database ", display_, " keeps changing; try again later"));
  }

  absl::Status Add(std::string_view key, std::string_view value) override {
    return AddWith(key, value, RecordOptionsOf(options_));
  }
  absl::Status AddWith(std::string_view key, std::string_view value,
                       const RecordOptions& record) override {
    ProbeKey folded;
    if (!folded.Prepare(key, record.fold_case, options_.utf8, options_.utf8_messages,
                        options_.diagnostics, table())) {
      return absl::OkStatus();
    }
    const bool nul = record.nul != NulPolicy::kWithout;
    std::string stored_key(folded.without_nul());
    std::string stored_value(value);
    if (nul) {
      stored_key.push_back('\0');
      stored_value.push_back('\0');
    }
    BdbEditor& editor = *table_->editor;
    absl::StatusOr<std::optional<std::string>> old = editor.Find(stored_key);
    if (!old.ok()) return Corrupt(old.status());
    if (old->has_value()) {
      std::string message = absl::StrCat(
          display_, ": duplicate entry: \"",
          Printable(folded.without_nul(), options_.utf8_messages), "\"");
      switch (record.duplicates) {
        case DuplicatePolicy::kReplace:
          break;
        case DuplicatePolicy::kIgnore:
          return absl::OkStatus();
        case DuplicatePolicy::kWarn:
          Warn(options_, message);
          return absl::OkStatus();
        case DuplicatePolicy::kFail:
          return absl::InvalidArgumentError(message);
      }
      if (**old == stored_value) return absl::OkStatus();
    }
    return Corrupt(editor.Put(stored_key, stored_value));
  }

  absl::StatusOr<bool> Delete(std::string_view key) override {
    std::optional<std::string> folded =
        PrepareKey(key, options_.fold_case, options_.utf8, options_.utf8_messages,
                   options_.diagnostics, table());
    if (!folded) return false;
    for (bool with_nul : {true, false}) {
      if (with_nul ? !probe_.try_with() : !probe_.try_without()) continue;
      std::string stored = with_nul ? *folded + '\0' : *folded;
      absl::StatusOr<bool> deleted = table_->editor->Delete(stored);
      if (!deleted.ok()) return Corrupt(deleted.status());
      if (*deleted) {
        probe_.Hit(with_nul);
        return true;
      }
    }
    return false;
  }

  absl::Status Commit() override {
    if (committed_) return absl::OkStatus();
    committed_ = true;
    if (--table_->uncommitted > 0) return absl::OkStatus();  // the last one writes
    absl::Status s = absl::OkStatus();
    BdbEditor& editor = *table_->editor;
    if (editor.changed()) {
      s = Corrupt(editor.Commit());
      if (s.ok() && options_.diagnostics) {
        options_.diagnostics(Severity::kVerbose,
                             absl::StrCat("database ", display_, ": ", editor.Summary()));
      }
    }
    table_->lock = UniqueFd();
    return s;
  }

 private:
  std::string table() const { return absl::StrCat(ToAbsl(flavor_.type), ":", display_); }

  void Adopt(std::shared_ptr<OpenTable> table) {
    table_ = std::move(table);
    ++table_->uncommitted;
  }

  // A damaged table met while changing it.
  absl::Status Corrupt(const absl::Status& s) const {
    if (s.code() != absl::StatusCode::kDataLoss) return s;
    return absl::DataLossError(absl::StrCat("database ", display_, " is corrupt: ",
                                            s.message()));
  }

  // Writes an empty table (Postfix's shape, the settings of this process) to
  // the descriptor `fd`.
  absl::Status WriteEmpty(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return OpenError(display_, errno);
    FdSink sink(fd, display_);
    std::vector<BdbRecord> none;
    absl::StatusOr<std::string> written = flavor_.write(none, {}, DefaultSettings(), st, sink);
    if (!written.ok()) return written.status();
    if (::fdatasync(fd) != 0) {
      return absl::UnavailableError(
          absl::StrCat("fsync database ", display_, ": ", ErrnoText(errno)));
    }
    return absl::OkStatus();
  }

  // Makes a new empty table at target_, locked. An invalid descriptor means
  // that another writer made one first.
  absl::StatusOr<UniqueFd> CreateEmpty() {
    UniqueFd fd;  // locked LOCK_EX by CreateTempFileNear
    absl::StatusOr<std::string> tmp = CreateTempFileNear(target_, &fd);
    if (!tmp.ok()) return tmp.status();
    absl::Status s = WriteEmpty(fd.get());
    if (s.ok()) s = MatchTargetModeAndOwner(fd.get(), target_, options_.new_file_mode);
    if (s.ok() && ::link(tmp->c_str(), target_.c_str()) != 0) {
      if (errno == EEXIST) fd = UniqueFd();
      else s = OpenError(display_, errno);
    }
    ::unlink(tmp->c_str());
    if (s.ok() && fd.valid()) s = SyncDirectoryOf(target_);
    if (!s.ok()) return s;
    return fd;
  }

  // Opens the locked file for changes.
  absl::Status Load(OpenTable& table, const struct stat& st, bool create) {
    if (st.st_size == 0) {
      if (!create) {
        return absl::DataLossError(
            absl::StrCat("open database ", display_, ": ", ErrnoText(EINVAL)));
      }
      // postmap removes it and makes a new one; the same file will do.
      Warn(options_, absl::StrCat("removing zero-length database file: ", display_));
      if (absl::Status s = WriteEmpty(table.lock.get()); !s.ok()) return s;
    }
    absl::StatusOr<std::unique_ptr<BdbEditor>> editor =
        flavor_.open_editor(table.lock.get(), display_);
    if (!editor.ok()) {
      const absl::Status& s = editor.status();
      if (s.code() == absl::StatusCode::kInvalidArgument) {
        if (options_.diagnostics) {
          options_.diagnostics(Severity::kError, absl::StrCat(display_, ": ", s.message()));
        }
        return absl::DataLossError(
            absl::StrCat("open database ", display_, ": ", ErrnoText(EINVAL)));
      }
      if (s.code() == absl::StatusCode::kDataLoss) return Corrupt(s);
      return absl::Status(s.code(),
                          absl::StrCat("open database ", display_, ": ", s.message()));
    }
    table.editor = *std::move(editor);
    return absl::OkStatus();
  }

  const BdbFlavor& flavor_;
  BuildOptions options_;
  std::string display_;  // NAME.db
  std::string target_;   // the file behind it
  NulProbe probe_;
  std::shared_ptr<OpenTable> table_;
  bool committed_ = false;
};

}  // namespace

void SetHashWriteSettingsForTesting(const HashWriteSettings& settings) {
  std::lock_guard<std::mutex> guard(settings_mu);
  testing_settings = settings;
}

absl::StatusOr<std::unique_ptr<MapBuilder>> NewHashBuilder(std::string_view name,
                                                           const BuildOptions& options) {
  return NewHashBuilder(name, options, DefaultSettings());
}

namespace {

absl::StatusOr<std::unique_ptr<MapBuilder>> NewBdbBuilder(const BdbFlavor& flavor,
                                                          std::string_view name,
                                                          const BuildOptions& options,
                                                          const HashWriteSettings& settings) {
  auto builder = std::make_unique<BdbBuilder>(flavor, std::string(name), options, settings);
  // postmap removes a zero-length table before it reads the source; the
  // rename at Commit() replaces it here.
  if (IsZeroLengthFile(builder->name() + ".db")) {
    Warn(options, absl::StrCat("removing zero-length database file: ", builder->name(),
                               ".db"));
  }
  return builder;
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenBdbUpdater(const BdbFlavor& flavor,
                                                           std::string_view name,
                                                           const BuildOptions& options,
                                                           bool create) {
  auto updater = std::make_unique<BdbUpdater>(flavor, std::string(name), options);
  if (absl::Status s = updater->Open(create); !s.ok()) return s;
  return updater;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MapBuilder>> NewHashBuilder(
    std::string_view name, const BuildOptions& options,
    const HashWriteSettings& settings) {
  return NewBdbBuilder(kHashFlavor, name, options, settings);
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenHashUpdater(std::string_view name,
                                                            const BuildOptions& options,
                                                            bool create) {
  return OpenBdbUpdater(kHashFlavor, name, options, create);
}

absl::StatusOr<std::unique_ptr<MapBuilder>> NewBtreeBuilder(std::string_view name,
                                                            const BuildOptions& options) {
  return NewBdbBuilder(kBtreeFlavor, name, options, DefaultSettings());
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenBtreeUpdater(std::string_view name,
                                                             const BuildOptions& options,
                                                             bool create) {
  return OpenBdbUpdater(kBtreeFlavor, name, options, create);
}

}  // namespace libmaps::internal
