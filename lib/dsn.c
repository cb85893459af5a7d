/*
 * dsn - RFC 3464 delivery status notifications (see dsn.h).
 *
 * Never: emit a bare LF (every line ends in CRLF), a header line longer
 * than RFC 5322's 998 octets, or a control byte taken from an agent.
 */
#include "lib/dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK     65536 /* content read and output flush size */
#define FOLD_AT   76    /* fold header fields near this column */
#define WORD_MAX  900   /* a longer word is cut to keep lines < 998 */
#define TRIES_MAX 16    /* boundaries tried before giving up */

struct out {
	struct str *buf;
	dsn_sink_fn *sink;
	void *ctx;
	struct str *why;
	enum status st;
};

static void
flush(struct out *o)
{
	if (o->st == STATUS_OK && str_len(o->buf) > 0)
		o->st = o->sink(o->ctx, str_data(o->buf), str_len(o->buf),
		    o->why);
	str_clear(o->buf);
}

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->st != STATUS_OK)
		return;
	if (str_len(o->buf) + n > CHUNK)
		flush(o);
	if (n > CHUNK) {
		if (o->st == STATUS_OK)
			o->st = o->sink(o->ctx, p, n, o->why);
		return;
	}
	if (str_append(o->buf, p, n) < 0)
		FCT_ASSERT(0); /* cap is 2 * CHUNK, flushed above */
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static FCT_PRINTF(2, 3) void
putf(struct out *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	FCT_ASSERT(n >= 0 && (size_t)n < sizeof(line)); /* short fields */
	put(o, line, (size_t)n);
}

/* A copy of agent text that is safe in one header line: no controls. */
static char *
clean(const char *s)
{
	char *c = x_strdup(s ? s : "");

	for (char *p = c; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return c;
}

static bool
has_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/*
 * text's words after what is already on the line (col columns), folded
 * before FOLD_AT: a fold writes brk and goes on at brk_col.  No fold
 * while the line is shorter than min_col (the first word always fits).
 */
static void
put_words(struct out *o, const char *text, size_t col, size_t min_col,
    const char *brk, size_t brk_col)
{
	char *t = clean(text);
	const char *p = t;

	while (*p == ' ')
		p++;
	while (*p != '\0') {
		size_t w = strcspn(p, " ");
		if (w > WORD_MAX)
			w = WORD_MAX;
		if (col > min_col && col + 1 + w > FOLD_AT) {
			puts_(o, brk);
			col = brk_col;
		}
		puts_(o, " ");
		put(o, p, w);
		col += 1 + w;
		p += w;
		while (*p == ' ')
			p++;
	}
	puts_(o, "\r\n");
	free(t);
}

/*
 * Write "name: text" folded at spaces near FOLD_AT columns; a word
 * longer than WORD_MAX is cut.  Continuation lines start with a space
 * (RFC 5322 §2.2.3: folding is CRLF before whitespace).
 */
static void
put_field(struct out *o, const char *name, const char *text)
{
	puts_(o, name);
	puts_(o, ":");
	put_words(o, text, strlen(name) + 1, 1, "\r\n", 0);
}

/* Plain-text paragraph line: wrapped like a field, indented after. */
static void
put_wrapped(struct out *o, const char *lead, const char *text)
{
	puts_(o, lead);
	put_words(o, text, strlen(lead), 4, "\r\n   ", 3);
}

static void
rfc5322_date(uint64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 +0000");
}

const char *
dsn_subject(const struct dsn_report *r)
{
	switch (r->action) {
	case DSN_ACTION_DELAYED:
		return "Delayed Mail (still being retried)";
	case DSN_ACTION_DELIVERED:
		return "Successful Mail Delivery Report";
	case DSN_ACTION_FAILED:
		break;
	}
	return r->postmaster_copy ? "Postmaster Copy: Undelivered Mail"
				  : "Undelivered Mail Returned to Sender";
}

static const char *
action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_DELAYED:
		return "delayed";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_FAILED:
		break;
	}
	return "failed";
}

