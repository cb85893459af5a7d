/*
 * passwd - hashes through libxcrypt, looked up through lib/map.
 *
 * Never: branch on secret bytes when comparing, or free crypt(3)'s work
 * area (which holds derived key material) without wiping it.
 */
#include "lib/passwd.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/users.h"

static const char *const methods[] = {"$y$", "$6$", "$2b$", "$2y$", "$2a$"};

const char *
passwd_reason_text(enum passwd_reason r)
{
	switch (r) {
	case PASSWD_R_NONE:
		return "ok";
	case PASSWD_R_UNKNOWN:
		return "unknown user";
	case PASSWD_R_DISABLED:
		return "disabled user";
	case PASSWD_R_WRONG:
		return "wrong password";
	case PASSWD_R_BADHASH:
		return "malformed password hash";
	case PASSWD_R_TABLE:
		return "table lookup failed";
	}
	return "?";
}

static bool
method_known(const char *hash, size_t len)
{
	for (size_t i = 0; i < FCT_NELEM(methods); i++) {
		size_t n = strlen(methods[i]);
		if (len > n && memcmp(hash, methods[i], n) == 0)
			return true;
	}
	return false;
}

/* crypt(3)'s own base64 alphabet. */
static bool
crypt64(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '/'))
			return false;
	}
	return true;
}

/*
 * The shape of each accepted method, so that a broken table entry is
 * found when it is read, not when crypt(3) rejects it:
 *   $y$PARAMS$SALT$HASH43            yescrypt
 *   $6$[rounds=N$]SALT$HASH86        sha512-crypt (salt at most 16)
 *   $2b$NN$SALT22HASH31              bcrypt ($2a$, $2y$ too)
 */
static bool
shape_ok(const char *h, size_t len)
{
	const char *f[6];
	size_t fl[6], n = 0, start = 1;

	if (len >= 4 && h[1] == '2')
		return len == 60 && h[4] >= '0' && h[4] <= '3' && h[5] >= '0' &&
		       h[5] <= '9' && h[6] == '$' && crypt64(h + 7, 53);
	/* Split after the leading '$' into at most 5 fields. */
	for (size_t i = 1; i <= len; i++)
		if (i == len || h[i] == '$') {
			if (n == FCT_NELEM(f))
				return false;
			f[n] = h + start;
			fl[n++] = i - start;
			start = i + 1;
		}
	if (h[1] == 'y')
		return n == 4 && fl[1] > 0 && crypt64(f[1], fl[1]) &&
		       fl[2] > 0 && crypt64(f[2], fl[2]) && fl[3] == 43 &&
		       crypt64(f[3], fl[3]);
	if (h[1] == '6') {
		size_t s = 1;
		if (n == 4) {
			uint64_t r;
			if (fl[1] < 8 || memcmp(f[1], "rounds=", 7) != 0 ||
			    num_parse_u64(f[1] + 7, fl[1] - 7, 999999999, &r) <
			        0)
				return false;
			s = 2;
		} else if (n != 3) {
			return false;
		}
		return fl[s] <= 16 && crypt64(f[s], fl[s]) && fl[s + 1] == 86 &&
		       crypt64(f[s + 1], fl[s + 1]);
	}
	return false;
}

