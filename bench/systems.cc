#include "systems.h"

#include <cdb.h>
#include <db.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "libmaps/map.h"
#include "sol.h"

namespace libmaps::bench {
namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "bench: %s: %s\n", what, detail.c_str());
  std::abort();
}

// A value as a C program sees it: up to the NUL postmap stores.
void AssignCString(const void* data, size_t size, std::string* out) {
  const char* p = static_cast<const char*>(data);
  const void* nul = std::memchr(p, '\0', size);
  out->assign(p, nul == nullptr ? size : static_cast<size_t>(static_cast<const char*>(nul) - p));
}

// The probe key of a Postfix reader: folded (ASCII lower case: every key here
// is ASCII, where Postfix's UTF-8 folding is the same) and NUL-terminated.
void PostfixKey(std::string_view key, std::string* out) {
  out->resize(key.size() + 1);
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    (*out)[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  (*out)[key.size()] = '\0';
}

void RawKey(std::string_view key, std::string* out) {
  out->assign(key);
  out->push_back('\0');
}

// ---------------------------------------------------------------------------
// libmaps

class LibmapsSystem final : public System {
 public:
  LibmapsSystem(const std::string& spec, const OpenOptions& options) {
    auto map = OpenMap(spec, options);
    if (!map.ok()) Fail("open", std::string(map.status().message()));
    map_ = *std::move(map);
  }
  bool Lookup(std::string_view key, std::string* value) override {
    absl::StatusOr<bool> found = map_->LookupInto(key, value);
    if (!found.ok()) Fail("lookup", std::string(found.status().message()));
    return *found;
  }

 private:
  std::unique_ptr<Map> map_;
};

// libmaps' map `spec` opened with lock policy `lock`.
std::unique_ptr<System> OpenLibmaps(const std::string& spec, LockPolicy lock) {
  OpenOptions options;
  options.lock = lock;
  return std::make_unique<LibmapsSystem>(spec, options);
}
std::unique_ptr<System> OpenHash(const DataSet& d) {
  return OpenLibmaps("hash:" + d.hash_name(), LockPolicy::kPerLookup);
}
std::unique_ptr<System> OpenHashSnapshot(const DataSet& d) {
  return OpenLibmaps("hash:" + d.hash_name(), LockPolicy::kSnapshot);
}
std::unique_ptr<System> OpenHashStrict(const DataSet& d) {
  return OpenLibmaps("hash:" + d.hash_name(), LockPolicy::kPerLookupStrict);
}
std::unique_ptr<System> OpenLmdb(const DataSet& d) {
  return OpenLibmaps("lmdb:" + d.lmdb_name(), LockPolicy::kPerLookup);
}
std::unique_ptr<System> OpenLmdbSnapshot(const DataSet& d) {
  return OpenLibmaps("lmdb:" + d.lmdb_name(), LockPolicy::kSnapshot);
}
std::unique_ptr<System> OpenLmdbStrict(const DataSet& d) {
  return OpenLibmaps("lmdb:" + d.lmdb_name(), LockPolicy::kPerLookupStrict);
}
std::unique_ptr<System> OpenBtree(const DataSet& d) {
  return OpenLibmaps("btree:" + d.btree_name(), LockPolicy::kPerLookup);
}
std::unique_ptr<System> OpenBtreeSnapshot(const DataSet& d) {
  return OpenLibmaps("btree:" + d.btree_name(), LockPolicy::kSnapshot);
}
std::unique_ptr<System> OpenCdb(const DataSet& d) {
  return std::make_unique<LibmapsSystem>("cdb:" + d.source, OpenOptions{});
}
std::unique_ptr<System> OpenCdbSnapshot(const DataSet& d) {
  OpenOptions options;
  options.lock = LockPolicy::kSnapshot;
  return std::make_unique<LibmapsSystem>("cdb:" + d.source, options);
}
std::unique_ptr<System> OpenTexthash(const DataSet& d) {
  return std::make_unique<LibmapsSystem>("texthash:" + d.source, OpenOptions{});
}

// ---------------------------------------------------------------------------
// libdb (Berkeley DB 5.3), opened as Postfix's dict_db opens a hash: table:
// a private environment in the table's directory with only a memory pool,
// DB_HASH, read-only.

class LibdbSystem final : public System {
 public:
  LibdbSystem(const DataSet& d, uint32_t cache_bytes, bool postfix, DBTYPE type = DB_HASH)
      : postfix_(postfix) {
    if (int rc = db_env_create(&env_, 0); rc != 0) Fail("db_env_create", db_strerror(rc));
    env_->set_cachesize(env_, cache_bytes >> 30, cache_bytes & ((1u << 30) - 1), 1);
    if (int rc = env_->open(env_, d.dir.c_str(), DB_INIT_MPOOL | DB_CREATE | DB_PRIVATE, 0);
        rc != 0) {
      Fail("DB_ENV->open", db_strerror(rc));
    }
    if (int rc = db_create(&db_, env_, 0); rc != 0) Fail("db_create", db_strerror(rc));
    if (postfix_) {
      // Postfix holds LOCK_SH while it opens the table, too.
      lock_fd_ = ::open(d.db_path().c_str(), O_RDONLY | O_CLOEXEC);
      ::flock(lock_fd_, LOCK_SH);
    }
    const char* file = type == DB_BTREE ? "bt.txt.db" : "src.txt.db";
    if (int rc = db_->open(db_, nullptr, file, nullptr, type, DB_RDONLY, 0644);
        rc != 0) {
      Fail("DB->open", db_strerror(rc));
    }
    if (postfix_) {
      ::flock(lock_fd_, LOCK_UN);
      ::close(lock_fd_);
      db_->fd(db_, &lock_fd_);  // dict_db locks the database's own descriptor
    }
  }
  ~LibdbSystem() override {
    db_->close(db_, 0);
    env_->close(env_, 0);
  }
  bool Lookup(std::string_view key, std::string* value) override {
    if (postfix_) {
      PostfixKey(key, &probe_);
      ::flock(lock_fd_, LOCK_SH);
    } else {
      RawKey(key, &probe_);
    }
    DBT k, v;
    std::memset(&k, 0, sizeof k);
    std::memset(&v, 0, sizeof v);
    k.data = probe_.data();
    k.size = static_cast<u_int32_t>(probe_.size());
    int rc = db_->get(db_, nullptr, &k, &v, 0);
    if (rc == 0) AssignCString(v.data, v.size, value);
    if (postfix_) ::flock(lock_fd_, LOCK_UN);
    if (rc == DB_NOTFOUND) return false;
    if (rc != 0) Fail("DB->get", db_strerror(rc));
    return true;
  }

 private:
  bool postfix_;
  DB_ENV* env_ = nullptr;
  DB* db_ = nullptr;
  int lock_fd_ = -1;
  std::string probe_;
};

uint32_t WholeFileCache(const DataSet& d) {
  // Berkeley DB keeps a few pages of overhead; leave it a quarter more.
  uint64_t want = FileSize(d.db_path()) * 5 / 4 + (uint64_t{4} << 20);
  return static_cast<uint32_t>(std::min<uint64_t>(want, uint64_t{1} << 31));
}

std::unique_ptr<System> OpenLibdb(const DataSet& d) {
  return std::make_unique<LibdbSystem>(d, WholeFileCache(d), false);
}
std::unique_ptr<System> OpenLibdbBtree(const DataSet& d) {
  return std::make_unique<LibdbSystem>(d, WholeFileCache(d), false, DB_BTREE);
}
std::unique_ptr<System> OpenLibdbSmall(const DataSet& d) {
  return std::make_unique<LibdbSystem>(d, 128 * 1024, false);
}
std::unique_ptr<System> OpenPostfixHash(const DataSet& d) {
  // berkeley_db_read_buffer_size = 128 KiB, Postfix's default.
  return std::make_unique<LibdbSystem>(d, 128 * 1024, true);
}

// ---------------------------------------------------------------------------
// liblmdb, opened as Postfix's slmdb opens an lmdb: table.

class LmdbRawSystem final : public System {
 public:
  LmdbRawSystem(const DataSet& d, bool postfix) : postfix_(postfix) {
    const std::string path = d.lmdb_path();
    if (int rc = mdb_env_create(&env_); rc != 0) Fail("mdb_env_create", mdb_strerror(rc));
    mdb_env_set_mapsize(env_, FileSize(path) + 10240 + (uint64_t{16} << 20));
    if (int rc = mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY,
                              0644);
        rc != 0) {
      Fail("mdb_env_open", mdb_strerror(rc));
    }
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) {
      Fail("mdb_txn_begin", mdb_strerror(rc));
    }
    if (int rc = mdb_dbi_open(txn, nullptr, 0, &dbi_); rc != 0) {
      Fail("mdb_dbi_open", mdb_strerror(rc));
    }
    if (postfix_) {
      mdb_txn_abort(txn);
      mdb_env_get_fd(env_, &fd_);
    } else {
      txn_ = txn;  // one read transaction, reused by every lookup
    }
  }
  ~LmdbRawSystem() override {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    mdb_env_close(env_);
  }
  bool Lookup(std::string_view key, std::string* value) override {
    MDB_txn* txn = txn_;
    struct flock lk;
    if (postfix_) {
      PostfixKey(key, &probe_);
      std::memset(&lk, 0, sizeof lk);
      lk.l_type = F_RDLCK;
      lk.l_whence = SEEK_SET;
      ::fcntl(fd_, F_SETLKW, &lk);
      // slmdb_get: a read transaction per lookup.
      if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) {
        Fail("mdb_txn_begin", mdb_strerror(rc));
      }
    } else {
      RawKey(key, &probe_);
    }
    MDB_val k{probe_.size(), probe_.data()}, v;
    int rc = mdb_get(txn, dbi_, &k, &v);
    if (rc == 0) AssignCString(v.mv_data, v.mv_size, value);
    if (postfix_) {
      mdb_txn_abort(txn);
      lk.l_type = F_UNLCK;
      ::fcntl(fd_, F_SETLKW, &lk);
    }
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) Fail("mdb_get", mdb_strerror(rc));
    return true;
  }

 private:
  bool postfix_;
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  int fd_ = -1;
  std::string probe_;
};