/*
 * Where the headers of the content end: the length through the CRLF of
 * the last header line (the empty line is not included).  Reads the
 * content in chunks; no blank line means it is all headers.
 */
static enum status
headers_len(queue_pread_fn *rd, void *rdctx, const struct queue_env *env,
    uint8_t *buf, uint64_t *len_r, struct str *why)
{
	uint64_t pos = 0;
	unsigned state = 2; /* bytes of "\r\n" just seen: start counts */

	for (;;) {
		size_t n;
		enum status st = queue_content_read(rd, rdctx, env, pos, buf,
		    CHUNK, &n, why);
		if (st != STATUS_OK)
			return st;
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			uint8_t c = buf[i];
			/* state: 0 mid-line, 1 after CR, 2 at line start,
			   3 CR at a line start */
			if (state == 2 && c == '\r')
				state = 3;
			else if (state == 3 && c == '\n') {
				*len_r = pos + i - 1;
				return STATUS_OK;
			} else if (c == '\r')
				state = 1;
			else if (state == 1 && c == '\n')
				state = 2;
			else
				state = 0;
		}
		pos += n;
	}
	*len_r = env->content_len;
	return STATUS_OK;
}

/*
 * Does "--" boundary occur in content[0..len)?  Chunks overlap by the
 * pattern length so that no occurrence is cut in two.  Also reports
 * 8-bit bytes.
 */
static enum status
scan_content(queue_pread_fn *rd, void *rdctx, const struct queue_env *env,
    uint64_t len, const char *pat, uint8_t *buf, bool *found_r,
    bool *eight_r, struct str *why)
{
	size_t plen = strlen(pat), keep = 0;
	uint64_t pos = 0;

	*found_r = false;
	while (pos < len) {
		size_t n, want = CHUNK - keep;
		if (want > len - pos)
			want = (size_t)(len - pos);
		enum status st = queue_content_read(rd, rdctx, env, pos,
		    buf + keep, want, &n, why);
		if (st != STATUS_OK)
			return st;
		if (n == 0)
			break;
		for (size_t i = keep; i < keep + n; i++)
			if (buf[i] >= 0x80)
				*eight_r = true;
		n += keep;
		if (n >= plen && memmem(buf, n, pat, plen) != NULL) {
			*found_r = true;
			return STATUS_OK;
		}
		pos += n - keep;
		keep = plen > 1 && n >= plen - 1 ? plen - 1 : 0;
		memmove(buf, buf + n - keep, keep);
	}
	return STATUS_OK;
}

/* Copy content[0..len) to the output. */
static void
copy_content(struct out *o, queue_pread_fn *rd, void *rdctx,
    const struct queue_env *env, uint64_t len, uint8_t *buf)
{
	uint64_t pos = 0;

	while (o->st == STATUS_OK && pos < len) {
		size_t n, want = CHUNK;
		if (want > len - pos)
			want = (size_t)(len - pos);
		o->st = queue_content_read(rd, rdctx, env, pos, buf, want, &n,
		    o->why);
		if (o->st != STATUS_OK || n == 0)
			break;
		put(o, buf, n);
		pos += n;
	}
}

