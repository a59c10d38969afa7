/*
 * `journeyd init`: writes DIR/journeyd.conf and the credential files the systemd unit's
 * LoadCredential= lines load (DIR/api_tokens, DIR/stripe, DIR/website, DIR/app), each
 * secret fresh from RAND_bytes, then prints what goes where at each provider.
 *
 * It never overwrites an operator's work: a credential file that exists refuses the whole
 * run, and so does a journeyd.conf unless it is still the installed example (it holds the
 * CHANGE-ME placeholder, which cannot run anyway). Everything is checked before anything
 * is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "init.h"

#define INIT_PATH_MAX 4096
/* 24 random bytes: 192 bits, as hex 48 characters (the config wants 16+). */
#define INIT_SECRET_BYTES 24
#define INIT_SECRET_HEX (2 * INIT_SECRET_BYTES + 1)

/* Credential names: the unit's LoadCredential=<name>:/etc/journeyd/<name>, and the
 * config's <key>_file = <name> (relative: $CREDENTIALS_DIRECTORY under systemd, else next
 * to the config file, which is where init puts them). */
static const char *const cred_names[] = {"api_tokens", "stripe", "website", "app"};
#define INIT_NCREDS (sizeof(cred_names) / sizeof(cred_names[0]))

static const char init_conf[] =
    "# Written by `journeyd init`. Every key, its default and its use: journeyd.conf.example\n"
    "# beside this file, journeyd.conf(5), or `journeyd --help-config`.\n"
    "#\n"
    "# Secrets are not in this file: each *_file below names a credential file next to it\n"
    "# (mode 0600), which the systemd unit hands over with LoadCredential=.\n"
    "\n"
    "[journeyd]\n"
    "# Keep it on loopback, behind a TLS-terminating proxy (docs/running.md).\n"
    "listen = 127.0.0.1:8080\n"
    "redis = 127.0.0.1:6379\n"
    "# read:<token>, write:<token>, admin:<token> (docs/api.md)\n"
    "api_tokens_file = api_tokens\n"
    "\n"
    "# Stripe generates its own signing secret: put it (whsec_...) in the file `stripe`.\n"
    "[source stripe]\n"
    "type = stripe\n"
    "secret_file = stripe\n"
    "\n"
    "# The website's backend signs each form post with this secret.\n"
    "[source website]\n"
    "type = form\n"
    "auth = hmac\n"
    "secret_file = website\n"
    "\n"
    "# The product's backend sends this secret as its bearer token.\n"
    "[source app]\n"
    "type = events\n"
    "secret_file = app\n";

