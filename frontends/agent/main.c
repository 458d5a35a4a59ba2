/* SPDX-License-Identifier: MIT */
/*
 * myrelay-agent: start-up (as root: directories, token, CA; then the drop to
 * the agent user with CAP_NET_ADMIN only) and the main loop: one poll() over
 * signals (signalfd), the poller's wake-up (eventfd), the standalone file's
 * directory (inotify) and the timers of the periodic reconcile and report.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/secret.h"

/* Every pod is applied in full (firewall rules included) this often; in
 * between, the periodic check applies only pods that look wrong. */
#define FULL_RESYNC_MS (300 * 1000)

int agent_log_level = MR_LOG_INFO;
static bool to_journal;

void agent_log(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (level > agent_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* journald reads the syslog level from a "<N>" prefix. */
	if (to_journal)
		fprintf(stderr, "<%d>%s\n", level, msg);
	else
		fprintf(stderr, PROG ": %s%s\n",
			level <= MR_LOG_ERROR	  ? "error: "
			: level <= MR_LOG_WARNING ? "warning: "
			: level >= MR_LOG_DEBUG	  ? "debug: "
						  : "",
			msg);
}

void agent_lib_log(int level, const char *message, void *userdata)
{
	/* The library tells every step (each link, address and firewall
	 * batch); the agent sums a pod's changes up in one line of its own. */
	agent_log(level == MR_LOG_INFO ? MR_LOG_DEBUG : level, "%s", message);
}

int64_t agent_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t agent_now_real(void)
{
	return (int64_t)time(NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- check ---------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
	struct options o;
	char *text = NULL;
	size_t len, peers = 0;
	mr_state *st = NULL;
	int rc;

	options_init(&o);
	rc = options_parse(&o, argc, argv, false);
	if (rc) {
		options_free(&o);
		return rc < 0 ? EXIT_OK : rc;
	}
	rc = sd_read_file(o.desired_file, MR_STATE_TEXT_MAX, &text, &len);
	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", o.desired_file, strerror(rc));
		options_free(&o);
		return EXIT_FAIL;
	}
	rc = mr_state_parse(&st, text, len, MR_STATE_STRICT);
	fe_secret_free(text);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s: %s\n", o.desired_file, mr_error_message());
		options_free(&o);
		return rc == MR_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
	}
	for (size_t i = 0; i < mr_state_pod_count(st); i++) {
		const mr_state_pod *p = mr_state_pod_at(st, i);
		size_t enabled = 0;

		for (size_t j = 0; j < mr_state_pod_peer_count(p); j++)
			enabled += mr_state_peer_get_enabled(mr_state_pod_peer_at(p, j));
		peers += mr_state_pod_peer_count(p);
		printf("pod %s: %s, port %u, %zu address%s, %zu peers (%zu enabled)\n",
		       mr_state_pod_get_id(p), mr_state_pod_get_interface(p),
		       mr_state_pod_get_listen_port(p), mr_state_pod_address_count(p),
		       mr_state_pod_address_count(p) == 1 ? "" : "es", mr_state_pod_peer_count(p),
		       enabled);
	}
	printf("ok: generation %" PRId64 ", %zu pods, %zu peers\n", mr_state_get_generation(st),
	       mr_state_pod_count(st), peers);
	mr_state_free(st);
	options_free(&o);
	return EXIT_OK;
}

/* --- run ------------------------------------------------------------------ */

