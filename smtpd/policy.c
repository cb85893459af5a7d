/*
 * policy - who may send what to whom: relay permission, recipient
 * resolution (lib/resolve), the sender a login may use, and the
 * free-space check at MAIL.
 *
 * Relaying (RFC 5321 §3.6 leaves it to local policy): only clients in
 * mynetworks and authenticated clients may send to domains that are not
 * ours; everyone else gets 554 5.7.1, including every routing trick in
 * our own domains (user%other@ours, other!user@ours, "user@other"@ours,
 * @ours:user@other, user@[literal]).
 *
 * Sender logins (smtpd_sender_login_maps, docs/configuration.md): an
 * authenticated client may use a MAIL FROM address only when a table
 * lists its login for that address (key: the address, then "@domain";
 * value: logins), or, with the built-in "mailboxes:" item, when the
 * address is delivered to the login's own mailbox: the login itself
 * (with any +tag) and every alias that expands to it.  Else 553 5.7.1
 * (Postfix's reject_sender_login_mismatch).  <> is always allowed.
 *
 * Never: accept a recipient or a sender after a failed table lookup
 * (that is 451), or tell an outsider more than "relay access denied"
 * about a trick.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lib/log.h"
#include "lib/resolve.h"
#include "smtpd/smtpd.h"

int
policy_rcpt(struct smtpd_session *s, const struct smtp_rcpt *r,
    struct str *reply)
{
	const struct smtp_addr *a = &r->addr;
	struct resolve_result res = { 0 };
	struct str *why = str_new(256);
	unsigned flags = (a->flags & SMTP_ADDR_ROUTE) ? RESOLVE_SOURCE_ROUTE
						      : 0;
	struct log_esc e;
	const char *text = log_escape_str(&e, a->text);
	enum resolve_class c;
	int rc = -1;

	c = resolve_rcpt(s->ctx->resolver, a->local,
	    (a->flags & SMTP_ADDR_POSTMASTER) ? NULL : a->domain, flags, &res,
	    why);
	/* A trailing dot is never forgiven: the domain is not ours. */
	if ((a->flags & SMTP_ADDR_TRAILING_DOT) && c != RESOLVE_TEMP)
		c = res.plain = RESOLVE_REMOTE;
	if (c == RESOLVE_TRICK && smtpd_may_relay(s))
		c = res.plain;
	switch (c) {
	case RESOLVE_TEMP:
		log_warn("%s: recipient lookup: %s", text, str_c(why));
		str_notef(reply, "451 4.3.0 <%s>: Temporary lookup failure",
		    text);
		break;
	case RESOLVE_INVALID:
		str_notef(reply, "501 5.1.3 <%s>: Bad recipient address syntax",
		    text);
		break;
	case RESOLVE_TRICK:
		str_notef(reply, "554 5.7.1 <%s>: Relay access denied", text);
		break;
	case RESOLVE_REMOTE:
		if (smtpd_may_relay(s)) {
			rc = 0;
			break;
		}
		str_notef(reply, "554 5.7.1 <%s>: Relay access denied", text);
		break;
	case RESOLVE_UNKNOWN:
		str_notef(reply,
		    "550 5.1.1 <%s>: Recipient address rejected: User unknown "
		    "in virtual mailbox table", text);
		break;
	case RESOLVE_DISABLED:
		str_notef(reply,
		    "550 5.2.1 <%s>: Recipient address rejected: mailbox "
		    "disabled", text);
		break;
	case RESOLVE_ALIAS:
	case RESOLVE_USER:
	case RESOLVE_POSTMASTER:
		rc = 0;
		break;
	}
	resolve_result_clear(&res);
	str_free(&why);
	return rc;
}

void
policy_vrfy(struct smtpd_session *s, const struct smtp_addr *a,
    struct str *reply)
{
	struct smtp_rcpt r = { .addr = *a };

	if (policy_rcpt(s, &r, reply) == 0) {
		struct log_esc e;
		str_clear(reply);
		str_notef(reply, "250 2.0.0 <%s>",
		    log_escape_str(&e, a->text));
	}
}

int
policy_disk_room(struct smtpd_session *s, uint64_t size)
{
	const struct params *p = s->ctx->p;
	struct statvfs st;
	uint64_t need, avail;

	if (fstatvfs(queue_folder_fd(s->ctx->queue, QUEUE_TMP), &st) < 0) {
		log_warn("statvfs queue: %m");
		return 0; /* cannot tell: the write itself will say */
	}
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	/*
	 * As Postfix: keep room for 1.5 maximal messages, or queue_minfree
	 * if larger, plus the announced SIZE.
	 */
	need = p->message_size_limit + p->message_size_limit / 2;
	if (p->queue_minfree > need)
		need = p->queue_minfree;
	if (size > UINT64_MAX - need)
		return -1;
	need += size;
	if (avail < need) {
		log_warn("not enough free space in the queue file system: "
			 "%llu bytes free, %llu wanted",
		    (unsigned long long)avail, (unsigned long long)need);
		return -1;
	}
	return 0;
}

