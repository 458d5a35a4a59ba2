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

static void label_value(FILE *f, const char *s)
{
	fputs("\"", f);
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputs("\"", f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Member key of object v as an integer (0 when absent). */
static int64_t num(const json_t *v, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(v, key));
}

static void node_labels(FILE *f, const char *metric, const json_t *node)
{
	fprintf(f, "%s{node=", metric);
	label_value(f, json_string_value(json_object_get(node, "id")));
	fputs(",name=", f);
	label_value(f, json_string_value(json_object_get(node, "name")));
}

static void render_state(struct server *srv, FILE *f)
{
	static const char *node_states[] = {"provisioning", "active", "draining", "offline"};
	static const char *pod_states[] = {"pending", "active", "deleting", "failed"};
	json_t *ov = NULL, *nl = NULL, *nodes, *pods, *peers, *tokens, *list, *n;
	char *out;
	size_t i;

	if (mr_store_overview(srv->store, &out) == 0) {
		ov = json_loads(out, 0, NULL);
		mr_free(out);
	}
	if (!json_is_object(ov)) {
		json_decref(ov);
		srv->metrics.store_errors++;
		return;
	}
	nodes = json_object_get(ov, "nodes");
	pods = json_object_get(ov, "pods");
	peers = json_object_get(ov, "peers");
	tokens = json_object_get(ov, "tokens");

	head(f, "myrelay_nodes", "gauge", "Nodes by status.");
	for (i = 0; i < 4; i++)
		fprintf(f, "myrelay_nodes{status=\"%s\"} %" PRId64 "\n", node_states[i],
			num(nodes, node_states[i]));
	head(f, "myrelay_customers", "gauge", "Customers.");
	fprintf(f, "myrelay_customers %" PRId64 "\n", num(ov, "customers"));
	head(f, "myrelay_pods", "gauge", "Pods by status.");
	for (i = 0; i < 4; i++)
		fprintf(f, "myrelay_pods{status=\"%s\"} %" PRId64 "\n", pod_states[i],
			num(pods, pod_states[i]));
	head(f, "myrelay_peers", "gauge", "Peers (devices), all and enabled.");
	fprintf(f, "myrelay_peers{state=\"all\"} %" PRId64 "\n", num(peers, "total"));
	fprintf(f, "myrelay_peers{state=\"enabled\"} %" PRId64 "\n", num(peers, "enabled"));
	head(f, "myrelay_tokens_active", "gauge", "Tokens neither revoked nor expired.");
	fprintf(f, "myrelay_tokens_active %" PRId64 "\n", num(tokens, "active"));
	json_decref(ov);

	if (mr_store_node_list(srv->store, "{}", &out) == 0) {
		nl = json_loads(out, 0, NULL);
		mr_free(out);
	}
	list = json_object_get(nl, "nodes");
	if (!json_is_array(list)) {
		srv->metrics.store_errors++;
		json_decref(nl);
		return;
	}
	head(f, "myrelay_node_generation", "gauge", "Generation of each node's desired state.");
	json_array_foreach(list, i, n) {
		node_labels(f, "myrelay_node_generation", n);
		fprintf(f, "} %" PRId64 "\n", num(n, "generation"));
	}
	head(f, "myrelay_node_generation_lag", "gauge",
	     "Generations a node's agent has not applied yet (by its last report; a node "
	     "that never reported counts its whole generation).");
	json_array_foreach(list, i, n) {
		int64_t gen = num(n, "generation"), applied = num(n, "applied_generation");

		node_labels(f, "myrelay_node_generation_lag", n);
		fprintf(f, "} %" PRId64 "\n", gen > applied ? gen - applied : 0);
	}
	json_decref(nl);
}

int metrics_render(struct server *srv, FILE *f)
{
	struct metrics *m = &srv->metrics;
	uint64_t ticks, backups_ok, backups_failed;
	int64_t backup_last_ok;
	unsigned waiting;

	head(f, "myrelay_build_info", "gauge", "Version of the loaded libmyrelay.");
	fprintf(f, "myrelay_build_info{version=\"%s\"} 1\n", mr_version());
	head(f, "myrelay_start_time_seconds", "gauge", "When the server started (unix time).");
	fprintf(f, "myrelay_start_time_seconds %" PRId64 "\n", srv->started);

	head(f, "myrelay_http_requests_total", "counter",
	     "Requests answered, by route and status (route=\"none\": no route matched).");
	for (size_t row = 0; row <= server_n_routes; row++) {
		for (size_t k = 0; k < METRICS_NSTATUS; k++) {
			uint64_t n = m->requests[row * METRICS_NSTATUS + k];

			if (!n)
				continue;
			if (row < server_n_routes)
				fprintf(f,
					"myrelay_http_requests_total{method=\"%s\",route=\"%s\",",
					server_routes[row].method, server_routes[row].pattern);
			else
				fputs("myrelay_http_requests_total{method=\"\",route=\"none\",", f);
			if (k < METRICS_NSTATUS - 1 && counted_status[k])
				fprintf(f, "status=\"%d\"} %" PRIu64 "\n", counted_status[k], n);
			else
				fprintf(f, "status=\"other\"} %" PRIu64 "\n", n);
		}
	}
	head(f, "myrelay_http_request_duration_seconds", "histogram",
	     "Time from request headers to response queued (long polls excluded).");
	for (size_t i = 0; i < METRICS_NBUCKETS; i++)
		fprintf(f, "myrelay_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			bucket_le[i], m->buckets[i]);
	fprintf(f, "myrelay_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
		m->latency_count);
	fprintf(f, "myrelay_http_request_duration_seconds_sum %.6f\n", m->latency_sum);
	fprintf(f, "myrelay_http_request_duration_seconds_count %" PRIu64 "\n", m->latency_count);

	head(f, "myrelay_http_rate_limited_total", "counter",
	     "Requests refused with 429 by the per-client rate limit.");
	fprintf(f, "myrelay_http_rate_limited_total %" PRIu64 "\n", m->rate_limited);
	head(f, "myrelay_http_body_too_large_total", "counter",
	     "Requests refused because their body was over 1 MiB.");
	fprintf(f, "myrelay_http_body_too_large_total %" PRIu64 "\n", m->body_too_large);
	head(f, "myrelay_http_inflight_requests", "gauge", "Requests being served.");
	fprintf(f, "myrelay_http_inflight_requests %u\n",
		__atomic_load_n(&srv->inflight, __ATOMIC_RELAXED));
	head(f, "myrelay_ratelimit_clients", "gauge", "Clients tracked by the rate limiter.");
	fprintf(f, "myrelay_ratelimit_clients %zu\n", ratelimit_size(srv->rl));
	head(f, "myrelay_longpoll_waiting", "gauge", "Node long polls waiting for a change.");
	pthread_mutex_lock(&srv->lock);
	waiting = srv->n_waiters;
	ticks = srv->ticks;
	backups_ok = srv->backups_ok;
	backups_failed = srv->backups_failed;
	backup_last_ok = srv->backup_last_ok;
	pthread_mutex_unlock(&srv->lock);
	fprintf(f, "myrelay_longpoll_waiting %u\n", waiting);
	head(f, "myrelay_longpoll_completed_total", "counter",
	     "Long polls answered after waiting, by outcome.");
	fprintf(f, "myrelay_longpoll_completed_total{outcome=\"changed\"} %" PRIu64 "\n",
		m->longpoll_changed);
	fprintf(f, "myrelay_longpoll_completed_total{outcome=\"timeout\"} %" PRIu64 "\n",
		m->longpoll_timeouts);
	head(f, "myrelay_store_ticks_total", "counter", "Expiry clock ticks run.");
	fprintf(f, "myrelay_store_ticks_total %" PRIu64 "\n", ticks);
	head(f, "myrelay_store_errors_total", "counter", "Internal store failures (HTTP 5xx).");
	fprintf(f, "myrelay_store_errors_total %" PRIu64 "\n", m->store_errors);
	head(f, "myrelay_backups_total", "counter",
	     "Scheduled backups since the server started, by result.");
	fprintf(f, "myrelay_backups_total{result=\"ok\"} %" PRIu64 "\n", backups_ok);
	fprintf(f, "myrelay_backups_total{result=\"failed\"} %" PRIu64 "\n", backups_failed);
	head(f, "myrelay_backup_last_success_seconds", "gauge",
	     "When the last scheduled backup succeeded (unix time; 0: none since the start).");
	fprintf(f, "myrelay_backup_last_success_seconds %" PRId64 "\n", backup_last_ok);

	render_state(srv, f);
	return ferror(f) ? -1 : 0;
}
