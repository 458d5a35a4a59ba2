/* SPDX-License-Identifier: MIT */
/*
 * Reconcile: the node made to match the desired state, pod by pod, through
 * mr_pod_apply() (which changes only what differs, so this runs as often as
 * we like without disturbing live peers), and pods that left the desired
 * state torn down -- only those the state directory says the agent made.
 */
#include "agent.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_error(struct podrt *rt, const char *what)
{
	char *e;

	/* Log a failure once, not on every periodic retry. */
	if (rt->error && !strcmp(rt->error, what)) {
		rt->ok = false;
		return;
	}
	log_error("pod %s (%s): %s", rt->id, rt->ifname, what);
	e = strdup(what);
	free(rt->error);
	rt->error = e;
	rt->ok = false;
}

static void podrt_clear(struct podrt *rt)
{
	mr_key_wipe(&rt->private_key);
	free(rt->error);
	rt->error = NULL;
}

void agent_free_pods(struct agent *a)
{
	for (size_t i = 0; i < a->n_pods; i++)
		podrt_clear(&a->pods[i]);
	free(a->pods);
	a->pods = NULL;
	a->n_pods = 0;
}

void agent_set_desired(struct agent *a, mr_state *st, const char *origin)
{
	size_t n = mr_state_pod_count(st);
	struct podrt *pods = n ? calloc(n, sizeof(*pods)) : NULL;

	if (n && !pods) {
		log_error("out of memory: keeping the previous desired state");
		mr_state_free(st);
		return;
	}
	/* What we know of a pod (key, health) follows it by id; only pods
	 * that differ from the previous state need applying. */
	for (size_t i = 0; i < n; i++) {
		const mr_state_pod *p = mr_state_pod_at(st, i);
		struct podrt *rt = &pods[i];
		bool found = false;

		for (size_t j = 0; j < a->n_pods && !found; j++) {
			if (strcmp(a->pods[j].id, mr_state_pod_get_id(p)) != 0)
				continue;
			*rt = a->pods[j];
			/* Moved, not copied: the old slot must not free it. */
			a->pods[j].error = NULL;
			rt->dirty = rt->dirty ||
				    !mr_state_pod_equal(mr_state_find_pod(a->desired, rt->id), p);
			found = true;
		}
		if (!found)
			rt->dirty = true;
		snprintf(rt->id, sizeof(rt->id), "%s", mr_state_pod_get_id(p));
		snprintf(rt->ifname, sizeof(rt->ifname), "%s", mr_state_pod_get_interface(p));
	}
	agent_free_pods(a);
	a->pods = pods;
	a->n_pods = n;
	if (a->desired && mr_state_get_generation(a->desired) != mr_state_get_generation(st))
		log_info("desired state: generation %" PRId64 " -> %" PRId64 " (%zu pods, from %s)",
			 mr_state_get_generation(a->desired), mr_state_get_generation(st), n,
			 origin);
	else if (!a->desired)
		log_info("desired state: generation %" PRId64 " (%zu pods, from %s)",
			 mr_state_get_generation(st), n, origin);
	mr_state_free(a->desired);
	a->desired = st;
}

static struct sd_record *find_record(struct agent *a, const char *id, const char *ifname)
{
	for (size_t i = 0; i < a->n_records; i++)
		if ((!id || !strcmp(a->records[i].id, id)) &&
		    (!ifname || !strcmp(a->records[i].ifname, ifname)))
			return &a->records[i];
	return NULL;
}

static int record_set(struct agent *a, const char *id, const char *ifname)
{
	struct sd_record *r = find_record(a, id, NULL);

	/* Written before the interface is made: a crash in between leaves a
	 * record of an interface that may exist, never the reverse. */
	if (sd_record_set(a->opt.state_dir, id, ifname) < 0)
		return -1;
	if (!r) {
		struct sd_record *v = realloc(a->records, (a->n_records + 1) * sizeof(*v));

		if (!v)
			return -1;
		a->records = v;
		r = &a->records[a->n_records++];
		snprintf(r->id, sizeof(r->id), "%s", id);
	}
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	return 0;
}

static void record_remove(struct agent *a, size_t i)
{
	if (sd_record_remove(a->opt.state_dir, a->records[i].id) < 0)
		return;
	a->records[i] = a->records[--a->n_records];
}

