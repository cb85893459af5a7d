/*
 * recipient - what one requested recipient becomes: mailboxes to deliver
 * to, addresses outside our domains to forward, or a failure.
 *
 * Resolution is lib/resolve's (the same answers smtpd gave at RCPT
 * time), alias expansion resolve_expand() (nesting, loops, limits).  On
 * top of it, two addresses always resolve (RFC 5321 §4.5.1):
 *   - postmaster@<any of our domains> without an alias or a user of its
 *     own falls back to the bare "postmaster" alias (postmaster@
 *     $myhostname, which mailctl init makes); with none at all it is
 *     deferred (4.3.5, "system incorrectly configured") with a warning,
 *     so the mail waits for the administrator instead of bouncing;
 *   - MAILER-DAEMON@<our domain> without an alias or user of its own is
 *     postmaster@<that domain> (Postfix's stock alias).
 *
 * Never: expand without lib/resolve's limits, or turn a failed lookup
 * into "unknown user".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/smtp_cmd.h"
#include "local/local.h"

/* Fallbacks left: postmaster@domain -> postmaster@$myhostname, once. */
#define PM_FALLBACK 1

void
local_targets_clear(struct local_targets *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].addr);
		free(t->v[i].local);
		free(t->v[i].domain);
		free(t->v[i].text);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static struct local_target *
add(struct local_targets *t, enum local_target_kind kind, const char *addr)
{
	struct local_target *x;

	/* The same mailbox or address twice (fallbacks): once is enough. */
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && kind != LOCAL_T_FAIL &&
		    ascii_strcaseeq(t->v[i].addr, addr))
			return NULL;
	t->v = x_realloc(t->v, (t->n + 1) * sizeof(*t->v));
	x = &t->v[t->n++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->addr = x_strdup(addr);
	return x;
}

static FCT_PRINTF(4, 5) void add_fail(struct local_targets *t, const char *addr,
    const char *dsn, const char *fmt, ...)
{
	struct local_target *x = add(t, LOCAL_T_FAIL, addr);
	struct str *text = str_new(DELIVER_TEXT_MAX);
	va_list ap;

	snprintf(x->dsn, sizeof(x->dsn), "%s", dsn);
	va_start(ap, fmt);
	if (str_vappendf(text, fmt, ap) < 0)
		str_notef(text, "(text too long)");
	va_end(ap);
	x->text = str_take(&text);
}

/* A mailbox target for "user@domain" (+tag) with quota. */
static void
add_mailbox(struct local_ctx *ctx, struct local_targets *t, const char *mailbox,
    const char *tag, uint64_t quota)
{
	const char *at = strrchr(mailbox, '@');
	const char *delim = ctx->p->recipient_delimiter;
	struct str *addr = str_new(2 * RESOLVE_PART_MAX + 4);
	struct local_target *x;

	FCT_ASSERT(at != NULL);
	/*
	 * to= and Delivered-To: carry the tag, as Postfix logs them.  The
	 * delimiter written is the first of recipient_delimiter (the one
	 * the sender used is not kept by lib/resolve).
	 */
	if (tag != NULL && tag[0] != '\0' && delim != NULL &&
	    delim[0] != '\0') {
		if (str_append(addr, mailbox, (size_t)(at - mailbox)) < 0 ||
		    str_appendf(addr, "%c%s%s", delim[0], tag, at) < 0)
			str_clear(addr);
	}
	if (str_len(addr) == 0 && str_set(addr, mailbox) < 0) {
		add_fail(t, mailbox, "5.1.3", "address too long");
		str_free(&addr);
		return;
	}
	x = add(t, LOCAL_T_MAILBOX, str_c(addr));
	str_free(&addr);
	if (x == NULL)
		return;
	x->local = x_strndup(mailbox, (size_t)(at - mailbox));
	x->domain = x_strdup(at + 1);
	x->quota = quota;
}

/*
 * RFC 5321 §4.1.2: a local part that is not a dot-string is written as
 * a quoted-string.  The forward address goes into a new queue file as
 * text, so quote it the way smtpd writes addresses.
 */
