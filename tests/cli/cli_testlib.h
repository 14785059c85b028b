/*
 * tests/cli/cli_testlib.h - run the built `steme` program (STEME_BINARY) from
 * a test: fork/exec with stdout and stderr captured in files, the exit code
 * returned. Header-only (each test is one executable).
 */
#ifndef STEME_CLI_TESTLIB_H
#define STEME_CLI_TESTLIB_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

typedef struct cli_result {
    int code;      /* exit code; 128 + signal if killed; -1 if it could not run */
    char *out;     /* stdout, NUL-terminated (malloc'd) */
    char *err;     /* stderr */
} cli_result;

static inline char *ct_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static inline void ct_free(cli_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Run STEME_BINARY with argv (NULL-terminated, without the program name),
 * in scratch directory dir (for the captured output files). */
static inline cli_result ct_runv(const char *dir, const char *const *args)
{
    char outp[4096], errp[4096];
    snprintf(outp, sizeof outp, "%s/.stdout", dir);
    snprintf(errp, sizeof errp, "%s/.stderr", dir);
    const char *argv[64];
    int n = 0;
    argv[n++] = STEME_BINARY;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cli_result r = {-1, NULL, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0)
            _exit(127);
        dup2(in, 0), dup2(o, 1), dup2(e, 2);
        unsetenv("STEME_DB");
        execv(STEME_BINARY, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid)
        r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = ct_slurp(outp);
    r.err = ct_slurp(errp);
    return r;
}

/* ct_run(dir, "verify", "--db", db, NULL) */
static inline cli_result ct_run(const char *dir, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, dir);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 63)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return ct_runv(dir, args);
}

/* Write text to dir/name; returns the malloc'd path. */
static inline char *ct_write(const char *dir, const char *name, const char *text)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* Last line of s (without its newline) into buf. */
static inline void ct_last_line(const char *s, char *buf, size_t cap)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n')
        n--;
    size_t start = n;
    while (start && s[start - 1] != '\n')
        start--;
    size_t len = n - start < cap - 1 ? n - start : cap - 1;
    memcpy(buf, s + start, len);
    buf[len] = 0;
}

#endif
