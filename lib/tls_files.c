/*
 * tls_files - read, check and make certificate and key files.
 *
 * Files are read whole (at most TLS_FILE_MAX) into a wiped buffer and
 * parsed from memory, so that every error can name the file and a key's
 * PEM text never lingers.  Encrypted keys are refused (nobody is there
 * to type a passphrase) rather than prompted for.
 *
 * Never: prompt on a terminal, follow a path into anything but a regular
 * file, or write a key file that is readable by others even briefly.
 */
#include "lib/tls_files.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/secret.h"

/* Never ask for a passphrase: an encrypted key is an error. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* Read path whole into a new secret; NULL with why. */
static struct secret *
read_whole(const char *path, struct str *why)
{
	struct secret *s = NULL;
	struct stat st;
	int fd;

	/* Certificates are often symbolic links (ACME clients): follow. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		str_notef(why, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		str_notef(why, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > TLS_FILE_MAX) {
		str_notef(why, "%s: larger than %d bytes", path, TLS_FILE_MAX);
		goto out;
	}
	s = secret_new((size_t)st.st_size);
	for (;;) {
		size_t room;
		uint8_t *dst = secret_space(s, &room);
		ssize_t n;

		if (room == 0)
			break;
		n = read(fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_notef(why, "%s: read: %s", path, strerror(errno));
			secret_free(&s);
			goto out;
		}
		if (n == 0)
			break; /* shrank while we read: parse what we have */
		secret_wrote(s, (size_t)n);
	}
out:
	(void)close(fd); /* read-only: nothing to lose */
	return s;
}

static bool
has_text(const struct secret *s, const char *needle)
{
	return memmem(secret_data(s), secret_len(s), needle, strlen(needle)) !=
	       NULL;
}

/* Is the queued error "no more PEM blocks"? (Then clear it.) */
static bool
pem_end(void)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return true;
	}
	return false;
}

void
tls_keypair_free(struct tls_keypair *kp)
{
	X509_free(kp->leaf);
	sk_X509_pop_free(kp->chain, X509_free);
	EVP_PKEY_free(kp->key);
	memset(kp, 0, sizeof(*kp));
}

/*
 * file's bytes in *text_r (the caller frees it, wiped) and a memory BIO
 * over them (the caller frees it), errors cleared; NULL with why.
 */
static BIO *
open_pem(const char *file, struct secret **text_r, struct str *why)
{
	BIO *bio;

	*text_r = read_whole(file, why);
	if (*text_r == NULL)
		return NULL;
	bio = BIO_new_mem_buf(secret_data(*text_r), (int)secret_len(*text_r));
	if (bio == NULL) {
		str_notef(why, "%s: out of memory", file);
		secret_free(text_r);
		return NULL;
	}
	ERR_clear_error();
	return bio;
}

static int
load_certs(const char *file, struct tls_keypair *kp, struct str *why)
{
	struct secret *text;
	BIO *bio = open_pem(file, &text, why);
	X509 *x;
	int rc = -1;

	if (bio == NULL)
		return -1;
	kp->leaf = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
	if (kp->leaf == NULL) {
		if (pem_end())
			str_notef(
			    why, "%s: no PEM certificate in the file", file);
		else {
			str_notef(why, "%s: bad certificate: ", file);
			tls_errors(why);
		}
		goto out;
	}
	kp->chain = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL)
		if (sk_X509_push(kp->chain, x) <= 0) {
			X509_free(x);
			str_notef(why, "%s: out of memory", file);
			goto out;
		}
	if (!pem_end()) {
		str_notef(why, "%s: bad certificate in the chain: ", file);
		tls_errors(why);
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	secret_free(&text);
	return rc;
}

