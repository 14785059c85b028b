/* server/srv_http.h - the two libmicrohttpd callbacks of `steme serve`
 * (srv_http.c); cls is the srv. */
#ifndef STEME_SRV_HTTP_H
#define STEME_SRV_HTTP_H

#include <microhttpd.h>

enum MHD_Result srv_access(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls);
void srv_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe);

#endif
