/*
 * srv_json.c - JSON shapes of values, assertions and votes (docs/api.md),
 * both ways. Parsing is strict: unknown members are refused (a typo in a
 * signed body must not silently drop a field), every member has one type,
 * numbers that must be whole are whole, and record limits are left to
 * steme_*_validate, whose message is passed on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

#define WHY(...) (snprintf(why, cap, __VA_ARGS__), 0)

static const char *const value_types[] = {NULL, "string", "int", "float", "bool", "bytes"};

static int only_keys(json_t *obj, const char *const *keys, char *why, size_t cap)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int known = 0;
        for (const char *const *p = keys; *p && !known; p++)
            known = strcmp(*p, k) == 0;
        if (!known)
            return WHY("unknown member \"%.64s\"", k);
    }
    return 1;
}

int srv_get_text(json_t *obj, const char *key, int required, const char **ptr, size_t *len,
                 char *why, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *ptr = "";
        *len = 0;
        return required ? WHY("missing member \"%s\"", key) : 1;
    }
    if (!json_is_string(v))
        return WHY("\"%s\" must be a string", key);
    *ptr = json_string_value(v);
    *len = json_string_length(v);
    return 1;
}

static int get_hex(json_t *obj, const char *key, uint8_t *out, size_t n, int *present,
                   char *why, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 1;
    if (!json_is_string(v) || !srv_hex_parse(json_string_value(v), out, n))
        return WHY("\"%s\" must be a string of %zu hex digits", key, 2 * n);
    return 1;
}

static int get_u64(json_t *obj, const char *key, uint64_t *out, int *present, char *why,
                   size_t cap)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 1;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 1;
    }
    /* u64 beyond 2^63 travel as decimal strings. */
    if (json_is_string(v) && srv_parse_u64(json_string_value(v), out))
        return 1;
    return WHY("\"%s\" must be a non-negative integer", key);
}

static int get_number(json_t *obj, const char *key, double *out, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return WHY("missing member \"%s\"", key);
    if (!json_is_number(v))
        return WHY("\"%s\" must be a number", key);
    *out = json_number_value(v);
    return 1;
}

int srv_value_from_json(json_t *j, steme_value *out, uint8_t **scratch, char *why, size_t cap)
{
    if (json_is_string(j)) {
        *out = steme_value_string(json_string_value(j), json_string_length(j));
        return 1;
    }
    if (json_is_integer(j)) {
        *out = steme_value_int((int64_t)json_integer_value(j));
        return 1;
    }
    if (json_is_real(j)) {
        *out = steme_value_float(json_real_value(j));
        return 1;
    }
    if (json_is_boolean(j)) {
        *out = steme_value_bool(json_is_true(j));
        return 1;
    }
    if (!json_is_object(j))
        return WHY("a value is a string, number, boolean or {\"type\":..,\"value\":..}");
    static const char *const keys[] = {"type", "value", NULL};
    if (!only_keys(j, keys, why, cap))
        return 0;
    json_t *t = json_object_get(j, "type"), *v = json_object_get(j, "value");
    if (!json_is_string(t) || !v)
        return WHY("a typed value needs \"type\" (a string) and \"value\"");
    const char *ts = json_string_value(t);
    if (strcmp(ts, "string") == 0 && json_is_string(v)) {
        *out = steme_value_string(json_string_value(v), json_string_length(v));
    } else if (strcmp(ts, "int") == 0 && json_is_integer(v)) {
        *out = steme_value_int((int64_t)json_integer_value(v));
    } else if (strcmp(ts, "float") == 0 && json_is_number(v)) {
        *out = steme_value_float(json_number_value(v));
    } else if (strcmp(ts, "bool") == 0 && json_is_boolean(v)) {
        *out = steme_value_bool(json_is_true(v));
    } else if (strcmp(ts, "bytes") == 0 && json_is_string(v)) {
        size_t hl = json_string_length(v);
        if (hl % 2 || hl / 2 > STEME_VALUE_MAX)
            return WHY("bytes value must be an even number of hex digits, at most %u bytes",
                       STEME_VALUE_MAX);
        uint8_t *b = malloc(hl / 2 + 1);
        if (!b)
            return WHY("out of memory");
        if (hl && steme_hex_decode(json_string_value(v), hl, b, hl / 2, NULL) != STEME_OK) {
            free(b);
            return WHY("bytes value is not hex");
        }
        free(*scratch);
        *scratch = b;
        *out = steme_value_bytes(b, hl / 2);
    } else {
        return WHY("typed value: type must be string|int|float|bool|bytes and value match it");
    }
    return 1;
}

