/*
 * tls - one TLS layer (OpenSSL 3) for every server and client program:
 * contexts, the certificate files, the policy, resumption, and the
 * "TLSv1.3 with cipher X (256/256 bits)" text for logs and Received:.
 * The byte stream itself is lib/conn (conn_starttls_server/client).
 *
 * Policy (the same everywhere, no knob to weaken it): TLS 1.2 and 1.3
 * only; for TLS 1.2 forward-secret AEAD suites only (ECDHE/DHE with
 * AES-GCM or ChaCha20-Poly1305, as Mozilla's "intermediate"); the TLS 1.3
 * defaults; groups X25519, P-256, P-384; no compression, no
 * renegotiation.  OpenSSL's security level (Debian: 2) still applies.
 *
 * Server contexts are made from a certificate chain file (PEM: the
 * server's certificate first, then its intermediates) and a key file
 * (PEM; may be the same file) read in full while the program is still
 * root (STYLE: keys are read before the privilege drop).  Every error
 * names the file.  A renewed certificate on disk is picked up by new
 * processes, i.e. after "mailctl reload" (master retires the old ones).
 *
 * Resumption: a server context keeps a session cache and issues session
 * tickets (resumption within one process: smtpd serves max_use sessions
 * in a row, pop3d and imapd many at once).  XXX processes do not share
 * ticket keys yet (Postfix's tlsmgr does).  A client context keeps the
 * last session per server name (TLS_CLIENT_CACHE entries) and offers it
 * again.
 *
 * Never: enable SSLv3, TLS 1.0 or 1.1, export or non-AEAD TLS 1.2
 * suites; read a key after the privilege drop; keep a key's PEM text in
 * memory after loading it (it is wiped).
 */
#ifndef FACTEUR_TLS_H
#define FACTEUR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/diag.h"
#include "lib/str.h"
#include "lib/util.h"

/* OpenSSL's connection type, for lib/conn (no OpenSSL header here). */
struct ssl_st;

/* Largest certificate or key file read. */
#define TLS_FILE_MAX (1024 * 1024)
/* "mailctl check" warns this long before a certificate expires. */
#define TLS_EXPIRY_WARN_DAYS 14
/* Server names a client context remembers a session for. */
#define TLS_CLIENT_CACHE 64
/* Sessions a server context caches (TLS 1.2 session ids). */
#define TLS_SERVER_CACHE 1024
/* How long a session may be resumed, in seconds. */
#define TLS_SESSION_LIFETIME 3600

struct tls_ctx;

/*
 * A server context from cert_file (chain) and key_file (NULL or "":
 * the key is in cert_file).  Reads both files now.  NULL with one line
 * in why naming the file: missing, unreadable, not PEM, no certificate,
 * no key, or a key that does not match the certificate.
 */
FCT_MUST_CHECK struct tls_ctx *tls_server_new(
    const char *cert_file, const char *key_file, struct str *why);

struct tls_client_opts {
	const char *ca_file;   /* PEM bundle; NULL/"": the system store */
	const char *ca_path;   /* hashed folder; NULL: none */
	bool verify;           /* refuse a peer that does not verify */
	const char *cert_file; /* client certificate, NULL for none */
	const char *key_file;  /* NULL/"": in cert_file */
};

/*
 * A client context.  Peers are always checked against the CA store and
 * the server name given to conn_starttls_client(); with verify the
 * handshake fails when the check fails, else the result is only
 * reported (conn_tls_verified) - opportunistic TLS, as SMTP uses it.
 */
FCT_MUST_CHECK struct tls_ctx *tls_client_new(
    const struct tls_client_opts *o, struct str *why);

/* Free *cp and its sessions; sets it NULL; accepts NULL. */
void tls_ctx_free(struct tls_ctx **cp);
bool tls_ctx_is_server(const struct tls_ctx *c);

/*
 * Check cert_file and key_file as tls_server_new() would load them, for
 * "mailctl check".  Errors (missing, unreadable, malformed, key does not
 * match) and warnings (expires within TLS_EXPIRY_WARN_DAYS of now, or
 * has expired, or is not yet valid; key readable by other users) go to
 * d located at the file they are about.  Returns the number of errors.
 */
unsigned tls_check_files(
    const char *cert_file, const char *key_file, time_t now, struct diag *d);

/*
 * Write a new self-signed certificate for hostname (subject CN and
 * subjectAltName DNS), valid from an hour ago until days from now
 * (days may be negative, for tests), with a new EC P-256 key.  The key
 * file is created 0600, the certificate 0644, both O_EXCL (never over
 * an existing file), written and fsynced through lib/fsio.  0, or -1
 * with why (and neither file left behind).
 */
FCT_MUST_CHECK int tls_selfsigned_make(const char *cert_file,
    const char *key_file, const char *hostname, int days, struct str *why);

/* ---- for lib/conn ---- */

/*
 * A new OpenSSL connection on fd for ctx, in server or client state;
 * for a client, servername (may be NULL) is sent as SNI, checked
 * against the certificate, and keys the session cache.  NULL with why.
 */
struct ssl_st *tls_ssl_new(
    struct tls_ctx *ctx, int fd, const char *servername, struct str *why);

/*
 * "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" appended
 * to out (Postfix's wording, for the log and Received:).  0 or -1.
 */
FCT_MUST_CHECK int tls_describe(const struct ssl_st *ssl, struct str *out);

/* Append OpenSSL's queued errors (and clear them) to why. */
void tls_errors(struct str *why);

#endif
