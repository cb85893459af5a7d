/*
 * json - JSON string escaping.
 *
 * Never: copy a byte that would make the output invalid.
 */
#include "lib/json.h"

#include <string.h>

#include "lib/utf8.h"

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
		} else if (c >= 0x80 && utf8_seq_len(p + i, n - i) > 0) {
			size_t len = utf8_seq_len(p + i, n - i);
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
