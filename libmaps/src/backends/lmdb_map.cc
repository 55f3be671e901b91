#include "backends/lmdb_map.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "libmaps/text.h"
#include "lookup_key.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

// LMDB needs this much room beyond the file when reopening (slmdb's rule).
constexpr uint64_t kMapSlack = 10240;
// Map sizes double on MDB_MAP_FULL; stop somewhere sane.
constexpr uint64_t kMaxMapSize = uint64_t{1} << 44;

struct EnvCloser {
  void operator()(MDB_env* env) const { mdb_env_close(env); }
};
using EnvPtr = std::unique_ptr<MDB_env, EnvCloser>;

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view View(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

std::string LmdbError(int rc) { return mdb_strerror(rc); }

// Opens an environment on `path` as Postfix does. `map_size` is raised to
// the file size plus slack when the file is larger.
absl::StatusOr<EnvPtr> OpenEnv(const std::string& path, unsigned flags,
                               uint64_t map_size, mode_t mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 &&
      static_cast<uint64_t>(st.st_size) + kMapSlack > map_size) {
    map_size = static_cast<uint64_t>(st.st_size) + kMapSlack;
  }
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != 0) return absl::ResourceExhaustedError(LmdbError(rc));
  EnvPtr env(raw);
  if ((rc = mdb_env_set_mapsize(raw, map_size)) != 0) {
    return absl::InvalidArgumentError(LmdbError(rc));
  }
  rc = mdb_env_open(raw, path.c_str(), flags | MDB_NOSUBDIR | MDB_NOLOCK, mode);
  if (rc != 0) {
    std::string message = absl::StrCat("open database ", path, ": ",
                                       rc > 0 ? std::strerror(rc) : LmdbError(rc));
    if (rc == ENOENT) return absl::NotFoundError(message);
    if (rc == EACCES || rc == EPERM) return absl::PermissionDeniedError(message);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == EINVAL) {
      return absl::DataLossError(message);
    }
    return absl::UnavailableError(message);
  }
  return env;
}

