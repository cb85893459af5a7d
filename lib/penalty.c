/*
 * penalty - a small table of failure counters.
 *
 * A flat array searched linearly: at most a few thousand keys, and each
 * lookup sits next to a crypt(3) that costs a thousand times more.
 *
 * Never: shift by more than 63, or overflow the delay product.
 */
#include "lib/penalty.h"

#include <stdlib.h>
#include <string.h>

struct entry {
	char *key;
	size_t len;
	unsigned count;
	uint64_t last; /* time of the last failure */
};

struct penalty {
	struct entry *v;
	size_t n, limit;
	uint64_t reset_ms;
};

struct penalty *
penalty_new(size_t limit, uint64_t reset_ms)
{
	struct penalty *p = x_calloc(1, sizeof(*p));

	FCT_ASSERT(limit >= 1);
	p->v = x_calloc(limit, sizeof(*p->v));
	p->limit = limit;
	p->reset_ms = reset_ms;
	return p;
}

void
penalty_free(struct penalty **pp)
{
	struct penalty *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].key);
	free(p->v);
	x_free(pp);
}

static void
drop(struct penalty *p, size_t i)
{
	free(p->v[i].key);
	p->v[i] = p->v[--p->n];
	memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
}

static bool
stale(const struct penalty *p, const struct entry *e, uint64_t now)
{
	return now >= e->last && now - e->last >= p->reset_ms;
}

/* The entry for key, or SIZE_MAX; stale entries met on the way go. */
static size_t
find(struct penalty *p, const char *key, size_t len, uint64_t now)
{
	if (len > PENALTY_KEY_MAX)
		len = PENALTY_KEY_MAX;
	for (size_t i = 0; i < p->n;) {
		struct entry *e = &p->v[i];

		if (stale(p, e, now)) {
			drop(p, i);
			continue;
		}
		if (e->len == len && memcmp(e->key, key, len) == 0)
			return i;
		i++;
	}
	return SIZE_MAX;
}

unsigned
penalty_count(struct penalty *p, const char *key, size_t len, uint64_t now_ms)
{
	size_t i = find(p, key, len, now_ms);

	return i == SIZE_MAX ? 0 : p->v[i].count;
}

unsigned
penalty_fail(struct penalty *p, const char *key, size_t len, uint64_t now_ms)
{
	size_t i = find(p, key, len, now_ms);
	struct entry *e;

	if (len > PENALTY_KEY_MAX)
		len = PENALTY_KEY_MAX;
	if (i == SIZE_MAX) {
		if (p->n == p->limit) {
			size_t old = 0;
			for (size_t k = 1; k < p->n; k++)
				if (p->v[k].last < p->v[old].last)
					old = k;
			drop(p, old);
		}
		i = p->n++;
		p->v[i].key = x_malloc(len + 1);
		memcpy(p->v[i].key, key, len);
		p->v[i].key[len] = '\0';
		p->v[i].len = len;
		p->v[i].count = 0;
	}
	e = &p->v[i];
	if (e->count < UINT32_MAX)
		e->count++;
	e->last = now_ms;
	return e->count;
}

void
penalty_clear(struct penalty *p, const char *key, size_t len)
{
	if (len > PENALTY_KEY_MAX)
		len = PENALTY_KEY_MAX;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].len == len && memcmp(p->v[i].key, key, len) == 0) {
			drop(p, i);
			return;
		}
}

size_t
penalty_size(const struct penalty *p)
{
	return p->n;
}

uint64_t
penalty_delay(unsigned count, uint64_t base, uint64_t max)
{
	unsigned shift;

	if (count < 2)
		return 0;
	shift = count - 2;
	if (shift > 62 || base > (max >> shift))
		return max;
	return base << shift;
}
