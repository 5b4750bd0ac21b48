/* Search keys: built for real customers, then searched the way PostgreSQL
 * would (LIKE on search_text, @> on search_tokens), simulated here.
 *
 * With -DSEARCH_KEYS_TEST_OOM and the link options
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, a test also fails each
 * allocation of search_keys.c in turn (ICU's own are not wrapped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unicode/uclean.h>

#include "search_keys.h"

#ifdef SEARCH_KEYS_TEST_OOM
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long fail_countdown = -1;   /* fail when it reaches 0; -1: never */

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    return fail_countdown-- == 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}
#endif

/* ---- the database, simulated ---- */

/* s LIKE p, with LIKE's default escape character \ ; _ is one UTF-8 character. */
static int like(const char *s, const char *p)
{
    while (*p) {
        if (*p == '%') {
            p++;
            for (;;) {
                if (like(s, p))
                    return 1;
                if (!*s)
                    return 0;
                s++;
                while ((*s & 0xC0) == 0x80)
                    s++;
            }
        }
        if (!*s)
            return 0;
        if (*p == '_') {
            p++;
            s++;
            while ((*s & 0xC0) == 0x80)
                s++;
            continue;
        }
        if (*p == '\\' && p[1])
            p++;
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == 0;
}

static int has_token(const struct search_keys *k, const char *t)
{
    for (size_t i = 0; i < k->ntokens; i++)
        if (strcmp(k->tokens[i], t) == 0)
            return 1;
    return 0;
}

/* Whether WHERE (search_text LIKE $1 OR search_tokens @> ARRAY[$2]) finds k. */
static int found(const struct search_keys *k, const char *typed)
{
    struct search_keys_query q;
    if (search_keys_query(typed, &q) < 0)
        return 0;
    if ((q.modes & SEARCH_KEYS_BY_TEXT) && like(k->text, q.like))
        return 1;
    if ((q.modes & SEARCH_KEYS_BY_TOKEN) && has_token(k, q.token))
        return 1;
    return 0;
}

static void expect_found(const struct search_keys *k, const char *typed)
{
    if (!found(k, typed))
        fail_msg("\"%s\" does not find text \"%s\"", typed, k->text);
}

static void expect_not_found(const struct search_keys *k, const char *typed)
{
    if (found(k, typed))
        fail_msg("\"%s\" finds text \"%s\"", typed, k->text);
}

static void build_name(struct search_keys *k, const char *name, const char *company)
{
    struct search_keys_input in = { .name = name, .company = company };
    assert_int_equal(search_keys_build(&in, k), 0);
}

/* What every set of keys must satisfy. */
static void check_limits(const struct search_keys *k)
{
    assert_non_null(k->text);
    assert_true(k->ntokens <= SEARCH_KEYS_TOKENS_MAX);
    for (size_t i = 0; i < k->ntokens; i++) {
        size_t n = strlen(k->tokens[i]);
        assert_true(n > 0 && n <= SEARCH_KEYS_TOKEN_BYTES);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(k->tokens[i], k->tokens[j]);
    }
}

static int setup(void **state)
{
    (void)state;
    return search_keys_init();
}

static int teardown(void **state)
{
    (void)state;
    search_keys_shutdown();
    return 0;
}

/* ---- names ---- */

static void test_zhang_san(void **state)
{
    (void)state;
    struct search_keys k;
    build_name(&k, "张三", NULL);
    check_limits(&k);
    const char *yes[] = { "张", "三", "张三", "张 三", "zhangsan", "zhang", "san", "zhang san",
                          "Zhang San", "zs", "ZS", "ＺＳ", "  zs ", "zhangs", "z s" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    const char *no[] = { "李", "zhangsi", "张四", "ls", "sanzhang", "san zhang" };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        expect_not_found(&k, no[i]);
    assert_true(has_token(&k, "张"));
    assert_true(has_token(&k, "三"));
    assert_true(has_token(&k, "张三"));
    assert_true(has_token(&k, "zs"));
    assert_true(has_token(&k, "zhang"));
    assert_true(has_token(&k, "san"));
    assert_true(has_token(&k, "zhangsan"));
    assert_string_equal(k.text, "张三 | zhang san | zhangsan");
    search_keys_free(&k);
    assert_null(k.text);
    assert_null(k.tokens);
    search_keys_free(&k);
}

static void test_wang_xiao_ming(void **state)
{
    (void)state;
    struct search_keys k;
    build_name(&k, "王小明", NULL);
    check_limits(&k);
    const char *yes[] = { "王小明", "小明", "王小", "小", "wxm", "WXM", "wangxiaoming", "xiaoming",
                          "wang xiao ming", "xiao ming" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    expect_not_found(&k, "王明");   /* not adjacent */
    expect_not_found(&k, "wxn");
    search_keys_free(&k);
}

static void test_polyphonic_surnames(void **state)
{
    (void)state;
    struct search_keys k;
    build_name(&k, "曾小明", NULL);
    check_limits(&k);
    const char *yes[] = { "zengxiaoming", "zeng xiao ming", "cengxiaoming", "ceng xiao ming", "zxm",
                          "cxm", "zeng", "曾" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    expect_not_found(&k, "zxn");
    search_keys_free(&k);

    build_name(&k, "单田芳", NULL);
    expect_found(&k, "shantianfang");
    expect_found(&k, "dantianfang");
    expect_found(&k, "stf");
    expect_found(&k, "dtf");
    search_keys_free(&k);

    build_name(&k, "万俟咏", NULL);
    expect_found(&k, "moqiyong");
    expect_found(&k, "wanqiyong");
    expect_found(&k, "mqy");
    search_keys_free(&k);

    build_name(&k, "尉迟恭", NULL);
    expect_found(&k, "yuchigong");
    expect_found(&k, "weichigong");
    search_keys_free(&k);

    build_name(&k, "吕布", NULL);
    expect_found(&k, "lvbu");
    expect_found(&k, "lubu");
    search_keys_free(&k);

    /* Many polyphonic characters: variants stop at SEARCH_KEYS_VARIANTS_MAX,
     * the first characters first. */
    build_name(&k, "曾单仇朴查区翟", NULL);
    check_limits(&k);
    expect_found(&k, "zeng");
    expect_found(&k, "shan");
    expect_found(&k, "ceng dan chou pu cha qu di");
    size_t pieces = 1;
    for (const char *p = k.text; (p = strstr(p, " | ")) != NULL; p += 3)
        pieces++;
    assert_true(pieces <= 1 + 2 * (1 + SEARCH_KEYS_VARIANTS_MAX));
    search_keys_free(&k);
}

static void test_company(void **state)
{
    (void)state;
    struct search_keys k;
    build_name(&k, "张三", "重庆银行");
    check_limits(&k);
    const char *yes[] = { "chongqing", "重庆", "银行", "重", "重庆银行", "chongqingyinhang", "yin hang",
                          "chongqingyinxing", "cqyh", "张三" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    expect_not_found(&k, "庆银行张");
    expect_not_found(&k, "zscqyh");
    search_keys_free(&k);

    build_name(&k, NULL, "长沙 ABC Trading 有限公司");
    expect_found(&k, "changsha");
    expect_found(&k, "zhangsha");
    expect_found(&k, "abc");
    expect_found(&k, "trading");
    expect_found(&k, "有限");
    search_keys_free(&k);
}

static void test_latin_name(void **state)
{
    (void)state;
    struct search_keys k;
    build_name(&k, "John Smith", NULL);
    check_limits(&k);
    const char *yes[] = { "john", "smith", "js", "JS", "john smith", "John  Smith", "JOHN", "johnsmith",
                          "ohn sm" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    expect_not_found(&k, "jane");
    expect_not_found(&k, "sj");
    search_keys_free(&k);

    /* A name in both scripts. */
    build_name(&k, "李 Mary", NULL);
    expect_found(&k, "李");
    expect_found(&k, "mary");
    expect_found(&k, "lm");
    expect_found(&k, "li mary");
    search_keys_free(&k);
}

/* ---- the other fields ---- */

static void test_phone(void **state)
{
    (void)state;
    struct search_keys k;
    const char *phones[] = { "+86 138-0013-8000", "(010) 6552 9988" };
    struct search_keys_input in = { .name = "李四", .phones = phones, .nphones = 2 };
    assert_int_equal(search_keys_build(&in, &k), 0);
    check_limits(&k);
    const char *yes[] = { "0013", "13800138000", "138 0013", "138-0013-8000", "+86 138", "8613800138000",
                          "１３８００１３８０００", "65529988", "010 6552", "(010)" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    expect_not_found(&k, "13800138001");
    /* No match across two fields: the name's end and a phone's start. */
    expect_not_found(&k, "lisi86");
    expect_not_found(&k, "si 86");
    expect_not_found(&k, "四86");
    expect_not_found(&k, "800001065");
    /* One or two digits would match nearly everyone. */
    struct search_keys_query q;
    assert_int_equal(search_keys_query("13", &q), SEARCH_KEYS_ESHORT);
    assert_int_equal(search_keys_query("+8", &q), SEARCH_KEYS_ESHORT);
    search_keys_free(&k);
}

static void test_email_id_ext(void **state)
{
    (void)state;
    struct search_keys k;
    struct search_keys_input in = {
        .name = "张三",
        .email = "Zhang.San@Example.COM",
        .id_number = "11010519491231002X",
        .ext_ref = "CRM-2024/0007",
    };
    assert_int_equal(search_keys_build(&in, &k), 0);
    check_limits(&k);
    const char *yes[] = { "zhang.san@", "example.com", "EXAMPLE", "san@ex", "crm-2024", "2024/0007", "CRM" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        expect_found(&k, yes[i]);
    /* the ID number is stored encrypted: it must not sit in the search text
     * (kehud finds a whole number through its keyed hash instead) */
    expect_not_found(&k, "1231002X");
    expect_not_found(&k, "11010519491231002x");
    assert_null(strstr(k.text, "1101"));
    expect_not_found(&k, "example.org");
    search_keys_free(&k);
}

/* ---- queries ---- */

static void test_query_modes(void **state)
{
    (void)state;
    struct search_keys_query q;

    assert_int_equal(search_keys_query("张", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TOKEN);
    assert_string_equal(q.token, "张");

    assert_int_equal(search_keys_query(" ＺＳ ", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TOKEN);
    assert_string_equal(q.token, "zs");

    assert_int_equal(search_keys_query("张　三", &q), 0);   /* ideographic space */
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TOKEN);
    assert_string_equal(q.token, "张三");

    assert_int_equal(search_keys_query("王小明", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TEXT);
    assert_string_equal(q.like, "%王小明%");

    assert_int_equal(search_keys_query("WXM", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TEXT | SEARCH_KEYS_BY_TOKEN);
    assert_string_equal(q.like, "%wxm%");
    assert_string_equal(q.token, "wxm");

    assert_int_equal(search_keys_query("zhang  san", &q), 0);
    assert_string_equal(q.like, "%zhang san%");
    assert_string_equal(q.token, "zhangsan");

    assert_int_equal(search_keys_query("１３８", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TEXT);
    assert_string_equal(q.like, "%138%");

    assert_int_equal(search_keys_query("138 0013-8000", &q), 0);
    assert_string_equal(q.like, "%13800138000%");

    assert_int_equal(search_keys_query("1231002X", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TEXT);
    assert_string_equal(q.like, "%1231002x%");

    assert_int_equal(search_keys_query(NULL, &q), SEARCH_KEYS_EEMPTY);
    assert_int_equal(search_keys_query("", &q), SEARCH_KEYS_EEMPTY);
    assert_int_equal(search_keys_query(" \t\u3000 ", &q), SEARCH_KEYS_EEMPTY);
    assert_int_equal(search_keys_query("--", &q), SEARCH_KEYS_ESHORT);
    assert_int_equal(search_keys_query("a1", &q), SEARCH_KEYS_ESHORT);
    assert_int_equal(q.modes, 0);
}

/* Three or four digits are also a whole key of the search side table; other
 * digit queries, and digits beside other characters, are not. */
static void test_query_digits(void **state)
{
    (void)state;
    struct search_keys_query q;

    assert_int_equal(search_keys_query("1380", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TEXT);
    assert_string_equal(q.like, "%1380%");
    assert_string_equal(q.digits, "1380");
    assert_int_equal(search_keys_query("(138)", &q), 0);
    assert_string_equal(q.digits, "138");
    assert_int_equal(search_keys_query("13-80", &q), 0);
    assert_string_equal(q.digits, "1380");
    assert_int_equal(search_keys_query("１３８０", &q), 0); /* full-width */
    assert_string_equal(q.digits, "1380");
    assert_int_equal(search_keys_query("13800", &q), 0);
    assert_string_equal(q.digits, "");
    assert_string_equal(q.like, "%13800%");
    assert_int_equal(search_keys_query("a138", &q), 0);
    assert_string_equal(q.digits, "");
    assert_int_equal(search_keys_query("138a", &q), 0);
    assert_string_equal(q.like, "%138a%"); /* the text left whole */
    assert_string_equal(q.digits, "");
    assert_int_equal(search_keys_query("张三", &q), 0);
    assert_string_equal(q.digits, "");
}

static void test_query_escapes(void **state)
{
    (void)state;
    struct search_keys_query q;
    struct search_keys k;

    assert_int_equal(search_keys_query("50%_off", &q), 0);
    assert_int_equal(q.modes, SEARCH_KEYS_BY_TEXT);
    assert_string_equal(q.like, "%50\\%\\_off%");
    assert_int_equal(search_keys_query("a\\b", &q), 0);
    assert_string_equal(q.like, "%a\\\\b%");

    struct search_keys_input in = { .ext_ref = "promo 50%_off" };
    assert_int_equal(search_keys_build(&in, &k), 0);
    expect_found(&k, "50%_off");
    expect_found(&k, "%_o");
    search_keys_free(&k);

    in.ext_ref = "promo 500xoff";
    assert_int_equal(search_keys_build(&in, &k), 0);
    expect_not_found(&k, "50%_off");
    expect_not_found(&k, "0_o");
    expect_not_found(&k, "o%f");
    search_keys_free(&k);

    /* A query too long for like is cut on a character boundary. */
    char big[2000];
    size_t n = 0;
    while (n + 3 < sizeof big - 1) {
        memcpy(big + n, "张", 3);
        n += 3;
    }
    big[n] = 0;
    assert_int_equal(search_keys_query(big, &q), 0);
    size_t len = strlen(q.like);
    assert_true(len < sizeof q.like);
    assert_int_equal(q.like[0], '%');
    assert_int_equal(q.like[len - 1], '%');
    assert_int_equal((len - 2) % 3, 0);
    memset(big, '%', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(search_keys_query(big, &q), 0);
    len = strlen(q.like);
    assert_true(len < sizeof q.like);
    assert_int_equal((len - 2) % 2, 0);   /* no escape cut in half */
}

/* ---- edges ---- */

static void test_empty(void **state)
{
    (void)state;
    struct search_keys k;
    struct search_keys_input in = { 0 };
    assert_int_equal(search_keys_build(&in, &k), 0);
    assert_string_equal(k.text, "");
    assert_int_equal(k.ntokens, 0);
    char *lit = search_keys_tokens_literal(&k);
    assert_string_equal(lit, "{}");
    free(lit);
    search_keys_free(&k);

    const char *phones[] = { NULL, "", " - ", "abc" };
    struct search_keys_input blank = { .name = "", .company = "  ", .email = "", .id_number = "\t",
                                       .phones = phones, .nphones = 4 };
    assert_int_equal(search_keys_build(&blank, &k), 0);
    assert_string_equal(k.text, "");
    assert_int_equal(k.ntokens, 0);
    search_keys_free(&k);

    struct search_keys_input no_list = { .name = "张", .nphones = 3 };
    assert_int_equal(search_keys_build(&no_list, &k), 0);
    assert_string_equal(k.text, "张 | zhang");
    search_keys_free(&k);

    /* Single characters: no one-letter initials. */
    build_name(&k, "张", NULL);
    assert_false(has_token(&k, "z"));
    assert_true(has_token(&k, "zhang"));
    search_keys_free(&k);
}

static void test_long_fields(void **state)
{
    (void)state;
    struct search_keys k;
    char *han = malloc(1000 * 3 + 1), *latin = malloc(1000 * 6 + 1);
    assert_non_null(han);
    assert_non_null(latin);
    const char *chars[] = { "王", "小", "明", "曾", "行", "长" };
    for (size_t i = 0; i < 1000; i++)
        memcpy(han + 3 * i, chars[i % 6], 3);
    han[3000] = 0;
    for (size_t i = 0; i < 1000; i++)
        memcpy(latin + 6 * i, "abcde ", 6);
    latin[6000] = 0;

    const char *phones[40];
    for (size_t i = 0; i < 40; i++)
        phones[i] = "+86 138 0013 8000 1234 5678 9012 3456 7890 1234";
    struct search_keys_input in = { .name = han, .company = han, .email = latin, .id_number = latin,
                                    .ext_ref = latin, .phones = phones, .nphones = 40 };
    assert_int_equal(search_keys_build(&in, &k), 0);
    check_limits(&k);
    assert_true(strlen(k.text) < 16384);
    expect_found(&k, "王小明");
    expect_found(&k, "小明");
    expect_found(&k, "abcde");
    search_keys_free(&k);

    struct search_keys_input lat = { .name = latin, .company = latin };
    assert_int_equal(search_keys_build(&lat, &k), 0);
    check_limits(&k);
    assert_true(strlen(k.text) < 16384);
    search_keys_free(&k);

    /* Words longer than a token are left out of the tokens, not cut. */
    memset(latin, 'q', 100);
    latin[100] = 0;
    build_name(&k, latin, NULL);
    check_limits(&k);
    assert_int_equal(k.ntokens, 0);
    expect_found(&k, "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq");
    search_keys_free(&k);
    free(han);
    free(latin);
}

/* Invalid UTF-8 anywhere is refused with SEARCH_KEYS_EINVAL, nothing returned. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    struct search_keys k;
    const char *bad[] = {
        "\xff\xfe",             /* not UTF-8 at all */
        "张\xe5\xbc",           /* truncated */
        "\xc0\xaf",             /* overlong "/" */
        "\xed\xa0\x80",         /* a surrogate */
        "\xf4\x90\x80\x80",     /* past U+10FFFF */
        "abc\x80",              /* stray continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct search_keys_input in = { .name = bad[i] };
        memset(&k, 0x55, sizeof k);
        assert_int_equal(search_keys_build(&in, &k), SEARCH_KEYS_EINVAL);
        assert_null(k.text);
        assert_null(k.tokens);
        assert_int_equal(k.ntokens, 0);
        const char *phones[] = { "138", bad[i] };
        struct search_keys_input in2 = { .name = "张三", .phones = phones, .nphones = 2 };
        assert_int_equal(search_keys_build(&in2, &k), SEARCH_KEYS_EINVAL);
        struct search_keys_input in3 = { .email = bad[i] };
        assert_int_equal(search_keys_build(&in3, &k), SEARCH_KEYS_EINVAL);
        struct search_keys_query q;
        assert_int_equal(search_keys_query(bad[i], &q), SEARCH_KEYS_EINVAL);
    }
    /* Past the indexed part of a field, still checked. */
    char big[3000];
    memset(big, 'a', sizeof big);
    big[2000] = (char)0xff;
    big[sizeof big - 1] = 0;
    struct search_keys_input in = { .company = big };
    assert_int_equal(search_keys_build(&in, &k), SEARCH_KEYS_EINVAL);
}

static void test_odd_text(void **state)
{
    (void)state;
    struct search_keys k;
    /* A minority name with the middle dot, a rare character ICU cannot read,
     * an iteration mark, a CJK Extension B character, full-width and
     * compatibility forms, an emoji. */
    build_name(&k, "买买提·艾力", NULL);
    check_limits(&k);
    expect_found(&k, "maimaitiaili");
    expect_found(&k, "mai mai ti ai li");
    expect_found(&k, "艾力");
    expect_found(&k, "mmtal");
    expect_found(&k, "提·艾");
    search_keys_free(&k);

    build_name(&k, "张々 𠮷田 😀 Ｊｏｈｎ", NULL);
    check_limits(&k);
    expect_found(&k, "张");
    expect_found(&k, "𠮷田");
    expect_found(&k, "john");
    search_keys_free(&k);

    /* A compatibility ideograph (U+F900 block) folds to the unified one. */
    build_name(&k, "\xef\xa4\x80", NULL);   /* U+F900, folds to U+8C48 豈 */
    expect_found(&k, "豈");
    search_keys_free(&k);
}

static void test_tokens_literal(void **state)
{
    (void)state;
    struct search_keys k;
    build_name(&k, "张三", NULL);
    char *lit = search_keys_tokens_literal(&k);
    assert_non_null(lit);
    assert_int_equal(lit[0], '{');
    assert_non_null(strstr(lit, "\"张三\""));
    assert_non_null(strstr(lit, "\"zs\""));
    free(lit);
    search_keys_free(&k);

    char a[] = "say \"hi\"", b[] = "back\\slash", c[] = "plain";
    char *toks[] = { a, b, c };
    struct search_keys hand = { .text = NULL, .tokens = toks, .ntokens = 3 };
    lit = search_keys_tokens_literal(&hand);
    assert_string_equal(lit, "{\"say \\\"hi\\\"\",\"back\\\\slash\",\"plain\"}");
    free(lit);
}

static char *sort_key(const char *name)
{
    char *k = search_keys_sort_key(name);
    assert_non_null(k);
    return k;
}

/* Names sort by pinyin, bytewise (COLLATE "C"). */
static void test_sort_key(void **state)
{
    (void)state;
    const char *order[] = { "", "阿丽", "John Smith", "李", "李娜", "李四", "林", "吕布", "王小明", "曾小明", "张三",
                            "章三" };
    char *prev = NULL;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char *k = sort_key(order[i]);
        if (prev && strcmp(prev, k) >= 0)
            fail_msg("\"%s\" does not sort before \"%s\"", prev, k);
        free(prev);
        prev = k;
    }
    free(prev);

    char *k = sort_key("曾小明");
    assert_string_equal(k, "zeng xiao ming\t曾小明");
    free(k);
    k = sort_key("万俟咏");
    assert_string_equal(k, "mo qi yong\t万俟咏");
    free(k);
    k = sort_key("  ＪＯＨＮ  Smith ");
    assert_string_equal(k, "john smith\tjohn smith");
    free(k);
    k = sort_key("重庆");   /* a surname only at the start of a name: ICU's reading here */
    assert_string_equal(k, "chong qing\t重庆");
    free(k);

    char big[3001];
    for (size_t i = 0; i < 1000; i++)
        memcpy(big + 3 * i, "张", 3);
    big[3000] = 0;
    k = sort_key(big);
    assert_true(strlen(k) <= SEARCH_KEYS_SORT_KEY_BYTES);
    assert_int_equal(strncmp(k, "zhang zhang ", 12), 0);
    free(k);

    assert_null(search_keys_sort_key(NULL));
    assert_null(search_keys_sort_key("\xff"));
}

static void test_not_initialised(void **state)
{
    (void)state;
    struct search_keys k;
    struct search_keys_input in = { .name = "张三" };
    search_keys_shutdown();
    assert_int_equal(search_keys_build(&in, &k), SEARCH_KEYS_EINVAL);
    assert_int_equal(search_keys_build(NULL, &k), SEARCH_KEYS_EINVAL);
    assert_null(search_keys_sort_key("张三"));
    assert_int_equal(search_keys_init(), 0);
    assert_int_equal(search_keys_init(), 0);
    assert_int_equal(search_keys_build(&in, &k), 0);
    search_keys_free(&k);
}

#ifdef SEARCH_KEYS_TEST_OOM
/* Fails the first, the second, ... allocation until a build succeeds: each
 * failure is SEARCH_KEYS_ENOMEM with nothing returned (valgrind and ASan
 * check nothing leaks). */
static void test_out_of_memory(void **state)
{
    (void)state;
    const char *phones[] = { "+86 138-0013-8000" };
    struct search_keys_input in = { .name = "曾小明", .company = "重庆银行", .email = "a@b.cn",
                                    .id_number = "11010519491231002X", .ext_ref = "r1",
                                    .phones = phones, .nphones = 1 };
    struct search_keys k;
    long n;
    for (n = 0; n < 10000; n++) {
        fail_countdown = n;
        int rc = search_keys_build(&in, &k);
        fail_countdown = -1;
        if (rc == 0)
            break;
        assert_int_equal(rc, SEARCH_KEYS_ENOMEM);
        assert_null(k.text);
        assert_null(k.tokens);
    }
    assert_true(n > 5);
    expect_found(&k, "zxm");
    search_keys_free(&k);

    struct search_keys_query q;
    for (n = 0; n < 100; n++) {
        fail_countdown = n;
        int rc = search_keys_query("Zhang San", &q);
        fail_countdown = -1;
        if (rc == 0)
            break;
        assert_int_equal(rc, SEARCH_KEYS_ENOMEM);
    }
    assert_string_equal(q.like, "%zhang san%");

    build_name(&k, "张三", NULL);
    fail_countdown = 0;
    char *lit = search_keys_tokens_literal(&k);
    fail_countdown = -1;
    assert_null(lit);
    search_keys_free(&k);

    char *key = NULL;
    for (n = 0; n < 100 && !key; n++) {
        fail_countdown = n;
        key = search_keys_sort_key("曾小明");
        fail_countdown = -1;
    }
    assert_non_null(key);
    assert_string_equal(key, "zeng xiao ming\t曾小明");
    free(key);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zhang_san),
        cmocka_unit_test(test_wang_xiao_ming),
        cmocka_unit_test(test_polyphonic_surnames),
        cmocka_unit_test(test_company),
        cmocka_unit_test(test_latin_name),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_email_id_ext),
        cmocka_unit_test(test_query_modes),
        cmocka_unit_test(test_query_digits),
        cmocka_unit_test(test_query_escapes),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_long_fields),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_odd_text),
        cmocka_unit_test(test_tokens_literal),
        cmocka_unit_test(test_sort_key),
        cmocka_unit_test(test_not_initialised),
#ifdef SEARCH_KEYS_TEST_OOM
        cmocka_unit_test(test_out_of_memory),
#endif
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    u_cleanup();   /* ICU's caches, so that valgrind sees no leak */
    return failed;
}