static void
put_text(struct out *o, const struct dsn_report *r)
{
	puts_(o, "This is the mail system at host ");
	puts_(o, r->reporting_mta);
	puts_(o, ".\r\n\r\n");
	switch (r->action) {
	case DSN_ACTION_DELAYED:
		puts_(o, "This is a warning only: you do not need to send your "
			 "message again.\r\n\r\n"
			 "Your message could not be delivered yet to the "
			 "recipients below.\r\n"
			 "The mail system keeps trying and will tell you if it "
			 "gives up.\r\n");
		break;
	case DSN_ACTION_DELIVERED:
		puts_(o, "Your message was delivered to the recipients below, "
			 "as you asked.\r\n");
		break;
	case DSN_ACTION_FAILED:
		if (r->postmaster_copy)
			puts_(o, "A delivery status notification (or other "
				 "mail with the null sender)\r\n"
				 "could not be delivered. It is attached "
				 "below.\r\n");
		else
			puts_(o, "Your message could not be delivered to one "
				 "or more recipients.\r\n"
				 "It is attached below, with the reason for "
				 "each failure.\r\n\r\n"
				 "For further help, write to your postmaster "
				 "and include this report.\r\n");
		break;
	}
	puts_(o, "\r\n                   The mail system\r\n\r\n");
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		char *lead = x_malloc(strlen(rc->addr) + 4);
		snprintf(lead, strlen(rc->addr) + 4, "<%s>:", rc->addr);
		put_wrapped(o, lead, rc->diag && *rc->diag ? rc->diag
		    : action_name(r->action));
		free(lead);
	}
}

