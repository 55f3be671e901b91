// cmap --migrate: takes a whole Postfix configuration off Berkeley DB in one
// step that can be undone (docs/migration.md).
//
//   cmap --migrate [-c DIR] [--lmdb] [--convert-caches]     the plan (dry run)
//   cmap --migrate [-c DIR] --apply [...]                   do it
//   cmap --migrate --rollback BACKUP_DIR                    undo it
//
// The configuration is read through postconf(1) when Postfix is installed
// (main.cf as set, Postfix's defaults, master.cf's -o overrides, the table
// types this Postfix has), else with cmap's own main.cf and master.cf
// readers. Every hash: and btree: table named anywhere (also inside proxy:,
// unionmap:{…} and pipemap:{…}, and in restriction lists) is planned: a
// table rebuilt from its source becomes cdb:, one whose source is lost or
// holds other records becomes lmdb: converted from the .db (the records
// Postfix uses now), a cache becomes lmdb: and is recreated empty by
// Postfix. --apply builds and verifies every new table before it changes
// one line of the configuration, keeps a dated backup of main.cf and
// master.cf, and prints the command that rolls back.

#ifndef LIBMAPS_TOOLS_CMAP_MIGRATE_H_
#define LIBMAPS_TOOLS_CMAP_MIGRATE_H_

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace cmap {

struct MigrateOptions {
  std::string config_dir;       // -c, else $MAIL_CONFIG or /etc/postfix
  bool apply = false;           // --apply
  bool all_lmdb = false;        // --lmdb: lmdb: for every table
  bool convert_caches = false;  // --convert-caches: convert caches' records too
  std::string rollback;         // --rollback BACKUP_DIR
  int verbose = 0;
};

// Exit status: 0 done (or a plan that can be applied, or nothing to do),
// 1 a problem (reported on `err`; nothing changed).
int RunMigrate(const MigrateOptions& options, std::ostream& out, std::ostream& err);

// A table named in a parameter value: the value's bytes [type_pos,
// type_pos + type.size()) are the type, followed by ':' and `name`.
struct TableToken {
  size_t type_pos = 0;
  std::string type;
  std::string name;
  std::string indirect;  // the type as written when it is a $parameter
};

// Every table of type hash or btree that `value` names, and every table
// whose type is written as a $parameter (left for the caller to expand):
// tokens separated by whitespace or commas, looking inside proxy:,
// unionmap:{…} and pipemap:{…}.
std::vector<TableToken> FindBerkeleyTables(std::string_view value);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_MIGRATE_H_
