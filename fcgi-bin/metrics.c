/*
 * chatr-metrics -- GET /metrics: this node's counters in Prometheus's
 * text format (common/metrics.c), to addresses in CHATR_METRICS_ALLOW
 * only (loopback by default); 403 JSON to any other.
 */
#include "config.h"

#include "chatr.h"

static int
metrics_get(struct ch_req *req)
{
	struct ch_buf b = {0};
	int ret;

	if (!ch_cidr_any(req->cfg->metrics_nets, req->cfg->nmetrics_nets,
	    req->addr)) {
		ch_log_info("/metrics refused to %s (not in "
		    "CHATR_METRICS_ALLOW)", req->addr);
		return ch_fail(req, CH_ERR_FORBIDDEN, "The metrics are not "
		    "shown to your address (see CHATR_METRICS_ALLOW).");
	}
	ch_metrics_text(req->cfg, &b);
	ret = ch_resp_typed(req, 200, "text/plain; version=0.0.4; "
	    "charset=utf-8", "no-store", b.data, b.len, NULL);
	if (ret != 0)
		ch_log_info("client went away");
	ch_buf_free(&b);
	return 0;
}

static const struct ch_op op_get = {
	.flags = CH_OP_READONLY | CH_OP_NOLIMIT,
	.outside = metrics_get,
};

const struct ch_endpoint ep_metrics = {
	.name = "metrics",
	.path = "/metrics",
	.op = {[CH_GET] = &op_get},
};
