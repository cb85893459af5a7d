/*
 * queue_format - the bytes of a queue file, defined once (version 1).
 *
 * docs/queue-format.md is the prose version of this header; change both
 * together, and bump QUEUE_FORMAT_VERSION for any change an older reader
 * would misread (a reader refuses every version but its own).
 *
 *   header   8-byte magic, then the version as a u32 (big-endian)
 *   records  type (1 byte), length (u32 BE), payload of that length;
 *            except CONTENT, whose length is a u64 BE
 *
 * Records, in this order and no other:
 *
 *   T  TIME     once     u64 BE: arrival, µs since the epoch
 *   S  SENDER   once     envelope sender; empty = null sender <>
 *   A  ATTR     0..n     "name=value"; name [A-Za-z0-9_.-]{1,64}
 *   R  RCPT     1..n     flags(1) notify(1) addr_len(u32 BE) addr orig
 *   C  CONTENT  once     u64 BE length, then the raw message
 *   E  END      once     empty; the file ends right after it
 *
 * No payload (except content) holds a NUL byte.  Every payload except
 * content is at most the reader's record limit (queue_record_limit).
 *
 * Never: reuse a type letter or a flag bit with another meaning.
 */
#ifndef FACTEUR_QUEUE_FORMAT_H
#define FACTEUR_QUEUE_FORMAT_H

#include <stdint.h>

/* "\x89FCTQ\r\n\x1a": not text, and mangled by any CRLF translation. */
#define QUEUE_MAGIC          "\211FCTQ\r\n\032"
#define QUEUE_MAGIC_LEN      8
#define QUEUE_FORMAT_VERSION 1u
#define QUEUE_HEADER_LEN     (QUEUE_MAGIC_LEN + 4)

/* Record types. */
#define QUEUE_REC_TIME    'T'
#define QUEUE_REC_SENDER  'S'
#define QUEUE_REC_ATTR    'A'
#define QUEUE_REC_RCPT    'R'
#define QUEUE_REC_CONTENT 'C'
#define QUEUE_REC_END     'E'

/* Bytes before a payload: type + u32 length (u64 for CONTENT). */
#define QUEUE_REC_HEAD     5
#define QUEUE_CONTENT_HEAD 9

/* RCPT payload: offsets of the fixed part. */
#define QUEUE_RCPT_FLAGS_AT   0
#define QUEUE_RCPT_NOTIFY_AT  1
#define QUEUE_RCPT_ADDRLEN_AT 2
#define QUEUE_RCPT_FIXED      6

/*
 * RCPT flags: one byte that qmgr rewrites in place with a single pwrite
 * (DESIGN §2 rules 2 and 5).  Bits not defined here must be zero.
 */
#define QUEUE_RCPT_DONE        0x01u /* delivered, or failed and bounced */
#define QUEUE_RCPT_FLAGS_KNOWN QUEUE_RCPT_DONE

/* RCPT notify: DSN NOTIFY (RFC 3461 §4.1); 0 = not given. */
#define QUEUE_NOTIFY_NEVER   0x01u
#define QUEUE_NOTIFY_SUCCESS 0x02u
#define QUEUE_NOTIFY_FAILURE 0x04u
#define QUEUE_NOTIFY_DELAY   0x08u
#define QUEUE_NOTIFY_KNOWN   0x0fu

/* Longest attribute name. */
#define QUEUE_ATTR_NAME_MAX 64

#endif
