/*
 * resolve - recipient classification and alias expansion.
 *
 * Domain lists are copied, lower-cased, from struct params at
 * resolve_new(); tables are looked up on every call (they follow their
 * rebuilds, lib/map.h).
 *
 * Never: keep a lookup result across calls, or expand aliases without a
 * depth and a size limit.
 */
#include "lib/resolve.h"

#include <stdlib.h>
#include <string.h>

struct resolver {
	char **dest; /* mydestination, lower-cased */
	size_t ndest;
	char **virt; /* virtual_mailbox_domains, lower-cased */
	size_t nvirt;
	char *delim;
	char *myhostname;
	char *myorigin;           /* qualifies bare alias targets */
	struct map *users;        /* borrowed */
	struct map_list *aliases; /* borrowed */
	struct str *key;          /* scratch lookup key */
	struct str *val;          /* scratch lookup value */
};

/* clang-format off */
static const char *const class_names[] = {
	[RESOLVE_TEMP] = "temp",
	[RESOLVE_INVALID] = "invalid",
	[RESOLVE_TRICK] = "trick",
	[RESOLVE_REMOTE] = "remote",
	[RESOLVE_UNKNOWN] = "unknown",
	[RESOLVE_DISABLED] = "disabled",
	[RESOLVE_ALIAS] = "alias",
	[RESOLVE_USER] = "user",
	[RESOLVE_POSTMASTER] = "postmaster",
};
/* clang-format on */

const char *
resolve_class_name(enum resolve_class c)
{
	return (size_t)c < FCT_NELEM(class_names) ? class_names[c] : "?";
}

static char **
domain_list(const char *text, size_t *n_r)
{
	const char *cur = text ? text : "", *item;
	char **v = NULL;
	size_t len, n = 0;

	while (list_next(&cur, &item, &len)) {
		v = x_realloc(v, (n + 1) * sizeof(*v));
		v[n] = x_strndup(item, len);
		ascii_lower(v[n++]);
	}
	*n_r = n;
	return v;
}

struct resolver *
resolve_new(const struct params *p, struct map *users, struct map_list *aliases)
{
	struct resolver *r = x_calloc(1, sizeof(*r));

	r->dest = domain_list(p->mydestination, &r->ndest);
	r->virt = domain_list(p->virtual_mailbox_domains, &r->nvirt);
	r->delim =
	    x_strdup(p->recipient_delimiter ? p->recipient_delimiter : "");
	r->myhostname = x_strdup(p->myhostname ? p->myhostname : "");
	ascii_lower(r->myhostname);
	r->myorigin =
	    x_strdup(p->myorigin && *p->myorigin ? p->myorigin : r->myhostname);
	ascii_lower(r->myorigin);
	r->users = users;
	r->aliases = aliases;
	r->key = str_new(MAP_KEY_MAX);
	r->val = str_new(MAP_VALUE_MAX);
	return r;
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
resolve_free(struct resolver **rp)
{
	struct resolver *r = *rp;

	if (r == NULL)
		return;
	free_list(r->dest, r->ndest);
	free_list(r->virt, r->nvirt);
	free(r->delim);
	free(r->myhostname);
	free(r->myorigin);
	str_free(&r->key);
	str_free(&r->val);
	x_free(rp);
}

void
resolve_result_clear(struct resolve_result *res)
{
	x_free(&res->mailbox);
	x_free(&res->tag);
	x_free(&res->domain);
	x_free(&res->alias_key);
	*res = (struct resolve_result){0};
}

static bool
in_list(char *const *v, size_t n, const char *domain)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_strcaseeq(v[i], domain))
			return true;
	return false;
}

enum resolve_domain
resolve_domain(struct resolver *r, const char *domain, struct str *why)
{
	if (*domain == '\0')
		return RESOLVE_DOM_REMOTE;
	if (in_list(r->dest, r->ndest, domain))
		return RESOLVE_DOM_MYDEST;
	if (in_list(r->virt, r->nvirt, domain))
		return RESOLVE_DOM_VIRTUAL;
	if (r->users == NULL)
		return RESOLVE_DOM_REMOTE;
	switch (users_domain_lookup(r->users, domain, strlen(domain), why)) {
	case MAP_FOUND:
		return RESOLVE_DOM_USERS;
	case MAP_NOTFOUND:
		return RESOLVE_DOM_REMOTE;
	case MAP_TEMP:
		break;
	}
	return RESOLVE_DOM_TEMP;
}

