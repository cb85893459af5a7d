/*
 * map - reference parsing, backend dispatch, key folding and map lists.
 *
 * The backend table below is the only place that knows which backends
 * exist; "pgsql" will be one more row.
 *
 * Never: pass a backend a key that is not folded and bounded, or open a
 * reference whose type is unknown.
 */
#include "lib/map.h"

#include <stdlib.h>
#include <string.h>

#include "lib/map_lmdb.h"
#include "lib/params.h"

/* clang-format off */
static const struct map_backend backends[] = {
	{ "lmdb", map_lmdb_open, map_lmdb_lookup, map_lmdb_close },
};
/* clang-format on */

struct map {
	const struct map_backend *be;
	void *h;
	char *ref;
	struct str *key; /* the folded key of the current lookup */
};

struct map_list {
	struct map **v;
	size_t n;
};

bool
map_ref_split(const char *ref, const char **type_r, size_t *type_len_r,
    const char **name_r)
{
	size_t i = 0;

	while ((ref[i] >= 'a' && ref[i] <= 'z') ||
	       (ref[i] >= '0' && ref[i] <= '9'))
		i++;
	if (i == 0 || ref[i] != ':')
		return false;
	*type_r = ref;
	*type_len_r = i;
	*name_r = ref + i + 1;
	return true;
}

struct map *
map_open(const char *ref, struct str *why)
{
	const struct map_backend *be = NULL;
	const char *type, *name;
	size_t tlen;
	struct map *m;
	void *h;

	if (strlen(ref) > MAP_REF_MAX) {
		str_notef(
		    why, "table reference longer than %d bytes", MAP_REF_MAX);
		return NULL;
	}
	if (!map_ref_split(ref, &type, &tlen, &name)) {
		str_notef(why,
		    "%s: not a table reference (want type:name, "
		    "e.g. lmdb:/etc/facteur/aliases)",
		    ref);
		return NULL;
	}
	for (size_t i = 0; i < FCT_NELEM(backends); i++)
		if (strlen(backends[i].type) == tlen &&
		    memcmp(backends[i].type, type, tlen) == 0)
			be = &backends[i];
	if (be == NULL) {
		str_notef(why, "%s: unknown table type \"%.*s\" (known: lmdb)",
		    ref, (int)tlen, type);
		return NULL;
	}
	if (*name == '\0') {
		str_notef(why, "%s: empty table name", ref);
		return NULL;
	}
	if ((h = be->open(ref, name, why)) == NULL)
		return NULL;
	m = x_calloc(1, sizeof(*m));
	m->be = be;
	m->h = h;
	m->ref = x_strdup(ref);
	m->key = str_new(MAP_KEY_MAX);
	return m;
}

void
map_close(struct map **mp)
{
	struct map *m = *mp;

	if (m == NULL)
		return;
	m->be->close(m->h);
	str_free(&m->key);
	x_free(&m->ref);
	x_free(mp);
}

const char *
map_ref(const struct map *m)
{
	return m->ref;
}

enum map_result
map_lookup(struct map *m, const char *key, size_t key_len, struct str *value_r,
    struct str *why)
{
	/* A key that could not have been built cannot be found. */
	if (key_len == 0 || key_len > MAP_KEY_MAX)
		return MAP_NOTFOUND;
	str_clear(m->key);
	for (size_t i = 0; i < key_len; i++)
		if (str_appendc(
		        m->key, (char)ascii_tolower((unsigned char)key[i])) < 0)
			return MAP_NOTFOUND; /* cannot happen: cap is
			                        MAP_KEY_MAX */
	return m->be->lookup(
	    m->h, str_c(m->key), str_len(m->key), value_r, why);
}

enum map_result
map_lookups(
    struct map *m, const char *key, struct str *value_r, struct str *why)
{
	return map_lookup(m, key, strlen(key), value_r, why);
}

struct map_list *
map_list_open(const char *refs, struct str *why)
{
	struct map_list *l = x_calloc(1, sizeof(*l));
	const char *cur = refs, *item;
	size_t len;

	while (list_next(&cur, &item, &len)) {
		char *ref = x_strndup(item, len);
		struct map *m = map_open(ref, why);

		free(ref);
		if (m == NULL) {
			map_list_close(&l);
			return NULL;
		}
		l->v = x_realloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = m;
	}
	return l;
}

void
map_list_close(struct map_list **lp)
{
	struct map_list *l = *lp;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		map_close(&l->v[i]);
	free(l->v);
	x_free(lp);
}

size_t
map_list_count(const struct map_list *l)
{
	return l == NULL ? 0 : l->n;
}

struct map *
map_list_get(const struct map_list *l, size_t i)
{
	FCT_ASSERT(l != NULL && i < l->n);
	return l->v[i];
}

enum map_result
map_list_lookup(struct map_list *l, const char *key, size_t key_len,
    struct str *value_r, struct str *why)
{
	for (size_t i = 0; l != NULL && i < l->n; i++) {
		enum map_result r =
		    map_lookup(l->v[i], key, key_len, value_r, why);
		if (r != MAP_NOTFOUND)
			return r;
	}
	return MAP_NOTFOUND;
}
