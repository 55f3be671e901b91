// The credential key and value parsers and the lookup-key order, framed as
// "key<TAB>value". No error message may contain the value.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "libmaps/credential.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  std::string_view key, value;
  libmaps::fuzz::SplitAtTab(libmaps::fuzz::AsText(data, size), &key, &value);
  auto parsed_key = libmaps::ParseCredentialKey(key);
  // Messages may quote the key, so only a value that is not part of the key
  // can be told apart from it.
  bool value_in_key = key.find(value) != std::string_view::npos;
  auto parsed_value = libmaps::ParseCredentialValue(value);
  if (!parsed_value.ok() && value.size() >= 8 && !value_in_key &&
      std::string(parsed_value.status().message()).find(value) !=
          std::string::npos) {
    std::abort();  // a secret in an error message
  }
  auto entry = libmaps::ParseCredential(key, value);
  if (!entry.ok() && value.size() >= 8 && !value_in_key &&
      std::string(entry.status().message()).find(value) != std::string::npos) {
    std::abort();
  }
  libmaps::SaslLookupContext context;
  context.sender = std::string(key);
  context.sender_dependent_authentication = true;
  context.recipient_delimiter = "+-";
  context.host = std::string(value.substr(0, 64));
  context.dest = std::string(key);
  (void)libmaps::SaslLookupKeys(context);
  (void)libmaps::ParseSaslNextHop(key);
  (void)libmaps::ParseSaslNextHop(key, /*lmtp=*/true);
  return 0;
}
