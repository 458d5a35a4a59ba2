/* SPDX-License-Identifier: MIT */
/*
 * Benchmark driver for pod reconcile (see bench/reconcile/run.sh). It times
 * the library calls themselves, and the reference programs (wg setconf, one
 * `wg set` process per peer) with the same clock, on the same peers read from
 * one generated wg(8) configuration file. Output: tab-separated
 * "name value unit" lines; run.sh takes medians over repeated invocations.
 *
 *   reconcile-driver gen N SEED FILE
 *	write a wg setconf file: a private key, a listen port and N peers, each
 *	with an IPv4 /32 and an IPv6 /128 inside the bench pod's subnets
 *   reconcile-driver [-b kernel|userspace] IFNAME MODE FILE
 *	create the device fresh (userspace: a wireguard-go started by the
 *	library; kernel: a WireGuard link), run MODE on it, check the device
 *	holds exactly the file's peers, delete the device. MODE is one of
 *	  set      mr_wg_set() with the file's configuration
 *	  sync     mr_wg_sync() to it (read, diff, send: what mr_pod_apply does)
 *	  setconf  the process `wg setconf IFNAME FILE`
 *	  perpeer  one `wg set` process for the device fields, then one
 *		   `wg set IFNAME peer KEY allowed-ips A,B` process per peer
 *	  addone   (untimed) mr_wg_set() the file; then time mr_wg_sync() to the
 *		   file plus one peer (with its bytes and messages), a sync with
 *		   nothing to change, and one `wg set` process adding a peer
 *   reconcile-driver [-b kernel|userspace] IFNAME pod FILE
 *	time mr_pod_apply() of a new pod with the file's key, port and peers
 *	(creating the interface: a wireguard-go process, or a kernel link; the
 *	WireGuard configuration; addresses, MTU, up; the firewall), then one
 *	more mr_pod_apply() adding one peer, then mr_pod_teardown() (on the
 *	kernel backend after removing the peers with one replace-peers
 *	message, timed apart as pod_flush: see flush_peers())
 *   reconcile-driver [-b kernel|userspace] IFNAME teardown FILE
 *	mr_pod_apply() the pod (untimed), then time mr_pod_teardown() of the
 *	pod with all its peers
 *
 * RECONCILE_TRACE=1 prints the time of each phase on stderr.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/myrelay.h>

extern char **environ;

/* The bench pod's subnets; peer i gets host i + 2 of each. */
#define POD_V4 "10.128.0.1/9"
#define POD_V6 "fd00:bec::1/64"
#define MAX_N 4000000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time (user, system) of this process, or of its waited-for children. */
static void cpu(int who, double *user, double *sys)
{
	struct rusage ru;

	getrusage(who, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Wall time of a measurement and the CPU time spent in it by this process
 * (ours) or by the programs it ran (the references): on the kernel backend
 * the system time includes the kernel's work on our netlink messages. */
struct meter {
	double t, user, sys, cuser, csys;
};

static void meter_start(struct meter *m)
{
	cpu(RUSAGE_SELF, &m->user, &m->sys);
	cpu(RUSAGE_CHILDREN, &m->cuser, &m->csys);
	m->t = now();
}

static void meter_print(const struct meter *m, const char *name)
{
	double t = now() - m->t, user, sys, cuser, csys;

	cpu(RUSAGE_SELF, &user, &sys);
	cpu(RUSAGE_CHILDREN, &cuser, &csys);
	printf("%s\t%.6f\ts\n", name, t);
	printf("%s_cpu_user\t%.6f\ts\n", name, user - m->user + cuser - m->cuser);
	printf("%s_cpu_sys\t%.6f\ts\n", name, sys - m->sys + csys - m->csys);
}

/* RECONCILE_TRACE=1: the time of each phase on stderr (setup costs too). */
static void trace(const char *phase)
{
	static double t0;
	static int on = -1;

	if (on < 0) {
		on = getenv("RECONCILE_TRACE") != NULL;
		t0 = now();
	}
	if (on)
		fprintf(stderr, "trace %9.3f s %s\n", now() - t0, phase);
}

static void die(const char *what)
{
	fprintf(stderr, "reconcile-driver: %s: %s\n", what, mr_error_message());
	exit(1);
}

static void die_msg(const char *what)
{
	fprintf(stderr, "reconcile-driver: %s\n", what);
	exit(1);
}

/* xorshift64*: deterministic keys from a seed (not secrets: a benchmark). */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void rand_key(mr_key *k)
{
	for (int i = 0; i < 32; i += 8) {
		uint64_t v = rng();

		memcpy(k->bytes + i, &v, 8);
	}
	k->bytes[0] |= 1; /* never all zero */
}

static void peer_ips(unsigned long i, char *v4, size_t n4, char *v6, size_t n6)
{
	unsigned long h = i + 2;

	snprintf(v4, n4, "10.%lu.%lu.%lu/32", 128 + (h >> 16), (h >> 8) & 255, h & 255);
	if (h >> 16)
		snprintf(v6, n6, "fd00:bec::%lx:%lx/128", h >> 16, h & 0xffff);
	else
		snprintf(v6, n6, "fd00:bec::%lx/128", h);
}

static void key_text(char *out, const mr_key *k)
{
	if (mr_key_to_base64(out, MR_KEY_BASE64_SIZE, k) < 0)
		die("key to base64");
}

static int cmd_gen(unsigned long n, unsigned long long seed, const char *path)
{
	char text[MR_KEY_BASE64_SIZE], v4[64], v6[64];
	mr_key k;
	FILE *f = fopen(path, "w");

	if (!f)
		die_msg("cannot write the configuration file");
	rng_state = seed ? seed : 1;
	rand_key(&k);
	k.bytes[0] &= 248; /* a clamped private key, as `wg genkey` makes */
	k.bytes[31] = (k.bytes[31] & 127) | 64;
	key_text(text, &k);
	fprintf(f, "[Interface]\nPrivateKey = %s\nListenPort = 51820\n", text);
	for (unsigned long i = 0; i < n; i++) {
		rand_key(&k);
		key_text(text, &k);
		peer_ips(i, v4, sizeof(v4), v6, sizeof(v6));
		fprintf(f, "\n[Peer]\nPublicKey = %s\nAllowedIPs = %s, %s\n", text, v4, v6);
	}
	if (fclose(f) != 0)
		die_msg("write error");
	return 0;
}

/* The configuration file, parsed (untimed): the device as the library wants
 * it, and the text of each peer for the `wg set` processes. */
struct conf {
	mr_wg_device *dev;
	char private_key[MR_KEY_BASE64_SIZE];
	unsigned port;
	size_t n;
	char (*pub)[MR_KEY_BASE64_SIZE];
	char (*ips)[2 * MR_CIDR_STRLEN + 2];
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static void conf_load(struct conf *c, const char *path)
{
	char line[512];
	size_t cap = 1024;
	mr_wg_peer *peer = NULL;
	mr_key key;
	FILE *f = fopen(path, "r");

	if (!f)
		die_msg("cannot read the configuration file");
	memset(c, 0, sizeof(*c));
	if (mr_wg_device_new(&c->dev) < 0)
		die("device");
	c->pub = malloc(cap * sizeof(*c->pub));
	c->ips = malloc(cap * sizeof(*c->ips));
	if (!c->pub || !c->ips)
		die_msg("out of memory");
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *k, *v;

		if (!strncmp(line, "[Peer]", 6)) {
			peer = NULL;
			continue;
		}
		if (!eq)
			continue;
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (!strcmp(k, "PrivateKey")) {
			snprintf(c->private_key, sizeof(c->private_key), "%s", v);
			if (mr_key_from_base64(&key, c->private_key) < 0 ||
			    mr_wg_device_set_private_key(c->dev, &key) < 0)
				die("PrivateKey");
			mr_key_wipe(&key);
		} else if (!strcmp(k, "ListenPort")) {
			c->port = (unsigned)strtoul(v, NULL, 10);
			if (mr_wg_device_set_listen_port(c->dev, c->port) < 0)
				die("ListenPort");
		} else if (!strcmp(k, "PublicKey")) {
			if (c->n == cap) {
				cap *= 2;
				c->pub = realloc(c->pub, cap * sizeof(*c->pub));
				c->ips = realloc(c->ips, cap * sizeof(*c->ips));
				if (!c->pub || !c->ips)
					die_msg("out of memory");
			}
			snprintf(c->pub[c->n], sizeof(c->pub[0]), "%s", v);
			if (mr_key_public_from_base64(&key, c->pub[c->n]) < 0 ||
			    mr_wg_device_add_peer(c->dev, &key, &peer) < 0)
				die("PublicKey");
			c->ips[c->n][0] = '\0';
			c->n++;
		} else if (!strcmp(k, "AllowedIPs") && peer) {
			char *save = NULL, *ip;
			char *out = c->ips[c->n - 1];

			for (ip = strtok_r(v, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
				mr_prefix p;

				ip = trim(ip);
				if (mr_cidr_parse_network(&p, ip) < 0 ||
				    mr_wg_peer_add_allowed_ip(peer, &p) < 0)
					die("AllowedIPs");
				if (*out)
					strcat(out, ",");
				strcat(out, ip);
			}
		}
	}
	fclose(f);
}

/* The peer after the file's last one, from a stream of its own. */
static void extra_peer(mr_wg_device *dev, unsigned long i, char *pub_out, char *ips_out)
{
	char v4[64], v6[64];
	mr_wg_peer *peer;
	mr_prefix p;
	mr_key k;

	rng_state = 0x9e3779b97f4a7c15ULL + i;
	rand_key(&k);
	peer_ips(i, v4, sizeof(v4), v6, sizeof(v6));
	if (dev) {
		if (mr_wg_device_add_peer(dev, &k, &peer) < 0 ||
		    mr_cidr_parse_network(&p, v4) < 0 || mr_wg_peer_add_allowed_ip(peer, &p) < 0 ||
		    mr_cidr_parse_network(&p, v6) < 0 || mr_wg_peer_add_allowed_ip(peer, &p) < 0)
			die("extra peer");
	}
	if (pub_out)
		key_text(pub_out, &k);
	if (ips_out)
		sprintf(ips_out, "%s,%s", v4, v6);
}

/* Run a program and wait for it; its time is what the caller measures. */
static void spawn(char *const argv[])
{
	pid_t pid;
	int st, rc;

	rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc != 0) {
		fprintf(stderr, "reconcile-driver: cannot run %s: %s\n", argv[0], strerror(rc));
		exit(1);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die_msg("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "reconcile-driver: %s %s failed (status %d)\n", argv[0],
			argv[1] ? argv[1] : "", st);
		exit(1);
	}
}

/* The device must hold exactly the peers wanted, with their allowed IPs. */
static void verify(mr_ctx *ctx, const char *ifname, const mr_wg_device *want)
{
	mr_wg_device *got;
	size_t n = mr_wg_device_peer_count(want);

	if (mr_wg_get(ctx, ifname, &got) < 0)
		die("read back");
	if (mr_wg_device_peer_count(got) != n) {
		fprintf(stderr, "reconcile-driver: device has %zu peers, expected %zu\n",
			mr_wg_device_peer_count(got), n);
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		mr_wg_peer *w = mr_wg_device_peer(want, i), *g;
		mr_key k;

		mr_wg_peer_get_public_key(w, &k);
		g = mr_wg_device_find_peer(got, &k);
		if (!g || mr_wg_peer_allowed_ip_count(g) != mr_wg_peer_allowed_ip_count(w))
			die_msg("a peer is missing or has other allowed IPs on the device");
	}
	if (mr_wg_device_get_listen_port(got) != mr_wg_device_get_listen_port(want))
		die_msg("listen port differs on the device");
	mr_wg_device_free(got);
}

static bool backend_kernel;

static pid_t device_create(mr_ctx *ctx, const char *ifname)
{
	pid_t pid = 0;

	if (backend_kernel) {
		if (mr_link_create_wireguard(ctx, ifname) < 0)
			die("create link");
	} else if (mr_wg_start_userspace(ctx, ifname, &pid) < 0) {
		die("start wireguard-go");
	}
	return pid;
}

/* Remove every peer with one replace-peers message. The kernel deletes a
 * link that still has peers one peer at a time (about 19 s for 1,000 peers
 * under the VM's emulation), but a flushed link at once. */
static void flush_peers(mr_ctx *ctx, const char *ifname)
{
	mr_wg_device *empty;

	if (mr_wg_device_new(&empty) < 0 || mr_wg_device_set_replace_peers(empty, true) < 0 ||
	    mr_wg_set(ctx, ifname, empty) < 0)
		die("flush peers");
	mr_wg_device_free(empty);
}

static void device_delete(mr_ctx *ctx, const char *ifname, pid_t pid)
{
	if (backend_kernel) {
		flush_peers(ctx, ifname);
		if (mr_link_delete(ctx, ifname) < 0)
			die("delete link");
	} else if (mr_wg_stop_userspace(ctx, ifname, pid) < 0) {
		die("stop wireguard-go");
	}
}

static void print_stats(const char *prefix, const mr_wg_sync_stats *s)
{
	printf("%s_messages\t%u\tcount\n", prefix, s->messages);
	printf("%s_bytes\t%llu\tbytes\n", prefix, (unsigned long long)s->bytes_sent);
	printf("%s_added\t%u\tcount\n", prefix, s->added);
	printf("%s_unchanged\t%u\tcount\n", prefix, s->unchanged);
}

static void mode_perpeer(const char *ifname, struct conf *c, const char *keyfile)
{
	char port[16];
	char *dev_argv[] = {
	    "wg", "set", (char *)ifname, "private-key", (char *)keyfile, "listen-port", port, NULL};

	snprintf(port, sizeof(port), "%u", c->port);
	spawn(dev_argv);
	for (size_t i = 0; i < c->n; i++) {
		char *argv[] = {"wg",	   "set",	  (char *)ifname, "peer",
				c->pub[i], "allowed-ips", c->ips[i],	  NULL};

		spawn(argv);
	}
}

static void mode_pod(mr_ctx *ctx, const char *ifname, struct conf *c, bool teardown_only)
{
	mr_pod_spec *spec;
	mr_pod_report rep;
	mr_prefix gw4, gw6, ips[2];
	mr_key key;
	char pub[MR_KEY_BASE64_SIZE], extra[2 * MR_CIDR_STRLEN + 2], *comma;
	struct meter m;
	pid_t pid;
	double t;

	if (mr_pod_spec_new(&spec, ifname) < 0 || mr_wg_device_get_private_key(c->dev, &key) < 0 ||
	    mr_pod_spec_set_private_key(spec, &key) < 0 ||
	    mr_pod_spec_set_listen_port(spec, c->port) < 0 ||
	    mr_cidr_parse_interface(&gw4, POD_V4) < 0 ||
	    mr_cidr_parse_interface(&gw6, POD_V6) < 0 || mr_pod_spec_add_address(spec, &gw4) < 0 ||
	    mr_pod_spec_add_address(spec, &gw6) < 0 || mr_pod_spec_set_uplinks(spec, NULL, 0) < 0)
		die("pod spec");
	mr_key_wipe(&key);
	for (size_t i = 0; i < c->n; i++) {
		mr_wg_peer *p = mr_wg_device_peer(c->dev, i);

		mr_wg_peer_get_public_key(p, &key);
		mr_wg_peer_get_allowed_ip(p, 0, &ips[0]);
		mr_wg_peer_get_allowed_ip(p, 1, &ips[1]);
		if (mr_pod_spec_add_peer(spec, &key, NULL, ips, 2) < 0)
			die("pod peer");
	}
	meter_start(&m);
	if (mr_pod_apply(ctx, spec, &rep) < 0)
		die("pod apply");
	pid = rep.userspace_pid;
	if (teardown_only) {
		/* mr_pod_teardown() of a pod with all its peers, as it is */
		t = now();
		if (mr_pod_teardown(ctx, ifname) < 0)
			die("pod teardown");
		printf("teardown_full\t%.6f\ts\n", now() - t);
		goto out;
	}
	meter_print(&m, "pod_fresh");
	print_stats("pod_fresh", &rep.peers);
	trace("pod applied");
	verify(ctx, ifname, c->dev);
	trace("verified");

	extra_peer(NULL, c->n, pub, extra);
	comma = strchr(extra, ',');
	*comma = '\0';
	if (mr_key_public_from_base64(&key, pub) < 0 || mr_cidr_parse_network(&ips[0], extra) < 0 ||
	    mr_cidr_parse_network(&ips[1], comma + 1) < 0 ||
	    mr_pod_spec_add_peer(spec, &key, NULL, ips, 2) < 0)
		die("pod extra peer");
	t = now();
	if (mr_pod_apply(ctx, spec, &rep) < 0)
		die("pod apply, one more peer");
	printf("pod_addone\t%.6f\ts\n", now() - t);
	print_stats("pod_addone", &rep.peers);
	if (rep.peers.added != 1 || rep.peers.unchanged != c->n)
		die_msg("pod add-one: the report is not +1");

	trace("pod add-one applied");
	if (backend_kernel) {
		t = now();
		flush_peers(ctx, ifname);
		printf("pod_flush\t%.6f\ts\n", now() - t);
	}
	t = now();
	if (mr_pod_teardown(ctx, ifname) < 0)
		die("pod teardown");
	printf("pod_teardown\t%.6f\ts\n", now() - t);
	trace("pod torn down");
out:
	/* the library started wireguard-go as our child: reap it */
	if (pid > 0)
		waitpid(pid, NULL, 0);
	mr_pod_spec_free(spec);
}

static int cmd_device(const char *ifname, const char *mode, const char *path)
{
	struct conf c;
	mr_ctx *ctx;
	mr_wg_sync_stats st;
	struct meter m;
	char keyfile[] = "/tmp/reconcile-key.XXXXXX";
	char pub[MR_KEY_BASE64_SIZE], ips[2 * MR_CIDR_STRLEN + 2];
	pid_t pid;
	double t;
	int fd;

	trace("start");
	conf_load(&c, path);
	trace("configuration file loaded");
	if (mr_ctx_new(&ctx) < 0 ||
	    mr_ctx_set_backend(ctx, backend_kernel ? MR_BACKEND_KERNEL : MR_BACKEND_USERSPACE) < 0)
		die("context");
	printf("peers\t%zu\tcount\n", c.n);
	if (!strcmp(mode, "pod") || !strcmp(mode, "teardown")) {
		mode_pod(ctx, ifname, &c, !strcmp(mode, "teardown"));
		goto done;
	}
	pid = device_create(ctx, ifname);
	trace("device created");
	if (!strcmp(mode, "set")) {
		meter_start(&m);
		if (mr_wg_set(ctx, ifname, c.dev) < 0)
			die("mr_wg_set");
		meter_print(&m, "ours_set");
	} else if (!strcmp(mode, "sync")) {
		meter_start(&m);
		if (mr_wg_sync(ctx, ifname, c.dev, 0, &st) < 0)
			die("mr_wg_sync");
		meter_print(&m, "ours_sync");
		print_stats("ours_sync", &st);
	} else if (!strcmp(mode, "setconf")) {
		char *argv[] = {"wg", "setconf", (char *)ifname, (char *)path, NULL};

		meter_start(&m);
		spawn(argv);
		meter_print(&m, "setconf");
	} else if (!strcmp(mode, "perpeer")) {
		fd = mkstemp(keyfile);
		if (fd < 0 || write(fd, c.private_key, strlen(c.private_key)) < 0 || close(fd) < 0)
			die_msg("key file");
		meter_start(&m);
		mode_perpeer(ifname, &c, keyfile);
		meter_print(&m, "perpeer");
		unlink(keyfile);
	} else if (!strcmp(mode, "addone")) {
		if (mr_wg_set(ctx, ifname, c.dev) < 0)
			die("mr_wg_set");
		extra_peer(c.dev, c.n, NULL, NULL);
		t = now();
		if (mr_wg_sync(ctx, ifname, c.dev, 0, &st) < 0)
			die("mr_wg_sync, one more peer");
		printf("addone_sync\t%.6f\ts\n", now() - t);
		print_stats("addone", &st);
		if (st.added != 1 || st.unchanged != c.n || st.removed || st.updated)
			die_msg("add-one: the sync did more than add one peer");
		verify(ctx, ifname, c.dev);
		t = now();
		if (mr_wg_sync(ctx, ifname, c.dev, 0, &st) < 0)
			die("mr_wg_sync, nothing to do");
		printf("noop_sync\t%.6f\ts\n", now() - t);
		print_stats("noop", &st);
		/* the reference: one `wg set` process adding one more peer */
		extra_peer(c.dev, c.n + 1, pub, ips);
		{
			char *argv[] = {"wg", "set", (char *)ifname, "peer", pub, "allowed-ips",
					ips,  NULL};

			t = now();
			spawn(argv);
			printf("addone_wgset\t%.6f\ts\n", now() - t);
		}
	} else {
		die_msg("unknown mode");
	}
	trace("measured");
	verify(ctx, ifname, c.dev);
	trace("verified");
	device_delete(ctx, ifname, pid);
	trace("device deleted");
done:
	mr_ctx_free(ctx);
	mr_wg_device_free(c.dev);
	free(c.pub);
	free(c.ips);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2 && !strcmp(argv[1], "-b")) {
		if (!strcmp(argv[2], "kernel"))
			backend_kernel = true;
		else if (strcmp(argv[2], "userspace"))
			die_msg("backend: kernel or userspace");
		i = 3;
	}
	if (argc - i == 4 && !strcmp(argv[i], "gen")) {
		unsigned long n = strtoul(argv[i + 1], NULL, 10);

		if (n == 0 || n > MAX_N)
			die_msg("gen: N out of range");
		return cmd_gen(n, strtoull(argv[i + 2], NULL, 10), argv[i + 3]);
	}
	if (argc - i == 3)
		return cmd_device(argv[i], argv[i + 1], argv[i + 2]);
	fprintf(stderr,
		"usage: %s gen N SEED FILE\n"
		"       %s [-b kernel|userspace] IFNAME "
		"set|sync|setconf|perpeer|addone|pod|teardown FILE\n",
		argv[0], argv[0]);
	return 2;
}
