/*
 * utf8 - well-formed UTF-8 (RFC 3629 §4).
 *
 * Never: accept overlong forms, surrogates or code points past U+10FFFF.
 */
#ifndef FACTEUR_UTF8_H
#define FACTEUR_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the well-formed UTF-8 sequence at p[0..n) whose first byte is
 * >= 0x80 (2..4), or 0 when it is not well formed or cut short.
 */
size_t utf8_seq_len(const uint8_t *p, size_t n);

#endif
