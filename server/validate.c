#include "validate.h"

#include "i18n.h" /* N_: the details kehud words in the client's language (tr.c) */

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- phones
 *
 * What a bank accepts (docs/security.md, "Input validation"):
 *   mainland mobile   11 digits, 1[3-9]xxxxxxxxx
 *   mainland landline an area code (010, 02x, or 0 and three digits from 0300
 *                     up) and a local number of 7 or 8 digits not beginning
 *                     with 0; an extension of 1 to 6 digits after "-",
 *                     a space, "ext", "x", "#" or "转" (as the last group)
 *   service numbers   400 and 800 numbers, 10 digits
 *   international     "+" (or "00") and a country code; +86 must be followed
 *                     by a mainland number as above (without the landline's
 *                     0); other countries 8 to 15 digits in all (E.164)
 * The normal form keeps the digits (and the leading "+"); an extension
 * follows after "-": 02112345678-801. */

static int mainland_mobile(const char *d, size_t n)
{
    return n == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9';
}

/* d begins with the area code's 0 */
static int mainland_landline(const char *d, size_t n)
{
    if (n < 3 || d[0] != '0')
        return 0;
    size_t area;
    if (d[1] == '1')
        area = d[2] == '0' ? 3 : 0; /* 010 is the only 01x */
    else if (d[1] == '2')
        area = 3;
    else if (d[1] >= '3' && d[1] <= '9')
        area = 4;
    else
        area = 0;
    if (!area || n < area)
        return 0;
    size_t local = n - area;
    return (local == 7 || local == 8) && d[area] != '0';
}

static int service_number(const char *d, size_t n)
{
    return n == 10 && (d[0] == '4' || d[0] == '8') && d[1] == '0' && d[2] == '0';
}

static int mainland_number(const char *d, size_t n)
{
    return mainland_mobile(d, n) || mainland_landline(d, n) || service_number(d, n);
}

const char *validate_phone(const char *in, char *out, size_t outsz)
{
    char d[64];            /* the number's digits */
    size_t n = 0, ext_at = 0; /* d[ext_at..n) the extension when ext_at > 0 */
    size_t last_group = 0; /* where the last group of digits began */
    int plus = 0, in_group = 0, groups = 0, marker = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (isdigit(*p)) {
            if (n + 1 >= sizeof d)
                return N_("is too long");
            if (!in_group) {
                last_group = n;
                groups++;
                in_group = 1;
            }
            d[n++] = (char)*p;
            continue;
        }
        in_group = 0;
        if (*p == '+' && n == 0 && !plus) {
            plus = 1;
        } else if (*p == ' ' || *p == '-' || *p == '(' || *p == ')' || *p == '.') {
            continue;
        } else if (!marker && n > 0 &&
                   (*p == '#' || *p == 'x' || *p == 'X' || strncasecmp((const char *)p, "ext", 3) == 0 ||
                    strncmp((const char *)p, "\xE8\xBD\xAC", 3) == 0 /* 转 */)) {
            marker = 1;
            ext_at = n;
            if (strncasecmp((const char *)p, "ext", 3) == 0)
                p += p[3] == '.' ? 3 : 2;
            else if (*p == 0xE8)
                p += 2;
        } else {
            return N_("may hold only digits, a leading +, spaces, dashes, dots, parentheses and an extension (ext 801)");
        }
    }
    if (marker && (n == ext_at || n - ext_at > 6))
        return N_("has an extension that is not 1 to 6 digits");
    size_t main_n = marker ? ext_at : n;
    if (main_n < 5)
        return N_("needs at least 5 digits");
    const char *num = d;
    size_t len = main_n;
    int intl = plus;
    if (!intl && len > 2 && d[0] == '0' && d[1] == '0') { /* 00 is the international prefix */
        intl = 1;
        num += 2;
        len -= 2;
    }
    int ok;
    if (intl) {
        if (len >= 2 && num[0] == '8' && num[1] == '6') {
            /* +86: the mainland number, a landline without its 0 */
            char national[64];
            national[0] = '0';
            memcpy(national + 1, num + 2, len - 2);
            ok = mainland_mobile(num + 2, len - 2) || mainland_landline(national, len - 1) ||
                 service_number(num + 2, len - 2);
            if (!ok)
                return N_("is not a mainland number after +86 (a mobile 1[3-9] and 9 digits, or an area code without"
                          " its 0 and 7 or 8 digits)");
        } else if (len < 8 || len > 15 || num[0] == '0') {
            return N_("is not an international number (+, a country code and 8 to 15 digits in all)");
        }
    } else {
        ok = mainland_number(num, len);
        if (!ok && !marker && groups > 1 && n - last_group <= 6 && last_group > (size_t)(num - d) &&
            mainland_landline(num, last_group - (size_t)(num - d))) {
            ext_at = last_group; /* 021-12345678-801: the last group is an extension */
            len = last_group - (size_t)(num - d);
            marker = 1;
            ok = 1;
        }
        if (!ok) {
            if (num[0] == '1')
                return N_("is not a mobile number (11 digits beginning 13 to 19)");
            if (num[0] == '0')
                return N_("is not a landline number (an area code 0xx or 0xxx, then 7 or 8 digits)");
            if (len == 7 || len == 8)
                return N_("needs its area code (0xx or 0xxx)");
            return N_("is not a phone number (a mobile, a landline with its area code, or + and a country code)");
        }
    }
    int w = snprintf(out, outsz, "%s%.*s%s%.*s", intl ? "+" : "", (int)len, num, marker ? "-" : "",
                     marker ? (int)(n - ext_at) : 0, marker ? d + ext_at : "");
    if (w < 0 || (size_t)w >= outsz)
        return N_("is too long");
    return NULL;
}

