/* libmaps/libmaps.h: the C API of libmaps.
 *
 * A thin shim over the C++ API for MTAs written in C. It compiles as C11 and
 * C++; no C++ exception ever crosses it.
 *
 * Conventions (every function):
 *  - The return value is a libmaps_result: 0 is success (for lookups: found),
 *    a positive value a benign non-success (LIBMAPS_NOTFOUND), a negative
 *    value an error. LIBMAPS_ERR_RETRY means "try again later" (defer the
 *    mail); the others are permanent until someone fixes the configuration.
 *  - `errmsg` may be NULL. Otherwise, on failure *errmsg receives a message
 *    allocated by libmaps (free it with libmaps_free); on success it is left
 *    unchanged. Messages never contain a password.
 *  - Memory returned by libmaps is freed with libmaps_free, never free().
 *  - Keys and values are pointer + length; values returned are also
 *    NUL-terminated for convenience (the NUL is not counted in the length).
 *
 * Threading: a libmaps_map may be used for lookups from several threads at
 * once; libmaps_close must not run concurrently with other calls on it.
 */

#ifndef LIBMAPS_INCLUDE_LIBMAPS_LIBMAPS_H_
#define LIBMAPS_INCLUDE_LIBMAPS_LIBMAPS_H_

#include <stddef.h>
#include <stdint.h>

#include "libmaps/export.h"
#include "libmaps/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum libmaps_result {
  LIBMAPS_OK = 0,           /* success; for lookups: the key was found */
  LIBMAPS_NOTFOUND = 1,     /* the key is absent (not an error) */
  LIBMAPS_ERR_RETRY = -1,   /* transient: I/O error, lock; defer */
  LIBMAPS_ERR_CONFIG = -2,  /* bad spec, type, option, source or credential */
  LIBMAPS_ERR_CORRUPT = -3, /* the file failed format checks */
  LIBMAPS_ERR_NOMEM = -4,   /* out of memory */
  LIBMAPS_ERR_INTERNAL = -5 /* a bug in libmaps */
} libmaps_result;

/* Flags for libmaps_open. The default (0) is a Postfix daemon in UTF-8 mode:
 * keys folded with full Unicode case folding, duplicate keys in a texthash
 * source make the open fail. */
#define LIBMAPS_OPEN_NO_FOLD 0x01u       /* postmap -f: keys are exact */
#define LIBMAPS_OPEN_NO_UTF8 0x02u       /* smtputf8_enable = no, or -u */
#define LIBMAPS_OPEN_DUP_WARN 0x04u      /* duplicate: first wins */
#define LIBMAPS_OPEN_DUP_REPLACE 0x08u   /* duplicate: last wins (-r) */
#define LIBMAPS_OPEN_VALUES_ARE_FILES 0x10u /* postmap -F */
/* hash: and lmdb: lookups without a lock or system call each (the default
 * takes Postfix's shared lock per lookup). Only for tables that are replaced
 * by rename, never changed in place (cmap builds them so; postmap does
 * not): see LockPolicy::kSnapshot in libmaps/map.h. Answers may be up to
 * about a second old. */
#define LIBMAPS_OPEN_SNAPSHOT 0x20u
/* The default keeps a hash:/btree:/lmdb: table's shared lock for up to 1 ms
 * after a lookup (a library thread lets it go), so that a burst of lookups
 * locks once; this flag takes and lets go of it in every lookup instead, as
 * Postfix does, with no thread: see LockPolicy::kPerLookupStrict. */
#define LIBMAPS_OPEN_NO_LINGER 0x40u

typedef struct libmaps_map libmaps_map; /* opaque */

/* Opens the map named by `spec` ("type:name", e.g. "texthash:/etc/x").
 * On success *out receives the handle (close it with libmaps_close).
 * Returns LIBMAPS_OK, LIBMAPS_ERR_CONFIG (bad spec or type, missing file,
 * duplicate keys), LIBMAPS_ERR_RETRY (I/O), LIBMAPS_ERR_NOMEM. Warnings
 * about the source (Postfix's) are dropped; use the C++ API to see them. */
