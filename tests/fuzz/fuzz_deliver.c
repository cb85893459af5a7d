/*
 * fuzz_deliver - the delivery protocol parsers (lib/deliver): the same
 * bytes as a request and as a reply.  A request that parses must format
 * and parse back to the same request; so must a reply; and a reply is
 * checked against the request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/deliver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
request_round_trip(const struct deliver_request *rq)
{
	struct str *out = str_new(DELIVER_MSG_MAX * 4);
	struct str *why = str_new(256);
	struct deliver_request back;

	if (deliver_request_format(rq, out) < 0 ||
	    deliver_request_parse(str_data(out), str_len(out), &back, why) < 0)
		abort();
	if (back.nrcpts != rq->nrcpts || back.nattrs != rq->nattrs ||
	    strcmp(back.queue_id, rq->queue_id) != 0 ||
	    strcmp(back.sender, rq->sender) != 0)
		abort();
	for (size_t i = 0; i < rq->nrcpts; i++)
		if (strcmp(back.rcpts[i].addr, rq->rcpts[i].addr) != 0 ||
		    strcmp(back.rcpts[i].orig, rq->rcpts[i].orig) != 0 ||
		    back.rcpts[i].index != rq->rcpts[i].index)
			abort();
	deliver_request_clear(&back);
	str_free(&out);
	str_free(&why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str *why = str_new(256);
	struct deliver_request rq;
	struct deliver_reply rp;
	bool have_rq = false;

	(void)deliver_message_len(data, size);
	if (deliver_request_parse(data, size, &rq, why) == 0) {
		have_rq = true;
		request_round_trip(&rq);
	}
	str_clear(why);
	if (deliver_reply_parse(data, size, &rp, why) == 0) {
		struct str *out = str_new(DELIVER_MSG_MAX * 4);
		struct deliver_reply back;
		if (deliver_reply_format(&rp, out) < 0 ||
		    deliver_reply_parse(
		        str_data(out), str_len(out), &back, why) < 0 ||
		    back.n != rp.n)
			abort();
		deliver_reply_clear(&back);
		str_free(&out);
		if (have_rq && deliver_reply_check(&rq, &rp, why) < 0 &&
		    str_len(why) == 0)
			abort(); /* a refusal always says why */
		deliver_reply_clear(&rp);
	}
	if (have_rq)
		deliver_request_clear(&rq);
	str_free(&why);
	return 0;
}
