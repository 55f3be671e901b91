/* The C API, from a program compiled as C11. Writes a texthash source into a
 * temporary directory, then opens, looks up, misses and fails as documented.
 * Never prints a value: credential values are secrets. */

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmaps/libmaps.h"

static int failures = 0;

/* What libmaps_lookup_each hands its callback, key by key. */
struct each_seen {
  int calls;
  int results[4];
  int secret_ok; /* the value of key 0 compared, never printed */
  int stop_after;
};

static int each_cb(void *ctx, size_t index, int result, const char *value,
                   size_t value_len) {
  struct each_seen *seen = ctx;
  if (index < 4) seen->results[index] = result;
  if (index == 0)
    seen->secret_ok = value != NULL && value_len == 11 &&
                      memcmp(value, "user:secret", 11) == 0;
  if (result != 0 && value != NULL) seen->secret_ok = -1;
  seen->calls++;
  return seen->calls != seen->stop_after;
}

#define CHECK(cond)                                              \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
              __LINE__, #cond);                                  \
      failures++;                                                \
    }                                                            \
  } while (0)

int main(void) {
  const char *tmp = getenv("TMPDIR");
  char dir[200];
  snprintf(dir, sizeof dir, "%s/libmaps-c-api-XXXXXX",
           tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) return 1;
  char path[256], spec[300];
  snprintf(path, sizeof path, "%s/smtp_pass", dir);
  snprintf(spec, sizeof spec, "texthash:%s", path);
  FILE *f = fopen(path, "w");
  if (f == NULL) return 1;
  fputs("[relay.example.jp]:587 user:secret\ndup a\ndup b\n", f);
  fclose(f);

  libmaps_map *map = NULL;
  char *err = NULL;
  /* Default flags: a duplicate key fails the open, as in a Postfix daemon. */
  CHECK(libmaps_open(spec, 0, &map, &err) == LIBMAPS_ERR_CONFIG);
  CHECK(err != NULL && strstr(err, "duplicate entry") != NULL);
  CHECK(err != NULL && strstr(err, "secret") == NULL);
  libmaps_free(err);
  err = NULL;

  CHECK(libmaps_open(spec, LIBMAPS_OPEN_DUP_WARN, &map, &err) == LIBMAPS_OK);
  CHECK(map != NULL);

  char *value = NULL;
  size_t len = 0;
  const char *key = "[Relay.Example.JP]:587";
  CHECK(libmaps_lookup(map, key, strlen(key), &value, &len, &err) == LIBMAPS_OK);
  CHECK(value != NULL && len == 11 && memcmp(value, "user:secret", 11) == 0);
  CHECK(value != NULL && value[len] == '\0');
  libmaps_free(value);

  value = NULL;
  CHECK(libmaps_lookup(map, "nope", 4, &value, &len, &err) == LIBMAPS_NOTFOUND);
  CHECK(value == NULL);
  CHECK(libmaps_lookup(map, "dup", 3, &value, NULL, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "a") == 0);
  libmaps_free(value);

  /* The safe batch: each key in order, found or not; the callback stops it. */
  const char *keys[3] = {"[RELAY.example.jp]:587", "nope", "dup"};
  size_t key_lens[3] = {22, 4, 3};
  struct each_seen seen = {0, {-9, -9, -9, -9}, 0, 0};
  CHECK(libmaps_lookup_each(map, keys, key_lens, 3, each_cb, &seen, &err) == LIBMAPS_OK);
  CHECK(seen.calls == 3 && seen.secret_ok == 1);
  CHECK(seen.results[0] == LIBMAPS_OK && seen.results[1] == LIBMAPS_NOTFOUND &&
        seen.results[2] == LIBMAPS_OK);
  struct each_seen stopped = {0, {-9, -9, -9, -9}, 0, 1};
  CHECK(libmaps_lookup_each(map, keys, key_lens, 3, each_cb, &stopped, NULL) == LIBMAPS_OK);
  CHECK(stopped.calls == 1);
  CHECK(libmaps_lookup_each(map, NULL, key_lens, 3, each_cb, &seen, &err) ==
        LIBMAPS_ERR_CONFIG);
  CHECK(err != NULL && strstr(err, "null argument") != NULL);
  libmaps_free(err);
  err = NULL;
  CHECK(libmaps_lookup_each(map, keys, key_lens, 0, each_cb, &seen, NULL) == LIBMAPS_OK);
  libmaps_close(map);

  /* A composite table (issue 14): unionmap: over inline: and static:. */
  map = NULL;
  CHECK(libmaps_open("unionmap:{inline:{{relay = smtp:[r]:587}}, static:{x y}}", 0, &map,
                     &err) == LIBMAPS_OK);
  value = NULL;
  CHECK(map != NULL &&
        libmaps_lookup(map, "RELAY", 5, &value, &len, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "smtp:[r]:587,x y") == 0);
  libmaps_free(value);
  value = NULL;
  CHECK(map != NULL && libmaps_lookup(map, "other", 5, &value, NULL, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "x y") == 0);
  libmaps_free(value);
  libmaps_close(map);
  map = NULL;
  CHECK(libmaps_open("fail:x", 0, &map, NULL) == LIBMAPS_OK);
  CHECK(map != NULL && libmaps_lookup(map, "a", 1, &value, NULL, &err) == LIBMAPS_ERR_RETRY);
  CHECK(err != NULL && strstr(err, "Application error") != NULL);
  libmaps_free(err);
  err = NULL;
  libmaps_close(map);

  /* A pcre: table from a file (case-insensitive by default: a flag i would
   * make a pattern case-sensitive), and a unionmap: over it and a cidr: table. */
  char pcre_path[256], pcre_spec[300], union_spec[700];
  snprintf(pcre_path, sizeof pcre_path, "%s/sender_access", dir);
  snprintf(pcre_spec, sizeof pcre_spec, "pcre:%s", pcre_path);
  f = fopen(pcre_path, "w");
  if (f == NULL) return 1;
  fputs("# pcre_table(5)\n/^(?!owner-)(.*)-outgoing@(.*)/ 550 Use ${1}@${2} instead\n"
        "if /@example\\.com$/\n/^postmaster@/ OK\nendif\n", f);
  fclose(f);
  map = NULL;
  CHECK(libmaps_open(pcre_spec, 0, &map, &err) == LIBMAPS_OK);
  value = NULL;
  key = "list-outgoing@example.org";
  CHECK(map != NULL && libmaps_lookup(map, key, strlen(key), &value, &len, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "550 Use list@example.org instead") == 0);
  libmaps_free(value);
  value = NULL;
  key = "owner-list-outgoing@example.org";
  CHECK(map != NULL &&
        libmaps_lookup(map, key, strlen(key), &value, &len, NULL) == LIBMAPS_NOTFOUND);
  key = "Postmaster@EXAMPLE.com";
  CHECK(map != NULL && libmaps_lookup(map, key, strlen(key), &value, &len, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "OK") == 0);
  libmaps_free(value);
  value = NULL;
  key = "postmaster@example.net";
  CHECK(map != NULL &&
        libmaps_lookup(map, key, strlen(key), &value, &len, NULL) == LIBMAPS_NOTFOUND);
  libmaps_close(map);
  snprintf(union_spec, sizeof union_spec,
           "unionmap:{%s, cidr:{{192.0.2.0/24 DUNNO}, {::/0 v6}}, static:{last}}", pcre_spec);
  map = NULL;
  CHECK(libmaps_open(union_spec, 0, &map, &err) == LIBMAPS_OK);
  key = "192.0.2.7";
  CHECK(map != NULL && libmaps_lookup(map, key, strlen(key), &value, &len, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "DUNNO,last") == 0);
  libmaps_free(value);
  value = NULL;
  key = "a-outgoing@b";
  CHECK(map != NULL && libmaps_lookup(map, key, strlen(key), &value, &len, NULL) == LIBMAPS_OK);
  CHECK(value != NULL && strcmp(value, "550 Use a@b instead,last") == 0);
  libmaps_free(value);
  value = NULL;
  libmaps_close(map);
  CHECK(libmaps_open("regexp:{{/a/ b}x}", 0, &map, &err) == LIBMAPS_ERR_CONFIG);
  CHECK(err != NULL && strstr(err, "syntax error after '}'") != NULL);
  libmaps_free(err);
  err = NULL;
  unlink(pcre_path);

  map = NULL;
  CHECK(libmaps_open("bogus:x", 0, &map, &err) == LIBMAPS_ERR_CONFIG);
  CHECK(err != NULL && strcmp(err, "unsupported dictionary type: bogus") == 0);
  libmaps_free(err);
  err = NULL;
  CHECK(libmaps_open("texthash:/nonexistent/x", 0, &map, NULL) == LIBMAPS_ERR_CONFIG);
  CHECK(libmaps_open(NULL, 0, &map, NULL) == LIBMAPS_ERR_CONFIG);
  CHECK(strncmp(libmaps_strerror(LIBMAPS_NOTFOUND), "LIBMAPS_NOTFOUND", 16) == 0);
  libmaps_close(NULL);
  libmaps_free(NULL);

  unlink(path);
  rmdir(dir);
  if (failures == 0) printf("c_api_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