static int read_token(const char *path, char **out)
{
	size_t len;
	char *t = fe_read_file(path, 4096, &len);

	if (!t) {
		log_error("--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' ' ||
		       t[len - 1] == '\t'))
		t[--len] = '\0';
	if (!len) {
		log_error("--token-file %s is empty", path);
		fe_secret_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

static void save_cache(struct agent *a)
{
	char *text = NULL;
	int rc;

	if (mr_state_format(a->desired, &text) < 0)
		return;
	rc = sd_write(a->opt.state_dir, "desired.json", text, strlen(text));
	if (rc < 0)
		log_warn("cannot keep the desired state in %s: %s", a->opt.state_dir,
			 strerror(-rc));
	mr_state_free_text(text);
}

/* The last state from the server, so that a restart while the server is
 * away (or a reboot) brings the pods back as they were. */
static int64_t load_cache(struct agent *a)
{
	char path[4096], *text = NULL;
	mr_state *st = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/desired.json", a->opt.state_dir);
	rc = sd_read_file(path, MR_STATE_TEXT_MAX, &text, &len);
	if (rc == ENOENT)
		return -1;
	if (rc) {
		log_warn("%s: %s", path, strerror(rc));
		return -1;
	}
	rc = mr_state_parse(&st, text, len, 0);
	fe_secret_free(text);
	if (rc < 0) {
		log_warn("%s is ignored: %s", path, mr_error_message());
		return -1;
	}
	agent_set_desired(a, st, "the state directory (last state from the server)");
	return mr_state_get_generation(a->desired);
}

static bool load_file(struct agent *a, bool *warned_missing)
{
	char *text = NULL;
	mr_state *st = NULL;
	size_t len;
	int rc;

	rc = sd_read_file(a->opt.desired_file, MR_STATE_TEXT_MAX, &text, &len);
	if (rc) {
		if (rc != ENOENT || !*warned_missing)
			log_warn("%s: %s; keeping the state applied before", a->opt.desired_file,
				 strerror(rc));
		*warned_missing = rc == ENOENT;
		return false;
	}
	*warned_missing = false;
	rc = mr_state_parse(&st, text, len, MR_STATE_STRICT);
	fe_secret_free(text);
	if (rc < 0) {
		log_error("%s is refused, keeping the state applied before: %s",
			  a->opt.desired_file, mr_error_message());
		return false;
	}
	agent_set_desired(a, st, a->opt.desired_file);
	return true;
}

static void send_report(struct agent *a)
{
	mr_state_report *r = NULL;
	char **parts = NULL;
	size_t n = 0;

	if (mr_state_report_new(&r, a->generation_applied) < 0) {
		log_error("report: %s", mr_error_message());
		return;
	}
	agent_collect(a, r);
	agent_render(a);
	if (mr_state_report_encode(r, 0, &parts, &n) < 0)
		log_error("report: %s", mr_error_message());
	else
		remote_report(a->remote, parts, n);
	mr_state_report_free(r);
}

/* Reap our wireguard-go children. A pod's own process that died takes its
 * TUN device with it: the pod is re-created by the next reconcile. */
static bool reap(struct agent *a)
{
	bool ours = false;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct podrt *rt = NULL;

		for (size_t i = 0; i < a->n_pods && !rt; i++)
			if (a->pods[i].pid == pid)
				rt = &a->pods[i];
		if (!rt) {
			log_debug("child %ld exited", (long)pid);
			continue;
		}
		rt->pid = 0;
		a->userspace_exits++;
		ours = true;
		if (WIFSIGNALED(status))
			log_warn("pod %s (%s): its wireguard-go (pid %ld) was killed by signal %d; "
				 "re-creating the pod",
				 rt->id, rt->ifname, (long)pid, WTERMSIG(status));
		else
			log_warn("pod %s (%s): its wireguard-go (pid %ld) exited with status %d; "
				 "re-creating the pod",
				 rt->id, rt->ifname, (long)pid, WEXITSTATUS(status));
	}
	return ours;
}

static int setup_signals(int *sfd)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* Before any thread exists, so that every thread inherits the mask
	 * and only the signalfd sees these. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	*sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return *sfd < 0 ? -1 : 0;
}

static const char *backend_name(int b)
{
	return b == MR_BACKEND_KERNEL ? "kernel" : b == MR_BACKEND_USERSPACE ? "userspace" : "auto";
}

