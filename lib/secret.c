/*
 * secret - fixed buffers that are wiped before they are let go.
 *
 * Never: realloc, or return to free() a buffer that was not wiped.
 */
#include "lib/secret.h"

#include <stdlib.h>
#include <string.h>

struct secret {
	uint8_t *data; /* cap + 1 bytes, allocated once */
	size_t len;
	size_t cap;
};

struct secret *
secret_new(size_t cap)
{
	struct secret *s = x_calloc(1, sizeof(*s));
	size_t alloc;

	FCT_ASSERT(size_add(cap, 1, &alloc));
	s->data = x_calloc(1, alloc);
	s->cap = cap;
	return s;
}

void
secret_free(struct secret **sp)
{
	struct secret *s = *sp;

	if (s == NULL)
		return;
	explicit_bzero(s->data, s->cap + 1);
	free(s->data);
	x_free(sp);
}

int
secret_set(struct secret *s, const void *p, size_t n)
{
	if (n > s->cap)
		return -1;
	secret_clear(s);
	return secret_append(s, p, n);
}

int
secret_append(struct secret *s, const void *p, size_t n)
{
	if (n > s->cap - s->len)
		return -1;
	if (n > 0)
		memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
	return 0;
}

void
secret_clear(struct secret *s)
{
	explicit_bzero(s->data, s->cap + 1);
	s->len = 0;
}

void
secret_chop(struct secret *s, size_t n)
{
	FCT_ASSERT(n <= s->len);
	s->len -= n;
	explicit_bzero(s->data + s->len, n + 1);
}

void
secret_consume(struct secret *s, size_t n)
{
	FCT_ASSERT(n <= s->len);
	memmove(s->data, s->data + n, s->len - n);
	s->len -= n;
	explicit_bzero(s->data + s->len, n + 1);
}

const char *
secret_c(const struct secret *s)
{
	return (const char *)s->data;
}

const uint8_t *
secret_data(const struct secret *s)
{
	return s->data;
}

size_t
secret_len(const struct secret *s)
{
	return s->len;
}

size_t
secret_cap(const struct secret *s)
{
	return s->cap;
}

uint8_t *
secret_space(struct secret *s, size_t *room_r)
{
	*room_r = s->cap - s->len;
	return s->data + s->len;
}

void
secret_wrote(struct secret *s, size_t n)
{
	FCT_ASSERT(n <= s->cap - s->len);
	s->len += n;
	s->data[s->len] = '\0';
}
