/* kehud's refusals and system notes in the client's language (server/tr.c),
 * against the catalogue the build made (share/locale beside bin/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tr.h"

static struct arena a;

static int setup(void **state)
{
    (void)state;
    tr_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(&a);
    return 0;
}

static void test_lang(void **state)
{
    (void)state;
    assert_int_equal(tr_lang("zh_CN"), TR_ZH);
    assert_int_equal(tr_lang("zh_CN.UTF-8"), TR_ZH);
    assert_int_equal(tr_lang("zh"), TR_ZH);
    assert_int_equal(tr_lang("zh_TW.UTF-8"), TR_EN);
    assert_int_equal(tr_lang(""), TR_EN);
    assert_int_equal(tr_lang(NULL), TR_EN);
    assert_int_equal(tr_lang("en_US"), TR_EN);
    assert_int_equal(tr_lang("zhx"), TR_EN);
}

static void test_formats(void **state)
{
    (void)state;
    assert_string_equal(tr(TR_ZH, "wrong username or password"), "用户名或密码错误");
    assert_string_equal(tr(TR_EN, "wrong username or password"), "wrong username or password");
    assert_string_equal(tr(TR_ZH, "a message nobody translated"), "a message nobody translated");
}

static void test_sql_forms(void **state)
{
    (void)state;
    /* a constant one, and one with a value put back */
    assert_string_equal(tr_text(&a, TR_ZH, "the head office cannot be moved"), "总行不能移动");
    assert_string_equal(tr_text(&a, TR_ZH, "cannot move '上海分行' under itself"), "不能把“上海分行”移到它自己之下");
    /* reordered values */
    assert_string_equal(tr_text(&a, TR_ZH, "you were its owner: you may claim customer 7 again from 2026-12-20"),
                        "您曾是其归属人：2026-12-20 起可再次认领客户 7");
    /* an English plural's "s" left out, values in another order */
    assert_string_equal(tr_text(&a, TR_ZH,
                                "batch 3 cannot be undone: it would hand 2 customers back to li.lei (disabled); "
                                "reassign them"),
                        "批次 3 不能撤销：它会把 2 位客户交还给 li.lei（已停用）；请改派 them");
    /* English, and text no form matches, stay as they are */
    assert_string_equal(tr_text(&a, TR_EN, "cannot move 'x' under itself"), "cannot move 'x' under itself");
    assert_string_equal(tr_text(&a, TR_ZH, "something else entirely"), "something else entirely");
}

static void test_details(void **state)
{
    (void)state;
    /* "the contact's name %s" translated, then the check's detail */
    assert_string_equal(tr_detail(&a, TR_ZH, "联系人姓名is too long"), "联系人姓名太长");
    assert_string_equal(tr_detail(&a, TR_ZH, "电话“12”needs at least 5 digits"), "电话“12”至少需要 5 位数字");
    assert_string_equal(tr_detail(&a, TR_ZH, "date 2026-13-01 is not a real date"), "date 2026-13-01不是有效日期");
    assert_string_equal(tr_detail(&a, TR_EN, "the contact's name is too long"), "the contact's name is too long");
    assert_string_equal(tr_detail(&a, TR_ZH, "无关的消息"), "无关的消息");
}

static void test_notes(void **state)
{
    (void)state;
    assert_string_equal(tr_note(&a, TR_ZH, "Churn warning: silent, complaints"), "流失预警：沉默、投诉增多");
    assert_string_equal(tr_note(&a, TR_ZH, "Churn warning: frequency_drop, new_reason"), "流失预警：购买频次下降、new_reason");
    assert_string_equal(tr_note(&a, TR_ZH, "公海预警 pool warning: returns to the pool on 2026-12-10 unless it buys"),
                        "公海预警：若 2026-12-10 前仍无交易，客户将回收到公海");
    assert_string_equal(tr_note(&a, TR_EN, "Churn warning: silent"), "Churn warning: silent");
    assert_string_equal(tr_note(&a, TR_ZH, "call back about the loan"), "call back about the loan");
    assert_string_equal(tr_note(&a, TR_ZH, ""), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lang),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_sql_forms),
        cmocka_unit_test(test_details),
        cmocka_unit_test(test_notes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
