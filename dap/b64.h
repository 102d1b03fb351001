/* b64.h - base64 (RFC 4648, standard alphabet) over OpenSSL's EVP blocks:
 * the one base64 of kdap (kubeconfig data, Basic credentials, the
 * v4.base64 channel protocol, WebSocket keys). */
#ifndef KDAP_B64_H
#define KDAP_B64_H

#include <stddef.h>

#include "err.h"

/* Length of the padded encoding of n bytes. */
size_t dap_b64_encoded_len(size_t n);
/* Encode into out[dap_b64_encoded_len(n)], padded, no NUL.  Returns the
 * length written. */
size_t dap_b64_encode_to(const void *in, size_t n, char *out);
/* The padded encoding as a new NUL-terminated string.  0 or DAP_ENOMEM. */
int dap_b64_encode(const void *in, size_t n, char **out) DAP_WUR;

/* Decoding flags. */
#define DAP_B64_SPACE 1 /* skip whitespace (kubeconfig data may be wrapped) */

/* Decode [in, in+n) into out, which must hold 3 * ceil(n / 4) bytes.
 * Padding is optional; anything else outside the alphabet (whitespace
 * unless DAP_B64_SPACE), '=' before the end, or a final group of one
 * character fails.  Returns 0 with *outn, or DAP_EINVAL. */
int dap_b64_decode_to(const char *in, size_t n, unsigned flags,
                      unsigned char *out, size_t *outn) DAP_WUR;
/* The same into a new buffer, NUL-terminated (the NUL not counted in
 * *outn; outn may be NULL).  0, DAP_EINVAL or DAP_ENOMEM; on failure *out
 * is NULL and nothing decoded is left in memory (the input may be a key). */
int dap_b64_decode(const char *in, size_t n, unsigned flags, char **out,
                   size_t *outn) DAP_WUR;

#endif
