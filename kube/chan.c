/* chan.c - see chan.h. */
#include "chan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../dap/b64.h"

enum kube_chan_proto kube_chan_proto_parse(const char *sp)
{
    if (sp == NULL || sp[0] == '\0' || strcmp(sp, "v4.channel.k8s.io") == 0)
        return KUBE_CHAN_V4;
    if (strcmp(sp, "v5.channel.k8s.io") == 0)
        return KUBE_CHAN_V5;
    if (strcmp(sp, "v4.base64.channel.k8s.io") == 0)
        return KUBE_CHAN_V4_BASE64;
    return KUBE_CHAN_UNKNOWN;
}

int kube_chan_decode(enum kube_chan_proto p, const uint8_t *msg, size_t len,
                     uint8_t *scratch, struct kube_chan_msg *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 1;
    if (p == KUBE_CHAN_V4_BASE64) {
        if (msg[0] < '0' || msg[0] > '9')
            return DAP_EPROTO;
        out->channel = msg[0] - '0';
        if (dap_b64_decode_to((const char *)msg + 1, len - 1, 0, scratch,
                              &out->len) < 0)
            return DAP_EPROTO;
        out->data = scratch;
        return 0;
    }
    if (p == KUBE_CHAN_UNKNOWN)
        return DAP_EPROTO;
    out->channel = msg[0];
    out->data = msg + 1;
    out->len = len - 1;
    return 0;
}

size_t kube_chan_encoded_size(enum kube_chan_proto p, size_t len)
{
    if (p == KUBE_CHAN_V4_BASE64)
        return 1 + dap_b64_encoded_len(len);
    return 1 + len;
}

size_t kube_chan_encode(enum kube_chan_proto p, int channel,
                        const uint8_t *data, size_t len, uint8_t *out,
                        int *binary)
{
    size_t n = 1;

    if (p != KUBE_CHAN_V4_BASE64) {
        out[0] = (uint8_t)channel;
        if (len > 0)
            memcpy(out + 1, data, len);
        *binary = 1;
        return 1 + len;
    }
    out[0] = (uint8_t)('0' + channel);
    n += dap_b64_encode_to(data, len, (char *)out + 1);
    *binary = 0;
    return n;
}

void kube_pf_state_init(struct kube_pf_state *s, uint16_t port)
{
    memset(s, 0, sizeof(*s));
    s->port = port;
}

int kube_pf_feed(struct kube_pf_state *s, const struct kube_chan_msg *m,
                 const uint8_t **data, size_t *len, struct dap_error *err)
{
    const uint8_t *d = m->data;
    size_t n = m->len;
    int ch = m->channel;
    uint8_t *got;

    *data = NULL;
    *len = 0;
    if (ch != 0 && ch != 1)
        return dap_error_set(err, DAP_EPROTO,
                             "port-forward: message on unexpected channel %d",
                             ch);
    got = ch == 0 ? &s->got_data_prefix : &s->got_error_prefix;
    /* The first two bytes of each channel are the port, little-endian. */
    while (!*got && n > 0) {
        s->prefix_bytes[ch][s->prefix_have[ch]++] = *d++;
        n--;
        if (s->prefix_have[ch] == 2) {
            uint16_t port = (uint16_t)(s->prefix_bytes[ch][0] |
                                       (s->prefix_bytes[ch][1] << 8));
            if (port != s->port) {
                /* Stay consistent if the caller feeds more anyway. */
                s->prefix_have[ch] = 0;
                return dap_error_set(err, DAP_EPROTO,
                                     "port-forward: the server announced "
                                     "port %u on channel %d, expected %u",
                                     port, ch, s->port);
            }
            *got = 1;
        }
    }
    if (n == 0)
        return KUBE_PF_NONE;
    *data = d;
    *len = n;
    return ch == 0 ? KUBE_PF_DATA : KUBE_PF_ERROR;
}

int kube_exec_status_parse(const uint8_t *data, size_t len, int *exit_code,
                           struct dap_error *err)
{
    json_t *st = json_loadb((const char *)data, len, 0, NULL);
    const char *status, *msg, *reason;
    int rc;

    *exit_code = -1;
    if (!json_is_object(st) ||
        !json_is_string(json_object_get(st, "status"))) {
        size_t n = len < 200 ? len : 200;
        char text[201];
        memcpy(text, data, n);
        text[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)text[i] < 0x20)
                text[i] = ' ';
        json_decref(st);
        return dap_error_set(err, DAP_EPROTO, "%s", text);
    }
    status = json_string_value(json_object_get(st, "status"));
    msg = json_string_value(json_object_get(st, "message"));
    reason = json_string_value(json_object_get(st, "reason"));
    if (strcmp(status, "Success") == 0) {
        *exit_code = 0;
        rc = 0;
    } else if (reason != NULL && strcmp(reason, "NonZeroExitCode") == 0) {
        json_t *causes =
            json_object_get(json_object_get(st, "details"), "causes");
        size_t i;
        json_t *c;
        rc = dap_error_set(err, DAP_EBACKEND, "%s",
                           msg ? msg : "non-zero exit code");
        json_array_foreach(causes, i, c)
        {
            const char *r = json_string_value(json_object_get(c, "reason"));
            const char *m = json_string_value(json_object_get(c, "message"));
            char *end;
            long v;
            if (r == NULL || m == NULL || strcmp(r, "ExitCode") != 0)
                continue;
            v = strtol(m, &end, 10);
            if (end != m && *end == '\0' && v >= 0 && v <= 255) {
                *exit_code = (int)v;
                rc = 0;
            }
            break;
        }
    } else {
        rc = dap_error_set(err, DAP_EBACKEND, "%s",
                           msg ? msg : "the command failed");
    }
    json_decref(st);
    return rc;
}
