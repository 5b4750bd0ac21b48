/* `cmake --install` into a DESTDIR puts every file where Debian expects it,
 * and the installed kehud finds its migrations: it migrates, initialises and
 * serves the test's database (the whole group runs on it). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static char destdir[256];
static char root[512]; /* destdir + the prefix */

static int exists(const char *base, const char *rel)
{
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", base, rel);
    return stat(path, &sb) == 0 && sb.st_size > 0;
}

static void test_files_in_place(void **state)
{
    (void)state;
    static const char *const files[] = {
        "sbin/kehud",
        "bin/kehu",
        KEHU_DATADIR "/kehu/sql/0001_init.sql",
        KEHU_DATADIR "/bash-completion/completions/kehu",
        KEHU_DATADIR "/doc/kehu/operations.md",
        "lib/systemd/system/kehud.service",
        "lib/sysusers.d/kehu.conf",
#if KEHU_HAVE_MAN
        KEHU_MANDIR "/man1/kehu.1",
        KEHU_MANDIR "/man8/kehud.8",
#endif
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!exists(root, files[i]))
            fail_msg("not installed: %s/%s", root, files[i]);
    char etc[600];
    snprintf(etc, sizeof etc, "%s%s", destdir, KEHU_SYSCONFDIR);
    assert_true(exists(etc, "kehu/kehud.conf.example"));
    char path[700];
    snprintf(path, sizeof path, "%s/sbin/kehud", root);
    assert_int_equal(access(path, X_OK), 0);
    /* the completion knows the commands of the table */
    snprintf(path, sizeof path, "%s/" KEHU_DATADIR "/bash-completion/completions/kehu", root);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[65536];
    buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "'customer add|--name"));
    assert_non_null(strstr(buf, "complete -F _kehu kehu"));
}

/* The installed kehud's schema is the newest installed migration, and it
 * is the kehud serving this test (th_env_up migrated and initialised with it). */
static void test_installed_kehud_serves(void **state)
{
    (void)state;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/" KEHU_DATADIR "/kehu/sql", root);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int newest = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && atoi(e->d_name) > newest)
            newest = atoi(e->d_name);
    closedir(d);
    static const char *const version[] = { "version", NULL };
    char out[512];
    assert_int_equal(th_kehud_run(&it_env, version, out, sizeof out), 0);
    char want[64];
    snprintf(want, sizeof want, "schema %d)", newest);
    if (!strstr(out, want))
        fail_msg("installed kehud says '%s', the newest installed migration is %d", out, newest);
    assert_non_null(strstr(it_env.kehud_bin, destdir));
    kehu_client *c = it_admin();
    it_expect(c, it_req_ping(), C(OK), NULL);
    kehu_close(c);
}

int main(void)
{
    char tmpl[] = "/tmp/kehu-install-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(destdir, sizeof destdir, "%s", tmpl);
    snprintf(root, sizeof root, "%s%s", destdir, KEHU_INSTALL_PREFIX);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "DESTDIR='%s' cmake --install '%s' > '%s/install.log' 2>&1", destdir, KEHU_BINARY_DIR,
             destdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cmake --install failed: see %s/install.log\n", destdir);
        return 1;
    }
    char bin[700];
    snprintf(bin, sizeof bin, "%s/sbin/kehud", root);
    setenv("KEHUD_BIN", bin, 1); /* the harness runs this kehud for migrate, init and serve */
    /* the installed kehud must not need the build tree: run it from elsewhere */
    if (chdir(destdir) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_in_place),
        cmocka_unit_test(test_installed_kehud_serves),
    };
    int rc = it_finish(cmocka_run_group_tests(tests, it_setup, it_teardown));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", destdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
