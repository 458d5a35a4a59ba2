/* SPDX-License-Identifier: MIT */
/*
 * Database filler and key generator for bench/api (see bench/api/run.sh).
 *
 *   fill keys N
 *	print N distinct WireGuard public keys (X25519, derived by libmyrelay
 *	from random private keys), one a line: the bodies of wrk's peer adds.
 *
 *   fill db PATH NODES CUSTOMERS PEERS BENCH_PODS GET_PEERS TOKENS_FILE
 *	in the store at PATH (made by `myrelay-server init`): register NODES
 *	nodes (default pools: a /16 each, /24 pods), create CUSTOMERS
 *	customers with a pod on every node (NODES * CUSTOMERS pods) and add
 *	PEERS peers to every pod with mr_store_peer_add(), the same operation
 *	the API calls, one transaction each. Then register a "bench" node
 *	(pool 172.16.0.0/12, ports 40000-49999) with BENCH_PODS empty pods for
 *	the API's peer adds, the first of which gets GET_PEERS peers (the pod
 *	the GET benchmark lists), and write their pod tokens to TOKENS_FILE,
 *	one a line, in that order.
 *
 * Output: tab-separated "name value" lines on standard output, progress on
 * standard error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <myrelay/myrelay.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "fill: %s: %s\n", what, mr_error_message());
	exit(1);
}

/* The string member `member` of the object `object` in a compact JSON
 * result of the store ("{\"pod\":{\"id\":\"pd_...\"...}"): enough for the
 * ids and secrets this program needs, which never contain quotes. */
static void json_member(char *out, size_t size, const char *json, const char *object,
			const char *member)
{
	char pat[64];
	const char *p = json, *end;

	if (object) {
		snprintf(pat, sizeof(pat), "\"%s\":{", object);
		p = strstr(json, pat);
		if (!p)
			goto fail;
	}
	snprintf(pat, sizeof(pat), "\"%s\":\"", member);
	p = strstr(p, pat);
	if (!p)
		goto fail;
	p += strlen(pat);
	end = strchr(p, '"');
	if (!end || (size_t)(end - p) >= size)
		goto fail;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return;
fail:
	fprintf(stderr, "fill: no %s.%s in %s\n", object ? object : "", member, json);
	exit(1);
}

static void new_public_key(char text[MR_KEY_BASE64_SIZE])
{
	mr_key priv, pub;

	if (mr_key_generate_private(&priv) < 0 || mr_key_public_from_private(&pub, &priv) < 0 ||
	    mr_key_to_base64(text, MR_KEY_BASE64_SIZE, &pub) < 0)
		die("key");
	mr_key_wipe(&priv);
}

static int cmd_keys(long n)
{
	char text[MR_KEY_BASE64_SIZE];

	for (long i = 0; i < n; i++) {
		new_public_key(text);
		puts(text);
	}
	return 0;
}

static void call(int (*op)(mr_store *, const char *, char **), mr_store *s, const char *req,
		 char **out, const char *what)
{
	if (op(s, req, out) < 0) {
		fprintf(stderr, "fill: %s %s: %s\n", what, req, mr_error_message());
		exit(1);
	}
}

/* Keys for the next pod are derived in a second thread while the main
 * thread adds the current pod's peers: X25519 is a fifth of the cost of a
 * peer add, and the machine has two cores. */
struct keybatch {
	long n;
	char (*keys)[MR_KEY_BASE64_SIZE];
};

static void *gen_batch(void *arg)
{
	struct keybatch *b = arg;

	for (long i = 0; i < b->n; i++)
		new_public_key(b->keys[i]);
	return NULL;
}

/* Time spent in, and number of, adds to a pod's first and last tenth of
 * addresses: the store allocates an address by reading every peer of the
 * pod, so the cost of an add depends on how full the pod is. */
static double pos_time[2];
static long pos_count[2];

static void add_peers(mr_store *s, const char *pod, const struct keybatch *b, long *done)
{
	char req[256], *out;

	for (long i = 0; i < b->n; i++) {
		double t = now();
		int pos = i < b->n / 10 ? 0 : i >= b->n - b->n / 10 ? 1 : -1;

		snprintf(req, sizeof(req),
			 "{\"pod\":\"%s\",\"name\":\"dev-%ld\",\"public_key\":\"%s\"}", pod, i,
			 b->keys[i]);
		call(mr_store_peer_add, s, req, &out, "peer add");
		mr_free(out);
		if (pos >= 0) {
			pos_time[pos] += now() - t;
			pos_count[pos]++;
		}
		(*done)++;
	}
}