static void
add_forward(struct local_targets *t, const char *mailbox)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char *at = strrchr(mailbox, '@');
	size_t llen = at ? (size_t)(at - mailbox) : strlen(mailbox);
	struct str *q = str_new(2 * SMTP_ADDR_TEXT_MAX);
	bool plain = llen > 0 && mailbox[0] != '.' && mailbox[llen - 1] != '.';

	for (size_t i = 0; plain && i < llen; i++) {
		unsigned char c = (unsigned char)mailbox[i];
		plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c >= 0x80 ||
		        strchr(atext, c) != NULL ||
		        (c == '.' && mailbox[i + 1] != '.');
	}
	if (plain) {
		add(t, LOCAL_T_FORWARD, mailbox);
		str_free(&q);
		return;
	}
	int rc = str_appendc(q, '"');
	for (size_t i = 0; i < llen; i++) {
		if (mailbox[i] == '"' || mailbox[i] == '\\')
			rc |= str_appendc(q, '\\');
		rc |= str_appendc(q, mailbox[i]);
	}
	rc |= str_appendf(q, "\"%s", at ? at : "");
	if (rc == 0)
		add(t, LOCAL_T_FORWARD, str_c(q));
	else
		add_fail(t, mailbox, "5.1.3", "address too long");
	str_free(&q);
}

static void from_result(struct local_ctx *ctx, const struct resolve_result *res,
    int fallback, struct local_targets *t);

/* Resolve local@domain and add what it gives. */
static void
resolve_add(struct local_ctx *ctx, const char *local, const char *domain,
    unsigned flags, int fallback, struct local_targets *t, const char *shown)
{
	struct resolve_result res = {0};
	struct str *why = str_new(1024);

	if (resolve_rcpt(ctx->resolver, local, domain, flags, &res, why) ==
	    RESOLVE_TEMP)
		add_fail(t, shown, "4.3.0", "recipient lookup failed: %s",
		    str_c(why));
	else
		from_result(ctx, &res, fallback, t);
	resolve_result_clear(&res);
	str_free(&why);
}

/* Postmaster without alias or user of its own (see the top). */
static void
postmaster(struct local_ctx *ctx, const struct resolve_result *res,
    int fallback, struct local_targets *t)
{
	struct users_entry u;
	struct str *why = str_new(1024);
	enum map_result mr = MAP_NOTFOUND;

	/* A disabled postmaster user still gets the postmaster's mail. */
	if (ctx->users != NULL)
		mr = users_lookup(
		    ctx->users, res->mailbox, strlen(res->mailbox), &u, why);
	if (mr == MAP_FOUND)
		add_mailbox(ctx, t, res->mailbox, res->tag, u.quota);
	else if (mr == MAP_TEMP)
		add_fail(t, res->mailbox, "4.3.0",
		    "recipient lookup failed: %s", str_c(why));
	else if (fallback > 0 && ctx->p->myhostname != NULL &&
	         !ascii_strcaseeq(res->domain, ctx->p->myhostname))
		resolve_add(ctx, "postmaster", ctx->p->myhostname, 0,
		    fallback - 1, t, res->mailbox);
	else {
		log_warn("no postmaster alias or mailbox for %s: add "
		         "\"postmaster: someone\" to the aliases",
		    res->mailbox);
		add_fail(t, res->mailbox, "4.3.5",
		    "no postmaster alias or mailbox here yet");
	}
	str_free(&why);
}

/* Expand an alias into t. */
static void
alias(struct local_ctx *ctx, const struct resolve_result *res, int fallback,
    struct local_targets *t)
{
	struct resolve_expansion x = {0};
	struct str *why = str_new(1024);

	t->via_alias = true;
	switch (resolve_expand(ctx->resolver, res, &x, why)) {
	case STATUS_OK:
		for (size_t i = 0; i < x.n; i++)
			from_result(ctx, &x.v[i], fallback, t);
		break;
	case STATUS_TEMP:
		add_fail(t, res->mailbox, "4.3.0", "alias expansion failed: %s",
		    str_c(why));
		break;
	case STATUS_PERM:
		/* Postfix: nesting too deep is a "mail forwarding loop". */
		add_fail(t, res->mailbox,
		    strstr(str_c(why), "deeper") != NULL ? "5.4.6" : "5.3.5",
		    "alias expansion failed: %s", str_c(why));
		break;
	}
	resolve_expansion_clear(&x);
	str_free(&why);
}

