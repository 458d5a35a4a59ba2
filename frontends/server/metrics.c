/* SPDX-License-Identifier: MIT */
/*
 * /metrics in the Prometheus text format (version 0.0.4). Request counters
 * live in memory; the state gauges (nodes, pods, peers, generation lag) are
 * read from the store at scrape time, so they are exact whoever wrote.
 */
#include "server.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/error.h>
#include <myrelay/version.h>

static const int counted_status[METRICS_NSTATUS - 1] = {
    200, 201, 304, 400, 401, 403, 404, 405, 409, 413, 429, 500, 501, 503, 0,
};

static const double bucket_le[METRICS_NBUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

int metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->requests = calloc((server_n_routes + 1) * METRICS_NSTATUS, sizeof(*m->requests));
	return m->requests ? 0 : -1;
}

void metrics_free(struct metrics *m)
{
	free(m->requests);
	m->requests = NULL;
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < METRICS_NSTATUS - 1 && counted_status[i]; i++)
		if (counted_status[i] == status)
			return i;
	return METRICS_NSTATUS - 1;
}

void metrics_record(struct metrics *m, int route_index, int status, int64_t elapsed_us,
		    bool longpoll)
{
	size_t row = route_index < 0 ? server_n_routes : (size_t)route_index;
	double secs = (double)elapsed_us / 1e6;

	m->requests[row * METRICS_NSTATUS + status_slot(status)]++;
	/* A long poll waits by design; its wait would drown the latency of
	 * everything else. */
	if (longpoll)
		return;
	for (size_t i = 0; i < METRICS_NBUCKETS; i++)
		if (secs <= bucket_le[i])
			m->buckets[i]++;
	m->latency_count++;
	m->latency_sum += secs;
}

static void label_value(struct fe_buf *b, const char *s)
{
	fe_buf_add(b, "\"");
	for (; s && *s; s++) {
		if (*s == '\\')
			fe_buf_add(b, "\\\\");
		else if (*s == '"')
			fe_buf_add(b, "\\\"");
		else if (*s == '\n')
			fe_buf_add(b, "\\n");
		else
			fe_buf_addn(b, s, 1);
	}
	fe_buf_add(b, "\"");
}

