/*
 * steme/status.h - status codes, their names and messages, and error detail.
 *
 * Every fallible steme call returns a steme_status. STEME_OK (0) is success;
 * every other code is negative, in a band (-31000 .. -30901) kept clear of
 * errno values so a code is never mistaken for one.
 *
 * Codes come in families a caller can test with steme_status_family():
 *   NOTFOUND  the thing asked for does not exist (not a failure of the store)
 *   INVALID   the caller's input was refused; nothing was changed
 *   CORRUPT   stored bytes failed a check; they are never trusted
 *   IO        the operating system or a storage engine failed
 *   NOMEM     an allocation failed; the handle stays consistent
 *   BUSY      a resource is in use or a limit was reached; retry may work
 *   FATAL     the handle is poisoned (a failed fsync cannot be retried):
 *             every later write returns STEME_E_FATAL; close and reopen
 *
 * Detail: calls on a handle (steme_kv, steme_wal, ...) keep the message of
 * the calling thread's last failure on that handle, read with the handle's
 * *_errmsg() function. Calls without a handle take an optional
 * `steme_error *err` (may be NULL) that receives the code and a message.
 */
#ifndef STEME_STATUS_H
#define STEME_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, family, message): the one table of steme's statuses. */
#define STEME_STATUS_MAP(X)                                                          \
    X(OK,            0,      OK,       "success")                                     \
    X(NOTFOUND,      -30901, NOTFOUND, "not found")                                   \
    X(END,           -30902, NOTFOUND, "end of data")                                 \
    X(INVALID,       -30910, INVALID,  "invalid argument")                            \
    X(TOO_BIG,       -30911, INVALID,  "argument too large")                          \
    X(BAD_UTF8,      -30912, INVALID,  "text is not valid UTF-8 or contains NUL")     \
    X(BAD_SIGNATURE, -30913, INVALID,  "signature does not verify")                   \
    X(CROSS_ENGINE,  -30914, INVALID,  "batch spans more than one storage engine")    \
    X(BUFFER_SMALL,  -30915, INVALID,  "output buffer too small")                     \
    X(EXISTS,        -30916, INVALID,  "already exists")                              \
    X(UNSUPPORTED,   -30917, INVALID,  "operation not supported by this engine")      \
    X(CORRUPT,       -30930, CORRUPT,  "data is corrupt")                             \
    X(VERSION,       -30931, CORRUPT,  "unsupported format version")                  \
    X(IO,            -30940, IO,       "I/O error")                                   \
    X(ENGINE,        -30941, IO,       "storage engine error")                        \
    X(NOMEM,         -30950, NOMEM,    "out of memory")                               \
    X(BUSY,          -30960, BUSY,     "resource busy")                               \
    X(FULL,          -30961, BUSY,     "storage full or limit reached")               \
    X(CLOSED,        -30962, BUSY,     "handle is closing or closed")                 \
    X(QUOTA,         -30963, BUSY,     "quota exceeded: retry after the budget resets") \
    X(FATAL,         -30990, FATAL,    "handle poisoned after a failed sync; reopen") \
    X(INTERNAL,      -30999, FATAL,    "internal error (a bug in steme)")

typedef enum steme_status {
#define STEME__ENUM(name, value, family, msg) STEME_##name##_CODE = value,
    STEME_STATUS_MAP(STEME__ENUM)
#undef STEME__ENUM
} steme_status;

/* Short public names: STEME_OK and STEME_E_<NAME>. */
#define STEME_OK              STEME_OK_CODE
#define STEME_E_NOTFOUND      STEME_NOTFOUND_CODE
#define STEME_E_END           STEME_END_CODE
#define STEME_E_INVALID       STEME_INVALID_CODE
#define STEME_E_TOO_BIG       STEME_TOO_BIG_CODE
#define STEME_E_BAD_UTF8      STEME_BAD_UTF8_CODE
#define STEME_E_BAD_SIGNATURE STEME_BAD_SIGNATURE_CODE
#define STEME_E_CROSS_ENGINE  STEME_CROSS_ENGINE_CODE
#define STEME_E_BUFFER_SMALL  STEME_BUFFER_SMALL_CODE
#define STEME_E_EXISTS        STEME_EXISTS_CODE
#define STEME_E_UNSUPPORTED   STEME_UNSUPPORTED_CODE
#define STEME_E_CORRUPT       STEME_CORRUPT_CODE
#define STEME_E_VERSION       STEME_VERSION_CODE
#define STEME_E_IO            STEME_IO_CODE
#define STEME_E_ENGINE        STEME_ENGINE_CODE
#define STEME_E_NOMEM         STEME_NOMEM_CODE
#define STEME_E_BUSY          STEME_BUSY_CODE
#define STEME_E_FULL          STEME_FULL_CODE
#define STEME_E_CLOSED        STEME_CLOSED_CODE
#define STEME_E_QUOTA         STEME_QUOTA_CODE
#define STEME_E_FATAL         STEME_FATAL_CODE
#define STEME_E_INTERNAL      STEME_INTERNAL_CODE

typedef enum steme_status_family {
    STEME_FAMILY_OK = 0,
    STEME_FAMILY_NOTFOUND,
    STEME_FAMILY_INVALID,
    STEME_FAMILY_CORRUPT,
    STEME_FAMILY_IO,
    STEME_FAMILY_NOMEM,
    STEME_FAMILY_BUSY,
    STEME_FAMILY_FATAL
} steme_status_family;

/* Message of a code ("not found"); never NULL; "unknown status" for others. */
const char *steme_strerror(int status);
/* Name of a code ("STEME_E_NOTFOUND"); never NULL. */
const char *steme_errname(int status);
/* Family of a code; unknown codes are STEME_FAMILY_FATAL. */
steme_status_family steme_status_family_of(int status);

/* Size of steme_error.message, terminating NUL included. */
#define STEME_ERRMSG_MAX 256

/*
 * Error detail for calls without a handle. Caller-owned; pass NULL when the
 * code is enough. On failure `code` is the returned status and `message` a
 * NUL-terminated sentence naming what was wrong (and where, for decoders).
 * On success the struct is left untouched.
 */
typedef struct steme_error {
    int code;
    char message[STEME_ERRMSG_MAX];
} steme_error;

#ifdef __cplusplus
}
#endif
#endif /* STEME_STATUS_H */