static void
from_result(struct local_ctx *ctx, const struct resolve_result *res,
    int fallback, struct local_targets *t)
{
	enum resolve_class c = res->class;
	const char *shown = res->mailbox ? res->mailbox : "(invalid)";

	/*
	 * A routing trick reached us from a client allowed to relay (smtpd
	 * refused it to everyone else) or from an alias: use what it is
	 * without the trick rule, as lib/resolve.h says.
	 */
	if (c == RESOLVE_TRICK)
		c = res->plain;
	switch (c) {
	case RESOLVE_TEMP:
		add_fail(t, shown, "4.3.0", "recipient lookup failed");
		break;
	case RESOLVE_INVALID:
	case RESOLVE_TRICK:
		add_fail(t, shown, "5.1.3", "bad address syntax");
		break;
	case RESOLVE_REMOTE:
		if (res->domain != NULL && res->domain[0] == '[') {
			add_fail(t, shown, "5.1.2",
			    "address literals are not forwarded");
			break;
		}
		add_forward(t, res->mailbox);
		break;
	case RESOLVE_UNKNOWN:
		if (strncmp(res->mailbox, "mailer-daemon@", 14) == 0) {
			resolve_add(ctx, "postmaster", res->domain, 0, fallback,
			    t, res->mailbox);
			break;
		}
		add_fail(t, shown, "5.1.1", "unknown user: \"%s\"", shown);
		break;
	case RESOLVE_DISABLED:
		add_fail(t, shown, "5.2.1", "mailbox disabled");
		break;
	case RESOLVE_USER:
		add_mailbox(ctx, t, res->mailbox, res->tag, res->user.quota);
		break;
	case RESOLVE_POSTMASTER:
		postmaster(ctx, res, fallback, t);
		break;
	case RESOLVE_ALIAS:
		alias(ctx, res, fallback, t);
		break;
	}
}

void
local_rcpt_expand(
    struct local_ctx *ctx, const char *addr, struct local_targets *t)
{
	struct smtp_addr *a = x_calloc(1, sizeof(*a));

	memset(t, 0, sizeof(*t));
	if (smtp_path_parse((const uint8_t *)addr, strlen(addr),
	        SMTP_PATH_POSTMASTER_OK, a) != SMTP_PATH_OK ||
	    (a->flags & SMTP_ADDR_NULL))
		add_fail(t, addr, "5.1.3", "bad address syntax");
	else {
		struct resolve_result res = {0};
		struct str *why = str_new(1024);
		enum resolve_class c =
		    resolve_rcpt(ctx->resolver, a->local, a->domain,
		        (a->flags & SMTP_ADDR_ROUTE) ? RESOLVE_SOURCE_ROUTE : 0,
		        &res, why);
		if (c == RESOLVE_TEMP)
			add_fail(t, addr, "4.3.0",
			    "recipient lookup failed: %s", str_c(why));
		else if (res.plain == RESOLVE_REMOTE && res.domain != NULL &&
		         res.domain[0] != '[')
			/*
			 * qmgr sent us a domain that is not ours: it and we
			 * disagree (a configuration change not yet seen by
			 * both).  Forwarding it back could loop; wait.
			 */
			add_fail(t, addr, "4.3.5", "not a local domain here");
		else
			from_result(ctx, &res, PM_FALLBACK, t);
		resolve_result_clear(&res);
		str_free(&why);
	}
	free(a);
}

bool
local_addr_may_alias(struct local_ctx *ctx, const char *addr)
{
	struct smtp_addr *a = x_calloc(1, sizeof(*a));
	struct resolve_result res = {0};
	struct str *why = str_new(1024);
	bool may = true;

	if (smtp_path_parse((const uint8_t *)addr, strlen(addr),
	        SMTP_PATH_POSTMASTER_OK, a) == SMTP_PATH_OK &&
	    !(a->flags & SMTP_ADDR_NULL)) {
		enum resolve_class c = resolve_rcpt(
		    ctx->resolver, a->local, a->domain, 0, &res, why);
		if (c == RESOLVE_TRICK)
			c = res.plain;
		may = c == RESOLVE_ALIAS || c == RESOLVE_TEMP;
	}
	resolve_result_clear(&res);
	str_free(&why);
	free(a);
	return may;
}

void
local_target_fail(struct local_target *x, const char *dsn, const char *text)
{
	x->kind = LOCAL_T_FAIL;
	x->linked = false;
	snprintf(x->dsn, sizeof(x->dsn), "%s", dsn);
	free(x->text);
	x->text = x_strndup(text, DELIVER_TEXT_MAX);
}
