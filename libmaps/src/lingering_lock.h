// LingeringLock: a table file's shared lock (Postfix's protocol: flock
// LOCK_SH on NAME.db, a whole-file F_RDLCK on NAME.lmdb) that outlives the
// lookup that took it by a moment, so that a burst of lookups pays the two
// system calls (lock and unlock) once instead of once per lookup.
//
// Why this is still Postfix's protocol: every lookup runs while this
// process holds the shared lock, so no writer that locks (postmap
// rebuilding in place, postmap -i / -d on hash:, cmap) is inside the file
// during a lookup. What changes is only how soon a waiting writer gets in:
//  * after the last lookup, the lock is let go within kLingerNs (1 ms) by a
//    process-wide thread (the reaper), or at once when the file is closed;
//  * while lookups keep coming, the lock is let go and taken again between
//    two of them once it has been held for kMaxHoldNs (2 ms), as the safe
//    batch (Map::LookupEach) does, with a pause of kTurnNs in which a
//    waiting writer takes it; a lookup that takes it again makes the file
//    checks a fresh lock calls for.
// So a writer waits at most about 2 ms more than it would for Postfix's
// own daemons.
//
// Processes that fork: flock and OFD locks belong to the open file
// description, which a child shares. A child never trusts a lock its
// parent took (it takes the lock itself before its first lookup), and its
// own reaper starts when needed (pthread_atfork).

#ifndef LIBMAPS_SRC_LINGERING_LOCK_H_
#define LIBMAPS_SRC_LINGERING_LOCK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace libmaps::internal {

class LingeringLock {
 public:
  static constexpr int64_t kLingerNs = 1'000'000;   // 1 ms after the last lookup
  static constexpr int64_t kMaxHoldNs = 2'000'000;  // 2 ms while lookups go on
  static constexpr long kTurnNs = 50'000;           // a waiting writer's turn

  // `lock(true)` takes the shared lock (blocking), `lock(false)` lets it
  // go; both on the file the owner keeps open for as long as this lives.
  using LockFn = std::function<absl::Status(bool take)>;

  // `linger`: false releases the lock as soon as the last holder leaves
  // (no reaper, no lingering).
  LingeringLock(LockFn lock, bool linger) : lock_(std::move(lock)), linger_(linger) {}
  LingeringLock(const LingeringLock&) = delete;
  LingeringLock& operator=(const LingeringLock&) = delete;

  // The reaper's handle on this lock: a pointer that keeps the lock's owner
  // (and so the file descriptor) alive while the reaper uses it. Call once,
  // before the first Release(), e.g. with
  // std::shared_ptr<LingeringLock>(owner, &owner->lock).
  void SetSelf(std::weak_ptr<LingeringLock> self) { self_ = std::move(self); }

  // Holds the shared lock for one more holder. `*fresh` (if given) is true
  // when the lock was taken now (a system call: the file may have been
  // changed since this process last held it) and false when it was still
  // held (nobody who locks can have changed the file since).
  absl::Status Acquire(bool* fresh = nullptr);
  // One holder fewer; the lock lingers (or, without lingering, goes now).
  void Release();

  // Lets a lingering lock go now (nobody holds it): when its map closes, so
  // that the close lets writers in at once even while the reaper happens to
  // hold a reference to the owner.
  void ReleaseNow();

  // For the reaper: lets the lock go if nobody holds it and it has lingered
  // long enough. Returns when to look again (CLOCK_MONOTONIC ns), or 0 when
  // there is nothing more to do (let go, or not held).
  int64_t ReleaseIfIdle(int64_t now);

  static int64_t Now();

 private:
  bool HeldHere() const;

  const LockFn lock_;
  const bool linger_;
  std::weak_ptr<LingeringLock> self_;
  std::mutex mu_;
  int holders_ = 0;
  bool held_ = false;        // the lock is held (by this process, not a parent)
  bool registered_ = false;  // the reaper knows about it
  uint64_t fork_generation_ = 0;
  int64_t taken_at_ = 0;
  int64_t idle_since_ = 0;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_LINGERING_LOCK_H_
