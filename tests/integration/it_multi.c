/* Two kehud on one database: every change and every ended session reaches
 * the connections of both (PostgreSQL LISTEN/NOTIFY). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static pid_t second_pid;
static char second[64];
static int second_unclean; /* cmocka does not count a failed group teardown */

/* A second `kehud serve` with the test's configuration on another port. */
static int start_second(void)
{
    int port = th_free_port();
    snprintf(second, sizeof second, "127.0.0.1:%d", port);
    char port_arg[16];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    second_pid = fork();
    if (second_pid == 0) {
        int log = open(th_kehud_log(&it_env), O_WRONLY | O_APPEND);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        execl(it_env.kehud_bin, it_env.kehud_bin, "serve", "--config", it_env.config, "--port", port_arg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1500; i++) { /* 30 s */
        int fd = th_connect_raw(port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(20 * 1000);
    }
    return -1;
}

static int setup(void **state)
{
    if (it_setup(state) < 0 || start_second() < 0)
        return -1;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("双城分行", KEHU__V1__UNIT_KIND__BRANCH, "总行"), C(OK), NULL);
    it_expect(a, it_req_user_add("two.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "双城分行", "password-1"), C(OK), NULL);
    kehu_close(a);
    return 0;
}

static int teardown(void **state)
{
    int failed = 0;
    if (second_pid > 0) {
        kill(second_pid, SIGTERM);
        int status;
        waitpid(second_pid, &status, 0);
        failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        if (failed)
            fprintf(stderr, "the second kehud did not stop cleanly\n");
        second_unclean = failed;
    }
    return it_teardown(state) || failed ? -1 : 0;
}

static kehu_client *login_on_second(const char *user, const char *password)
{
    struct kehu_status st;
    kehu_client *c = kehu_connect(second, 10000, &st);
    if (!c)
        fail_msg("connect to the second kehud: %s", st.message);
    if (kehu_login(c, user, password, NULL, &st) != C(OK))
        fail_msg("login on the second kehud: %s", st.message);
    return c;
}

static void test_change_reaches_the_other_kehud(void **state)
{
    (void)state;
    kehu_client *watcher = login_on_second("two.am", "password-1"); /* on B */
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    s.mine = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    kehu_response_free(it_call(watcher, &req, C(OK)));

    kehu_client *writer = it_login("two.am", "password-1"); /* on A */
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = "双城客户";
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    add.customer = &cu;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    Kehu__V1__Response *r = it_call(writer, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);

    struct kehu_status st;
    Kehu__V1__Event *ev = it_next_event(watcher, 10000, &st);
    if (!ev)
        fail_msg("the second kehud pushed nothing: %s", st.message);
    assert_string_equal(ev->kind, "customer.created");
    assert_int_equal(ev->customer_id, id);
    kehu_event_free(ev);
    kehu_close(writer);
    kehu_close(watcher);
}

/* Waits until the connection's session is gone (the announcement travels
 * through PostgreSQL), at most 10 s. */
static int session_ended(kehu_client *c)
{
    for (int i = 0; i < 200; i++) {
        struct kehu_status st;
        Kehu__V1__Response *r = kehu_call(c, it_req_whoami(), &st);
        kehu_response_free(r);
        if (st.code == C(UNAUTHENTICATED))
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static void test_logout_and_disable_reach_the_other_kehud(void **state)
{
    (void)state;
    kehu_client *on_a = it_login("two.am", "password-1");
    char token[64];
    snprintf(token, sizeof token, "%s", kehu_token(on_a));
    struct kehu_status st;
    kehu_client *on_b = kehu_connect(second, 10000, &st);
    assert_non_null(on_b);
    assert_int_equal(kehu_resume(on_b, token, NULL, &st), C(OK)); /* the same session on B */
    assert_int_equal(kehu_logout(on_a, &st), C(OK));
    assert_true(session_ended(on_b));
    kehu_close(on_a);
    kehu_close(on_b);

    kehu_client *user_on_b = login_on_second("two.am", "password-1");
    Kehu__V1__UserDisable d = KEHU__V1__USER_DISABLE__INIT;
    d.username = "two.am";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_DISABLE;
    req.user_disable = &d;
    kehu_client *admin_on_a = it_admin();
    kehu_response_free(it_call(admin_on_a, &req, C(OK)));
    assert_true(session_ended(user_on_b));
    kehu_close(admin_on_a);
    kehu_close(user_on_b);
}

/* A change of the permission matrix made through one kehud is in force on
 * the other at once (announced, reloaded). */
static void test_permission_change_reaches_the_other_kehud(void **state)
{
    (void)state;
    kehu_client *admin = it_admin();
    it_expect(admin, it_req_user_add("three.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "双城分行", "password-1"), C(OK),
              NULL);
    kehu_client *am = login_on_second("three.am", "password-1");
    /* a customer of the branch that three.am does not own */
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = "矩阵客户";
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    add.customer = &cu;
    add.branch = "双城分行";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    Kehu__V1__Response *r = it_call(admin, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    Kehu__V1__CustomerGet get = KEHU__V1__CUSTOMER_GET__INIT;
    get.id = id;
    Kehu__V1__Request greq = KEHU__V1__REQUEST__INIT;
    greq.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    greq.customer_get = &get;
    it_expect(am, &greq, C(NOT_FOUND), "id");

    const char *scopes[2] = { "branch", "own" };
    int want[2] = { C(OK), C(NOT_FOUND) };
    for (int k = 0; k < 2; k++) {
        Kehu__V1__PermCell cell = KEHU__V1__PERM_CELL__INIT, *cells[1] = { &cell };
        cell.role = KEHU__V1__ROLE__ACCOUNT_MANAGER;
        cell.action = "read";
        cell.scope = (char *)scopes[k];
        Kehu__V1__PermSet set = KEHU__V1__PERM_SET__INIT;
        set.cells = cells;
        set.n_cells = 1;
        Kehu__V1__Request sreq = KEHU__V1__REQUEST__INIT;
        sreq.op_case = KEHU__V1__REQUEST__OP_PERM_SET;
        sreq.perm_set = &set;
        it_expect(admin, &sreq, C(OK), NULL);
        int code = -1;
        for (int i = 0; i < 250 && code != want[k]; i++) { /* 5 s */
            struct kehu_status st;
            Kehu__V1__Response *g = kehu_call(am, &greq, &st);
            code = st.code;
            if (g)
                kehu_response_free(g);
            if (code != want[k])
                usleep(20 * 1000);
        }
        if (code != want[k])
            fail_msg("read = %s on the first kehud: the second still answers %s", scopes[k], kehu_code_name(code));
    }
    kehu_close(am);
    kehu_close(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_reaches_the_other_kehud),
        cmocka_unit_test(test_logout_and_disable_reach_the_other_kehud),
        cmocka_unit_test(test_permission_change_reaches_the_other_kehud),
    };
    int rc = it_finish(cmocka_run_group_tests(tests, setup, teardown));
    return rc || second_unclean;
}
