/*
 * queue_id - base62 time prefix + base62 inode.
 *
 * Never: read past len, or accept an id that queue_id_make() would not
 * produce.
 */
#include "lib/queue_id.h"

#include <string.h>

static const char digits[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#define B62 62u

/* Value of a base62 digit, or -1. */
static int
digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

/* Write v as exactly width digits (v must fit). */
static void
put_fixed(char *out, uint64_t v, unsigned width)
{
	for (unsigned i = width; i > 0; i--) {
		out[i - 1] = digits[v % B62];
		v /= B62;
	}
}

/* Write v with no leading zero; returns the digit count. */
static unsigned
put_var(char *out, uint64_t v)
{
	char tmp[QUEUE_ID_INO_MAX_DIGITS];
	unsigned n = 0;

	do {
		tmp[n++] = digits[v % B62];
		v /= B62;
	} while (v > 0);
	for (unsigned i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* Decode len digits; -1 on a bad digit or overflow of a u64. */
static int
get_digits(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++) {
		int d = digit_value(s[i]);
		if (d < 0)
			return -1;
		if (v > (UINT64_MAX - (uint64_t)d) / B62)
			return -1;
		v = v * B62 + (uint64_t)d;
	}
	*v_r = v;
	return 0;
}

/* 62^6: the first second that does not fit. */
#define SEC_LIMIT UINT64_C(56800235584)

int
queue_id_make(uint64_t time_us, uint64_t ino, char id_r[QUEUE_ID_SIZE])
{
	uint64_t sec = time_us / 1000000, usec = time_us % 1000000;
	unsigned n;

	if (sec >= SEC_LIMIT)
		return -1;
	put_fixed(id_r, sec, QUEUE_ID_SEC_DIGITS);
	put_fixed(id_r + QUEUE_ID_SEC_DIGITS, usec, QUEUE_ID_USEC_DIGITS);
	n = put_var(id_r + QUEUE_ID_PREFIX, ino);
	id_r[QUEUE_ID_PREFIX + n] = '\0';
	return 0;
}

/* Shared decoder: -1 unless s[0..len) is a canonical id. */
static int
decode(const char *s, size_t len, uint64_t *time_us_r, uint64_t *ino_r)
{
	uint64_t sec, usec, ino;

	if (len < QUEUE_ID_MIN || len > QUEUE_ID_MAX)
		return -1;
	if (get_digits(s, QUEUE_ID_SEC_DIGITS, &sec) < 0 ||
	    get_digits(s + QUEUE_ID_SEC_DIGITS, QUEUE_ID_USEC_DIGITS, &usec) <
	        0 ||
	    usec >= 1000000)
		return -1;
	/* Canonical inode: no leading zero unless it is "0" itself. */
	if (len - QUEUE_ID_PREFIX > 1 && s[QUEUE_ID_PREFIX] == '0')
		return -1;
	if (get_digits(s + QUEUE_ID_PREFIX, len - QUEUE_ID_PREFIX, &ino) < 0)
		return -1;
	if (time_us_r != NULL)
		*time_us_r = sec * 1000000 + usec;
	if (ino_r != NULL)
		*ino_r = ino;
	return 0;
}

bool
queue_id_check(const char *s, size_t len)
{
	return decode(s, len, NULL, NULL) == 0;
}

bool
queue_id_valid(const char *s)
{
	return queue_id_check(s, strnlen(s, QUEUE_ID_MAX + 1));
}

int
queue_id_parse(const char *id, uint64_t *time_us_r, uint64_t *ino_r)
{
	return decode(id, strnlen(id, QUEUE_ID_MAX + 1), time_us_r, ino_r);
}

int
queue_id_time(const char *id, uint64_t *time_us_r)
{
	return queue_id_parse(id, time_us_r, NULL);
}
