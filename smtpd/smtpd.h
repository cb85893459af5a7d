/*
 * smtpd.h - the SMTP session shared by smtpd's files: session.c (I/O,
 * timers, states), commands.c (the command table), policy.c (relay,
 * recipient and sender-login checks), transaction.c (the queue file and
 * DATA/BDAT), tls.c (STARTTLS and implicit TLS), auth.c (SMTP AUTH).
 *
 * Never: include this anywhere but smtpd/.
 */
#ifndef FACTEUR_SMTPD_SMTPD_H
#define FACTEUR_SMTPD_SMTPD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/auth_client.h"
#include "lib/anvil.h"
#include "lib/cidr.h"
#include "lib/conn.h"
#include "lib/dataread.h"
#include "lib/event.h"
#include "lib/linebuf.h"
#include "lib/map.h"
#include "lib/params.h"
#include "lib/queue.h"
#include "lib/queue_write.h"
#include "lib/resolve.h"
#include "lib/sasl.h"
#include "lib/service.h"
#include "lib/smtp_cmd.h"
#include "lib/str.h"
#include "lib/tls.h"

#define SMTPD_OUT_MAX (64 * 1024) /* replies waiting to be written */
#define SMTPD_ADDR_MAX 64	  /* client address text, with its NUL */
#define SMTPD_NAME_MAX 256	  /* client host name, with its NUL */
/* "name[addr]" for logs: both texts, the brackets and one NUL. */
#define SMTPD_CLIENT_MAX (SMTPD_NAME_MAX + SMTPD_ADDR_MAX + 1)

/* Session states: one bit each so a command row can list several. */
enum smtpd_state {
	S_INIT = 0x01, /* greeted, no HELO/EHLO yet */
	S_HELO = 0x02, /* HELO/EHLO seen, no transaction */
	S_MAIL = 0x04, /* MAIL accepted */
	S_RCPT = 0x08, /* at least one RCPT accepted */
	S_DATA = 0x10, /* reading DATA content */
	S_BDAT = 0x20, /* reading a BDAT chunk */
	S_QUIT = 0x40, /* closing once replies are out */
};
#define S_ANY (S_INIT | S_HELO | S_MAIL | S_RCPT)

/* Process-wide context: configuration, tables, the queue. */
struct smtpd_ctx {
	struct service *svc; /* borrowed */
	const struct params *p; /* borrowed from svc */
	struct cidr_list *mynetworks;
	struct map *users;
	struct map_list *aliases;
	struct resolver *resolver;
	struct queue *queue;
	char *qmgr_trigger; /* $queue_directory/public/qmgr */
	int trigger_fd;	    /* a datagram socket kept for the pokes */
	struct anvil_client *anvil; /* one connection for all sessions */
	char *auth_path;    /* $queue_directory/auth/client */
	struct tls_ctx *tls; /* NULL: no TLS (security level none) */
	/* smtpd_sender_login_maps: its tables, and the "mailboxes:" rule */
	struct map_list *sender_logins;
	bool sender_login_mailboxes;
	bool sender_login_check; /* the parameter is not empty */
};

struct smtpd_rcpt {
	char *addr;  /* as accepted (canonical text) */
	char *orcpt; /* ORCPT (decoded, "type;addr") or NULL */
	unsigned notify;
};

/* Counters for the disconnect line (Postfix: "ehlo=1 mail=1 ..."). */
struct smtpd_counts {
	unsigned helo, ehlo, starttls, auth, auth_ok, mail, rcpt, data, bdat,
	    rset, noop, quit, vrfy, unknown, total;
};

struct smtpd_session {
	struct smtpd_ctx *ctx; /* borrowed */
	struct event_loop *loop; /* borrowed */
	struct conn *conn;
	bool anvil_registered;
	char addr[SMTPD_ADDR_MAX]; /* client address text */
	char name[SMTPD_NAME_MAX]; /* client host name ("unknown") */
	char *helo;	    /* HELO/EHLO argument (escaped), or NULL */
	bool esmtp;
	bool relay_ok;	    /* client in mynetworks (smtpd_may_relay()) */
	bool too_many;	    /* over the connection limit: greet with 421 */
	enum smtpd_state state;
	struct linebuf *in;
	struct str *out;
	bool closing;
	unsigned errors;
	struct smtpd_counts counts;
	struct event_timer *idle_timer;
	struct event_timer *life_timer;
	struct str *reply; /* scratch for parser replies */
	bool line_secret;  /* the line just handled carried credentials */

	/* TLS (tls.c) */
	bool tls_pending;   /* "220 Ready to start TLS" queued: start once out */
	bool tls_handshake; /* handshake running: no SMTP until it ends */
	char *tls_info;	    /* "TLSv1.3 with cipher ..." once TLS is up */

	/* AUTH (auth.c) */
	struct sasl *sasl;  /* an exchange waiting for a response line */
	enum sasl_mech sasl_mech;
	struct auth_client_req *auth_req; /* waiting for the auth service */
	char *auth_user;    /* authcid being checked */
	char *sasl_username; /* after 235: the login; NULL before */
	const char *sasl_method; /* "PLAIN", "LOGIN" after 235 */

