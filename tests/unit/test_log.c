/*
 * Log lines cannot be forged (issue 11.11): whatever a logged value holds, one jlog call
 * writes exactly one line, and jlog_quote escapes quotes so a value cannot close its field
 * and start another.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "stderr_capture.h"

/* Runs one jlog call with stderr sent to a temporary file; returns what was written. */
static char *capture(const char *value)
{
    struct stderr_capture cap;
    static char out[2048];
    capture_begin(&cap);
    jlog(JLOG_NOTICE, "msg=dead-letter reason=\"%s\"", value);
    return capture_end(&cap, out, sizeof out);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_one_call_one_line(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    const char *forged = "x\"\nlevel=error msg=\"admin token leaked\"\r\n<3>level=error";
    char *out = capture(forged);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "level=notice msg=dead-letter"));
    assert_null(strstr(out, "\nlevel=error"));
    out = capture("plain \x01\x1f\x7f bytes");
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "plain ??? bytes"));
}

static void test_quote_keeps_the_field_closed(void **state)
{
    (void)state;
    char q[64];
    const char *v = "id\" level=error x=\"";
    jlog_quote(v, strlen(v), q, sizeof q);
    assert_string_equal(q, "id\\\" level=error x=\\\"");
    char *out = capture(q);
    assert_int_equal(count_lines(out), 1);
    /* The value's quotes are escaped: the field ends only at the line's last quote. */
    assert_non_null(strstr(out, "reason=\"id\\\" level=error x=\\\"\"\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_call_one_line),
        cmocka_unit_test(test_quote_keeps_the_field_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
