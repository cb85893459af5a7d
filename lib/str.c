/*
 * str - bounded growing byte strings.
 *
 * Limits are compared by subtraction so that they cannot wrap.
 *
 * Never: write past alloc, or leave the content without its trailing NUL.
 */
#include "lib/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct str {
	uint8_t *data;
	size_t len;
	size_t alloc; /* bytes allocated, including room for the NUL */
	size_t cap;   /* most content bytes ever allowed */
};

struct str *
str_new(size_t cap)
{
	struct str *s = x_calloc(1, sizeof(*s));

	s->alloc = cap < 64 ? cap + 1 : 64;
	s->data = x_malloc(s->alloc);
	s->data[0] = '\0';
	s->cap = cap;
	return s;
}

void
str_free(struct str **sp)
{
	if (*sp == NULL)
		return;
	free((*sp)->data);
	x_free(sp);
}

/* Make room for n more bytes plus the NUL; -1 when past the cap. */
static int
str_reserve(struct str *s, size_t n)
{
	size_t want;

	if (n > s->cap - s->len)
		return -1;
	want = s->len + n + 1;
	if (want <= s->alloc)
		return 0;
	size_t grow = s->alloc;
	while (grow < want)
		grow = grow > SIZE_MAX / 2 ? want : grow * 2;
	if (grow > s->cap + 1)
		grow = s->cap + 1;
	s->data = x_realloc(s->data, grow);
	s->alloc = grow;
	return 0;
}

int
str_append(struct str *s, const void *p, size_t n)
{
	if (str_reserve(s, n) < 0)
		return -1;
	if (n > 0)
		memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
	return 0;
}

int
str_appends(struct str *s, const char *text)
{
	return str_append(s, text, strlen(text));
}

int
str_appendc(struct str *s, char c)
{
	return str_append(s, &c, 1);
}

int
str_vappendf(struct str *s, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || str_reserve(s, (size_t)n) < 0)
		return -1;
	if (vsnprintf((char *)s->data + s->len, (size_t)n + 1, fmt, ap) != n)
		return -1;
	s->len += (size_t)n;
	return 0;
}

int
str_appendf(struct str *s, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = str_vappendf(s, fmt, ap);
	va_end(ap);
	return rc;
}

void
str_notef(struct str *s, const char *fmt, ...)
{
	va_list ap;
	char tmp[1024];
	int n;

	if (s == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1;
	size_t room = s->cap - s->len;
	if (len > room)
		len = room;
	/* Cannot fail: len fits by construction. */
	if (str_append(s, tmp, len) < 0)
		return;
}

void
str_truncate(struct str *s, size_t len)
{
	FCT_ASSERT(len <= s->len);
	s->len = len;
	s->data[len] = '\0';
}

void
str_clear(struct str *s)
{
	str_truncate(s, 0);
}

int
str_set(struct str *s, const char *text)
{
	size_t n = strlen(text);

	if (n > s->cap)
		return -1;
	str_clear(s);
	return str_append(s, text, n);
}

const char *
str_c(const struct str *s)
{
	return (const char *)s->data;
}

const uint8_t *
str_data(const struct str *s)
{
	return s->data;
}

size_t
str_len(const struct str *s)
{
	return s->len;
}

size_t
str_cap(const struct str *s)
{
	return s->cap;
}

void
str_consume(struct str *s, size_t n)
{
	FCT_ASSERT(n <= s->len);
	memmove(s->data, s->data + n, s->len - n);
	s->len -= n;
	s->data[s->len] = '\0';
}

char *
str_take(struct str **sp)
{
	char *p = (char *)(*sp)->data;

	x_free(sp);
	return p;
}

void
str_wipe(struct str *s)
{
	explicit_bzero(s->data, s->alloc);
	s->len = 0;
}
