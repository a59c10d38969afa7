/*
 * `journeyd --check-config -c FILE`: exit 0 on a good file, non-zero with a
 * `file:line: message` pointing at the offending line otherwise (DESIGN §9). Operators run
 * it before a reload, so the line number is the whole point: it is checked exactly.
 *
 * No Redis is needed: validating a file must not connect anywhere (the redis port below
 * has nothing listening).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char good_conf[] = "; journeyd test configuration\n"
                                "# both comment styles, as in any ini file\n"
                                "[journeyd]\n"
                                "listen = 127.0.0.1:18080\n"
                                "redis = 127.0.0.1:1\n"
                                "api_tokens = test-token-5f3a9c17, other-token-8d2e4b60\n"
                                "default_country_code = 39\n"
                                "click_allow = example.com, shop.example.com\n"
                                "retry_after = 2s\n"
                                "claim_idle = 1s\n"
                                "\n"
                                "[source stripe]\n"
                                "type = stripe\n"
                                "secret = whsec_test_secret, whsec_old_secret_1\n"
                                "\n"
                                "[source site]\n"
                                "type = form\n"
                                "auth = hmac\n"
                                "secret = form_test_secret\n"
                                "\n"
                                "[channels]\n"
                                "search_engines = google, bing, startpage\n"
                                "medium.affiliate = partners\n"
                                "source.news.example.com = news_sites\n";

struct bad_case {
    const char *what;
    const char *text;
    int line;        /* the line the message must name; 0 = any line */
    int line_strict; /* 1: a missing "file:line:" is a failure */
};

static const struct bad_case bad_cases[] = {
    {"unknown key in a source section",
     "[journeyd]\n"                       /* 1 */
     "listen = 127.0.0.1:18080\n"         /* 2 */
     "redis = 127.0.0.1:1\n"              /* 3 */
     "api_tokens = test-token-5f3a9c17\n" /* 4 */
     "default_country_code = 39\n"        /* 5 */
     "click_allow = example.com\n"        /* 6 */
     "\n"                                 /* 7 */
     "[source stripe]\n"                  /* 8 */
     "type = stripe\n"                    /* 9 */
     "scret = whsec_test_secret\n"        /* 10 */
     "secret = whsec_test_secret\n",      /* 11 */
     10, 1},
    {"unknown key in [journeyd]",
     "[journeyd]\n"                       /* 1 */
     "listen = 127.0.0.1:18080\n"         /* 2 */
     "redis = 127.0.0.1:1\n"              /* 3 */
     "api_tokens = test-token-5f3a9c17\n" /* 4 */
     "lisen_backlog = 12\n"               /* 5 */
     "\n"                                 /* 6 */
     "[source stripe]\n"                  /* 7 */
     "type = stripe\n"                    /* 8 */
     "secret = whsec_test_secret\n",      /* 9 */
     5, 1},
    {"a duration that is not one",
     "[journeyd]\n"                       /* 1 */
     "listen = 127.0.0.1:18080\n"         /* 2 */
     "redis = 127.0.0.1:1\n"              /* 3 */
     "api_tokens = test-token-5f3a9c17\n" /* 4 */
     "retry_after = soon\n"               /* 5 */
     "[source stripe]\n"                  /* 6 */
     "type = stripe\n"                    /* 7 */
     "secret = whsec_test_secret\n",      /* 8 */
     5, 1},
    {"an unknown source type",
     "[journeyd]\n"                       /* 1 */
     "listen = 127.0.0.1:18080\n"         /* 2 */
     "redis = 127.0.0.1:1\n"              /* 3 */
     "api_tokens = test-token-5f3a9c17\n" /* 4 */
     "[source x]\n"                       /* 5 */
     "type = nosuchprovider\n"            /* 6 */
     "secret = whsec_test_secret\n",      /* 7 */
     6, 0},
    {"a line that is not key = value",
     "[journeyd]\n"                        /* 1 */
     "listen = 127.0.0.1:18080\n"          /* 2 */
     "redis = 127.0.0.1:1\n"               /* 3 */
     "this line is garbage\n"              /* 4 */
     "api_tokens = test-token-5f3a9c17\n", /* 5 */
     4, 1},
    {"a [channels] rule naming an invalid channel",
     "[journeyd]\n"                       /* 1 */
     "listen = 127.0.0.1:18080\n"         /* 2 */
     "redis = 127.0.0.1:1\n"              /* 3 */
     "api_tokens = test-token-5f3a9c17\n" /* 4 */
     "[channels]\n"                       /* 5 */
     "medium.affiliate = partners\n"      /* 6 */
     "source.partnerx = Partner X\n"      /* 7 */
     "[source stripe]\n"                  /* 8 */
     "type = stripe\n"                    /* 9 */
     "secret = whsec_test_secret\n",      /* 10 */
     7, 1},
    /* Issue 11.11: a secret this short can be guessed; the value is never echoed. */
    {"a secret of one character",
     "[journeyd]\n"               /* 1 */
     "listen = 127.0.0.1:18080\n" /* 2 */
     "redis = 127.0.0.1:1\n"      /* 3 */
     "[source stripe]\n"          /* 4 */
     "type = stripe\n"            /* 5 */
     "secret = x\n",              /* 6 */
     6, 1},
    {"a stripe source without a secret",
     "[journeyd]\n"                       /* 1 */
     "listen = 127.0.0.1:18080\n"         /* 2 */
     "redis = 127.0.0.1:1\n"              /* 3 */
     "api_tokens = test-token-5f3a9c17\n" /* 4 */
     "[source stripe]\n"                  /* 5 */
     "type = stripe\n",                   /* 6 */
     0, 0},
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    JD_REQUIRE(f != NULL, "cannot write %s", path);
    fputs(text, f);
    JD_REQUIRE(fclose(f) == 0, "cannot write %s", path);
}

