/*
 * sasl - the server side of a SASL exchange for PLAIN (RFC 4616) and
 * LOGIN, as smtpd (RFC 4954), and later pop3d (RFC 5034) and imapd
 * (RFC 3501 AUTHENTICATE), run it.
 *
 * A pure state machine over bytes: the caller parses "AUTH mech
 * [initial-response]", creates a struct sasl, feeds it the initial
 * response and then each response line the client sends, and sends back
 * what the machine says:
 *
 *   s = sasl_new(mech);
 *   r = sasl_start(s, initial, len, has_initial);
 *   while (r == SASL_CONTINUE) {
 *           send "334 " + sasl_challenge(s)        (base64 text)
 *           r = sasl_step(s, line, len);           (one response line)
 *   }
 *   SASL_DONE: ask the auth service about sasl_authcid() and
 *              sasl_passwd(), then sasl_free() (which wipes them);
 *   otherwise: send sasl_smtp_reply(r) and sasl_free().
 *
 * Rules (RFC 4954 §4, RFC 4616 §2):
 *   - A response line of exactly "*" cancels: SASL_ERR_CANCEL
 *     ("501 5.7.0").  In an initial response "*" is just bad base64.
 *   - An initial response of "=" is an empty one (RFC 4954 §4); a
 *     response line "" is an empty response.
 *   - Responses are strict base64 (lib/base64): else SASL_ERR_DECODE
 *     ("501 5.5.2").  A line longer than SASL_LINE_MAX is
 *     SASL_ERR_TOOLONG ("500 5.5.6"); a caller whose line reader drops
 *     an over-long line sends that reply too.
 *   - PLAIN: authzid NUL authcid NUL passwd, exactly two NULs, authcid
 *     and passwd non-empty; an authzid that is neither empty nor equal
 *     to authcid (byte for byte) is SASL_ERR_AUTHZID: we never let one
 *     account act as another.
 *   - LOGIN: challenges "Username:" then "Password:"; an initial
 *     response is the user name.
 *   - authcid: 1..SASL_ID_MAX bytes, no NUL or control byte; passwd:
 *     1..SASL_PASS_MAX bytes, no NUL (any other byte is the user's).
 *
 * Credentials live in buffers that sasl_free() and every failure wipe
 * with explicit_bzero().
 *
 * Never: read a descriptor, log anything (the caller logs, and never the
 * password), or keep a password after sasl_free().
 */
#ifndef FACTEUR_SASL_H
#define FACTEUR_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* RFC 4954 §4: a server must accept response lines of 12288 octets. */
#define SASL_LINE_MAX 12288
/* Longest authzid or authcid (RFC 4616 asks for at least 255). */
#define SASL_ID_MAX 512
/* Longest password (RFC 4616 asks for at least 255). */
#define SASL_PASS_MAX 1024

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

enum sasl_result {
	SASL_CONTINUE,    /* send "334 " + sasl_challenge(), read a line */
	SASL_DONE,        /* credentials ready */
	SASL_ERR_DECODE,  /* bad base64 or a malformed message */
	SASL_ERR_CANCEL,  /* the client sent "*" */
	SASL_ERR_TOOLONG, /* response line over SASL_LINE_MAX */
	SASL_ERR_AUTHZID, /* PLAIN authzid differs from authcid */
};

/* The SMTP replies (RFC 4954 §4, §6). */
#define SASL_REPLY_DECODE  "501 5.5.2 Cannot decode response"
#define SASL_REPLY_CANCEL  "501 5.7.0 Authentication aborted"
#define SASL_REPLY_TOOLONG "500 5.5.6 Authentication exchange line is too long"
#define SASL_REPLY_AUTHZID                                                     \
	"535 5.7.8 Authentication credentials invalid (authorization "         \
	"identity not permitted)"
#define SASL_REPLY_UNKNOWN_MECH "504 5.5.4 Unrecognized authentication type"

/* Mechanism by name (ASCII case-insensitive); 0, or -1 when unknown. */
FCT_MUST_CHECK int sasl_mech_parse(
    const uint8_t *name, size_t len, enum sasl_mech *m_r);
/* "PLAIN", "LOGIN". */
const char *sasl_mech_name(enum sasl_mech m);
/* What EHLO advertises: "PLAIN LOGIN". */
const char *sasl_mech_list(void);
/* The SMTP reply line for a failure; NULL for CONTINUE and DONE. */
const char *sasl_smtp_reply(enum sasl_result r);

struct sasl;

/* A new exchange (caller frees). */
struct sasl *sasl_new(enum sasl_mech m);
/* Wipe every credential byte, free, set *sp NULL; accepts NULL. */
void sasl_free(struct sasl **sp);

/*
 * Begin: initial (len bytes) is the initial response when has_initial
 * (as sent, base64 or "="); without one PLAIN asks with an empty
 * challenge and LOGIN asks for the user name.
 */
FCT_MUST_CHECK enum sasl_result sasl_start(
    struct sasl *s, const uint8_t *initial, size_t len, bool has_initial);
/* One response line (len bytes, without CRLF). */
FCT_MUST_CHECK enum sasl_result sasl_step(
    struct sasl *s, const uint8_t *line, size_t len);

/* The challenge to send after SASL_CONTINUE: base64 text ("" for
 * PLAIN).  Borrowed. */
const char *sasl_challenge(const struct sasl *s);
/* After SASL_DONE: the NUL-terminated authcid and password, borrowed
 * until sasl_free(). */
const char *sasl_authcid(const struct sasl *s, size_t *len_r);
const char *sasl_passwd(const struct sasl *s, size_t *len_r);

/*
 * PLAIN's message (already base64-decoded): split and check it.  Returns
 * SASL_DONE with authcid and passwd as borrowed views into msg (not
 * NUL-terminated), or the failure (SASL_ERR_DECODE or SASL_ERR_AUTHZID).
 */
FCT_MUST_CHECK enum sasl_result sasl_plain_parse(const uint8_t *msg, size_t len,
    const uint8_t **authcid_r, size_t *authcid_len_r, const uint8_t **passwd_r,
    size_t *passwd_len_r);

#endif
