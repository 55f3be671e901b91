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
  (void)libmaps::ParseCredentialValue(value);
  (void)libmaps::ParseCredential(key, value);
  // No message may show any part of a value. A message may quote the key,
  // and short fuzzed values occur in keys and in message text by chance, so
  // the check marks the value with a canary that the key does not contain.
  constexpr std::string_view kCanary = "PW-CANARY-7c1e";
  if (key.find("CANARY") == std::string_view::npos) {
    std::string marked = std::string(kCanary) + std::string(value);
    auto parsed_value = libmaps::ParseCredentialValue(marked);
    if (!parsed_value.ok() &&
        std::string(parsed_value.status().message()).find("CANARY") != std::string::npos) {
      std::abort();
    }
    auto entry = libmaps::ParseCredential(key, marked);
    if (!entry.ok() &&
        std::string(entry.status().message()).find("CANARY") != std::string::npos) {
      std::abort();
    }
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