json_t *srv_value_to_json(const steme_value *v)
{
    json_t *val = NULL;
    switch (v->type) {
    case STEME_VALUE_STRING: val = json_stringn_nocheck(v->v.str.ptr, v->v.str.len); break;
    case STEME_VALUE_INT: val = json_integer((json_int_t)v->v.i64); break;
    case STEME_VALUE_FLOAT: val = json_real(v->v.f64); break;
    case STEME_VALUE_BOOL: val = json_boolean(v->v.boolean); break;
    case STEME_VALUE_BYTES: {
        char *hex = malloc(2 * v->v.bytes.len + 1);
        if (!hex)
            return NULL;
        steme_hex_encode(v->v.bytes.ptr, v->v.bytes.len, hex, 2 * v->v.bytes.len + 1);
        val = json_string(hex);
        free(hex);
        break;
    }
    default: return NULL;
    }
    unsigned t = (unsigned)v->type;
    return json_pack("{s:s,s:o}", "type", value_types[t], "value", val);
}

static int parse_source(json_t *obj, steme_assertion *a, char *why, size_t cap)
{
    json_t *s = json_object_get(obj, "source");
    json_t *kind = s, *ref = NULL;
    if (!s) {
        a->source_kind = STEME_SOURCE_AGENT;   /* documented default */
        a->source_ref = "";
        return 1;
    }
    if (json_is_object(s)) {
        static const char *const keys[] = {"kind", "ref", NULL};
        if (!only_keys(s, keys, why, cap))
            return 0;
        kind = json_object_get(s, "kind");
        ref = json_object_get(s, "ref");
    }
    if (!json_is_string(kind) || (ref && !json_is_string(ref)))
        return WHY("\"source\" is a kind name or {\"kind\":..,\"ref\":..} of strings");
    for (int k = STEME_SOURCE_REGULATORY; k <= STEME_SOURCE_OTHER; k++) {
        const char *name = steme_source_kind_name((steme_source_kind)k);
        if (name && strcmp(name, json_string_value(kind)) == 0) {
            a->source_kind = (steme_source_kind)k;
            a->source_ref = ref ? json_string_value(ref) : "";
            a->source_ref_len = ref ? json_string_length(ref) : 0;
            return 1;
        }
    }
    return WHY("unknown source kind \"%.64s\"", json_string_value(kind));
}

int srv_assertion_from_json(json_t *obj, steme_assertion *a, uint8_t **scratch, char *why,
                            size_t cap)
{
    static const char *const keys[] = {"subject", "predicate", "object", "confidence",
                                       "source", "agent", "timestamp", "epoch", "embedding",
                                       "phash", "signature", NULL};
    memset(a, 0, sizeof *a);
    if (!only_keys(obj, keys, why, cap) ||
        !srv_get_text(obj, "subject", 1, &a->subject, &a->subject_len, why, cap) ||
        !srv_get_text(obj, "predicate", 1, &a->predicate, &a->predicate_len, why, cap) ||
        !get_number(obj, "confidence", &a->confidence, why, cap) || !parse_source(obj, a, why, cap))
        return 0;
    json_t *o = json_object_get(obj, "object");
    if (!o)
        return WHY("missing member \"object\"");
    if (!srv_value_from_json(o, &a->object, scratch, why, cap))
        return 0;
    int has = 0, has_ts = 0;
    if (!get_hex(obj, "agent", a->agent.bytes, sizeof a->agent.bytes, &has, why, cap))
        return 0;
    if (!has)
        return WHY("missing member \"agent\"");
    if (!get_u64(obj, "timestamp", &a->timestamp, &has_ts, why, cap))
        return 0;
    if (!has_ts)
        a->timestamp = srv_now_ms();
    if (!get_u64(obj, "epoch", &a->epoch, &has, why, cap))
        return 0;
    a->has_epoch = has;
    if (!get_hex(obj, "embedding", a->embedding.bytes, sizeof a->embedding.bytes, &has, why, cap))
        return 0;
    a->has_embedding = has;
    uint8_t ph[8];
    if (!get_hex(obj, "phash", ph, sizeof ph, &has, why, cap))
        return 0;
    a->has_phash = has;
    for (int i = 0; i < 8 && has; i++)   /* big-endian hex, as printed */
        a->phash = a->phash << 8 | ph[i];
    if (!get_hex(obj, "signature", a->signature.bytes, sizeof a->signature.bytes, &has, why, cap))
        return 0;
    a->has_signature = has;
    return 1;
}

