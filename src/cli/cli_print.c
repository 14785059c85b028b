/* cli_print.c - printing assertions as text and as JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/types.h"

/* Shortest "%g" form that reads back to the same double (0.4, not
 * 0.40000000000000002). */
void cli_print_double(FILE *f, double x)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    fputs(buf, f);
}

void cli_print_value_text(FILE *f, const steme_value *v)
{
    switch (v->type) {
        case STEME_VALUE_STRING: fprintf(f, "\"%.*s\"", (int)v->v.str.len, v->v.str.ptr); break;
        case STEME_VALUE_INT: fprintf(f, "%" PRId64, v->v.i64); break;
        case STEME_VALUE_FLOAT: cli_print_double(f, v->v.f64); break;
        case STEME_VALUE_BOOL: fprintf(f, "%s", v->v.boolean ? "true" : "false"); break;
        case STEME_VALUE_BYTES:
            fprintf(f, "0x");
            for (size_t i = 0; i < v->v.bytes.len; i++)
                fprintf(f, "%02x", v->v.bytes.ptr[i]);
            break;
    }
}

void cli_print_value_json(FILE *f, const steme_value *v)
{
    switch (v->type) {
        case STEME_VALUE_STRING:
            fprintf(f, "{\"string\":");
            cli_json_str(f, v->v.str.ptr, v->v.str.len);
            fprintf(f, "}");
            break;
        case STEME_VALUE_INT: fprintf(f, "{\"int\":%" PRId64 "}", v->v.i64); break;
        case STEME_VALUE_FLOAT: fprintf(f, "{\"float\":"); cli_print_double(f, v->v.f64); fprintf(f, "}"); break;
        case STEME_VALUE_BOOL: fprintf(f, "{\"bool\":%s}", v->v.boolean ? "true" : "false"); break;
        case STEME_VALUE_BYTES:
            fprintf(f, "{\"bytes\":\"");
            for (size_t i = 0; i < v->v.bytes.len; i++)
                fprintf(f, "%02x", v->v.bytes.ptr[i]);
            fprintf(f, "\"}");
            break;
    }
}

void cli_print_assertion(FILE *f, const steme_hash *h, const steme_assertion *a, int json,
                         const char *sig_status)
{
    char hh[65], ah[65];
    steme_hex_encode(h->bytes, 32, hh, sizeof hh);
    steme_hex_encode(a->agent.bytes, 32, ah, sizeof ah);
    const char *kind = steme_source_kind_name(a->source_kind);
    if (json) {
        fprintf(f, "{\"hash\":\"%s\",\"subject\":", hh);
        cli_json_str(f, a->subject, a->subject_len);
        fprintf(f, ",\"predicate\":");
        cli_json_str(f, a->predicate, a->predicate_len);
        fprintf(f, ",\"object\":");
        cli_print_value_json(f, &a->object);
        fprintf(f, ",\"confidence\":");
        cli_print_double(f, a->confidence);
        fprintf(f, ",\"source\":{\"kind\":\"%s\",\"ref\":", kind ? kind : "?");
        cli_json_str(f, a->source_ref ? a->source_ref : "", a->source_ref_len);
        fprintf(f, "},\"agent\":\"%s\",\"timestamp\":%" PRIu64 ",\"signature\":\"%s\"}\n", ah,
                a->timestamp, sig_status);
        return;
    }
    fprintf(f, "hash        %s\nsubject     %.*s\npredicate   %.*s\nobject      ", hh,
            (int)a->subject_len, a->subject, (int)a->predicate_len, a->predicate);
    cli_print_value_text(f, &a->object);
    fprintf(f, "\nconfidence  %g\nsource      %s%s%.*s\nagent       %s\ntimestamp   %" PRIu64
               "\nsignature   %s\n",
            a->confidence, kind ? kind : "?", a->source_ref_len ? " " : "",
            (int)a->source_ref_len, a->source_ref ? a->source_ref : "", ah, a->timestamp,
            sig_status);
}
