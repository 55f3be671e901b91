#include "backends/lmdb_map.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "format/lmdb_reader.h"
#include "libmaps/text.h"
#include "lingering_lock.h"
#include "lookup_key.h"
#include "record_set.h"
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

// Whether what was read in `txn` so far is still what its snapshot holds.
// Postfix opens lmdb: tables with MDB_NOLOCK, so liblmdb keeps no table of
// readers and a write transaction W reuses the pages that transaction W-2
// freed. A page of a reader's snapshot R is freed at the earliest by R+1,
// so it is rewritten at the earliest by R+3, whose pages reach the file
// only after R+2's commit has updated a meta page. Hence: if the last
// commit is still at most R+1 after the reads, they were sound. Postfix's
// readers rely on the shared lock instead, which `postmap -d` and rebuilds
// respect but `postmap -i lmdb:` does not take at all
// (spec/postfix-semantics.md 5.4); a reader racing it could otherwise be
// handed a page of a later transaction: another key's value, or a miss.
// A function call and a few loads from the mapped meta pages, no system
// call.
bool SnapshotIntact(MDB_txn* txn) {
  // The reads being checked come before the meta pages are read again.
  std::atomic_thread_fence(std::memory_order_acquire);
  MDB_envinfo info;
  if (mdb_env_info(mdb_txn_env(txn), &info) != 0) return false;
  return info.me_last_txnid <= mdb_txn_id(txn) + 1;
}

// Where LookupEach copies a value before checking the snapshot and handing
// it on, under the per-lookup policies: a view of the mapped file could be
// overwritten by `postmap -i` while the caller reads it (SnapshotIntact).
// The values may be passwords: the bytes are wiped when the buffer grows
// and when it goes.
class WipedCopy {
 public:
  WipedCopy() = default;
  ~WipedCopy() { Wipe(); }
  WipedCopy(const WipedCopy&) = delete;
  WipedCopy& operator=(const WipedCopy&) = delete;

  std::string_view Set(std::string_view v) {
    if (v.size() > capacity_) {
      Wipe();
      capacity_ = std::max<size_t>(v.size(), 256);
      buf_.reset(new char[capacity_]);
    }
    if (!v.empty()) std::memcpy(buf_.get(), v.data(), v.size());
    used_ = std::max(used_, v.size());
    return {buf_.get(), v.size()};
  }

 private:
  void Wipe() {
    if (used_ > 0) ::explicit_bzero(buf_.get(), used_);
    used_ = 0;
  }
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t used_ = 0;  // bytes ever written since the last wipe
};

// How often one lookup runs again in a fresh snapshot when a writer that
// takes no lock overwrote the one it read, before giving up (kUnavailable).
// Each run takes about a microsecond; `postmap -i` commits once per key,
// each commit with an fdatasync.
constexpr int kMaxRenewals = 100;

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

// An open environment: what a lookup reads.
struct LmdbEnv {
  EnvPtr env;
  MDB_dbi dbi = 0;
  int fd = -1;  // the environment's descriptor of NAME.lmdb (fcntl locks)
  // F_RDLCK (an open file description lock) on `fd`, shared by every thread
  // that reads this environment: the first in takes it, and it lingers
  // after the last one leaves (LingeringLock) unless `linger` was false.
  std::unique_ptr<LingeringLock> lock;
};

// Opens NAME.lmdb for reading, with the checks and errors of OpenLmdbMap.
absl::StatusOr<std::shared_ptr<LmdbEnv>> OpenReadEnv(const std::string& path, bool linger) {
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
  auto result = std::make_shared<LmdbEnv>();
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env->get(), nullptr, MDB_RDONLY, &txn);
  if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &result->dbi);
  if (txn != nullptr) mdb_txn_abort(txn);
  if (rc != 0) {
    return absl::DataLossError(
        absl::StrCat("open database ", path, ": ", LmdbError(rc)));
  }
  if ((rc = mdb_env_get_fd(env->get(), &result->fd)) != 0) {
    return absl::InternalError(LmdbError(rc));
  }
  const int fd = result->fd;
  result->lock = std::make_unique<LingeringLock>(
      [fd, path](bool take) { return LockWholeFile(fd, take ? F_RDLCK : F_UNLCK, path); },
      linger);
  // The reaper's pointer keeps the environment (and its descriptor) alive.
  result->lock->SetSelf(std::shared_ptr<LingeringLock>(result, result->lock.get()));
  result->env = *std::move(env);
  return result;
}

// A read transaction kept between lookups (LockPolicy::kSnapshot), with the
// environment it belongs to.
struct CachedTxn {
  std::shared_ptr<LmdbEnv> env;
  MDB_txn* txn = nullptr;
  uint64_t generation = 0;
  ~CachedTxn() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

class LmdbMap final : public Map {
 public:
  LmdbMap(std::string name, const OpenOptions& options,
          std::shared_ptr<LmdbEnv> env)
      : Map("lmdb", std::move(name)),
        options_(options),
        table_("lmdb:" + this->name()),
        path_(this->name() + ".lmdb"),
        snapshot_policy_(options.lock == LockPolicy::kSnapshot),
        env_(std::move(env)),
        probe_(options.nul) {
    // The file was just opened: the first check for a replacement is due a
    // second from now, not at the first lookup.
    timer_.Checked();
  }

  ~LmdbMap() override {
    for (auto& slot : txn_cache_) delete slot.exchange(nullptr);
    for (auto& slot : idle_txn_) delete slot.exchange(nullptr);
    // Closing lets writers in at once (see LingeringLock::ReleaseNow).
    env_->lock->ReleaseNow();
    if (current_) current_->lock->ReleaseNow();
  }