LIBMAPS_EXPORT int libmaps_open(const char *spec, unsigned flags,
                                libmaps_map **out,
                                char **errmsg) LIBMAPS_NOEXCEPT;

/* Looks `key` up. On LIBMAPS_OK, *value (and *value_len if not NULL)
 * receive a copy of the value; free it with libmaps_free. On
 * LIBMAPS_NOTFOUND they are untouched. Errors as for libmaps_open. */
LIBMAPS_EXPORT int libmaps_lookup(const libmaps_map *map, const char *key,
                                  size_t key_len, char **value,
                                  size_t *value_len,
                                  char **errmsg) LIBMAPS_NOEXCEPT;

/* The safe batch: looks keys[0..n-1] (key_lens[i] bytes each) up in order,
 * as libmaps_lookup would one by one, and calls
 *     fn(ctx, i, result, value, value_len)
 * right after key i's lookup: result is LIBMAPS_OK (value, value_len: the
 * value; NOT NUL-terminated, valid only during the call: for hash:, btree:
 * and cdb: it points into the mapped table (lmdb: into a copy that is
 * wiped, since postmap -i rewrites lmdb: pages without a lock), and it may
 * be a password: copy what you keep, into memory you wipe), LIBMAPS_NOTFOUND (value NULL)
 * or an error code (value NULL; the lookup of that key failed). fn returns
 * nonzero to go on, 0 to stop.
 *
 * Under the default lock mode a hash: or lmdb: table takes
 * Postfix's shared lock once for many keys instead of once per key, holding
 * it for at most about 2 ms before it lets writers in (postmap, cmap -i) and
 * takes it again: fn runs under the lock, so it must not block or take
 * long. This is what MTAs, milters and policy daemons with more than one
 * key to look up (an SMTP client's host, then next-hop probes; a policy
 * request's client, helo and sender) should call.
 *
 * Returns LIBMAPS_OK when every key was looked up (found or not) or fn
 * stopped; otherwise the first error a key met (its message in *errmsg),
 * after fn has seen every key. LIBMAPS_ERR_CONFIG for null arguments. */
typedef int (*libmaps_each_fn)(void *ctx, size_t index, int result,
                               const char *value, size_t value_len);
LIBMAPS_EXPORT int libmaps_lookup_each(const libmaps_map *map,
                                       const char *const *keys,
                                       const size_t *key_lens, size_t n,
                                       libmaps_each_fn fn, void *ctx,
                                       char **errmsg) LIBMAPS_NOEXCEPT;

/* Closes the map; NULL is allowed. */
LIBMAPS_EXPORT void libmaps_close(libmaps_map *map) LIBMAPS_NOEXCEPT;

/* Frees memory that libmaps returned; NULL is allowed. */
LIBMAPS_EXPORT void libmaps_free(void *p) LIBMAPS_NOEXCEPT;

/* A static text for a libmaps_result ("LIBMAPS_NOTFOUND: key not found"). */
LIBMAPS_EXPORT const char *libmaps_strerror(int result) LIBMAPS_NOEXCEPT;

/* Process-wide, before the first libmaps_open: nonzero reads tables' files
 * into memory instead of mapping them, so libmaps never installs its SIGBUS
 * handler (see libmaps::SetFileAccess in libmaps/map.h for the trade-off and
 * what the handler does). */
LIBMAPS_EXPORT void libmaps_set_read_into_memory(int enable) LIBMAPS_NOEXCEPT;

/* The version of the library loaded, "MAJOR.MINOR.PATCH"; the headers'
 * version is LIBMAPS_VERSION_STRING (libmaps/version.h). */
LIBMAPS_EXPORT const char *libmaps_version(void) LIBMAPS_NOEXCEPT;

#ifdef __cplusplus
}  /* extern "C" */
#endif

#include "libmaps/libmaps_credential.h"

#endif /* LIBMAPS_INCLUDE_LIBMAPS_LIBMAPS_H_ */
