/*
 * passwd - the passwd table (DESIGN §1) and the password check: what
 * the auth service alone does with a user name and a password, and how
 * mailctl makes a hash.
 *
 * Table (text "address hash" lines, lib/map_text table format, compiled
 * to passwd.lmdb 0640 root:facteur-auth):
 *
 *     demo@example.test  $y$j9T$...$...
 *
 * Hashes are crypt(3) strings from libxcrypt: yescrypt ("$y$", the
 * default for new hashes), sha512-crypt ("$6$") and bcrypt ("$2b$",
 * "$2y$", "$2a$") are accepted; anything else is a malformed hash.
 *
 * The check (passwd_check) looks the user up in the users table (unknown
 * or disabled: the answer is FAIL) and in the passwd table, and always
 * runs one crypt(3) of the password: against the user's hash, or, for a
 * user without one, against a dummy hash made at start-up with the
 * default method, so that "no such user" takes as long as "wrong
 * password".  The computed hash is compared with CRYPTO_memcmp().
 *
 * Never: return or log a hash or a password, compare hashes with
 * memcmp/strcmp, or leave crypt(3)'s work area unwiped.
 */
#ifndef FACTEUR_PASSWD_H
#define FACTEUR_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/map.h"
#include "lib/str.h"
#include "lib/util.h"

/* Longest hash (libxcrypt's CRYPT_OUTPUT_SIZE, NUL included). */
#define PASSWD_HASH_MAX 384
/* The method of new hashes: yescrypt. */
#define PASSWD_DEFAULT_METHOD "$y$"

enum passwd_verdict {
	PASSWD_OK,   /* right password, enabled user */
	PASSWD_FAIL, /* anything else a user could cause */
	PASSWD_TEMP, /* a table could not be read: try again later */
};

/* Why a check failed, for the log (never shown to the client). */
enum passwd_reason {
	PASSWD_R_NONE,     /* OK */
	PASSWD_R_UNKNOWN,  /* not in users or not in passwd */
	PASSWD_R_DISABLED, /* users table says enabled=no */
	PASSWD_R_WRONG,    /* wrong password */
	PASSWD_R_BADHASH,  /* the stored hash is malformed */
	PASSWD_R_TABLE,    /* a lookup failed (PASSWD_TEMP) */
};

/* "unknown user", "disabled user", ... */
const char *passwd_reason_text(enum passwd_reason r);

/*
 * Is hash (len bytes) a hash of an accepted method, in printable ASCII
 * without blanks?  0, or -1 with why.
 */
FCT_MUST_CHECK int passwd_hash_check(
    const char *hash, size_t len, struct str *why);

/*
 * Hash a password (len bytes, no NUL) with method ("$y$", "$6$", "$2b$";
 * NULL: PASSWD_DEFAULT_METHOD) and a fresh random salt; the hash is
 * appended to hash_r.  0, or -1 with why.
 */
FCT_MUST_CHECK int passwd_hash_make(const char *pw, size_t len,
    const char *method, struct str *hash_r, struct str *why);

/*
 * One crypt(3) of pw against hash, compared in constant time.  Returns
 * 1 (match), 0 (no match) or -1 (hash malformed, or pw holds a NUL).
 */
FCT_MUST_CHECK int passwd_verify(const char *pw, size_t len, const char *hash);

/*
 * The hash of user (any case) from the passwd table, appended to
 * hash_r (cap at least PASSWD_HASH_MAX).  MAP_FOUND, MAP_NOTFOUND, or
 * MAP_TEMP with why.  A stored value that is not a valid hash is
 * MAP_FOUND with *malformed_r set (hash_r then left alone).
 */
FCT_MUST_CHECK enum map_result passwd_lookup(struct map *passwd,
    const char *user, size_t len, struct str *hash_r, bool *malformed_r,
    struct str *why);

/*
 * The whole check.  users and passwd are the two tables; dummy_hash is
 * a hash of a random password by the default method (make it with
 * passwd_hash_make at start-up).  *reason_r says why for the log; why
 * gets the table error for PASSWD_TEMP.
 */
FCT_MUST_CHECK enum passwd_verdict passwd_check(struct map *users,
    struct map *passwd, const char *dummy_hash, const char *user,
    size_t user_len, const char *pw, size_t pw_len,
    enum passwd_reason *reason_r, struct str *why);

#endif
