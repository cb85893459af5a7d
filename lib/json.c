/*
 * json - JSON string escaping.
 *
 * Never: copy a byte that would make the output invalid.
 */
#include "lib/json.h"

#include <string.h>

/* Length of a well-formed UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int
json_append_string(struct str *out, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)text;
	size_t n = strlen(text);

	if (str_appendc(out, '"') < 0)
		return -1;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		int rc;

		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			rc = str_append(out, esc, 2);
			i++;
		} else if (c >= 0x20 && c < 0x7f) {
			rc = str_appendc(out, (char)c);
			i++;
		} else if (c >= 0x80 && utf8_len(p + i, n - i) > 0) {
			size_t len = utf8_len(p + i, n - i);
			rc = str_append(out, p + i, len);
			i += len;
		} else {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4],
				hex[c & 15] };
			rc = str_append(out, esc, 6);
			i++;
		}
		if (rc < 0)
			return -1;
	}
	return str_appendc(out, '"');
}
