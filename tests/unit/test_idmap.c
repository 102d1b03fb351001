/* test_idmap.c - kdap's own ids for backend ids. */
#include <stdint.h>

#include "dap/idmap.h"
#include "tests/test.h"

static void test_basic(void)
{
    dap_idmap m;
    int32_t a, b, c, again;
    uint32_t be;
    int64_t r;

    dap_idmap_init(&m, "frame", 1, INT32_MAX);
    /* Two backends using the same remote id get different local ids. */
    ASSERT_OK(dap_idmap_add(&m, 1, 1000, &a));
    ASSERT_OK(dap_idmap_add(&m, 2, 1000, &b));
    ASSERT(a != b);
    ASSERT(a > 0 && b > 0);
    ASSERT_OK(dap_idmap_add(&m, 1, 1000, &again));
    ASSERT_EQ(again, a);
    ASSERT_OK(dap_idmap_get(&m, b, &be, &r));
    ASSERT_EQ(be, 2);
    ASSERT_EQ(r, 1000);
    ASSERT_OK(dap_idmap_add(&m, 1, -5, &c));
    ASSERT_OK(dap_idmap_get(&m, c, &be, &r));
    ASSERT_EQ(r, -5);

    /* Clearing one backend leaves the other's ids valid. */
    dap_idmap_clear_backend(&m, 1);
    ASSERT_EQ(dap_idmap_get(&m, a, NULL, NULL), DAP_ESTALE);
    ASSERT_OK(dap_idmap_get(&m, b, &be, &r));
    ASSERT_EQ(be, 2);
    /* A re-added pair gets a fresh id: a stale one never names it. */
    ASSERT_OK(dap_idmap_add(&m, 1, 1000, &again));
    ASSERT(again != a);
    ASSERT_EQ(dap_idmap_get(&m, 0, NULL, NULL), DAP_ESTALE);
    ASSERT_EQ(dap_idmap_get(&m, -1, NULL, NULL), DAP_ESTALE);
    dap_idmap_cleanup(&m);
}

static void test_many_and_wrap(void)
{
    dap_idmap m;
    int32_t id, first;

    dap_idmap_init(&m, "vars", 1, 100);
    ASSERT_OK(dap_idmap_add(&m, 1, 0, &first));
    for (int i = 1; i < 99; i++) {
        ASSERT_OK(dap_idmap_add(&m, 1, i, &id));
        ASSERT(id >= 1 && id < 100);
    }
    /* The range is full. */
    ASSERT_EQ(dap_idmap_add(&m, 1, 500, &id), DAP_ENOMEM);
    dap_idmap_clear(&m);
    /* After a wrap ids restart at the range start, every one distinct. */
    ASSERT_OK(dap_idmap_add(&m, 3, 7, &id));
    ASSERT(id >= 1 && id < 100);
    dap_idmap_cleanup(&m);

    dap_idmap_init(&m, "big", 1, INT32_MAX);
    for (int i = 0; i < 100000; i++) {
        ASSERT_OK(dap_idmap_add(&m, (uint32_t)(i % 3), i, &id));
        ASSERT(id > 0);
    }
    for (int i = 0; i < 100000; i += 997) {
        int32_t l;
        int64_t r;
        uint32_t be;
        ASSERT_OK(dap_idmap_find(&m, (uint32_t)(i % 3), i, &l));
        ASSERT_OK(dap_idmap_get(&m, l, &be, &r));
        ASSERT_EQ(r, i);
        ASSERT_EQ(be, i % 3);
    }
    dap_idmap_cleanup(&m);
}

static void test_alias(void)
{
    dap_idmap m;
    int32_t a, l;

    dap_idmap_init(&m, "bp", 1, INT32_MAX);
    ASSERT_OK(dap_idmap_add(&m, 1, 7, &a));
    ASSERT_OK(dap_idmap_alias(&m, 2, 3, a));
    ASSERT_OK(dap_idmap_find(&m, 2, 3, &l));
    ASSERT_EQ(l, a);
    ASSERT_OK(dap_idmap_find(&m, 1, 7, &l));
    ASSERT_EQ(l, a);
    dap_idmap_clear_backend(&m, 1);
    ASSERT_OK(dap_idmap_find(&m, 2, 3, &l));
    ASSERT_EQ(l, a);
    dap_idmap_cleanup(&m);
}

int main(void)
{
    test_basic();
    test_many_and_wrap();
    test_alias();
    printf("test_idmap: ok\n");
    return 0;
}
