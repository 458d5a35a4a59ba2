/* SPDX-License-Identifier: MIT */
/*
 * conf_tool: drive the conf module from the command line for tests/conf-wg.sh.
 * A consumer of the public API only.
 *
 *   conf_tool render OUT [--private-key K] [--address CIDR]... [--dns IP]...
 *                        [--mtu N] [--public-key K] [--preshared-key K]
 *                        [--endpoint HOST:PORT] [--allowed-ip CIDR]...
 *                        [--keepalive N]
 *       Render to OUT ("-" for stdout). OUT is created (mode 0600, never
 *       overwritten) only once the whole configuration has been accepted.
 *   conf_tool parse FILE
 *       Parse FILE and print the rendered result.
 *
 * Exit codes: 0 ok, 1 failure, 2 refused input or usage. Keys on the command
 * line are visible to other users of the machine: this is a test tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <myrelay/myrelay.h>

static int fail(int rc)
{
	fprintf(stderr, "conf_tool: %s (%s)\n", mr_error_message(), mr_error_name(rc));
	return rc == MR_EINVAL || rc == MR_EEXIST || rc == MR_ETOOBIG ? 2 : 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: conf_tool render OUT [--private-key K] [--address CIDR]... "
			"[--dns IP]... [--mtu N] [--public-key K] [--preshared-key K] "
			"[--endpoint E] [--allowed-ip CIDR]... [--keepalive N]\n"
			"       conf_tool parse FILE\n");
	return 2;
}

static int number(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int write_out(const char *path, const char *text)
{
	size_t len = strlen(text), done = 0;
	int fd;

	if (strcmp(path, "-") == 0) {
		fd = STDOUT_FILENO;
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "conf_tool: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "conf_tool: write: %s\n", strerror(errno));
			break;
		}
		done += (size_t)n;
	}
	if (fd != STDOUT_FILENO && close(fd) < 0 && done == len) {
		fprintf(stderr, "conf_tool: close: %s\n", strerror(errno));
		return 1;
	}
	return done == len ? 0 : 1;
}

static int render_and_write(const mr_conf *conf, const char *path)
{
	char *text = NULL;
	int rc = mr_conf_render(conf, &text);

	if (rc < 0)
		return fail(rc);
	rc = write_out(path, text);
	mr_conf_free_text(text);
	return rc;
}

static int cmd_render(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"private-key", required_argument, NULL, 'k'},
	    {"address", required_argument, NULL, 'a'},
	    {"dns", required_argument, NULL, 'd'},
	    {"mtu", required_argument, NULL, 'm'},
	    {"public-key", required_argument, NULL, 'p'},
	    {"preshared-key", required_argument, NULL, 's'},
	    {"endpoint", required_argument, NULL, 'e'},
	    {"allowed-ip", required_argument, NULL, 'i'},
	    {"keepalive", required_argument, NULL, 'K'},
	    {NULL, 0, NULL, 0},
	};
	mr_conf *conf = NULL;
	const char *out;
	uint32_t n;
	int opt, rc, status = 2;

	if (argc < 3)
		return usage();
	out = argv[2];
	rc = mr_conf_new(&conf);
	if (rc < 0)
		return fail(rc);
	optind = 3;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			rc = mr_conf_set_private_key(conf, optarg);
			break;
		case 'a':
			rc = mr_conf_add_address(conf, optarg);
			break;
		case 'd':
			rc = mr_conf_add_dns(conf, optarg);
			break;
		case 'p':
			rc = mr_conf_set_peer_public_key(conf, optarg);
			break;
		case 's':
			rc = mr_conf_set_preshared_key(conf, optarg);
			break;
		case 'e':
			rc = mr_conf_set_endpoint(conf, optarg);
			break;
		case 'i':
			rc = mr_conf_add_allowed_ip(conf, optarg);
			break;
		case 'm':
		case 'K':
			if (number(optarg, &n) < 0) {
				fprintf(stderr, "conf_tool: --%s: not a number\n",
					opt == 'm' ? "mtu" : "keepalive");
				goto out;
			}
			rc = opt == 'm' ? mr_conf_set_mtu(conf, n) : mr_conf_set_keepalive(conf, n);
			break;
		default:
			usage();
			goto out;
		}
		if (rc < 0) {
			status = fail(rc);
			goto out;
		}
	}
	if (optind != argc) {
		usage();
		goto out;
	}
	status = render_and_write(conf, out);
out:
	mr_conf_free(conf);
	return status;
}

static int cmd_parse(int argc, char **argv)
{
	char *buf;
	size_t len;
	mr_conf *conf = NULL;
	FILE *f;
	int rc, status;

	if (argc != 3)
		return usage();
	f = fopen(argv[2], "re");
	if (!f) {
		fprintf(stderr, "conf_tool: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	/* One byte more than the library takes, so that it sees the size. */
	buf = calloc(1, MR_CONF_MAX_TEXT + 2);
	if (!buf) {
		fclose(f);
		return 1;
	}
	len = fread(buf, 1, MR_CONF_MAX_TEXT + 1, f);
	fclose(f);
	buf[len] = '\0';
	rc = mr_conf_parse(&conf, buf);
	explicit_bzero(buf, len);
	free(buf);
	if (rc < 0)
		return fail(rc);
	status = render_and_write(conf, "-");
	mr_conf_free(conf);
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "render") == 0)
		return cmd_render(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "parse") == 0)
		return cmd_parse(argc, argv);
	return usage();
}
