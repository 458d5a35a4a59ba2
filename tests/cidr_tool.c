/* SPDX-License-Identifier: MIT */
/*
 * Helper of tests/cidr-diff.sh: drives the cidr module from stdin so that
 * one process answers for tens of thousands of cases. One command per line,
 * one answer line per command:
 *
 *   parse MODE HEX         MODE: network | interface | address | any; HEX is
 *                          the input text hex-encoded (so that spaces, tabs
 *                          and odd bytes travel intact)
 *                          -> "ok PREFIX ADDRESS" or "err CODE DETAIL"
 *   contains A B           -> "true" | "false"   (A, B parsed with mr_cidr_parse)
 *   overlaps A B           -> "true" | "false"
 *   network P              -> "ok PREFIX"        (P parsed as an interface)
 *   subtract I... | E...   -> "ok P..." (possibly none) or "err CODE DETAIL"
 *   pool P LEN N           -> "ok S1 S2 ..." the first N allocations, or
 *                             fewer then "exhausted"
 *   hosts P N              -> "ok GATEWAY H1 H2 ..." likewise
 *
 * Malformed commands print "bad" and make the exit status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/cidr.h>
#include <myrelay/error.h>

static int status;

static void print_err(int rc)
{
	printf("err %d %s\n", rc, mr_error_message());
}

static int unhex(char *s)
{
	size_t n = strlen(s), j = 0;

	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		unsigned int v;
		if (sscanf(s + i, "%2x", &v) != 1)
			return -1;
		s[j++] = (char)v;
	}
	s[j] = '\0';
	/* A NUL inside would cut the text: the generator never sends one. */
	return strlen(s) == j ? 0 : -1;
}

static void cmd_parse(char *args)
{
	char *mode = strtok(args, " ");
	char *hex = strtok(NULL, " ");
	char buf[MR_CIDR_STRLEN], abuf[MR_CIDR_STRLEN], empty[1] = "";
	mr_prefix p;
	int rc;

	if (!hex)
		hex = empty; /* the empty input text */
	if (!mode || unhex(hex) < 0) {
		puts("bad");
		status = 1;
		return;
	}
	if (!strcmp(mode, "network"))
		rc = mr_cidr_parse_network(&p, hex);
	else if (!strcmp(mode, "interface"))
		rc = mr_cidr_parse_interface(&p, hex);
	else if (!strcmp(mode, "address"))
		rc = mr_cidr_parse_address(&p, hex);
	else if (!strcmp(mode, "any"))
		rc = mr_cidr_parse(&p, hex);
	else {
		puts("bad");
		status = 1;
		return;
	}
	if (rc < 0) {
		print_err(rc);
		return;
	}
	if (mr_cidr_format(buf, sizeof(buf), &p) < 0 ||
	    mr_cidr_format_address(abuf, sizeof(abuf), &p) < 0) {
		print_err(-1);
		status = 1;
		return;
	}
	printf("ok %s %s\n", buf, abuf);
}

static int parse_two(char *args, mr_prefix *a, mr_prefix *b)
{
	char *x = strtok(args, " ");
	char *y = strtok(NULL, " ");

	if (!x || !y || mr_cidr_parse(a, x) < 0 || mr_cidr_parse(b, y) < 0) {
		puts("bad");
		status = 1;
		return -1;
	}
	return 0;
}

static void cmd_subtract(char *args)
{
	mr_prefix *inc = NULL, *exc = NULL, *res = NULL;
	size_t ni = 0, ne = 0, nr = 0;
	int side = 0, rc;
	char buf[MR_CIDR_STRLEN];
	size_t cap = strlen(args) / 2 + 2;

	inc = calloc(cap, sizeof(*inc));
	exc = calloc(cap, sizeof(*exc));
	if (!inc || !exc)
		goto bad;
	for (char *t = strtok(args, " "); t; t = strtok(NULL, " ")) {
		if (!strcmp(t, "|")) {
			side = 1;
			continue;
		}
		if (mr_cidr_parse(side ? &exc[ne++] : &inc[ni++], t) < 0)
			goto bad;
	}
	rc = mr_cidr_subtract(&res, &nr, inc, ni, exc, ne);
	if (rc < 0) {
		print_err(rc);
		goto out;
	}
	fputs("ok", stdout);
	for (size_t i = 0; i < nr; i++) {
		if (mr_cidr_format(buf, sizeof(buf), &res[i]) < 0)
			goto bad;
		printf(" %s", buf);
	}
	putchar('\n');
	goto out;
bad:
	puts("bad");
	status = 1;
out:
	mr_free(res);
	free(exc);
	free(inc);
}

