/* A C program built only with `pkg-config --cflags --libs libmaps` from an
 * installed libmaps (tests/abi/consumer_test.py): opens a hash: table that
 * real postmap wrote and asks for a credential in one call. Prints no
 * secret. Usage: consumer TABLE-SPEC */
#include <stdio.h>
#include <string.h>

#include <libmaps/libmaps.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (strcmp(libmaps_version(), LIBMAPS_VERSION_STRING) != 0) {
    fprintf(stderr, "header version %s, library %s\n", LIBMAPS_VERSION_STRING, libmaps_version());
    return 1;
  }
  libmaps_sasl_maps *maps = NULL;
  char *err = NULL;
  if (libmaps_sasl_maps_open(argv[1], 0, &maps, &err) != LIBMAPS_OK) {
    fprintf(stderr, "open: %s\n", err ? err : "?");
    return 1;
  }
  libmaps_sasl_lookup lookup = {0};
  lookup.host = "relay.example.jp";
  lookup.dest = "[Relay.Example.JP]:587";
  libmaps_credential *cred = NULL;
  int rc = libmaps_sasl_maps_find(maps, &lookup, &cred, &err);
  int ok = rc == LIBMAPS_OK && strcmp(libmaps_credential_username(cred, NULL), "user") == 0 &&
           strcmp(libmaps_credential_password(cred, NULL), "s3cret:x") == 0;
  libmaps_credential_free(cred);
  libmaps_sasl_maps_close(maps);
  printf("c consumer: %s (libmaps %s)\n", ok ? "ok" : "WRONG", libmaps_version());
  return ok ? 0 : 1;
}
