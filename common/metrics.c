/*
 * metrics.c -- the counters GET /metrics shows, in the memory the node's
 * processes share (shared.c): every FastCGI program adds its requests
 * (by endpoint and status, and a latency histogram), its posts and its
 * store's retries, deadlocks and recoveries with atomic adds; the relay
 * sets its own (streams, connects, drops by cause, deliveries, backlog).
 * ch_metrics_text writes them in Prometheus's text format.
 *
 * When the shared memory cannot be mapped each process counts alone (a
 * private copy): /metrics then shows only its own process's counts.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "chatr.h"

/* The endpoints, as the label shows them (ch_endpoint.name). */
static const char *const metric_eps[CH_MEP__MAX] = {
	"register", "heartbeat", "disconnect", "messages", "verify-start",
	"verify-complete", "agents", "health", "notfound", "metrics", "mcp-http",
};

/* The statuses counted apart; any other is "other". */
static const int metric_status[CH_MET_STATUSES - 1] = {
	200, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 502, 503,
};

/* Upper bounds of the latency buckets, ms (the last is +Inf). */
static const double metric_le_ms[CH_MET_BUCKETS - 1] = {
	1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
};

static const char *const metric_drops[CH_DROP__MAX] = {
	"lagging", "closed", "refused",
};

/* The index of endpoint name (CH_MEP__MAX: not one of ours). */
int
ch_metrics_ep(const char *name)
{
	int i;

	for (i = 0; i < CH_MEP__MAX; i++)
		if (name != NULL && strcmp(metric_eps[i], name) == 0)
			return i;
	return CH_MEP__MAX;
}

static struct ch_metrics *
metrics(const struct ch_cfg *cfg)
{
	return &ch_shared(cfg)->metrics;
}