	/* The transaction (MAIL .. end of data); reset by txn_reset(). */
	char *sender;	    /* canonical, "" for <> */
	struct smtp_mail mail;
	struct smtpd_rcpt *rcpts;
	size_t nrcpts, arcpts;
	struct queue_file *qf;
	struct dataread *dr;
	uint64_t bdat_left;   /* bytes of the current chunk still to read */
	uint64_t bdat_chunk;  /* size of the current chunk */
	bool bdat_last;	      /* current chunk is the LAST one */
	bool bdat_used;	      /* transaction used BDAT */
	bool txn_failed;      /* queue write failed: reply at the end */
	enum status txn_status;
	int txn_errno;	      /* errno of the failed write */
	struct str *txn_why;
};

/* session.c */
void session_start(struct smtpd_ctx *ctx, int fd, const struct sockaddr *sa,
    socklen_t len);
/* Queue a reply line (without CRLF); counts 4xx/5xx as errors. */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
    FCT_PRINTF(2, 3);
/* A continuation line of a multi-line reply ("250-..."). */
void smtpd_reply_more(struct smtpd_session *s, const char *fmt, ...)
    FCT_PRINTF(2, 3);
void smtpd_set_state(struct smtpd_session *s, enum smtpd_state st);
/*
 * Refuse with reply (a whole line) and log it as Postfix does:
 * "NOQUEUE: reject: STAGE from host[addr]: REPLY; from=<..> [to=<..>]
 * proto=.. helo=<..>".  from and to may be NULL (to is left out).
 */
void smtpd_reject(struct smtpd_session *s, const char *stage,
    const char *from, const char *to, const char *reply);
/* Close after the queued replies are written. */
void smtpd_close_after_reply(struct smtpd_session *s);
/* The "host[addr]" text for logs; buf has SMTPD_CLIENT_MAX bytes. */
const char *smtpd_client(const struct smtpd_session *s, char *buf,
    size_t size);

/*
 * Run the session's I/O once more (read, handle buffered input, write,
 * wait): after the handshake or the auth service's answer.  May end
 * (and free) the session.
 */
void smtpd_resume(struct smtpd_session *s);
/* End the session now (and free it); why is logged before "from". */
void smtpd_end(struct smtpd_session *s, const char *why);
/* The greeting (220, or 421 when over the connection limit). */
void smtpd_greet(struct smtpd_session *s);
/* Input is on hold: STARTTLS, the handshake, or the auth service. */
bool smtpd_input_paused(const struct smtpd_session *s);

/* commands.c */
void smtpd_command(struct smtpd_session *s, const uint8_t *line, size_t len);

/* tls.c */
/* STARTTLS offered now / must come before mail (level encrypt). */
bool tls_offered(const struct smtpd_session *s);
bool tls_required(const struct smtpd_session *s);
void do_starttls(struct smtpd_session *s, const struct smtp_cmd *cmd);
/* Start the handshake (after 220 Ready, or at accept in wrappermode). */
void tls_begin(struct smtpd_session *s);
/* One handshake step on an I/O event; may end the session. */
void tls_step(struct smtpd_session *s);

/* auth.c */
/* AUTH is advertised in EHLO now. */
bool auth_offered(const struct smtpd_session *s);
void do_auth(struct smtpd_session *s, const struct smtp_cmd *cmd);
/* A response line of a running exchange (s->sasl != NULL). */
void auth_line(struct smtpd_session *s, const uint8_t *line, size_t len);
/* A response line past SASL_LINE_MAX. */
void auth_line_too_long(struct smtpd_session *s);
/* Forget the login and any exchange (STARTTLS, session end). */
void auth_reset(struct smtpd_session *s);

/* policy.c */
/*
 * Decide a RCPT: 0 to accept, or -1 with the whole reply line in reply.
 */
int policy_rcpt(struct smtpd_session *s, const struct smtp_rcpt *r,
    struct str *reply);
/* VRFY: the reply line for addr. */
void policy_vrfy(struct smtpd_session *s, const struct smtp_addr *a,
    struct str *reply);
/* 0 when the queue folder has room for a message of size bytes. */
int policy_disk_room(struct smtpd_session *s, uint64_t size);
/* The client may send to other domains: mynetworks, or AUTH. */
bool smtpd_may_relay(const struct smtpd_session *s);
/*
 * smtpd_sender_login_maps: 0 when the login may use the sender a, or
 * -1 with the reply (553 5.7.1 not owned, 451 4.3.0 lookup failure).
 */
int policy_sender_login(struct smtpd_session *s, const struct smtp_addr *a,
    struct str *reply);

/* transaction.c */
void txn_reset(struct smtpd_session *s);
/*
 * The RFC 3848 protocol name for Received: and the queue file: SMTP,
 * ESMTP, ESMTPS, ESMTPA, ESMTPSA, and UTF8SMTP[S][A] (RFC 6531 §3.7.3).
 */
const char *smtpd_protocol(const struct smtpd_session *s);
/* After "354": open the queue file, write envelope and Received:. */
void txn_begin_data(struct smtpd_session *s);
/* Feed raw DATA bytes; returns bytes consumed; sets done at the end. */
size_t txn_data_feed(struct smtpd_session *s, const uint8_t *p, size_t n,
    bool *done_r);
/* Announce a BDAT chunk; -1 when the reader refuses it. */
int txn_bdat_chunk(struct smtpd_session *s, uint64_t size, bool last);
/* Feed BDAT chunk bytes (at most bdat_left are consumed). */
size_t txn_bdat_feed(struct smtpd_session *s, const uint8_t *p, size_t n);
/* End of message: commit and reply 250, or reply the failure. */
void txn_end(struct smtpd_session *s);

#endif
