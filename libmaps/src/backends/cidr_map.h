// cidr: tables, with Postfix 3.7's syntax, semantics and messages
// (cidr_table(5); checked against real postmap in tests/compat/
// pattern_diff.py):
//
//   192.0.2.0/24    result     IPv4 or IPv6 network, or a single address;
//   [2001:db8::]/32 result     brackets are allowed; `!` negates
//   if 10.0.0.0/8 ... endif    rules inside apply when the network matches
//
// The first matching rule wins. A key is an address in inet_pton() form
// (an IPv4 rule never matches "::ffff:1.2.3.4"); anything else is not found.
// A network with host bits set, a bad mask or address is skipped with
// Postfix's warning ("perhaps you should use ... instead").

#ifndef LIBMAPS_SRC_BACKENDS_CIDR_MAP_H_
#define LIBMAPS_SRC_BACKENDS_CIDR_MAP_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"

namespace libmaps::internal {

[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenCidrMap(std::string_view name,
                                                               const OpenOptions& options);

// The same from the table's text (`name` appears in messages), for tests
// and fuzzers.
[[nodiscard]] std::unique_ptr<Map> CidrMapFromText(std::string_view name, std::string_view text,
                                                   const OpenOptions& options);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_CIDR_MAP_H_