/* "local@domain" (local lower-cased when asked) as a new string. */
static char *
join(const char *local, size_t llen, const char *domain, bool lower)
{
	size_t dlen = strlen(domain), n;
	char *s;

	FCT_ASSERT(size_add(llen, dlen, &n) && size_add(n, 2, &n));
	s = x_malloc(n);
	memcpy(s, local, llen);
	s[llen] = '@';
	memcpy(s + llen + 1, domain, dlen + 1);
	if (lower)
		ascii_lower(s);
	return s;
}

static bool
ends_with_ci(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len > n && ascii_memcaseeq(s + len - n, suffix, n);
}

/*
 * Where local splits into user and tag (the delimiter's offset), or 0
 * for no split.  Postfix's split_addr() rules, lib/resolve.h.
 */
static size_t
split_at(const struct resolver *r, const char *local)
{
	size_t len = strlen(local), at;

	if (r->delim[0] == '\0' || ascii_strcaseeq(local, "postmaster") ||
	    ascii_strcaseeq(local, "mailer-daemon"))
		return 0;
	if (strchr(r->delim, '-') != NULL &&
	    ((len > 6 && ascii_memcaseeq(local, "owner-", 6)) ||
	        ends_with_ci(local, len, "-request")))
		return 0;
	at = strcspn(local, r->delim);
	return at == len ? 0 : at;
}

/* Key "cand@domain" (domain NULL: "cand") in r->key; false if too long. */
static bool
make_key(struct resolver *r, const char *cand, size_t len, const char *domain)
{
	str_clear(r->key);
	if (str_append(r->key, cand, len) < 0)
		return false;
	if (domain != NULL &&
	    (str_appendc(r->key, '@') < 0 || str_appends(r->key, domain) < 0))
		return false;
	return true;
}

/*
 * The lookups of a local domain (order in lib/resolve.h).  res->domain
 * and res->dom are set.
 */
static enum resolve_class
resolve_local(struct resolver *r, const char *local, unsigned flags,
    struct resolve_result *res, struct str *why)
{
	size_t llen = strlen(local), split = split_at(r, local);
	size_t cand_len[2] = {llen, split};
	size_t ncand = split > 0 ? 2 : 1;
	const char *domain = res->domain;
	const char *tag = split > 0 ? local + split + 1 : "";
	struct users_entry u;
	enum map_result mr;

	if (!(flags & RESOLVE_NO_ALIAS) && r->aliases != NULL) {
		/* pass 0: "cand@domain"; pass 1: "cand" (mydestination) */
		for (int pass = 0; pass < 2; pass++) {
			/*
			 * Bare names are for mydestination only, and a
			 * local part with '@' would look up another
			 * domain's "name@domain" key.
			 */
			if (pass == 1 && (res->dom != RESOLVE_DOM_MYDEST ||
			                     memchr(local, '@', llen) != NULL))
				break;
			for (size_t i = 0; i < ncand; i++) {
				if (!make_key(r, local, cand_len[i],
				        pass == 0 ? domain : NULL))
					continue;
				mr = map_list_lookup(r->aliases, str_c(r->key),
				    str_len(r->key), NULL, why);
				if (mr == MAP_TEMP)
					return RESOLVE_TEMP;
				if (mr == MAP_NOTFOUND)
					continue;
				res->alias_key = x_strdup(str_c(r->key));
				ascii_lower(res->alias_key);
				res->mailbox =
				    join(local, cand_len[i], domain, true);
				res->tag = x_strdup(i == 1 ? tag : "");
				return RESOLVE_ALIAS;
			}
		}
	}
	for (size_t i = 0; r->users != NULL && i < ncand; i++) {
		if (!make_key(r, local, cand_len[i], domain))
			continue;
		mr = users_lookup(
		    r->users, str_c(r->key), str_len(r->key), &u, why);
		if (mr == MAP_TEMP)
			return RESOLVE_TEMP;
		if (mr == MAP_NOTFOUND)
			continue;
		res->mailbox = join(local, cand_len[i], domain, true);
		res->tag = x_strdup(i == 1 ? tag : "");
		res->user = u;
		if (u.enabled)
			return RESOLVE_USER;
		/* Postmaster stays reachable even then. */
		if (strncmp(res->mailbox, "postmaster@", 11) != 0)
			return RESOLVE_DISABLED;
		return RESOLVE_POSTMASTER;
	}
	res->mailbox = join(local, split > 0 ? split : llen, domain, true);
	res->tag = x_strdup(tag);
	if (strncmp(res->mailbox, "postmaster@", 11) == 0)
		return RESOLVE_POSTMASTER;
	return RESOLVE_UNKNOWN;
}

