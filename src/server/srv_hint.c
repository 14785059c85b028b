/*
 * srv_hint.c - what this server last learnt of each agent's Meter: the
 * tokens it had left after its last charge, until the end of that hour.
 *
 * Why: a query asks the Meter before its reads (a read of the agent's limit
 * and usage, docs/query.md step 2), and is checked again when it is charged
 * (step 6, under the agent's meter lock). The first check only spares the
 * reads of a query the agent cannot pay; the second is the one that keeps
 * the Meter atomic. When the agent's last charge, this hour, left it enough
 * for another query, the server skips the first (steme_query_request.
 * skip_meter_precheck) and saves two reads per query.
 *
 * A hint is never trusted to refuse or to charge: only to skip the
 * pre-check. If it is stale (other queries of the agent in flight, another
 * node of a shared database charging the same agent, a lower limit set
 * since), the query is refused at its charge, writes nothing, and the hint
 * then holds the truth again. A hint below the cost, or of another hour,
 * means the pre-check is made as before.
 *
 * Slots are direct-mapped by the agent id's first bytes (an agent id is a
 * public key); a collision evicts, which costs a pre-check, never a wrong
 * answer. Each slot is guarded by one of SRV_HINT_LOCKS mutexes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

#define SRV_HINT_SLOTS 4096u   /* power of two */
#define SRV_HINT_LOCKS 64u

typedef struct srv_hint_slot {
    steme_agent_id agent;
    uint64_t reset_at;    /* the hint is for the hour ending here (0: empty) */
    uint64_t remaining;   /* tokens left after the agent's last charge */
} srv_hint_slot;

struct srv_hints {
    pthread_mutex_t locks[SRV_HINT_LOCKS];
    srv_hint_slot slots[SRV_HINT_SLOTS];
};

static size_t slot_of(const steme_agent_id *agent)
{
    uint32_t h;
    memcpy(&h, agent->bytes, sizeof h);
    return h & (SRV_HINT_SLOTS - 1);
}

int srv_hints_new(srv_hints **out)
{
    srv_hints *h = calloc(1, sizeof *h);
    *out = NULL;
    if (!h)
        return STEME_E_NOMEM;
    for (unsigned i = 0; i < SRV_HINT_LOCKS; i++) {
        if (pthread_mutex_init(&h->locks[i], NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&h->locks[i]);
            free(h);
            return STEME_E_INTERNAL;
        }
    }
    *out = h;
    return STEME_OK;
}

void srv_hints_free(srv_hints *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i < SRV_HINT_LOCKS; i++)
        pthread_mutex_destroy(&h->locks[i]);
    free(h);
}

void srv_hint_note(srv_hints *h, const steme_agent_id *agent, uint64_t reset_at,
                   uint64_t remaining)
{
    if (!h)
        return;
    size_t k = slot_of(agent);
    pthread_mutex_t *m = &h->locks[k % SRV_HINT_LOCKS];
    pthread_mutex_lock(m);
    h->slots[k].agent = *agent;
    h->slots[k].reset_at = reset_at;
    h->slots[k].remaining = remaining;
    pthread_mutex_unlock(m);
}

int srv_hint_can_pay(srv_hints *h, const steme_agent_id *agent, uint64_t now_ms, uint64_t cost)
{
    if (!h)
        return 0;
    size_t k = slot_of(agent);
    pthread_mutex_t *m = &h->locks[k % SRV_HINT_LOCKS];
    pthread_mutex_lock(m);
    const srv_hint_slot *s = &h->slots[k];
    /* this hour's (reset_at - 1 h <= now < reset_at), this agent's, enough */
    int ok = s->reset_at > now_ms && s->reset_at - now_ms <= STEME_QUOTA_HOUR_MS &&
             s->remaining >= cost &&
             memcmp(s->agent.bytes, agent->bytes, sizeof agent->bytes) == 0;
    pthread_mutex_unlock(m);
    return ok;
}
