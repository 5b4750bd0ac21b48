/* Unit tests for client/cli/dates.c: the relative dates of --due, --next,
 * --until. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dates.h"

static void expect_date(const char *s, int y, int m, int d, const char *want)
{
    char out[DATES_BUFSZ];
    assert_int_equal(dates_resolve(s, y, m, d, out), 0);
    assert_string_equal(out, want);
}

static void expect_bad(const char *s)
{
    char out[DATES_BUFSZ];
    assert_int_equal(dates_resolve(s, 2026, 12, 7, out), -1);
}

static void test_civil_round_trip(void **state)
{
    (void)state;
    assert_int_equal(dates_days(1970, 1, 1), 0);
    assert_int_equal(dates_days(2000, 3, 1), 11017);
    for (int64_t day = -800000; day < 800000; day += 37) {
        int y, m, d;
        dates_civil(day, &y, &m, &d);
        assert_int_equal(dates_days(y, m, d), day);
    }
}

static void test_forms(void **state)
{
    (void)state;
    /* 2026-12-07 is a Monday */
    expect_date("2027-02-28", 2026, 12, 7, "2027-02-28");
    expect_date("today", 2026, 12, 7, "2026-12-07");
    expect_date("tomorrow", 2026, 12, 31, "2027-01-01");
    expect_date("+0d", 2026, 12, 7, "2026-12-07");
    expect_date("+3d", 2028, 2, 27, "2028-03-01");
    expect_date("+2w", 2026, 12, 25, "2027-01-08");
    expect_date("next-monday", 2026, 12, 7, "2026-12-14");
    expect_date("next-tuesday", 2026, 12, 7, "2026-12-08");
    expect_date("next-sunday", 2026, 12, 7, "2026-12-13");
    expect_date("next-monday", 2026, 12, 13, "2026-12-14"); /* a Sunday */
    expect_date("next-saturday", 2026, 12, 13, "2026-12-19");
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = { "", "Today", "+d", "+3", "+3x", "+3dd", "-3d", "+ 3d", "+99999999d", "next-", "next-mon",
                          "monday", "2026-02-30", "2026-1-1", "+36601d" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
    char out[DATES_BUFSZ];
    assert_int_equal(dates_resolve("+2w", 9999, 12, 25, out), -1); /* past year 9999 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_round_trip),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
