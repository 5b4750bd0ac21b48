#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static char err_msg[PATH_MAX + 128];
static char dir_path[PATH_MAX];
static char file_path[PATH_MAX];

const char *store_error(void)
{
    return err_msg;
}

__attribute__((format(printf, 1, 2)))
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Fills dir_path and file_path from the environment, each call: the tests
 * and a long-lived caller may change XDG_CONFIG_HOME. */
static int find_paths(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    int n;

    if (xdg && xdg[0] == '/') { /* the XDG spec ignores relative paths */
        n = snprintf(dir_path, sizeof dir_path, "%s/kehu", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home)
            return fail("cannot find the home directory: set HOME or XDG_CONFIG_HOME");
        n = snprintf(dir_path, sizeof dir_path, "%s/.config/kehu", home);
    }
    if (n < 0 || (size_t)n >= sizeof dir_path)
        return fail("configuration directory path too long");
    n = snprintf(file_path, sizeof file_path, "%s/sessions", dir_path);
    if (n < 0 || (size_t)n >= sizeof file_path)
        return fail("configuration directory path too long");
    return 0;
}

const char *store_path(void)
{
    if (find_paths() < 0)
        return "~/.config/kehu/sessions";
    return file_path;
}

/* A server, token or user name: no white space or control characters. */
static int valid_word(const char *s, int may_be_empty)
{
    if (!s)
        return may_be_empty;
    if (!*s && !may_be_empty)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7F)
            return 0;
    return 1;
}

/* Does the line's first field equal server? Lines starting with '#' are
 * comments. */
static int line_is_for(const char *line, const char *server)
{
    if (line[0] == '#')
        return 0;
    size_t n = strcspn(line, " \t\r\n");
    return n == strlen(server) && memcmp(line, server, n) == 0;
}

static void free_line(char *line, size_t cap)
{
    if (line) {
        explicit_bzero(line, cap);
        free(line);
    }
}

int store_get(const char *server, char *token, size_t tn, char *user, size_t un)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = 1;

    if (!valid_word(server, 0))
        return fail("invalid server address");
    if (find_paths() < 0)
        return -1;
    FILE *f = fopen(file_path, "re");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return fail("cannot read %s: %s", file_path, strerror(errno));
    }
    errno = 0;
    while (getline(&line, &cap, f) >= 0) {
        if (!line_is_for(line, server))
            continue;
        char *save = NULL;
        strtok_r(line, " \t\r\n", &save);
        const char *t = strtok_r(NULL, " \t\r\n", &save);
        const char *u = strtok_r(NULL, " \t\r\n", &save);
        if (!t)
            continue; /* a server without a token is no session */
        if (!u)
            u = "";
        if (strlen(t) >= tn || strlen(u) >= un) {
            rc = fail("session in %s too long", file_path);
            break;
        }
        memcpy(token, t, strlen(t) + 1);
        memcpy(user, u, strlen(u) + 1);
        rc = 0;
        break;
    }
    if (rc == 1 && ferror(f))
        rc = fail("cannot read %s: %s", file_path, strerror(errno ? errno : EIO));
    fclose(f);
    free_line(line, cap);
    return rc;
}

/* mkdir -p for the parents of dir_path (mode 0700 for those it creates, as
 * XDG asks of its base directories), then dir_path itself made 0700. */
static int make_dirs(void)
{
    char p[PATH_MAX];
    struct stat st;

    memcpy(p, dir_path, strlen(dir_path) + 1);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return fail("cannot create %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(dir_path, 0700) < 0 && errno != EEXIST)
        return fail("cannot create %s: %s", dir_path, strerror(errno));
    if (stat(dir_path, &st) < 0)
        return fail("cannot create %s: %s", dir_path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail("%s is not a directory", dir_path);
    /* Ours: make it 0700 whatever the umask was or someone did. */
    if (st.st_uid == geteuid() && (st.st_mode & 07777) != 0700 && chmod(dir_path, 0700) < 0)
        return fail("cannot chmod %s: %s", dir_path, strerror(errno));
    return 0;
}

/* Rewrites the file without server's line, with "server token user" in its
 * place when token is not NULL (appended if the server had no line). *found
 * says whether it had one. A removal that finds nothing writes nothing. */
static int rewrite(const char *server, const char *token, const char *user, int *found)
{
    char tmp[PATH_MAX];
    char *line = NULL;
    size_t cap = 0;
    FILE *in = NULL, *out = NULL;
    int dfd = -1, fd, rc = -1, written = 0;
    ssize_t len;

    *found = 0;
    if (find_paths() < 0)
        return -1;
    if (!token && access(file_path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
        return 0; /* nothing to remove from */
    if (make_dirs() < 0)
        return -1;
    dfd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return fail("cannot open %s: %s", dir_path, strerror(errno));
    if (flock(dfd, LOCK_EX) < 0) {
        fail("cannot lock %s: %s", dir_path, strerror(errno));
        goto out;
    }

    in = fopen(file_path, "re");
    if (!in && errno != ENOENT) {
        fail("cannot read %s: %s", file_path, strerror(errno));
        goto out;
    }
    if (!in && !token) {
        rc = 0;
        goto out;
    }

    if (snprintf(tmp, sizeof tmp, "%s/.sessions.XXXXXX", dir_path) >= (int)sizeof tmp) {
        fail("configuration directory path too long");
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        fail("cannot create a file in %s: %s", dir_path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600) < 0 || !(out = fdopen(fd, "w"))) {
        fail("cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }

    while (in && (len = getline(&line, &cap, in)) >= 0) {
        if (line_is_for(line, server)) {
            *found = 1;
            if (token && !written) {
                fprintf(out, "%s %s%s%s\n", server, token, *user ? " " : "", user);
                written = 1;
            }
            continue; /* and duplicates go */
        }
        fwrite(line, 1, (size_t)len, out);
        if (len > 0 && line[len - 1] != '\n')
            fputc('\n', out);
    }
    if (in && ferror(in)) {
        fail("cannot read %s: %s", file_path, strerror(errno ? errno : EIO));
        fclose(out);
        unlink(tmp);
        goto out;
    }
    if (token && !written)
        fprintf(out, "%s %s%s%s\n", server, token, *user ? " " : "", user);

    if (!token && !*found) { /* nothing removed: leave the file alone */
        fclose(out);
        unlink(tmp);
        rc = 0;
        goto out;
    }
    if (fflush(out) != 0 || fsync(fileno(out)) < 0) {
        fail("cannot write %s: %s", tmp, strerror(errno));
        fclose(out);
        unlink(tmp);
        goto out;
    }
    if (fclose(out) != 0) {
        fail("cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, file_path) < 0) {
        fail("cannot replace %s: %s", file_path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    fsync(dfd); /* make the rename durable; nothing to do if it fails */
    rc = 0;

out:
    if (in)
        fclose(in);
    free_line(line, cap);
    if (dfd >= 0)
        close(dfd); /* releases the lock */
    return rc;
}

int store_put(const char *server, const char *token, const char *user)
{
    int found;

    if (!valid_word(server, 0) || server[0] == '#')
        return fail("invalid server address");
    if (!valid_word(token, 0))
        return fail("invalid session token");
    if (!valid_word(user, 1))
        return fail("invalid user name");
    return rewrite(server, token, user ? user : "", &found);
}

int store_del(const char *server)
{
    int found;

    if (!valid_word(server, 0))
        return fail("invalid server address");
    if (rewrite(server, NULL, NULL, &found) < 0)
        return -1;
    return found ? 0 : 1;
}