const char *validate_email(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n > 254)
        return N_("is too long");
    if (!at || at == s || strchr(at + 1, '@'))
        return N_("is not an e-mail address (name@domain)");
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == 0)
        return N_("is not an e-mail address (name@domain)");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return N_("must not contain spaces, commas or angle brackets");
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
        return N_("is not a date (YYYY-MM-DD)");
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return N_("is not a date (YYYY-MM-DD)");
    int y = atoi_n(s, 4), m = atoi_n(s + 5, 2), d = atoi_n(s + 8, 2);
    if (m < 1 || m > 12 || d < 1 || d > days[m - 1] + (m == 2 && leap(y)))
        return N_("is not a real date");
    if (y < 1900 || y > 2100)
        return N_("must be between 1900 and 2100");
    return NULL;
}

/* ---- ID numbers
 *
 * The field holds a PRC resident ID, a registration number (unified social
 * credit code) or a foreign document. What is only digits (and perhaps a
 * final X) from 14 to 20 characters, or begins with 17 digits, is taken for
 * a resident ID and must be one (GB 11643-1999): 18 characters, the first two a province code (or 9
 * and a province: the foreigner's permanent residence card; 81 to 83:
 * residence permits of Hong Kong, Macao and Taiwan residents), the region
 * not 000000, a real birth date from 1900 to today, the check character. A
 * 15-digit first-generation number (19YYMMDD inside) is accepted when its
 * region and date are sound and stored as its 18-digit form, as the two
 * generations are the same person. Anything else keeps the loose rule. */

static int province_code(int p)
{
    static const int codes[] = { 11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44,
                                 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83 };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i] == p)
            return 1;
    return 0;
}