  absl::StatusOr<std::optional<std::string>> Lookup(
      std::string_view key) const override {
    return LookupByLookupInto(key);
  }

  absl::StatusOr<bool> LookupInto(std::string_view key,
                                  std::string* value) const override {
    ProbeKey probe;
    if (!probe.Prepare(key, options_.fold_case, options_.utf8,
                       options_.utf8_messages, options_.diagnostics, table_)) {
      return false;
    }
    // The value is copied inside the transaction: its view is only valid
    // until the transaction ends.
    std::string_view found_value;
    if (snapshot_policy_) {
      absl::StatusOr<CachedTxn*> cached = TakeTxn();
      if (!cached.ok()) return cached.status();
      absl::StatusOr<bool> found =
          Get((*cached)->txn, (*cached)->env->dbi, probe, &found_value);
      if (found.ok() && *found) value->assign(found_value);
      ReturnTxn(*cached);
      return found;
    }
    absl::StatusOr<bool> found = false;
    absl::Status s = WithReadTxn([&](MDB_txn* txn, MDB_dbi dbi) -> absl::StatusOr<bool> {
      found = Get(txn, dbi, probe, &found_value);
      if (found.ok() && *found) value->assign(found_value);
      return SnapshotIntact(txn);  // else again, in a fresh snapshot
    });
    if (!s.ok()) return s;
    return found;
  }

  // Any number of keys, under either policy: one read transaction for all
  // of them (kPerLookup: under one shared lock; kSnapshot: the thread's
  // cached one), and each value reaches `fn` as a view of the map, never
  // copied into a string (it may be a password: libmaps/sasl_maps.h).
  void LookupEach(std::span<const std::string_view> keys,
                  const LookupEachFn& fn) const override {
    using Result = absl::StatusOr<std::optional<std::string_view>>;
    ProbeKey probe;
    size_t i = 0;
    bool stopped = false;
    HoldBound hold;
    WipedCopy copy;
    // Under kPerLookup, `bounded`: returns after HoldBound::kMaxHoldNs with
    // keys left, so that the lock is let go between two keys; hands `fn` a
    // copy of each value, taken before the snapshot is checked
    // (SnapshotIntact): false when a writer that takes no lock overwrote
    // it, and that key and the rest must be read in a fresh one.
    auto each = [&](MDB_txn* txn, MDB_dbi dbi, bool bounded) -> bool {
      // At least one key per call, however long the lock took to get.
      for (const size_t first = i; i < keys.size(); ++i) {
        if (bounded && i > first && hold.Expired()) return true;
        bool go_on;
        if (!probe.Prepare(keys[i], options_.fold_case, options_.utf8,
                           options_.utf8_messages, options_.diagnostics, table_)) {
          go_on = fn(i, Result(std::nullopt));
        } else {
          std::string_view value;
          absl::StatusOr<bool> found = Get(txn, dbi, probe, &value);
          if (bounded) {
            if (found.ok() && *found) value = copy.Set(value);
            if (!SnapshotIntact(txn)) return false;
          }
          go_on = fn(i, !found.ok() ? Result(found.status())
                        : *found    ? Result(value)
                                    : Result(std::nullopt));
        }
        if (!go_on) {
          stopped = true;
          break;
        }
      }
      return true;
    };
    absl::Status s;
    if (snapshot_policy_) {
      absl::StatusOr<CachedTxn*> cached = TakeTxn();
      if (cached.ok()) {
        each((*cached)->txn, (*cached)->env->dbi, false);
        ReturnTxn(*cached);
      } else {
        s = cached.status();
      }
    } else {
      // One read transaction under one shared lock per HoldBound: writers
      // wait at most that long.
      while (s.ok() && !stopped && i < keys.size()) {
        hold.Start();  // once per lock hold, not per fresh snapshot
        s = WithReadTxn([&](MDB_txn* txn, MDB_dbi dbi) -> absl::StatusOr<bool> {
          return each(txn, dbi, true);
        });
      }
    }
    // A lock or transaction failure: each remaining key fails as Lookup()
    // would.
    for (; !s.ok() && !stopped && i < keys.size(); ++i) {
      if (!fn(i, Result(s))) return;
    }
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>&
                           fn) const override {
    // The file a lookup would read now (a replacement, once seen), in one
    // transaction under its shared lock for the whole walk.
    return WithReadTxn(
        [&](MDB_txn* txn, MDB_dbi dbi) -> absl::StatusOr<bool> { return Walk(txn, dbi, fn); });
  }

 private:
  // Every record in key order, read by LmdbReader (format/lmdb_reader.h),
  // which checks each page it follows: liblmdb's cursor trusts the pages and
  // a damaged file could crash it. Called under the file's shared lock,
  // which keeps Postfix's committing writers out, though not `postmap -i`:
  // `txn` only dates the snapshot for SnapshotIntact. False when a writer
  // overwrote it before the first record reached `fn` (the walk can then
  // start again); an error when after.
  absl::StatusOr<bool> Walk(
      MDB_txn* txn, MDB_dbi dbi,
      const std::function<bool(std::string_view, std::string_view)>& fn) const {
    (void)dbi;
    int fd = -1;
    if (int rc = mdb_env_get_fd(mdb_txn_env(txn), &fd); rc != 0) return ReadError(rc);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return absl::UnavailableError(
          absl::StrCat("error reading lmdb:", name(), ": ", std::strerror(errno)));
    }
    absl::StatusOr<std::unique_ptr<MappedFile>> mapping =
        MappedFile::Map(fd, static_cast<uint64_t>(st.st_size), path_);
    if (!mapping.ok()) return mapping.status();
    absl::StatusOr<LmdbReader> reader = LmdbReader::Open((*mapping)->bytes());
    bool handed = false, overwritten = false;
    absl::Status s = reader.ok() ? reader->ForEach([&](std::string_view k, std::string_view v) {
      if (!SnapshotIntact(txn)) {
        overwritten = true;
        return false;
      }
      handed = true;
      return fn(AsCString(k), AsCString(v));
    })
                                 : reader.status();
    if (overwritten || (handed && !SnapshotIntact(txn))) {
      if (!handed) return false;
      return Overwritten("while it was read");
    }
    if ((*mapping)->faults() != 0) {
      return absl::UnavailableError(absl::StrCat("error reading lmdb:", name(),
                                                 ": the file shrank while it was read"));
    }
    if (!s.ok() && s.code() == absl::StatusCode::kDataLoss) {
      return absl::DataLossError(
          absl::StrCat("database ", path_, " is corrupt: ", s.message()));
    }
    if (!s.ok()) return s;
    return true;
  }