static void
metric_add(uint64_t *p, uint64_t n)
{
	(void)__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

/* A request to endpoint ep answered status after us microseconds. */
void
ch_metrics_request(const struct ch_cfg *cfg, int ep, int status,
    int64_t us)
{
	struct ch_metrics *m = metrics(cfg);
	int s, b;

	if (ep < 0 || ep >= CH_MEP__MAX)
		return;
	for (s = 0; s < CH_MET_STATUSES - 1; s++)
		if (metric_status[s] == status)
			break;
	for (b = 0; b < CH_MET_BUCKETS - 1; b++)
		if ((double)us <= metric_le_ms[b] * 1000)
			break;
	metric_add(&m->requests[ep][s], 1);
	metric_add(&m->latency[ep][b], 1);
	metric_add(&m->latency_us[ep], us > 0 ? (uint64_t)us : 0);
}

/* One of the store's events (ch_db_run): CH_MET_*. */
void
ch_metrics_count(const struct ch_cfg *cfg, enum ch_metric what)
{
	struct ch_metrics *m;

	if (cfg == NULL)
		return;
	m = metrics(cfg);
	switch (what) {
	case CH_MET_POSTED:
		metric_add(&m->posted, 1);
		break;
	case CH_MET_DEADLOCK:
		metric_add(&m->deadlocks, 1);
		break;
	case CH_MET_RETRY:
		metric_add(&m->retries, 1);
		break;
	case CH_MET_RECOVERY:
		metric_add(&m->recoveries, 1);
		break;
	}
}

/* The relay's own counters (it alone writes them). */
void
ch_metrics_relay(const struct ch_cfg *cfg, const struct ch_relay_metrics *r)
{
	struct ch_metrics *m = metrics(cfg);

	__atomic_store_n(&m->relay.connects, r->connects, __ATOMIC_RELAXED);
	__atomic_store_n(&m->relay.deliveries, r->deliveries,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&m->relay.backlog, r->backlog, __ATOMIC_RELAXED);
	__atomic_store_n(&m->relay.received, r->received, __ATOMIC_RELAXED);
	for (int i = 0; i < CH_DROP__MAX; i++)
		__atomic_store_n(&m->relay.drops[i], r->drops[i],
		    __ATOMIC_RELAXED);
}

static uint64_t
metric_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The metrics in Prometheus's text format (version 0.0.4), into b. */
void
ch_metrics_text(const struct ch_cfg *cfg, struct ch_buf *b)
{
	struct ch_metrics *m = metrics(cfg);
	uint64_t n, cum;
	int e, s, k;

	ch_buf_adds(b, "# HELP chatr_requests_total Requests answered, by "
	    "endpoint and status.\n# TYPE chatr_requests_total counter\n");
	for (e = 0; e < CH_MEP__MAX; e++)
		for (s = 0; s < CH_MET_STATUSES; s++) {
			if ((n = metric_get(&m->requests[e][s])) == 0)
				continue;
			if (s < CH_MET_STATUSES - 1)
				ch_buf_addf(b, "chatr_requests_total{endpoint="
				    "\"%s\",status=\"%d\"} %llu\n",
				    metric_eps[e], metric_status[s],
				    (unsigned long long)n);
			else
				ch_buf_addf(b, "chatr_requests_total{endpoint="
				    "\"%s\",status=\"other\"} %llu\n",
				    metric_eps[e], (unsigned long long)n);
		}
	ch_buf_adds(b, "# HELP chatr_request_duration_seconds Time to answer "
	    "a request, by endpoint.\n# TYPE chatr_request_duration_seconds "
	    "histogram\n");
	for (e = 0; e < CH_MEP__MAX; e++) {
		cum = 0;
		for (k = 0; k < CH_MET_BUCKETS; k++) {
			cum += metric_get(&m->latency[e][k]);
			if (k < CH_MET_BUCKETS - 1)
				ch_buf_addf(b, "chatr_request_duration_seconds_"
				    "bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
				    metric_eps[e], metric_le_ms[k] / 1000,
				    (unsigned long long)cum);
			else
				ch_buf_addf(b, "chatr_request_duration_seconds_"
				    "bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
				    metric_eps[e], (unsigned long long)cum);
		}
		ch_buf_addf(b, "chatr_request_duration_seconds_sum{endpoint="
		    "\"%s\"} %.6f\n", metric_eps[e],
		    (double)metric_get(&m->latency_us[e]) / 1e6);
		ch_buf_addf(b, "chatr_request_duration_seconds_count{endpoint="
		    "\"%s\"} %llu\n", metric_eps[e], (unsigned long long)cum);
	}
	ch_buf_addf(b, "# HELP chatr_streams Streams the relay holds.\n"
	    "# TYPE chatr_streams gauge\nchatr_streams %u\n",
	    ch_shared_streams(cfg));
	ch_buf_addf(b, "# HELP chatr_stream_connects_total Streams opened.\n"
	    "# TYPE chatr_stream_connects_total counter\n"
	    "chatr_stream_connects_total %llu\n",
	    (unsigned long long)metric_get(&m->relay.connects));
	ch_buf_adds(b, "# HELP chatr_stream_drops_total Streams ended by the "
	    "relay or the client, by cause (lagging: too far behind; closed: "
	    "the client went away; refused: over a stream limit).\n"
	    "# TYPE chatr_stream_drops_total counter\n");
	for (k = 0; k < CH_DROP__MAX; k++)
		ch_buf_addf(b, "chatr_stream_drops_total{cause=\"%s\"} %llu\n",
		    metric_drops[k],
		    (unsigned long long)metric_get(&m->relay.drops[k]));
	ch_buf_addf(b, "# HELP chatr_messages_posted_total Messages stored by "
	    "this node's programs.\n# TYPE chatr_messages_posted_total "
	    "counter\nchatr_messages_posted_total %llu\n",
	    (unsigned long long)metric_get(&m->posted));
	ch_buf_addf(b, "# HELP chatr_relay_messages_total Messages the relay "
	    "received.\n# TYPE chatr_relay_messages_total counter\n"
	    "chatr_relay_messages_total %llu\n",
	    (unsigned long long)metric_get(&m->relay.received));
	ch_buf_addf(b, "# HELP chatr_deliveries_total Messages queued to "
	    "streams.\n# TYPE chatr_deliveries_total counter\n"
	    "chatr_deliveries_total %llu\n",
	    (unsigned long long)metric_get(&m->relay.deliveries));
	ch_buf_addf(b, "# HELP chatr_relay_backlog_bytes Bytes queued to "
	    "streams and not yet written.\n# TYPE chatr_relay_backlog_bytes "
	    "gauge\nchatr_relay_backlog_bytes %llu\n",
	    (unsigned long long)metric_get(&m->relay.backlog));
	ch_buf_addf(b, "# HELP chatr_store_deadlocks_total Transactions that "
	    "met a deadlock or a lock not granted.\n# TYPE "
	    "chatr_store_deadlocks_total counter\nchatr_store_deadlocks_total "
	    "%llu\n", (unsigned long long)metric_get(&m->deadlocks));
	ch_buf_addf(b, "# HELP chatr_store_retries_total Transactions run "
	    "again.\n# TYPE chatr_store_retries_total counter\n"
	    "chatr_store_retries_total %llu\n",
	    (unsigned long long)metric_get(&m->retries));
	ch_buf_addf(b, "# HELP chatr_store_recoveries_total Times a process "
	    "joined the store again after a recovery or a panic.\n# TYPE "
	    "chatr_store_recoveries_total counter\n"
	    "chatr_store_recoveries_total %llu\n",
	    (unsigned long long)metric_get(&m->recoveries));
}