/* "type; address": an ORCPT as queued already carries its type. */
static void
put_addr_field(struct out *o, const char *name, const char *addr)
{
	const char *semi = strchr(addr, ';');
	struct str *v = str_new(4096);

	if (semi != NULL && semi != addr &&
	    strspn(addr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-") == (size_t)(semi - addr))
		str_notef(v, "%.*s; %s", (int)(semi - addr), addr, semi + 1);
	else
		str_notef(v, "%s; %s", has_8bit(addr) ? "utf-8" : "rfc822",
		    addr);
	put_field(o, name, str_c(v));
	str_free(&v);
}

/* Diagnostic-Code: "smtp; 550 ..." for an SMTP reply, else x-unix. */
static void
put_diag(struct out *o, const char *diag)
{
	struct str *v = str_new(2048);

	if (diag[0] >= '2' && diag[0] <= '5' && diag[1] >= '0' &&
	    diag[1] <= '9' && diag[2] >= '0' && diag[2] <= '9' &&
	    (diag[3] == ' ' || diag[3] == '-'))
		str_notef(v, "smtp; %s", diag);
	else
		str_notef(v, "x-unix; %s", diag);
	put_field(o, "Diagnostic-Code", str_c(v));
	str_free(&v);
}

static void
put_status(struct out *o, const struct dsn_report *r)
{
	char date[64];

	putf(o, "Reporting-MTA: dns; %.200s\r\n", r->reporting_mta);
	putf(o, "X-Facteur-Queue-ID: %s\r\n", r->queue_id);
	put_addr_field(o, "X-Facteur-Sender", r->sender);
	rfc5322_date(r->arrival_us, date, sizeof(date));
	putf(o, "Arrival-Date: %s\r\n", date);
	if (r->envid != NULL && *r->envid != '\0')
		put_field(o, "Original-Envelope-Id", r->envid);
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		puts_(o, "\r\n");
		put_addr_field(o, "Final-Recipient", rc->addr);
		if (rc->orig != NULL && *rc->orig != '\0' &&
		    strcmp(rc->orig, rc->addr) != 0)
			put_addr_field(o, "Original-Recipient", rc->orig);
		putf(o, "Action: %s\r\n", action_name(r->action));
		put_field(o, "Status", rc->status);
		if (rc->remote_mta != NULL && *rc->remote_mta != '\0') {
			struct str *v = str_new(1024);
			str_notef(v, "dns; %s", rc->remote_mta);
			put_field(o, "Remote-MTA", str_c(v));
			str_free(&v);
		}
		if (rc->diag != NULL && *rc->diag != '\0')
			put_diag(o, rc->diag);
		if (r->action == DSN_ACTION_DELAYED && r->retry_until_us) {
			rfc5322_date(r->retry_until_us, date, sizeof(date));
			putf(o, "Will-Retry-Until: %s\r\n", date);
		}
	}
}

static bool
report_8bit(const struct dsn_report *r)
{
	if (has_8bit(r->sender) || has_8bit(r->to) || has_8bit(r->envid))
		return true;
	for (size_t i = 0; i < r->nrcpts; i++)
		if (has_8bit(r->rcpts[i].addr) || has_8bit(r->rcpts[i].orig) ||
		    has_8bit(r->rcpts[i].diag))
			return true;
	return false;
}

enum status
dsn_compose(const struct dsn_report *r, queue_pread_fn *rd, void *rdctx,
    const struct queue_env *env, dsn_sink_fn *sink, void *ctx,
    struct str *why)
{
	struct out o = { .sink = sink, .ctx = ctx, .why = why };
	uint8_t *buf = x_malloc(CHUNK);
	uint64_t part_len = env->content_len;
	char boundary[256], pat[260], date[64];
	bool found = true, eight = false;
	enum status st;

	if (!r->return_full) {
		st = headers_len(rd, rdctx, env, buf, &part_len, why);
		if (st != STATUS_OK)
			goto out;
	}
	for (unsigned try = 0; found && try < TRIES_MAX; try++) {
		snprintf(boundary, sizeof(boundary), "%s.%llu.%u/%.200s",
		    r->queue_id, (unsigned long long)r->now_us, try,
		    r->reporting_mta);
		snprintf(pat, sizeof(pat), "--%s", boundary);
		st = scan_content(rd, rdctx, env, part_len, pat, buf, &found,
		    &eight, why);
		if (st != STATUS_OK)
			goto out;
	}
	if (found) {
		str_notef(why, "no MIME boundary avoids the content");
		st = STATUS_PERM;
		goto out;
	}
	eight = eight || report_8bit(r);

	o.buf = str_new(2 * CHUNK);
	rfc5322_date(r->now_us, date, sizeof(date));
	putf(&o, "Date: %s\r\n", date);
	putf(&o, "From: MAILER-DAEMON@%.200s (Mail Delivery System)\r\n",
	    r->reporting_mta);
	putf(&o, "Subject: %s\r\n", dsn_subject(r));
	{
		struct str *v = str_new(2048);
		str_notef(v, "<%s>", r->to);
		put_field(&o, "To", str_c(v));
		str_free(&v);
	}
	puts_(&o, "Auto-Submitted: auto-replied\r\n");
	putf(&o, "Message-Id: <%s.%llu@%.200s>\r\n", r->queue_id,
	    (unsigned long long)r->now_us, r->reporting_mta);
	puts_(&o, "MIME-Version: 1.0\r\n");
	puts_(&o, "Content-Type: multipart/report; report-type=delivery-status;"
		  "\r\n");
	putf(&o, "\tboundary=\"%s\"\r\n", boundary);
	if (eight)
		puts_(&o, "Content-Transfer-Encoding: 8bit\r\n");
	puts_(&o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	putf(&o, "--%s\r\n", boundary);
	putf(&o, "Content-Description: Notification\r\n"
		 "Content-Type: text/plain; charset=%s\r\n\r\n",
	    report_8bit(r) ? "utf-8" : "us-ascii");
	put_text(&o, r);
	putf(&o, "\r\n--%s\r\n", boundary);
	puts_(&o, "Content-Description: Delivery report\r\n"
		  "Content-Type: message/delivery-status\r\n\r\n");
	put_status(&o, r);
	putf(&o, "\r\n--%s\r\n", boundary);
	if (r->return_full)
		puts_(&o, "Content-Description: Undelivered Message\r\n"
			  "Content-Type: message/rfc822\r\n");
	else
		puts_(&o, "Content-Description: Message Headers\r\n"
			  "Content-Type: text/rfc822-headers\r\n");
	if (eight)
		puts_(&o, "Content-Transfer-Encoding: 8bit\r\n");
	puts_(&o, "\r\n");
	copy_content(&o, rd, rdctx, env, part_len, buf);
	putf(&o, "\r\n--%s--\r\n", boundary);
	flush(&o);
	st = o.st;
out:
	str_free(&o.buf);
	free(buf);
	return st;
}
