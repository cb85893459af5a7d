/*
 * users - users table entries: parse, format, check, look up.
 *
 * Never: let an address through users_address_check() that could name a
 * path outside its Maildir, or read a value without a bound.
 */
#include "lib/users.h"

#include <string.h>

#include "lib/log.h"
#include "lib/params.h"

/* A path component (NAME_MAX); RFC 5321 §4.5.3.1 allows less anyway. */
#define USERS_PART_MAX 255

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int
parse_quota(const char *v, size_t len, uint64_t *q_r)
{
	struct str *tmp = str_new(32);
	int rc = -1;

	/* param_parse_size() wants text; 32 bytes hold any valid size. */
	if (str_append(tmp, v, len) == 0 && memchr(v, '\0', len) == NULL)
		rc = param_parse_size(str_c(tmp), q_r);
	str_free(&tmp);
	return rc;
}

int
users_value_parse(
    const char *p, size_t len, struct users_entry *u_r, struct str *why)
{
	struct users_entry u = {0, true};
	bool seen_quota = false, seen_enabled = false;
	struct log_esc esc;
	size_t i = 0;

	for (;;) {
		size_t start, eq, end;

		while (i < len && is_blank(p[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_blank(p[i]))
			i++;
		end = i;
		for (eq = start; eq < end && p[eq] != '='; eq++)
			;
		const char *name = p + start, *val = p + eq + 1;
		size_t nlen = eq - start, vlen = eq < end ? end - eq - 1 : 0;
		if (eq == end) {
			str_notef(why, "expected name=value, got \"%s\"",
			    log_escape(&esc, name, end - start));
			return -1;
		}
		if (nlen == 5 && memcmp(name, "quota", 5) == 0) {
			if (seen_quota) {
				str_notef(why, "quota is given twice");
				return -1;
			}
			seen_quota = true;
			if (parse_quota(val, vlen, &u.quota) < 0) {
				str_notef(why,
				    "bad quota \"%s\" (want bytes "
				    "with an optional k, m or g)",
				    log_escape(&esc, val, vlen));
				return -1;
			}
		} else if (nlen == 7 && memcmp(name, "enabled", 7) == 0) {
			if (seen_enabled) {
				str_notef(why, "enabled is given twice");
				return -1;
			}
			seen_enabled = true;
			if (vlen == 3 && ascii_memcaseeq(val, "yes", 3)) {
				u.enabled = true;
			} else if (vlen == 2 && ascii_memcaseeq(val, "no", 2)) {
				u.enabled = false;
			} else {
				str_notef(why,
				    "bad enabled \"%s\" (want yes "
				    "or no)",
				    log_escape(&esc, val, vlen));
				return -1;
			}
		} else if ((nlen == 8 && memcmp(name, "password", 8) == 0) ||
		           (nlen == 6 && memcmp(name, "passwd", 6) == 0)) {
			str_notef(why, "passwords do not belong in the users "
			               "table (they go to the passwd table)");
			return -1;
		} else {
			str_notef(why,
			    "unknown attribute \"%s\" (want quota= "
			    "or enabled=)",
			    log_escape(&esc, name, nlen));
			return -1;
		}
	}
	*u_r = u;
	return 0;
}

int
users_value_format(const struct users_entry *u, struct str *out)
{
	return str_appendf(out, "quota=%llu enabled=%s",
	    (unsigned long long)u->quota, u->enabled ? "yes" : "no");
}

/* The rules shared by local parts and domains (path components). */
static int
part_check(const char *what, const char *p, size_t len, struct str *why)
{
	if (len == 0) {
		str_notef(why, "empty %s", what);
		return -1;
	}
	if (len > USERS_PART_MAX) {
		str_notef(why, "%s longer than %d bytes", what, USERS_PART_MAX);
		return -1;
	}
	if (p[0] == '.') {
		str_notef(why, "%s starts with '.'", what);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '/') {
			str_notef(why, "%s contains '/'", what);
			return -1;
		}
		if (is_ctl((unsigned char)p[i])) {
			str_notef(why, "%s contains a control byte", what);
			return -1;
		}
	}
	return 0;
}

int
users_local_check(const char *p, size_t len, struct str *why)
{
	if (part_check("local part", p, len, why) < 0)
		return -1;
	if (memchr(p, '@', len) != NULL) {
		str_notef(why, "local part contains '@'");
		return -1;
	}
	return 0;
}

int
users_domain_check(const char *p, size_t len, struct str *why)
{
	if (part_check("domain", p, len, why) < 0)
		return -1;
	if (p[0] == '[') {
		str_notef(why, "address literals are not allowed here");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.' && (i + 1 == len || p[i + 1] == '.')) {
			str_notef(why, "domain has an empty label");
			return -1;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		        c >= 0x80)) {
			str_notef(why,
			    "domain contains '%c' (want letters, "
			    "digits, '-' and '.')",
			    c);
			return -1;
		}
	}
	return 0;
}

int
users_address_check(const char *p, size_t len, size_t *at_r, struct str *why)
{
	const char *at = len > 0 ? memrchr(p, '@', len) : NULL;
	size_t off;

	if (at == NULL) {
		str_notef(why, "address has no '@'");
		return -1;
	}
	off = (size_t)(at - p);
	if (users_local_check(p, off, why) < 0 ||
	    users_domain_check(at + 1, len - off - 1, why) < 0)
		return -1;
	*at_r = off;
	return 0;
}

enum map_result
users_lookup(struct map *users, const char *addr, size_t len,
    struct users_entry *u_r, struct str *why)
{
	struct str *val;
	enum map_result r;

	/* "@domain" keys are domains, not users. */
	if (len == 0 || addr[0] == USERS_DOMAIN_PREFIX)
		return MAP_NOTFOUND;
	val = str_new(USERS_VALUE_MAX * 4);
	r = map_lookup(users, addr, len, val, why);
	if (r == MAP_FOUND &&
	    users_value_parse(str_c(val), str_len(val), u_r, why) < 0) {
		str_notef(
		    why, " (in %s: a corrupt users table?)", map_ref(users));
		r = MAP_TEMP;
	}
	str_free(&val);
	return r;
}

enum map_result
users_domain_lookup(
    struct map *users, const char *domain, size_t len, struct str *why)
{
	struct str *key = str_new(MAP_KEY_MAX);
	enum map_result r = MAP_NOTFOUND;

	if (len > 0 && str_appendc(key, USERS_DOMAIN_PREFIX) == 0 &&
	    str_append(key, domain, len) == 0)
		r = map_lookup(users, str_c(key), str_len(key), NULL, why);
	str_free(&key);
	return r;
}