bool
smtpd_may_relay(const struct smtpd_session *s)
{
	return s->relay_ok || s->sasl_username != NULL;
}

/* login is one of the items of the list value. */
static bool
login_listed(const char *value, const char *login)
{
	const char *cur = value, *item;
	size_t len;

	while (list_next(&cur, &item, &len))
		if (len == strlen(login) && ascii_memcaseeq(item, login, len))
			return true;
	return false;
}

/* The explicit tables: MAP_FOUND when one lists login for a. */
static enum map_result
sender_in_maps(struct smtpd_session *s, const struct smtp_addr *a,
    const char *login, struct str *why)
{
	struct str *key = str_new(SMTP_ADDR_TEXT_MAX + 2);
	struct str *value = str_new(MAP_VALUE_MAX);
	enum map_result r = MAP_NOTFOUND;

	/* The whole address, then the domain as "@domain" (Postfix). */
	for (int i = 0; i < 2 && r == MAP_NOTFOUND; i++) {
		str_clear(key);
		if (i == 0 ? str_appends(key, a->text) < 0
			   : str_appendf(key, "@%s", a->domain) < 0)
			continue;
		r = map_list_lookup(s->ctx->sender_logins, str_c(key),
		    str_len(key), value, why);
		if (r == MAP_FOUND && !login_listed(str_c(value), login))
			r = MAP_NOTFOUND;
	}
	str_free(&key);
	str_free(&value);
	return r;
}

/* "mailboxes:": MAP_FOUND when a is delivered to login's mailbox. */
static enum map_result
sender_is_mailbox(struct smtpd_session *s, const struct smtp_addr *a,
    const char *login, struct str *why)
{
	struct resolve_result res = { 0 };
	struct resolve_expansion x = { 0 };
	enum map_result r = MAP_NOTFOUND;

	unsigned flags = (a->flags & SMTP_ADDR_ROUTE) ? RESOLVE_SOURCE_ROUTE
						      : 0;

	/* A routing trick (RESOLVE_TRICK) is nobody's mailbox. */
	switch (resolve_rcpt(s->ctx->resolver, a->local, a->domain, flags,
	    &res, why)) {
	case RESOLVE_TEMP:
		r = MAP_TEMP;
		break;
	case RESOLVE_USER:
	case RESOLVE_DISABLED:
		if (ascii_strcaseeq(res.mailbox, login))
			r = MAP_FOUND;
		break;
	case RESOLVE_ALIAS:
		switch (resolve_expand(s->ctx->resolver, &res, &x, why)) {
		case STATUS_OK:
			break;
		case STATUS_TEMP:
			r = MAP_TEMP;
			break;
		case STATUS_PERM:
			/* A broken alias owns nobody; local bounces it. */
			break;
		}
		for (size_t i = 0; i < x.n && r == MAP_NOTFOUND; i++)
			if (x.v[i].class == RESOLVE_USER &&
			    ascii_strcaseeq(x.v[i].mailbox, login))
				r = MAP_FOUND;
		resolve_expansion_clear(&x);
		break;
	default:
		break;
	}
	resolve_result_clear(&res);
	return r;
}

int
policy_sender_login(struct smtpd_session *s, const struct smtp_addr *a,
    struct str *reply)
{
	const char *login = s->sasl_username;
	struct str *why = str_new(256);
	enum map_result r = MAP_NOTFOUND;
	struct log_esc e, e2;
	const char *text = log_escape_str(&e, a->text);

	if (!s->ctx->sender_login_check || (a->flags & SMTP_ADDR_NULL)) {
		str_free(&why);
		return 0;
	}
	if (s->ctx->sender_logins != NULL)
		r = sender_in_maps(s, a, login, why);
	if (r == MAP_NOTFOUND && s->ctx->sender_login_mailboxes)
		r = sender_is_mailbox(s, a, login, why);
	switch (r) {
	case MAP_FOUND:
		break;
	case MAP_TEMP:
		log_warn("%s: sender login lookup: %s", text, str_c(why));
		str_notef(reply, "451 4.3.0 <%s>: Sender address rejected: "
				 "Temporary lookup failure", text);
		break;
	case MAP_NOTFOUND:
		str_notef(reply, "553 5.7.1 <%s>: Sender address rejected: not "
				 "owned by user %s", text,
		    log_escape_str(&e2, login));
		break;
	}
	str_free(&why);
	return r == MAP_FOUND ? 0 : -1;
}