json_t *srv_assertion_to_json(const steme_hash *h, const steme_assertion *a)
{
    json_t *j = json_object();
    if (!j)
        return NULL;
    const char *kind = steme_source_kind_name(a->source_kind);
    int bad = 0;
    bad |= json_object_set_new(j, "hash", srv_hex_json(h->bytes, sizeof h->bytes));
    bad |= json_object_set_new(j, "subject", json_stringn_nocheck(a->subject, a->subject_len));
    bad |= json_object_set_new(j, "predicate",
                               json_stringn_nocheck(a->predicate, a->predicate_len));
    bad |= json_object_set_new(j, "object", srv_value_to_json(&a->object));
    bad |= json_object_set_new(j, "confidence", json_real(a->confidence));
    bad |= json_object_set_new(j, "source",
                               json_pack("{s:s,s:s%}", "kind", kind ? kind : "?", "ref",
                                         a->source_ref ? a->source_ref : "", a->source_ref_len));
    bad |= json_object_set_new(j, "agent", srv_hex_json(a->agent.bytes, sizeof a->agent.bytes));
    bad |= json_object_set_new(j, "timestamp", json_integer((json_int_t)a->timestamp));
    if (a->has_epoch)
        bad |= json_object_set_new(j, "epoch", json_integer((json_int_t)a->epoch));
    if (a->has_embedding)
        bad |= json_object_set_new(j, "embedding",
                                   srv_hex_json(a->embedding.bytes, sizeof a->embedding.bytes));
    if (a->has_phash) {
        char ph[17];
        snprintf(ph, sizeof ph, "%016llx", (unsigned long long)a->phash);
        bad |= json_object_set_new(j, "phash", json_string(ph));
    }
    if (a->has_signature)
        bad |= json_object_set_new(j, "signature",
                                   srv_hex_json(a->signature.bytes, sizeof a->signature.bytes));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int srv_vote_from_json(json_t *obj, const steme_agent_id *dflt_voter, steme_vote *v, char *why,
                       size_t cap)
{
    static const char *const keys[] = {"assertion", "voter", "weight", "timestamp",
                                       "signature", NULL};
    memset(v, 0, sizeof *v);
    int has = 0;
    if (!only_keys(obj, keys, why, cap) ||
        !get_hex(obj, "assertion", v->assertion.bytes, sizeof v->assertion.bytes, &has, why, cap))
        return 0;
    if (!has)
        return WHY("missing member \"assertion\"");
    if (!get_hex(obj, "voter", v->voter.bytes, sizeof v->voter.bytes, &has, why, cap))
        return 0;
    if (!has)
        v->voter = *dflt_voter;
    if (!get_number(obj, "weight", &v->weight, why, cap))
        return 0;
    if (!isfinite(v->weight) || v->weight < -1.0 || v->weight > 1.0)
        return WHY("\"weight\" must be in [-1, 1]");
    if (!get_u64(obj, "timestamp", &v->timestamp, &has, why, cap))
        return 0;
    if (!has)
        v->timestamp = srv_now_ms();
    if (!get_hex(obj, "signature", v->signature.bytes, sizeof v->signature.bytes, &has, why, cap))
        return 0;
    v->has_signature = has;
    return 1;
}

json_t *srv_vote_to_json(const steme_vote *v)
{
    steme_hash h;
    json_t *hash = steme_vote_hash(v, &h, NULL) == STEME_OK ? srv_hex_json(h.bytes, 32)
                                                            : json_null();
    return json_pack("{s:o,s:o,s:o,s:f,s:I,s:b}", "hash", hash, "assertion",
                     srv_hex_json(v->assertion.bytes, 32), "voter",
                     srv_hex_json(v->voter.bytes, 32), "weight", v->weight, "timestamp",
                     (json_int_t)v->timestamp, "signed", (int)v->has_signature);
}
