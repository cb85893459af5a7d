/*
 * auth_proto - the line protocol between the auth service and its
 * clients (smtpd, later pop3d and imapd); docs/auth-protocol.md is its
 * description for people.
 *
 *   client: AUTH <service> <client-addr> <user> <base64-password> LF
 *   server: OK LF | FAIL LF | TEMP <reason> LF
 *
 * One request per line, one answer per request, in order; a client may
 * send the next request after the answer on the same connection.
 *   service      1..AUTH_SERVICE_MAX of [a-z0-9-]   ("smtpd")
 *   client-addr  1..AUTH_ADDR_MAX printable ASCII, no blank
 *                ("192.0.2.7", "2001:db8::1", "unknown")
 *   user         1..SASL_ID_MAX bytes, no blank, control byte or NUL
 *                (8-bit bytes allowed: the table decides)
 *   password     strict base64 (lib/base64) of 1..SASL_PASS_MAX bytes
 *                without NUL
 *   reason       printable ASCII, for the client's log only
 * A line over AUTH_LINE_MAX or one that does not parse ends the
 * connection (the server answers nothing to garbage).
 *
 * Never: put a password anywhere but in a struct secret, or accept a
 * field the other side could read differently.
 */
#ifndef FACTEUR_AUTH_PROTO_H
#define FACTEUR_AUTH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sasl.h"
#include "lib/secret.h"
#include "lib/str.h"
#include "lib/util.h"

#define AUTH_SERVICE_MAX 32
#define AUTH_ADDR_MAX    64
#define AUTH_REASON_MAX  200
/* Longest request line, without its LF: every field at its longest. */
#define AUTH_LINE_MAX                                                          \
	(5 + AUTH_SERVICE_MAX + 1 + AUTH_ADDR_MAX + 1 + SASL_ID_MAX + 1 +      \
	    ((SASL_PASS_MAX + 2) / 3) * 4)

/* The socket, under $queue_directory (DESIGN §1, §2). */
#define AUTH_CLIENT_SOCKET "auth/client"

/* A parsed request: views into the line, the password decoded. */
struct auth_proto_req {
	const char *service;
	size_t service_len;
	const char *addr;
	size_t addr_len;
	const char *user;
	size_t user_len;
};

enum auth_answer {
	AUTH_ANSWER_OK,
	AUTH_ANSWER_FAIL,
	AUTH_ANSWER_TEMP,
};

/* Field checks shared by both sides. */
bool auth_proto_service_ok(const char *p, size_t len);
bool auth_proto_addr_ok(const char *p, size_t len);
bool auth_proto_user_ok(const char *p, size_t len);

/*
 * Build the request line (with its LF) into out (cap at least
 * AUTH_LINE_MAX + 1; replaced).  0, or -1 with why when a field breaks
 * the rules above.
 */
FCT_MUST_CHECK int auth_proto_request_format(struct secret *out,
    const char *service, const char *addr, const char *user, size_t user_len,
    const char *pw, size_t pw_len, struct str *why);

/*
 * Parse one request line (len bytes, without LF).  Fills *r with views
 * into line and replaces pw_r's content (cap at least SASL_PASS_MAX)
 * with the password.  0, or -1 with why (never naming the password).
 */
FCT_MUST_CHECK int auth_proto_request_parse(const uint8_t *line, size_t len,
    struct auth_proto_req *r, struct secret *pw_r, struct str *why);

/* "OK\n", "FAIL\n", "TEMP reason\n" appended to out (reason cleaned). */
FCT_MUST_CHECK int auth_proto_answer_format(
    enum auth_answer a, const char *reason, struct str *out);
/*
 * Parse an answer line (without LF).  0 with *a_r and, for TEMP, the
 * reason appended to reason_r (may be NULL); -1 when malformed.
 */
FCT_MUST_CHECK int auth_proto_answer_parse(const uint8_t *line, size_t len,
    enum auth_answer *a_r, struct str *reason_r);

#endif
