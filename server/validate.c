#include "validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *validate_phone(const char *in, char *out, size_t outsz)
{
    size_t n = 0, digits = 0;
    for (const char *p = in; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (isdigit(ch)) {
            if (n + 1 >= outsz)
                return "is too long";
            out[n++] = (char)ch;
            digits++;
        } else if (ch == '+' && n == 0) {
            out[n++] = '+';
        } else if (ch == ' ' || ch == '-' || ch == '(' || ch == ')' || ch == '.') {
            continue;
        } else {
            out[n] = 0;
            return "may hold only digits, a leading +, spaces, dashes, dots and parentheses";
        }
    }
    out[n] = 0;
    if (digits < 5)
        return "needs at least 5 digits";
    if (digits > 20)
        return "has more than 20 digits";
    return NULL;
}

const char *validate_email(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n > 254)
        return "is too long";
    if (!at || at == s || strchr(at + 1, '@'))
        return "is not an e-mail address (name@domain)";
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == 0)
        return "is not an e-mail address (name@domain)";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return "must not contain spaces, commas or angle brackets";
    return NULL;
}

static int atoi_n(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

const char *validate_date(const char *s)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return "is not a date (YYYY-MM-DD)";
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return "is not a date (YYYY-MM-DD)";
    int y = atoi_n(s, 4), m = atoi_n(s + 5, 2), d = atoi_n(s + 8, 2);
    if (m < 1 || m > 12 || d < 1 || d > days[m - 1] + (m == 2 && leap(y)))
        return "is not a real date";
    if (y < 1900 || y > 2100)
        return "must be between 1900 and 2100";
    return NULL;
}

const char *validate_id_number(const char *in, char *out, size_t outsz)
{
    size_t n = strlen(in);
    if (n < 5 || n > 30)
        return "must have 5 to 30 characters";
    if (n + 1 > outsz)
        return "is too long";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (!isalnum(ch) && ch != '-')
            return "may hold only letters, digits and dashes";
        out[i] = (char)toupper(ch);
    }
    out[n] = 0;
    /* PRC resident identity card (GB 11643-1999): 17 digits and a check character */
    int all_digits = 1;
    for (size_t i = 0; i < 17 && n == 18; i++)
        all_digits &= isdigit((unsigned char)out[i]) != 0;
    if (n == 18 && all_digits) {
        static const int weight[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
        static const char check[] = "10X98765432";
        int sum = 0;
        for (int i = 0; i < 17; i++)
            sum += (out[i] - '0') * weight[i];
        if (out[17] != check[sum % 11])
            return "has a wrong check digit (18-digit resident ID)";
    }
    return NULL;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static const char *check_text(const char *s, size_t max_chars, int multiline)
{
    size_t n = strlen(s);
    if (n == 0)
        return NULL;
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
        return "must not begin or end with spaces";
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && !(multiline && (ch == '\n' || ch == '\t' || ch == '\r'))) || ch == 0x7f)
            return "must not contain control characters";
    }
    if (utf8_chars(s) > max_chars)
        return "is too long";
    return NULL;
}

const char *validate_line(const char *s, size_t max_chars)
{
    return check_text(s, max_chars, 0);
}

const char *validate_text(const char *s, size_t max_chars)
{
    return check_text(s, max_chars, 1);
}

const char *validate_date_loose(const char *in, char out[11])
{
    unsigned y = 0, m = 0, d = 0;
    int ny = 0, nm = 0, nd = 0;
    const char *p = in;
    for (; isdigit((unsigned char)*p) && ny < 4; p++, ny++)
        y = y * 10 + (unsigned)(*p - '0');
    char sep = *p;
    if (ny != 4 || (sep != '-' && sep != '/' && sep != '.'))
        return "is not a date (YYYY-MM-DD)";
    for (p++; isdigit((unsigned char)*p) && nm < 2; p++, nm++)
        m = m * 10 + (unsigned)(*p - '0');
    if (nm == 0 || *p != sep)
        return "is not a date (YYYY-MM-DD)";
    for (p++; isdigit((unsigned char)*p) && nd < 2; p++, nd++)
        d = d * 10 + (unsigned)(*p - '0');
    if (nd == 0 || (*p && *p != ' ' && *p != 'T'))
        return "is not a date (YYYY-MM-DD)";
    snprintf(out, 11, "%04u-%02u-%02u", y % 10000u, m % 100u, d % 100u);
    return validate_date(out);
}

const char *validate_money(const char *in, int64_t *minor)
{
    char digits[64];
    size_t n = 0;
    int neg = 0, seen_digit = 0, decimals = -1;
    const char *p = in;
    while (*p == ' ')
        p++;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    /* a currency sign: ¥ (U+00A5) or ￥ (U+FFE5) */
    if ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA5)
        p += 2;
    else if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBF && (unsigned char)p[2] == 0xA5)
        p += 3;
    if (!neg && *p == '-') {
        neg = 1;
        p++;
    }
    for (; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= sizeof digits)
                return "is too large";
            digits[n++] = *p;
            seen_digit = 1;
            if (decimals >= 0 && ++decimals > 2)
                return "has more than 2 decimals";
        } else if (*p == '.' && decimals < 0 && seen_digit) {
            decimals = 0;
        } else if ((*p == ',' || *p == ' ') && decimals < 0 && seen_digit) {
            continue; /* thousands separators */
        } else {
            return "is not an amount (like 1234.50)";
        }
    }
    if (!seen_digit || decimals == 0)
        return "is not an amount (like 1234.50)";
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return "is too large";
        v = v * 10 + (digits[i] - '0');
    }
    for (int k = decimals < 0 ? 0 : decimals; k < 2; k++) {
        if (v > INT64_MAX / 10)
            return "is too large";
        v *= 10;
    }
    if (v >= 1000000000000000LL)
        return "is too large";
    *minor = neg ? -v : v;
    return NULL;
}

void validate_today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}
