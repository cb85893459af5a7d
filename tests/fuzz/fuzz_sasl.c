/*
 * fuzz_sasl - libFuzzer harness for lib/sasl and lib/base64.
 *
 * Input: byte 0 chooses the mechanism (bit 0: LOGIN) and whether the
 * first line is an initial response (bit 1); the rest is cut at '\n'
 * into response lines fed to the exchange until it ends.  The whole
 * input also goes through sasl_plain_parse() and base64.  Invariants
 * (abort() on violation):
 *   - every failure has an SMTP reply "ddd d.d.d text";
 *   - a finished exchange gives an authcid of 1..SASL_ID_MAX bytes
 *     without NUL or control bytes, and a password of 1..SASL_PASS_MAX
 *     bytes without NUL, both NUL-terminated;
 *   - PLAIN's parts lie inside the message;
 *   - base64 decode -> encode gives the input back (one encoding per
 *     byte string), and encode -> decode the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/sasl.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_reply(enum sasl_result r)
{
	const char *s = sasl_smtp_reply(r);

	check(s != NULL && strlen(s) > 10 && s[3] == ' ' && s[5] == '.');
	check(s[0] == '5' && s[4] == '5');
}

static void
check_done(const struct sasl *s)
{
	size_t ul, pl;
	const char *u = sasl_authcid(s, &ul), *p = sasl_passwd(s, &pl);

	check(ul >= 1 && ul <= SASL_ID_MAX && strlen(u) == ul);
	for (size_t i = 0; i < ul; i++)
		check((uint8_t)u[i] >= 0x20 && (uint8_t)u[i] != 0x7f);
	check(pl >= 1 && pl <= SASL_PASS_MAX && strlen(p) == pl);
}

static void
fuzz_exchange(const uint8_t *p, size_t n, enum sasl_mech mech, bool initial)
{
	struct sasl *s = sasl_new(mech);
	const uint8_t *end = p + n;
	enum sasl_result r;

	if (initial) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		r = sasl_start(s, p, len, true);
		p = nl ? nl + 1 : end;
	} else {
		r = sasl_start(s, NULL, 0, false);
	}
	while (r == SASL_CONTINUE && p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		check(sasl_challenge(s) != NULL);
		r = sasl_step(s, p, len);
		p = nl ? nl + 1 : end;
	}
	if (r == SASL_DONE)
		check_done(s);
	else if (r != SASL_CONTINUE)
		check_reply(r);
	sasl_free(&s);
}

static void
fuzz_base64(const uint8_t *p, size_t n)
{
	uint8_t *a = malloc(BASE64_DECODED_MAX(n) + 1);
	uint8_t *b = malloc(n + 1);
	struct str *enc = str_new(BASE64_ENCODED_LEN(n) + 4);
	size_t alen, blen;

	if (base64_decode(p, n, a, BASE64_DECODED_MAX(n), &alen) == 0) {
		check(base64_encode(a, alen, enc) == 0);
		check(str_len(enc) == n && memcmp(str_data(enc), p, n) == 0);
	}
	str_clear(enc);
	check(base64_encode(p, n, enc) == 0);
	check(base64_decode(str_data(enc), str_len(enc), b, n, &blen) == 0);
	check(blen == n && memcmp(b, p, n) == 0);
	str_free(&enc);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *cid, *pw;
	size_t cl, pl;
	enum sasl_result r;

	if (size < 1)
		return 0;
	fuzz_exchange(data + 1, size - 1,
	    (data[0] & 1) ? SASL_MECH_LOGIN : SASL_MECH_PLAIN,
	    (data[0] & 2) != 0);
	r = sasl_plain_parse(data + 1, size - 1, &cid, &cl, &pw, &pl);
	if (r == SASL_DONE)
		check(cid > data && cid + cl <= data + size && pw > cid &&
		      pw + pl == data + size);
	else
		check_reply(r);
	fuzz_base64(data + 1, size - 1);
	return 0;
}
