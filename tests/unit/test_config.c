/* kehud's configuration: defaults, file, environment, flags, and their order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof path, "/tmp/kehu-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int teardown(void **state)
{
    (void)state;
    if (path[0])
        unlink(path);
    path[0] = 0;
    unsetenv("KEHUD_PORT");
    unsetenv("KEHUD_POOL_SIZE");
    unsetenv("KEHUD_CONFIG");
    unsetenv("KEHU_LISTEN");
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1");
    assert_int_equal(c.port, 7700);
    assert_int_equal(c.max_frame, 1 << 20);
    assert_int_equal(c.pool_size, 4);
    assert_string_equal(c.log_level, "info");
}

static void test_set_validates(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "port", "8080", err, sizeof err), 0);
    assert_int_equal(c.port, 8080);
    assert_int_equal(config_set(&c, "port", "70000", err, sizeof err), -1);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(config_set(&c, "port", "80x", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "pool_size", "0", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "log_level", "loud", err, sizeof err), -1);
    assert_non_null(strstr(err, "debug"));
    assert_int_equal(config_set(&c, "no_such_key", "1", err, sizeof err), -1);
    assert_non_null(strstr(err, "no_such_key"));
    assert_int_equal(c.port, 8080); /* failed sets change nothing */
}

static void test_file(void **state)
{
    (void)state;
    write_file("# a comment\n\nport = 7801\n  db = host=127.0.0.1 port=5432 dbname=kehu  \nlog_level=debug\n");
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.port, 7801);
    assert_string_equal(c.db, "host=127.0.0.1 port=5432 dbname=kehu"); /* split on the first '=' only */
    assert_string_equal(c.log_level, "debug");
}

static void test_file_errors_name_the_line(void **state)
{
    (void)state;
    write_file("port = 7801\nthis line has no equals sign\n");
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:"));
    assert_int_equal(config_load_file(&c, "/nonexistent/kehud.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/kehud.conf"));
}

static void test_precedence(void **state)
{
    (void)state;
    write_file("port = 7001\npool_size = 2\nmax_inflight = 9\n");
    setenv("KEHUD_PORT", "7002", 1);
    setenv("KEHUD_POOL_SIZE", "3", 1);
    char *argv[] = { "--pool-size", "5", "--config", path, NULL };
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_from_args(&c, 4, argv, err, sizeof err), 0);
    assert_int_equal(c.max_inflight, 9); /* file */
    assert_int_equal(c.port, 7002);      /* environment over file */
    assert_int_equal(c.pool_size, 5);    /* flag over environment */
}

static void test_flags(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    char *ok[] = { "--port=7900", "--log_level", "warn", NULL };
    assert_int_equal(config_from_args(&c, 3, ok, err, sizeof err), 0);
    assert_int_equal(c.port, 7900);
    assert_string_equal(c.log_level, "warn");
    char *unknown[] = { "--colour", "red", NULL };
    assert_int_equal(config_from_args(&c, 2, unknown, err, sizeof err), -1);
    assert_non_null(strstr(err, "--colour"));
    char *missing[] = { "--port", NULL };
    assert_int_equal(config_from_args(&c, 1, missing, err, sizeof err), -1);
    char *help[] = { "--help", NULL };
    assert_int_equal(config_from_args(&c, 1, help, err, sizeof err), 1);
}

/* listen: HOST, HOST:PORT, [V6]:PORT; KEHU_LISTEN over the file; TLS keys. */
static void test_listen(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(c.plaintext_loopback, 1);
    assert_int_equal(c.allow_plaintext, 0);
    assert_int_equal(c.tls_handshake_timeout, 10);
    assert_int_equal(config_set(&c, "listen", "0.0.0.0:7800", err, sizeof err), 0);
    assert_string_equal(c.listen, "0.0.0.0");
    assert_int_equal(c.port, 7800);
    assert_int_equal(config_set(&c, "listen", "[::]:7900", err, sizeof err), 0);
    assert_string_equal(c.listen, "::");
    assert_int_equal(c.port, 7900);
    assert_int_equal(config_set(&c, "listen", "::1", err, sizeof err), 0);
    assert_string_equal(c.listen, "::1");
    assert_int_equal(c.port, 7900);
    assert_int_equal(config_set(&c, "listen", "10.0.0.1", err, sizeof err), 0);
    assert_string_equal(c.listen, "10.0.0.1");
    assert_int_equal(config_set(&c, "listen", "10.0.0.1:99999", err, sizeof err), -1);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(config_set(&c, "listen", ":7700", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "listen", "[::1", err, sizeof err), -1);
    write_file("listen = 127.0.0.1\nport = 7000\ntls_cert = /etc/kehu/kehud.pem\n");
    setenv("KEHU_LISTEN", "192.0.2.1:7443", 1);
    config_defaults(&c);
    char *argv[] = { "--config", path };
    assert_int_equal(config_from_args(&c, 2, argv, err, sizeof err), 0);
    assert_string_equal(c.listen, "192.0.2.1");
    assert_int_equal(c.port, 7443);
    assert_string_equal(c.tls_cert, "/etc/kehu/kehud.pem");
    setenv("KEHU_LISTEN", "no port:", 1);
    config_defaults(&c);
    assert_int_equal(config_from_args(&c, 2, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "KEHU_LISTEN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_set_validates, teardown),
        cmocka_unit_test_teardown(test_file, teardown),
        cmocka_unit_test_teardown(test_file_errors_name_the_line, teardown),
        cmocka_unit_test_teardown(test_precedence, teardown),
        cmocka_unit_test_teardown(test_flags, teardown),
        cmocka_unit_test_teardown(test_listen, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