static int
load_key(const char *file, struct tls_keypair *kp, struct str *why)
{
	struct secret *text;
	BIO *bio = open_pem(file, &text, why);
	int rc = -1;

	if (bio == NULL)
		return -1;
	kp->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (kp->key == NULL) {
		if (pem_end() || !has_text(text, "PRIVATE KEY-----"))
			str_notef(
			    why, "%s: no PEM private key in the file", file);
		else if (has_text(text, "ENCRYPTED"))
			str_notef(why,
			    "%s: the private key is encrypted "
			    "(not supported: nobody is there to type the "
			    "passphrase)",
			    file);
		else {
			str_notef(why, "%s: bad private key: ", file);
			tls_errors(why);
		}
		ERR_clear_error();
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	secret_free(&text);
	return rc;
}

int
tls_keypair_load(const char *cert_file, const char *key_file,
    struct tls_keypair *kp, struct str *why)
{
	if (key_file == NULL || key_file[0] == '\0')
		key_file = cert_file;
	if (load_certs(cert_file, kp, why) < 0 ||
	    load_key(key_file, kp, why) < 0)
		goto fail;
	ERR_clear_error();
	if (X509_check_private_key(kp->leaf, kp->key) != 1) {
		ERR_clear_error();
		str_notef(why, "%s: key does not match the certificate in %s",
		    key_file, cert_file);
		goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	tls_keypair_free(kp);
	return -1;
}

/* "2026-05-01 12:00:00 UTC" */
static void
time_text(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "(unreadable date)");
}

static void
check_dates(const char *file, X509 *leaf, time_t now, struct diag *d)
{
	ASN1_TIME *t_now = ASN1_TIME_set(NULL, now);
	const ASN1_TIME *nb = X509_get0_notBefore(leaf);
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	int days, secs;
	char when[64];

	if (t_now == NULL)
		return;
	if (ASN1_TIME_diff(&days, &secs, t_now, nb) == 1 &&
	    (days > 0 || secs > 0)) {
		time_text(nb, when, sizeof(when));
		diag_warn(
		    d, file, 0, "certificate is not valid before %s", when);
	}
	if (ASN1_TIME_diff(&days, &secs, t_now, na) != 1) {
		diag_warn(d, file, 0,
		    "certificate has an unreadable expiry "
		    "date");
	} else if (days < 0 || secs < 0 || (days == 0 && secs == 0)) {
		time_text(na, when, sizeof(when));
		diag_warn(d, file, 0, "certificate expired on %s", when);
	} else if (days < TLS_EXPIRY_WARN_DAYS) {
		/* Whole days left, rounded up: "in 1 day" until it ends. */
		int left = days + (secs > 0 ? 1 : 0);
		time_text(na, when, sizeof(when));
		diag_warn(d, file, 0,
		    "certificate expires in %d day%s (%s): renew it, then "
		    "\"mailctl reload\"",
		    left, left == 1 ? "" : "s", when);
	}
	ASN1_TIME_free(t_now);
}

unsigned
tls_check_files(
    const char *cert_file, const char *key_file, time_t now, struct diag *d)
{
	struct tls_keypair kp = {0};
	struct str *why = str_new(1024);
	unsigned before = diag_errors(d);
	struct stat st;

	if (key_file == NULL || key_file[0] == '\0')
		key_file = cert_file;
	if (tls_keypair_load(cert_file, key_file, &kp, why) < 0) {
		diag_error(d, NULL, 0, "%s", str_c(why));
	} else {
		check_dates(cert_file, kp.leaf, now, d);
		if (stat(key_file, &st) == 0 && (st.st_mode & 0007) != 0)
			diag_warn(d, key_file, 0,
			    "private key is readable by every user (mode "
			    "%04o): chmod 0600",
			    (unsigned)(st.st_mode & 07777));
	}
	tls_keypair_free(&kp);
	str_free(&why);
	return diag_errors(d) - before;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static X509 *
make_cert(EVP_PKEY *key, const char *hostname, int days)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	X509_NAME *name;
	struct str *san = str_new(1024);
	bool ok = x != NULL && serial != NULL;

	/* A random positive 127-bit serial (RFC 5280 §4.1.2.2). */
	ok = ok && X509_set_version(x, X509_VERSION_3) == 1 &&
	     BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	     BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
	     X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) != NULL &&
	     X509_set_pubkey(x, key) == 1;
	if (ok) {
		name = X509_get_subject_name(x);
		ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		         (const unsigned char *)hostname, -1, -1, 0) == 1 &&
		     X509_set_issuer_name(x, name) == 1 &&
		     str_appendf(san, "DNS:%s", hostname) == 0 &&
		     add_ext(x, NID_subject_alt_name, str_c(san)) == 0 &&
		     add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ==
		         0 &&
		     add_ext(x, NID_key_usage, "critical,digitalSignature") ==
		         0 &&
		     add_ext(x, NID_ext_key_usage, "serverAuth") == 0 &&
		     add_ext(x, NID_subject_key_identifier, "hash") == 0 &&
		     X509_sign(x, key, EVP_sha256()) > 0;
	}
	str_free(&san);
	BN_free(serial);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Write the bytes of a memory BIO to a new file (O_EXCL) durably. */
static int
write_new(const char *path, BIO *bio, mode_t mode, struct str *why)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	int fd, e;

	fd = fsio_openat(AT_FDCWD, path,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, mode);
	if (fd < 0) {
		str_notef(why, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (n <= 0 || fchmod(fd, mode) < 0 ||
	    fsio_write_all(fd, data, (size_t)n) < 0 || fsio_fsync(fd) < 0) {
		e = errno;
		(void)close(fd);    /* the file is removed below */
		(void)unlink(path); /* best effort: we report the error */
		str_notef(why, "%s: write: %s", path, strerror(e));
		return -1;
	}
	if (close(fd) < 0) {
		e = errno;
		(void)unlink(path); /* best effort: we report the error */
		str_notef(why, "%s: close: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

int
tls_selfsigned_make(const char *cert_file, const char *key_file,
    const char *hostname, int days, struct str *why)
{
	EVP_PKEY *key;
	X509 *x = NULL;
	BIO *kbio = NULL, *cbio = NULL;
	int rc = -1;

	ERR_clear_error();
	if ((key = EVP_EC_gen("P-256")) == NULL ||
	    (x = make_cert(key, hostname, days)) == NULL) {
		str_notef(why, "cannot make a certificate for %s: ", hostname);
		tls_errors(why);
		goto out;
	}
	/* The key's PEM goes through secure memory, wiped on free. */
	kbio = BIO_new(BIO_s_secmem());
	cbio = BIO_new(BIO_s_mem());
	if (kbio == NULL || cbio == NULL ||
	    PEM_write_bio_PrivateKey(kbio, key, NULL, NULL, 0, NULL, NULL) !=
	        1 ||
	    PEM_write_bio_X509(cbio, x) != 1) {
		str_notef(why, "PEM encoding: ");
		tls_errors(why);
		goto out;
	}
	if (write_new(key_file, kbio, 0600, why) < 0)
		goto out;
	if (write_new(cert_file, cbio, 0644, why) < 0) {
		(void)unlink(key_file); /* best effort: reported */
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	BIO_free(kbio);
	BIO_free(cbio);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
