/* SPDX-License-Identifier: MIT */
/*
 * Managed mode: two threads, each with its own API client (a client is used
 * by one thread at a time). The poller long-polls GET /v1/node/desired and
 * hands the newest valid state to the main thread; the reporter POSTs the
 * newest report. Both retry with exponential backoff and jitter while the
 * server is unreachable; the data plane meanwhile stays as last applied,
 * and when the server answers again the newest state arrives in one step
 * (older undelivered states are simply replaced).
 */
#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000

struct remote {
	struct agent *a;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	/* poller -> main */
	mr_state *incoming;
	int notify_fd;
	int64_t after;
	bool send_timeout;
	/* main -> reporter */
	char **parts;
	size_t n_parts;
	pthread_t poller, reporter;
	bool poller_started, reporter_started;
	mr_api *api_poll, *api_report;
};

static uint32_t jitter_rand(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	return v;
}

/* Exponential backoff with "equal jitter": half fixed, half random, so that
 * many nodes that lost the server together do not return together. */
static long backoff_ms(unsigned failures, uint32_t retry_after_s)
{
	long base = BACKOFF_MIN_MS;

	for (unsigned i = 1; i < failures && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	base = base / 2 + (long)(jitter_rand() % (uint32_t)(base / 2 + 1));
	if (retry_after_s && (long)retry_after_s * 1000 > base)
		base = (long)retry_after_s * 1000;
	return base;
}

/* Sleep up to ms, or until told to quit. Called with r->mu held. */
static void wait_locked(struct remote *r, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!r->quit && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT)
		;
}

static bool quitting(struct remote *r)
{
	bool q;

	pthread_mutex_lock(&r->mu);
	q = r->quit;
	pthread_mutex_unlock(&r->mu);
	return q;
}

static void set_server(struct remote *r, bool up, int64_t generation)
{
	pthread_mutex_lock(&r->a->sh.mu);
	r->a->sh.server_up = up;
	if (!up)
		r->a->sh.server_errors++;
	if (generation >= 0)
		r->a->sh.generation_received = generation;
	pthread_mutex_unlock(&r->a->sh.mu);
}