std::unique_ptr<System> OpenMdbGet(const DataSet& d) {
  return std::make_unique<LmdbRawSystem>(d, false);
}
std::unique_ptr<System> OpenPostfixLmdb(const DataSet& d) {
  return std::make_unique<LmdbRawSystem>(d, true);
}

// ---------------------------------------------------------------------------
// tinycdb: cdb_init over the whole file (mmap), cdb_find, the key without a
// NUL (as postmap cdb: stores it).

class TinycdbSystem final : public System {
 public:
  explicit TinycdbSystem(const DataSet& d) {
    fd_ = ::open(d.cdb_path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0 || cdb_init(&cdb_, fd_) != 0) Fail("cdb_init", d.cdb_path());
  }
  ~TinycdbSystem() override {
    cdb_free(&cdb_);
    ::close(fd_);
  }
  bool Lookup(std::string_view key, std::string* value) override {
    int rc = cdb_find(&cdb_, key.data(), static_cast<unsigned>(key.size()));
    if (rc < 0) Fail("cdb_find", "error");
    if (rc == 0) return false;
    value->assign(static_cast<const char*>(cdb_getdata(&cdb_)), cdb_datalen(&cdb_));
    return true;
  }

 private:
  int fd_ = -1;
  struct cdb cdb_;
};

