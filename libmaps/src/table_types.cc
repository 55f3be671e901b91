#include "table_types.h"

#include <array>

#include "backends/cdb_map.h"
#include "backends/cidr_map.h"
#include "backends/composite_maps.h"
#include "backends/hash_builder.h"
#include "backends/hash_map.h"
#include "backends/lmdb_map.h"
#include "backends/pattern_maps.h"
#include "backends/texthash_map.h"

namespace libmaps::internal {
namespace {

// One row per type. The capability flags follow from the functions.
constexpr TableBackend Row(std::string_view type, std::string_view suffix, OpenFn open,
                           bool can_list, BuildFn build, UpdateFn update,
                           bool messages_name_file, std::string_view no_update = {}) {
  TableBackend b;
  b.info.type = type;
  b.info.suffix = suffix;
  b.info.can_read = open != nullptr;
  b.info.can_list = can_list;
  b.info.can_build = build != nullptr;
  b.info.can_update = update != nullptr;
  b.info.messages_name_file = messages_name_file;
  b.open = open;
  b.build = build;
  b.update = update;
  b.no_update = no_update;
  return b;
}

// A type whose name is the table itself, not a file.
constexpr TableBackend NoFile(TableBackend b) {
  b.info.has_file = false;
  return b;
}

const std::array<TableBackend, 14> kBackends = {{
    Row("texthash", "", &OpenTexthashMap, true, nullptr, nullptr, false),
    Row("hash", ".db", &OpenHashMap, true, &NewHashBuilder, &OpenHashUpdater, true),
    Row("btree", ".db", &OpenBtreeMap, true, &NewBtreeBuilder, &OpenBtreeUpdater, true),
    Row("lmdb", ".lmdb", &OpenLmdbMap, true, &NewLmdbBuilder, &OpenLmdbUpdater, false),
    Row("cdb", ".cdb", &OpenCdbMap, true, &NewCdbBuilder, nullptr, true,
        "dict_cdb_open: inappropriate open flags for cdb database - specify O_RDONLY or "
        "O_WRONLY|O_CREAT|O_TRUNC"),
    // Lookup-only rule tables: a file, or "{ {rule}, ... }" in place
    // (backends/pattern_maps.h, backends/cidr_map.h).
    Row("regexp", "", &OpenRegexpMap, false, nullptr, nullptr, false),
    Row("pcre", "", &OpenPcreMap, false, nullptr, nullptr, false),
    Row("cidr", "", &OpenCidrMap, false, nullptr, nullptr, false),
    // Lookup-only types without a file (backends/composite_maps.h).
    NoFile(Row("static", "", &OpenStaticMap, false, nullptr, nullptr, false,
        "table static:%s: delete operation is not supported")),
    NoFile(Row("inline", "", &OpenInlineMap, true, nullptr, nullptr, false)),
    NoFile(Row("fail", "", &OpenFailMap, false, nullptr, nullptr, false,
        "table fail:%s: delete error: Application error")),
    NoFile(Row("environ", "", &OpenEnvironMap, false, nullptr, nullptr, false,
        "table environ:%s: delete operation is not supported")),
    NoFile(Row("unionmap", "", &OpenUnionMap, false, nullptr, nullptr, false)),
    NoFile(Row("pipemap", "", &OpenPipeMap, false, nullptr, nullptr, false)),
}};

const std::array<TableTypeInfo, kBackends.size()> kInfos = [] {
  std::array<TableTypeInfo, kBackends.size()> infos;
  for (size_t i = 0; i < kBackends.size(); ++i) infos[i] = kBackends[i].info;
  return infos;
}();

}  // namespace

const TableBackend* FindBackend(std::string_view type) {
  for (const TableBackend& b : kBackends) {
    if (b.info.type == type) return &b;
  }
  return nullptr;
}

std::span<const TableBackend> Backends() { return kBackends; }

}  // namespace libmaps::internal

namespace libmaps {

const TableTypeInfo* FindTableType(std::string_view type) {
  for (const TableTypeInfo& info : internal::kInfos) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

std::span<const TableTypeInfo> TableTypes() { return internal::kInfos; }

}  // namespace libmaps