  absl::Status ReadError(int rc) const {
    return absl::UnavailableError(
        absl::StrCat("error reading lmdb:", name(), ": ", LmdbError(rc)));
  }
  // A read given up because `postmap -i` kept overwriting it (SnapshotIntact).
  absl::Status Overwritten(const std::string& when) const {
    return absl::UnavailableError(absl::StrCat(
        "error reading lmdb:", name(), ": a writer that takes no lock changed the table ", when));
  }

  // Postfix's order: key+NUL first, then the bare key.
  absl::StatusOr<bool> Get(MDB_txn* txn, MDB_dbi dbi, const ProbeKey& key,
                           std::string_view* value) const {
    for (bool with_nul : {true, false}) {
      if (with_nul ? !probe_.try_with() : !probe_.try_without()) continue;
      MDB_val k = Val(with_nul ? key.with_nul() : key.without_nul()), v;
      int rc = mdb_get(txn, dbi, &k, &v);
      if (rc == MDB_NOTFOUND) continue;
      if (rc != 0) return ReadError(rc);
      // The first hit settles the style (written once, not on every hit).
      if (probe_.try_with() && probe_.try_without()) probe_.Hit(with_nul);
      *value = AsCString(View(v));
      return true;
    }
    return false;
  }

  // LockPolicy::kPerLookup: runs `fn(txn, dbi)` in a read transaction of
  // the table's current file under that file's shared lock, adopting a map
  // that another process grew (MDB_MAP_RESIZED). The transaction is begun
  // under the lock, so it sees the last commit, and ended before the lock is
  // released. It is not allocated per call: the thread's cache slot keeps
  // one reset transaction (mdb_txn_reset), renewed here (mdb_txn_renew:
  // with Postfix's MDB_NOLOCK, no system call and no allocation). As under
  // kSnapshot, a file replaced by rename is noticed at the next check (at
  // most a second after the last one: Recheck), not by an fstat per lookup;
  // until then the old file, intact, answers. `fn` returns false when a
  // writer that takes no lock overwrote the snapshot it read
  // (SnapshotIntact): it runs again in a fresh one, still under the lock.
  template <typename F>
  absl::Status WithReadTxn(F&& fn) const {
    if (timer_.Due()) {
      if (absl::Status s = Recheck(); !s.ok()) return s;
    }
    const uint64_t generation = generation_.load(std::memory_order_acquire);
    std::unique_ptr<CachedTxn> slot(
        idle_txn_[Slot()].exchange(nullptr, std::memory_order_acquire));
    if (slot == nullptr || slot->generation != generation) {
      slot = std::make_unique<CachedTxn>();
      {
        std::lock_guard<std::mutex> guard(env_mu_);
        slot->env = current_ ? current_ : env_;
      }
      slot->generation = generation;
    }
    LmdbEnv& env = *slot->env;
    if (absl::Status s = env.lock->Acquire(); !s.ok()) return s;
    absl::Status s;
    for (int run = 0;; ++run) {
      int rc = MDB_BAD_TXN;
      if (slot->txn != nullptr) {
        rc = mdb_txn_renew(slot->txn);
        if (rc != 0) {
          mdb_txn_abort(slot->txn);
          slot->txn = nullptr;
        }
      }
      if (slot->txn == nullptr) {
        rc = mdb_txn_begin(env.env.get(), nullptr, MDB_RDONLY, &slot->txn);
        if (rc == MDB_MAP_RESIZED) {
          mdb_env_set_mapsize(env.env.get(), 0);
          rc = mdb_txn_begin(env.env.get(), nullptr, MDB_RDONLY, &slot->txn);
        }
        if (rc != 0) slot->txn = nullptr;
      }
      if (rc != 0) {
        s = ReadError(rc);
        break;
      }
      absl::StatusOr<bool> sound = fn(slot->txn, env.dbi);
      mdb_txn_reset(slot->txn);
      if (!sound.ok() || *sound) {
        s = sound.status();
        break;
      }
      if (run == kMaxRenewals) {
        s = Overwritten(absl::StrCat(kMaxRenewals, " times during one lookup"));
        break;
      }
    }
    env.lock->Release();
    CachedTxn* expected = nullptr;
    if (idle_txn_[Slot()].compare_exchange_strong(expected, slot.get(),
                                                  std::memory_order_release)) {
      slot.release();
    }
    return s;
  }