static bool wanted_interface(const mr_state *st, const char *ifname)
{
	for (size_t i = 0; i < mr_state_pod_count(st); i++)
		if (!strcmp(mr_state_pod_get_interface(mr_state_pod_at(st, i)), ifname))
			return true;
	return false;
}

/* Pods the agent made that left the desired state: their interface and
 * rules go, then their record. Interfaces it did not make are never
 * touched: they have no record. */
static void remove_departed(struct agent *a)
{
	for (size_t i = a->n_records; i-- > 0;) {
		const struct sd_record *rec = &a->records[i];
		const mr_state_pod *p = mr_state_find_pod(a->desired, rec->id);
		int rc;

		if (p && !strcmp(mr_state_pod_get_interface(p), rec->ifname))
			continue;
		if (!wanted_interface(a->desired, rec->ifname)) {
			rc = mr_pod_teardown(a->ctx, rec->ifname);
			if (rc < 0 && rc != MR_ENOTFOUND) {
				log_error("pod %s (%s): removal failed, will retry: %s", rec->id,
					  rec->ifname, mr_error_message());
				a->reconcile_errors++;
				continue;
			}
			if (rc == 0)
				log_info("pod %s (%s) removed: no longer in the desired state",
					 rec->id, rec->ifname);
		}
		if (!p)
			record_remove(a, i);
	}
}

static int ensure_key(struct agent *a, struct podrt *rt)
{
	char b64[MR_KEY_BASE64_SIZE];
	bool created;
	int rc;

	if (rt->have_key)
		return 0;
	rc = sd_pod_key(a->opt.state_dir, rt->id, &rt->private_key, &created);
	if (rc < 0)
		return rc;
	rc = mr_key_public_from_private(&rt->public_key, &rt->private_key);
	if (rc < 0)
		return rc;
	rt->have_key = true;
	mr_key_to_base64(b64, sizeof(b64), &rt->public_key);
	log_info("pod %s (%s): %s keypair, public key %s", rt->id, rt->ifname,
		 created ? "made a new" : "loaded its", b64);
	return 0;
}

/* The record says the agent made (or is making) the interface. A pod's
 * interface that exists without a record belongs to someone else. */
static int claim(struct agent *a, struct podrt *rt)
{
	bool exists = false;
	char msg[256];

	if (find_record(a, rt->id, rt->ifname))
		return 0;
	if (!find_record(a, NULL, rt->ifname)) {
		if (mr_link_exists(a->ctx, rt->ifname, &exists) < 0) {
			snprintf(msg, sizeof(msg), "cannot check the interface: %s",
				 mr_error_message());
			set_error(rt, msg);
			return -1;
		}
		if (exists) {
			set_error(rt, "the interface exists and was not made by myrelay-agent: "
				      "remove it, or free the name");
			return -1;
		}
	}
	if (record_set(a, rt->id, rt->ifname) < 0) {
		set_error(rt, "cannot write its ownership record in the state directory");
		return -1;
	}
	return 0;
}

static void apply_pod(struct agent *a, size_t i)
{
	const mr_state_pod *p = mr_state_pod_at(a->desired, i);
	struct podrt *rt = &a->pods[i];
	mr_pod_spec *spec = NULL;
	mr_pod_report rep;
	char msg[600];
	int rc;

	rc = ensure_key(a, rt);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "no private key: %s", mr_error_message());
		set_error(rt, msg);
		a->reconcile_errors++;
		return;
	}
	if (claim(a, rt) < 0) {
		a->reconcile_errors++;
		return;
	}
	rc = mr_state_pod_spec(p, &rt->private_key, &spec);
	if (rc == 0 && a->opt.uplinks_set)
		rc = mr_pod_spec_set_uplinks(spec, (const char *const *)a->opt.uplinks,
					     a->opt.n_uplinks);
	if (rc == 0)
		rc = mr_pod_apply(a->ctx, spec, &rep);
	mr_pod_spec_free(spec);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s",
			 mr_error_message()[0] ? mr_error_message() : mr_strerror(rc));
		set_error(rt, msg);
		a->reconcile_errors++;
		return;
	}
	if (rep.link_created || rep.peers.added || rep.peers.removed || rep.peers.updated ||
	    rep.addresses_added || rep.addresses_removed || rep.mtu_changed || rep.up_changed)
		log_info("pod %s (%s): %s%speers +%u -%u ~%u (=%u), addresses +%u -%u", rt->id,
			 rt->ifname, rep.link_created ? "interface created, " : "",
			 rep.userspace_pid ? "wireguard-go started, " : "", rep.peers.added,
			 rep.peers.removed, rep.peers.updated, rep.peers.unchanged,
			 rep.addresses_added, rep.addresses_removed);
	if (rep.userspace_pid > 0)
		rt->pid = (pid_t)rep.userspace_pid;
	if (!rt->ok) {
		log_info("pod %s (%s) is up (listen port %u, %u peers)", rt->id, rt->ifname,
			 mr_state_pod_get_listen_port(p),
			 rep.peers.added + rep.peers.unchanged + rep.peers.updated);
		a->report_now = true;
	}
	rt->ok = true;
	rt->ever_ok = true;
	rt->dirty = false;
	free(rt->error);
	rt->error = NULL;
}

