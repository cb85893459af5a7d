/*
 * fuzz_admin_proto - qmgr's administration line parser (lib/admin_proto)
 * over any bytes: each line of the input is parsed as a command and as
 * an answer.  A command that parses must name a valid queue id (or ALL,
 * or nothing for flush) and survive a format/parse round trip.
 *
 * Never: open a socket.
 */
#include <stdint.h>
#include <string.h>

#include "lib/admin_proto.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
one(const char *line, size_t len)
{
	struct str *why = str_new(512), *out = str_new(ADMIN_LINE_MAX + 2);
	struct str *text = str_new(ADMIN_LINE_MAX + 1);
	struct admin_cmd c, back;
	uint64_t n;

	if (admin_cmd_parse(line, len, &c, why) == 0) {
		FCT_ASSERT(c.verb == ADMIN_FLUSH ? (!c.all && c.id[0] == '\0')
			   : (c.all ? c.id[0] == '\0'
				    : queue_id_valid(c.id)));
		FCT_ASSERT(admin_cmd_format(&c, out) == 0);
		FCT_ASSERT(admin_cmd_parse(str_c(out), str_len(out) - 1,
			       &back, why) == 0);
		FCT_ASSERT(back.verb == c.verb && back.all == c.all &&
		    strcmp(back.id, c.id) == 0);
	}
	if (admin_reply_parse(line, len, &n, text) == 1)
		FCT_ASSERT(str_len(text) <= ADMIN_LINE_MAX);
	str_free(&why);
	str_free(&out);
	str_free(&text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	while (start <= size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
		one((const char *)data + start, len);
		start += len + 1;
	}
	return 0;
}
