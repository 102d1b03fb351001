/* test_names.c - Kubernetes names as the API server accepts them (RFC 1123
 * labels and subdomains), and the error naming a bad one. */
#include "../../kube/names.h"
#include "../test.h"

int main(void)
{
    struct dap_error e;
    char long_label[65], long_sub[260];

    ASSERT(kube_name_valid(KUBE_NAME_LABEL, "default"));
    ASSERT(kube_name_valid(KUBE_NAME_LABEL, "kube-system"));
    ASSERT(kube_name_valid(KUBE_NAME_LABEL, "a"));
    ASSERT(kube_name_valid(KUBE_NAME_LABEL, "0abc9"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, NULL));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, ""));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "Default"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "-a"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "a-"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "a.b"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "a_b"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "a\r\nb"));
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, "a/b"));
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    ASSERT(!kube_name_valid(KUBE_NAME_LABEL, long_label));
    long_label[63] = '\0';
    ASSERT(kube_name_valid(KUBE_NAME_LABEL, long_label));

    ASSERT(kube_name_valid(KUBE_NAME_SUBDOMAIN, "go-hello-7d9f-x2x"));
    ASSERT(kube_name_valid(KUBE_NAME_SUBDOMAIN, "a.b-c.d"));
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, "a..b"));
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, ".a"));
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, "a."));
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, "a.-b"));
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, "a?x=1"));
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, "a b"));
    memset(long_sub, 'a', sizeof(long_sub));
    for (int i = 60; i < 254; i += 61)
        long_sub[i] = '.';
    long_sub[253] = '\0';
    ASSERT(kube_name_valid(KUBE_NAME_SUBDOMAIN, long_sub));
    long_sub[253] = 'a';
    long_sub[254] = '\0';
    ASSERT(!kube_name_valid(KUBE_NAME_SUBDOMAIN, long_sub));

    ASSERT_OK(kube_name_check(KUBE_NAME_LABEL, "namespace", "default", &e));
    ASSERT_EQ(kube_name_check(KUBE_NAME_LABEL, "namespace", "a\r\n\"\\\x01\xe2\x82\xac",
                              &e),
              DAP_ECONFIG);
    ASSERT(strstr(e.msg, "namespace \"a\\r\\n\\\"\\\\\\x01\\xe2\\x82\\xac\" is not a "
                         "valid Kubernetes name: use an RFC 1123 DNS label") != NULL);
    ASSERT_EQ(kube_name_check(KUBE_NAME_SUBDOMAIN, "pod", "A", &e), DAP_ECONFIG);
    ASSERT(strstr(e.msg, "pod \"A\" is not a valid Kubernetes name: use an RFC 1123 "
                         "DNS subdomain") != NULL);
    ASSERT_EQ(kube_name_check(KUBE_NAME_LABEL, "container", NULL, &e), DAP_ECONFIG);
    ASSERT(strstr(e.msg, "container \"\"") != NULL);
    printf("test_names: ok\n");
    return 0;
}