enum resolve_class
resolve_rcpt(struct resolver *r, const char *local, const char *domain,
    unsigned flags, struct resolve_result *res, struct str *why)
{
	bool bare_postmaster = false, trick;

	resolve_result_clear(res);
	if (local == NULL)
		local = "";
	if (domain == NULL)
		domain = "";
	res->class = res->plain = RESOLVE_INVALID;
	if (*local == '\0' || strlen(local) > RESOLVE_PART_MAX ||
	    strlen(domain) > RESOLVE_PART_MAX || ascii_has_ctl(local) ||
	    ascii_has_ctl(domain))
		return RESOLVE_INVALID;
	if (*domain == '\0') {
		/* RFC 5321 §4.1.1.3: "<Postmaster>" with no domain. */
		if (!ascii_strcaseeq(local, "postmaster") ||
		    *r->myhostname == '\0')
			return RESOLVE_INVALID;
		domain = r->myhostname;
		bare_postmaster = true;
	}
	res->domain = x_strdup(domain);
	ascii_lower(res->domain);

	if (domain[0] == '[') {
		/* An address literal: relayed to itself, never local. */
		res->dom = RESOLVE_DOM_REMOTE;
		res->mailbox = join(local, strlen(local), res->domain, false);
		res->tag = x_strdup("");
		res->plain = RESOLVE_REMOTE;
		res->class = RESOLVE_TRICK;
		return res->class;
	}
	res->dom = resolve_domain(r, res->domain, why);
	if (res->dom == RESOLVE_DOM_TEMP) {
		res->class = res->plain = RESOLVE_TEMP;
		return res->class;
	}
	if (res->dom == RESOLVE_DOM_REMOTE && bare_postmaster)
		res->dom = RESOLVE_DOM_MYDEST;
	if (res->dom == RESOLVE_DOM_REMOTE) {
		res->mailbox = join(local, strlen(local), res->domain, false);
		res->tag = x_strdup("");
		res->plain = RESOLVE_REMOTE;
		res->class = (flags & RESOLVE_SOURCE_ROUTE) ? RESOLVE_TRICK
		                                            : RESOLVE_REMOTE;
		return res->class;
	}
	/*
	 * In other words: in our own domains, a local part that still
	 * carries routing ("user%other@ours", "host!user@ours") or a source
	 * route would make us a relay for whoever wrote it.
	 */
	trick = (flags & RESOLVE_SOURCE_ROUTE) || strpbrk(local, "%!@") != NULL;
	res->plain = resolve_local(r, local, flags, res, why);
	res->class = trick ? RESOLVE_TRICK : res->plain;
	return res->class;
}

