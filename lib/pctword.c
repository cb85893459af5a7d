/*
 * pctword - %XX-escaped words.
 *
 * Never: read past w[n - 1].
 */
#include "lib/pctword.h"

#include <stdlib.h>

int
pctword_put(struct str *out, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	if (v == NULL || v[0] == '\0')
		return str_appendc(out, '-');
	if (v[0] == '-' && v[1] == '\0')
		return str_appends(out, "%2D");
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x21 || *p == '%' || *p == 0x7f) {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			if (str_append(out, esc, 3) < 0)
				return -1;
		} else if (str_appendc(out, (char)*p) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
pctword_get(const char *w, size_t n)
{
	char *v;
	size_t o = 0;

	if (n == 1 && w[0] == '-')
		return x_strdup("");
	v = x_malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		int hi, lo;

		if (c < 0x21 || c == 0x7f)
			goto bad;
		if (c != '%') {
			v[o++] = (char)c;
			continue;
		}
		if (n - i < 3 || (hi = hexval(w[i + 1])) < 0 ||
		    (lo = hexval(w[i + 2])) < 0 || (hi == 0 && lo == 0))
			goto bad;
		v[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	v[o] = '\0';
	return v;
bad:
	free(v);
	return NULL;
}
