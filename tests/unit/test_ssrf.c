/*
 * The outbox's SSRF guard (daemon/outbound.c, outbound_addr_public): which resolved
 * addresses a destination without allow_private may connect to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "outbound.h"

static int public4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return outbound_addr_public((const struct sockaddr *)&s, sizeof(s));
}

static int public6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return outbound_addr_public((const struct sockaddr *)&s, sizeof(s));
}

static void test_ipv4(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "127.0.0.1",       "127.255.0.9",     "10.1.2.3",     "172.16.0.1",  "172.31.255.255",
        "192.168.1.1",     "169.254.169.254", "100.64.0.1",   "0.0.0.0",     "224.0.0.1",
        "255.255.255.255", "192.0.2.10",      "198.51.100.7", "203.0.113.9", "198.18.0.1"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (public4(refused[i]))
            fail_msg("%s was let through", refused[i]);
    static const char *const allowed[] = {"8.8.8.8", "172.32.0.1", "172.15.255.255", "100.128.0.1",
                                          "93.184.216.34"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (!public4(allowed[i]))
            fail_msg("%s was refused", allowed[i]);
}

static void test_ipv6(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "::1",     "::",          "fe80::1",          "fd00::1",         "fc00::2",
        "ff02::1", "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (public6(refused[i]))
            fail_msg("%s was let through", refused[i]);
    assert_true(public6("2606:4700:4700::1111"));
    assert_true(public6("::ffff:8.8.8.8"));
}

static void test_other_families(void **state)
{
    (void)state;
    struct sockaddr s = {.sa_family = AF_UNIX};
    assert_false(outbound_addr_public(&s, sizeof(s)));
    struct sockaddr_in short4 = {.sin_family = AF_INET};
    assert_false(outbound_addr_public((const struct sockaddr *)&short4, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_other_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