static char id_check_char(const char *d17)
{
    static const int weight[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
    static const char check[] = "10X98765432";
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (d17[i] - '0') * weight[i];
    return check[sum % 11];
}

/* An 18-character resident ID in upper case: NULL or what is wrong. */
static const char *resident_id(const char *id)
{
    for (int i = 0; i < 17; i++)
        if (!isdigit((unsigned char)id[i]))
            return N_("is not a resident ID number (17 digits and a check digit or X)");
    if (!isdigit((unsigned char)id[17]) && id[17] != 'X')
        return N_("is not a resident ID number (17 digits and a check digit or X)");
    int p = atoi_n(id, 2);
    if (!(province_code(p) || (id[0] == '9' && province_code(atoi_n(id + 1, 2)))))
        return N_("has a region code that does not exist (resident ID: the first digits are the province)");
    char date[11];
    snprintf(date, sizeof date, "%.4s-%.2s-%.2s", id + 6, id + 10, id + 12);
    if (validate_birth(date))
        return N_("has a birth date that is not real, in the future or before 1900 (resident ID: digits 7 to 14)");
    if (id[17] != id_check_char(id))
        return N_("has a wrong check digit (18-digit resident ID)");
    return NULL;
}

const char *validate_id_number(const char *in, char *out, size_t outsz)
{
    size_t n = strlen(in);
    if (n < 5 || n > 30)
        return N_("must have 5 to 30 characters");
    if (n + 1 > outsz || outsz < 19)
        return N_("is too long");
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (!isalnum(ch) && ch != '-')
            return N_("may hold only letters, digits and dashes");
        out[i] = (char)toupper(ch);
        digits += isdigit(ch) != 0;
    }
    out[n] = 0;
    int resident = n >= 14 && n <= 20 && (digits == n || (digits == n - 1 && out[n - 1] == 'X'));
    if (n >= 17 && !resident) { /* begins with 17 digits: a resident ID, mistyped at its end */
        resident = 1;
        for (size_t i = 0; i < 17; i++)
            resident &= isdigit((unsigned char)out[i]) != 0;
    }
    if (!resident)
        return NULL;
    if (n == 15 && digits == 15) { /* first generation: region, YYMMDD, sequence */
        char up[19];
        snprintf(up, sizeof up, "%.6s19%.9s", out, out + 6);
        up[17] = id_check_char(up);
        up[18] = 0;
        const char *why = resident_id(up);
        if (why)
            return why;
        memcpy(out, up, 19);
        return NULL;
    }
    if (n != 18)
        return N_("is not a resident ID number: it has 18 characters (or 15 digits for a first-generation card)");
    return resident_id(out);
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
        return N_("must not begin or end with spaces");
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && !(multiline && (ch == '\n' || ch == '\t' || ch == '\r'))) || ch == 0x7f)
            return N_("must not contain control characters");
    }
    if (utf8_chars(s) > max_chars)
        return N_("is too long");
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
        return N_("is not a date (YYYY-MM-DD)");
    for (p++; isdigit((unsigned char)*p) && nm < 2; p++, nm++)
        m = m * 10 + (unsigned)(*p - '0');
    if (nm == 0 || *p != sep)
        return N_("is not a date (YYYY-MM-DD)");
    for (p++; isdigit((unsigned char)*p) && nd < 2; p++, nd++)
        d = d * 10 + (unsigned)(*p - '0');
    if (nd == 0 || (*p && *p != ' ' && *p != 'T'))
        return N_("is not a date (YYYY-MM-DD)");
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
                return N_("is too large");
            digits[n++] = *p;
            seen_digit = 1;
            if (decimals >= 0 && ++decimals > 2)
                return N_("has more than 2 decimals");
        } else if (*p == '.' && decimals < 0 && seen_digit) {
            decimals = 0;
        } else if ((*p == ',' || *p == ' ') && decimals < 0 && seen_digit) {
            continue; /* thousands separators */
        } else {
            return N_("is not an amount (like 1234.50)");
        }
    }
    if (!seen_digit || decimals == 0)
        return N_("is not an amount (like 1234.50)");
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return N_("is too large");
        v = v * 10 + (digits[i] - '0');
    }
    for (int k = decimals < 0 ? 0 : decimals; k < 2; k++) {
        if (v > INT64_MAX / 10)
            return N_("is too large");
        v *= 10;
    }
    if (v >= 1000000000000000LL)
        return N_("is too large");
    *minor = neg ? -v : v;
    return NULL;
}

const char *validate_birth(const char *s)
{
    const char *why = validate_date(s);
    if (why)
        return why;
    char today[11];
    validate_today(today);
    if (strcmp(s, today) > 0)
        return N_("must not be in the future");
    return NULL;
}

void validate_today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}
