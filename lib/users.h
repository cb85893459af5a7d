/*
 * users - the users table (DESIGN §1): who has a mailbox, its quota, and
 * whether it is enabled.  Passwords are not here: they live in the
 * separate passwd table that only the auth service reads.
 *
 * Text format (/etc/facteur/users, compiled by "mailctl map build"):
 *
 *     # address             attributes (any order, each at most once)
 *     demo@example.test     quota=0 enabled=yes
 *     ann@example.test      quota=500m
 *     old@example.test      enabled=no
 *
 *   address   local@domain, folded to lower case.  Both parts become
 *             Maildir path components (/var/vmail/<domain>/<local>/), so
 *             a part that is empty or contains '/', NUL, a control byte
 *             (0x00-0x1f, 0x7f), or that starts with '.', is refused; the
 *             local part may not contain '@'; the domain is letters,
 *             digits, '-', 8-bit bytes and dots between non-empty labels
 *             (no address literals, no trailing dot).
 *   quota     bytes, with an optional k, m or g suffix (powers of 1024);
 *             0 (the default) means unlimited.
 *   enabled   yes (the default) or no.  A disabled user stays in the
 *             table but receives no mail: resolution answers 550 5.2.1
 *             "mailbox disabled" (lib/resolve.h), and it cannot log in.
 *
 * The compiled value is normalised to "quota=N enabled=yes|no", and each
 * domain with users also gets the key "@domain" (USERS_DOMAIN_PREFIX).
 *
 * Never: accept an address that could escape the mail store as a path,
 * or hold a password.
 */
#ifndef FACTEUR_USERS_H
#define FACTEUR_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/map.h"
#include "lib/str.h"
#include "lib/util.h"

/* Prefix of the implied per-domain key: "@example.test". */
#define USERS_DOMAIN_PREFIX '@'
/* Longest normalised value ("quota=18446744073709551615 enabled=yes"). */
#define USERS_VALUE_MAX 64

/* One user, as the table says (a plain value). */
struct users_entry {
	uint64_t quota; /* bytes; 0 = unlimited */
	bool enabled;
};

/*
 * Parse the attributes of a users line (len bytes: "quota=5m enabled=no",
 * blanks between).  Missing attributes take their defaults.  Returns 0
 * and fills *u_r, or -1 with why (unknown or repeated attribute, bad
 * value).
 */
FCT_MUST_CHECK int users_value_parse(
    const char *p, size_t len, struct users_entry *u_r, struct str *why);
/* The normalised value of u into out (appended); 0 or -1 past its cap. */
FCT_MUST_CHECK int users_value_format(
    const struct users_entry *u, struct str *out);

/*
 * Check one local part or one domain for use as a path component (the
 * rules above).  Return 0, or -1 with why.
 */
FCT_MUST_CHECK int users_local_check(
    const char *p, size_t len, struct str *why);
FCT_MUST_CHECK int users_domain_check(
    const char *p, size_t len, struct str *why);
/*
 * Check "local@domain" (len bytes).  Returns 0 and the offset of the '@'
 * in *at_r, or -1 with why.
 */
FCT_MUST_CHECK int users_address_check(
    const char *p, size_t len, size_t *at_r, struct str *why);

/*
 * Look up "local@domain" (any case) in the users table.  MAP_FOUND fills
 * *u_r; MAP_TEMP (lookup failed, or a stored value that does not parse)
 * appends the reason to why.
 */
FCT_MUST_CHECK enum map_result users_lookup(struct map *users, const char *addr,
    size_t len, struct users_entry *u_r, struct str *why);
/* Does domain (any case, len bytes) have users?  MAP_FOUND if so. */
FCT_MUST_CHECK enum map_result users_domain_lookup(
    struct map *users, const char *domain, size_t len, struct str *why);

#endif
