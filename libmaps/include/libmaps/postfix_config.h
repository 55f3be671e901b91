// libmaps/postfix_config.h: the few main.cf parameters that change how
// postmap reads and writes tables.
//
// Thread safety: LoadPostfixConfig is thread-safe; PostfixConfig is a value.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_POSTFIX_CONFIG_H_
#define LIBMAPS_INCLUDE_LIBMAPS_POSTFIX_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/export.h"

namespace libmaps {

struct PostfixConfig {
  // smtputf8_enable: defaults to yes when compatibility_level >= 1, as in
  // Postfix 3.x. It selects UTF-8 mode (Unicode key folding, UTF-8 checks).
  bool smtputf8_enable = false;
  // default_database_type (Debian: hash).
  std::string default_database_type = "hash";
  // lmdb_map_size, bytes.
  uint64_t lmdb_map_size = 16777216;
  // Every name = value pair of main.cf, unexpanded.
  std::map<std::string, std::string, std::less<>> parameters;
};

// The configuration directory: $MAIL_CONFIG if set and not empty, else
// /etc/postfix.
[[nodiscard]] LIBMAPS_EXPORT std::string DefaultConfigDir();

// Reads `config_dir`/main.cf. Errors: kNotFound or kUnavailable with
// Postfix's text (`open DIR/main.cf: No such file or directory`),
// kInvalidArgument for a parameter value Postfix would reject
// (`bad boolean configuration: smtputf8_enable = maybe`).
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<PostfixConfig> LoadPostfixConfig(
    std::string_view config_dir);

// The value of main.cf parameter `name` with its $name, ${name} and $(name)
// references expanded from main.cf, or `fallback` (expanded the same way)
// when main.cf does not set it. Postfix's built-in defaults are not known
// here: a caller passes the default it means.
[[nodiscard]] LIBMAPS_EXPORT std::string GetParameter(const PostfixConfig& config,
                                                      std::string_view name,
                                                      std::string_view fallback = {});

// Parses main.cf text (exposed for tests and fuzzing).
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<PostfixConfig> ParsePostfixConfig(
    std::string_view text);

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_POSTFIX_CONFIG_H_
