/*
 * fuzz_map_text - the text-table parser (lib/map_text) over any bytes.
 *
 * The first byte picks the format (table, aliases, users) and the size of
 * the pieces the rest is fed in; the text is parsed once in one piece and
 * once in pieces, and both runs must give the same entries and the same
 * number of errors.  Every entry must keep the parser's promises: a key
 * of 1..MAP_KEY_MAX bytes, folded, without blanks or control bytes; a
 * NUL-terminated value without control bytes; users values that parse.
 *
 * Never: write files (the builder's LMDB side is covered by test_map).
 */
#include <stdint.h>
#include <string.h>

#include "lib/diag.h"
#include "lib/map_text.h"
#include "lib/str.h"
#include "lib/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	enum map_format fmt;
	struct str *out;
};

static bool
bad_byte(const char *p, size_t len, bool allow_blank)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f) {
			if (!(allow_blank && c == '\t'))
				return true;
		}
		if (!allow_blank && c == ' ')
			return true;
	}
	return false;
}

static int
check(const struct map_text_entry *e, void *arg)
{
	struct run *r = arg;
	struct str *why = str_new(1024);
	struct users_entry u;

	FCT_ASSERT(e->key_len >= 1 && e->key_len <= MAP_KEY_MAX);
	FCT_ASSERT(
	    e->key[e->key_len] == '\0' && e->value[e->value_len] == '\0');
	FCT_ASSERT(strlen(e->key) == e->key_len);
	FCT_ASSERT(strlen(e->value) == e->value_len);
	FCT_ASSERT(e->value_len <= MAP_VALUE_MAX);
	FCT_ASSERT(!bad_byte(e->key, e->key_len, false));
	FCT_ASSERT(!bad_byte(e->value, e->value_len, true));
	for (size_t i = 0; i < e->key_len; i++)
		FCT_ASSERT(!(e->key[i] >= 'A' && e->key[i] <= 'Z'));
	switch (r->fmt) {
	case MAP_FORMAT_TABLE:
		FCT_ASSERT(!e->implied && e->value_len > 0);
		break;
	case MAP_FORMAT_ALIASES:
		FCT_ASSERT(!e->implied && e->value_len > 0);
		FCT_ASSERT(strchr(e->key, ':') == NULL);
		FCT_ASSERT(strchr(e->value, '"') == NULL);
		FCT_ASSERT(e->value[0] != '|' && e->value[0] != '/');
		break;
	case MAP_FORMAT_USERS:
		if (e->implied) {
			FCT_ASSERT(e->key[0] == '@' && e->value_len == 0);
			FCT_ASSERT(users_domain_check(
			               e->key + 1, e->key_len - 1, why) == 0);
		} else {
			size_t at;
			FCT_ASSERT(users_address_check(
			               e->key, e->key_len, &at, why) == 0);
			FCT_ASSERT(users_value_parse(
			               e->value, e->value_len, &u, why) == 0);
		}
		break;
	}
	str_free(&why);
	str_notef(r->out, "%u:%s=%s%s\n", e->line, e->key, e->value,
	    e->implied ? "*" : "");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run one, many;
	struct diag *d1, *d2;
	struct map_text *t;
	size_t piece;
	int rc1, rc2;

	if (size < 1)
		return 0;
	one.fmt = many.fmt = (enum map_format)(data[0] % 3);
	piece = (size_t)(data[0] / 3) % 17 + 1;
	data++;
	size--;
	one.out = str_new(size * 4 + 4096);
	many.out = str_new(size * 4 + 4096);
	d1 = diag_new();
	d2 = diag_new();

	rc1 = map_text_parse(one.fmt, "fuzz", data, size, d1, check, &one);

	t = map_text_new(many.fmt, "fuzz", d2, check, &many);
	for (size_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		FCT_ASSERT(map_text_feed(t, data + off, n) == 0);
	}
	rc2 = map_text_finish(t);
	FCT_ASSERT(map_text_errors(t) == diag_errors(d2));
	map_text_free(&t);

	FCT_ASSERT(rc1 == rc2);
	FCT_ASSERT(rc1 == (diag_errors(d1) > 0 ? -1 : 0));
	FCT_ASSERT(diag_errors(d1) == diag_errors(d2));
	FCT_ASSERT(str_len(one.out) == str_len(many.out) &&
	           memcmp(str_data(one.out), str_data(many.out),
	               str_len(one.out)) == 0);
	FCT_ASSERT(strcmp(diag_text(d1), diag_text(d2)) == 0);

	diag_free(&d1);
	diag_free(&d2);
	str_free(&one.out);
	str_free(&many.out);
	return 0;
}
