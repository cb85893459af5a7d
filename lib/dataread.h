/*
 * dataread - turn the raw bytes a client sends after "354" (DATA, RFC
 * 5321 §4.1.1.4 and §4.5.2) or with BDAT (RFC 3030) into the message
 * content to store: CRLF line ends, dot-stuffing undone.
 *
 * The caller does the I/O: it feeds whatever chunks arrive, in order, to
 * dataread_feed(), which hands content to the caller's output function
 * and says how many input bytes it took and whether the end was reached.
 * Bytes after the end belong to the next (pipelined) command and are not
 * taken.  The reader keeps no buffer: its whole state is a few fields, so
 * a chunk may end anywhere, even inside the terminator.
 *
 * Use from smtpd: after "354" (or a BDAT command line), first feed what
 * linebuf already holds (linebuf_peek, then linebuf_skip(used)): content
 * may sit right behind the command.  Then feed socket reads; on
 * DATAREAD_END (or DATAREAD_CHUNK_END) hand the untaken rest of the read
 * back to the command reader (linebuf_push).  Only then reply, with
 * dataread_reply() or the queue's answer.
 *
 * Never: end DATA anywhere but at a real CRLF "." CRLF, cut or split a
 * line, take a byte past the end, store past the size limit, touch a
 * descriptor, or stop reading before the end because of an error.
 *
 * THE RULES (the SMTP smuggling defence; for smtpd and docs/protocols.md)
 *
 * In the raw input a "real CRLF" is a CR immediately followed by LF.  A
 * "bare CR" is a CR not followed by LF (CR CR LF is a bare CR then a real
 * CRLF); a "bare LF" is a LF not preceded by CR.  A "line start" is the
 * very first byte of the data or the byte right after a real CRLF;
 * nothing else starts a line (not a bare CR or bare LF).
 *
 * DATA:
 *   - End of data: "." CR LF at a line start, i.e. the first "\r\n.\r\n"
 *     in the raw input, where the data is taken to begin right after a
 *     "\r\n" (so ".\r\n" as the first line is an empty message).  The
 *     CRLF before the dot is the last line end of the content.  Every
 *     other form ("\n.\r\n", "\r\n.\n", "\n.\n", "\r.\r", "\r\n.\r",
 *     "\r.\r\n", ...) is content, however the chunks are cut: one message
 *     can never be split into two.
 *   - Dot-stuffing: a "." at a line start that is not the end is removed
 *     (RFC 5321 §4.5.2).  A dot after a bare CR or bare LF is not at a
 *     line start and is kept.
 *   - The stored content always ends with CRLF (the one before the dot).
 * BDAT: exactly the announced byte count is taken per chunk; no dot
 *   handling and no end marker.  The message is the concatenation of its
 *   chunks, so a CR ending one chunk and a LF starting the next are one
 *   real CRLF; a CR that ends the LAST chunk is a bare CR.  Nothing is
 *   added: content may end without CRLF (DATAREAD_F_PARTIAL).
 * Bare CR and bare LF (main.cf smtpd_forbid_bare_newline):
 *   - DATAREAD_NORMALIZE (default): each bare CR and each bare LF is
 *     stored as CRLF (so "a\rb" and "a\nb" become "a\r\nb").  The message
 *     is accepted.
 *   - DATAREAD_REJECT: the reader goes on to the real end but stops
 *     storing at the first bare CR or LF (what was stored before it
 *     remains); dataread_reply() then gives "550 5.5.2 Error: bare <CR>
 *     or <LF> received" and the caller discards the message.
 *   Either way DATAREAD_F_BARE_CR / _BARE_LF say what was seen.
 * Everything else passes through untouched: NUL, 8-bit bytes (8BITMIME,
 * SMTPUTF8 and BINARYMIME are the caller's business), lines of any length
 * (never cut or split at 998 octets).
 * Size: dataread_size() counts the content (after unstuffing and
 * normalising) whether stored or not.  With a limit (0: none), content
 * past it is not stored (storage stops exactly at the limit) and
 * DATAREAD_F_TOOBIG is set; the reader still runs to the end, then
 * dataread_reply() gives "552 5.3.4 Message size exceeds fixed limit".
 * An output function that fails stops storing (DATAREAD_F_OUTERR, reply
 * "451 4.3.0 Error: queue file write error"); reading goes on to the end.
 */
