/*
 * policy - who may send what to whom: relay permission, recipient
 * resolution (lib/resolve), and the free-space check at MAIL.
 *
 * Relaying (RFC 5321 §3.6 leaves it to local policy): only clients in
 * mynetworks (and, later, authenticated clients) may send to domains that
 * are not ours; everyone else gets 554 5.7.1, including every routing
 * trick in our own domains (user%other@ours, other!user@ours,
 * "user@other"@ours, @ours:user@other, user@[literal]).
 *
 * Never: accept a recipient after a failed table lookup (that is 451),
 * or tell an outsider more than "relay access denied" about a trick.
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
	if (c == RESOLVE_TRICK && s->relay_ok)
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
		if (s->relay_ok) {
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
