/* Unit tests for client/cli/store.c: the session token store, in a
 * throwaway XDG_CONFIG_HOME. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

#define SERVER_A "127.0.0.1:7700"
#define SERVER_B "kehu.example.cn:7443"

struct fixture {
    char root[64];            /* mkdtemp */
    char cfg[128];            /* XDG_CONFIG_HOME, not created up front */
    char dir[192];            /* cfg/kehu */
    char file[256];           /* cfg/kehu/sessions */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    snprintf(fx->root, sizeof fx->root, "/tmp/kehu-test-store-XXXXXX");
    if (!mkdtemp(fx->root)) {
        free(fx);
        return -1;
    }
    snprintf(fx->cfg, sizeof fx->cfg, "%s/config", fx->root);
    snprintf(fx->dir, sizeof fx->dir, "%s/kehu", fx->cfg);
    snprintf(fx->file, sizeof fx->file, "%s/sessions", fx->dir);
    setenv("XDG_CONFIG_HOME", fx->cfg, 1);
    *state = fx;
    return 0;
}

/* Removes everything the store may have made (it makes no other files). */
static int teardown(void **state)
{
    struct fixture *fx = *state;
    char p[PATH_MAX];
    unlink(fx->file);
    rmdir(fx->dir);
    rmdir(fx->cfg);
    snprintf(p, sizeof p, "%s/home/.config/kehu/sessions", fx->root);
    unlink(p);
    snprintf(p, sizeof p, "%s/home/.config/kehu", fx->root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/home/.config", fx->root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/home", fx->root);
    rmdir(p);
    int rc = rmdir(fx->root); /* fails if anything was left behind */
    free(fx);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_mode(const char *path, mode_t mode)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, mode);
}

static void expect_session(const char *server, const char *token, const char *user)
{
    char t[256], u[256];
    assert_int_equal(store_get(server, t, sizeof t, u, sizeof u), 0);
    assert_string_equal(t, token);
    assert_string_equal(u, user);
}

static void expect_none(const char *server)
{
    char t[256] = "untouched", u[256] = "untouched";
    assert_int_equal(store_get(server, t, sizeof t, u, sizeof u), 1);
}

static void test_missing_file(void **state)
{
    struct fixture *fx = *state;
    expect_none(SERVER_A);
    assert_string_equal(store_path(), fx->file);
    assert_int_equal(store_del(SERVER_A), 1);
    /* neither a read nor a removal creates anything */
    assert_int_equal(access(fx->cfg, F_OK), -1);
}

static void test_put_get_replace_del(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(store_put(SERVER_A, "tokA1", "alice"), 0);
    expect_session(SERVER_A, "tokA1", "alice");
    expect_none(SERVER_B);

    assert_int_equal(store_put(SERVER_B, "tokB1", "王伟"), 0);
    expect_session(SERVER_A, "tokA1", "alice");
    expect_session(SERVER_B, "tokB1", "王伟");
    assert_string_equal(slurp(fx->file), SERVER_A " tokA1 alice\n" SERVER_B " tokB1 王伟\n");

    /* replacing keeps the other line and the order */
    assert_int_equal(store_put(SERVER_A, "tokA2", "bob"), 0);
    expect_session(SERVER_A, "tokA2", "bob");
    expect_session(SERVER_B, "tokB1", "王伟");
    assert_string_equal(slurp(fx->file), SERVER_A " tokA2 bob\n" SERVER_B " tokB1 王伟\n");

    assert_int_equal(store_del(SERVER_A), 0);
    expect_none(SERVER_A);
    expect_session(SERVER_B, "tokB1", "王伟");
    assert_int_equal(store_del(SERVER_A), 1);

    assert_int_equal(store_del(SERVER_B), 0);
    expect_none(SERVER_B);
    assert_string_equal(slurp(fx->file), "");

    /* a server name that is a prefix of another is a different server */
    assert_int_equal(store_put("127.0.0.1:77000", "long", "x"), 0);
    assert_int_equal(store_put("127.0.0.1:7700", "short", "y"), 0);
    expect_session("127.0.0.1:77000", "long", "x");
    expect_session("127.0.0.1:7700", "short", "y");
    expect_none("127.0.0.1:770");
}

