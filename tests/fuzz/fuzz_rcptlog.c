/*
 * fuzz_rcptlog - the defer/<id> log parser (lib/rcptlog) over any bytes.
 *
 * A log that parses must keep the parser's promises (entries sorted by
 * index, one per index, a "4.x.y"-shaped dsn, texts within their limit)
 * and survive a format/parse round trip unchanged.
 *
 * Never: touch the file system (rcptlog_read/write are unit-tested).
 */
#include <stdint.h>
#include <string.h>

#include "lib/rcptlog.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcptlog l = { 0 }, back = { 0 };
	struct str *why = str_new(512), *out;

	if (rcptlog_parse(data, size, &l, why) < 0) {
		FCT_ASSERT(l.n == 0 && l.v == NULL);
		str_free(&why);
		return 0;
	}
	for (size_t i = 0; i < l.n; i++) {
		FCT_ASSERT(i == 0 || l.v[i - 1].index < l.v[i].index);
		FCT_ASSERT(strlen(l.v[i].text) <= RCPTLOG_TEXT_MAX);
		FCT_ASSERT(strlen(l.v[i].relay) <= RCPTLOG_RELAY_MAX);
		FCT_ASSERT(l.v[i].dsn[1] == '.');
	}
	out = str_new(RCPTLOG_FILE_MAX);
	FCT_ASSERT(rcptlog_format(&l, out) == 0);
	FCT_ASSERT(rcptlog_parse(str_data(out), str_len(out), &back, why) ==
	    0);
	FCT_ASSERT(back.n == l.n && back.warned == l.warned);
	for (size_t i = 0; i < l.n; i++) {
		FCT_ASSERT(back.v[i].index == l.v[i].index);
		FCT_ASSERT(strcmp(back.v[i].dsn, l.v[i].dsn) == 0);
		FCT_ASSERT(strcmp(back.v[i].relay, l.v[i].relay) == 0);
		FCT_ASSERT(strcmp(back.v[i].text, l.v[i].text) == 0);
	}
	rcptlog_clear(&l);
	rcptlog_clear(&back);
	str_free(&out);
	str_free(&why);
	return 0;
}
