/* libmaps/libmaps_credential.h: the C API for SASL client credentials.
 *
 * Part of the C API in libmaps/libmaps.h (which includes this header; the
 * conventions stated there apply: result codes, `errmsg`, libmaps_free). It
 * splits a value from smtp_sasl_password_maps into username and password
 * the way Postfix does, and lists the keys Postfix's SMTP client looks up,
 * in order. Nothing here folds case: the map does that.
 *
 * Secrets: error messages never contain any part of a value. A password
 * lives in memory owned by the libmaps_credential and is overwritten with
 * zeros by libmaps_credential_free.
 *
 * Threading: a libmaps_credential may be read from several threads at once;
 * libmaps_credential_free must not run concurrently with other calls on it.
 * All other functions here keep no state.
 */

#ifndef LIBMAPS_INCLUDE_LIBMAPS_LIBMAPS_CREDENTIAL_H_
#define LIBMAPS_INCLUDE_LIBMAPS_LIBMAPS_CREDENTIAL_H_

#include <stddef.h>

#include "libmaps/export.h"
#include "libmaps/libmaps.h" /* libmaps_result; harmless when already in */

#ifdef __cplusplus
extern "C" {
#endif

/* A username and password from a password table (opaque). */
typedef struct libmaps_credential libmaps_credential;

/* Splits `value` (`len` bytes, not necessarily NUL-terminated) at its first
 * ':' into username and password, as Postfix 3.7 does: the password may
 * contain ':', the username cannot; a value without ':' is all username with
 * an empty password. Nothing is trimmed.
 *
 * On LIBMAPS_OK, *out receives a new credential; free it with
 * libmaps_credential_free. On failure *out is set to NULL.
 * Returns:
 *   LIBMAPS_OK
 *   LIBMAPS_ERR_CONFIG  empty value, a NUL byte in the value, `out` NULL, or
 *                       `value` NULL with len > 0
 *   LIBMAPS_ERR_NOMEM   out of memory
 * The message in *errmsg never contains any part of the value. */
LIBMAPS_EXPORT int libmaps_credential_parse(const char *value, size_t len,
                                            libmaps_credential **out,
                                            char **errmsg) LIBMAPS_NOEXCEPT;

/* The username: NUL-terminated, owned by `credential`, valid until
 * libmaps_credential_free. If `len` is not NULL it receives the length
 * (without the NUL). Returns NULL (and *len = 0) if `credential` is NULL. */
LIBMAPS_EXPORT const char *libmaps_credential_username(
    const libmaps_credential *credential, size_t *len) LIBMAPS_NOEXCEPT;

/* The password, possibly empty; otherwise as libmaps_credential_username.
 * Do not log it; copies the caller makes are the caller's to wipe. */
LIBMAPS_EXPORT const char *libmaps_credential_password(
    const libmaps_credential *credential, size_t *len) LIBMAPS_NOEXCEPT;

/* Overwrites the password with zeros and frees `credential`; NULL is
 * allowed. Strings returned by the accessors become invalid. */
LIBMAPS_EXPORT void libmaps_credential_free(libmaps_credential *credential)
    LIBMAPS_NOEXCEPT;

/* Flags for libmaps_sasl_lookup.flags. */
/* smtp_sender_dependent_authentication = yes: probe the sender first. */
#define LIBMAPS_SASL_SENDER_DEPENDENT 0x01u
/* An LMTP client (lmtp_sasl_password_maps): no sender probes. */
#define LIBMAPS_SASL_LMTP 0x02u
/* owner_request_special = no: split owner-x and x-request at '-' too. */
#define LIBMAPS_SASL_NO_OWNER_REQUEST_SPECIAL 0x04u

/* Returns nonzero if `domain` (NUL-terminated, `len` bytes, valid only during
 * the call) is local to this Postfix ($myorigin, $mydestination, a local
 * interface address). `arg` is libmaps_sasl_lookup.is_local_domain_arg. */
typedef int (*libmaps_is_local_domain_fn)(void *arg, const char *domain,
                                          size_t len);

/* What the client knows about one connection. Zero-initialise it (e.g.
 * `libmaps_sasl_lookup lookup = {0};`) and set the fields that apply; NULL
 * strings count as empty. */
typedef struct libmaps_sasl_lookup {
  /* Envelope sender in internal (unquoted) form; NULL or "" for none. */
  const char *sender;
  /* recipient_delimiter: each character starts an extension; NULL or "" for
   * none. */
  const char *recipient_delimiter;
  /* NULL: no domain is local. */
  libmaps_is_local_domain_fn is_local_domain;
  void *is_local_domain_arg;
  /* Server host name (Postfix's iter->host), e.g. "mail.isp.example". */
  const char *host;
  /* Next-hop destination exactly as configured (iter->dest), e.g.
   * "[mail.isp.example]:587". */
  const char *dest;
  /* LIBMAPS_SASL_* flags. */
  unsigned flags;
} libmaps_sasl_lookup;

/* Lists the keys Postfix's client looks up in smtp_sasl_password_maps for
 * `lookup`, in order; the first key the table has wins: the sender probes
 * (only with LIBMAPS_SASL_SENDER_DEPENDENT, without LIBMAPS_SASL_LMTP, and a
 * non-empty sender: full address, address without extension, bare local
 * parts if the domain is local, "@domain"; each address in RFC 5322 quoted
 * form first, then unquoted if different), then host, then dest. Empty keys
 * and repeats of an earlier key are left out. See SaslLookupKeys in
 * libmaps/credential.h for the details.
 *
 * On LIBMAPS_OK, *keys receives a NULL-terminated array of NUL-terminated
 * strings and *count (if `count` is not NULL) their number; free the array
 * with libmaps_sasl_lookup_keys_free. The array may be empty (just the NULL).
 * On failure *keys is set to NULL (if `keys` is not NULL).
 * Returns:
 *   LIBMAPS_OK
 *   LIBMAPS_ERR_CONFIG  `lookup` or `keys` is NULL
 *   LIBMAPS_ERR_NOMEM   out of memory */
LIBMAPS_EXPORT int libmaps_sasl_lookup_keys(const libmaps_sasl_lookup *lookup,
                                            char ***keys, size_t *count,
                                            char **errmsg) LIBMAPS_NOEXCEPT;

/* Frees an array returned by libmaps_sasl_lookup_keys and its strings; NULL
 * is allowed. */
LIBMAPS_EXPORT void libmaps_sasl_lookup_keys_free(char **keys) LIBMAPS_NOEXCEPT;

/* ---- One call for the credential of a connection --------------------------
 *
 * libmaps_sasl_maps_open opens the value of smtp_sasl_password_maps as written
 * in main.cf ("hash:/etc/postfix/sasl_passwd, lmdb:/etc/postfix/more": commas
 * or blanks between tables, braces protecting lists inside), each table with
 * libmaps_open's `flags`. libmaps_sasl_maps_find then gives the credential
 * Postfix's SMTP client would use for `lookup`: the keys of
 * libmaps_sasl_lookup_keys in order, and for each key the tables in order;
 * the first hit wins, and so does a lookup error met before any hit (defer
 * the delivery then: LIBMAPS_ERR_RETRY, the message names the table). The
 * value is split at its first ':'; a value without ':' is all username with
 * an empty password, as in Postfix. The credential is in locked memory (not
 * swapped, not in core dumps), zeroed by libmaps_credential_free. See
 * libmaps/sasl_maps.h for the C++ class and the details. */

typedef struct libmaps_sasl_maps libmaps_sasl_maps; /* opaque */

/* Returns LIBMAPS_OK (*out set; close with libmaps_sasl_maps_close) or
 * libmaps_open's errors for the first table that fails to open;
 * LIBMAPS_ERR_CONFIG for an empty list or a NULL argument. */
LIBMAPS_EXPORT int libmaps_sasl_maps_open(const char *tables, unsigned flags,
                                          libmaps_sasl_maps **out,
                                          char **errmsg) LIBMAPS_NOEXCEPT;

/* On LIBMAPS_OK, *out receives a credential (free it with
 * libmaps_credential_free); LIBMAPS_NOTFOUND: no table has any key (*out is
 * NULL); otherwise an error as for libmaps_lookup. May be called from several
 * threads at once on the same `maps`. */
LIBMAPS_EXPORT int libmaps_sasl_maps_find(const libmaps_sasl_maps *maps,
                                          const libmaps_sasl_lookup *lookup,
                                          libmaps_credential **out,
                                          char **errmsg) LIBMAPS_NOEXCEPT;

/* Closes every table; NULL is allowed. Credentials already found stay valid. */
LIBMAPS_EXPORT void libmaps_sasl_maps_close(libmaps_sasl_maps *maps) LIBMAPS_NOEXCEPT;

/* For a credential from libmaps_sasl_maps_find: the key that found it and the
 * table (as listed), NUL-terminated, owned by the credential; "" for one from
 * libmaps_credential_parse or for NULL. Not secret. */
LIBMAPS_EXPORT const char *libmaps_credential_key(
    const libmaps_credential *credential) LIBMAPS_NOEXCEPT;
LIBMAPS_EXPORT const char *libmaps_credential_table(
    const libmaps_credential *credential) LIBMAPS_NOEXCEPT;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LIBMAPS_INCLUDE_LIBMAPS_LIBMAPS_CREDENTIAL_H_ */
