// cdb: Postfix's constant database tables (dict_cdb, built with tinycdb),
// read and built natively.
//
// The file format (D. J. Bernstein's cdb, as tinycdb writes it; all integers
// u32 little-endian):
//  * a header of 256 (position, slot count) pairs, 2048 bytes;
//  * the records from byte 2048 on, each: key length, value length, key,
//    value;
//  * 256 hash tables, table i at the position header i gives, of `slot count`
//    slots of (hash, record position); an empty slot has position 0.
// A key's hash is h = 5381, then h = (h * 33) ^ byte for each byte (32
// bits). Its table is h mod 256; its probe starts at slot (h / 256) mod slot
// count and goes on slot by slot, wrapping, until an empty slot. tinycdb
// makes each table twice as many slots as it has records, fills the tables
// in record order, and writes them in table order after the records (a table
// with no records gets the position where it would start and 0 slots); the
// records run from 2048 to the position of table 0. Positions are u32, so a
// file cannot reach 4 GiB.
//
// Postfix's conventions (checked with Debian's postfix-cdb 3.7.11): postmap
// stores keys folded and keys and values without a trailing NUL, keeps the
// first value of a duplicate key with `warning: NAME: duplicate entry: "k"`
// (the source's name, no suffix), writes NAME.cdb.tmp and renames it over
// NAME.cdb; lookups try key+NUL, then the key, like the other types; readers
// take no lock (a table is only ever replaced whole). postmap -i and -d refuse
// cdb ("dict_cdb_open: inappropriate open flags ..."), and postmap -s fails
// ("sequence operation is not supported"); cmap -s lists a cdb table in file
// order (an addition: --convert needs it).
//
// OpenCdbMap("/etc/postfix/access", options) reads /etc/postfix/access.cdb
// (a mapping, every offset checked). Errors: kNotFound `open database
// NAME.cdb: No such file or directory`; kDataLoss `dict_cdbq_open: unable to
// init NAME.cdb: Protocol error` for a file shorter than the header, and
// `error reading NAME.cdb: Protocol error` for a record or table that points
// outside the file (the lookup that met it fails; Postfix's wording).
// Lookups check, with one fstat(), whether the file was replaced (rename)
// or changed, and then read the new table; with LockPolicy::kSnapshot at most
// once a second.
//
// NewCdbBuilder(name, options) collects records and Commit() writes the
// whole file next to the table and renames it into place (see
// docs/atomic-rebuilds.md); NUL policy kProbe means Postfix's cdb default,
// no NUL. A table of 4 GiB or more is kResourceExhausted naming the limit.

#ifndef LIBMAPS_SRC_BACKENDS_CDB_MAP_H_
#define LIBMAPS_SRC_BACKENDS_CDB_MAP_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"

namespace libmaps::internal {

[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenCdbMap(std::string_view name,
                                                              const OpenOptions& options);

[[nodiscard]] absl::StatusOr<std::unique_ptr<MapBuilder>> NewCdbBuilder(
    std::string_view name, const BuildOptions& options);

// The cdb hash of `bytes`.
[[nodiscard]] uint32_t CdbHash(std::string_view bytes);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_CDB_MAP_H_