// liblmdb checks the meta pages' magic and version when it opens a file, and
// trusts the rest: a page size of 0 divides by zero inside mdb_env_open, a
// last page or root beyond the file reads outside the map. These checks run
// first. (LMDB also trusts the B-tree pages themselves, which cannot be
// checked without walking the whole tree; see docs/fuzzing.md.)
absl::Status CheckLmdbFile(const std::string& path) {
  constexpr uint32_t kMagic = 0xBEEFC0DE;
  constexpr uint32_t kVersion = 1;
  constexpr size_t kPageHeader = 16;
  constexpr size_t kMetaSize = 136;
  auto invalid = [&] {
    return absl::DataLossError(absl::StrCat("open database ", path, ": ",
                                            LmdbError(MDB_INVALID)));
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) < 0) return absl::OkStatus();  // LMDB reports it
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  auto read_meta = [&](uint64_t offset, unsigned char* meta) {
    return ::pread(fd.get(), meta, kMetaSize, static_cast<off_t>(offset + kPageHeader)) ==
           static_cast<ssize_t>(kMetaSize);
  };
  auto u32 = [](const unsigned char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  auto u64 = [](const unsigned char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  unsigned char meta[2][kMetaSize];
  if (!read_meta(0, meta[0])) return invalid();
  uint64_t psize = u32(meta[0] + 24);  // the free DB's md_pad holds it
  if (psize < 256 || psize > 65536 || (psize & (psize - 1)) != 0 ||
      file_size < 2 * psize || !read_meta(psize, meta[1])) {
    return invalid();
  }
  for (const unsigned char* m : {meta[0], meta[1]}) {
    // liblmdb takes the page size from whichever meta page is newer and
    // finds the second meta page with it, so both must agree.
    if (u32(m) != kMagic || u32(m + 4) != kVersion || u32(m + 24) != psize) {
      return invalid();
    }
  }
  const unsigned char* m = u64(meta[1] + 128) > u64(meta[0] + 128) ? meta[1] : meta[0];
  uint64_t last_pg = u64(m + 120);
  if (last_pg < 1 || last_pg >= file_size / psize) return invalid();
  for (size_t db = 0; db < 2; ++db) {
    uint64_t root = u64(m + 24 + db * 48 + 40);
    uint16_t depth;
    std::memcpy(&depth, m + 24 + db * 48 + 6, 2);
    if (root != ~uint64_t{0} && (root < 2 || root > last_pg)) return invalid();
    if (depth > 64) return invalid();
  }
  return absl::OkStatus();
}

// Serialises the process's fcntl lock on one file between threads: fcntl
// locks belong to the process, so the first reader in takes F_RDLCK and the
// last one out releases it.
class SharedFileLock {
 public:
  explicit SharedFileLock(int fd) : fd_(fd) {}
  absl::Status Acquire() {
    std::lock_guard<std::mutex> guard(mu_);
    if (holders_++ == 0) {
      absl::Status s = LockWholeFile(fd_, F_RDLCK);
      if (!s.ok()) {
        --holders_;
        return s;
      }
    }
    return absl::OkStatus();
  }
  void Release() {
    std::lock_guard<std::mutex> guard(mu_);
    if (--holders_ == 0) (void)LockWholeFile(fd_, F_UNLCK);
  }

 private:
  int fd_;
  std::mutex mu_;
  int holders_ = 0;
};

class LmdbMap final : public Map {
 public:
  LmdbMap(std::string name, const OpenOptions& options, EnvPtr env,
          MDB_dbi dbi, int fd)
      : Map("lmdb", std::move(name)),
        options_(options),
        env_(std::move(env)),
        dbi_(dbi),
        lock_(fd),
        probe_(options.nul) {}

  absl::StatusOr<std::optional<std::string>> Lookup(
      std::string_view key) const override {
    std::optional<std::string> folded =
        PrepareLookupKey(key, options_, "lmdb:" + name());
    if (!folded) return std::nullopt;
    std::optional<std::string> result;
    absl::Status s = WithReadTxn([&](MDB_txn* txn) -> absl::Status {
      // Postfix's order: key+NUL first, then the bare key.
      for (bool with_nul : {true, false}) {
        if (with_nul ? !probe_.try_with() : !probe_.try_without()) continue;
        std::string probe = with_nul ? *folded + '\0' : *folded;
        MDB_val k = Val(probe), v;
        int rc = mdb_get(txn, dbi_, &k, &v);
        if (rc == MDB_NOTFOUND) continue;
        if (rc != 0) return ReadError(rc);
        probe_.Hit(with_nul);
        result = std::string(AsCString(View(v)));
        break;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return result;
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>&
                           fn) const override {
    return WithReadTxn([&](MDB_txn* txn) -> absl::Status {
      MDB_cursor* cursor = nullptr;
      int rc = mdb_cursor_open(txn, dbi_, &cursor);
      if (rc != 0) return ReadError(rc);
      MDB_val k, v;
      for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        if (!fn(AsCString(View(k)), AsCString(View(v)))) break;
      }
      mdb_cursor_close(cursor);
      if (rc != 0 && rc != MDB_NOTFOUND) return ReadError(rc);
      return absl::OkStatus();
    });
  }

 private:
  absl::Status ReadError(int rc) const {
    return absl::UnavailableError(
        absl::StrCat("error reading lmdb:", name(), ": ", LmdbError(rc)));
  }

  // Runs `fn` in a read transaction under the file's shared lock, adopting a
  // map that another process grew (MDB_MAP_RESIZED).
  template <typename F>
  absl::Status WithReadTxn(F&& fn) const {
    if (absl::Status s = lock_.Acquire(); !s.ok()) return s;
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(env_.get(), 0);
      rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &txn);
    }
    absl::Status s = rc == 0 ? fn(txn) : ReadError(rc);
    if (txn != nullptr) mdb_txn_abort(txn);
    lock_.Release();
    return s;
  }

  OpenOptions options_;
  EnvPtr env_;
  MDB_dbi dbi_;
  mutable SharedFileLock lock_;
  mutable NulProbe probe_;
};

// The bytes stored for a key or value under `nul`.
std::string Stored(std::string_view s, NulPolicy nul) {
  std::string out(s);
  if (nul != NulPolicy::kWithout) out.push_back('\0');
  return out;
}

// Folds a key for storage; std::nullopt after a warning when it is not valid
// UTF-8 in UTF-8 mode (Postfix's update-side check).
std::optional<std::string> FoldForStore(std::string_view key, const BuildOptions& o,
                                        std::string_view table) {
  return PrepareKey(key, o.fold_case, o.utf8, o.utf8_messages, o.diagnostics, table);
}

absl::Status CheckKeySize(std::string_view stored_key) {
  // MDB_MAXKEYSIZE of Debian's liblmdb; mdb_env_get_maxkeysize() says the
  // same, but needs an environment.
  constexpr size_t kMaxKey = 511;
  if (stored_key.empty()) return absl::InvalidArgumentError("empty key");
  if (stored_key.size() > kMaxKey) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key is ", stored_key.size(), " bytes", 
        stored_key.back() == '\0' ? " with its trailing NUL" : "",
        "; lmdb keys hold at most ", kMaxKey, " bytes"));
  }
  return absl::OkStatus();
}