static int run_loop(struct agent *a, int sfd, int efd, int ifd)
{
	int64_t next_reconcile = 0, next_report = 0, reload_at = 0, next_full = 0;
	bool reconcile_now = true, full_now = false, warned_missing = false;
	int stop_signal = 0;

	if (!a->managed && load_file(a, &warned_missing))
		reconcile_now = true;
	next_report = now_ms() + (int64_t)a->opt.report_interval * 1000;
	while (!stop_signal) {
		struct pollfd fds[3];
		int64_t now = now_ms(), timeout;
		nfds_t nfds = 0;

		if (reload_at && now >= reload_at) {
			reload_at = 0;
			if (load_file(a, &warned_missing))
				reconcile_now = true;
		}
		if (reconcile_now || full_now || now >= next_reconcile) {
			bool full = full_now || now >= next_full;

			agent_reconcile(a, full,
					full_now	? "requested"
					: reconcile_now ? "change"
							: "periodic");
			agent_collect(a, NULL);
			agent_render(a);
			reconcile_now = full_now = false;
			next_reconcile = now_ms() + (int64_t)a->opt.reconcile_interval * 1000;
			if (full)
				next_full = now_ms() + FULL_RESYNC_MS;
		}
		if (a->managed && a->desired && (a->report_now || now_ms() >= next_report)) {
			send_report(a);
			a->report_now = false;
			next_report = now_ms() + (int64_t)a->opt.report_interval * 1000;
		}
		a->report_now = a->report_now && a->managed;

		now = now_ms();
		timeout = next_reconcile - now;
		if (a->managed && next_report - now < timeout)
			timeout = next_report - now;
		if (reload_at && reload_at - now < timeout)
			timeout = reload_at - now;
		if (timeout < 0)
			timeout = 0;
		fds[nfds++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		if (efd >= 0)
			fds[nfds++] = (struct pollfd){.fd = efd, .events = POLLIN};
		if (ifd >= 0)
			fds[nfds++] = (struct pollfd){.fd = ifd, .events = POLLIN};
		if (poll(fds, nfds, (int)timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return EXIT_FAIL;
		}
		for (nfds_t k = 0; k < nfds; k++) {
			if (!(fds[k].revents & POLLIN))
				continue;
			if (fds[k].fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
						stop_signal = (int)si.ssi_signo;
					else if (si.ssi_signo == SIGHUP) {
						log_info(
						    "SIGHUP: reloading and applying every pod");
						if (!a->managed)
							reload_at = now_ms();
						full_now = true;
					} else if (si.ssi_signo == SIGCHLD && reap(a))
						reconcile_now = true;
				}
			} else if (fds[k].fd == efd) {
				uint64_t v;
				mr_state *st;

				if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("eventfd: %s", strerror(errno));
				st = a->remote ? remote_take(a->remote) : NULL;
				if (st) {
					agent_set_desired(a, st, "the server");
					save_cache(a);
					reconcile_now = true;
				}
			} else if (fds[k].fd == ifd) {
				char buf[4096]
				    __attribute__((aligned(__alignof__(struct inotify_event))));
				ssize_t n;

				/* Any change in the directory: editors replace the
				 * file by rename, configuration tools swap symbolic
				 * links; reading and parsing it again is cheap. */
				while ((n = read(ifd, buf, sizeof(buf))) > 0) {
					(void)buf;
					reload_at = now_ms() + 100;
				}
			}
		}
	}
	log_info("stopping on %s: pods and tunnels stay up", strsignal(stop_signal));
	return EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
	struct agent a;
	char *token = NULL, *dirbuf = NULL, who[256];
	int sfd = -1, efd = -1, ifd = -1, rc, exit_code = EXIT_FAIL;
	bool root = geteuid() == 0, userspace = false, kernel = false, clean = true;
	int64_t after = -1;

	memset(&a, 0, sizeof(a));
	a.lock_fd = -1;
	a.generation_applied = -1;
	a.start_time = agent_now_real();
	a.start_mono = agent_now_mono();
	pthread_mutex_init(&a.sh.mu, NULL);
	a.sh.generation_received = -1;
	options_init(&a.opt);
	rc = options_parse(&a.opt, argc, argv, true);
	if (rc) {
		options_free(&a.opt);
		return rc < 0 ? EXIT_OK : rc;
	}
	agent_log_level = a.opt.log_level;
	a.managed = a.opt.desired_file == NULL;
	if (setup_signals(&sfd) < 0) {
		log_error("signals: %s", strerror(errno));
		goto out;
	}

	/* --- as root -------------------------------------------------------- */
	if (root) {
		if (privs_lookup(a.opt.user, &a.uid, &a.gid) < 0)
			goto out;
	} else {
		a.uid = geteuid();
		a.gid = getegid();
	}
	if (a.managed && read_token(a.opt.token_file, &token) < 0)
		goto out;
	/* What can fail for bad options is checked before anything is changed. */
	if (a.opt.listen_metrics && metrics_check_listen(a.opt.listen_metrics) < 0) {
		exit_code = EXIT_USAGE;
		goto out;
	}
	if (!a.managed) {
		dirbuf = strdup(a.opt.desired_file);
		if (!dirbuf)
			goto out;
		ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (ifd < 0 ||
		    inotify_add_watch(ifd, dirname(dirbuf),
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB |
					  IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
			log_error("cannot watch the directory of %s: %s", a.opt.desired_file,
				  strerror(errno));
			goto out;
		}
	}

	if (mr_ctx_new(&a.ctx) < 0 ||
	    mr_ctx_set_log(a.ctx, agent_lib_log, a.opt.log_level, NULL) < 0 ||
	    mr_ctx_set_backend(a.ctx, a.opt.backend) < 0 ||
	    (a.opt.wireguard_go && mr_ctx_set_wireguard_go(a.ctx, a.opt.wireguard_go) < 0)) {
		log_error("%s", mr_error_message());
		goto out;
	}
	if (a.opt.backend != MR_BACKEND_USERSPACE &&
	    mr_ctx_has_kernel_wireguard(a.ctx, &kernel) < 0)
		kernel = false;
	userspace =
	    a.opt.backend == MR_BACKEND_USERSPACE || (a.opt.backend == MR_BACKEND_AUTO && !kernel);
	if (a.opt.backend == MR_BACKEND_KERNEL && !kernel)
		log_warn(
		    "--backend kernel, but the kernel has no WireGuard module: pods will fail");
	if (userspace && root && privs_tun_allowed(a.uid, a.gid) < 0)
		goto out;
	if (sd_prepare(a.opt.state_dir, a.uid, a.gid, root, a.managed ? a.opt.ca : NULL) < 0)
		goto out;
	if (userspace && root &&
	    privs_prepare_userspace_dir(mr_ctx_get_userspace_dir(a.ctx), a.uid, a.gid) < 0)
		goto out;
	/* --- the drop ----------------------------------------------------- */
	if (privs_drop(a.uid, a.gid) < 0)
		goto out;
	privs_describe(who, sizeof(who));
	log_info("%s %s (%s mode, backend %s%s), running as %s", PROG, PACKAGE_VERSION,
		 a.managed ? "managed" : "standalone", backend_name(a.opt.backend),
		 a.opt.backend == MR_BACKEND_AUTO ? (kernel ? ": kernel" : ": wireguard-go") : "",
		 who);
	if (userspace && privs_check_tun() < 0)
		goto out;
	if (sd_open(a.opt.state_dir, &a.lock_fd) < 0 ||
	    sd_records(a.opt.state_dir, &a.records, &a.n_records) < 0)
		goto out;
	if (a.opt.listen_metrics && metrics_start(&a, a.opt.listen_metrics, &a.metrics) < 0)
		goto out;
	if (a.managed) {
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd < 0) {
			log_error("eventfd: %s", strerror(errno));
			goto out;
		}
		after = load_cache(&a);
		if (remote_start(&a, token, efd, after, &a.remote) < 0)
			goto out;
		log_info("following %s (long poll, report every %u s)", a.opt.server,
			 a.opt.report_interval);
	} else {
		log_info("following %s (inotify)", a.opt.desired_file);
	}
	fe_secret_free(token);
	token = NULL;
	agent_render(&a);

	exit_code = run_loop(&a, sfd, efd, ifd);

out:
	fe_secret_free(token);
	metrics_stop(a.metrics);
	if (a.remote && !remote_stop(a.remote, 1000))
		clean = false;
	if (!clean) {
		/* The poller is inside a long poll that cannot be interrupted;
		 * nothing is left to save: leave without tearing down around it. */
		fflush(stderr);
		_exit(exit_code);
	}
	mr_state_free(a.desired);
	agent_free_pods(&a);
	free(a.records);
	mr_ctx_free(a.ctx);
	free(a.sh.metrics_text);
	free(a.sh.health_text);
	pthread_mutex_destroy(&a.sh.mu);
	free(dirbuf);
	if (a.lock_fd >= 0)
		close(a.lock_fd);
	if (sfd >= 0)
		close(sfd);
	if (efd >= 0)
		close(efd);
	if (ifd >= 0)
		close(ifd);
	options_free(&a.opt);
	return exit_code;
}

/* journald sets JOURNAL_STREAM to the device and inode of the stream it
 * gave us; a terminal that merely inherited the variable does not match. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int main(int argc, char **argv)
{
	fe_json_wipe_on_free();
	to_journal = stderr_is_journal();
	if (argc < 2) {
		options_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		options_usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("%s %s (libmyrelay %s)\n", PROG, PACKAGE_VERSION, mr_version());
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	fprintf(stderr, PROG ": unknown command \"%s\"\nTry '" PROG " --help'.\n", argv[1]);
	return EXIT_USAGE;
}
