/*
 * smtp_cmd - parse one SMTP command line and its arguments: the verb, the
 * MAIL and RCPT paths with their ESMTP parameters, BDAT, AUTH, EHLO/HELO
 * and VRFY (RFC 5321, 1870, 2034, 3030, 3461, 3463, 4954, 6152, 6531).
 *
 * The caller cuts the line (linebuf, without its CRLF) and hands the bytes
 * in; every function here is pure: no I/O, no allocation, no global state.
 * An error comes back as -1 plus the exact reply line to send (code,
 * RFC 3463 enhanced code, text, without CRLF) in the caller's struct str
 * (give it a cap of SMTP_REPLY_MAX; a smaller cap cuts the text).
 *
 * Never: read a descriptor, echo a raw client byte in a reply (echoed text
 * is printable ASCII, others become '?', cut at SMTP_ECHO_MAX), accept an
 * address that could be taken for another one, or write past a field.
 *
 * WHAT IS ACCEPTED AND REFUSED (for smtpd and docs/protocols.md)
 *
 * Command line.  Leading and trailing SP/HTAB are ignored; verb and
 * argument are separated by SP/HTAB runs.  The verb is matched without
 * regard to case.  A line holding NUL, CR or LF anywhere, or an empty line,
 * is refused: "500 5.5.2 Error: bad syntax".  An unknown verb gives
 * SMTP_VERB_UNKNOWN and "502 5.5.2 Error: command not recognized".
 *
 * MAIL FROM / RCPT TO.  The keyword "FROM:" / "TO:" is matched without
 * regard to case and must be one word (no space before the colon);
 * spaces after the colon are allowed (MAIL FROM: <a@b>, flag
 * SMTP_ADDR_SPACE).  The path is normally in angle brackets; a path
 * without them (MAIL FROM:a@b) is accepted (SMTP_ADDR_NOBRACKETS) and
 * ends at the first SP/HTAB outside a quoted string.  Anything else
 * around the path (comments, phrases "Name <a@b>", a second '<' or '>',
 * spaces inside the brackets) is refused.  Inside the path:
 *   - "<>" is the null reverse-path: MAIL only (SMTP_ADDR_NULL).
 *   - "<Postmaster>" (any case) without a domain: RCPT only
 *     (SMTP_ADDR_POSTMASTER, RFC 5321 §4.1.1.3).  Any other address
 *     without a domain is refused.
 *   - A source route "@a,@b:" (RFC 5321 §4.1.1.3, App. C) is checked
 *     (each hop a domain name), stripped and flagged SMTP_ADDR_ROUTE.
 *   - The local part is a dot-string or a quoted-string.  Quotes are
 *     removed and backslash escapes resolved in smtp_addr.local; a quoted
 *     local part that needs no quotes is the same mailbox as the unquoted
 *     one ("user"@x == user@x).  Leading, trailing or doubled dots in an
 *     unquoted local part are accepted as real-world practice
 *     (SMTP_ADDR_ODD_DOTS) and the canonical text quotes them.  An empty
 *     local part ("" @x) is refused: it would look like a catch-all key.
 *     Control bytes and DEL are refused everywhere, also escaped.
 *   - '%', '!' and '@' in the local part are kept and flagged
 *     (SMTP_ADDR_PERCENT, _BANG, _AT) for the relay checks.  An unquoted
 *     second '@' (user@other@ours) is refused.
 *   - The domain is labels of letters, digits, '-' and '_' (1..63
 *     octets, no '-' at either end), at least one label, the last label
 *     not all digits (a dotted quad must be written as a literal).  One
 *     trailing dot is accepted, kept and flagged SMTP_ADDR_TRAILING_DOT,
 *     never silently removed.  smtp_addr.domain is the domain with ASCII
 *     letters lowered; smtp_addr.text keeps the case as sent.
 *   - Address literals: [IPv4] (dotted quad, each 0..255) and [IPv6:...]
 *     (inet_pton), rewritten in canonical form ([192.0.2.1],
 *     [IPv6:2001:db8::1]) and flagged SMTP_ADDR_LITERAL.  General
 *     address literals ([tag:...]) are refused.
 *   - UTF-8 (RFC 6531) in local part and domain labels must be well
 *     formed (no overlongs, surrogates, or code points past U+10FFFF) and
 *     is flagged SMTP_ADDR_UTF8; it is accepted only with SMTPUTF8 on the
 *     MAIL command (for RCPT the caller says whether the transaction is
 *     SMTPUTF8), else 550 (MAIL) / 553 (RCPT) 5.6.7 "Must declare
 *     SMTPUTF8 to send unicode address" (RFC 6531 §3.5).  No IDNA checks.
 *   - Sizes: local part at most SMTP_LOCAL_MAX octets after unquoting
 *     (RFC 5321 §4.5.3.1.1 says 64; we allow 128 for SRS/VERP/BATV
 *     addresses seen in practice), domain at most SMTP_DOMAIN_MAX (255,
 *     as the RFC), whole path as sent, brackets and route included, at
 *     most SMTP_PATH_MAX (RFC: 256; we allow 512 to go with the longer
 *     local part and routes).  Past these: "501 5.1.7 Sender address too
 *     long" / "501 5.1.3 Recipient address too long".
 *   Errors: "501 5.5.4 Syntax: MAIL FROM:<address>" (or RCPT TO:) when
 *   the keyword or the path is missing, "501 5.1.7 Bad sender address
 *   syntax" / "501 5.1.3 Bad recipient address syntax" for a bad path.
 *
 * ESMTP parameters (SP/HTAB separated, keyword case-insensitive, each at
 * most once: "501 5.5.4 Duplicate X parameter").  A parameter of an
 * extension the caller did not offer (see SMTP_EXT_*), an unknown one or
 * a malformed keyword: "555 5.5.4 Unsupported option: <echo>" (RFC 5321
 * §4.1.1.11).  MAIL:
 *   SIZE=n      digits only ("501 5.5.4 Bad message size syntax"); a
 *               number past 2^64-1: "552 5.3.4 Message size exceeds file
 *               system imposed limit".  Comparing with message_size_limit
 *               is the caller's job.
 *   BODY=7BIT|8BITMIME   any other value, BINARYMIME included (not
 *               offered): "501 5.5.4 Unsupported BODY parameter".
 *   SMTPUTF8    no value ("501 5.5.4 Bad SMTPUTF8 parameter syntax").
 *   RET=FULL|HDRS        "501 5.5.4 Bad RET parameter syntax".
 *   ENVID=xtext at most 100 octets as sent, decoded must be printable
 *               ASCII (RFC 3461 §4.4): "501 5.5.4 Bad ENVID parameter
 *               syntax".
 *   AUTH=xtext|<>        (RFC 4954 §5) decoded, printable ASCII, at most
 *               SMTP_AUTHPARAM_MAX as sent, kept for the caller:
 *               "501 5.5.4 Bad AUTH parameter syntax".
 * RCPT:
 *   NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY, each at most
 *               once, NEVER alone: "501 5.5.4 Bad NOTIFY parameter syntax".
 *   ORCPT=addr-type;xtext   addr-type an atom of at most
 *               SMTP_ADDRTYPE_MAX, whole value at most 500 octets as sent
 *               (RFC 3461 §4.2), addr-type without '=', decoded
 *               address printable ASCII; for
 *               addr-type "utf-8" in an SMTPUTF8 transaction, raw and
 *               decoded UTF-8 is accepted too (RFC 6533): "501 5.5.4 Bad
 *               ORCPT parameter syntax".
 * xtext: "+XX" with two hex digits (upper case per RFC 3461; lower case
 * is accepted too, it decodes the same), otherwise '!'..'~' except '+'
 * and '='.
 *
 * BDAT <size> [LAST] (RFC 3030): size is 1..20 digits up to 2^64-1, LAST
 * in any case: "501 5.5.4 Syntax: BDAT count [LAST]".  After that error
 * the caller cannot know how many bytes follow: it should reply and close.
 * AUTH <mech> [initial-response] (RFC 4954): mech is 1..20 of A-Z a-z 0-9
 * '-' '_' ("501 5.5.4 Syntax: AUTH mechanism"); the initial response is
 * "=" or base64 with padding only at the end and a length that is a
 * multiple of 4 ("501 5.5.2 Cannot decode response").
 * EHLO/HELO <name>: any non-empty argument is accepted ("501 5.5.4
 * Syntax: EHLO hostname" when empty); flags say whether it is a valid
 * domain, an address literal, or neither.
 * VRFY/EXPN <string>: non-empty ("501 5.5.4 Syntax: VRFY address").
 * DATA, RSET, QUIT, STARTTLS take no argument (smtp_cmd_check_noarg:
 * "501 5.5.4 Syntax: DATA"); NOOP and HELP may have one.
 */