static void head(struct fe_buf *b, const char *name, const char *type, const char *help)
{
	fe_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_state(struct server *srv, struct fe_buf *b)
{
	static const char *node_states[] = {"provisioning", "active", "draining", "offline"};
	static const char *pod_states[] = {"pending", "active", "deleting", "failed"};
	struct fe_json *ov = NULL, *nl = NULL;
	const struct fe_json *nodes, *pods, *peers, *tokens, *list;
	char *out;

	if (mr_store_overview(srv->store, &out) == 0) {
		ov = fe_json_parse(out, strlen(out));
		mr_free(out);
	}
	if (!ov) {
		srv->metrics.store_errors++;
		return;
	}
	nodes = fe_json_get(ov, "nodes");
	pods = fe_json_get(ov, "pods");
	peers = fe_json_get(ov, "peers");
	tokens = fe_json_get(ov, "tokens");

	head(b, "myrelay_nodes", "gauge", "Nodes by status.");
	for (size_t i = 0; i < 4; i++)
		fe_buf_addf(b, "myrelay_nodes{status=\"%s\"} %" PRId64 "\n", node_states[i],
			    fe_json_get_int(nodes, node_states[i], 0));
	head(b, "myrelay_customers", "gauge", "Customers.");
	fe_buf_addf(b, "myrelay_customers %" PRId64 "\n", fe_json_get_int(ov, "customers", 0));
	head(b, "myrelay_pods", "gauge", "Pods by status.");
	for (size_t i = 0; i < 4; i++)
		fe_buf_addf(b, "myrelay_pods{status=\"%s\"} %" PRId64 "\n", pod_states[i],
			    fe_json_get_int(pods, pod_states[i], 0));
	head(b, "myrelay_peers", "gauge", "Peers (devices), all and enabled.");
	fe_buf_addf(b, "myrelay_peers{state=\"all\"} %" PRId64 "\n",
		    fe_json_get_int(peers, "total", 0));
	fe_buf_addf(b, "myrelay_peers{state=\"enabled\"} %" PRId64 "\n",
		    fe_json_get_int(peers, "enabled", 0));
	head(b, "myrelay_tokens_active", "gauge", "Tokens neither revoked nor expired.");
	fe_buf_addf(b, "myrelay_tokens_active %" PRId64 "\n", fe_json_get_int(tokens, "active", 0));
	fe_json_free(ov);

	if (mr_store_node_list(srv->store, "{}", &out) == 0) {
		nl = fe_json_parse(out, strlen(out));
		mr_free(out);
	}
	list = fe_json_get(nl, "nodes");
	if (!list || list->type != FE_JSON_ARRAY) {
		srv->metrics.store_errors++;
		fe_json_free(nl);
		return;
	}
	head(b, "myrelay_node_generation", "gauge", "Generation of each node's desired state.");
	for (size_t i = 0; i < list->n; i++) {
		fe_buf_add(b, "myrelay_node_generation{node=");
		label_value(b, fe_json_get_str(list->items[i], "id"));
		fe_buf_add(b, ",name=");
		label_value(b, fe_json_get_str(list->items[i], "name"));
		fe_buf_addf(b, "} %" PRId64 "\n", fe_json_get_int(list->items[i], "generation", 0));
	}
	head(b, "myrelay_node_generation_lag", "gauge",
	     "Generations a node's agent has not applied yet (by its last report; a node "
	     "that never reported counts its whole generation).");
	for (size_t i = 0; i < list->n; i++) {
		int64_t gen = fe_json_get_int(list->items[i], "generation", 0);
		int64_t applied = fe_json_get_int(list->items[i], "applied_generation", 0);

		fe_buf_add(b, "myrelay_node_generation_lag{node=");
		label_value(b, fe_json_get_str(list->items[i], "id"));
		fe_buf_add(b, ",name=");
		label_value(b, fe_json_get_str(list->items[i], "name"));
		fe_buf_addf(b, "} %" PRId64 "\n", gen > applied ? gen - applied : 0);
	}
	fe_json_free(nl);
}

int metrics_render(struct server *srv, struct fe_buf *b)
{
	struct metrics *m = &srv->metrics;
	unsigned waiting;
	uint64_t ticks;

	head(b, "myrelay_build_info", "gauge", "Version of the loaded libmyrelay.");
	fe_buf_addf(b, "myrelay_build_info{version=\"%s\"} 1\n", mr_version());
	head(b, "myrelay_start_time_seconds", "gauge", "When the server started (unix time).");
	fe_buf_addf(b, "myrelay_start_time_seconds %" PRId64 "\n", srv->started);

	head(b, "myrelay_http_requests_total", "counter",
	     "Requests answered, by route and status (route=\"none\": no route matched).");
	for (size_t row = 0; row <= server_n_routes; row++) {
		for (size_t k = 0; k < METRICS_NSTATUS; k++) {
			uint64_t n = m->requests[row * METRICS_NSTATUS + k];

			if (!n)
				continue;
			if (row < server_n_routes)
				fe_buf_addf(
				    b, "myrelay_http_requests_total{method=\"%s\",route=\"%s\",",
				    server_routes[row].method, server_routes[row].pattern);
			else
				fe_buf_add(
				    b, "myrelay_http_requests_total{method=\"\",route=\"none\",");
			if (k < METRICS_NSTATUS - 1 && counted_status[k])
				fe_buf_addf(b, "status=\"%d\"} %" PRIu64 "\n", counted_status[k],
					    n);
			else
				fe_buf_addf(b, "status=\"other\"} %" PRIu64 "\n", n);
		}
	}
	head(b, "myrelay_http_request_duration_seconds", "histogram",
	     "Time from request headers to response queued (long polls excluded).");
	for (size_t i = 0; i < METRICS_NBUCKETS; i++)
		fe_buf_addf(b,
			    "myrelay_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			    bucket_le[i], m->buckets[i]);
	fe_buf_addf(b, "myrelay_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
		    m->latency_count);
	fe_buf_addf(b, "myrelay_http_request_duration_seconds_sum %.6f\n", m->latency_sum);
	fe_buf_addf(b, "myrelay_http_request_duration_seconds_count %" PRIu64 "\n",
		    m->latency_count);

	head(b, "myrelay_http_rate_limited_total", "counter",
	     "Requests refused with 429 by the per-client rate limit.");
	fe_buf_addf(b, "myrelay_http_rate_limited_total %" PRIu64 "\n", m->rate_limited);
	head(b, "myrelay_http_body_too_large_total", "counter",
	     "Requests refused because their body was over 1 MiB.");
	fe_buf_addf(b, "myrelay_http_body_too_large_total %" PRIu64 "\n", m->body_too_large);
	head(b, "myrelay_http_inflight_requests", "gauge", "Requests being served.");
	fe_buf_addf(b, "myrelay_http_inflight_requests %u\n",
		    __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED));
	head(b, "myrelay_ratelimit_clients", "gauge", "Clients tracked by the rate limiter.");
	fe_buf_addf(b, "myrelay_ratelimit_clients %zu\n", ratelimit_size(srv->rl));
	head(b, "myrelay_longpoll_waiting", "gauge", "Node long polls waiting for a change.");
	pthread_mutex_lock(&srv->lock);
	waiting = srv->n_waiters;
	ticks = srv->ticks;
	pthread_mutex_unlock(&srv->lock);
	fe_buf_addf(b, "myrelay_longpoll_waiting %u\n", waiting);
	head(b, "myrelay_longpoll_completed_total", "counter",
	     "Long polls answered after waiting, by outcome.");
	fe_buf_addf(b, "myrelay_longpoll_completed_total{outcome=\"changed\"} %" PRIu64 "\n",
		    m->longpoll_changed);
	fe_buf_addf(b, "myrelay_longpoll_completed_total{outcome=\"timeout\"} %" PRIu64 "\n",
		    m->longpoll_timeouts);
	head(b, "myrelay_store_ticks_total", "counter", "Expiry clock ticks run.");
	fe_buf_addf(b, "myrelay_store_ticks_total %" PRIu64 "\n", ticks);
	head(b, "myrelay_store_errors_total", "counter", "Internal store failures (HTTP 5xx).");
	fe_buf_addf(b, "myrelay_store_errors_total %" PRIu64 "\n", m->store_errors);

	render_state(srv, b);
	return b->failed ? -1 : 0;
}
