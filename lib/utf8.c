/*
 * utf8 - UTF-8 sequence checks.
 *
 * Never: read past p[n - 1].
 */
#include "lib/utf8.h"

size_t
utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t c, lo = 0x80, hi = 0xbf;
	size_t need;

	if (n == 0)
		return 0;
	c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n - 1 < need)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need + 1;
}
