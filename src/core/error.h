/*
 * core/error.h - internal helpers to fill a steme_error and to keep the last
 * error of a handle per calling thread.
 *
 * A handle shared by many threads must not hand one thread's message to
 * another, so each handle owns a steme_errslot: a pthread key whose value is
 * the calling thread's steme_error for that handle (allocated on a thread's
 * first failure, freed at thread exit or when the slot is destroyed).
 * If the process runs out of pthread keys, the slot falls back to one
 * mutex-guarded message shared by all threads (documented degradation).
 */
#ifndef STEME_CORE_ERROR_H
#define STEME_CORE_ERROR_H

#include <pthread.h>
#include <stdarg.h>
#include "steme/status.h"

/* Fill *err (if non-NULL) with code and a printf-style message; return code. */
int steme_err(steme_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int steme_verr(steme_error *err, int code, const char *fmt, va_list ap);

/*
 * Report corruption with the source location, like SQLite's CORRUPT_BKPT:
 * the message ends with "(file.c:123)" so a report names the check.
 */
#define STEME_CORRUPT(err, ...) \
    steme_err_corrupt_at((err), __FILE__, __LINE__, __VA_ARGS__)
int steme_err_corrupt_at(steme_error *err, const char *file, int line,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

typedef struct steme_errslot {
    pthread_key_t es_key;
    int es_has_key;
    pthread_mutex_t es_lock;     /* guards es_shared when there is no key */
    steme_error es_shared;
} steme_errslot;

int steme_errslot_init(steme_errslot *slot);
void steme_errslot_destroy(steme_errslot *slot);
/* The calling thread's error record for this handle, or NULL on OOM. */
steme_error *steme_errslot_get(steme_errslot *slot);
/* Record code + message as the calling thread's last error; return code. */
int steme_errslot_set(steme_errslot *slot, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copy *src (a failure) into the slot; return src->code. */
int steme_errslot_put(steme_errslot *slot, const steme_error *src);
/* The calling thread's last message; "no error" if none. Never NULL. */
const char *steme_errslot_message(steme_errslot *slot);

#endif
