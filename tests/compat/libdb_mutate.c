/* libdb_mutate: changes a hash .db file through the real Berkeley DB 5.3
 * library, as Postfix's postmap -i / -d would, and checks that libdb finds
 * what it should before and after. Test-only (tests/compat/hash_write_diff.py);
 * linked with Debian's libdb5.3-dev, never with libmaps.
 *
 *   libdb_mutate FILE.db COUNT SEED
 *
 * 1. Reads every pair with a cursor, then looks every key up with DB->get:
 *    each must be found with the cursor's value (libdb's binary search over
 *    sorted pages; a file with pages out of libdb's order fails here).
 * 2. Adds COUNT new pairs (DB_NOOVERWRITE; every 40th value is larger than a
 *    quarter page, every 300th 70,000 bytes, so overflow pages are made).
 * 3. Deletes COUNT pairs: up to half of them existing ones, the rest new.
 * 4. Looks every remaining key up again, checks that the deleted ones are
 *    gone and that a cursor sees exactly the expected number of pairs.
 * 5. Closes the database (which writes it back).
 *
 * Prints one summary line to stdout; problems go to stderr. Exit status 0
 * when everything held, 1 otherwise, 2 for usage or open errors.
 */

/* db.h uses the BSD types u_int and u_long, hidden by -std=c11. */
#define _DEFAULT_SOURCE

#include <db.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
  void *data;
  size_t size;
};

struct pair {
  struct item key;
  struct item value;
  int deleted;
};

static int problems;

static void problem(const char *what, size_t index, int rc) {
  if (problems < 20) {
    fprintf(stderr, "libdb_mutate: %s (pair %zu): %s\n", what, index,
            rc == 0 ? "wrong value" : db_strerror(rc));
  }
  problems++;
}

static struct item copy_item(const void *data, size_t size) {
  struct item it;
  it.size = size;
  it.data = malloc(size ? size : 1);
  if (it.data == NULL) {
    fprintf(stderr, "libdb_mutate: out of memory\n");
    exit(2);
  }
  if (size) memcpy(it.data, data, size);
  return it;
}

static DBT dbt_of(const struct item *it) {
  DBT d;
  memset(&d, 0, sizeof d);
  d.data = it->data;
  d.size = (u_int32_t)it->size;
  return d;
}

/* Looks `p` up and compares the value; returns the libdb result. */
static int check_pair(DB *db, const struct pair *p) {
  DBT key = dbt_of(&p->key), value;
  memset(&value, 0, sizeof value);
  int rc = db->get(db, NULL, &key, &value, 0);
  if (rc != 0) return rc;
  if (value.size != p->value.size ||
      (value.size && memcmp(value.data, p->value.data, value.size) != 0)) {
    return -1;
  }
  return 0;
}

