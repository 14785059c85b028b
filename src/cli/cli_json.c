/* cli_json.c - assertions and votes to and from JSON lines (the export /
 * import format, described in cli_json.h and docs/cli.md). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "cli/cli_json.h"

void cli_export_assertion(FILE *f, const steme_hash *h, const steme_assertion *a)
{
    fprintf(f, "{\"type\":\"assertion\",\"hash\":");
    cli_json_hex(f, h->bytes, 32);
    fprintf(f, ",\"subject\":");
    cli_json_str(f, a->subject, a->subject_len);
    fprintf(f, ",\"predicate\":");
    cli_json_str(f, a->predicate, a->predicate_len);
    fprintf(f, ",\"object\":");
    cli_print_value_json(f, &a->object);
    fprintf(f, ",\"confidence\":");
    cli_print_double(f, a->confidence);
    const char *kind = steme_source_kind_name(a->source_kind);
    fprintf(f, ",\"source\":{\"kind\":\"%s\",\"ref\":", kind ? kind : "other");
    cli_json_str(f, a->source_ref ? a->source_ref : "", a->source_ref_len);
    fprintf(f, "},\"agent\":");
    cli_json_hex(f, a->agent.bytes, 32);
    fprintf(f, ",\"timestamp\":%" PRIu64, a->timestamp);
    if (a->has_epoch)
        fprintf(f, ",\"epoch\":%" PRIu64, a->epoch);
    if (a->has_embedding)
        fprintf(f, ",\"embedding\":"), cli_json_hex(f, a->embedding.bytes, 32);
    if (a->has_phash)
        fprintf(f, ",\"phash\":\"%016" PRIx64 "\"", a->phash);
    if (a->has_signature)
        fprintf(f, ",\"signature\":"), cli_json_hex(f, a->signature.bytes, 64);
    fprintf(f, "}\n");
}

void cli_export_vote(FILE *f, const steme_vote *v)
{
    fprintf(f, "{\"type\":\"vote\",\"assertion\":");
    cli_json_hex(f, v->assertion.bytes, 32);
    fprintf(f, ",\"voter\":");
    cli_json_hex(f, v->voter.bytes, 32);
    fprintf(f, ",\"weight\":");
    cli_print_double(f, v->weight);
    fprintf(f, ",\"timestamp\":%" PRIu64, v->timestamp);
    if (v->has_signature)
        fprintf(f, ",\"signature\":"), cli_json_hex(f, v->signature.bytes, 64);
    fprintf(f, "}\n");
}

cli_json_kind cli_json_kind_of(json_t *j)
{
    if (!json_is_object(j))
        return CLI_JSON_BAD;
    const char *t = json_string_value(json_object_get(j, "type"));
    if (t)
        return strcmp(t, "assertion") == 0 ? CLI_JSON_ASSERTION
               : strcmp(t, "vote") == 0    ? CLI_JSON_VOTE
                                           : CLI_JSON_BAD;
    if (json_object_get(j, "subject"))
        return CLI_JSON_ASSERTION;
    if (json_object_get(j, "voter") || json_object_get(j, "weight"))
        return CLI_JSON_VOTE;
    return CLI_JSON_BAD;
}

static int why_set(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* A text field: NUL-free pointer and length, required or not. */
static int get_text(json_t *j, const char *name, int required, const char **p, size_t *len,
                    char *why, size_t cap)
{
    json_t *x = json_object_get(j, name);
    if (!x && !required) {
        *p = "", *len = 0;
        return 0;
    }
    if (!json_is_string(x))
        return why_set(why, cap, "\"%s\" must be a string", name);
    *p = json_string_value(x);
    *len = json_string_length(x);
    return 0;
}

static int get_hex(json_t *j, const char *name, uint8_t *out, size_t n, char *why, size_t cap)
{
    const char *s = json_string_value(json_object_get(j, name));
    if (!s || strlen(s) != 2 * n || steme_hex_decode(s, 2 * n, out, n, NULL) != STEME_OK)
        return why_set(why, cap, "\"%s\" must be %zu hex digits", name, 2 * n);
    return 0;
}

static int get_u64(json_t *j, const char *name, uint64_t *out, char *why, size_t cap)
{
    json_t *x = json_object_get(j, name);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return why_set(why, cap, "\"%s\" must be a non-negative integer", name);
    *out = (uint64_t)json_integer_value(x);
    return 0;
}

static int get_number(json_t *j, const char *name, double *out, char *why, size_t cap)
{
    json_t *x = json_object_get(j, name);
    if (!json_is_number(x))
        return why_set(why, cap, "\"%s\" must be a number", name);
    *out = json_number_value(x);
    return 0;
}

