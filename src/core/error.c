/* error.c - steme_error filling and per-handle, per-thread error slots. */
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int steme_verr(steme_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        if (fmt)
            vsnprintf(err->message, sizeof err->message, fmt, ap);
        else
            snprintf(err->message, sizeof err->message, "%s", steme_strerror(code));
    }
    return code;
}

int steme_err(steme_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    steme_verr(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int steme_err_corrupt_at(steme_error *err, const char *file, int line, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        steme_verr(err, STEME_E_CORRUPT, fmt, ap);
        va_end(ap);
        const char *base = strrchr(file, '/');
        size_t used = strlen(err->message);
        if (used < sizeof err->message)
            snprintf(err->message + used, sizeof err->message - used, " (%s:%d)",
                     base ? base + 1 : file, line);
    }
    return STEME_E_CORRUPT;
}

int steme_errslot_init(steme_errslot *slot)
{
    memset(slot, 0, sizeof *slot);
    if (pthread_mutex_init(&slot->es_lock, NULL) != 0)
        return STEME_E_NOMEM;
    slot->es_has_key = pthread_key_create(&slot->es_key, free) == 0;
    return STEME_OK;
}

void steme_errslot_destroy(steme_errslot *slot)
{
    if (!slot)
        return;
    if (slot->es_has_key) {
        /* Only the closing thread's record can be reached here; other
         * threads' records are freed by the key destructor at their exit,
         * or leak if the key is deleted first (pthread semantics). Free
         * ours so a single-threaded user leaks nothing. */
        steme_error *mine = pthread_getspecific(slot->es_key);
        free(mine);
        pthread_setspecific(slot->es_key, NULL);
        pthread_key_delete(slot->es_key);
        slot->es_has_key = 0;
    }
    pthread_mutex_destroy(&slot->es_lock);
}

steme_error *steme_errslot_get(steme_errslot *slot)
{
    if (!slot->es_has_key)
        return &slot->es_shared;
    steme_error *e = pthread_getspecific(slot->es_key);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || pthread_setspecific(slot->es_key, e) != 0) {
            free(e);
            return NULL;
        }
    }
    return e;
}

int steme_errslot_set(steme_errslot *slot, int code, const char *fmt, ...)
{
    if (!slot)
        return code;
    if (!slot->es_has_key)
        pthread_mutex_lock(&slot->es_lock);
    steme_error *e = steme_errslot_get(slot);
    va_list ap;
    va_start(ap, fmt);
    steme_verr(e, code, fmt, ap);
    va_end(ap);
    if (!slot->es_has_key)
        pthread_mutex_unlock(&slot->es_lock);
    return code;
}

int steme_errslot_put(steme_errslot *slot, const steme_error *src)
{
    return steme_errslot_set(slot, src->code, "%s", src->message);
}

const char *steme_errslot_message(steme_errslot *slot)
{
    if (!slot)
        return "no handle";
    steme_error *e = slot->es_has_key ? pthread_getspecific(slot->es_key) : &slot->es_shared;
    if (!e || e->code == 0)
        return "no error";
    return e->message;
}
