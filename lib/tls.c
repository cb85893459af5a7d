/*
 * tls - OpenSSL contexts with facteur's policy, the client session
 * cache, and the texts for logs.
 *
 * Never: let a context out of here without the protocol floor, or keep
 * an OpenSSL error queue entry that belongs to an earlier call.
 */
#include "lib/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "lib/tls_files.h"

/* TLS 1.2: forward secrecy and AEAD only (Mozilla "intermediate"). */
#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"           \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"                 \
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                           \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"                 \
	"TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
/* Session id context: any fixed bytes, the same for every process. */
#define TLS_SID_CTX "facteur"

/* One remembered client session. */
struct tls_cached {
	char *name; /* server name, or "" */
	SSL_SESSION *sess;
	uint64_t used; /* for least-recently-used eviction */
};

struct tls_ctx {
	SSL_CTX *ssl;
	BIO_METHOD *bio_method; /* sockets without SIGPIPE */
	bool server;
	struct tls_cached cache[TLS_CLIENT_CACHE];
	uint64_t clock;
};

void
tls_errors(struct str *why)
{
	unsigned long e;
	const char *file, *data, *func;
	int line, flags;
	bool first = true;
	char buf[256];

	while (
	    (e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		str_notef(why, "%s%s%s%s", first ? "" : "; ", buf,
		    (flags & ERR_TXT_STRING) && data && *data ? ": " : "",
		    (flags & ERR_TXT_STRING) && data ? data : "");
		first = false;
	}
}

/*
 * A socket BIO that uses send(MSG_NOSIGNAL) and recv(): OpenSSL's own
 * calls write(2), which raises SIGPIPE when the peer is gone, and a
 * library must not depend on every program ignoring that signal.
 */
static int
sock_bio_write(BIO *b, const char *p, size_t n, size_t *done_r)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	do
		r = send(fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	}
	*done_r = (size_t)r;
	return 1;
}

static int
sock_bio_read(BIO *b, char *p, size_t n, size_t *done_r)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	do
		r = recv(fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return 0;
	}
	if (r == 0)
		errno = 0; /* end of stream, not an error */
	*done_r = (size_t)r;
	return r > 0 ? 1 : 0;
}

static long
sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	/* Writes are never buffered here: a flush has nothing to do. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *
sock_bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(
	    BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "facteur socket");

	if (m == NULL || BIO_meth_set_write_ex(m, sock_bio_write) != 1 ||
	    BIO_meth_set_read_ex(m, sock_bio_read) != 1 ||
	    BIO_meth_set_ctrl(m, sock_bio_ctrl) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* Settings both kinds of context share. */
static int
apply_policy(SSL_CTX *ssl, struct str *why)
{
	if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ssl, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ssl, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ssl, TLS_GROUPS) != 1) {
		str_notef(why, "TLS policy: ");
		tls_errors(why);
		return -1;
	}
	SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION |
	                             SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * conn_write() may be called again with the rest of a buffer that
	 * has moved (struct str consumes from the front): allow partial
	 * writes and a moving buffer.  Release idle buffers: pop3d and
	 * imapd keep many quiet sessions.
	 */
	SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

static int
use_keypair(
    SSL_CTX *ssl, const char *cert_file, const char *key_file, struct str *why)
{
	struct tls_keypair kp = {0};
	int rc = -1;

	if (tls_keypair_load(cert_file, key_file, &kp, why) < 0)
		return -1;
	if (SSL_CTX_use_certificate(ssl, kp.leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ssl, kp.key) != 1) {
		str_notef(why, "%s: ", cert_file);
		tls_errors(why);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(kp.chain); i++)
		if (SSL_CTX_add1_chain_cert(ssl, sk_X509_value(kp.chain, i)) !=
		    1) {
			str_notef(why, "%s: chain: ", cert_file);
			tls_errors(why);
			goto out;
		}
	if (SSL_CTX_check_private_key(ssl) != 1) {
		str_notef(why, "%s: key does not match the certificate in %s",
		    key_file && *key_file ? key_file : cert_file, cert_file);
		ERR_clear_error();
		goto out;
	}
	rc = 0;
out:
	tls_keypair_free(&kp);
	return rc;
}

struct tls_ctx *
tls_server_new(const char *cert_file, const char *key_file, struct str *why)
{
	struct tls_ctx *c;
	SSL_CTX *ssl;

	if (cert_file == NULL || cert_file[0] == '\0') {
		str_notef(why, "no certificate file given");
		return NULL;
	}
	ERR_clear_error();
	if ((ssl = SSL_CTX_new(TLS_server_method())) == NULL) {
		str_notef(why, "SSL_CTX_new: ");
		tls_errors(why);
		return NULL;
	}
	if (apply_policy(ssl, why) < 0 ||
	    use_keypair(ssl, cert_file, key_file, why) < 0) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	SSL_CTX_set_dh_auto(ssl, 1);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ssl, TLS_SERVER_CACHE);
	SSL_CTX_set_timeout(ssl, TLS_SESSION_LIFETIME);
	if (SSL_CTX_set_session_id_context(ssl,
	        (const unsigned char *)TLS_SID_CTX, strlen(TLS_SID_CTX)) != 1) {
		str_notef(why, "session id context: ");
		tls_errors(why);
		SSL_CTX_free(ssl);
		return NULL;
	}
	c = x_calloc(1, sizeof(*c));
	c->ssl = ssl;
	c->server = true;
	if ((c->bio_method = sock_bio_method()) == NULL) {
		str_notef(why, "BIO_meth_new failed");
		tls_ctx_free(&c);
	}
	return c;
}