static void *poller_main(void *arg)
{
	struct remote *r = arg;
	unsigned failures = 0, timeout = r->a->opt.poll_timeout;

	while (!quitting(r)) {
		char path[128];
		char *body = NULL;
		long status = 0;
		uint32_t wait_ms;
		int rc;

		pthread_mutex_lock(&r->mu);
		if (r->after < 0)
			snprintf(path, sizeof(path), "/v1/node/desired");
		else if (r->send_timeout)
			snprintf(path, sizeof(path),
				 "/v1/node/desired?after=%" PRId64 "&timeout=%u", r->after,
				 timeout);
		else
			snprintf(path, sizeof(path), "/v1/node/desired?after=%" PRId64, r->after);
		wait_ms = r->send_timeout ? (timeout + 15) * 1000u : 120000u;
		pthread_mutex_unlock(&r->mu);

		rc =
		    mr_api_request_timeout(r->api_poll, "GET", path, NULL, wait_ms, &status, &body);
		if (rc == 0 && status == 200) {
			mr_state *st = NULL;
			int prc = mr_state_parse(&st, body, strlen(body), 0);

			mr_api_free_body(body);
			if (prc < 0) {
				/* Keep what we have: a state we cannot trust is not
				 * applied at all. */
				log_error("the server's desired state is refused: %s",
					  mr_error_message());
				set_server(r, false, -1);
				failures++;
				pthread_mutex_lock(&r->mu);
				wait_locked(r, backoff_ms(failures, 0));
				pthread_mutex_unlock(&r->mu);
				continue;
			}
			if (failures)
				log_info("server %s answers again", r->a->opt.server);
			failures = 0;
			set_server(r, true, mr_state_get_generation(st));
			pthread_mutex_lock(&r->mu);
			mr_state_free(r->incoming);
			r->incoming = st;
			r->after = mr_state_get_generation(st);
			pthread_mutex_unlock(&r->mu);
			{
				uint64_t one = 1;

				if (write(r->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
					log_error("cannot wake the main loop: %s", strerror(errno));
			}
			continue;
		}
		if (rc == 0) {
			/* 304: nothing changed during the poll. */
			mr_api_free_body(body);
			if (failures)
				log_info("server %s answers again", r->a->opt.server);
			failures = 0;
			set_server(r, true, -1);
			continue;
		}
		if (rc == MR_EINVAL && mr_api_last_status(r->api_poll) == 400 &&
		    strstr(mr_error_message(), "timeout") && r->send_timeout) {
			log_warn("the server refuses timeout=%u (%s): using its default", timeout,
				 mr_error_message());
			pthread_mutex_lock(&r->mu);
			r->send_timeout = false;
			pthread_mutex_unlock(&r->mu);
			continue;
		}
		if (rc == MR_ETIMEOUT && !r->send_timeout) {
			set_server(r, true, -1);
			continue;
		}
		failures++;
		set_server(r, false, -1);
		{
			long ms = backoff_ms(failures, mr_api_retry_after(r->api_poll));

			if (failures == 1 || failures % 10 == 0)
				log_warn("server %s: %s (%s); retrying in %.1f s, the data plane "
					 "stays as last applied",
					 r->a->opt.server, mr_strerror(rc), mr_error_message(),
					 (double)ms / 1000.0);
			pthread_mutex_lock(&r->mu);
			wait_locked(r, ms);
			pthread_mutex_unlock(&r->mu);
		}
	}
	return NULL;
}

static void *reporter_main(void *arg)
{
	struct remote *r = arg;
	unsigned failures = 0;

	pthread_mutex_lock(&r->mu);
	while (!r->quit) {
		char **parts;
		size_t n;
		int rc = 0;

		if (!r->parts) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		parts = r->parts;
		n = r->n_parts;
		r->parts = NULL;
		pthread_mutex_unlock(&r->mu);

		for (size_t i = 0; i < n && rc == 0; i++) {
			char *body = NULL;
			long status = 0;

			rc = mr_api_request(r->api_report, "POST", "/v1/node/report", parts[i],
					    &status, &body);
			mr_api_free_body(body);
		}
		pthread_mutex_lock(&r->a->sh.mu);
		if (rc == 0)
			r->a->sh.reports_ok++;
		else
			r->a->sh.reports_failed++;
		pthread_mutex_unlock(&r->a->sh.mu);
		if (rc == 0) {
			if (failures)
				log_info("reports reach the server again");
			failures = 0;
			mr_free(parts);
			pthread_mutex_lock(&r->mu);
			continue;
		}
		failures++;
		if (failures == 1 || failures % 10 == 0)
			log_warn("report to %s failed: %s (%s)", r->a->opt.server, mr_strerror(rc),
				 mr_error_message());
		pthread_mutex_lock(&r->mu);
		/* Retry this one unless a newer report is waiting: counters are
		 * cumulative, the newest says everything. */
		if (!r->parts) {
			r->parts = parts;
			r->n_parts = n;
		} else {
			mr_free(parts);
		}
		wait_locked(r, backoff_ms(failures, mr_api_retry_after(r->api_report)));
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int new_client(struct agent *a, const char *token, mr_api **out)
{
	char ca[4096];
	int rc;

	snprintf(ca, sizeof(ca), "%s/ca.crt", a->opt.state_dir);
	rc = mr_api_new(out, a->opt.server, ca, token);
	if (rc == 0)
		rc = mr_api_set_user_agent(*out, PROG "/" PACKAGE_VERSION);
	if (rc < 0) {
		log_error("--server %s: %s", a->opt.server, mr_error_message());
		mr_api_free(*out);
		*out = NULL;
	}
	return rc;
}

int remote_start(struct agent *a, const char *token, int notify_fd, int64_t after,
		 struct remote **out)
{
	pthread_condattr_t ca;
	struct remote *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->a = a;
	r->notify_fd = notify_fd;
	r->after = after;
	r->send_timeout = true;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (new_client(a, token, &r->api_poll) < 0 || new_client(a, token, &r->api_report) < 0)
		goto fail;
	if (pthread_create(&r->poller, NULL, poller_main, r) != 0)
		goto fail;
	r->poller_started = true;
	if (pthread_create(&r->reporter, NULL, reporter_main, r) != 0) {
		remote_stop(r, 100000);
		return -1;
	}
	r->reporter_started = true;
	*out = r;
	return 0;
fail:
	mr_api_free(r->api_poll);
	mr_api_free(r->api_report);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return -1;
}

mr_state *remote_take(struct remote *r)
{
	mr_state *st;

	pthread_mutex_lock(&r->mu);
	st = r->incoming;
	r->incoming = NULL;
	pthread_mutex_unlock(&r->mu);
	return st;
}

void remote_report(struct remote *r, char **parts, size_t n)
{
	pthread_mutex_lock(&r->mu);
	mr_free(r->parts);
	r->parts = parts;
	r->n_parts = n;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static bool join_until(pthread_t t, const struct timespec *deadline)
{
	return pthread_timedjoin_np(t, NULL, deadline) == 0;
}

bool remote_stop(struct remote *r, long timeout_ms)
{
	struct timespec deadline;
	bool ok = true;

	pthread_mutex_lock(&r->mu);
	r->quit = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	/* pthread_timedjoin_np measures against CLOCK_REALTIME. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (r->reporter_started)
		ok = join_until(r->reporter, &deadline) && ok;
	if (r->poller_started)
		ok = join_until(r->poller, &deadline) && ok;
	if (!ok)
		return false; /* a thread is inside a request: the process exits around it */
	mr_api_free(r->api_poll);
	mr_api_free(r->api_report);
	mr_state_free(r->incoming);
	mr_free(r->parts);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return true;
}