static size_t enabled_peers(const mr_state_pod *p)
{
	size_t n = 0;

	for (size_t j = 0; j < mr_state_pod_peer_count(p); j++)
		n += mr_state_peer_get_enabled(mr_state_pod_peer_at(p, j));
	return n;
}

/* The quick check: is the pod's interface there and up, with as many peers
 * as it should have? (mr_pod_apply() would find out too, but it also
 * rewrites the pod's firewall rules, which is work for a node of many
 * pods every few seconds.) */
static bool looks_fine(const struct podrt *rt, const mr_state_pod *p, const mr_link_list *links)
{
	size_t n = mr_link_list_count(links);

	if (rt->dirty || !rt->ok || (rt->have_stats && rt->peers != enabled_peers(p)))
		return false;
	for (size_t i = 0; i < n; i++) {
		bool up = false;

		if (strcmp(mr_link_list_name(links, i), rt->ifname) != 0)
			continue;
		mr_link_list_info(links, i, NULL, NULL, &up, NULL);
		return up;
	}
	return false;
}

void agent_reconcile(struct agent *a, bool full, const char *why)
{
	mr_link_list *links = NULL;
	struct timespec t0, t1;
	size_t applied = 0;

	if (!a->desired)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	remove_departed(a);
	if (!full && mr_link_dump(a->ctx, "wg-", &links) < 0) {
		log_warn("cannot list interfaces (%s): applying every pod", mr_error_message());
		full = true;
	}
	for (size_t i = 0; i < a->n_pods; i++) {
		if (!full && looks_fine(&a->pods[i], mr_state_pod_at(a->desired, i), links))
			continue;
		apply_pod(a, i);
		applied++;
	}
	mr_link_list_free(links);
	if (a->generation_applied != mr_state_get_generation(a->desired)) {
		a->generation_applied = mr_state_get_generation(a->desired);
		a->report_now = true;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a->reconcile_seconds =
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	a->reconciles++;
	log_debug("reconcile (%s%s): generation %" PRId64 ", %zu of %zu pods applied in %.3f s",
		  why, full ? ", full" : "", mr_state_get_generation(a->desired), applied,
		  a->n_pods, a->reconcile_seconds);
	pthread_mutex_lock(&a->sh.mu);
	a->sh.last_reconcile = agent_now_mono();
	pthread_mutex_unlock(&a->sh.mu);
}

void agent_collect(struct agent *a, mr_state_report *report)
{
	int64_t now = agent_now_real();

	for (size_t i = 0; i < a->n_pods; i++) {
		struct podrt *rt = &a->pods[i];
		mr_wg_device *dev = NULL;

		if (report &&
		    mr_state_report_add_pod(
			report, rt->id, rt->have_key ? &rt->public_key : NULL,
			rt->ok ? NULL : (rt->error ? rt->error : "not applied yet")) < 0) {
			log_error("report: pod %s: %s", rt->id, mr_error_message());
			continue;
		}
		rt->have_stats = false;
		if (!rt->ever_ok || mr_wg_get(a->ctx, rt->ifname, &dev) < 0) {
			if (rt->ok)
				log_debug("pod %s (%s): cannot read counters: %s", rt->id,
					  rt->ifname, mr_error_message());
			continue;
		}
		rt->peers = mr_wg_device_peer_count(dev);
		rt->connected = 0;
		rt->rx = rt->tx = 0;
		rt->last_handshake = 0;
		for (size_t j = 0; j < rt->peers; j++) {
			const mr_wg_peer *peer = mr_wg_device_peer(dev, j);
			int64_t hs = 0;

			mr_wg_peer_get_last_handshake(peer, &hs, NULL);
			rt->rx += mr_wg_peer_get_rx_bytes(peer);
			rt->tx += mr_wg_peer_get_tx_bytes(peer);
			if (hs > rt->last_handshake)
				rt->last_handshake = hs;
			if (hs > 0 && now - hs < CONNECTED_WINDOW)
				rt->connected++;
		}
		rt->have_stats = true;
		if (report && mr_state_report_add_device(report, dev) < 0)
			log_error("report: pod %s: %s", rt->id, mr_error_message());
		mr_wg_device_free(dev);
	}
}

/* --- /metrics and /healthz ------------------------------------------------ */

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void agent_render(struct agent *a)
{
	char *mtext = NULL, *htext = NULL;
	size_t mlen = 0, hlen = 0;
	FILE *m, *h;
	int64_t now = agent_now_real(), mono = agent_now_mono(), last;
	size_t failed = 0;
	bool server_up;
	uint64_t server_errors, rep_ok, rep_fail;
	int64_t received;
	int status;
	static const struct {
		const char *name, *type, *help;
	} per_pod[] = {
	    {"myrelay_agent_pod_up", "gauge", "1 when the pod's last reconcile succeeded"},
	    {"myrelay_agent_pod_peers", "gauge", "peers on the pod's interface"},
	    {"myrelay_agent_pod_peers_connected", "gauge",
	     "peers with a handshake in the last 180 seconds"},
	    {"myrelay_agent_pod_receive_bytes", "gauge",
	     "bytes received from the pod's current peers (WireGuard counters)"},
	    {"myrelay_agent_pod_transmit_bytes", "gauge",
	     "bytes sent to the pod's current peers (WireGuard counters)"},
	    {"myrelay_agent_pod_last_handshake_age_seconds", "gauge",
	     "seconds since the pod's most recent handshake with any peer"},
	};

	pthread_mutex_lock(&a->sh.mu);
	server_up = a->sh.server_up;
	server_errors = a->sh.server_errors;
	received = a->sh.generation_received;
	rep_ok = a->sh.reports_ok;
	rep_fail = a->sh.reports_failed;
	last = a->sh.last_reconcile;
	pthread_mutex_unlock(&a->sh.mu);

	m = open_memstream(&mtext, &mlen);
	if (!m)
		return;
	metric_head(m, "myrelay_agent_build_info", "gauge", "version of the agent and library");
	fprintf(m, "myrelay_agent_build_info{version=\"%s\",library=\"%s\"} 1\n", PACKAGE_VERSION,
		mr_version());
	metric_head(m, "myrelay_agent_start_time_seconds", "gauge", "when the agent started");
	fprintf(m, "myrelay_agent_start_time_seconds %" PRId64 "\n", a->start_time);
	metric_head(m, "myrelay_agent_generation_applied", "gauge",
		    "generation of the desired state last reconciled (-1: none yet)");
	fprintf(m, "myrelay_agent_generation_applied %" PRId64 "\n", a->generation_applied);
	if (a->managed) {
		metric_head(m, "myrelay_agent_generation_received", "gauge",
			    "newest generation received from the server (-1: none yet)");
		fprintf(m, "myrelay_agent_generation_received %" PRId64 "\n", received);
		metric_head(m, "myrelay_agent_server_up", "gauge",
			    "1 when the last request to the server succeeded");
		fprintf(m, "myrelay_agent_server_up %d\n", server_up ? 1 : 0);
		metric_head(m, "myrelay_agent_server_errors_total", "counter",
			    "failed long polls of the desired state");
		fprintf(m, "myrelay_agent_server_errors_total %" PRIu64 "\n", server_errors);
		metric_head(m, "myrelay_agent_reports_total", "counter", "reports sent, by result");
		fprintf(m, "myrelay_agent_reports_total{result=\"ok\"} %" PRIu64 "\n", rep_ok);
		fprintf(m, "myrelay_agent_reports_total{result=\"error\"} %" PRIu64 "\n", rep_fail);
	}
	metric_head(m, "myrelay_agent_reconciles_total", "counter", "reconciles run");
	fprintf(m, "myrelay_agent_reconciles_total %" PRIu64 "\n", a->reconciles);
	metric_head(m, "myrelay_agent_reconcile_errors_total", "counter",
		    "pod applies and removals that failed");
	fprintf(m, "myrelay_agent_reconcile_errors_total %" PRIu64 "\n", a->reconcile_errors);
	metric_head(m, "myrelay_agent_reconcile_duration_seconds", "gauge",
		    "duration of the last reconcile");
	fprintf(m, "myrelay_agent_reconcile_duration_seconds %.6f\n", a->reconcile_seconds);
	metric_head(m, "myrelay_agent_userspace_exits_total", "counter",
		    "wireguard-go processes of ours that exited (restarted by the next reconcile)");
	fprintf(m, "myrelay_agent_userspace_exits_total %" PRIu64 "\n", a->userspace_exits);
	metric_head(m, "myrelay_agent_pods", "gauge", "pods in the desired state");
	fprintf(m, "myrelay_agent_pods %zu\n", a->n_pods);
	for (size_t i = 0; i < a->n_pods; i++)
		failed += !a->pods[i].ok;
	metric_head(m, "myrelay_agent_pods_failed", "gauge", "pods whose reconcile failed");
	fprintf(m, "myrelay_agent_pods_failed %zu\n", failed);
	/* Pod ids are labels and interfaces pod names: nothing to escape. */
	for (size_t k = 0; k < ARRAY_SIZE(per_pod); k++) {
		metric_head(m, per_pod[k].name, per_pod[k].type, per_pod[k].help);
		for (size_t i = 0; i < a->n_pods; i++) {
			const struct podrt *rt = &a->pods[i];
			char v[32];

			if (k == 0)
				snprintf(v, sizeof(v), "%d", rt->ok ? 1 : 0);
			else if (!rt->have_stats)
				continue;
			else if (k == 1)
				snprintf(v, sizeof(v), "%zu", rt->peers);
			else if (k == 2)
				snprintf(v, sizeof(v), "%zu", rt->connected);
			else if (k == 3)
				snprintf(v, sizeof(v), "%" PRIu64, rt->rx);
			else if (k == 4)
				snprintf(v, sizeof(v), "%" PRIu64, rt->tx);
			else if (rt->last_handshake > 0)
				snprintf(v, sizeof(v), "%" PRId64,
					 now > rt->last_handshake ? now - rt->last_handshake : 0);
			else
				continue;
			fprintf(m, "%s{pod=\"%s\",interface=\"%s\"} %s\n", per_pod[k].name, rt->id,
				rt->ifname, v);
		}
	}

	/* The HTTP thread turns this into 503 when the main loop stops
	 * reconciling (see metrics.c). */
	status = 200;
	h = open_memstream(&htext, &hlen);
	if (!h) {
		fclose(m);
		free(mtext);
		return;
	}
	fprintf(h,
		"{\"status\":\"%s\",\"mode\":\"%s\",\"generation_applied\":%" PRId64
		",\"pods\":%zu,\"pods_failed\":%zu,\"reconciles\":%" PRIu64,
		last ? "ok" : "starting", a->managed ? "managed" : "standalone",
		a->generation_applied, a->n_pods, failed, a->reconciles);
	if (a->managed)
		fprintf(h, ",\"server_up\":%s,\"generation_received\":%" PRId64,
			server_up ? "true" : "false", received);
	fprintf(h, ",\"last_reconcile_age_seconds\":%" PRId64 "}\n", last ? mono - last : -1);

	int e1 = fclose(m), e2 = fclose(h);

	if (e1 || e2 || !mtext || !htext) {
		free(mtext);
		free(htext);
		return;
	}
	pthread_mutex_lock(&a->sh.mu);
	free(a->sh.metrics_text);
	free(a->sh.health_text);
	a->sh.metrics_text = mtext;
	a->sh.health_text = htext;
	a->sh.health_status = status;
	pthread_mutex_unlock(&a->sh.mu);
}