/* A session ticket arrived (client side): remember it by server name. */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct tls_cached *slot = NULL;

	if (c == NULL)
		return 0;
	if (name == NULL)
		name = "";
	for (size_t i = 0; i < TLS_CLIENT_CACHE && slot == NULL; i++)
		if (c->cache[i].name != NULL &&
		    strcmp(c->cache[i].name, name) == 0)
			slot = &c->cache[i];
	for (size_t i = 0; i < TLS_CLIENT_CACHE && slot == NULL; i++)
		if (c->cache[i].name == NULL)
			slot = &c->cache[i];
	if (slot == NULL) {
		slot = &c->cache[0];
		for (size_t i = 1; i < TLS_CLIENT_CACHE; i++)
			if (c->cache[i].used < slot->used)
				slot = &c->cache[i];
	}
	if (slot->name == NULL || strcmp(slot->name, name) != 0) {
		free(slot->name);
		slot->name = x_strdup(name);
	}
	SSL_SESSION_free(slot->sess);
	slot->sess = sess; /* returning 1 hands us the reference */
	slot->used = ++c->clock;
	return 1;
}

static SSL_SESSION *
cached_session(struct tls_ctx *c, const char *name)
{
	if (name == NULL)
		name = "";
	for (size_t i = 0; i < TLS_CLIENT_CACHE; i++) {
		struct tls_cached *e = &c->cache[i];

		if (e->name == NULL || strcmp(e->name, name) != 0)
			continue;
		if (e->sess == NULL || SSL_SESSION_is_resumable(e->sess) != 1) {
			SSL_SESSION_free(e->sess);
			e->sess = NULL;
			return NULL;
		}
		e->used = ++c->clock;
		return e->sess;
	}
	return NULL;
}

struct tls_ctx *
tls_client_new(const struct tls_client_opts *o, struct str *why)
{
	struct tls_ctx *c;
	SSL_CTX *ssl;
	int ok;

	ERR_clear_error();
	if ((ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
		str_notef(why, "SSL_CTX_new: ");
		tls_errors(why);
		return NULL;
	}
	if (apply_policy(ssl, why) < 0) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	if ((o->ca_file != NULL && o->ca_file[0] != '\0') ||
	    (o->ca_path != NULL && o->ca_path[0] != '\0'))
		ok = SSL_CTX_load_verify_locations(ssl,
		    o->ca_file && *o->ca_file ? o->ca_file : NULL,
		    o->ca_path && *o->ca_path ? o->ca_path : NULL);
	else
		ok = SSL_CTX_set_default_verify_paths(ssl);
	if (ok != 1) {
		str_notef(why, "%s: cannot load CA certificates: ",
		    o->ca_file && *o->ca_file ? o->ca_file
		    : o->ca_path              ? o->ca_path
		                              : "default store");
		tls_errors(why);
		SSL_CTX_free(ssl);
		return NULL;
	}
	if (o->cert_file != NULL && o->cert_file[0] != '\0' &&
	    use_keypair(ssl, o->cert_file, o->key_file, why) < 0) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	SSL_CTX_set_verify(
	    ssl, o->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(
	    ssl, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ssl, new_session_cb);
	c = x_calloc(1, sizeof(*c));
	c->ssl = ssl;
	c->server = false;
	SSL_CTX_set_app_data(ssl, c);
	if ((c->bio_method = sock_bio_method()) == NULL) {
		str_notef(why, "BIO_meth_new failed");
		tls_ctx_free(&c);
	}
	return c;
}

void
tls_ctx_free(struct tls_ctx **cp)
{
	struct tls_ctx *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < TLS_CLIENT_CACHE; i++) {
		SSL_SESSION_free(c->cache[i].sess);
		free(c->cache[i].name);
	}
	SSL_CTX_free(c->ssl);
	BIO_meth_free(c->bio_method);
	x_free(cp);
}

bool
tls_ctx_is_server(const struct tls_ctx *c)
{
	return c->server;
}

struct ssl_st *
tls_ssl_new(struct tls_ctx *c, int fd, const char *servername, struct str *why)
{
	SSL *ssl;
	BIO *bio;

	ERR_clear_error();
	if ((ssl = SSL_new(c->ssl)) == NULL ||
	    (bio = BIO_new(c->bio_method)) == NULL) {
		str_notef(why, "SSL_new: ");
		tls_errors(why);
		SSL_free(ssl);
		return NULL;
	}
	BIO_set_data(bio, (void *)(intptr_t)fd);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio); /* ssl owns bio now */
	if (c->server) {
		SSL_set_accept_state(ssl);
		return ssl;
	}
	SSL_set_connect_state(ssl);
	if (servername != NULL && servername[0] != '\0') {
		/* SNI, and the name the certificate must carry. */
		if (SSL_set_tlsext_host_name(ssl, servername) != 1 ||
		    SSL_set1_host(ssl, servername) != 1) {
			str_notef(why, "server name \"%s\": ", servername);
			tls_errors(why);
			SSL_free(ssl);
			return NULL;
		}
	}
	SSL_SESSION *sess = cached_session(c, servername);
	if (sess != NULL && SSL_set_session(ssl, sess) != 1)
		ERR_clear_error(); /* a full handshake instead */
	return ssl;
}

int
tls_describe(const struct ssl_st *ssl, struct str *out)
{
	const SSL_CIPHER *ciph = SSL_get_current_cipher(ssl);
	int alg_bits = 0, bits;

	if (ciph == NULL)
		return str_appends(out, "no TLS");
	bits = SSL_CIPHER_get_bits(ciph, &alg_bits);
	return str_appendf(out, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), SSL_CIPHER_get_name(ciph), bits, alg_bits);
}
