/*
 * base64 - strict decoder and encoder (RFC 4648 §4).
 *
 * Never: index a table with an unchecked byte, or leave a partial
 * encoding in the output string.
 */
#include "lib/base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of c, or -1. */
static int
value_of(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(
    const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		size_t pad = 0;

		for (size_t k = 0; k < 4; k++) {
			uint8_t c = in[i + k];

			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* A digit after padding ("ab=c") is malformed. */
			if (pad > 0 || (v[k] = value_of(c)) < 0)
				return -1;
		}
		/*
		 * Sanity checks: the bits that padding leaves unused must
		 * be zero, or "QQ==" and "QR==" would both mean "A".
		 */
		if ((pad == 1 && (v[2] & 0x03) != 0) ||
		    (pad == 2 && (v[1] & 0x0f) != 0))
			return -1;
		if (cap - o < 3 - pad)
			return -1;
		out[o++] = (uint8_t)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] =
			    (uint8_t)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (uint8_t)(((v[2] & 0x03) << 6) | v[3]);
	}
	*out_len_r = o;
	return 0;
}

/* The four characters for the (up to) three bytes at in[i]. */
static void
quad(const uint8_t *in, size_t len, size_t i, uint8_t q[4])
{
	uint32_t n = (uint32_t)in[i] << 16;
	size_t left = len - i;

	if (left > 1)
		n |= (uint32_t)in[i + 1] << 8;
	if (left > 2)
		n |= in[i + 2];
	q[0] = (uint8_t)alphabet[(n >> 18) & 63];
	q[1] = (uint8_t)alphabet[(n >> 12) & 63];
	q[2] = left > 1 ? (uint8_t)alphabet[(n >> 6) & 63] : '=';
	q[3] = left > 2 ? (uint8_t)alphabet[n & 63] : '=';
}

int
base64_encode(const uint8_t *in, size_t len, struct str *out)
{
	size_t start = str_len(out);

	for (size_t i = 0; i < len; i += 3) {
		uint8_t q[4];

		quad(in, len, i, q);
		if (str_append(out, q, 4) < 0) {
			str_truncate(out, start);
			return -1;
		}
	}
	return 0;
}

int
base64_encode_buf(
    const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		if (cap - o < 4)
			return -1;
		quad(in, len, i, out + o);
		o += 4;
	}
	*out_len_r = o;
	return 0;
}