static size_t count_with_cursor(DB *db) {
  DBC *cursor;
  DBT key, value;
  size_t n = 0;
  if (db->cursor(db, NULL, &cursor, 0) != 0) return (size_t)-1;
  memset(&key, 0, sizeof key);
  memset(&value, 0, sizeof value);
  while (cursor->get(cursor, &key, &value, DB_NEXT) == 0) n++;
  cursor->close(cursor);
  return n;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: libdb_mutate FILE.db COUNT SEED\n");
    return 2;
  }
  const char *path = argv[1];
  size_t count = strtoul(argv[2], NULL, 10);
  unsigned long seed = strtoul(argv[3], NULL, 10);

  DB *db;
  int rc = db_create(&db, NULL, 0);
  if (rc == 0) rc = db->set_cachesize(db, 0, 32 * 1024 * 1024, 1);
  if (rc == 0) rc = db->open(db, NULL, path, NULL, DB_HASH, 0, 0);
  if (rc != 0) {
    fprintf(stderr, "libdb_mutate: open %s: %s\n", path, db_strerror(rc));
    return 2;
  }
  u_int32_t page_size = 0;
  db->get_pagesize(db, &page_size);

  /* 1. Everything the cursor sees, then every key by DB->get. */
  size_t n = 0, cap = 1024;
  struct pair *pairs = malloc(cap * sizeof *pairs);
  DBC *cursor;
  DBT key, value;
  if (pairs == NULL || db->cursor(db, NULL, &cursor, 0) != 0) return 2;
  memset(&key, 0, sizeof key);
  memset(&value, 0, sizeof value);
  while ((rc = cursor->get(cursor, &key, &value, DB_NEXT)) == 0) {
    if (n == cap) {
      cap *= 2;
      pairs = realloc(pairs, cap * sizeof *pairs);
      if (pairs == NULL) return 2;
    }
    pairs[n].key = copy_item(key.data, key.size);
    pairs[n].value = copy_item(value.data, value.size);
    pairs[n].deleted = 0;
    n++;
  }
  cursor->close(cursor);
  if (rc != DB_NOTFOUND) problem("cursor walk", n, rc);
  const size_t original = n;
  for (size_t i = 0; i < original; i++) {
    if ((rc = check_pair(db, &pairs[i])) != 0) problem("lookup before changes", i, rc);
  }

  /* 2. New pairs. */
  if (n + count > cap) {
    cap = n + count;
    pairs = realloc(pairs, cap * sizeof *pairs);
    if (pairs == NULL) return 2;
  }
  for (size_t i = 0; i < count; i++) {
    char kbuf[64];
    int klen = snprintf(kbuf, sizeof kbuf, "libdb-mutate-%lu-%zu", seed, i);
    size_t vlen = 5 + (i * 7) % 60;
    if (i % 40 == 7) vlen = page_size / 4 + 1 + (i % 5000);
    if (i % 300 == 11) vlen = 70000;
    struct pair *p = &pairs[n];
    p->key = copy_item(kbuf, (size_t)klen + 1); /* with a NUL, as Postfix */
    p->value.data = malloc(vlen);
    if (p->value.data == NULL) return 2;
    p->value.size = vlen;
    for (size_t j = 0; j < vlen; j++) {
      ((unsigned char *)p->value.data)[j] = (unsigned char)('a' + (i + j) % 26);
    }
    p->deleted = 0;
    DBT k = dbt_of(&p->key), v = dbt_of(&p->value);
    if ((rc = db->put(db, NULL, &k, &v, DB_NOOVERWRITE)) != 0) problem("put", n, rc);
    n++;
  }

  /* 3. Deletions: existing pairs spread over the file, then new ones. */
  size_t from_original = original < count / 2 ? original : count / 2;
  size_t deleted = 0;
  for (size_t j = 0; j < from_original; j++) {
    size_t i = (size_t)(((uint64_t)j * original) / from_original);
    DBT k = dbt_of(&pairs[i].key);
    if ((rc = db->del(db, NULL, &k, 0)) != 0) problem("delete of an existing pair", i, rc);
    pairs[i].deleted = 1;
    deleted++;
  }
  for (size_t i = original; deleted < count && i < n; i++) {
    DBT k = dbt_of(&pairs[i].key);
    if ((rc = db->del(db, NULL, &k, 0)) != 0) problem("delete of a new pair", i, rc);
    pairs[i].deleted = 1;
    deleted++;
  }

  /* 4. What is left. */
  size_t left = 0;
  for (size_t i = 0; i < n; i++) {
    if (pairs[i].deleted) {
      DBT k = dbt_of(&pairs[i].key), v;
      memset(&v, 0, sizeof v);
      if ((rc = db->get(db, NULL, &k, &v, 0)) != DB_NOTFOUND) {
        problem("a deleted pair is still there", i, rc == 0 ? DB_KEYEXIST : rc);
      }
      continue;
    }
    left++;
    if ((rc = check_pair(db, &pairs[i])) != 0) problem("lookup after changes", i, rc);
  }
  size_t seen = count_with_cursor(db);
  if (seen != left) {
    fprintf(stderr, "libdb_mutate: the cursor sees %zu pairs, expected %zu\n", seen, left);
    problems++;
  }

  /* 5. Write it back. */
  if ((rc = db->close(db, 0)) != 0) problem("close", 0, rc);
  printf("libdb_mutate: %zu pairs, %zu added, %zu deleted, %zu left, %d problems\n",
         original, count, deleted, left, problems);
  for (size_t i = 0; i < n; i++) {
    free(pairs[i].key.data);
    free(pairs[i].value.data);
  }
  free(pairs);
  return problems ? 1 : 0;
}
