/* What clients send, checked as a bank would: phones, ID numbers, dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static void phone_ok(const char *in, const char *want)
{
    char out[32];
    const char *why = validate_phone(in, out, sizeof out);
    if (why)
        fail_msg("'%s' refused: %s", in, why);
    assert_string_equal(out, want);
}

static void phone_bad(const char *in)
{
    char out[32];
    const char *why = validate_phone(in, out, sizeof out);
    if (!why)
        fail_msg("'%s' accepted as '%s'", in, out);
}

static void test_phones(void **state)
{
    (void)state;
    phone_ok("13800138000", "13800138000");
    phone_ok("138-0013-8000", "13800138000");
    phone_ok("138 0013 8000", "13800138000");
    phone_ok("19912345678", "19912345678");
    phone_ok("021-62345678", "02162345678");
    phone_ok("(010) 6552 9988", "01065529988");
    phone_ok("0755-2345678", "07552345678");
    phone_ok("0571 87654321", "057187654321");
    phone_ok("021-62345678-801", "02162345678-801");
    phone_ok("021-62345678 ext 801", "02162345678-801");
    phone_ok("021-62345678转801", "02162345678-801");
    phone_ok("0512-62345678#12", "051262345678-12");
    phone_ok("400-810-8888", "4008108888");
    phone_ok("+86 138-0013-8000", "+8613800138000");
    phone_ok("+86 21 62345678", "+862162345678");
    phone_ok("0086 13800138000", "+8613800138000");
    phone_ok("+1 415 555 2671", "+14155552671");
    phone_ok("+44 20 7946 0958", "+442079460958");
    /* the cases and their kin */
    phone_bad("12345");
    phone_bad("00000000000");
    phone_bad("11000000000");   /* no 11x mobiles */
    phone_bad("1380013800");    /* 10 digits */
    phone_bad("138001380001");  /* 12 digits */
    phone_bad("12345678");      /* a local number without area code */
    phone_bad("021-1234567890");
    phone_bad("000-12345678");  /* no country code 0 */
    phone_bad("021-01234567");  /* a local number never begins with 0 */
    phone_bad("+86 12345");
    phone_bad("+1 234");        /* too short for E.164 */
    phone_bad("+1234567890123456"); /* 16 digits */
    phone_bad("021-12345678 ext 1234567");
    phone_bad("13800138000abc");
    phone_bad("");
}

static void id_ok(const char *in, const char *want)
{
    char out[64];
    const char *why = validate_id_number(in, out, sizeof out);
    if (why)
        fail_msg("'%s' refused: %s", in, why);
    assert_string_equal(out, want);
}

static void id_bad(const char *in)
{
    char out[64];
    const char *why = validate_id_number(in, out, sizeof out);
    if (!why)
        fail_msg("'%s' accepted as '%s'", in, out);
}

static void test_id_numbers(void **state)
{
    (void)state;
    id_ok("11010519491231002X", "11010519491231002X");
    id_ok("11010519491231002x", "11010519491231002X");
    id_ok("310101199001011234", "310101199001011234");
    id_ok("810000199001011230", "810000199001011230"); /* a Hong Kong resident's permit */
    id_ok("911011199001011234", "911011199001011234"); /* a foreigner's permanent residence card */
    id_ok("310101900101123", "310101199001011234");    /* first generation, stored as its 18-digit form */
    id_ok("P12345678", "P12345678");                   /* a passport */
    id_ok("91310115MA1K4ABC2X", "91310115MA1K4ABC2X"); /* a credit code: not a resident ID */
    id_ok("12345678", "12345678");                     /* a short foreign document number */
    id_bad("310101199001011235");   /* wrong check digit */
    id_bad("00000019900101123X");   /* right check digit, region 000000 */
    id_bad("990101199001011230");   /* no province 99 */
    id_bad("310101209901011236");   /* born in 2099 */
    id_bad("310101199002301233");   /* 30 February */
    id_bad("310101189901011230");   /* before 1900 */
    id_bad("31010119900101123");    /* 17 digits */
    id_bad("3101011990010112345");  /* 19 characters */
    id_bad("31010119900101123X5");  /* 19 characters */
    id_bad("000000900101123");      /* first generation, region 000000 */
    id_bad("310101901301123");      /* first generation, month 13 */
    id_bad("1234");
}

static void test_birth(void **state)
{
    (void)state;
    assert_null(validate_birth("1990-01-01"));
    assert_null(validate_birth("1900-01-01"));
    assert_non_null(validate_birth("2099-01-01"));
    assert_non_null(validate_birth("1899-12-31"));
    assert_non_null(validate_birth("1990-02-30"));
    char today[11];
    validate_today(today);
    assert_null(validate_birth(today));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phones),
        cmocka_unit_test(test_id_numbers),
        cmocka_unit_test(test_birth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