  // LockPolicy::kSnapshot: a read transaction from this thread's cache slot,
  // or a new one when the slot is empty or from before the last check.
  absl::StatusOr<CachedTxn*> TakeTxn() const {
    if (timer_.Due()) {
      if (absl::Status s = Recheck(); !s.ok()) return s;
    }
    CachedTxn* cached = txn_cache_[Slot()].exchange(nullptr, std::memory_order_acquire);
    const uint64_t generation = generation_.load(std::memory_order_acquire);
    if (cached != nullptr && cached->generation == generation) return cached;
    delete cached;
    auto fresh = std::make_unique<CachedTxn>();
    {
      std::lock_guard<std::mutex> guard(env_mu_);
      fresh->env = current_ ? current_ : env_;
    }
    fresh->generation = generation;
    // The transaction's snapshot is taken under the shared lock, as Postfix
    // takes every snapshot.
    SharedLockHolder lock(*fresh->env);
    if (!lock.status().ok()) return lock.status();
    int rc = mdb_txn_begin(fresh->env->env.get(), nullptr, MDB_RDONLY, &fresh->txn);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(fresh->env->env.get(), 0);
      rc = mdb_txn_begin(fresh->env->env.get(), nullptr, MDB_RDONLY, &fresh->txn);
    }
    if (rc != 0) {
      fresh->txn = nullptr;
      return ReadError(rc);
    }
    return fresh.release();
  }

  void ReturnTxn(CachedTxn* cached) const {
    CachedTxn* expected = nullptr;
    if (!txn_cache_[Slot()].compare_exchange_strong(expected, cached,
                                                    std::memory_order_release)) {
      delete cached;
    }
  }

  // Once a second: is NAME.lmdb still the file we read? A file replaced by
  // rename is opened afresh; either way, transactions are renewed, so they
  // see commits made since.
  absl::Status Recheck() const {
    std::lock_guard<std::mutex> guard(recheck_mu_);
    if (!timer_.Due()) return absl::OkStatus();  // another thread did it
    std::shared_ptr<LmdbEnv> env;
    {
      std::lock_guard<std::mutex> env_guard(env_mu_);
      env = current_ ? current_ : env_;
    }
    struct stat st;
    if (::fstat(env->fd, &st) == 0 && st.st_nlink == 0) {
      absl::StatusOr<std::shared_ptr<LmdbEnv>> fresh = OpenReadEnv(path_, Lingers(options_.lock));
      // If the replacement cannot be opened, the old file is still whole.
      if (fresh.ok()) {
        std::lock_guard<std::mutex> env_guard(env_mu_);
        current_ = *std::move(fresh);
      }
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
    timer_.Checked();
    return absl::OkStatus();
  }

  // A cache slot per thread (threads share slots when there are more than
  // kSlots of them; a slot is taken by exchange, so sharing is safe).
  static size_t Slot() {
    static std::atomic<size_t> next{0};
    thread_local const size_t slot = next.fetch_add(1) % kSlots;
    return slot;
  }

  // Holds an environment's shared lock while it lives.
  class SharedLockHolder {
   public:
    explicit SharedLockHolder(LmdbEnv& env) : env_(env), status_(env.lock->Acquire()) {}
    ~SharedLockHolder() {
      if (status_.ok()) env_.lock->Release();
    }
    const absl::Status& status() const { return status_; }

   private:
    LmdbEnv& env_;
    absl::Status status_;
  };

  static constexpr size_t kSlots = 8;

  OpenOptions options_;
  const std::string table_;  // "lmdb:NAME", for messages
  const std::string path_;   // NAME.lmdb
  const bool snapshot_policy_;
  std::shared_ptr<LmdbEnv> env_;  // the file opened by OpenMap
  mutable NulProbe probe_;
  // LockPolicy::kSnapshot only.
  mutable RecheckTimer timer_;
  mutable std::mutex recheck_mu_;
  mutable std::mutex env_mu_;
  mutable std::shared_ptr<LmdbEnv> current_;  // the file that replaced env_
  mutable std::atomic<uint64_t> generation_{1};
  mutable std::array<std::atomic<CachedTxn*>, kSlots> txn_cache_{};
  // LockPolicy::kPerLookup: reset read transactions, one per slot.
  mutable std::array<std::atomic<CachedTxn*>, kSlots> idle_txn_{};
};

// The bytes stored for a key or value under `nul`.
std::string Stored(std::string_view s, NulPolicy nul) {
  std::string out(s);
  if (nul != NulPolicy::kWithout) out.push_back('\0');
  return out;
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

// One record's place in the sort of a build: the first 16 bytes of its
// stored key as two big-endian numbers (zero-padded), so that most
// comparisons are two integer compares on cache-hot memory.
struct SortEntry {
  uint64_t p0;
  uint64_t p1;
  uint32_t len;
  uint32_t index;
};

SortEntry MakeSortEntry(std::string_view key, uint32_t index) {
  unsigned char buf[16] = {};
  std::memcpy(buf, key.data(), std::min<size_t>(16, key.size()));
  uint64_t p0, p1;
  std::memcpy(&p0, buf, 8);
  std::memcpy(&p1, buf + 8, 8);
  return {__builtin_bswap64(p0), __builtin_bswap64(p1),
          static_cast<uint32_t>(key.size()), index};
}

// Whether a build may replace `target` (the file behind NAME.lmdb, named
// `display` in messages): it does not exist, is empty, or is an lmdb table.
absl::Status CheckReplaceable(const std::string& target, const std::string& display) {
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) return absl::OkStatus();
  if (S_ISREG(st.st_mode) && st.st_size == 0) return absl::OkStatus();
  if (!S_ISREG(st.st_mode) || !CheckLmdbFile(target).ok()) {
    return absl::DataLossError(
        absl::StrCat("open database ", display, ": ", LmdbError(MDB_INVALID)));
  }
  return absl::OkStatus();
}

