/*
 * tls_files - certificate and key files for lib/tls: load a chain and
 * its key (bounded reads, errors naming the file), check them for
 * "mailctl check", make a self-signed pair for "mailctl init".
 *
 * Only lib/tls*.c include this header (it names OpenSSL types); every
 * other program uses lib/tls.h.
 *
 * Never: read more than TLS_FILE_MAX of a file, or keep a key's PEM
 * text in memory once parsed (it is wiped).
 */
#ifndef FACTEUR_TLS_FILES_H
#define FACTEUR_TLS_FILES_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/str.h"
#include "lib/tls.h"

/* A certificate chain and its key, as read from the files. */
struct tls_keypair {
	X509 *leaf;             /* the server's own certificate */
	STACK_OF(X509) * chain; /* intermediates, may be empty */
	EVP_PKEY *key;
};

/*
 * Read cert_file (leaf, then any intermediates) and key_file (NULL or
 * "": cert_file) into *kp (zeroed by the caller), and check that the
 * key matches the leaf.  0, or -1 with one line in why that names the
 * file; *kp is then empty.
 */
FCT_MUST_CHECK int tls_keypair_load(const char *cert_file, const char *key_file,
    struct tls_keypair *kp, struct str *why);
void tls_keypair_free(struct tls_keypair *kp);

#endif
