/* SPDX-License-Identifier: MIT */
/*
 * myrelay-agent, the node agent: shared declarations of its files.
 *
 * The agent is thin: it reads its options, takes desired state from the
 * control plane (managed mode) or from a local file (standalone mode),
 * and calls libmyrelay for everything else: the state module parses and
 * validates the state and encodes reports, the pod module reconciles each
 * pod, the api module talks to the server, the key module makes each pod's
 * keypair on the node.
 *
 * Threads: the main thread owns the context (netlink sockets) and does all
 * the kernel work; in managed mode a poller thread long-polls the desired
 * state and a reporter thread posts reports, each with its own API client;
 * libmicrohttpd serves /healthz and /metrics from its own thread. They
 * share only the small structures below, under agent.mu.
 */
#ifndef MYRELAY_AGENT_H
#define MYRELAY_AGENT_H

#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <myrelay/myrelay.h>

#define PROG "myrelay-agent"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEFAULT_STATE_DIR "/var/lib/myrelay-agent"
#define DEFAULT_USER "myrelay"
#define DEFAULT_METRICS "127.0.0.1:9101"
#define DEFAULT_REPORT_INTERVAL 30
#define DEFAULT_RECONCILE_INTERVAL 10
#define DEFAULT_POLL_TIMEOUT 25
/* A handshake younger than this counts as a connected peer (WireGuard
 * re-keys every 2 minutes while traffic flows). */
#define CONNECTED_WINDOW 180

struct options {
	char *server;
	char *ca;
	char *token_file;
	char *desired_file;
	char *state_dir;
	int backend;
	char *wireguard_go;
	char *uplinks[MR_POD_UPLINKS_MAX];
	size_t n_uplinks;
	bool uplinks_set; /* --uplink given (possibly "none": no masquerade) */
	unsigned report_interval;
	unsigned reconcile_interval;
	unsigned poll_timeout;
	char *listen_metrics; /* NULL: no HTTP responder */
	bool metrics_set;
	char *user;
	int log_level;
};

/* What the agent knows about one pod of its desired state. */
struct podrt {
	char id[MR_STATE_ID_MAX + 1];
	char ifname[MR_NAME_IFNAMSIZ];
	mr_key private_key; /* wiped when the pod goes */
	mr_key public_key;
	bool have_key;
	bool dirty;	  /* changed in the desired state since it was applied */
	bool ok;	  /* the last apply succeeded */
	bool ever_ok;	  /* some apply succeeded in this process */
	char *error;	  /* why the last apply or key step failed, or NULL */
	bool have_stats;  /* read back with mr_wg_get() */
	size_t peers;	  /* peers on the interface */
	size_t connected; /* of which with a recent handshake */
	uint64_t rx, tx;  /* sums over the peers */
	int64_t last_handshake;
	pid_t pid; /* the wireguard-go we started for it, if any */
};

/* An ownership record: the agent made ifname for pod id. */
struct sd_record {
	char id[MR_STATE_ID_MAX + 1];
	char ifname[MR_NAME_IFNAMSIZ];
};

/* Counters the threads share (under agent.mu). */
struct shared {
	pthread_mutex_t mu;
	/* remote */
	bool server_up;
	uint64_t server_errors;
	int64_t generation_received;
	uint64_t reports_ok, reports_failed;
	/* main thread */
	int64_t last_reconcile; /* CLOCK_MONOTONIC seconds; 0 before the first */
	char *metrics_text;	/* rendered by the main thread */
	char *health_text;
	int health_status;
};

struct agent {
	struct options opt;
	bool managed;
	mr_ctx *ctx;
	uid_t uid;
	gid_t gid;
	int lock_fd;

	/* desired state (main thread) */
	mr_state *desired;
	char *desired_origin; /* "server" / the file */
	int64_t generation_applied;
	struct podrt *pods;
	size_t n_pods;

	/* ownership records, as on disk (main thread; only we write them) */
	struct sd_record *records;
	size_t n_records;

	/* reconcile bookkeeping (main thread) */
	uint64_t reconciles;
	uint64_t reconcile_errors;
	double reconcile_seconds;
	uint64_t userspace_exits;
	bool report_now;
	int64_t start_time; /* CLOCK_REALTIME seconds */
	int64_t start_mono;

	struct shared sh;
	struct remote *remote;
	struct metrics_server *metrics;
};

