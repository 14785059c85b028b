/*
 * bench/peers/server_ceiling.h - the "ceiling" of bench/server.c: the
 * least an HTTP server on libmicrohttpd can do per request, run inside the
 * bench process with the same MHD threading as `steme serve` (internal
 * polling thread pool of the same size, epoll when available). Its handler
 * reads and drops the body, then queues one shared, pre-built response: a
 * fixed small JSON body. Whatever steme serve costs beyond it is steme's.
 *
 * libmicrohttpd is loaded with dlopen: the bench build links only steme
 * and RocksDB (as bench/ballot_box.c does for SQLite). Header-only because
 * the bench build compiles only the .c files directly under bench/.
 */
#ifndef STEME_BENCH_SERVER_CEILING_H
#define STEME_BENCH_SERVER_CEILING_H

#include <dlfcn.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>

static const char ceiling_body[] = "{\"status\":\"ok\",\"bench\":\"ceiling\"}";

typedef struct ceiling {
    struct {
        __typeof__(&MHD_start_daemon) start_daemon;
        __typeof__(&MHD_stop_daemon) stop_daemon;
        __typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
        __typeof__(&MHD_add_response_header) add_response_header;
        __typeof__(&MHD_queue_response) queue_response;
        __typeof__(&MHD_destroy_response) destroy_response;
        __typeof__(&MHD_get_daemon_info) get_daemon_info;
        __typeof__(&MHD_is_feature_supported) is_feature_supported;
    } f;
    void *lib;
    struct MHD_Daemon *d;
    struct MHD_Response *resp;
    uint16_t port;
} ceiling;

static enum MHD_Result ceiling_access(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    ceiling *c = cls;
    if (!*con_cls) {
        *con_cls = c;   /* a marker: headers seen, the body (if any) comes next */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;   /* dropped */
        return MHD_YES;
    }
    return c->f.queue_response(conn, MHD_HTTP_OK, c->resp);
}

/* Start on a free loopback port with `threads` pool workers; 0 on success,
 * -1 with why filled. */
static int ceiling_start(ceiling *c, unsigned threads, char *why, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->lib = dlopen("libmicrohttpd.so.12", RTLD_NOW);
    if (!c->lib) {
        snprintf(why, cap, "dlopen libmicrohttpd.so.12: %s", dlerror());
        return -1;
    }
#define MHD_SYM(field, name)                                                     \
    if (!(*(void **)&c->f.field = dlsym(c->lib, name))) {                        \
        snprintf(why, cap, "libmicrohttpd has no %s", name);                     \
        return -1;                                                               \
    }
    MHD_SYM(start_daemon, "MHD_start_daemon");
    MHD_SYM(stop_daemon, "MHD_stop_daemon");
    MHD_SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
    MHD_SYM(add_response_header, "MHD_add_response_header");
    MHD_SYM(queue_response, "MHD_queue_response");
    MHD_SYM(destroy_response, "MHD_destroy_response");
    MHD_SYM(get_daemon_info, "MHD_get_daemon_info");
    MHD_SYM(is_feature_supported, "MHD_is_feature_supported");
#undef MHD_SYM
    c->resp = c->f.create_response_from_buffer(sizeof ceiling_body - 1, (void *)ceiling_body,
                                               MHD_RESPMEM_PERSISTENT);
    if (!c->resp) {
        snprintf(why, cap, "MHD_create_response_from_buffer failed");
        return -1;
    }
    c->f.add_response_header(c->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    /* The flags of src/server/srv_main.c. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (c->f.is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    else if (c->f.is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->d = c->f.start_daemon(flags, 0, NULL, NULL, ceiling_access, c, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&a, MHD_OPTION_THREAD_POOL_SIZE, threads,
                             MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                             MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!c->d) {
        snprintf(why, cap, "MHD_start_daemon failed");
        return -1;
    }
    const union MHD_DaemonInfo *bi = c->f.get_daemon_info(c->d, MHD_DAEMON_INFO_BIND_PORT);
    c->port = bi ? (uint16_t)bi->port : 0;
    if (!c->port) {
        snprintf(why, cap, "MHD did not report its port");
        return -1;
    }
    return 0;
}

static void ceiling_stop(ceiling *c)
{
    if (c->d)
        c->f.stop_daemon(c->d);
    if (c->resp)
        c->f.destroy_response(c->resp);
    c->d = NULL;
    c->resp = NULL;
}

#endif
