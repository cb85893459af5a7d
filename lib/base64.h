/*
 * base64 - strict RFC 4648 §4 base64, for SASL exchanges (RFC 4954) and
 * the auth service protocol.
 *
 * Decoding is strict, as RFC 4954 §4 lets a server be: the text is a
 * multiple of four characters from the standard alphabet, '=' padding
 * only at the end (one or two), the unused bits of the last group zero
 * (so every byte string has exactly one accepted encoding), and no
 * whitespace, line breaks or NUL.  The empty text decodes to nothing.
 *
 * Never: write past the caller's capacity, or accept a text that
 * another decoder would read differently.
 */
#ifndef FACTEUR_BASE64_H
#define FACTEUR_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"
#include "lib/util.h"

/* Most bytes that n characters of base64 can decode to. */
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3)
/* Characters that encode n bytes (n < SIZE_MAX / 2). */
#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/*
 * Decode len characters of in into out (cap bytes).  Returns 0 with the
 * length in *out_len_r, or -1 when the text is not strict base64 or
 * does not fit (out then holds garbage the caller must wipe if secret).
 */
FCT_MUST_CHECK int base64_decode(
    const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r);

/* Append the encoding of len bytes to out; 0, or -1 (unchanged) past
 * its cap. */
FCT_MUST_CHECK int base64_encode(
    const uint8_t *in, size_t len, struct str *out);
/*
 * Encode len bytes into out (cap bytes, no NUL added), for secrets that
 * must not pass through a growing string.  0 with the length in
 * *out_len_r, or -1 when it does not fit.
 */
FCT_MUST_CHECK int base64_encode_buf(
    const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r);

#endif