int
passwd_hash_check(const char *hash, size_t len, struct str *why)
{
	if (len == 0 || len >= PASSWD_HASH_MAX) {
		str_notef(why, "hash is empty or longer than %d bytes",
		    PASSWD_HASH_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (hash[i] <= ' ' || hash[i] >= 0x7f) {
			str_notef(why, "hash holds a blank, control or "
			               "8-bit byte");
			return -1;
		}
	if (!method_known(hash, len)) {
		str_notef(why, "unknown hash method (want yescrypt $y$, "
		               "sha512-crypt $6$ or bcrypt $2b$)");
		return -1;
	}
	if (!shape_ok(hash, len)) {
		str_notef(why, "malformed hash");
		return -1;
	}
	/* The text is NUL-free and short: checksalt reads the setting. */
	char *copy = x_strndup(hash, len);
	int rc = crypt_checksalt(copy);
	free(copy);
	if (rc != CRYPT_SALT_OK) {
		str_notef(why, "malformed hash");
		return -1;
	}
	return 0;
}

/* crypt_rn with a work area wiped before it is freed. */
static int
do_crypt(const char *pw, const char *setting, struct str *out)
{
	struct crypt_data *cd = x_calloc(1, sizeof(*cd));
	const char *h = crypt_rn(pw, setting, cd, (int)sizeof(*cd));
	int rc = -1;

	/* libxcrypt returns NULL (or a "*" failure token) on errors. */
	if (h != NULL && h[0] != '*' && str_appends(out, h) == 0)
		rc = 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int
passwd_hash_make(const char *pw, size_t len, const char *method,
    struct str *hash_r, struct str *why)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct str *h;
	int rc = -1;

	if (method == NULL)
		method = PASSWD_DEFAULT_METHOD;
	if (len == 0 || memchr(pw, '\0', len) != NULL || strlen(pw) != len) {
		str_notef(why, "empty password, or one with a NUL byte");
		return -1;
	}
	/* NULL random bytes: libxcrypt reads the system's generator. */
	if (crypt_gensalt_rn(method, 0, NULL, 0, salt, (int)sizeof(salt)) ==
	    NULL) {
		str_notef(why, "cannot make a salt for method %s: %s", method,
		    strerror(errno));
		return -1;
	}
	h = str_new(PASSWD_HASH_MAX);
	if (do_crypt(pw, salt, h) < 0)
		str_notef(why, "crypt(3) failed for method %s", method);
	else if (str_append(hash_r, str_data(h), str_len(h)) < 0)
		str_notef(why, "hash too long");
	else
		rc = 0;
	str_free(&h);
	return rc;
}

int
passwd_verify(const char *pw, size_t len, const char *hash)
{
	struct str *h;
	size_t hlen = strlen(hash);
	int rc;

	if (memchr(pw, '\0', len) != NULL || hlen == 0 ||
	    hlen >= PASSWD_HASH_MAX || !method_known(hash, hlen))
		return -1;
	h = str_new(PASSWD_HASH_MAX);
	if (do_crypt(pw, hash, h) < 0) {
		str_free(&h);
		return -1;
	}
	/*
	 * The output repeats the setting, so its length is public; the
	 * bytes are compared in constant time.
	 */
	rc = str_len(h) == hlen && CRYPTO_memcmp(str_data(h), hash, hlen) == 0;
	str_wipe(h);
	str_free(&h);
	return rc;
}

enum map_result
passwd_lookup(struct map *passwd, const char *user, size_t len,
    struct str *hash_r, bool *malformed_r, struct str *why)
{
	struct str *v = str_new(MAP_VALUE_MAX);
	struct str *bad = str_new(256);
	enum map_result r;

	*malformed_r = false;
	r = map_lookup(passwd, user, len, v, why);
	if (r == MAP_FOUND) {
		if (passwd_hash_check(str_c(v), str_len(v), bad) < 0 ||
		    str_append(hash_r, str_data(v), str_len(v)) < 0)
			*malformed_r = true;
	}
	str_wipe(v);
	str_free(&v);
	str_free(&bad);
	return r;
}

enum passwd_verdict
passwd_check(struct map *users, struct map *passwd, const char *dummy_hash,
    const char *user, size_t user_len, const char *pw, size_t pw_len,
    enum passwd_reason *reason_r, struct str *why)
{
	struct str *hash = str_new(PASSWD_HASH_MAX);
	struct users_entry u;
	enum passwd_reason reason = PASSWD_R_NONE;
	enum map_result r;
	bool malformed = false;
	int match;

	r = users_lookup(users, user, user_len, &u, why);
	if (r == MAP_TEMP) {
		reason = PASSWD_R_TABLE;
		goto out;
	}
	if (r == MAP_NOTFOUND)
		reason = PASSWD_R_UNKNOWN;
	else if (!u.enabled)
		reason = PASSWD_R_DISABLED;
	r = passwd_lookup(passwd, user, user_len, hash, &malformed, why);
	if (r == MAP_TEMP) {
		reason = PASSWD_R_TABLE;
		goto out;
	}
	if (r == MAP_NOTFOUND && reason == PASSWD_R_NONE)
		reason = PASSWD_R_UNKNOWN;
	if (malformed && reason == PASSWD_R_NONE)
		reason = PASSWD_R_BADHASH;
	/*
	 * Always one crypt(3), of the same cost whether or not the user
	 * exists: an unknown user's answer must take as long as a wrong
	 * password's.
	 */
	match = passwd_verify(pw, pw_len,
	    r == MAP_FOUND && !malformed ? str_c(hash) : dummy_hash);
	if (match < 0 && reason == PASSWD_R_NONE)
		reason = PASSWD_R_BADHASH;
	else if (match == 0 && reason == PASSWD_R_NONE)
		reason = PASSWD_R_WRONG;
out:
	str_wipe(hash);
	str_free(&hash);
	*reason_r = reason;
	if (reason == PASSWD_R_TABLE)
		return PASSWD_TEMP;
	return reason == PASSWD_R_NONE ? PASSWD_OK : PASSWD_FAIL;
}
