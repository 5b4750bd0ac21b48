/* Handshake, login, resume, logout, expiry, throttling. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static void test_hello_ok(void **state)
{
    (void)state;
    kehu_client *c = it_connect();
    assert_non_null(strstr(kehu_server_name(c), "kehud"));
    kehu_close(c);
}

static void test_unsupported_version(void **state)
{
    (void)state;
    int fd = it_raw_connect();
    it_raw_hello(fd, 99);
    int eof;
    Kehu__V1__Frame *f = it_raw_recv(fd, 10000, &eof);
    assert_non_null(f);
    assert_int_equal(f->id, 1);
    assert_int_equal(f->response->status->code, KEHU__V1__CODE__INVALID_ARGUMENT);
    assert_string_equal(f->response->status->field, "protocol_version");
    assert_non_null(strstr(f->response->status->message, "99"));
    kehu__v1__frame__free_unpacked(f, NULL);
    assert_null(it_raw_recv(fd, 10000, &eof));
    assert_true(eof); /* and the connection is closed */
    close(fd);
}

static void test_request_before_hello(void **state)
{
    (void)state;
    int fd = it_raw_connect();
    it_raw_send(fd, 5, it_req_ping());
    it_raw_expect(fd, 5, KEHU__V1__CODE__INVALID_ARGUMENT, 1);
    close(fd);
}

static void test_unauthenticated(void **state)
{
    (void)state;
    kehu_client *c = it_connect();
    it_expect(c, it_req_whoami(), KEHU__V1__CODE__UNAUTHENTICATED, NULL);
    it_expect(c, it_req_user_list(NULL, 0), KEHU__V1__CODE__UNAUTHENTICATED, NULL);
    it_expect(c, it_req_ping(), KEHU__V1__CODE__OK, NULL); /* ping needs no session */
    kehu_close(c);
}

static void test_login_good_and_bad(void **state)
{
    (void)state;
    kehu_client *c = it_connect();
    struct kehu_status st;
    Kehu__V1__Session *s = NULL;
    assert_int_equal(kehu_login(c, "admin", "wrong password", &s, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_null(s);
    char bad_pw[512];
    snprintf(bad_pw, sizeof bad_pw, "%s", st.message);
    assert_int_equal(kehu_login(c, "nobody.here", "whatever1", NULL, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_string_equal(st.message, bad_pw); /* an unknown user is told nothing more */
    assert_int_equal(kehu_login(c, "", "x", NULL, &st), KEHU__V1__CODE__INVALID_ARGUMENT);
    assert_string_equal(st.field, "username");

    assert_int_equal(kehu_login(c, "ADMIN", TH_ADMIN_PASSWORD, &s, &st), KEHU__V1__CODE__OK);
    assert_non_null(s);
    assert_int_equal(strlen(s->token), 43);
    assert_string_equal(s->user->username, "admin");
    assert_int_equal(s->user->role, KEHU__V1__ROLE__ADMIN);
    assert_true(s->expires_at_ms > 0);
    kehu_session_free(s);

    Kehu__V1__Response *r = it_call(c, it_req_whoami(), KEHU__V1__CODE__OK);
    assert_string_equal(r->user->username, "admin");
    kehu_response_free(r);
    kehu_close(c);
}

static void test_resume_after_reconnect(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    char token[64];
    snprintf(token, sizeof token, "%s", kehu_token(c));
    struct kehu_status st;
    assert_int_equal(kehu_reconnect(c, &st), KEHU__V1__CODE__OK);
    it_expect(c, it_req_whoami(), KEHU__V1__CODE__OK, NULL);
    kehu_close(c);

    /* a brand-new client with only the token */
    kehu_client *d = it_connect();
    Kehu__V1__Session *s = NULL;
    assert_int_equal(kehu_resume(d, token, &s, &st), KEHU__V1__CODE__OK);
    assert_string_equal(s->user->username, "admin");
    assert_string_equal(s->token, ""); /* the token is never sent back */
    kehu_session_free(s);
    it_expect(d, it_req_whoami(), KEHU__V1__CODE__OK, NULL);
    kehu_close(d);

    kehu_client *e = it_connect();
    assert_int_equal(kehu_resume(e, "not-a-token", NULL, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_int_equal(kehu_resume(e, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &st),
                     KEHU__V1__CODE__UNAUTHENTICATED);
    kehu_close(e);
}

static void test_logout_revokes(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    kehu_client *other = it_connect(); /* the same session on a second connection */
    char token[64];
    snprintf(token, sizeof token, "%s", kehu_token(c));
    struct kehu_status st;
    assert_int_equal(kehu_resume(other, token, NULL, &st), KEHU__V1__CODE__OK);

    assert_int_equal(kehu_logout(c, &st), KEHU__V1__CODE__OK);
    it_expect(c, it_req_whoami(), KEHU__V1__CODE__UNAUTHENTICATED, NULL);
    it_expect(other, it_req_whoami(), KEHU__V1__CODE__UNAUTHENTICATED, NULL);
    assert_int_equal(kehu_resume(other, token, NULL, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_non_null(strstr(st.message, "logged out"));
    kehu_close(c);
    kehu_close(other);
}

static void test_expired_token(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    char token[64];
    snprintf(token, sizeof token, "%s", kehu_token(c));
    kehu_close(c);
    assert_int_equal(th_pg_exec(&it_env, "UPDATE session SET expires_at = now() - interval '1 second'"
                                         " WHERE id = (SELECT max(id) FROM session)"),
                     0);
    kehu_client *d = it_connect();
    struct kehu_status st;
    assert_int_equal(kehu_resume(d, token, NULL, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_non_null(strstr(st.message, "expired"));
    kehu_close(d);
}

static void test_failed_logins_slow_down(void **state)
{
    (void)state;
    it_add_user("slow.user", KEHU__V1__ROLE__ACCOUNT_MANAGER, "1", "right-pass-1");
    kehu_client *c = it_connect();
    struct kehu_status st;
    for (int i = 0; i < 5; i++)
        assert_int_equal(kehu_login(c, "slow.user", "wrong-pass", NULL, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    /* now even the right password waits, from this address */
    assert_int_equal(kehu_login(c, "slow.user", "right-pass-1", NULL, &st), KEHU__V1__CODE__RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st.message, "try again"));
    /* other accounts are not affected */
    assert_int_equal(kehu_login(c, "admin", TH_ADMIN_PASSWORD, NULL, &st), KEHU__V1__CODE__OK);
    /* once the wait is over (1 s after the fifth failure) the right password
     * works and resets the count */
    usleep(1200 * 1000);
    assert_int_equal(kehu_login(c, "slow.user", "right-pass-1", NULL, &st), KEHU__V1__CODE__OK);
    assert_int_equal(kehu_login(c, "slow.user", "wrong-pass", NULL, &st), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_int_equal(kehu_login(c, "slow.user", "right-pass-1", NULL, &st), KEHU__V1__CODE__OK);
    kehu_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_ok),
        cmocka_unit_test(test_unsupported_version),
        cmocka_unit_test(test_request_before_hello),
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_login_good_and_bad),
        cmocka_unit_test(test_resume_after_reconnect),
        cmocka_unit_test(test_logout_revokes),
        cmocka_unit_test(test_expired_token),
        cmocka_unit_test(test_failed_logins_slow_down),
    };
    return it_finish(cmocka_run_group_tests(tests, it_setup, it_teardown));
}
