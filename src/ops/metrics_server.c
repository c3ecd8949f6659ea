/*
 * metrics_server.c — the HTTP side of the metrics (metrics_server.h):
 * libmicrohttpd on `metrics.listen`, GET /metrics and GET /healthz rendered
 * from base/metrics.c's values.
 *
 * Owns: the HTTP daemon. Never: keeps a value of its own.
 */
#include "sluice/ops/metrics_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/base/metrics.h"

static struct MHD_Daemon *daemon_;
static int bound_port;

/* ---- HTTP -------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
                             strbuf_t *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void) cls;
    (void) version;
    (void) upload;
    (void) upload_size;
    (void) con_cls;
    strbuf_t body = STRBUF_INIT;
    strbuf_append(&body, "", 0);
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        strbuf_puts(&body, "only GET\n");
        ret = reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", &body);
    } else if (strcmp(url, "/metrics") == 0) {
        metrics_render(&body);
        ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &body);
    } else if (strcmp(url, "/healthz") == 0) {
        int code = metrics_health(&body);
        strbuf_putc(&body, '\n');
        ret = reply(c, (unsigned) code, "text/plain; charset=utf-8", &body);
    } else if (strcmp(url, "/") == 0) {
        strbuf_puts(&body, "sluice " SLUICE_VERSION ": /metrics (Prometheus), /healthz\n");
        ret = reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", &body);
    } else {
        strbuf_puts(&body, "not found: try /metrics or /healthz\n");
        ret = reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", &body);
    }
    strbuf_free(&body);
    return ret;
}

/* Splits "host:port", "[v6]:port" or ":port" and resolves it. */
static bool resolve(const char *listen, struct sockaddr_storage *sa, char *err, size_t errlen)
{
    char host[256] = "", port[16] = "";
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t) (close - listen - 1) >= sizeof host) {
            snprintf(err, errlen, "invalid \"metrics.listen\" value \"%s\": expected HOST:PORT", listen);
            return false;
        }
        memcpy(host, listen + 1, (size_t) (close - listen - 1));
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t) (colon - listen) >= sizeof host) {
            snprintf(err, errlen, "invalid \"metrics.listen\" value \"%s\": expected HOST:PORT "
                                  "(e.g. 127.0.0.1:9187)", listen);
            return false;
        }
        memcpy(host, listen, (size_t) (colon - listen));
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    char *end;
    long p = strtol(port, &end, 10);
    if (!port[0] || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "invalid port in \"metrics.listen\" value \"%s\"", listen);
        return false;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "could not resolve \"metrics.listen\" host \"%s\": %s", host,
                 gai_strerror(rc));
        return false;
    }
    memset(sa, 0, sizeof *sa);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
}

bool metrics_start(const char *listen, int feedback_ms, int stall_ms, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (!resolve(listen, &sa, err, errlen))
        return false;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *) &sa, MHD_OPTION_CONNECTION_LIMIT, 32u,
                               MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!daemon_) {
        snprintf(err, errlen,
                 "could not serve metrics on \"%s\" (address in use or not local?): change "
                 "\"metrics.listen\" or leave it empty to turn metrics off",
                 listen);
        return false;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = info ? info->port : 0;
    metrics_sampler_start(feedback_ms, stall_ms);
    return true;
}

int metrics_port(void)
{
    return bound_port;
}

void metrics_stop(void)
{
    metrics_sampler_stop();
    if (daemon_) {
        MHD_stop_daemon(daemon_);
        daemon_ = NULL;
    }
    bound_port = 0;
}