static int cmd_db(const char *path, long nodes, long customers, long peers, long bench_pods,
		  long get_peers, const char *tokens_path)
{
	char req[256], id[64], secret[128], *out;
	char (*cust)[64];
	mr_store *s;
	FILE *tf;
	long done = 0, total = nodes * customers * peers, next_mark, pods = 0;
	double t0, t_mark, t_first = 0, t_last = 0, t_peers, t_start;
	long done_mark = 0, n_first = 0, n_last = 0;
	int tenth = 0;
	struct keybatch cur, next, swap;
	pthread_t th;
	long cap;

	if (mr_store_open(&s, path, 0) < 0)
		die("open");
	tf = fopen(tokens_path, "w");
	if (!tf) {
		perror(tokens_path);
		return 1;
	}
	cust = calloc((size_t)customers + (size_t)bench_pods, sizeof(*cust));
	if (!cust)
		return 1;
	t_start = now();
	for (long c = 0; c < customers + bench_pods; c++) {
		snprintf(req, sizeof(req), "{\"name\":\"%s-%ld\"}", c < customers ? "cust" : "benchcust",
			 c);
		call(mr_store_customer_create, s, req, &out, "customer create");
		json_member(cust[c], sizeof(cust[c]), out, "customer", "id");
		mr_free(out);
	}

	cap = peers > get_peers ? peers : get_peers;
	cur.keys = calloc((size_t)cap + 1, sizeof(*cur.keys));
	next.keys = calloc((size_t)cap + 1, sizeof(*next.keys));
	if (!cur.keys || !next.keys)
		return 1;
	cur.n = next.n = peers;
	gen_batch(&cur);
	t0 = t_mark = now();
	next_mark = total / 10;
	for (long n = 0; n < nodes; n++) {
		char node[64];

		snprintf(req, sizeof(req),
			 "{\"name\":\"fill-%ld\",\"region\":\"bench\",\"endpoint\":\"192.0.2.%ld\"}",
			 n, n % 250 + 1);
		call(mr_store_node_register, s, req, &out, "node register");
		json_member(node, sizeof(node), out, "node", "id");
		mr_free(out);
		for (long c = 0; c < customers; c++) {
			snprintf(req, sizeof(req), "{\"customer\":\"%s\",\"node\":\"%s\"}", cust[c],
				 node);
			call(mr_store_pod_create, s, req, &out, "pod create");
			json_member(id, sizeof(id), out, "pod", "id");
			mr_free(out);
			pods++;
			if (pthread_create(&th, NULL, gen_batch, &next) != 0)
				return 1;
			add_peers(s, id, &cur, &done);
			pthread_join(th, NULL);
			swap = cur;
			cur = next;
			next = swap;
			while (total >= 10 && done >= next_mark && tenth < 10) {
				double t = now();

				tenth++;
				fprintf(stderr, "fill: %ld peers (%d/10) in %.1f s\n", done, tenth, t - t0);
				if (tenth == 1) {
					t_first = t - t_mark;
					n_first = done - done_mark;
				}
				if (tenth == 10) {
					t_last = t - t_mark;
					n_last = done - done_mark;
				}
				t_mark = t;
				done_mark = done;
				next_mark += total / 10;
			}
		}
	}
	t_peers = now() - t0;

	snprintf(req, sizeof(req),
		 "{\"name\":\"bench\",\"region\":\"bench\",\"endpoint\":\"192.0.2.254\","
		 "\"ipv4_pool\":\"172.16.0.0/12\",\"port_min\":40000,\"port_max\":49999}");
	call(mr_store_node_register, s, req, &out, "bench node register");
	{
		char node[64];

		json_member(node, sizeof(node), out, "node", "id");
		mr_free(out);
		for (long b = 0; b < bench_pods; b++) {
			snprintf(req, sizeof(req), "{\"customer\":\"%s\",\"node\":\"%s\"}",
				 cust[customers + b], node);
			call(mr_store_pod_create, s, req, &out, "bench pod create");
			json_member(id, sizeof(id), out, "pod", "id");
			json_member(secret, sizeof(secret), out, NULL, "secret");
			mr_free(out);
			fprintf(tf, "%s\n", secret);
			if (b == 0) {
				long dummy = 0;

				cur.n = get_peers;
				gen_batch(&cur);
				add_peers(s, id, &cur, &dummy);
			}
		}
	}
	explicit_bzero(secret, sizeof(secret));
	if (fclose(tf) != 0) {
		perror(tokens_path);
		return 1;
	}
	mr_store_close(s);
	printf("fill_peers\t%ld\n", done);
	printf("fill_pods\t%ld\n", pods);
	printf("fill_seconds\t%.2f\n", t_peers);
	printf("fill_total_seconds\t%.2f\n", now() - t_start);
	printf("fill_per_s\t%.0f\n", t_peers > 0 ? (double)done / t_peers : 0);
	if (pos_count[0] && pos_count[1]) {
		printf("fill_add_us_pod_first_tenth\t%.1f\n", 1e6 * pos_time[0] / (double)pos_count[0]);
		printf("fill_add_us_pod_last_tenth\t%.1f\n", 1e6 * pos_time[1] / (double)pos_count[1]);
	}
	if (total >= 10) {
		printf("fill_first_tenth_per_s\t%.0f\n", (double)n_first / t_first);
		printf("fill_last_tenth_per_s\t%.0f\n", (double)n_last / t_last);
	}
	free(cust);
	free(cur.keys);
	free(next.keys);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "keys") == 0)
		return cmd_keys(atol(argv[2]));
	if (argc == 9 && strcmp(argv[1], "db") == 0)
		return cmd_db(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), atol(argv[6]),
			      atol(argv[7]), argv[8]);
	fprintf(stderr, "usage: fill keys N\n"
			"       fill db PATH NODES CUSTOMERS PEERS BENCH_PODS GET_PEERS TOKENS_FILE\n");
	return 2;
}