#ifndef FACTEUR_DATAREAD_H
#define FACTEUR_DATAREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct dataread;

enum dataread_policy {
	DATAREAD_NORMALIZE = 0, /* smtpd_forbid_bare_newline = normalize */
	DATAREAD_REJECT,        /* smtpd_forbid_bare_newline = reject */
};

enum dataread_result {
	DATAREAD_MORE,      /* all input taken; feed more */
	DATAREAD_CHUNK_END, /* BDAT chunk (not LAST) complete */
	DATAREAD_END,       /* end of data / LAST chunk complete */
};

/* dataread_flags() */
#define DATAREAD_F_BARE_CR 0x01u /* a bare CR was seen */
#define DATAREAD_F_BARE_LF 0x02u /* a bare LF was seen */
#define DATAREAD_F_REJECT  0x04u /* bare CR/LF under DATAREAD_REJECT */
#define DATAREAD_F_TOOBIG  0x08u /* content passed the size limit */
#define DATAREAD_F_OUTERR  0x10u /* the output function failed */
#define DATAREAD_F_PARTIAL 0x20u /* at END: content does not end in CRLF */

/*
 * Output: store p[0..n) (borrowed for the call).  Return 0, or -1 to stop
 * storing (write error).  Never called with n == 0.
 */
typedef int dataread_out_fn(void *ctx, const uint8_t *p, size_t n);

/*
 * New reader.  limit: most content bytes to store (0: no limit).  out and
 * ctx are borrowed for the reader's life.  Caller frees.
 */
struct dataread *dataread_new(enum dataread_policy policy, uint64_t limit,
    dataread_out_fn *out, void *ctx);
void dataread_free(struct dataread **drp);

/* "normalize" or "reject" (main.cf) to a policy; -1 for other text. */
FCT_MUST_CHECK int dataread_policy_parse(
    const char *text, enum dataread_policy *policy_r);

/* Start a new message read with DATA; forgets the previous one. */
void dataread_begin_data(struct dataread *dr);
/* Start a new message read with BDAT chunks; then dataread_bdat_chunk(). */
void dataread_begin_bdat(struct dataread *dr);
/*
 * Announce the next BDAT chunk.  -1 (and nothing changes) when not in
 * BDAT mode, the previous chunk is unfinished, or LAST was already seen.
 * A zero-size chunk is fine: the next dataread_feed() (n may be 0)
 * completes it.
 */
FCT_MUST_CHECK int dataread_bdat_chunk(
    struct dataread *dr, uint64_t size, bool last);

/*
 * Take bytes from p[0..n).  *used_r is how many were taken: all of them
 * on DATAREAD_MORE, up to and including the terminator's LF (DATA) or the
 * chunk's last byte (BDAT) otherwise.  After DATAREAD_END, further calls
 * take nothing and return DATAREAD_END until the next begin.
 */
enum dataread_result dataread_feed(
    struct dataread *dr, const uint8_t *p, size_t n, size_t *used_r);

/* BDAT: bytes still expected in the current chunk (0 in DATA mode). */
uint64_t dataread_bdat_remaining(const struct dataread *dr);
/* Content bytes of this message, stored or not (saturates). */
uint64_t dataread_size(const struct dataread *dr);
/* Content bytes handed to the output function. */
uint64_t dataread_stored(const struct dataread *dr);
unsigned dataread_flags(const struct dataread *dr);
/*
 * NULL when the message may be accepted; else the reply to send once the
 * end is reached (550 5.5.2 bare CR/LF, 552 5.3.4 too big, 451 4.3.0
 * output error, in that order of precedence).  Static text.
 */
const char *dataread_reply(const struct dataread *dr);

#endif
