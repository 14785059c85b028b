/*
 * srv_route.c - the route table of `steme serve`: path templates with
 * {param} segments, the handler per method, and which routes are signed
 * writes. A path that matches no template is 404; a template matched with a
 * method it has no handler for is 405 (with Allow).
 */
#include <string.h>

#include "server/srv_int.h"

typedef struct srv_route {
    const char *path;          /* template; {x} matches one non-empty segment */
    srv_handler get;
    srv_handler post;
    int post_signed;           /* POST is a signed write */
    const char *allow;         /* Allow header for 405 */
} srv_route;

/* Indexed by srv_route_id. */
static const srv_route routes[SRV_R_COUNT] = {
    [SRV_R_ASSERTIONS] = {"/v1/assertions", NULL, srv_h_assert_post, 1, "POST"},
    [SRV_R_ASSERTION] = {"/v1/assertions/{hash}", srv_h_assert_get, NULL, 0, "GET, HEAD"},
    [SRV_R_ASSERTION_VOTES] = {"/v1/assertions/{hash}/votes", srv_h_votes_get, NULL, 0,
                               "GET, HEAD"},
    [SRV_R_VOTES] = {"/v1/votes", NULL, srv_h_votes_post, 1, "POST"},
    [SRV_R_QUERY] = {"/v1/query", srv_h_query, NULL, 0, "GET, HEAD"},
    [SRV_R_TRUST] = {"/v1/trust/{agent}", srv_h_trust_get, NULL, 0, "GET, HEAD"},
    [SRV_R_GOLD] = {"/v1/gold", srv_h_gold_get, srv_h_gold_post, 1, "GET, HEAD, POST"},
    [SRV_R_PACKS] = {"/v1/packs", srv_h_packs_get, srv_h_packs_post, 1, "GET, HEAD, POST"},
    [SRV_R_PACK_MEMBERS] = {"/v1/packs/{id}/members", srv_h_members_get, srv_h_members_post, 1,
                            "GET, HEAD, POST"},
    [SRV_R_AUDIT] = {"/v1/audit", srv_h_audit_get, NULL, 0, "GET, HEAD"},
    [SRV_R_ESCALATIONS] = {"/v1/escalations", srv_h_escalations_get, NULL, 0, "GET, HEAD"},
    [SRV_R_ESCALATION_RESOLVE] = {"/v1/escalations/{id}/resolve", NULL,
                                  srv_h_escalation_resolve, 1, "POST"},
    [SRV_R_SUPERSEDE] = {"/v1/supersede", NULL, srv_h_supersede, 1, "POST"},
    [SRV_R_VECTORS] = {"/v1/vectors", NULL, srv_h_vectors_add, 1, "POST"},
    [SRV_R_VISUAL] = {"/v1/visual", NULL, srv_h_visual_add, 1, "POST"},
    /* Searches are reads that carry their query in a body: not signed. */
    [SRV_R_VECTORS_SEARCH] = {"/v1/vectors/search", NULL, srv_h_vectors_search, 0, "POST"},
    [SRV_R_VISUAL_SEARCH] = {"/v1/visual/search", NULL, srv_h_visual_search, 0, "POST"},
    [SRV_R_HEALTH] = {"/v1/health", srv_h_health, NULL, 0, "GET, HEAD"},
    [SRV_R_METRICS] = {"/v1/metrics", srv_h_metrics, NULL, 0, "GET, HEAD"},
    [SRV_R_OPENAPI] = {"/v1/openapi.json", srv_h_openapi, NULL, 0, "GET, HEAD"},
    [SRV_R_UNMATCHED] = {"(unmatched)", NULL, NULL, 0, ""},
};

const char *srv_route_name(srv_route_id id)
{
    return (unsigned)id < SRV_R_COUNT ? routes[id].path : "(unknown)";
}

/* Does path match template t? Captures {x} segments into params. */
static int match(const char *t, const char *path, char params[SRV_MAX_PARAMS][SRV_PARAM_MAX])
{
    int np = 0;
    while (*t && *path) {
        if (*t == '{') {
            const char *tend = strchr(t, '}');
            const char *pend = strchr(path, '/');
            size_t plen = pend ? (size_t)(pend - path) : strlen(path);
            if (!tend || plen == 0 || plen >= SRV_PARAM_MAX || np == SRV_MAX_PARAMS)
                return 0;
            memcpy(params[np], path, plen);
            params[np][plen] = 0;
            np++;
            t = tend + 1;
            path += plen;
            continue;
        }
        if (*t != *path)
            return 0;
        t++;
        path++;
    }
    return *t == 0 && *path == 0;
}

srv_handler srv_route_match(const char *method, const char *path, srv_route_id *route,
                            char params[SRV_MAX_PARAMS][SRV_PARAM_MAX], int *is_write,
                            int *status, const char **allow)
{
    *is_write = 0;
    *allow = NULL;
    for (int i = 0; i < SRV_R_UNMATCHED; i++) {
        if (!match(routes[i].path, path, params))
            continue;
        *route = (srv_route_id)i;
        int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (is_get && routes[i].get)
            return routes[i].get;
        if (strcmp(method, "POST") == 0 && routes[i].post) {
            *is_write = routes[i].post_signed;
            return routes[i].post;
        }
        *status = 405;
        *allow = routes[i].allow;
        return NULL;
    }
    *route = SRV_R_UNMATCHED;
    *status = 404;
    return NULL;
}
