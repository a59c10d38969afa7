/*
 * What Meta's and Google's uploads share: SHA-256 hex, each platform's normalization of
 * personal data before hashing, the consent predicate and exact decimal amounts.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ads.h"
#include "common.h"

int dst_sha256_hex(const void *p, size_t len, char out[DST_HASH_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!p || EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    cx_hex_encode(md, mdlen, out);
    return 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The span of in without leading and trailing ASCII whitespace; -1 when empty or longer
 * than cap allows. */
static int trimmed(const char *in, size_t cap, const char **start, size_t *len)
{
    size_t n, s = 0;

    if (!in || cap == 0)
        return -1;
    n = strnlen(in, cap);
    if (n == cap)
        return -1;
    while (s < n && is_space((unsigned char)in[s]))
        s++;
    while (n > s && is_space((unsigned char)in[n - 1]))
        n--;
    if (n == s)
        return -1;
    *start = in + s;
    *len = n - s;
    return 0;
}

static char lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int dst_meta_norm_email(const char *in, char *out, size_t cap)
{
    const char *s;
    size_t len, i;

    /* Meta: "Trim any leading and trailing spaces. Convert all characters to lowercase."
     * The address must still look like one: one '@' with text on both sides. */
    if (trimmed(in, cap, &s, &len) != 0 || !cx_utf8_valid((const unsigned char *)s, len))
        return -1;
    {
        const char *at = memchr(s, '@', len);
        if (!at || at == s || at == s + len - 1 || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
            return -1;
    }
    for (i = 0; i < len; i++)
        out[i] = lower_ascii(s[i]);
    out[len] = '\0';
    return 0;
}

int dst_meta_norm_phone(const char *in, char *out, size_t cap)
{
    size_t i, n = 0, len;
    const char *s;

    /* Meta: "Remove symbols, letters, and any leading zeros"; the country code must be
     * there. The Business SDK accepts 7–15 digits after that. */
    if (trimmed(in, 64, &s, &len) != 0)
        return -1;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c < '0' || c > '9')
            continue;
        if (n == 0 && c == '0')
            continue;
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    if (n < 7 || n > 15)
        return -1;
    out[n] = '\0';
    return 0;
}

static int ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

int dst_meta_norm_name(const char *in, char *out, size_t cap)
{
    const char *s;
    size_t len, i, n = 0;

    /* Meta: "Lowercase only with no punctuation. If using special characters, the text
     * must be encoded in UTF-8." ASCII letters are lowered, and so are Latin-1's capitals
     * (À–Þ but ×: U+00C0–U+00DE are two bytes C3 80–9E, their small forms C3 A0–BE), the
     * letters of European names; other scripts pass unchanged as UTF-8 ("정"). */
    if (trimmed(in, cap, &s, &len) != 0 || !cx_utf8_valid((const unsigned char *)s, len))
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ascii_punct(c))
            continue;
        if (c == 0xc3 && i + 1 < len) {
            unsigned char d = (unsigned char)s[i + 1];
            if (d >= 0x80 && d <= 0x9e && d != 0x97)
                d = (unsigned char)(d + 0x20);
            out[n++] = (char)c;
            out[n++] = (char)d;
            i++;
            continue;
        }
        out[n++] = lower_ascii((char)c);
    }
    /* Punctuation removed may leave spaces at an end ("Jr. ." → "jr "). */
    while (n > 0 && out[n - 1] == ' ')
        n--;
    if (n == 0)
        return -1;
    out[n] = '\0';
    return 0;
}

int dst_google_norm_email(const char *in, char *out, size_t cap)
{
    const char *s, *at;
    size_t len, i, n = 0, user_len;
    int google;

    if (trimmed(in, cap, &s, &len) != 0 || !cx_utf8_valid((const unsigned char *)s, len))
        return -1;
    for (i = 0; i < len; i++)
        if (is_space((unsigned char)s[i]))
            return -1; /* Google: intermediate whitespace makes it invalid */
    at = memchr(s, '@', len);
    if (!at || at == s || at == s + len - 1 || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
        return -1;
    user_len = (size_t)(at - s);
    {
        char domain[256];
        size_t dl = len - user_len - 1;
        if (dl >= sizeof domain)
            return -1;
        for (i = 0; i < dl; i++)
            domain[i] = lower_ascii(at[1 + i]);
        domain[dl] = '\0';
        google = strcmp(domain, "gmail.com") == 0 || strcmp(domain, "googlemail.com") == 0;
    }
    for (i = 0; i < user_len; i++) {
        char c = lower_ascii(s[i]);
        if (google && c == '+')
            break; /* "user+tag@gmail.com" is user@gmail.com */
        if (google && c == '.')
            continue; /* Gmail ignores dots in the user part */
        out[n++] = c;
    }
    if (n == 0)
        return -1;
    for (i = user_len; i < len; i++)
        out[n++] = lower_ascii(s[i]);
    out[n] = '\0';
    return 0;
}

int dst_google_norm_phone(const char *in, char *out, size_t cap)
{
    size_t i, n = 1, len;
    const char *s;

    /* Google: "Include the plus sign (+) and the country code"; format.py keeps the
     * digits and prefixes '+'. */
    if (trimmed(in, 64, &s, &len) != 0 || cap < 2)
        return -1;
    out[0] = '+';
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            continue;
        if (n + 1 >= cap)
            return -1;
        out[n++] = s[i];
    }
    if (n < 7 || n > 16)
        return -1;
    out[n] = '\0';
    return 0;
}

static int refusing(const char *v)
{
    static const char *const no[] = {"no", "false", "0"};
    const char *s;
    size_t len, i, j;

    if (trimmed(v, 64, &s, &len) != 0)
        return 0;
    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (strlen(no[i]) != len)
            continue;
        for (j = 0; j < len && lower_ascii(s[j]) == no[i][j]; j++)
            ;
        if (j == len)
            return 1;
    }
    return 0;
}

int dst_consent_refused(const cJSON *attrs, const char *consent_field)
{
    const cJSON *v;

    if (!cJSON_IsObject(attrs) || !consent_field || !*consent_field)
        return 0;
    v = cJSON_GetObjectItemCaseSensitive(attrs, consent_field);
    if (cJSON_IsString(v))
        return refusing(v->valuestring);
    if (cJSON_IsFalse(v))
        return 1;
    if (cJSON_IsNumber(v))
        return v->valuedouble == 0.0;
    return 0;
}

int dst_facts_consent_refused(const cJSON *facts, const char *consent_field)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(facts, "consent_refused")))
        return 1;
    return dst_consent_refused(cJSON_GetObjectItemCaseSensitive(facts, "attributes"),
                               consent_field);
}

int dst_minor_to_decimal(int64_t minor, const char *currency, char *out, size_t cap)
{
    int exp = cx_currency_exponent(currency);
    int64_t div = 1, whole, frac;
    int i, n;

    if (minor < 0 || cap < 32)
        return -1;
    for (i = 0; i < exp; i++)
        div *= 10;
    whole = minor / div;
    frac = minor % div;
    if (exp == 0)
        n = snprintf(out, cap, "%lld", (long long)whole);
    else
        n = snprintf(out, cap, "%lld.%0*lld", (long long)whole, exp, (long long)frac);
    return (n > 0 && (size_t)n < cap) ? 0 : -1;
}