std::unique_ptr<System> OpenTinycdb(const DataSet& d) {
  return std::make_unique<TinycdbSystem>(d);
}

// ---------------------------------------------------------------------------
// In memory: absl::flat_hash_map<std::string, std::string> filled from the
// source file, as a plain C++ program would (the texthash anchor).

class AbslSystem final : public System {
 public:
  explicit AbslSystem(const DataSet& d) {
    std::string text = ReadFile(d.source);
    map_.reserve(d.entries);
    std::string_view rest = text;
    while (!rest.empty()) {
      size_t eol = rest.find('\n');
      std::string_view line = rest.substr(0, eol);
      rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
      size_t sp = line.find(' ');
      if (sp == std::string_view::npos) continue;
      map_.try_emplace(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
    }
  }
  bool Lookup(std::string_view key, std::string* value) override {
    auto it = map_.find(absl::string_view(key.data(), key.size()));
    if (it == map_.end()) return false;
    value->assign(it->second);
    return true;
  }

 private:
  absl::flat_hash_map<std::string, std::string> map_;
};

std::unique_ptr<System> OpenAbsl(const DataSet& d) {
  return std::make_unique<AbslSystem>(d);
}

// ---------------------------------------------------------------------------
// The speed-of-light table (sol.h).

class SolSystem final : public System {
 public:
  explicit SolSystem(const DataSet& d) {
    if (!table_.Open(d.sol_path(), /*populate=*/false)) Fail("open", d.sol_path());
  }
  bool Lookup(std::string_view key, std::string* value) override {
    return table_.Find(key, value);
  }

