/* SPDX-License-Identifier: MIT */
/*
 * /healthz and /metrics over plain HTTP on a local address (libmicrohttpd,
 * its own thread). Texts are rendered by the main thread after each
 * reconcile; this thread only copies them out, and turns /healthz into 503
 * when the main loop has stopped reconciling.
 */
#include "agent.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct metrics_server {
	struct MHD_Daemon *d;
	struct agent *a;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
			      const char *text)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct metrics_server *m = cls;
	struct agent *a = m->a;
	enum MHD_Result ret;
	char *copy = NULL, stalled[160];
	unsigned status = 200;
	int64_t last, age;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(c, 405, "text/plain", "only GET\n");
	if (*upload_size)
		return answer(c, 400, "text/plain", "no body expected\n");
	pthread_mutex_lock(&a->sh.mu);
	if (!strcmp(url, "/metrics")) {
		copy = strdup(a->sh.metrics_text ? a->sh.metrics_text : "");
	} else if (!strcmp(url, "/healthz")) {
		last = a->sh.last_reconcile;
		age = agent_now_mono() - (last ? last : a->start_mono);
		/* Healthy while the main loop keeps reconciling. */
		if (age > 3 * (int64_t)a->opt.reconcile_interval + 60) {
			snprintf(stalled, sizeof(stalled),
				 "{\"status\":\"stalled\",\"last_reconcile_age_seconds\":%lld}\n",
				 (long long)age);
			copy = strdup(stalled);
			status = 503;
		} else {
			copy = strdup(a->sh.health_text ? a->sh.health_text
							: "{\"status\":\"starting\"}\n");
			status = (unsigned)(a->sh.health_text ? a->sh.health_status : 200);
		}
	} else {
		pthread_mutex_unlock(&a->sh.mu);
		return answer(c, 404, "text/plain", "not found: /healthz and /metrics only\n");
	}
	pthread_mutex_unlock(&a->sh.mu);
	if (!copy)
		return MHD_NO;
	ret = answer(c, status,
		     !strcmp(url, "/metrics") ? "text/plain; version=0.0.4; charset=utf-8"
					      : "application/json",
		     copy);
	free(copy);
	return ret;
}

static int parse_listen(const char *text, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long port;

	if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1;
	}
}

int metrics_check_listen(const char *listen)
{
	struct sockaddr_storage ss;

	if (parse_listen(listen, &ss) < 0) {
		log_error("--listen-metrics %s: expected ADDRESS:PORT (an IP address, IPv6 in [])",
			  listen);
		return -1;
	}
	return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int metrics_start(struct agent *a, const char *listen, struct metrics_server **out)
{
	struct sockaddr_storage ss;
	struct metrics_server *m;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;

	if (parse_listen(listen, &ss) < 0) {
		log_error("--listen-metrics %s: expected ADDRESS:PORT (an IP address, IPv6 in [])",
			  listen);
		return -1;
	}
	if (!is_loopback(&ss))
		log_warn("--listen-metrics %s is not a loopback address: /metrics has no "
			 "authentication",
			 listen);
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	m->a = a;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, m, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!m->d) {
		log_error("cannot serve /metrics on %s (address in use?)", listen);
		free(m);
		return -1;
	}
	log_info("serving /healthz and /metrics on http://%s", listen);
	*out = m;
	return 0;
}

void metrics_stop(struct metrics_server *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