#ifndef FACTEUR_SMTP_CMD_H
#define FACTEUR_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"
#include "lib/util.h"

/* Field bounds (see above for where they differ from RFC 5321). */
#define SMTP_LOCAL_MAX     128 /* local part after unquoting */
#define SMTP_DOMAIN_MAX    255 /* RFC 5321 §4.5.3.1.2 */
#define SMTP_PATH_MAX      512 /* whole path as sent, <> and route included */
#define SMTP_ADDR_TEXT_MAX (2 * SMTP_LOCAL_MAX + 2 + 1 + SMTP_DOMAIN_MAX)
#define SMTP_ENVID_MAX     100 /* RFC 3461 §4.4, as sent */
#define SMTP_ORCPT_MAX     500 /* RFC 3461 §4.2, "type;xtext" as sent */
#define SMTP_ADDRTYPE_MAX  32
#define SMTP_AUTHPARAM_MAX 500 /* AUTH= value as sent */
#define SMTP_AUTH_MECH_MAX 20  /* RFC 4422 §3.1 */
#define SMTP_REPLY_MAX     510 /* RFC 5321 §4.5.3.1.5, without CRLF */
#define SMTP_ECHO_MAX      64  /* client text echoed in a reply */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

struct smtp_cmd {
	enum smtp_verb verb;
	const uint8_t *arg; /* borrowed from the line; trimmed */
	size_t arg_len;
};

