// lmdb: tables as Postfix keeps them: one file NAME.lmdb (MDB_NOSUBDIR), no
// LMDB lock file (MDB_NOLOCK), the unnamed database, keys and values with a
// trailing NUL by default, and whole-file fcntl locks on the .lmdb file
// itself: F_RDLCK around each read, F_WRLCK around each change (taken as open
// file description locks; see LockWholeFile).
//
// Reading (OpenOptions::lock): kPerLookup, the default, takes F_RDLCK and a
// read transaction per lookup, as Postfix's slmdb does (LookupEach() one of
// each for all its keys). kSnapshot keeps read transactions between lookups
// (a few cached per map, taken and given back with atomic exchanges, so
// threads never share one at the same time) and, at most once a second,
// checks under F_RDLCK whether NAME.lmdb was replaced by rename (and then
// opens the new file) and renews the transactions; see LockPolicy in
// libmaps/map.h for when that is safe.
//
// Building writes a new file (sorted records, MDB_APPEND, committed every
// 65,536 records with MDB_NOSYNC and synced once at the end, so that a
// transaction's pages never hold the whole table in memory) and renames it
// into place under F_WRLCK.

#ifndef LIBMAPS_SRC_BACKENDS_LMDB_MAP_H_
#define LIBMAPS_SRC_BACKENDS_LMDB_MAP_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"

namespace libmaps::internal {

// Opens lmdb:`name` (the file name + ".lmdb") for lookups.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenLmdbMap(
    std::string_view name, const OpenOptions& options);

// A builder that writes a whole new NAME.lmdb and renames it into place.
[[nodiscard]] absl::StatusOr<std::unique_ptr<MapBuilder>> NewLmdbBuilder(
    std::string_view name, const BuildOptions& options);

// In-place changes under F_WRLCK held for the whole run, in one transaction
// (grown and replayed when the map is full; see LmdbUpdater). Updaters of one
// file in a process share one transaction; the last to commit commits.
[[nodiscard]] absl::StatusOr<std::unique_ptr<MapUpdater>> OpenLmdbUpdater(
    std::string_view name, const BuildOptions& options, bool create);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_LMDB_MAP_H_