void
resolve_targets_clear(struct resolve_targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

enum map_result
resolve_alias_targets(struct resolver *r, const char *key,
    struct resolve_targets *t, struct str *why)
{
	const char *cur, *item;
	enum map_result mr;
	size_t len;

	mr = map_list_lookup(r->aliases, key, strlen(key), r->val, why);
	if (mr != MAP_FOUND)
		return mr;
	cur = str_c(r->val);
	while (list_next(&cur, &item, &len)) {
		t->v = x_realloc(t->v, (t->n + 1) * sizeof(*t->v));
		t->v[t->n++] = x_strndup(item, len);
	}
	return MAP_FOUND;
}

void
resolve_expansion_clear(struct resolve_expansion *x)
{
	for (size_t i = 0; i < x->n; i++)
		resolve_result_clear(&x->v[i]);
	free(x->v);
	x->v = NULL;
	x->n = 0;
}

static bool
same_leaf(const struct resolve_result *a, const struct resolve_result *b)
{
	return a->class == b->class && strcmp(a->mailbox, b->mailbox) == 0 &&
	       strcmp(a->tag, b->tag) == 0;
}

/* Move *leaf into x unless it is there already; PERM when full. */
static enum status
add_leaf(
    struct resolve_expansion *x, struct resolve_result *leaf, struct str *why)
{
	for (size_t i = 0; i < x->n; i++)
		if (same_leaf(&x->v[i], leaf)) {
			resolve_result_clear(leaf);
			return STATUS_OK;
		}
	if (x->n >= RESOLVE_ALIAS_TARGETS) {
		str_notef(why, "alias expansion gives more than %d recipients",
		    RESOLVE_ALIAS_TARGETS);
		resolve_result_clear(leaf);
		return STATUS_PERM;
	}
	x->v = x_realloc(x->v, (x->n + 1) * sizeof(*x->v));
	x->v[x->n++] = *leaf;
	*leaf = (struct resolve_result){0};
	return STATUS_OK;
}

static enum status expand_rec(struct resolver *r,
    const struct resolve_result *a, const char **path, size_t depth,
    struct resolve_expansion *x, struct str *why);

/* One target of the alias a. */
static enum status
expand_target(struct resolver *r, const struct resolve_result *a,
    const char *target, const char **path, size_t depth,
    struct resolve_expansion *x, struct str *why)
{
	const char *at = strrchr(target, '@');
	struct resolve_result sub = {0};
	enum resolve_class c;
	enum status st;
	char *local;

	local =
	    at ? x_strndup(target, (size_t)(at - target)) : x_strdup(target);
	/* Postfix's append_at_myorigin: "bob" is bob@$myorigin. */
	c = resolve_rcpt(r, local, at ? at + 1 : r->myorigin, 0, &sub, why);
	/* An administrator wrote this target: no client's trick. */
	if (c == RESOLVE_TRICK)
		c = sub.class = sub.plain;
	for (size_t i = 0; c == RESOLVE_ALIAS && i <= depth; i++)
		if (strcmp(path[i], sub.alias_key) == 0) {
			/* Back to an alias on our path: its own mailbox. */
			c = resolve_rcpt(r, local, at ? at + 1 : r->myorigin,
			    RESOLVE_NO_ALIAS, &sub, why);
			if (c == RESOLVE_TRICK)
				c = sub.class = sub.plain;
			break;
		}
	free(local);
	switch (c) {
	case RESOLVE_TEMP:
		st = STATUS_TEMP;
		break;
	case RESOLVE_INVALID:
	case RESOLVE_TRICK:
		str_notef(
		    why, "alias %s: bad target \"%s\"", a->alias_key, target);
		st = STATUS_PERM;
		break;
	case RESOLVE_ALIAS:
		st = expand_rec(r, &sub, path, depth + 1, x, why);
		break;
	default:
		return add_leaf(x, &sub, why);
	}
	resolve_result_clear(&sub);
	return st;
}

static enum status
expand_rec(struct resolver *r, const struct resolve_result *a,
    const char **path, size_t depth, struct resolve_expansion *x,
    struct str *why)
{
	struct resolve_targets t = {0};
	enum status st = STATUS_OK;

	if (depth >= RESOLVE_ALIAS_DEPTH) {
		str_notef(why, "alias %s: nested deeper than %d", a->alias_key,
		    RESOLVE_ALIAS_DEPTH);
		return STATUS_PERM;
	}
	path[depth] = a->alias_key;
	switch (resolve_alias_targets(r, a->alias_key, &t, why)) {
	case MAP_TEMP:
		return STATUS_TEMP;
	case MAP_NOTFOUND:
		/* It was there a moment ago: the table is being rebuilt. */
		str_notef(
		    why, "alias %s vanished during expansion", a->alias_key);
		return STATUS_TEMP;
	case MAP_FOUND:
		break;
	}
	for (size_t i = 0; i < t.n && st == STATUS_OK; i++)
		st = expand_target(r, a, t.v[i], path, depth, x, why);
	resolve_targets_clear(&t);
	return st;
}

enum status
resolve_expand(struct resolver *r, const struct resolve_result *res,
    struct resolve_expansion *x, struct str *why)
{
	const char *path[RESOLVE_ALIAS_DEPTH];
	enum status st;

	FCT_ASSERT(res->class == RESOLVE_ALIAS || res->plain == RESOLVE_ALIAS);
	st = expand_rec(r, res, path, 0, x, why);
	if (st != STATUS_OK)
		resolve_expansion_clear(x);
	return st;
}