class LmdbBuilder final : public MapBuilder {
 public:
  LmdbBuilder(std::string name, const BuildOptions& options)
      : MapBuilder("lmdb", std::move(name)),
        options_(options),
        table_("lmdb:" + this->name()) {}

  absl::Status Add(std::string_view key, std::string_view value) override {
    return AddWith(key, value, RecordOptionsOf(options_));
  }
  absl::Status AddWith(std::string_view key, std::string_view value,
                       const RecordOptions& record) override {
    ProbeKey folded;
    if (!folded.Prepare(key, record.fold_case, options_.utf8, options_.utf8_messages,
                        options_.diagnostics, table_)) {
      return absl::OkStatus();
    }
    const bool nul = record.nul != NulPolicy::kWithout;
    if (absl::Status s = CheckKeySize(nul ? folded.with_nul() : folded.without_nul());
        !s.ok()) {
      return s;
    }
    auto [index, inserted] = records_.Insert(folded.without_nul(), value, nul);
    if (inserted) return absl::OkStatus();
    switch (record.duplicates) {
      case DuplicatePolicy::kReplace:
        records_.ReplaceValue(index, value, nul);
        break;
      case DuplicatePolicy::kIgnore:
        break;
      case DuplicatePolicy::kWarn:
        Warn(options_, absl::StrCat(table_, ": duplicate entry: \"",
                                    Printable(folded.without_nul(), options_.utf8_messages),
                                    "\""));
        break;
      case DuplicatePolicy::kFail:
        return absl::InvalidArgumentError(absl::StrCat(
            table_, ": duplicate entry: \"",
            Printable(folded.without_nul(), options_.utf8_messages), "\""));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    std::string target = ResolveTarget(name() + ".lmdb");
    // Never replace a file that is not an lmdb table (a symbolic link to the
    // wrong file, a file of another program): postmap refuses it too.
    if (absl::Status s = CheckReplaceable(target, name() + ".lmdb"); !s.ok()) return s;
    records_.DropIndex();
    // LMDB's order (bytewise, a prefix first); sorted records go in with
    // MDB_APPEND: dense pages, no page splits.
    std::vector<SortEntry> order;
    order.reserve(records_.count());
    for (size_t i = 0; i < records_.count(); ++i) {
      order.push_back(MakeSortEntry(records_.key(i), static_cast<uint32_t>(i)));
    }
    std::sort(order.begin(), order.end(), [&](const SortEntry& a, const SortEntry& b) {
      if (a.p0 != b.p0) return a.p0 < b.p0;
      if (a.p1 != b.p1) return a.p1 < b.p1;
      if (a.len <= 16 && b.len <= 16) return a.len < b.len;
      return records_.key(a.index) < records_.key(b.index);
    });

    // The exclusive moment Postfix's own bulk writer has: no reader is
    // inside a lookup and no writer is inside a change when we replace.
    UniqueFd old;
    return CommitNewFile(
        target, target, options_.new_file_mode, [&](std::string_view w) { Warn(options_, std::string(w)); },
        [&](int, const std::string& tmp) { return WriteAll(tmp, order); },
        [&]() -> absl::Status {
          old = UniqueFd(::open(target.c_str(), O_RDWR | O_CLOEXEC));
          return old.valid() ? LockWholeFile(old.get(), F_WRLCK, target) : absl::OkStatus();
        });
  }

 private:
  // Records per write transaction: LMDB keeps a transaction's new pages in
  // memory until it commits, so a million records in one transaction would
  // hold the whole file in memory. The file is a temporary one, renamed
  // into place only when complete, so committing in steps changes nothing
  // a reader can see.
  static constexpr size_t kRecordsPerTxn = 65536;
  static constexpr size_t kPrefetch = 8;

  absl::Status WriteAll(const std::string& path, const std::vector<SortEntry>& order) {
    // Start from a map size that holds the records (node headers and page
    // slack included) rather than from lmdb_map_size, so that a big build
    // does not fill the map and start again several times.
    uint64_t bytes = 0;
    for (const SortEntry& e : order) {
      bytes += records_.key(e.index).size() + records_.value(e.index).size() + 16;
    }
    uint64_t map_size = std::max<uint64_t>(options_.lmdb_map_size, kMapSlack);
    while (map_size < bytes + bytes / 2 + (uint64_t{1} << 20) && map_size < kMaxMapSize) {
      map_size *= 2;
    }
    for (;;) {
      if (::truncate(path.c_str(), 0) < 0) {
        return absl::UnavailableError(
            absl::StrCat("truncate ", path, ": ", std::strerror(errno)));
      }
      // MDB_NOSYNC: the commits go to the page cache only; one sync at the
      // end (and SyncFile's fsync) makes the whole file durable before the
      // rename.
      absl::StatusOr<EnvPtr> env = OpenEnv(path, MDB_NOSYNC, map_size, 0600);
      if (!env.ok()) return env.status();
      int rc = WriteTxns(env->get(), order);
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

  int WriteTxns(MDB_env* env, const std::vector<SortEntry>& order) {
    size_t next = 0;
    do {
      MDB_txn* txn = nullptr;
      int rc = mdb_txn_begin(env, nullptr, 0, &txn);
      if (rc != 0) return rc;
      MDB_dbi dbi;
      rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
      MDB_cursor* cursor = nullptr;
      if (rc == 0) rc = mdb_cursor_open(txn, dbi, &cursor);
      const size_t end = std::min(order.size(), next + kRecordsPerTxn);
      for (; rc == 0 && next < end; ++next) {
        // Sorted order is random order in the arena: fetch a few records
        // ahead.
        if (next + kPrefetch < order.size()) {
          const uint32_t ahead = order[next + kPrefetch].index;
          __builtin_prefetch(records_.key(ahead).data());
          __builtin_prefetch(records_.value(ahead).data());
        }
        const uint32_t i = order[next].index;
        MDB_val k = Val(records_.key(i)), v = Val(records_.value(i));
        rc = mdb_cursor_put(cursor, &k, &v, MDB_APPEND);
      }
      if (cursor != nullptr) mdb_cursor_close(cursor);
      if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
      }
      if ((rc = mdb_txn_commit(txn)) != 0) return rc;
    } while (next < order.size());
    return 0;
  }

  BuildOptions options_;
  const std::string table_;  // "lmdb:NAME", for messages
  RecordSet records_;
};

// Changes in place, as postmap -i / -d do, under F_WRLCK for the whole run.
//
// Every change goes into one write transaction, and is also kept in ops_
// (memory in proportion to the change, not the table), for three reasons:
//  * Growth: when the map is full, the transaction is dropped, the map
//    doubled (as Postfix's slmdb does) and the changes replayed.
//  * Lockless writers: postmap -i on an lmdb: table takes no lock at all
//    (a Postfix quirk; two postmap -i lose each other's records). A commit
//    made by such a writer after our transaction began would be overwritten
//    by ours, so just before committing we check that the table's last
//    transaction is still the one ours started from, and start again from
//    the current table when it is not.
//  * The other way round, such a writer may overwrite our commit. After
//    committing, while still holding F_WRLCK, we read our changes back a
//    few times over some milliseconds (longer than one postmap -i commit
//    takes) and apply them again when any is missing.
class LmdbUpdater final : public MapUpdater {
 public:
  LmdbUpdater(std::string name, const BuildOptions& options, UniqueFd lock_fd)
      : MapUpdater("lmdb", std::move(name)),
        options_(options),
        path_(this->name() + ".lmdb"),
        lock_fd_(std::move(lock_fd)),
        probe_(options.nul) {}

  ~LmdbUpdater() override {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    env_.reset();
    if (lock_fd_.valid()) (void)LockWholeFile(lock_fd_.get(), F_UNLCK, path_);
  }

  // Opens the environment. kAborted: the file at path_ is no longer the one
  // whose lock we hold (a rebuild renamed a new one over it); try again.
  absl::Status Open() {
    absl::StatusOr<EnvPtr> env =
        OpenEnv(path_, MDB_NOSYNC, options_.lmdb_map_size, options_.new_file_mode);
    if (!env.ok()) return env.status();
    env_ = *std::move(env);
    int env_fd = -1;
    struct stat locked, opened;
    if (mdb_env_get_fd(env_.get(), &env_fd) != 0 || ::fstat(env_fd, &opened) != 0 ||
        ::fstat(lock_fd_.get(), &locked) != 0) {
      return absl::UnavailableError(
          absl::StrCat("open database ", path_, ": ", std::strerror(errno)));
    }
    if (opened.st_dev != locked.st_dev || opened.st_ino != locked.st_ino) {
      return absl::AbortedError("replaced while opening");
    }
    return Begin();
  }

  absl::Status Add(std::string_view key, std::string_view value) override {
    return AddWith(key, value, RecordOptionsOf(options_));
  }
  absl::Status AddWith(std::string_view key, std::string_view value,
                       const RecordOptions& record) override {
    std::optional<std::string> folded =
        PrepareKey(key, record.fold_case, options_.utf8, options_.utf8_messages,
                   options_.diagnostics, "lmdb:" + name());
    if (!folded) return absl::OkStatus();
    std::string stored_key = Stored(*folded, record.nul);
    if (absl::Status s = CheckKeySize(stored_key); !s.ok()) return s;
    ops_.push_back(Op{std::move(stored_key), Stored(value, record.nul), false, false,
                      std::move(*folded), record.duplicates});
    absl::Status status;
    if (ApplyOne(ops_.back(), /*report=*/true, &status) == MDB_MAP_FULL) {
      return Replay(/*grow=*/true);  // replays this op too
    }
    return status;
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
      if (rc == 0 || rc == MDB_MAP_FULL) {
        probe_.Hit(with_nul);
        ops_.push_back(Op{stored, "", true, true, *folded, options_.duplicates});
        if (rc == MDB_MAP_FULL) {
          if (absl::Status s = Replay(/*grow=*/true); !s.ok()) return s;
        }
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
    for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
      if (LastTxnid() != base_txnid_) {
        // Someone committed without the lock since our transaction began.
        if (absl::Status s = Replay(); !s.ok()) return s;
        continue;
      }
      int rc = mdb_txn_commit(txn_);
      txn_ = nullptr;
      if (rc == MDB_MAP_FULL) {
        if (absl::Status s = Replay(/*grow=*/true); !s.ok()) return s;
        continue;
      }
      if (rc == 0) rc = mdb_env_sync(env_.get(), 1);
      if (rc != 0) return UpdateError(rc);
      absl::StatusOr<bool> kept = ChangesKept();
      if (!kept.ok()) return kept.status();
      if (*kept) return absl::OkStatus();
      if (options_.diagnostics) {
        options_.diagnostics(Severity::kVerbose,
                             absl::StrCat("lmdb:", name(),
                                          ": a writer without a lock overwrote our "
                                          "commit; applying the changes again"));
      }
      if (absl::Status s = Replay(); !s.ok()) return s;
    }
    return absl::UnavailableError(absl::StrCat(
        "error updating lmdb:", name(),
        ": other writers that take no lock keep changing the table; try again later"));
  }

 private:
  static constexpr int kCommitAttempts = 50;

  struct Op {
    std::string key;    // as stored
    std::string value;  // as stored
    bool is_delete;
    bool stored;        // a put that wrote its value (not a kept duplicate)
    std::string folded;  // for messages
    DuplicatePolicy duplicates;  // a put's
  };

  absl::Status UpdateError(int rc) {
    return absl::UnavailableError(
        absl::StrCat("error updating lmdb:", name(), ": ", LmdbError(rc)));
  }

  // The number of the table's last committed transaction, as the file says
  // now (liblmdb reads it from the shared mapping).
  uint64_t LastTxnid() {
    MDB_envinfo info;
    if (mdb_env_info(env_.get(), &info) != 0) return 0;
    return info.me_last_txnid;
  }

  absl::Status Begin() {
    int rc = mdb_txn_begin(env_.get(), nullptr, 0, &txn_);
    if (rc == MDB_MAP_RESIZED) {
      // Another writer grew the map: adopt its size.
      mdb_env_set_mapsize(env_.get(), 0);
      rc = mdb_txn_begin(env_.get(), nullptr, 0, &txn_);
    }
    if (rc == 0) rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
    if (rc != 0) {
      if (txn_ != nullptr) mdb_txn_abort(txn_);
      txn_ = nullptr;
      return UpdateError(rc);
    }
    base_txnid_ = mdb_txn_id(txn_) - 1;
    return absl::OkStatus();
  }

  // Applies `op` in txn_. Returns MDB_MAP_FULL when the map is full (nothing
  // else is to be done with this transaction then), else 0 with *status set.
  int ApplyOne(Op& op, bool report, absl::Status* status) {
    *status = absl::OkStatus();
    MDB_val k = Val(op.key);
    if (op.is_delete) {
      int rc = mdb_del(txn_, dbi_, &k, nullptr);
      if (rc == MDB_MAP_FULL) return rc;
      if (rc != 0 && rc != MDB_NOTFOUND) *status = UpdateError(rc);
      return 0;
    }
    MDB_val v = Val(op.value);
    unsigned flags = op.duplicates == DuplicatePolicy::kReplace ? 0 : MDB_NOOVERWRITE;
    int rc = mdb_put(txn_, dbi_, &k, &v, flags);
    if (rc == MDB_MAP_FULL) return rc;
    if (rc == 0) {
      op.stored = true;
      return 0;
    }
    if (rc != MDB_KEYEXIST) {
      *status = UpdateError(rc);
      return 0;
    }
    op.stored = false;
    if (report && op.duplicates == DuplicatePolicy::kWarn) {
      Warn(options_, absl::StrCat("lmdb:", name(), ": duplicate entry: \"",
                                  Printable(op.folded, options_.utf8_messages), "\""));
    } else if (op.duplicates == DuplicatePolicy::kFail) {
      *status = absl::InvalidArgumentError(
          absl::StrCat("lmdb:", name(), ": duplicate entry: \"",
                       Printable(op.folded, options_.utf8_messages), "\""));
    }
    return 0;
  }

  // A fresh transaction on the current table with every change applied
  // again. With `grow`, and whenever the changes do not fit, the map is
  // doubled first (from its current size, which is at least the file's), as
  // Postfix's slmdb does on MDB_MAP_FULL.
  absl::Status Replay(bool grow = false) {
    for (;; grow = true) {
      if (txn_ != nullptr) mdb_txn_abort(txn_);
      txn_ = nullptr;
      if (grow) {
        MDB_envinfo info;
        if (int rc = mdb_env_info(env_.get(), &info); rc != 0) return UpdateError(rc);
        uint64_t size = static_cast<uint64_t>(info.me_mapsize) * 2;
        if (size > kMaxMapSize) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "error updating lmdb:", name(), ": ", LmdbError(MDB_MAP_FULL)));
        }
        if (int rc = mdb_env_set_mapsize(env_.get(), size); rc != 0) return UpdateError(rc);
        if (options_.diagnostics) {
          options_.diagnostics(Severity::kVerbose,
                               absl::StrCat("database lmdb:", name(), ": using size limit ",
                                            size, " after MDB_MAP_FULL"));
        }
      }
      if (absl::Status s = Begin(); !s.ok()) return s;
      bool full = false;
      for (Op& op : ops_) {
        absl::Status status;
        if (ApplyOne(op, /*report=*/false, &status) == MDB_MAP_FULL) {
          full = true;
          break;
        }
        if (!status.ok()) return status;
      }
      if (!full) return absl::OkStatus();
    }
  }

  // Whether the table holds every change, now and a little later.
  absl::StatusOr<bool> ChangesKept() {
    for (int delay_ms : {0, 3, 30}) {
      if (delay_ms > 0) ::usleep(static_cast<useconds_t>(delay_ms) * 1000);
      MDB_txn* txn = nullptr;
      int rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &txn);
      if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(env_.get(), 0);
        rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &txn);
      }
      if (rc != 0) return UpdateError(rc);
      bool kept = true;
      // Only the last change of each key counts (postmap -r -i may set one
      // key several times).
      absl::flat_hash_set<std::string_view> seen;
      for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
        const Op& op = *it;
        if (!seen.insert(op.key).second) continue;
        MDB_val k = Val(op.key), v;
        rc = mdb_get(txn, dbi_, &k, &v);
        if (rc != 0 && rc != MDB_NOTFOUND) break;
        bool present = rc == 0;
        rc = 0;
        if (op.is_delete ? present
                         : !present || (op.stored && View(v) != op.value)) {
          kept = false;
          break;
        }
      }
      mdb_txn_abort(txn);
      if (rc != 0) return UpdateError(rc);
      if (!kept) return false;
    }
    return true;
  }

  BuildOptions options_;
  const std::string path_;  // NAME.lmdb
  UniqueFd lock_fd_;        // F_WRLCK on path_, held for the whole run
  NulProbe probe_;
  EnvPtr env_;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  uint64_t base_txnid_ = 0;  // the committed transaction txn_ started from
  std::vector<Op> ops_;
};

