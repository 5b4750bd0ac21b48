/* The database going away and coming back; shutting down with work in flight. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static int ping_code(kehu_client *c, int64_t *took_ms)
{
    struct kehu_status st;
    int64_t t0 = it_now_ms();
    Kehu__V1__Response *r = kehu_call(c, it_req_ping(), &st);
    if (took_ms)
        *took_ms = it_now_ms() - t0;
    kehu_response_free(r);
    return st.code;
}

static void test_database_down_and_back(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    assert_int_equal(ping_code(c, NULL), KEHU__V1__CODE__OK);

    assert_int_equal(th_pg_stop(&it_env), 0);
    /* fail fast, never hang: every request answers UNAVAILABLE promptly */
    for (int i = 0; i < 5; i++) {
        int64_t took;
        assert_int_equal(ping_code(c, &took), KEHU__V1__CODE__UNAVAILABLE);
        assert_true(took < 10000); /* fail fast: far below db_timeout (30 s), whatever the machine's load */
    }
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(c, it_req_whoami(), &st);
    assert_int_equal(st.code, KEHU__V1__CODE__UNAVAILABLE);
    kehu_response_free(r);
    kehu_client *fresh = it_connect(); /* the server itself still accepts and says Hello */
    assert_int_equal(kehu_login(fresh, "admin", TH_ADMIN_PASSWORD, NULL, &st), KEHU__V1__CODE__UNAVAILABLE);

    assert_int_equal(th_pg_start(&it_env), 0);
    /* kehud reconnects by itself */
    int64_t deadline = it_now_ms() + 15000;
    while (ping_code(c, NULL) != KEHU__V1__CODE__OK) {
        assert_true(it_now_ms() < deadline);
        usleep(100 * 1000);
    }
    it_expect(c, it_req_whoami(), KEHU__V1__CODE__OK, NULL); /* the session survived */
    assert_int_equal(kehu_login(fresh, "admin", TH_ADMIN_PASSWORD, NULL, &st), KEHU__V1__CODE__OK);
    kehu_close(fresh);
    kehu_close(c);
}

struct tally {
    int ok, other;
};

static void count(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct tally *t = arg;
    if (resp && st->code == KEHU__V1__CODE__OK)
        t->ok++;
    else
        t->other++;
}

/* SIGTERM while requests are in flight: they are answered, then kehud
 * closes the connection and exits 0; new connections are refused. */
static void test_sigterm_finishes_in_flight(void **state)
{
    (void)state;
    /* expensive password hashing so that logins are still running at SIGTERM */
    static const char *const slow[] = { "--hash-ops", "3", "--hash-mem", "67108864", NULL };
    assert_int_equal(th_kehud_start(&it_env, slow), 0);
    it_add_user("term.user", KEHU__V1__ROLE__ACCOUNT_MANAGER, "1", "term-pass-1");

    kehu_client *c = it_connect();
    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    login.username = "term.user";
    login.password = "term-pass-1";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &login;
    struct tally t = { 0 };
    struct kehu_status st;
    for (int i = 0; i < 6; i++)
        assert_int_equal(kehu_send(c, &req, count, &t, NULL, &st), 0);
    /* a ping answered means the server has read every request before it */
    it_expect(c, it_req_ping(), KEHU__V1__CODE__OK, NULL);
    assert_true(t.ok + t.other < 6); /* the logins are still hashing */

    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(kehu_run(c, 20000), 0);
    assert_int_equal(t.ok, 6);
    assert_int_equal(t.other, 0);
    /* then the server closes this connection and exits cleanly */
    Kehu__V1__Event *ev = kehu_next_event(c, 10000, &st);
    assert_null(ev);
    assert_int_equal(st.code, KEHU_TRANSPORT);
    assert_string_not_equal(st.message, "timeout");
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    assert_null(kehu_connect(it_server(), 2000, &st));
    kehu_close(c);

    assert_int_equal(th_kehud_start(&it_env, NULL), 0); /* for whatever runs next */
}

/* An idle kehud stops at once on SIGINT too. */
static void test_sigint_idle(void **state)
{
    (void)state;
    kehu_client *c = it_connect();
    int64_t t0 = it_now_ms();
    assert_int_equal(th_kehud_signal(&it_env, SIGINT), 0);
    assert_int_equal(th_kehud_wait(&it_env, 10000), 0);
    assert_true(it_now_ms() - t0 < 5000);
    kehu_close(c);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
}

/* kehud refuses a database whose schema is older than it needs. */
static void test_refuses_old_schema(void **state)
{
    (void)state;
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 10000), 0);
    assert_int_equal(th_pg_exec(&it_env, "CREATE TABLE sm_saved AS SELECT * FROM schema_migration;"
                                         " DELETE FROM schema_migration"),
                     0);
    assert_true(th_kehud_start(&it_env, NULL) < 0);
    assert_int_equal(it_env.kehud_status, 1);
    static const char *const migrate[] = { "migrate", NULL };
    char out[4096];
    /* migrate then sees version 0 and tries to re-create the schema: that fails
     * cleanly inside its transaction, and the data is untouched */
    assert_int_not_equal(th_kehud_run(&it_env, migrate, out, sizeof out), 0);
    assert_int_equal(th_pg_exec(&it_env, "INSERT INTO schema_migration SELECT * FROM sm_saved"), 0);
    assert_int_equal(th_kehud_run(&it_env, migrate, out, sizeof out), 0);
    assert_non_null(strstr(out, "up to date"));
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_client *c = it_admin();
    kehu_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_down_and_back),
        cmocka_unit_test(test_sigterm_finishes_in_flight),
        cmocka_unit_test(test_sigint_idle),
        cmocka_unit_test(test_refuses_old_schema),
    };
    return it_finish(cmocka_run_group_tests(tests, it_setup, it_teardown));
}