static void test_modes(void **state)
{
    struct fixture *fx = *state;
    mode_t old = umask(0); /* the store must not rely on the umask */

    assert_int_equal(store_put(SERVER_A, "tok", "alice"), 0);
    assert_mode(fx->dir, 0700);
    assert_mode(fx->file, 0600);
    assert_mode(fx->cfg, 0700); /* the base directory it had to create */

    /* someone loosened them: the next write tightens them again */
    assert_int_equal(chmod(fx->file, 0644), 0);
    assert_int_equal(chmod(fx->dir, 0755), 0);
    expect_session(SERVER_A, "tok", "alice"); /* reading does not care */
    assert_int_equal(store_put(SERVER_B, "tok2", "bob"), 0);
    assert_mode(fx->dir, 0700);
    assert_mode(fx->file, 0600);

    assert_int_equal(chmod(fx->file, 0664), 0);
    assert_int_equal(store_del(SERVER_B), 0);
    assert_mode(fx->file, 0600);
    umask(old);
}

static void test_other_lines_kept(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(store_put(SERVER_A, "tok", "alice"), 0);
    FILE *f = fopen(fx->file, "w");
    assert_non_null(f);
    fputs("# kehu sessions\n"
          SERVER_A " old alice\n"
          "\n"
          SERVER_B "\ttokB  bob  \r\n"
          "nonsense\n"
          "unterminated:1 tokU", f);
    fclose(f);

    expect_session(SERVER_B, "tokB", "bob");       /* tabs, extra blanks, CRLF */
    expect_session("unterminated:1", "tokU", "");  /* no user, no newline */
    expect_none("nonsense");                       /* no token: no session */
    expect_none("#");

    assert_int_equal(store_put(SERVER_A, "new", "alice"), 0);
    assert_string_equal(slurp(fx->file),
        "# kehu sessions\n"
        SERVER_A " new alice\n"
        "\n"
        SERVER_B "\ttokB  bob  \r\n"
        "nonsense\n"
        "unterminated:1 tokU\n");

    assert_int_equal(store_put("unterminated:1", "tokV", NULL), 0);
    expect_session("unterminated:1", "tokV", "");
    assert_non_null(strstr(slurp(fx->file), "\nunterminated:1 tokV\n"));
}

static void test_invalid_input(void **state)
{
    struct fixture *fx = *state;
    char t[8], u[8];

    assert_int_equal(store_put(SERVER_A, "has space", "alice"), -1);
    assert_true(strlen(store_error()) > 0);
    assert_int_equal(store_put(SERVER_A, "tok", "two words"), -1);
    assert_int_equal(store_put(SERVER_A, "", "alice"), -1);
    assert_int_equal(store_put("", "tok", "alice"), -1);
    assert_int_equal(store_put("a\nb", "tok", "alice"), -1);
    assert_int_equal(store_put("#comment", "tok", "alice"), -1);
    assert_int_equal(store_get("bad server", t, sizeof t, u, sizeof u), -1);
    assert_int_equal(access(fx->file, F_OK), -1); /* nothing written */

    /* a token longer than the caller's buffer is an error, not a cut token */
    assert_int_equal(store_put(SERVER_A, "0123456789abcdef", "alice"), 0);
    assert_int_equal(store_get(SERVER_A, t, sizeof t, u, sizeof u), -1);
    assert_non_null(strstr(store_error(), "too long"));
}

static void test_unreadable_dir(void **state)
{
    struct fixture *fx = *state;

    /* the configuration "directory" is a file: a clear error, not a crash */
    FILE *f = fopen(fx->cfg, "w");
    assert_non_null(f);
    fclose(f);
    expect_none(SERVER_A);
    assert_int_equal(store_put(SERVER_A, "tok", "alice"), -1);
    assert_non_null(strstr(store_error(), fx->cfg));
    unlink(fx->cfg);
}

static void test_home_fallback(void **state)
{
    struct fixture *fx = *state;
    char home[128], expect[256];
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

    snprintf(home, sizeof home, "%s/home", fx->root);
    snprintf(expect, sizeof expect, "%s/.config/kehu/sessions", home);
    setenv("HOME", home, 1);

    setenv("XDG_CONFIG_HOME", "relative/path", 1); /* ignored, as XDG says */
    assert_string_equal(store_path(), expect);
    unsetenv("XDG_CONFIG_HOME");
    assert_string_equal(store_path(), expect);
    assert_int_equal(store_put(SERVER_A, "tok", "alice"), 0);
    assert_mode(expect, 0600);
    expect_session(SERVER_A, "tok", "alice");

    if (old_home) {
        setenv("HOME", old_home, 1);
        free(old_home);
    } else {
        unsetenv("HOME");
    }
    setenv("XDG_CONFIG_HOME", fx->cfg, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_replace_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_lines_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_fallback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
