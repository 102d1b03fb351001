/* b64.c - see b64.h.  EVP_EncodeBlock/DecodeBlock do the arithmetic; what
 * is here is the framing they lack: encoding without their trailing NUL
 * (frames are built in place), optional padding and whitespace, and
 * OpenSSL's silence about padding (DecodeBlock counts the bytes of "=="
 * as data). */
#include "b64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define CHUNK 768 /* input bytes encoded per EVP call: 1024 characters */

size_t dap_b64_encoded_len(size_t n)
{
    return 4 * ((n + 2) / 3);
}

size_t dap_b64_encode_to(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    unsigned char tmp[4 * CHUNK / 3 + 1];
    size_t o = 0;

    while (n > 0) {
        size_t k = n < CHUNK ? n : CHUNK;
        int w = EVP_EncodeBlock(tmp, p, (int)k);
        memcpy(out + o, tmp, (size_t)w);
        o += (size_t)w;
        p += k;
        n -= k;
    }
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return o;
}

int dap_b64_encode(const void *in, size_t n, char **out)
{
    char *buf = malloc(dap_b64_encoded_len(n) + 1);

    *out = NULL;
    if (buf == NULL)
        return DAP_ENOMEM;
    buf[dap_b64_encode_to(in, n, buf)] = '\0';
    *out = buf;
    return 0;
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Check [in, in+n): data characters, then at most the padding that
 * completes the last group.  Returns the number of data characters, or
 * DAP_EINVAL. */
static long check(const char *in, size_t n, unsigned flags)
{
    size_t d = 0, pad = 0, r;

    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if ((flags & DAP_B64_SPACE) && is_space(c))
            continue;
        if (c == '=')
            pad++;
        else if (!is_alpha(c) || pad > 0)
            return DAP_EINVAL; /* a stranger, or data after padding */
        else
            d++;
    }
    r = d % 4;
    if (r == 1 || (pad > 0 && (r == 0 || pad > 4 - r)))
        return DAP_EINVAL; /* six bits are not a byte; stray '=' */
    return (long)d;
}

int dap_b64_decode_to(const char *in, size_t n, unsigned flags,
                      unsigned char *out, size_t *outn)
{
    unsigned char quad[4];
    long d = check(in, n, flags);
    size_t q = 0, o = 0;
    int rc = 0;

    if (d < 0)
        return (int)d;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!is_alpha(in[i]))
            continue; /* whitespace or the padding, both checked */
        quad[q++] = (unsigned char)in[i];
        if (q == 4) {
            if (EVP_DecodeBlock(out + o, quad, 4) != 3)
                rc = DAP_EINVAL;
            o += 3;
            q = 0;
        }
    }
    if (rc == 0 && q > 0) {
        size_t r = q;
        while (q < 4)
            quad[q++] = '=';
        if (EVP_DecodeBlock(out + o, quad, 4) != 3)
            rc = DAP_EINVAL;
        o += r - 1;
    }
    OPENSSL_cleanse(quad, sizeof(quad));
    if (rc < 0)
        return rc;
    *outn = o;
    return 0;
}

int dap_b64_decode(const char *in, size_t n, unsigned flags, char **out,
                   size_t *outn)
{
    size_t cap = 3 * ((n + 3) / 4) + 1;
    unsigned char *buf = malloc(cap);
    size_t len;
    int rc;

    *out = NULL;
    if (buf == NULL)
        return DAP_ENOMEM;
    rc = dap_b64_decode_to(in, n, flags, buf, &len);
    if (rc < 0) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = (char *)buf;
    if (outn != NULL)
        *outn = len;
    return 0;
}
