/* SPDX-License-Identifier: MIT */
/*
 * Benchmark driver for the core primitives (see bench/core/run.sh). Each mode
 * prints tab-separated "name value unit" lines; run.sh takes medians over
 * repeated invocations and compares with references measured in the same run.
 */
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
	fprintf(stderr, "core-driver: %s: %s\n", what, mr_error_message());
	exit(1);
}

static volatile int sink;

static void bench_keys(long n)
{
	mr_key priv, pub;
	char text[MR_KEY_BASE64_SIZE];
	double t0;

	if (mr_key_generate_private(&priv) < 0 || mr_key_public_from_private(&pub, &priv) < 0 ||
	    mr_key_to_base64(text, sizeof(text), &pub) < 0)
		die("key setup");
	t0 = now();
	for (long i = 0; i < n; i++)
		sink += mr_key_validate_public(text);
	printf("key_validate\t%.0f\tper_s\n", (double)n / (now() - t0));

	t0 = now();
	for (long i = 0; i < n / 20; i++) {
		priv.bytes[0] = (uint8_t)i;
		if (mr_key_public_from_private(&pub, &priv) < 0)
			die("derive");
	}
	printf("key_derive\t%.0f\tper_s\n", (double)(n / 20) / (now() - t0));
	mr_key_wipe(&priv);
}

/* Fill a subnet completely; report ns per allocation for the first and the
 * last tenth, which must be about equal (no scan from the start). */
static void bench_hosts(const char *subnet_text, const char *label)
{
	mr_prefix subnet, a;
	mr_cidr_hosts *h;
	uint64_t total;
	double t0, first = 0, last = 0, all;
	uint64_t i = 0, tenth;

	if (mr_cidr_parse_network(&subnet, subnet_text) < 0 || mr_cidr_hosts_new(&h, &subnet) < 0 ||
	    mr_cidr_hosts_count_free(h, &total) < 0)
		die("hosts setup");
	tenth = total / 10;
	all = now();
	t0 = all;
	for (i = 0; i < total; i++) {
		if (i == tenth) {
			first = now() - t0;
		} else if (i == total - tenth) {
			t0 = now();
		}
		if (mr_cidr_hosts_alloc(h, &a) < 0)
			die("alloc");
	}
	last = now() - t0;
	all = now() - all;
	if (mr_cidr_hosts_alloc(h, &a) != MR_EEXHAUSTED)
		die("expected exhaustion");
	printf("hosts_%s_count\t%llu\thosts\n", label, (unsigned long long)total);
	printf("hosts_%s_first10\t%.1f\tns_per_alloc\n", label, first * 1e9 / (double)tenth);
	printf("hosts_%s_last10\t%.1f\tns_per_alloc\n", label, last * 1e9 / (double)tenth);
	printf("hosts_%s_all\t%.1f\tns_per_alloc\n", label, all * 1e9 / (double)total);
	mr_cidr_hosts_free(h);
}

/* Subtract the prefixes listed in a file (one per line) from 0.0.0.0/0, and
 * print the result (for run.sh's cross-check) to stdout after the timing. */
static void bench_subtract(const char *path, int repeat, int print)
{
	mr_prefix all, *ex = NULL, *out = NULL;
	size_t n = 0, cap = 0, count = 0;
	char line[128], buf[MR_CIDR_STRLEN];
	double best = 1e9;
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			ex = realloc(ex, cap * sizeof(*ex));
			if (!ex)
				exit(1);
		}
		if (mr_cidr_parse_network(&ex[n++], line) < 0)
			die(line);
	}
	fclose(f);
	mr_cidr_parse_network(&all, "0.0.0.0/0");
	for (int r = 0; r < repeat; r++) {
		double t0 = now(), dt;
		mr_free(out);
		if (mr_cidr_subtract(&out, &count, &all, 1, ex, n) < 0)
			die("subtract");
		dt = now() - t0;
		if (dt < best)
			best = dt;
	}
	printf("subtract_excludes\t%zu\tprefixes\n", n);
	printf("subtract_result\t%zu\tprefixes\n", count);
	printf("subtract_time\t%.6f\ts\n", best);
	if (print)
		for (size_t i = 0; i < count; i++) {
			mr_cidr_format(buf, sizeof(buf), &out[i]);
			printf("= %s\n", buf);
		}
	mr_free(out);
	free(ex);
}

static void bench_tokens(long n)
{
	char tok[MR_TOKEN_SIZE], id[MR_TOKEN_ID_SIZE];
	uint8_t hash[MR_TOKEN_HASH_LEN];
	double t0;

	if (mr_token_generate(tok, sizeof(tok), MR_TOKEN_POD, id, sizeof(id), hash) < 0)
		die("token");
	t0 = now();
	for (long i = 0; i < n; i++)
		if (mr_token_verify(tok, MR_TOKEN_POD, id, hash) != 0)
			die("verify");
	printf("token_verify\t%.0f\tper_s\n", (double)n / (now() - t0));
	/* The parse alone rejects a typo before any lookup: how fast? */
	tok[40] = tok[40] == 'a' ? 'b' : 'a';
	t0 = now();
	for (long i = 0; i < n; i++)
		sink += mr_token_parse(tok, NULL, NULL, 0, NULL);
	printf("token_reject_typo\t%.0f\tper_s\n", (double)n / (now() - t0));
	mr_token_wipe(tok, sizeof(tok));
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "keys"))
		bench_keys(atol(argv[2]));
	else if (argc >= 2 && !strcmp(argv[1], "hosts")) {
		bench_hosts("10.0.0.0/24", "24");
		bench_hosts("10.0.0.0/16", "16");
		bench_hosts("10.0.0.0/8", "8");
	} else if (argc >= 4 && !strcmp(argv[1], "subtract"))
		bench_subtract(argv[2], atoi(argv[3]), argc >= 5);
	else if (argc >= 3 && !strcmp(argv[1], "tokens"))
		bench_tokens(atol(argv[2]));
	else {
		fprintf(stderr, "usage: core-driver keys N | hosts | subtract FILE REPEAT [print] | tokens N\n");
		return 2;
	}
	return 0;
}
