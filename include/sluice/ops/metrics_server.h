/*
 * metrics_server.h — serves the metrics (base/metrics.h) over HTTP:
 * Prometheus text on GET /metrics and a health verdict on GET /healthz,
 * by libmicrohttpd on `metrics.listen`.
 */
#ifndef SLUICE_METRICS_SERVER_H
#define SLUICE_METRICS_SERVER_H

#include "sluice/base/common.h"

/*
 * Starts the HTTP server on listen ("127.0.0.1:9187", "[::1]:9187", ":9187";
 * port 0 picks a free one). Health: 503 when a status update to PostgreSQL
 * is older than feedback_timeout_ms, or changes wait and nothing reached
 * Kafka for stall_timeout_ms. Returns false with a reason in err.
 */
bool metrics_start(const char *listen, int feedback_timeout_ms, int stall_timeout_ms, char *err,
                   size_t errlen);
/* The port actually bound (after metrics_start), 0 when off. */
int metrics_port(void);
void metrics_stop(void);

#endif