static int get_value(json_t *j, steme_value *v, uint8_t *bytes, size_t cap, char *why,
                     size_t wcap)
{
    json_t *o = json_object_get(j, "object"), *x;
    if (!json_is_object(o) || json_object_size(o) != 1)
        return why_set(why, wcap, "\"object\" must be one of {\"string\":..}, {\"int\":..}, "
                                  "{\"float\":..}, {\"bool\":..}, {\"bytes\":..}");
    if ((x = json_object_get(o, "string")) && json_is_string(x)) {
        *v = steme_value_string(json_string_value(x), json_string_length(x));
    } else if ((x = json_object_get(o, "int")) && json_is_integer(x)) {
        *v = steme_value_int(json_integer_value(x));
    } else if ((x = json_object_get(o, "float")) && json_is_number(x)) {
        *v = steme_value_float(json_number_value(x));
    } else if ((x = json_object_get(o, "bool")) && json_is_boolean(x)) {
        *v = steme_value_bool(json_is_true(x));
    } else if ((x = json_object_get(o, "bytes")) && json_is_string(x)) {
        size_t n = json_string_length(x) / 2;
        if (json_string_length(x) % 2 || n > cap ||
            steme_hex_decode(json_string_value(x), 2 * n, bytes, n, NULL) != STEME_OK)
            return why_set(why, wcap, "object bytes: even number of hex digits, at most %zu bytes",
                           cap);
        *v = steme_value_bytes(bytes, n);
    } else {
        return why_set(why, wcap, "\"object\": unknown or mistyped value");
    }
    return 0;
}

static int get_source(json_t *j, steme_assertion *a, char *why, size_t cap)
{
    static const steme_source_kind kinds[] = {
        STEME_SOURCE_REGULATORY, STEME_SOURCE_PEER_REVIEWED, STEME_SOURCE_CLINICAL,
        STEME_SOURCE_NEWS, STEME_SOURCE_FORUM, STEME_SOURCE_AGENT, STEME_SOURCE_SENSOR,
        STEME_SOURCE_OTHER};
    json_t *s = json_object_get(j, "source");
    a->source_kind = STEME_SOURCE_AGENT, a->source_ref = "", a->source_ref_len = 0;
    if (!s)
        return 0;
    const char *kind = json_string_value(json_object_get(s, "kind"));
    if (!json_is_object(s) || !kind)
        return why_set(why, cap, "\"source\" must be {\"kind\":K,\"ref\":R}");
    a->source_kind = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, steme_source_kind_name(kinds[i])) == 0)
            a->source_kind = kinds[i];
    if (!a->source_kind)
        return why_set(why, cap, "unknown source kind \"%s\"", kind);
    return get_text(s, "ref", 0, &a->source_ref, &a->source_ref_len, why, cap);
}

int cli_json_to_assertion(json_t *j, steme_assertion *a, uint8_t *bytes, size_t cap,
                          int *signed_out, char *why, size_t whycap)
{
    memset(a, 0, sizeof *a);
    *signed_out = 0;
    if (get_text(j, "subject", 1, &a->subject, &a->subject_len, why, whycap) ||
        get_text(j, "predicate", 1, &a->predicate, &a->predicate_len, why, whycap) ||
        get_value(j, &a->object, bytes, cap, why, whycap) || get_source(j, a, why, whycap))
        return -1;
    a->confidence = 1.0;
    if (json_object_get(j, "confidence") && get_number(j, "confidence", &a->confidence, why, whycap))
        return -1;
    if (json_object_get(j, "agent") && get_hex(j, "agent", a->agent.bytes, 32, why, whycap))
        return -1;
    if (get_u64(j, "timestamp", &a->timestamp, why, whycap))
        return -1;
    if (json_object_get(j, "epoch")) {
        if (get_u64(j, "epoch", &a->epoch, why, whycap))
            return -1;
        a->has_epoch = true;
    }
    if (json_object_get(j, "embedding")) {
        if (get_hex(j, "embedding", a->embedding.bytes, 32, why, whycap))
            return -1;
        a->has_embedding = true;
    }
    if (json_object_get(j, "phash")) {
        uint8_t b[8];
        if (get_hex(j, "phash", b, 8, why, whycap))
            return -1;
        for (int i = 0; i < 8; i++)
            a->phash = a->phash << 8 | b[i];
        a->has_phash = true;
    }
    if (json_object_get(j, "signature")) {
        if (get_hex(j, "signature", a->signature.bytes, 64, why, whycap))
            return -1;
        a->has_signature = true;
        *signed_out = 1;
    }
    return 0;
}

int cli_json_to_vote(json_t *j, steme_vote *v, int *signed_out, char *why, size_t whycap)
{
    memset(v, 0, sizeof *v);
    *signed_out = 0;
    if (get_hex(j, "assertion", v->assertion.bytes, 32, why, whycap) ||
        get_number(j, "weight", &v->weight, why, whycap) ||
        get_u64(j, "timestamp", &v->timestamp, why, whycap))
        return -1;
    if (json_object_get(j, "voter") && get_hex(j, "voter", v->voter.bytes, 32, why, whycap))
        return -1;
    if (json_object_get(j, "signature")) {
        if (get_hex(j, "signature", v->signature.bytes, 64, why, whycap))
            return -1;
        v->has_signature = true;
        *signed_out = 1;
    }
    return 0;
}
