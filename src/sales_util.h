/*
 * Small nginx-free helpers: hashing, encodings, randomness, time, buffers.
 */

#ifndef SALES_UTIL_H
#define SALES_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define SALES_SHA256_LEN 32

typedef struct {
    uint32_t  state[8];
    uint64_t  bytes;
    uint8_t   block[64];
    size_t    used;
} sales_sha256_t;

void sales_sha256_init(sales_sha256_t *s);
void sales_sha256_update(sales_sha256_t *s, const void *data, size_t len);
void sales_sha256_final(sales_sha256_t *s, uint8_t out[SALES_SHA256_LEN]);
void sales_sha256(const void *data, size_t len, uint8_t out[SALES_SHA256_LEN]);
void sales_hmac_sha256(const void *key, size_t key_len, const void *msg,
    size_t msg_len, uint8_t out[SALES_SHA256_LEN]);

/* Lower-case hex; out must hold 2 * len + 1 bytes. */
void sales_hex(const uint8_t *in, size_t len, char *out);

/* Base64 (standard alphabet, padded) and base64url (no padding). The output
 * must hold sales_base64_len(len) + 1 bytes; returns the length written. */
size_t sales_base64_len(size_t len);
size_t sales_base64_encode(const uint8_t *in, size_t len, char *out);
size_t sales_base64url_encode(const uint8_t *in, size_t len, char *out);
/* Accepts both alphabets, padding optional; returns -1 on bad input. */
long sales_base64_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size);

/* Cryptographically secure random bytes; 0 on success. */
int sales_random(void *buf, size_t len);

/* Time is carried as Unix milliseconds. */
int64_t sales_now_ms(void);
/* "2026-12-03T18:22:44Z": whole seconds, UTC; out >= 32. */
void sales_time_format(int64_t ms, char *out);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or +00:00); 0 on success. */
int sales_time_parse(const char *s, size_t len, int64_t *ms);
/* Days since 1970-01-01 for a civil date. */
int64_t sales_days_from_civil(int y, unsigned m, unsigned d);
/* "YYYY-MM-DD", a real calendar date from 1970 to 9999. */
int sales_date_valid(const char *s, size_t len);
/* The UTC date of a time, "YYYY-MM-DD"; out >= 11. */
void sales_date_of(int64_t ms, char *out);

/* A growing, NUL-terminated byte buffer on malloc. */
typedef struct {
    char   *data;
    size_t  len;
    size_t  cap;
    int     failed;
} sales_buf_t;

void sales_buf_add(sales_buf_t *b, const char *s, size_t len);
void sales_buf_adds(sales_buf_t *b, const char *s);
void sales_buf_printf(sales_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sales_buf_free(sales_buf_t *b);

/* num / den rounded half away from zero: the one rounding rule for money.
 * den > 0. */
int64_t sales_div_round(int64_t num, int64_t den);

void sales_utf8_clean(char *s);

/* Constant-time comparison of equal-length byte strings. */
int sales_ct_equal(const void *a, const void *b, size_t len);

#endif