// Every updater of one file in this process shares one LmdbUpdater, as
// postmap -d KEY lmdb:x lmdb:x needs: its write lock is an open file
// description lock, which a second descriptor of the same process would
// wait for forever. The last handle to commit commits.
struct SharedLmdbUpdater {
  dev_t dev = 0;
  ino_t ino = 0;
  std::unique_ptr<LmdbUpdater> updater;
  int uncommitted = 0;
};

std::mutex shared_updaters_mu;
std::vector<std::weak_ptr<SharedLmdbUpdater>> shared_updaters;  // guarded

std::shared_ptr<SharedLmdbUpdater> FindSharedUpdater(dev_t dev, ino_t ino) {
  std::lock_guard<std::mutex> guard(shared_updaters_mu);
  std::erase_if(shared_updaters, [](const auto& w) { return w.expired(); });
  for (const auto& w : shared_updaters) {
    std::shared_ptr<SharedLmdbUpdater> u = w.lock();
    if (u && u->dev == dev && u->ino == ino) return u;
  }
  return nullptr;
}

class LmdbUpdaterHandle final : public MapUpdater {
 public:
  LmdbUpdaterHandle(std::string name, std::shared_ptr<SharedLmdbUpdater> shared)
      : MapUpdater("lmdb", std::move(name)), shared_(std::move(shared)) {
    ++shared_->uncommitted;
  }
  ~LmdbUpdaterHandle() override {
    if (!committed_) --shared_->uncommitted;
  }
  absl::Status Add(std::string_view key, std::string_view value) override {
    return shared_->updater->Add(key, value);
  }
  absl::Status AddWith(std::string_view key, std::string_view value,
                       const RecordOptions& record) override {
    return shared_->updater->AddWith(key, value, record);
  }
  absl::StatusOr<bool> Delete(std::string_view key) override {
    return shared_->updater->Delete(key);
  }
  absl::Status Commit() override {
    if (committed_) return absl::OkStatus();
    committed_ = true;
    if (--shared_->uncommitted > 0) return absl::OkStatus();  // the last one commits
    return shared_->updater->Commit();
  }

