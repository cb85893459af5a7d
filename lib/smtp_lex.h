/*
 * smtp_lex - the bounded writer, character classes and reply helpers
 * shared by lib/smtp_cmd.c and lib/smtp_path.c.  Private to those two.
 *
 * Never: include this outside lib/smtp_*.c.
 */
#ifndef FACTEUR_SMTP_LEX_H
#define FACTEUR_SMTP_LEX_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/smtp_cmd.h"
#include "lib/utf8.h"

/* Bounded writer into a char array of cap + 1 bytes (always terminated). */
struct bw {
	char *p;
	size_t len, cap;
	bool over;
};

static inline void
bw_init(struct bw *b, char *p, size_t cap)
{
	b->p = p;
	b->len = 0;
	b->cap = cap;
	b->over = false;
	p[0] = '\0';
}

static inline void
bw_put(struct bw *b, const void *s, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void
bw_putc(struct bw *b, uint8_t c)
{
	bw_put(b, &c, 1);
}

/* Character classes (RFC 5321 §4.1.2, RFC 5322 §3.2.3). */
static inline bool
is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_atext(uint8_t c)
{
	return is_alpha(c) || is_digit(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static inline bool
is_print(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Length of the well-formed UTF-8 sequence at p[0..n), or 0. */
static inline size_t
utf8_len(const uint8_t *p, size_t n)
{
	return utf8_seq_len(p, n);
}

/* Replies. */
static inline int
reply_set(struct str *reply, const char *text)
{
	if (reply != NULL) {
		str_clear(reply);
		str_notef(reply, "%s", text);
	}
	return -1;
}

/* Client bytes for a reply: printable ASCII, others '?', cut. */
static inline void
echo_append(struct str *reply, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < SMTP_ECHO_MAX; i++)
		if (str_appendc(reply, is_print(p[i]) ? (char)p[i] : '?') < 0)
			return;
	if (i < n)
		str_notef(reply, "...");
}

static inline int
reply_echo(struct str *reply, const char *text, const uint8_t *p, size_t n)
{
	if (reply != NULL) {
		reply_set(reply, text);
		echo_append(reply, p, n);
	}
	return -1;
}

#endif
