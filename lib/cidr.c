/*
 * cidr - parse and match address/prefix lists.
 *
 * Never: read past the text, or match an address of a family not listed.
 */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/params.h"

struct cidr_entry {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

struct cidr_list {
	struct cidr_entry *v;
	size_t n;
};

static int
parse_entry(const char *item, size_t len, struct cidr_entry *e,
    struct str *why)
{
	char text[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	uint64_t bits;
	bool bracket = false;

	if (len >= sizeof(text)) {
		str_notef(why, "bad network \"%.*s\"", (int)len, item);
		return -1;
	}
	memcpy(text, item, len);
	text[len] = '\0';
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : len;
	char *a = text;
	if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
		a++;
		alen -= 2;
		bracket = true;
	}
	a[alen] = '\0';
	if (!bracket && inet_pton(AF_INET, a, e->addr) == 1) {
		e->family = AF_INET;
	} else if (inet_pton(AF_INET6, a, e->addr) == 1) {
		e->family = AF_INET6;
	} else {
		str_notef(why, "bad network address \"%.*s\"", (int)len, item);
		return -1;
	}
	unsigned maxbits = e->family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		bits = maxbits;
	} else if (num_parse_u64(slash + 1, strlen(slash + 1), maxbits,
		       &bits) < 0) {
		str_notef(why, "bad prefix length in \"%.*s\"", (int)len,
		    item);
		return -1;
	}
	e->bits = (unsigned)bits;
	/* Bits set past the prefix: a typo such as 10.1.2.3/8. */
	for (unsigned b = e->bits; b < maxbits; b++)
		if (e->addr[b / 8] & (0x80 >> (b % 8))) {
			str_notef(why,
			    "non-network bits set in \"%.*s\"", (int)len, item);
			return -1;
		}
	return 0;
}

int
cidr_list_parse(const char *text, struct cidr_list **list_r,
    struct str *why)
{
	struct cidr_list *l = x_calloc(1, sizeof(*l));
	const char *cur = text, *item;
	size_t len, alloc = 0;

	while (list_next(&cur, &item, &len)) {
		if (l->n == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			l->v = x_realloc(l->v, alloc * sizeof(*l->v));
		}
		if (parse_entry(item, len, &l->v[l->n], why) < 0) {
			cidr_list_free(&l);
			return -1;
		}
		l->n++;
	}
	*list_r = l;
	return 0;
}

void
cidr_list_free(struct cidr_list **lp)
{
	if (*lp == NULL)
		return;
	free((*lp)->v);
	x_free(lp);
}

static bool
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool
match_raw(const struct cidr_list *l, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].family == family &&
		    prefix_eq(l->v[i].addr, addr, l->v[i].bits))
			return true;
	return false;
}

bool
cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		return match_raw(l, AF_INET, (const uint8_t *)&s4->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return match_raw(l, AF_INET, a + 12);
		return match_raw(l, AF_INET6, a);
	}
	return false;
}

bool
cidr_list_match_text(const struct cidr_list *l, const char *addr)
{
	uint8_t raw[16];

	if (inet_pton(AF_INET, addr, raw) == 1)
		return match_raw(l, AF_INET, raw);
	if (inet_pton(AF_INET6, addr, raw) == 1) {
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)raw))
			return match_raw(l, AF_INET, raw + 12);
		return match_raw(l, AF_INET6, raw);
	}
	return false;
}