static int fresh_secret(char out[INIT_SECRET_HEX])
{
    unsigned char b[INIT_SECRET_BYTES];
    if (RAND_bytes(b, (int)sizeof(b)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(b); i++)
        if (snprintf(out + 2 * i, 3, "%02x", b[i]) != 2)
            return -1;
    return 0;
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
    int w = snprintf(out, len, "%s/%s", dir, name);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* 1 when the file holds the example's placeholder marker (it was never edited into a
 * working config), 0 when not, -1 on a read error. */
static int holds_placeholder(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, "CHANGE-ME") != NULL;
    int err = ferror(f);
    if (fclose(f) != 0 || err)
        return -1;
    return found;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* O_EXCL: a file that appeared since the check is still never overwritten. */
static int write_new(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    /* open's mode is filtered by the umask; 0600 must be 0600 whatever it is. */
    if (fchmod(fd, mode) != 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        int e = errno;
        (void)close(fd);
        (void)unlink(path);
        errno = e;
        return -1;
    }
    return close(fd);
}

static void usage(FILE *out)
{
    fputs("usage: journeyd init [--dir DIR]   (DIR defaults to /etc/journeyd)\n", out);
}

int jd_init_main(int argc, char **argv)
{
    const char *dir = "/etc/journeyd";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strncmp(argv[i], "--dir=", 6) == 0)
            dir = argv[i] + 6;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!*dir) {
        usage(stderr);
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "journeyd init: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }

    char conf[INIT_PATH_MAX], tmp[INIT_PATH_MAX], cred[INIT_NCREDS][INIT_PATH_MAX];
    if (join(conf, sizeof(conf), dir, "journeyd.conf") ||
        join(tmp, sizeof(tmp), dir, ".journeyd.conf.init")) {
        fprintf(stderr, "journeyd init: directory name too long\n");
        return 1;
    }
    int refused = 0;
    for (size_t i = 0; i < INIT_NCREDS; i++) {
        if (join(cred[i], sizeof(cred[i]), dir, cred_names[i])) {
            fprintf(stderr, "journeyd init: directory name too long\n");
            return 1;
        }
        if (access(cred[i], F_OK) == 0 || errno != ENOENT) {
            fprintf(stderr, "journeyd init: %s exists; not overwriting it\n", cred[i]);
            refused = 1;
        }
    }
    int replace_conf = 0;
    if (access(conf, F_OK) == 0) {
        int ph = holds_placeholder(conf);
        if (ph < 0) {
            fprintf(stderr, "journeyd init: cannot read %s: %s\n", conf, strerror(errno));
            return 1;
        }
        if (!ph) {
            fprintf(stderr,
                    "journeyd init: %s exists and is not the placeholder example; "
                    "not overwriting it\n",
                    conf);
            refused = 1;
        }
        replace_conf = 1;
    } else if (errno != ENOENT) {
        fprintf(stderr, "journeyd init: cannot check %s: %s\n", conf, strerror(errno));
        return 1;
    }
    if (refused) {
        fputs("journeyd init: nothing written (move those files away to start over)\n", stderr);
        return 1;
    }

    char sec[INIT_NCREDS + 2][INIT_SECRET_HEX];
    for (size_t i = 0; i < INIT_NCREDS + 2; i++) {
        if (fresh_secret(sec[i]) != 0) {
            fputs("journeyd init: no random bytes (RAND_bytes failed)\n", stderr);
            return 1;
        }
    }
    /* api_tokens: one token per scope (sec[0], and the two extra ones). */
    char text[INIT_NCREDS][3 * INIT_SECRET_HEX + 32];
    if (snprintf(text[0], sizeof(text[0]), "read:%s, write:%s, admin:%s\n", sec[0],
                 sec[INIT_NCREDS], sec[INIT_NCREDS + 1]) >= (int)sizeof(text[0]))
        return 1;
    for (size_t i = 1; i < INIT_NCREDS; i++)
        if (snprintf(text[i], sizeof(text[i]), "%s\n", sec[i]) >= (int)sizeof(text[i]))
            return 1;
    for (size_t i = 0; i < INIT_NCREDS; i++) {
        if (write_new(cred[i], text[i], 0600) != 0) {
            fprintf(stderr, "journeyd init: cannot write %s: %s\n", cred[i], strerror(errno));
            for (size_t j = 0; j < i; j++)
                (void)unlink(cred[j]);
            return 1;
        }
    }
    /* The config holds no secret; the daemon's user must be able to read it. */
    (void)unlink(tmp);
    if (write_new(tmp, init_conf, 0644) != 0 || rename(tmp, conf) != 0) {
        fprintf(stderr, "journeyd init: cannot write %s: %s\n", conf, strerror(errno));
        (void)unlink(tmp);
        for (size_t j = 0; j < INIT_NCREDS; j++)
            (void)unlink(cred[j]);
        return 1;
    }
    OPENSSL_cleanse(sec, sizeof(sec));
    OPENSSL_cleanse(text, sizeof(text));

    printf("journeyd init: %s %s\n", replace_conf ? "replaced the placeholder" : "wrote", conf);
    printf("journeyd init: wrote %s/{api_tokens,stripe,website,app} (mode 0600)\n\n", dir);
    printf("Below, https://HOST is the public address of your TLS proxy in front of journeyd\n"
           "(docs/running.md). At each provider:\n\n"
           "  Stripe   Dashboard > Developers > Webhooks > Add endpoint\n"
           "           URL: https://HOST/hooks/stripe\n"
           "           Stripe then shows the endpoint's signing secret (whsec_...): write it\n"
           "           into %s/stripe, replacing the random value there.\n\n"
           "  Website  your site's backend posts forms to https://HOST/hooks/website with\n"
           "           X-Journeyd-Signature: sha256=<hex HMAC-SHA256 of the body>, keyed with\n"
           "           the secret in %s/website.\n\n"
           "  App      your product's backend posts events to https://HOST/hooks/app with\n"
           "           Authorization: Bearer <the secret in %s/app>.\n\n"
           "  API      %s/api_tokens holds one token per scope (read:, write:, admin:);\n"
           "           give each client the least it needs: Authorization: Bearer <token>.\n\n"
           "Check with `journeyd --check-config -c %s`, then `systemctl restart journeyd`\n"
           "(credential files are read at start).\n",
           dir, dir, dir, dir, conf);
    return 0;
}