void Warn(const BuildOptions& o, std::string message) {
  if (o.diagnostics) o.diagnostics(Severity::kWarning, message);
}

class LmdbBuilder final : public MapBuilder {
 public:
  LmdbBuilder(std::string name, const BuildOptions& options)
      : MapBuilder("lmdb", std::move(name)), options_(options) {}

  absl::Status Add(std::string_view key, std::string_view value) override {
    std::string table = "lmdb:" + name();
    std::optional<std::string> folded = FoldForStore(key, options_, table);
    if (!folded) return absl::OkStatus();
    std::string stored_key = Stored(*folded, options_.nul);
    if (absl::Status s = CheckKeySize(stored_key); !s.ok()) return s;
    auto [it, inserted] = index_.try_emplace(stored_key, records_.size());
    if (inserted) {
      records_.emplace_back(std::move(stored_key), Stored(value, options_.nul));
      return absl::OkStatus();
    }
    switch (options_.duplicates) {
      case DuplicatePolicy::kReplace:
        records_[it->second].second = Stored(value, options_.nul);
        break;
      case DuplicatePolicy::kIgnore:
        break;
      case DuplicatePolicy::kWarn:
        Warn(options_, absl::StrCat(table, ": duplicate entry: \"",
                                    Printable(*folded, options_.utf8_messages), "\""));
        break;
      case DuplicatePolicy::kFail:
        return absl::InvalidArgumentError(absl::StrCat(
            table, ": duplicate entry: \"",
            Printable(*folded, options_.utf8_messages), "\""));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    std::string target = ResolveTarget(name() + ".lmdb");
    // Sorted records go in with MDB_APPEND: dense pages, no page splits.
    std::vector<const std::pair<std::string, std::string>*> order;
    order.reserve(records_.size());
    for (const auto& r : records_) order.push_back(&r);
    std::sort(order.begin(), order.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });

    UniqueFd tmp_fd;
    absl::StatusOr<std::string> tmp = CreateTempFileNear(target, &tmp_fd);
    if (!tmp.ok()) return tmp.status();
    absl::Status s = WriteAll(*tmp, order);
    if (s.ok()) s = MatchTargetModeAndOwner(tmp_fd.get(), target, options_.new_file_mode);
    if (s.ok()) s = SyncFile(tmp_fd.get(), *tmp);
    if (s.ok()) {
      // The exclusive moment Postfix's own bulk writer has: no reader is
      // inside a lookup and no writer is inside a change when we replace.
      UniqueFd old(::open(target.c_str(), O_RDWR | O_CLOEXEC));
      if (old.valid()) s = LockWholeFile(old.get(), F_WRLCK);
      if (s.ok()) s = ReplaceFile(*tmp, target);
    }
    if (!s.ok()) ::unlink(tmp->c_str());
    return s;
  }

 private:
  absl::Status WriteAll(
      const std::string& path,
      const std::vector<const std::pair<std::string, std::string>*>& order) {
    uint64_t map_size = std::max<uint64_t>(options_.lmdb_map_size, kMapSlack);
    for (;;) {
      if (::truncate(path.c_str(), 0) < 0) {
        return absl::UnavailableError(
            absl::StrCat("truncate ", path, ": ", std::strerror(errno)));
      }
      absl::StatusOr<EnvPtr> env = OpenEnv(path, 0, map_size, 0600);
      if (!env.ok()) return env.status();
      int rc = WriteTxn(env->get(), order);
      if (rc == 0) rc = mdb_env_sync(env->get(), 1);
      if (rc == MDB_MAP_FULL && map_size < kMaxMapSize) {
        map_size *= 2;
        if (options_.diagnostics) {
          options_.diagnostics(Severity::kVerbose,
                               absl::StrCat("database lmdb:", name(),
                                            ": using size limit ", map_size,
                                            " after MDB_MAP_FULL"));
        }
        continue;
      }
      if (rc != 0) {
        return absl::UnavailableError(
            absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
      }
      return absl::OkStatus();
    }
  }

  int WriteTxn(MDB_env* env,
               const std::vector<const std::pair<std::string, std::string>*>& order) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc != 0) return rc;
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
    for (size_t i = 0; rc == 0 && i < order.size(); ++i) {
      MDB_val k = Val(order[i]->first), v = Val(order[i]->second);
      rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc != 0) {
      mdb_txn_abort(txn);
      return rc;
    }
    return mdb_txn_commit(txn);
  }

  BuildOptions options_;
  std::vector<std::pair<std::string, std::string>> records_;
  absl::flat_hash_map<std::string, size_t> index_;
};

