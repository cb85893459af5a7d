/*
 * fuzz_queue_reader - the queue-file parser (lib/queue_read) over any
 * bytes, read from memory through queue_pread_mem.
 *
 * Promises checked: a memory source never gives STATUS_TEMP; a refused
 * file leaves an empty envelope; an accepted one has at least one
 * recipient, each flag byte at its offset holds the flags returned, the
 * content lies inside the file and reads back byte for byte, and the file
 * ends with its END record.  A file accepted under a small record limit
 * is accepted under a larger one.
 *
 * Never: touch the file system.
 */
#include <stdint.h>
#include <string.h>

#include "lib/queue_read.h"
#include "lib/str.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_ok(const uint8_t *data, size_t size, const struct queue_env *env)
{
	struct queue_mem mem = {data, size};
	struct str *why = str_new(1024);
	uint8_t buf[1000];
	uint64_t pos = 0;
	size_t n;

	FCT_ASSERT(env->version == QUEUE_FORMAT_VERSION);
	FCT_ASSERT(env->sender != NULL && env->nrcpts >= 1);
	FCT_ASSERT(env->file_size == size);
	FCT_ASSERT(
	    env->content_off + env->content_len + QUEUE_REC_HEAD == size);
	FCT_ASSERT(data[size - QUEUE_REC_HEAD] == QUEUE_REC_END);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		FCT_ASSERT(r->addr[0] != '\0' && r->orig != NULL);
		FCT_ASSERT(r->flags_off < env->content_off);
		FCT_ASSERT(data[r->flags_off] == r->flags);
	}
	for (size_t i = 0; i < env->nattrs; i++)
		FCT_ASSERT(env->attrs[i].name[0] != '\0' &&
		           strchr(env->attrs[i].name, '=') == NULL);
	for (;;) {
		FCT_ASSERT(queue_content_read(queue_pread_mem, &mem, env, pos,
		               buf, sizeof(buf), &n, why) == STATUS_OK);
		if (n == 0)
			break;
		FCT_ASSERT(memcmp(buf, data + env->content_off + pos, n) == 0);
		pos += n;
	}
	FCT_ASSERT(pos == env->content_len);
	str_free(&why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_mem mem = {data, size};
	struct str *why = str_new(1024);
	struct queue_env env;
	enum status st, big;

	st = queue_env_parse(queue_pread_mem, &mem, 1024, &env, why);
	FCT_ASSERT(st != STATUS_TEMP);
	if (st == STATUS_OK) {
		check_ok(data, size, &env);
		queue_env_clear(&env);
	} else {
		FCT_ASSERT(env.sender == NULL && env.nrcpts == 0 &&
		           env.rcpts == NULL && env.attrs == NULL);
	}
	big = queue_env_parse(queue_pread_mem, &mem, 65536, &env, why);
	FCT_ASSERT(big != STATUS_TEMP);
	FCT_ASSERT(st != STATUS_OK || big == STATUS_OK);
	if (big == STATUS_OK) {
		check_ok(data, size, &env);
		queue_env_clear(&env);
	}
	str_free(&why);
	return 0;
}
