// A C++ program built only with `pkg-config --cflags --libs libmaps` (and
// -std=c++20) from an installed libmaps (tests/abi/consumer_test.py), with
// g++ and clang++: the README's example, then the one-call credential, on a
// hash: table real postmap wrote. Prints no secret. Usage: consumer SPEC
#include <cstdio>
#include <string>

#include <libmaps/libmaps.h>
#include <libmaps/map.h>
#include <libmaps/sasl_maps.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto map = libmaps::OpenMap(argv[1]);
  if (!map.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(map.status().message()).c_str());
    return 1;
  }
  auto value = (*map)->Lookup("[relay.example.jp]:587");
  bool ok = value.ok() && value->has_value() && **value == "user:s3cret:x";
  auto maps = libmaps::SaslPasswordMaps::Open(argv[1]);
  ok = ok && maps.ok();
  if (ok) {
    libmaps::SaslLookupContext c;
    c.host = "relay.example.jp";
    c.dest = "[relay.example.jp]:587";
    auto found = (*maps)->Find(c);
    ok = found.ok() && found->has_value() && (*found)->username() == "user" &&
         (*found)->password() == "s3cret:x";
  }
  ok = ok && std::string(libmaps_version()) == LIBMAPS_VERSION_STRING;
  std::printf("c++ consumer: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