static void cmd_pool(char *args)
{
	char *ptext = strtok(args, " "), *ltext = strtok(NULL, " "), *ntext = strtok(NULL, " ");
	mr_cidr_pool *pool = NULL;
	mr_prefix p, s;
	char buf[MR_CIDR_STRLEN];
	long n;
	int rc;

	if (!ptext || !ltext || !ntext || mr_cidr_parse_network(&p, ptext) < 0) {
		puts("bad");
		status = 1;
		return;
	}
	rc = mr_cidr_pool_new(&pool, &p, (unsigned int)atoi(ltext));
	if (rc < 0) {
		print_err(rc);
		return;
	}
	fputs("ok", stdout);
	n = atol(ntext);
	for (long i = 0; i < n; i++) {
		rc = mr_cidr_pool_alloc(pool, &s);
		if (rc == MR_EEXHAUSTED) {
			fputs(" exhausted", stdout);
			break;
		}
		if (rc < 0 || mr_cidr_format(buf, sizeof(buf), &s) < 0) {
			fputs(" failed", stdout);
			status = 1;
			break;
		}
		printf(" %s", buf);
	}
	putchar('\n');
	mr_cidr_pool_free(pool);
}

static void cmd_hosts(char *args)
{
	char *ptext = strtok(args, " "), *ntext = strtok(NULL, " ");
	mr_cidr_hosts *hosts = NULL;
	mr_prefix p, s;
	char buf[MR_CIDR_STRLEN];
	long n;
	int rc;

	if (!ptext || !ntext || mr_cidr_parse_network(&p, ptext) < 0) {
		puts("bad");
		status = 1;
		return;
	}
	rc = mr_cidr_hosts_new(&hosts, &p);
	if (rc < 0) {
		print_err(rc);
		return;
	}
	if (mr_cidr_hosts_gateway(hosts, &s) < 0 || mr_cidr_format(buf, sizeof(buf), &s) < 0) {
		puts("bad");
		status = 1;
		mr_cidr_hosts_free(hosts);
		return;
	}
	printf("ok %s", buf);
	n = atol(ntext);
	for (long i = 0; i < n; i++) {
		rc = mr_cidr_hosts_alloc(hosts, &s);
		if (rc == MR_EEXHAUSTED) {
			fputs(" exhausted", stdout);
			break;
		}
		if (rc < 0 || mr_cidr_format_address(buf, sizeof(buf), &s) < 0) {
			fputs(" failed", stdout);
			status = 1;
			break;
		}
		printf(" %s", buf);
	}
	putchar('\n');
	mr_cidr_hosts_free(hosts);
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		char *cmd, *args;
		mr_prefix a, b;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		cmd = line;
		args = strchr(line, ' ');
		if (args)
			*args++ = '\0';
		else
			args = line + n;
		if (!strcmp(cmd, "parse")) {
			cmd_parse(args);
		} else if (!strcmp(cmd, "contains")) {
			if (parse_two(args, &a, &b) == 0)
				puts(mr_cidr_contains(&a, &b) ? "true" : "false");
		} else if (!strcmp(cmd, "overlaps")) {
			if (parse_two(args, &a, &b) == 0)
				puts(mr_cidr_overlaps(&a, &b) ? "true" : "false");
		} else if (!strcmp(cmd, "network")) {
			char buf[MR_CIDR_STRLEN];
			if (mr_cidr_parse_interface(&a, args) < 0 || mr_cidr_network(&a, &a) < 0 ||
			    mr_cidr_format(buf, sizeof(buf), &a) < 0) {
				puts("bad");
				status = 1;
			} else {
				printf("ok %s\n", buf);
			}
		} else if (!strcmp(cmd, "subtract")) {
			cmd_subtract(args);
		} else if (!strcmp(cmd, "pool")) {
			cmd_pool(args);
		} else if (!strcmp(cmd, "hosts")) {
			cmd_hosts(args);
		} else {
			puts("bad");
			status = 1;
		}
	}
	free(line);
	return status;
}