class LmdbUpdater final : public MapUpdater {
 public:
  LmdbUpdater(std::string name, const BuildOptions& options, UniqueFd lock_fd)
      : MapUpdater("lmdb", std::move(name)),
        options_(options),
        lock_fd_(std::move(lock_fd)),
        probe_(options.nul) {}

  ~LmdbUpdater() override {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    env_.reset();
    if (lock_fd_.valid()) (void)LockWholeFile(lock_fd_.get(), F_UNLCK);
  }

  absl::Status Open(uint64_t map_size) {
    map_size_ = map_size;
    absl::StatusOr<EnvPtr> env =
        OpenEnv(name() + ".lmdb", 0, map_size_, options_.new_file_mode);
    if (!env.ok()) return env.status();
    env_ = *std::move(env);
    return Begin();
  }

  absl::Status Add(std::string_view key, std::string_view value) override {
    std::string table = "lmdb:" + name();
    std::optional<std::string> folded = FoldForStore(key, options_, table);
    if (!folded) return absl::OkStatus();
    std::string stored_key = Stored(*folded, options_.nul);
    if (absl::Status s = CheckKeySize(stored_key); !s.ok()) return s;
    Op op{stored_key, Stored(value, options_.nul), false, std::string(*folded)};
    ops_.push_back(op);
    return Apply(ops_.back(), /*report=*/true);
  }

  absl::StatusOr<bool> Delete(std::string_view key) override {
    std::optional<std::string> folded =
        PrepareKey(key, options_.fold_case, options_.utf8, options_.utf8_messages,
                   options_.diagnostics, "lmdb:" + name());
    // Postfix's UTF-8 layer answers a non-UTF-8 key with a warning and
    // "success", so postmap -d counts it as a deletion (exit 0).
    if (!folded) return true;
    for (bool with_nul : {true, false}) {
      if (with_nul ? !probe_.try_with() : !probe_.try_without()) continue;
      std::string stored = with_nul ? *folded + '\0' : *folded;
      MDB_val k = Val(stored);
      int rc = mdb_del(txn_, dbi_, &k, nullptr);
      if (rc == 0) {
        probe_.Hit(with_nul);
        ops_.push_back(Op{stored, "", true, *folded});
        return true;
      }
      if (rc != MDB_NOTFOUND) {
        return absl::UnavailableError(absl::StrCat(
            "error deleting from lmdb:", name(), ": ", LmdbError(rc)));
      }
    }
    return false;
  }