/*
 * Cut line[0..len) into verb and argument.  Returns 0, or -1 with the
 * reply in *reply (bad bytes, empty line: cmd_r->verb is
 * SMTP_VERB_UNKNOWN and arg empty; unknown verb: SMTP_VERB_UNKNOWN and arg
 * is what follows the word).  cmd_r->arg points into line.
 */
FCT_MUST_CHECK int smtp_cmd_parse(
    const uint8_t *line, size_t len, struct smtp_cmd *cmd_r, struct str *reply);

/* The verb's name in upper case ("MAIL"), "UNKNOWN" for the rest. */
const char *smtp_verb_name(enum smtp_verb verb);

/* For DATA, RSET, QUIT, STARTTLS: -1 and "501 5.5.4 Syntax: DATA" when an
 * argument was given; 0 otherwise (and for verbs that allow one). */
FCT_MUST_CHECK int smtp_cmd_check_noarg(
    const struct smtp_cmd *cmd, struct str *reply);

/* smtp_addr.flags */
#define SMTP_ADDR_NULL         0x0001u /* <> */
#define SMTP_ADDR_POSTMASTER   0x0002u /* <Postmaster>, no domain */
#define SMTP_ADDR_ROUTE        0x0004u /* source route stripped */
#define SMTP_ADDR_LITERAL      0x0008u /* domain is [addr] */
#define SMTP_ADDR_TRAILING_DOT 0x0010u /* domain ends in '.' (kept) */
#define SMTP_ADDR_PERCENT      0x0020u /* local part has '%' */
#define SMTP_ADDR_BANG         0x0040u /* local part has '!' */
#define SMTP_ADDR_AT           0x0080u /* local part has '@' (quoted) */
#define SMTP_ADDR_QUOTED       0x0100u /* local part was quoted */
#define SMTP_ADDR_UTF8         0x0200u /* non-ASCII in local or domain */
#define SMTP_ADDR_NOBRACKETS   0x0400u /* sent without <> */
#define SMTP_ADDR_SPACE        0x0800u /* space after the colon */
#define SMTP_ADDR_ODD_DOTS     0x1000u /* local part not a dot-string */
/* Local part may route elsewhere (user%host, host!user, "u@h"). */
#define SMTP_ADDR_LOCAL_ROUTING                                                \
	(SMTP_ADDR_PERCENT | SMTP_ADDR_BANG | SMTP_ADDR_AT)

/*
 * A mailbox as parsed from a path.  For the null path every field is
 * empty; for <Postmaster> domain is empty and local/text are as sent.
 * All three strings are NUL-terminated and hold no NUL or control byte.
 */
struct smtp_addr {
	unsigned flags;
	size_t local_len, domain_len, text_len;
	/* unquoted, escapes resolved, case as sent: for table keys */
	char local[SMTP_LOCAL_MAX + 1];
	/* ASCII lower case, trailing dot kept; literal in canonical form */
	char domain[SMTP_DOMAIN_MAX + 1];
	/* canonical printable form: local quoted when needed, '@', domain
	 * with its case as sent; what goes between < > in logs and queue */
	char text[SMTP_ADDR_TEXT_MAX + 1];
};

/* smtp_path_parse() flags */
#define SMTP_PATH_NULL_OK       0x1u /* <> allowed (MAIL) */
#define SMTP_PATH_POSTMASTER_OK 0x2u /* <Postmaster> allowed (RCPT) */

enum smtp_path_result {
	SMTP_PATH_OK = 0,
	SMTP_PATH_SYNTAX,  /* not an address we accept */
	SMTP_PATH_TOOLONG, /* past one of the bounds above */
};

/*
 * Parse one path as sent, with or without its angle brackets ("<a@b>",
 * "a@b", "<>", "<@r:a@b>"), all of p[0..n) and nothing else.  UTF-8 is
 * accepted and flagged; the caller checks SMTP_ADDR_UTF8 against
 * SMTPUTF8.  Fills *a_r on SMTP_PATH_OK (and leaves it zeroed otherwise).
 */
