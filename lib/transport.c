/*
 * transport - recipient -> (transport, next hop); see transport.h.
 *
 * Never: keep a lookup result across calls, or accept a key past
 * MAP_KEY_MAX (the map would not find it anyway).
 */
#include "lib/transport.h"

#include <stdlib.h>
#include <string.h>

struct transport {
	struct resolver *resolver; /* borrowed */
	struct map_list *maps;     /* borrowed, may be NULL */
	char *relayhost;
	char *myhostname;
	char *delim;
	struct str *key;
	struct str *val;
};

void
transport_route_clear(struct transport_route *rt)
{
	x_free(&rt->transport);
	x_free(&rt->nexthop);
	rt->local = false;
}

struct transport *
transport_new(const struct params *p, struct resolver *r, struct map_list *maps)
{
	struct transport *t = x_calloc(1, sizeof(*t));

	t->resolver = r;
	t->maps = maps;
	t->relayhost = x_strdup(p->relayhost ? p->relayhost : "");
	t->myhostname = x_strdup(p->myhostname ? p->myhostname : "");
	ascii_lower(t->myhostname);
	t->delim = x_strdup(p->recipient_delimiter ? p->recipient_delimiter : "");
	t->key = str_new(MAP_KEY_MAX);
	t->val = str_new(MAP_VALUE_MAX);
	return t;
}

void
transport_free(struct transport **tp)
{
	struct transport *t = *tp;

	if (t == NULL)
		return;
	free(t->relayhost);
	free(t->myhostname);
	free(t->delim);
	str_free(&t->key);
	str_free(&t->val);
	x_free(tp);
}

bool
transport_name_check(const char *name, size_t len)
{
	if (len == 0 || len > TRANSPORT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool
nexthop_check(const char *p, size_t len)
{
	if (len == 0 || len > TRANSPORT_NEXTHOP_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* Trim blanks around [*p, *p + *len). */
static void
trim(const char **p, size_t *len)
{
	while (*len > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
		(*len)--;
}

int
transport_value_apply(
    const char *value, struct transport_route *rt, struct str *why)
{
	const char *colon = strchr(value, ':');
	const char *tp = value, *hp = NULL;
	size_t tlen, hlen = 0;

	/* The transport is before the first ':'; a next hop may hold more. */
	tlen = colon ? (size_t)(colon - value) : strlen(value);
	if (colon != NULL) {
		hp = colon + 1;
		hlen = strlen(hp);
		trim(&hp, &hlen);
	}
	trim(&tp, &tlen);
	if (tlen == 0 && hlen == 0) {
		str_notef(why, "transport_maps: empty value");
		return -1;
	}
	if (tlen > 0 && !transport_name_check(tp, tlen)) {
		str_notef(why, "transport_maps: bad transport name in \"%.80s\"",
		    value);
		return -1;
	}
	if (hlen > 0 && !nexthop_check(hp, hlen)) {
		str_notef(why, "transport_maps: bad next hop in \"%.80s\"",
		    value);
		return -1;
	}
	if (tlen > 0) {
		free(rt->transport);
		rt->transport = x_strndup(tp, tlen);
	}
	if (hlen > 0) {
		free(rt->nexthop);
		rt->nexthop = x_strndup(hp, hlen);
	}
	return 0;
}

/* Look key up in the tables: MAP_FOUND leaves the value in t->val. */
static enum map_result
try_key(struct transport *t, const char *p, size_t len, struct str *why)
{
	if (len > MAP_KEY_MAX)
		return MAP_NOTFOUND;
	return map_list_lookup(t->maps, p, len, t->val, why);
}

/*
 * transport(5) order: the address, the address without its extension,
 * the domain, its parent domains with a leading dot, "*".
 */
static enum map_result
table_lookup(struct transport *t, const char *addr, const char *at,
    struct str *why)
{
	enum map_result mr;
	const char *dom = at ? at + 1 : NULL;

	if ((mr = try_key(t, addr, strlen(addr), why)) != MAP_NOTFOUND)
		return mr;
	if (at != NULL && *t->delim != '\0') {
		size_t llen = (size_t)(at - addr);
		size_t cut = strcspn(addr, t->delim);
		if (cut > 0 && cut < llen) {
			str_clear(t->key);
			if (str_append(t->key, addr, cut) == 0 &&
			    str_appends(t->key, at) == 0) {
				mr = try_key(t, str_c(t->key), str_len(t->key),
				    why);
				if (mr != MAP_NOTFOUND)
					return mr;
			}
		}
	}
	if (dom != NULL && *dom != '\0') {
		if ((mr = try_key(t, dom, strlen(dom), why)) != MAP_NOTFOUND)
			return mr;
		for (const char *d = strchr(dom, '.'); d != NULL;
		     d = strchr(d + 1, '.')) {
			if (d[1] == '\0')
				break;
			mr = try_key(t, d, strlen(d), why);
			if (mr != MAP_NOTFOUND)
				return mr;
		}
	}
	return try_key(t, "*", 1, why);
}

enum status
transport_lookup(struct transport *t, const char *addr,
    struct transport_route *rt, struct str *why)
{
	const char *at = strrchr(addr, '@');
	char *domain;
	enum resolve_domain kind = RESOLVE_DOM_REMOTE;

	transport_route_clear(rt);
	if (*addr == '\0' || ascii_has_ctl(addr) || strlen(addr) > 2 * 256 ||
	    (at != NULL && at[1] == '\0')) {
		str_notef(why, "bad address syntax");
		return STATUS_PERM;
	}
	domain = x_strdup(at ? at + 1 : t->myhostname);
	ascii_lower(domain);
	if (at == NULL) {
		kind = RESOLVE_DOM_MYDEST; /* "postmaster": ours */
	} else if (domain[0] != '[') {
		kind = resolve_domain(t->resolver, domain, why);
		if (kind == RESOLVE_DOM_TEMP) {
			free(domain);
			return STATUS_TEMP;
		}
	}
	rt->local = kind != RESOLVE_DOM_REMOTE;
	if (rt->local) {
		rt->transport = x_strdup("local");
		rt->nexthop = domain;
	} else {
		rt->transport = x_strdup("smtp");
		if (*t->relayhost != '\0') {
			rt->nexthop = x_strdup(t->relayhost);
			free(domain);
		} else {
			rt->nexthop = domain;
		}
	}
	if (t->maps == NULL || map_list_count(t->maps) == 0)
		return STATUS_OK;
	/* Keys are looked up folded to lower case by lib/map. */
	switch (table_lookup(t, addr, at, why)) {
	case MAP_NOTFOUND:
		return STATUS_OK;
	case MAP_TEMP:
		transport_route_clear(rt);
		return STATUS_TEMP;
	case MAP_FOUND:
		break;
	}
	if (transport_value_apply(str_c(t->val), rt, why) < 0) {
		transport_route_clear(rt);
		return STATUS_TEMP;
	}
	return STATUS_OK;
}
