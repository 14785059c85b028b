/* status.c - names, messages and families of the status table (see status.h). */
#include "steme/status.h"

const char *steme_strerror(int status)
{
    switch (status) {
#define STEME__MSG(name, value, family, msg) case value: return msg;
        STEME_STATUS_MAP(STEME__MSG)
#undef STEME__MSG
    }
    return "unknown status";
}

const char *steme_errname(int status)
{
    if (status == 0)
        return "STEME_OK";
    switch (status) {
#define STEME__NAME(name, value, family, msg) case value: return "STEME_E_" #name;
        /* The table's first row is OK (0), already answered; its case label
         * would duplicate nothing, since `status` is never 0 here. */
        STEME_STATUS_MAP(STEME__NAME)
#undef STEME__NAME
    }
    return "STEME_E_UNKNOWN";
}

steme_status_family steme_status_family_of(int status)
{
    switch (status) {
#define STEME__FAM(name, value, family, msg) case value: return STEME_FAMILY_##family;
        STEME_STATUS_MAP(STEME__FAM)
#undef STEME__FAM
    }
    return STEME_FAMILY_FATAL;
}