/* main.c: logging */
extern int agent_log_level;
void agent_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) agent_log(MR_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) agent_log(MR_LOG_WARNING, __VA_ARGS__)
#define log_info(...) agent_log(MR_LOG_INFO, __VA_ARGS__)
#define log_debug(...) agent_log(MR_LOG_DEBUG, __VA_ARGS__)
/* The library's log callback (mr_ctx_set_log). */
void agent_lib_log(int level, const char *message, void *userdata);
int64_t agent_now_mono(void);
int64_t agent_now_real(void);

/* options.c */
void options_init(struct options *o);
void options_free(struct options *o);
/* Parse `run`/`check` arguments (and --config FILE); returns 0, or an exit
 * code after printing why (2), or -1 after printing help (exit 0). */
int options_parse(struct options *o, int argc, char **argv, bool run);
void options_usage(FILE *f);

/* privs.c */
/* As root: look up the user. */
int privs_lookup(const char *user, uid_t *uid, gid_t *gid);
/* As root: make /var/run/wireguard (the userspace socket directory) the
 * agent user's, so that the wireguard-go it starts can create sockets. */
int privs_prepare_userspace_dir(const char *dir, uid_t uid, gid_t gid);
/* As root: become uid/gid keeping only CAP_NET_ADMIN (also ambient, so
 * wireguard-go inherits it). Not root: check that CAP_NET_ADMIN is there. */
int privs_drop(uid_t uid, gid_t gid);
/* One line for the log: "uid 998 gid 998, capabilities: cap_net_admin". */
void privs_describe(char *buf, size_t size);
/* The agent user can open /dev/net/tun (wireguard-go needs it). */
int privs_check_tun(void);
/* As root, before changing anything: would uid/gid be allowed to open
 * /dev/net/tun, by its mode? */
int privs_tun_allowed(uid_t uid, gid_t gid);

/* statedir.c */
/* As root: create DIR and DIR/pods (0700) and hand them and their files to
 * uid/gid; copy ca (if given) to DIR/ca.crt. */
int sd_prepare(const char *dir, uid_t uid, gid_t gid, bool chown_it, const char *ca);
/* After the drop: the directory is usable, and no other agent uses it
 * (lock held in *lock_fd). */
int sd_open(const char *dir, int *lock_fd);
/* The pod's private key, made and stored (0600) the first time. */
int sd_pod_key(const char *dir, const char *pod_id, mr_key *out, bool *created);
/* Ownership records: DIR/pods/<id>.iface names the interface the agent made
 * (or is about to make) for a pod. */
int sd_records(const char *dir, struct sd_record **out, size_t *count);
int sd_record_set(const char *dir, const char *pod_id, const char *ifname);
int sd_record_remove(const char *dir, const char *pod_id);
/* Atomic replacement of DIR/name (0600). */
int sd_write(const char *dir, const char *name, const char *data, size_t len);
/* Whole file, at most max bytes; *out is NUL-terminated (free with free();
 * callers wipe secrets first). -ENOENT etc. on failure (errno value). */
int sd_read_file(const char *path, size_t max, char **out, size_t *len);

/* reconcile.c */
/* Adopt a new desired state (takes ownership). */
void agent_set_desired(struct agent *a, mr_state *st, const char *origin);
/* Make the node match the desired state; removes pods it made that left.
 * full: apply every pod; otherwise only pods that changed, failed, lost
 * their interface or drifted (a quick check, run every few seconds). */
void agent_reconcile(struct agent *a, bool full, const char *why);
/* Read counters back; with report non-NULL, add every pod to it. */
void agent_collect(struct agent *a, mr_state_report *report);
/* Render /metrics and /healthz into agent.sh. */
void agent_render(struct agent *a);
void agent_free_pods(struct agent *a);

/* remote.c (managed mode) */
struct remote;
/* Start the poller and the reporter. notify_fd (an eventfd) is written
 * when a new desired state is waiting in remote_take(). */
int remote_start(struct agent *a, const char *token, int notify_fd, int64_t after,
		 struct remote **out);
/* The newest desired state received, or NULL (caller owns it). */
mr_state *remote_take(struct remote *r);
/* Queue report parts (takes ownership of the mr_free()able array). */
void remote_report(struct remote *r, char **parts, size_t n);
/* Ask the threads to stop; wait at most timeout_ms. Returns true when both
 * ended (then the remote is freed), false when one is still inside a
 * request. */
bool remote_stop(struct remote *r, long timeout_ms);

/* metrics.c */
struct metrics_server;
/* The address is well-formed (checked before anything is changed). */
int metrics_check_listen(const char *listen);
int metrics_start(struct agent *a, const char *listen, struct metrics_server **out);
void metrics_stop(struct metrics_server *m);

#endif