static int run_check(const char *conf, char *out, size_t outlen)
{
    char *argv[] = {(char *)(uintptr_t)jd_binary(), "--check-config", "-c", (char *)(uintptr_t)conf,
                    NULL};
    int st = jd_run_capture(argv, out, outlen, 30);
    JD_REQUIRE(st >= 0, "--check-config -c %s did not finish within 30 s", conf);
    return st;
}

int main(void)
{
    jd_setup("check_config", 120, 0);
    char path[JD_PATH_MAX], out[8192], want[JD_PATH_MAX + 32];

    snprintf(path, sizeof path, "%s/good.conf", jd_tmpdir());
    write_file(path, good_conf);
    int st = run_check(path, out, sizeof out);
    JD_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "good config: want exit 0, got status 0x%x; output:\n%s", (unsigned)st, out);
    jd_note("good config: exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        snprintf(path, sizeof path, "%s/bad%zu.conf", jd_tmpdir(), i);
        write_file(path, c->text);
        st = run_check(path, out, sizeof out);
        int failed = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        JD_EXPECT(failed, "%s: --check-config exited 0, want non-zero; output:\n%s", c->what, out);
        JD_EXPECT(!WIFSIGNALED(st), "%s: --check-config died of signal %d; output:\n%s", c->what,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0, out);
        if (c->line > 0) {
            snprintf(want, sizeof want, "%s:%d:", path, c->line);
            int has = strstr(out, want) != NULL;
            if (c->line_strict)
                JD_EXPECT(has, "%s: output does not contain \"%s\"; output:\n%s", c->what, want,
                          out);
            else if (!has)
                jd_note("NOTE %s: output lacks \"%s\" (not required): %s", c->what, want, out);
        }
        jd_note("%s: exit %d, output: %.300s", c->what, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    }

    snprintf(path, sizeof path, "%s/does-not-exist.conf", jd_tmpdir());
    st = run_check(path, out, sizeof out);
    JD_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) != 0,
              "missing file: want a non-zero exit, got status 0x%x; output:\n%s", (unsigned)st,
              out);
    JD_EXPECT(strstr(out, "does-not-exist.conf") != NULL,
              "missing file: the message does not name the file; output:\n%s", out);

    return jd_finish();
}