 private:
  std::shared_ptr<SharedLmdbUpdater> shared_;
  bool committed_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> OpenLmdbMap(std::string_view name,
                                                 const OpenOptions& options) {
  absl::StatusOr<std::shared_ptr<LmdbEnv>> env =
      OpenReadEnv(std::string(name) + ".lmdb", Lingers(options.lock));
  if (!env.ok()) return env.status();
  return std::make_unique<LmdbMap>(std::string(name), options, *std::move(env));
}

absl::StatusOr<std::unique_ptr<MapBuilder>> NewLmdbBuilder(
    std::string_view name, const BuildOptions& options) {
  return std::make_unique<LmdbBuilder>(std::string(name), options);
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenLmdbUpdater(
    std::string_view name, const BuildOptions& options, bool create) {
  const std::string path = std::string(name) + ".lmdb";
  // A rebuild may rename a new file over the one we locked; then we lock
  // the new one.
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid() && errno == ENOENT && create) {
      // Created 0600, then given its final mode: never readable by others
      // before its mode is right.
      fd = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd.valid() && errno == EEXIST) continue;
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
    struct stat locked, now;
    if (::fstat(fd.get(), &locked) == 0) {
      if (auto shared = FindSharedUpdater(locked.st_dev, locked.st_ino)) {
        return std::make_unique<LmdbUpdaterHandle>(std::string(name), std::move(shared));
      }
    }
    if (absl::Status s = LockWholeFile(fd.get(), F_WRLCK, path); !s.ok()) return s;
    if (::fstat(fd.get(), &locked) != 0 || ::stat(path.c_str(), &now) != 0 ||
        now.st_dev != locked.st_dev || now.st_ino != locked.st_ino) {
      continue;
    }
    if (!S_ISREG(locked.st_mode)) {
      return absl::DataLossError(
          absl::StrCat("open database ", path, ": ", LmdbError(MDB_INVALID)));
    }
    if (locked.st_size > 0) {
      // Also refuses a file that is not an LMDB table at all, as postmap
      // does (MDB_INVALID), before liblmdb could write to it.
      if (absl::Status s = CheckLmdbFile(path); !s.ok()) return s;
    }
    auto updater = std::make_unique<LmdbUpdater>(std::string(name), options, std::move(fd));
    absl::Status s = updater->Open();
    if (s.code() == absl::StatusCode::kAborted) continue;
    if (!s.ok()) return s;
    auto shared = std::make_shared<SharedLmdbUpdater>();
    shared->dev = locked.st_dev;
    shared->ino = locked.st_ino;
    shared->updater = std::move(updater);
    {
      std::lock_guard<std::mutex> guard(shared_updaters_mu);
      shared_updaters.push_back(shared);
    }
    return std::make_unique<LmdbUpdaterHandle>(std::string(name), std::move(shared));
  }
  return absl::UnavailableError(
      absl::StrCat("database ", path, " keeps changing; try again later"));
}

}  // namespace libmaps::internal
