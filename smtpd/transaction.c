/*
 * transaction - one mail transaction's queue file: created when DATA (or
 * the first BDAT) starts, fed by lib/dataread, committed at the end.
 *
 * DESIGN §2 rule 1: "250 ... queued as ID" is sent only after
 * queue_file_commit() has made the file and its incoming/ entry durable.
 * A full disk (ENOSPC, EDQUOT) is 452 4.3.1, any other write problem
 * 451 4.3.0; the rest of the message is still read so that it is never
 * taken for commands.
 *
 * Never: acknowledge a message that is not on disk, or leave a partial
 * file anywhere but tmp/ (queue_file_free removes it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/sock.h"
#include "smtpd/smtpd.h"

void
txn_reset(struct smtpd_session *s)
{
	free(s->sender);
	s->sender = NULL;
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = s->arcpts = 0;
	queue_file_free(&s->qf);
	dataread_free(&s->dr);
	memset(&s->mail, 0, sizeof(s->mail));
	s->bdat_left = s->bdat_chunk = 0;
	s->bdat_last = s->bdat_used = false;
	s->txn_failed = false;
	s->txn_status = STATUS_OK;
	s->txn_errno = 0;
	if (s->txn_why != NULL)
		str_clear(s->txn_why);
}

static void
txn_fail(struct smtpd_session *s, enum status st)
{
	if (s->txn_failed)
		return;
	s->txn_errno = errno;
	s->txn_failed = true;
	s->txn_status = st;
	log_warn("%s", str_c(s->txn_why));
}

static int
store(void *ctx, const uint8_t *p, size_t n)
{
	struct smtpd_session *s = ctx;
	enum status st;

	if (s->txn_failed)
		return -1;
	st = queue_file_content(s->qf, p, n, s->txn_why);
	if (st != STATUS_OK) {
		txn_fail(s, st);
		return -1;
	}
	return 0;
}

const char *
smtpd_protocol(const struct smtpd_session *s)
{
	/* RFC 3848: "S" after TLS, "A" after AUTH, both as "SA". */
	static const char *const esmtp[2][2] = {
		{ "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } };
	static const char *const utf8[2][2] = {
		{ "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } };
	bool tls = conn_tls_active(s->conn);
	bool auth = s->sasl_username != NULL;

	if (!s->esmtp)
		return "SMTP";
	return s->mail.smtputf8 ? utf8[tls][auth] : esmtp[tls][auth];
}

/* RFC 5321 §4.4 trace header; the id is the one the file will get. */
static int
received_header(struct smtpd_session *s, struct str *h)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (str_appendf(h, "Received: from %s (%s [%s])\r\n",
		s->helo ? s->helo : s->addr, s->name, s->addr) < 0)
		return -1;
	/* Postfix's comment; the login stays private (as Postfix). */
	if (s->tls_info != NULL &&
	    str_appendf(h, "\t(using %s)\r\n", s->tls_info) < 0)
		return -1;
	if (str_appendf(h, "\tby %s (facteur) with %s id %s",
		s->ctx->p->myhostname, smtpd_protocol(s),
		queue_file_planned_id(s->qf)) < 0)
		return -1;
	if (s->nrcpts == 1) {
		if (str_appendf(h, "\r\n\tfor <%s>; %s\r\n", s->rcpts[0].addr,
			date) < 0)
			return -1;
	} else if (str_appendf(h, ";\r\n\t%s\r\n", date) < 0) {
		return -1;
	}
	return 0;
}

static enum status
write_envelope(struct smtpd_session *s)
{
	const struct smtp_mail *m = &s->mail;
	struct str *why = s->txn_why;
	struct str *h = str_new(4096);
	enum status st;
	char size[32];

#define TRY(call)                                                            \
	do {                                                                 \
		if ((st = (call)) != STATUS_OK)                              \
			goto out;                                            \
	} while (0)
	TRY(queue_file_sender(s->qf, s->sender, why));
	TRY(queue_file_attr(s->qf, "client_name", s->name, why));
	TRY(queue_file_attr(s->qf, "client_addr", s->addr, why));
	if (s->helo != NULL)
		TRY(queue_file_attr(s->qf, "helo", s->helo, why));
	TRY(queue_file_attr(s->qf, "protocol", smtpd_protocol(s), why));
	if (s->sasl_username != NULL) {
		TRY(queue_file_attr(s->qf, "sasl_method", s->sasl_method, why));
		TRY(queue_file_attr(s->qf, "sasl_username", s->sasl_username,
		    why));
	}
	if (m->has_envid)
		TRY(queue_file_attr(s->qf, "envid", m->envid, why));
	if (m->ret != SMTP_RET_NONE)
		TRY(queue_file_attr(s->qf, "ret",
		    m->ret == SMTP_RET_FULL ? "FULL" : "HDRS", why));
	if (m->body != SMTP_BODY_NONE)
		TRY(queue_file_attr(s->qf, "body",
		    m->body == SMTP_BODY_8BITMIME ? "8BITMIME" : "7BIT", why));
	if (m->smtputf8)
		TRY(queue_file_attr(s->qf, "smtputf8", "yes", why));
	if (m->has_size) {
		snprintf(size, sizeof(size), "%llu",
		    (unsigned long long)m->size);
		TRY(queue_file_attr(s->qf, "size_declared", size, why));
	}
	for (size_t i = 0; i < s->nrcpts; i++)
		TRY(queue_file_rcpt(s->qf, s->rcpts[i].addr,
		    s->rcpts[i].orcpt ? s->rcpts[i].orcpt : s->rcpts[i].addr,
		    s->rcpts[i].notify, why));
	if (received_header(s, h) < 0) {
		str_notef(why, "Received: header too long");
		st = STATUS_PERM;
		goto out;
	}
	TRY(queue_file_content(s->qf, str_data(h), str_len(h), why));
#undef TRY
out:
	str_free(&h);
	return st;
}

void
txn_begin_data(struct smtpd_session *s)
{
	const struct params *p = s->ctx->p;
	enum dataread_policy pol = DATAREAD_NORMALIZE;
	enum status st;

	if (dataread_policy_parse(p->smtpd_forbid_bare_newline, &pol) < 0)
		pol = DATAREAD_NORMALIZE; /* params_load checked the enum */
	s->dr = dataread_new(pol, p->message_size_limit, store, s);
	if (s->bdat_used)
		dataread_begin_bdat(s->dr);
	else
		dataread_begin_data(s->dr);
	str_clear(s->txn_why);
	st = queue_file_create(s->ctx->queue, time_real_us(), &s->qf,
	    s->txn_why);
	if (st == STATUS_OK)
		st = write_envelope(s);
	if (st != STATUS_OK)
		txn_fail(s, st);
}

size_t
txn_data_feed(struct smtpd_session *s, const uint8_t *p, size_t n,
    bool *done_r)
{
	size_t used = 0;

	*done_r = dataread_feed(s->dr, p, n, &used) == DATAREAD_END;
	return used;
}

int
txn_bdat_chunk(struct smtpd_session *s, uint64_t size, bool last)
{
	return dataread_bdat_chunk(s->dr, size, last);
}

size_t
txn_bdat_feed(struct smtpd_session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;

	(void)dataread_feed(s->dr, p, n, &used); /* progress read below */
	s->bdat_left = dataread_bdat_remaining(s->dr);
	return used;
}

static bool
disk_full(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

void
txn_end(struct smtpd_session *s)
{
	const char *reply = dataread_reply(s->dr);
	char cl[SMTPD_CLIENT_MAX];
	enum status st;

	smtpd_client(s, cl, sizeof(cl));
	if (reply != NULL && !(dataread_flags(s->dr) & DATAREAD_F_OUTERR)) {
		smtpd_reject(s, s->bdat_used ? "BDAT" : "DATA", s->sender, NULL,
		    reply);
		goto done;
	}
	if (!s->txn_failed) {
		st = queue_file_commit(s->qf, s->txn_why);
		if (st != STATUS_OK)
			txn_fail(s, st);
	}
	if (s->txn_failed) {
		smtpd_reject(s, s->bdat_used ? "BDAT" : "DATA", s->sender, NULL,
		    disk_full(s->txn_errno)
			? "452 4.3.1 Insufficient system storage"
		    : s->txn_status == STATUS_PERM
			? "554 5.3.0 Error: message could not be stored"
			: "451 4.3.0 Error: queue file write error");
		goto done;
	}
	const char *id = queue_file_id(s->qf);
	if (s->sasl_username != NULL) {
		struct log_esc e;
		log_info("%s: client=%s, sasl_method=%s, sasl_username=%s", id,
		    cl, s->sasl_method, log_escape_str(&e, s->sasl_username));
	} else {
		log_info("%s: client=%s", id, cl);
	}
	log_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue incoming)", id,
	    s->sender, (unsigned long long)queue_file_content_size(s->qf), s->nrcpts);
	/* Wake qmgr; a missing or busy qmgr finds the file on its scan. */
	if (sock_trigger_fd(s->ctx->trigger_fd, s->ctx->qmgr_trigger, "A",
		1) < 0)
		log_debug("qmgr trigger: %m");
	smtpd_reply(s, "250 2.0.0 Ok: queued as %s", id);
done:
	txn_reset(s);
	smtpd_set_state(s, S_HELO);
}
