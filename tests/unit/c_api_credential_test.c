/* The credential C API (libmaps/libmaps_credential.h) from a C11 program.
 *
 * Exits 0 when every check passes; otherwise prints one line per failed
 * check to stderr and exits 1. Passwords are compared with memcmp and never
 * printed: a failure names the check, not the data. */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmaps/libmaps.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* A password that must never appear in a message. */
static const char kCanary[] = "Zq7xHunt3r2Qv9wK";

/* Nonzero if `text` contains kCanary or any 6-byte piece of it. */
static int shows_canary(const char *text) {
  size_t n = strlen(kCanary);
  size_t i;
  if (text == NULL) return 0;
  for (i = 0; i + 6 <= n; ++i) {
    char piece[7];
    memcpy(piece, kCanary + i, 6);
    piece[6] = '\0';
    if (strstr(text, piece) != NULL) return 1;
  }
  return 0;
}

static int bytes_equal(const char *a, size_t a_len, const char *b,
                       size_t b_len) {
  return a != NULL && a_len == b_len && memcmp(a, b, a_len) == 0;
}

static void test_parse_splits_at_first_colon(void) {
  static const char value[] = "user1:pa:ss:wd";
  static const char password[] = "pa:ss:wd";
  libmaps_credential *cred = NULL;
  char *errmsg = NULL;
  const char *p;
  size_t len = 99;

  CHECK(libmaps_credential_parse(value, strlen(value), &cred, &errmsg) ==
        LIBMAPS_OK);
  CHECK(cred != NULL);
  CHECK(errmsg == NULL);
  if (cred == NULL) return;

  p = libmaps_credential_username(cred, &len);
  CHECK(bytes_equal(p, len, "user1", 5));
  CHECK(p != NULL && p[len] == '\0');

  p = libmaps_credential_password(cred, &len);
  CHECK(bytes_equal(p, len, password, strlen(password)));
  CHECK(p != NULL && p[len] == '\0');

  /* len may be NULL. */
  CHECK(libmaps_credential_username(cred, NULL) != NULL);
  libmaps_credential_free(cred);
}

static void test_parse_without_colon_gives_empty_password(void) {
  static const char value[] = "justauser";
  libmaps_credential *cred = NULL;
  const char *p;
  size_t len = 99;

  CHECK(libmaps_credential_parse(value, strlen(value), &cred, NULL) ==
        LIBMAPS_OK);
  if (cred == NULL) {
    CHECK(cred != NULL);
    return;
  }
  p = libmaps_credential_username(cred, &len);
  CHECK(bytes_equal(p, len, "justauser", 9));
  p = libmaps_credential_password(cred, &len);
  CHECK(p != NULL && len == 0 && p[0] == '\0');
  libmaps_credential_free(cred);
}

static void test_parse_uses_length_not_nul(void) {
  /* Only the first 6 bytes belong to the value. */
  static const char value[] = "u:abcdTRAILING";
  libmaps_credential *cred = NULL;
  const char *p;
  size_t len = 0;

  CHECK(libmaps_credential_parse(value, 6, &cred, NULL) == LIBMAPS_OK);
  if (cred == NULL) {
    CHECK(cred != NULL);
    return;
  }
  p = libmaps_credential_password(cred, &len);
  CHECK(bytes_equal(p, len, "abcd", 4));
  libmaps_credential_free(cred);
}

static void test_parse_of_empty_value_fails(void) {
  libmaps_credential *cred = (libmaps_credential *)&failures; /* not NULL */
  char *errmsg = NULL;

  CHECK(libmaps_credential_parse("", 0, &cred, &errmsg) == LIBMAPS_ERR_CONFIG);
  CHECK(cred == NULL);
  CHECK(errmsg != NULL && strcmp(errmsg, "empty credential value") == 0);
  libmaps_free(errmsg);

  /* NULL with length 0 is the empty value too. */
  CHECK(libmaps_credential_parse(NULL, 0, &cred, NULL) == LIBMAPS_ERR_CONFIG);
}

static void test_error_messages_never_show_the_password(void) {
  char value[64];
  size_t n;
  libmaps_credential *cred = NULL;
  char *errmsg = NULL;

  /* "user:<canary>\0tail": a NUL byte makes the value invalid. */
  n = (size_t)snprintf(value, sizeof value, "user:%s", kCanary);
  value[n] = '\0';
  memcpy(value + n + 1, "tail", 4);
  n += 5;
  CHECK(libmaps_credential_parse(value, n, &cred, &errmsg) ==
        LIBMAPS_ERR_CONFIG);
  CHECK(cred == NULL);
  CHECK(errmsg != NULL);
  CHECK(!shows_canary(errmsg));
  libmaps_free(errmsg);
}

static void test_null_arguments(void) {
  libmaps_credential *cred = NULL;
  char *errmsg = NULL;
  size_t len = 99;

  CHECK(libmaps_credential_parse("u:p", 3, NULL, &errmsg) ==
        LIBMAPS_ERR_CONFIG);
  CHECK(errmsg != NULL);
  libmaps_free(errmsg);
  CHECK(libmaps_credential_parse(NULL, 3, &cred, NULL) == LIBMAPS_ERR_CONFIG);
  CHECK(cred == NULL);
  CHECK(libmaps_credential_username(NULL, &len) == NULL && len == 0);
  len = 99;
  CHECK(libmaps_credential_password(NULL, &len) == NULL && len == 0);
  libmaps_credential_free(NULL);
}

