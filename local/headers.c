/*
 * headers - the header facts local needs for loop detection: how many
 * Received: fields the message carries, and which Delivered-To:
 * addresses (RFC 5322 §2.2: a field is a name, a colon and a body that
 * may be folded over lines starting with white space).
 *
 * Never: read past n, keep more than LOCAL_DELIVERED_MAX addresses, or
 * trust a last line that the caller cut.
 */
#include <stdlib.h>
#include <string.h>

#include "local/local.h"

/* Longest Delivered-To body kept (an address is at most ~512 bytes). */
#define DELIVERED_VALUE_MAX 1024

static bool
name_is(const uint8_t *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && ascii_memcaseeq(line, name, n);
}

/* Keep the Delivered-To body in v: white space and <> trimmed, lower. */
static void
keep_delivered(struct local_headers *h, struct str *v)
{
	const char *s = str_c(v);
	size_t len = str_len(v);

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	if (len == 0 || h->ndelivered >= LOCAL_DELIVERED_MAX)
		return;
	h->delivered = x_realloc(
	    h->delivered, (h->ndelivered + 1) * sizeof(*h->delivered));
	h->delivered[h->ndelivered] = x_strndup(s, len);
	ascii_lower(h->delivered[h->ndelivered++]);
}

void
local_headers_parse(
    const uint8_t *p, size_t n, bool complete, struct local_headers *h)
{
	struct str *val = str_new(DELIVERED_VALUE_MAX);
	bool in_delivered = false;
	size_t pos = 0;

	memset(h, 0, sizeof(*h));
	while (pos < n) {
		const uint8_t *nl = memchr(p + pos, '\n', n - pos);
		const uint8_t *line = p + pos;
		size_t len;

		if (nl == NULL) {
			if (!complete)
				break; /* cut by the caller's limit */
			len = n - pos;
			pos = n;
		} else {
			len = (size_t)(nl - line);
			pos += len + 1;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
			/* Folded: unfold into the field we keep, if any. */
			if (in_delivered && str_append(val, line, len) < 0)
				in_delivered = false; /* too long: not ours */
			continue;
		}
		if (in_delivered)
			keep_delivered(h, val);
		in_delivered = false;
		if (len == 0)
			break; /* end of the header section */
		if (name_is(line, len, "received"))
			h->received++;
		else if (name_is(line, len, "delivered-to")) {
			str_clear(val);
			in_delivered =
			    str_append(val, line + 13, len - 13) == 0;
		}
	}
	/* A field at a cut may go on in bytes we did not see: drop it. */
	if (in_delivered && complete)
		keep_delivered(h, val);
	str_free(&val);
}

void
local_headers_clear(struct local_headers *h)
{
	for (size_t i = 0; i < h->ndelivered; i++)
		free(h->delivered[i]);
	free(h->delivered);
	memset(h, 0, sizeof(*h));
}

bool
local_headers_delivered_to(const struct local_headers *h, const char *addr)
{
	for (size_t i = 0; i < h->ndelivered; i++)
		if (ascii_strcaseeq(h->delivered[i], addr))
			return true;
	return false;
}
