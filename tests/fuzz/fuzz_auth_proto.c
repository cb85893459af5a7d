/*
 * fuzz_auth_proto - libFuzzer harness for lib/auth_proto: the request
 * line the auth service reads from its clients, and the answer line the
 * clients read back.
 *
 * Input: one line (without its LF).  Invariants (abort() on violation):
 *   - a request that parses formats back to exactly the same line (one
 *     reading only), with fields that pass the field checks, and a
 *     password of 1..SASL_PASS_MAX bytes without NUL;
 *   - a request that does not parse leaves the password buffer empty;
 *   - an answer that parses formats back to the same line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/auth_proto.h"
#include "lib/secret.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secret *pw = secret_new(SASL_PASS_MAX);
	struct secret *line = secret_new(AUTH_LINE_MAX + 1);
	struct str *why = str_new(512), *ans = str_new(512);
	struct auth_proto_req r;
	enum auth_answer a;

	if (auth_proto_request_parse(data, size, &r, pw, why) == 0) {
		char *svc = strndup(r.service, r.service_len);
		char *addr = strndup(r.addr, r.addr_len);

		check(svc != NULL && addr != NULL);
		check(auth_proto_service_ok(r.service, r.service_len));
		check(auth_proto_addr_ok(r.addr, r.addr_len));
		check(auth_proto_user_ok(r.user, r.user_len));
		check(secret_len(pw) >= 1 && secret_len(pw) <= SASL_PASS_MAX);
		check(memchr(secret_data(pw), '\0', secret_len(pw)) == NULL);
		check(auth_proto_request_format(line, svc, addr, r.user,
		          r.user_len, secret_c(pw), secret_len(pw), why) == 0);
		check(secret_len(line) == size + 1);
		check(memcmp(secret_data(line), data, size) == 0);
		free(svc);
		free(addr);
	} else {
		check(secret_len(pw) == 0);
	}
	str_clear(why);
	if (auth_proto_answer_parse(data, size, &a, why) == 0) {
		check(auth_proto_answer_format(a, str_c(why), ans) == 0);
		check(str_len(ans) == size + 1);
		check(memcmp(str_data(ans), data, size) == 0);
	}
	secret_free(&pw);
	secret_free(&line);
	str_free(&why);
	str_free(&ans);
	return 0;
}