/* Compares a NULL-terminated key array with `want` (`n` strings). */
static int keys_equal(char **keys, size_t count, const char *const *want,
                      size_t n) {
  size_t i;
  if (keys == NULL || count != n) return 0;
  for (i = 0; i < n; ++i) {
    if (keys[i] == NULL || strcmp(keys[i], want[i]) != 0) return 0;
  }
  return keys[n] == NULL;
}

static void test_lookup_keys_host_then_dest(void) {
  static const char *const want[] = {"mail.isp.example",
                                     "[mail.isp.example]:587"};
  libmaps_sasl_lookup lookup = {0};
  char **keys = NULL;
  size_t count = 0;

  lookup.host = "mail.isp.example";
  lookup.dest = "[mail.isp.example]:587";
  lookup.sender = "someone@example.org"; /* ignored: no SENDER_DEPENDENT */
  CHECK(libmaps_sasl_lookup_keys(&lookup, &keys, &count, NULL) == LIBMAPS_OK);
  CHECK(keys_equal(keys, count, want, 2));
  libmaps_sasl_lookup_keys_free(keys);
}

static void test_lookup_keys_sender_first(void) {
  static const char *const want[] = {"User+tag@Example.COM", "User@Example.COM",
                                     "@Example.COM", "mail.isp.example",
                                     "[mail.isp.example]:587"};
  libmaps_sasl_lookup lookup = {0};
  char **keys = NULL;
  size_t count = 0;

  lookup.sender = "User+tag@Example.COM";
  lookup.recipient_delimiter = "+";
  lookup.host = "mail.isp.example";
  lookup.dest = "[mail.isp.example]:587";
  lookup.flags = LIBMAPS_SASL_SENDER_DEPENDENT;
  CHECK(libmaps_sasl_lookup_keys(&lookup, &keys, &count, NULL) == LIBMAPS_OK);
  CHECK(keys_equal(keys, count, want, 5));
  libmaps_sasl_lookup_keys_free(keys);
}

static int local_domain_calls = 0;

static int is_example_com(void *arg, const char *domain, size_t len) {
  ++*(int *)arg;
  return len == 11 && strcmp(domain, "example.com") == 0;
}

static void test_lookup_keys_local_domain(void) {
  static const char *const want[] = {"user@example.com", "user",
                                     "@example.com"};
  libmaps_sasl_lookup lookup = {0};
  char **keys = NULL;
  size_t count = 0;

  lookup.sender = "user@example.com";
  lookup.is_local_domain = is_example_com;
  lookup.is_local_domain_arg = &local_domain_calls;
  lookup.flags = LIBMAPS_SASL_SENDER_DEPENDENT;
  CHECK(libmaps_sasl_lookup_keys(&lookup, &keys, &count, NULL) == LIBMAPS_OK);
  CHECK(keys_equal(keys, count, want, 3));
  CHECK(local_domain_calls == 1);
  libmaps_sasl_lookup_keys_free(keys);
}

static void test_lookup_keys_lmtp_skips_sender(void) {
  static const char *const want[] = {"lmtp.example", "lmtp.example:24"};
  libmaps_sasl_lookup lookup = {0};
  char **keys = NULL;
  size_t count = 0;

  lookup.sender = "user@example.com";
  lookup.host = "lmtp.example";
  lookup.dest = "lmtp.example:24";
  lookup.flags = LIBMAPS_SASL_SENDER_DEPENDENT | LIBMAPS_SASL_LMTP;
  CHECK(libmaps_sasl_lookup_keys(&lookup, &keys, &count, NULL) == LIBMAPS_OK);
  CHECK(keys_equal(keys, count, want, 2));
  libmaps_sasl_lookup_keys_free(keys);
}

static void test_lookup_keys_empty_result(void) {
  libmaps_sasl_lookup lookup = {0};
  char **keys = NULL;

  /* count may be NULL; the array is then just the terminating NULL. */
  CHECK(libmaps_sasl_lookup_keys(&lookup, &keys, NULL, NULL) == LIBMAPS_OK);
  CHECK(keys != NULL && keys[0] == NULL);
  libmaps_sasl_lookup_keys_free(keys);
}

static void test_lookup_keys_null_arguments(void) {
  libmaps_sasl_lookup lookup = {0};
  char **keys = (char **)&failures; /* not NULL */
  char *errmsg = NULL;

  CHECK(libmaps_sasl_lookup_keys(NULL, &keys, NULL, &errmsg) ==
        LIBMAPS_ERR_CONFIG);
  CHECK(keys == NULL);
  CHECK(errmsg != NULL);
  libmaps_free(errmsg);
  CHECK(libmaps_sasl_lookup_keys(&lookup, NULL, NULL, NULL) ==
        LIBMAPS_ERR_CONFIG);
  libmaps_sasl_lookup_keys_free(NULL);
}

int main(void) {
  test_parse_splits_at_first_colon();
  test_parse_without_colon_gives_empty_password();
  test_parse_uses_length_not_nul();
  test_parse_of_empty_value_fails();
  test_error_messages_never_show_the_password();
  test_null_arguments();
  test_lookup_keys_host_then_dest();
  test_lookup_keys_sender_first();
  test_lookup_keys_local_domain();
  test_lookup_keys_lmtp_skips_sender();
  test_lookup_keys_empty_result();
  test_lookup_keys_null_arguments();
  if (failures != 0) {
    fprintf(stderr, "c_api_credential_test: %d check(s) failed\n", failures);
    return 1;
  }
  return 0;
}