 private:
  SolTable table_;
};

std::unique_ptr<System> OpenSol(const DataSet& d) { return std::make_unique<SolSystem>(d); }

}  // namespace

const std::vector<SystemInfo>& AllSystems() {
  static const std::vector<SystemInfo> systems = {
      {"hash",
       "libmaps hash:, default options (lingering flock LOCK_SH, meta-page check per lookup)",
       &OpenHash, true},
      {"hash-strict",
       "libmaps hash:, LockPolicy::kPerLookupStrict (flock LOCK_SH and LOCK_UN per lookup)",
       &OpenHashStrict, true},
      {"hash-snapshot", "libmaps hash:, LockPolicy::kSnapshot (no lock per lookup)",
       &OpenHashSnapshot, true},
      {"lmdb",
       "libmaps lmdb:, default options (lingering fcntl F_RDLCK, renewed read txn per lookup)",
       &OpenLmdb, true},
      {"lmdb-strict",
       "libmaps lmdb:, LockPolicy::kPerLookupStrict (fcntl lock and unlock per lookup)",
       &OpenLmdbStrict, true},
      {"lmdb-snapshot",
       "libmaps lmdb:, LockPolicy::kSnapshot (no lock, read txn reused)",
       &OpenLmdbSnapshot, true},
      {"btree", "libmaps btree:, default options (lingering flock LOCK_SH, meta check per lookup)",
       &OpenBtree, true},
      {"btree-snapshot", "libmaps btree:, LockPolicy::kSnapshot", &OpenBtreeSnapshot, true},
      {"libdb-btree", "Berkeley DB 5.3 DB->get on a DB_BTREE, cache holds the whole file",
       &OpenLibdbBtree, true},
      {"cdb", "libmaps cdb:, default options (stat per lookup to notice a new file)",
       &OpenCdb, true},
      {"cdb-snapshot", "libmaps cdb:, LockPolicy::kSnapshot", &OpenCdbSnapshot, true},
      {"cdb_find", "tinycdb cdb_init (mmap) + cdb_find", &OpenTinycdb, true},
      {"texthash", "libmaps texthash: (source parsed into memory at open)", &OpenTexthash,
       false},
      {"libdb", "Berkeley DB 5.3 DB->get, cache holds the whole file", &OpenLibdb, true},
      {"libdb-128k", "Berkeley DB 5.3 DB->get, 128 KiB cache (Postfix's)", &OpenLibdbSmall,
       true},
      {"postfix-hash",
       "as Postfix's dict_db: fold, flock LOCK_SH, DB->get (128 KiB cache), LOCK_UN",
       &OpenPostfixHash, true},
      {"mdb_get", "liblmdb mdb_get, one read transaction reused", &OpenMdbGet, true},
      {"postfix-lmdb",
       "as Postfix's dict_lmdb: fold, fcntl F_RDLCK, txn begin, mdb_get, abort, F_UNLCK",
       &OpenPostfixLmdb, true},
      {"absl", "absl::flat_hash_map<std::string, std::string> of the source", &OpenAbsl,
       false},
      {"sol", "speed of light: minimal mmap'd open-addressing table (sol.h)", &OpenSol, true},
  };
  return systems;
}

}  // namespace libmaps::bench