  absl::Status Commit() override {
    for (;;) {
      int rc = mdb_txn_commit(txn_);
      txn_ = nullptr;
      if (rc == MDB_MAP_FULL) {
        if (absl::Status s = Grow(); !s.ok()) return s;
        continue;
      }
      if (rc != 0) {
        return absl::UnavailableError(
            absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
      }
      rc = mdb_env_sync(env_.get(), 1);
      if (rc != 0) {
        return absl::UnavailableError(
            absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
      }
      return absl::OkStatus();
    }
  }

 private:
  struct Op {
    std::string key;
    std::string value;
    bool is_delete;
    std::string folded;  // for messages
  };

  absl::Status Begin() {
    int rc = mdb_txn_begin(env_.get(), nullptr, 0, &txn_);
    if (rc == 0) rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
    if (rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
    }
    return absl::OkStatus();
  }

  // Doubles the map and replays every change in a fresh transaction.
  absl::Status Grow() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
    map_size_ *= 2;
    if (map_size_ > kMaxMapSize) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "error updating lmdb:", name(), ": ", LmdbError(MDB_MAP_FULL)));
    }
    int rc = mdb_env_set_mapsize(env_.get(), map_size_);
    if (rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
    }
    if (absl::Status s = Begin(); !s.ok()) return s;
    for (const Op& op : ops_) {
      if (op.is_delete) {
        MDB_val k = Val(op.key);
        int drc = mdb_del(txn_, dbi_, &k, nullptr);
        if (drc != 0 && drc != MDB_NOTFOUND) return UpdateError(drc);
        continue;
      }
      if (absl::Status s = Apply(op, /*report=*/false); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status UpdateError(int rc) {
    return absl::UnavailableError(
        absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
  }

  absl::Status Apply(const Op& op, bool report) {
    for (;;) {
      MDB_val k = Val(op.key), v = Val(op.value);
      unsigned flags =
          options_.duplicates == DuplicatePolicy::kReplace ? 0 : MDB_NOOVERWRITE;
      int rc = mdb_put(txn_, dbi_, &k, &v, flags);
      if (rc == 0) return absl::OkStatus();
      if (rc == MDB_KEYEXIST) {
        if (report && options_.duplicates == DuplicatePolicy::kWarn) {
          Warn(options_, absl::StrCat("lmdb:", name(), ": duplicate entry: \"",
                                      Printable(op.folded, options_.utf8_messages),
                                      "\""));
        } else if (options_.duplicates == DuplicatePolicy::kFail) {
          return absl::InvalidArgumentError(
              absl::StrCat("lmdb:", name(), ": duplicate entry: \"",
                           Printable(op.folded, options_.utf8_messages), "\""));
        }
        return absl::OkStatus();
      }
      if (rc == MDB_MAP_FULL && report) {
        // Grow() replays every op, this one included.
        return Grow();
      }
      return UpdateError(rc);
    }
  }

  BuildOptions options_;
  UniqueFd lock_fd_;
  NulProbe probe_;
  EnvPtr env_;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  uint64_t map_size_ = 0;
  std::vector<Op> ops_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> OpenLmdbMap(std::string_view name,
                                                 const OpenOptions& options) {
  std::string path = std::string(name) + ".lmdb";
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) {
    std::string message =
        absl::StrCat("open database ", path, ": ", std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(message)
                           : absl::UnavailableError(message);
  }
  if (st.st_size == 0) {
    // What Postfix reports for a zero-length file.
    return absl::DataLossError(
        absl::StrCat("open database ", path, ": ", std::strerror(EBADF)));
  }
  if (absl::Status s = CheckLmdbFile(path); !s.ok()) return s;
  absl::StatusOr<EnvPtr> env = OpenEnv(path, MDB_RDONLY, 16777216, 0644);
  if (!env.ok()) return env.status();
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  int rc = mdb_txn_begin(env->get(), nullptr, MDB_RDONLY, &txn);
  if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
  if (txn != nullptr) mdb_txn_abort(txn);
  if (rc != 0) {
    return absl::DataLossError(
        absl::StrCat("open database ", path, ": ", LmdbError(rc)));
  }
  int fd = -1;
  if ((rc = mdb_env_get_fd(env->get(), &fd)) != 0) {
    return absl::InternalError(LmdbError(rc));
  }
  return std::make_unique<LmdbMap>(std::string(name), options, *std::move(env),
                                   dbi, fd);
}

absl::StatusOr<std::unique_ptr<MapBuilder>> NewLmdbBuilder(
    std::string_view name, const BuildOptions& options) {
  return std::make_unique<LmdbBuilder>(std::string(name), options);
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenLmdbUpdater(
    std::string_view name, const BuildOptions& options, bool create) {
  std::string path = std::string(name) + ".lmdb";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid() && errno == ENOENT && create) {
    // Created 0600, then given its final mode: never readable by others
    // before its mode is right.
    fd = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.valid() && ::fchmod(fd.get(), options.new_file_mode) < 0) {
      return absl::UnavailableError(
          absl::StrCat("chmod ", path, ": ", std::strerror(errno)));
    }
  }
  if (!fd.valid()) {
    std::string message =
        absl::StrCat("open database ", path, ": ", std::strerror(errno));
    if (errno == ENOENT) return absl::NotFoundError(message);
    if (errno == EACCES || errno == EPERM) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  if (absl::Status s = LockWholeFile(fd.get(), F_WRLCK); !s.ok()) return s;
  struct stat st;
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
    if (absl::Status s = CheckLmdbFile(path); !s.ok()) return s;
  }
  auto updater =
      std::make_unique<LmdbUpdater>(std::string(name), options, std::move(fd));
  if (absl::Status s = updater->Open(options.lmdb_map_size); !s.ok()) return s;
  return updater;
}

}  // namespace libmaps::internal
