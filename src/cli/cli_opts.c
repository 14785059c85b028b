/* cli_opts.c - option parsing and output helpers for the command line. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "steme/status.h"

static int is_flag(const char *name, const char *const *flags)
{
    static const char *const always[] = {"json", "help", NULL};
    for (const char *const *f = always; *f; f++)
        if (strcmp(*f, name) == 0)
            return 1;
    for (const char *const *f = flags; f && *f; f++)
        if (strcmp(*f, name) == 0)
            return 1;
    return 0;
}

int cli_parse(int argc, char **argv, const char *const *flags, cli_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (o->npos == CLI_MAX_POS)
                    return cli_fail(CLI_USAGE, argv[0], "too many arguments");
                o->pos[o->npos++] = argv[i];
            }
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (o->npos == CLI_MAX_POS)
                return cli_fail(CLI_USAGE, argv[0], "too many arguments");
            o->pos[o->npos++] = a;
            continue;
        }
        const char *name = a + 2;
        if (o->n == CLI_MAX_OPTS)
            return cli_fail(CLI_USAGE, argv[0], "too many options");
        o->names[o->n] = name;
        if (is_flag(name, flags)) {
            o->values[o->n++] = NULL;
            if (strcmp(name, "json") == 0) o->json = 1;
            if (strcmp(name, "help") == 0) o->help = 1;
            continue;
        }
        if (i + 1 >= argc)
            return cli_fail(CLI_USAGE, argv[0], "option --%s needs a value", name);
        o->values[o->n++] = argv[++i];
    }
    if (!cli_get(o, "db")) {
        const char *env = getenv("STEME_DB");
        if (env && *env && o->n < CLI_MAX_OPTS) {
            o->names[o->n] = "db";
            o->values[o->n++] = env;
        }
    }
    return CLI_OK;
}

const char *cli_get(const cli_opts *o, const char *name)
{
    for (int i = o->n - 1; i >= 0; i--) /* last one wins */
        if (strcmp(o->names[i], name) == 0)
            return o->values[i];
    return NULL;
}

int cli_has(const cli_opts *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0)
            return 1;
    return 0;
}

int cli_check_known(const cli_opts *o, const char *cmd, const char *const *known)
{
    for (int i = 0; i < o->n; i++) {
        const char *n = o->names[i];
        int ok = strcmp(n, "json") == 0 || strcmp(n, "help") == 0 || strcmp(n, "db") == 0;
        for (const char *const *k = known; !ok && k && *k; k++)
            ok = strcmp(*k, n) == 0;
        if (!ok)
            return cli_fail(CLI_USAGE, cmd, "unknown option --%s (see steme %s --help)", n, cmd);
    }
    return CLI_OK;
}

const char *cli_require(const cli_opts *o, const char *cmd, const char *name)
{
    const char *v = cli_get(o, name);
    if (!v || !*v)
        cli_fail(CLI_USAGE, cmd, "missing --%s", name);
    return v && *v ? v : NULL;
}

int cli_get_u64(const cli_opts *o, const char *name, unsigned long long *out, int required)
{
    const char *v = cli_get(o, name);
    if (!v)
        return required ? cli_fail(CLI_USAGE, "", "missing --%s", name) : CLI_OK;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || *v == '-')
        return cli_fail(CLI_USAGE, "", "--%s: not an unsigned integer: '%s'", name, v);
    *out = x;
    return CLI_OK;
}

int cli_get_double(const cli_opts *o, const char *name, double *out, int required)
{
    const char *v = cli_get(o, name);
    if (!v)
        return required ? cli_fail(CLI_USAGE, "", "missing --%s", name) : CLI_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return cli_fail(CLI_USAGE, "", "--%s: not a finite number: '%s'", name, v);
    *out = x;
    return CLI_OK;
}

int cli_fail(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "steme%s%s: ", cmd && *cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_exit_for_status(int status)
{
    switch (steme_status_family_of(status)) {
        case STEME_FAMILY_OK: return CLI_OK;
        case STEME_FAMILY_NOTFOUND: return CLI_FAIL;
        case STEME_FAMILY_INVALID: return CLI_FAIL;
        case STEME_FAMILY_CORRUPT: return CLI_DAMAGED;
        default: return CLI_ERROR;
    }
}

void cli_usage(const cli_cmd *c, FILE *to)
{
    fprintf(to, "usage: steme %s %s\n\n%s\n", c->name, c->usage, c->summary);
}

void cli_json_str(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