FCT_MUST_CHECK enum smtp_path_result smtp_path_parse(
    const uint8_t *p, size_t n, unsigned flags, struct smtp_addr *a_r);

/* Extensions the server advertised: parameters of others get 555. */
#define SMTP_EXT_SIZE     0x01u
#define SMTP_EXT_8BITMIME 0x02u /* BODY= */
#define SMTP_EXT_SMTPUTF8 0x04u
#define SMTP_EXT_DSN      0x08u /* RET= ENVID= NOTIFY= ORCPT= */
#define SMTP_EXT_AUTH     0x10u /* AUTH= */
#define SMTP_EXT_ALL      0x1fu

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail {
	struct smtp_addr addr;
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	bool has_envid;
	size_t envid_len;
	char envid[SMTP_ENVID_MAX + 1]; /* decoded; printable ASCII */
	bool has_auth;
	size_t auth_len;
	char auth[SMTP_AUTHPARAM_MAX + 1]; /* decoded; "<>" kept as is */
};

/*
 * Parse the argument of MAIL ("FROM:<a@b> SIZE=10"): cmd.arg of
 * smtp_cmd_parse.  ext: SMTP_EXT_* advertised.  Returns 0 and fills *m_r,
 * or -1 with the reply.
 */
FCT_MUST_CHECK int smtp_mail_parse(const uint8_t *arg, size_t len, unsigned ext,
    struct smtp_mail *m_r, struct str *reply);

#define SMTP_NOTIFY_NEVER   0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY   0x8u

struct smtp_rcpt {
	struct smtp_addr addr;
	unsigned notify; /* SMTP_NOTIFY_*, 0 when absent */
	bool has_orcpt;
	size_t orcpt_len;
	char orcpt_type[SMTP_ADDRTYPE_MAX + 1]; /* as sent, e.g. "rfc822" */
	char orcpt[SMTP_ORCPT_MAX + 1];         /* decoded address */
};

/*
 * Parse the argument of RCPT ("TO:<a@b> NOTIFY=NEVER").  smtputf8: the
 * transaction's MAIL had SMTPUTF8.  Returns 0 and fills *r_r, or -1 with
 * the reply.
 */
FCT_MUST_CHECK int smtp_rcpt_parse(const uint8_t *arg, size_t len, unsigned ext,
    bool smtputf8, struct smtp_rcpt *r_r, struct str *reply);

struct smtp_bdat {
	uint64_t size;
	bool last;
};

/* Parse the argument of BDAT.  0, or -1 with the reply. */
FCT_MUST_CHECK int smtp_bdat_parse(
    const uint8_t *arg, size_t len, struct smtp_bdat *b_r, struct str *reply);

struct smtp_auth {
	const uint8_t *mech; /* borrowed from arg */
	size_t mech_len;
	bool has_initial;
	const uint8_t *initial; /* borrowed; base64, or "=" for empty */
	size_t initial_len;
};

/* Parse the argument of AUTH.  0, or -1 with the reply. */
FCT_MUST_CHECK int smtp_auth_parse(
    const uint8_t *arg, size_t len, struct smtp_auth *a_r, struct str *reply);

#define SMTP_HELO_LITERAL 0x1u /* [IPv4] or [IPv6:...] */
#define SMTP_HELO_INVALID 0x2u /* neither a domain nor a literal */

struct smtp_helo {
	const uint8_t *name; /* borrowed from arg; the whole argument */
	size_t len;
	unsigned flags;
};

/*
 * Parse the argument of EHLO (ehlo true) or HELO.  Any non-empty argument
 * is accepted; flags say what it looks like.  0, or -1 with the reply.
 */
FCT_MUST_CHECK int smtp_helo_parse(const uint8_t *arg, size_t len, bool ehlo,
    struct smtp_helo *h_r, struct str *reply);

/*
 * Check the argument of VRFY or EXPN (verb says which): non-empty.  The
 * argument is cmd.arg as is; smtp_path_parse() may be tried on it.
 */
FCT_MUST_CHECK int smtp_vrfy_parse(
    enum smtp_verb verb, const uint8_t *arg, size_t len, struct str *reply);

/*
 * xtext (RFC 3461 §4): decode p[0..n) into out (at most cap bytes) and
 * set *len_r.  -1 on bad syntax or when the result does not fit.  The
 * result may hold any byte (NUL too): check it for its use.
 */
FCT_MUST_CHECK int smtp_xtext_decode(
    const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *len_r);
/* Append the xtext form of p[0..n) to out; -1 past its cap. */
FCT_MUST_CHECK int smtp_xtext_encode(
    const uint8_t *p, size_t n, struct str *out);

#endif
