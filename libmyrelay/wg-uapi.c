/* SPDX-License-Identifier: MIT */
/*
 * The userspace backend of the wg module: the text protocol of the control
 * socket that wireguard-go (and other cross-platform implementations) serve
 * at <dir>/<ifname>.sock, and starting and stopping wireguard-go itself.
 *
 * Protocol: "set=1\n" followed by key=value lines and a blank line, answered
 * by "errno=N\n\n"; "get=1\n\n" answered by key=value lines, "errno=N" and a
 * blank line. Keys are lowercase hex there, not base64.
 */
#include "wg-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/name.h>

extern char **environ;

/* wireguard-go answers a set only after applying all of it: give large
 * configurations time. */
#define UAPI_TIMEOUT_S 120
#define UAPI_LINE_MAX 4096
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000

int mr__wg_uapi_path(const mr_ctx *ctx, const char *ifname, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s.sock", ctx->userspace_dir, ifname);

	if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return mr__error_set(MR_EINVAL, "%s: userspace socket path too long", ifname);
	return 0;
}

/* --- hex, without branches or table lookups on key bytes --- */

static void hex_encode(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int hi = in[i] >> 4, lo = in[i] & 0xf;

		/* 87 + c is 'a' + c - 10; for c < 10 the mask adds -39. */
		out[2 * i] = (char)(87U + hi + (((hi - 10U) >> 8) & ~38U));
		out[2 * i + 1] = (char)(87U + lo + (((lo - 10U) >> 8) & ~38U));
	}
}

/* 0 when text is exactly 64 hex digits (either case), decoded into out. */
static int hex_decode_key(mr_key *out, const char *text, size_t len)
{
	unsigned int bad = 0;
	mr_key k;

	if (len != 2 * MR_KEY_LEN)
		return -1;
	for (size_t i = 0; i < 2 * MR_KEY_LEN; i++) {
		unsigned int c = (unsigned char)text[i];
		unsigned int num = c ^ 48U;
		unsigned int num_ok = (num - 10U) >> 8 & 0xff;
		unsigned int alpha = (c & ~32U) - 55U;
		unsigned int alpha_ok = ((alpha - 10U) ^ (alpha - 16U)) >> 8 & 0xff;
		unsigned int v = (num_ok & num) | (alpha_ok & alpha);

		bad |= ~(num_ok | alpha_ok) & 0xff;
		if (i & 1)
			k.bytes[i / 2] = (uint8_t)(k.bytes[i / 2] | (v & 0xf));
		else
			k.bytes[i / 2] = (uint8_t)((v & 0xf) << 4);
	}
	if (bad) {
		mr__wipe(&k, sizeof(k));
		return -1;
	}
	*out = k;
	mr__wipe(&k, sizeof(k));
	return 0;
}

/* --- rendering a set request --- */

struct tbuf {
	char *p;
	size_t len;
	size_t cap;
	int err;
};

static void tb_reserve(struct tbuf *t, size_t n)
{
	size_t cap;
	char *p;

	if (t->err || t->len + n <= t->cap)
		return;
	cap = t->cap ? t->cap : 4096;
	while (cap < t->len + n)
		cap *= 2;
	/* Not realloc: the old block may hold key material to wipe. */
	p = malloc(cap);
	if (!p) {
		t->err = MR_ENOMEM;
		return;
	}
	if (t->p) {
		memcpy(p, t->p, t->len);
		mr__wipe(t->p, t->len);
		free(t->p);
	}
	t->p = p;
	t->cap = cap;
}

static void tb_add(struct tbuf *t, const char *s, size_t n)
{
	tb_reserve(t, n + 1);
	if (t->err)
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void tb_str(struct tbuf *t, const char *s)
{
	tb_add(t, s, strlen(s));
}

static void tb_printf(struct tbuf *t, const char *fmt, ...) MR_PRINTF(2, 3);
static void tb_printf(struct tbuf *t, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		t->err = MR_EINVAL;
		return;
	}
	tb_add(t, line, (size_t)n);
}

static size_t put_u32(char *out, uint32_t v)
{
	char tmp[10];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* "name=<decimal>\n" without printf: this runs once or twice per peer. */
static void tb_u32(struct tbuf *t, const char *name, uint32_t v)
{
	char line[64];
	size_t n = strlen(name);

	memcpy(line, name, n);
	line[n++] = '=';
	n += put_u32(line + n, v);
	line[n++] = '\n';
	tb_add(t, line, n);
}

/* "allowed_ip=<prefix>\n". IPv6 goes through inet_ntop (RFC 5952 but for
 * IPv4-mapped addresses, which it prints dotted: wireguard-go parses both);
 * mr_cidr_format would be slower and this runs for every allowed IP. */
static void tb_aip(struct tbuf *t, const mr_prefix *p)
{
	char line[16 + INET6_ADDRSTRLEN + 8];
	size_t n = sizeof("allowed_ip=") - 1;

	memcpy(line, "allowed_ip=", n);
	if (p->family == MR_CIDR_INET) {
		for (int i = 0; i < 4; i++) {
			n += put_u32(line + n, p->addr[i]);
			line[n++] = i < 3 ? '.' : '/';
		}
	} else {
		if (!inet_ntop(AF_INET6, p->addr, line + n, INET6_ADDRSTRLEN)) {
			t->err = MR_EINVAL;
			return;
		}
		n += strlen(line + n);
		line[n++] = '/';
	}
	n += put_u32(line + n, p->len);
	line[n++] = '\n';
	tb_add(t, line, n);
}

static void tb_key(struct tbuf *t, const char *name, const mr_key *key)
{
	char line[32 + 2 * MR_KEY_LEN + 2];
	size_t n = strlen(name);

	memcpy(line, name, n);
	line[n++] = '=';
	hex_encode(line + n, key->bytes, MR_KEY_LEN);
	n += 2 * MR_KEY_LEN;
	line[n++] = '\n';
	tb_add(t, line, n);
	mr__wipe(line, sizeof(line));
}

void mr__wg_uapi_text_free(char *text, size_t len)
{
	mr__wipe(text, len);
	free(text);
}

int mr__wg_uapi_render_set(const mr_wg_device *dev, char **out, size_t *len)
{
	static const mr_key zero;
	struct tbuf t = {0};

	tb_str(&t, "set=1\n");
	if (dev->fields & MR__WG_D_PRIVATE_KEY)
		tb_key(&t, "private_key",
		       (dev->fields & MR__WG_D_HAS_KEY) ? &dev->private_key : &zero);
	if (dev->fields & MR__WG_D_LISTEN_PORT)
		tb_u32(&t, "listen_port", dev->listen_port);
	if (dev->fields & MR__WG_D_FWMARK)
		tb_u32(&t, "fwmark", dev->fwmark);
	if (dev->fields & MR__WG_D_REPLACE_PEERS)
		tb_str(&t, "replace_peers=true\n");
	for (size_t i = 0; i < dev->n_peers && !t.err; i++) {
		const mr_wg_peer *p = dev->peers[i];

		tb_key(&t, "public_key", &p->public_key);
		/* update_only must come first: it undoes the creation that the
		 * public_key line itself causes. */
		if (p->fields & MR__WG_P_UPDATE_ONLY)
			tb_str(&t, "update_only=true\n");
		if (p->fields & MR__WG_P_REMOVE) {
			tb_str(&t, "remove=true\n");
			continue;
		}
		if (p->fields & MR__WG_P_PRESHARED_KEY)
			tb_key(&t, "preshared_key", &p->preshared_key);
		if (p->fields & MR__WG_P_ENDPOINT) {
			char ep[MR_WG_ENDPOINT_STRLEN];

			if (mr__wg_endpoint_format(ep, sizeof(ep), &p->endpoint) < 0) {
				t.err = MR_EINVAL;
				break;
			}
			tb_printf(&t, "endpoint=%s\n", ep);
		}
		if (p->fields & MR__WG_P_KEEPALIVE)
			tb_u32(&t, "persistent_keepalive_interval", p->keepalive);
		if (p->fields & MR__WG_P_REPLACE_AIPS)
			tb_str(&t, "replace_allowed_ips=true\n");
		for (uint32_t j = 0; j < p->n_aips; j++)
			tb_aip(&t, &p->aips[j]);
	}
	tb_str(&t, "\n");
	if (t.err) {
		mr__wg_uapi_text_free(t.p, t.len);
		return mr__error_set(t.err, "WireGuard userspace request: %s",
				     t.err == MR_ENOMEM ? "out of memory" : "cannot render");
	}
	*out = t.p;
	*len = t.len;
	return 0;
}

/* --- parsing a get answer --- */

struct get_state {
	mr_wg_device *dev;
	mr_wg_peer *peer;
	bool have_errno;
	bool done;
	int err;
};

static bool dec(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static int bad_line(const char *key)
{
	return mr__error_set(MR_EIO, "WireGuard userspace answer: malformed \"%s\" line", key);
}

/* wireguard-go names an IPv6 zone ("[fe80::1%eth0]:51820"); we keep zones as
 * interface indexes. */
static int parse_endpoint_answer(union mr__wg_endpoint *ep, const char *value)
{
	char buf[MR_WG_ENDPOINT_STRLEN + IF_NAMESIZE], zone[IF_NAMESIZE];
	const char *pct, *close;
	unsigned int idx;
	size_t zlen;

	if (mr__wg_endpoint_parse(ep, value, "endpoint") == 0)
		return 0;
	pct = strchr(value, '%');
	close = pct ? strchr(pct, ']') : NULL;
	if (!close || (zlen = (size_t)(close - pct - 1)) == 0 || zlen >= sizeof(zone))
		return -1;
	memcpy(zone, pct + 1, zlen);
	zone[zlen] = '\0';
	idx = if_nametoindex(zone);
	if (idx)
		snprintf(buf, sizeof(buf), "%.*s%%%u%s", (int)(pct - value), value, idx, close);
	else
		snprintf(buf, sizeof(buf), "%.*s%s", (int)(pct - value), value, close);
	return mr__wg_endpoint_parse(ep, buf, "endpoint") == 0 ? 0 : -1;
}

static int get_line(struct get_state *st, char *line)
{
	char *value = strchr(line, '=');
	const char *key = line;
	mr_wg_device *dev = st->dev;
	mr_wg_peer *peer = st->peer;
	uint64_t v;
	mr_key k;
	int rc;

	if (st->have_errno)
		return bad_line("errno");
	if (!value)
		return mr__error_set(MR_EIO, "WireGuard userspace answer: a line without '='");
	*value++ = '\0';
	if (strcmp(key, "errno") == 0) {
		int64_t e;
		char *end;

		errno = 0;
		e = strtoll(value, &end, 10);
		if (errno || end == value || *end || e < -4095 || e > 4095)
			return bad_line(key);
		st->err = (int)e;
		st->have_errno = true;
		return 0;
	}
	if (strcmp(key, "private_key") == 0) {
		if (hex_decode_key(&k, value, strlen(value)) < 0)
			return bad_line(key);
		dev->private_key = k;
		mr__wipe(&k, sizeof(k));
		dev->fields |= MR__WG_D_PRIVATE_KEY;
		if (!mr_key_is_zero(&dev->private_key)) {
			dev->fields |= MR__WG_D_HAS_KEY;
			return mr_key_public_from_private(&dev->public_key, &dev->private_key);
		}
		return 0;
	}
	if (strcmp(key, "listen_port") == 0) {
		if (!dec(value, MR_WG_PORT_MAX, &v))
			return bad_line(key);
		dev->listen_port = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "fwmark") == 0) {
		if (!dec(value, UINT32_MAX, &v))
			return bad_line(key);
		dev->fwmark = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "public_key") == 0) {
		if (hex_decode_key(&k, value, strlen(value)) < 0 || mr_key_is_zero(&k))
			return bad_line(key);
		rc = mr__wg_device_add_peer(dev, &k, &st->peer);
		if (rc == MR_EEXIST)
			return mr__error_set(MR_EIO, "WireGuard userspace answer: a peer appears "
						     "twice");
		if (rc < 0)
			return rc;
		st->peer->fields |= MR__WG_P_KEEPALIVE;
		return 0;
	}
	if (!peer) {
		/* Device keys we do not know (newer versions, forks). */
		return 0;
	}
	if (strcmp(key, "preshared_key") == 0) {
		if (hex_decode_key(&peer->preshared_key, value, strlen(value)) < 0)
			return bad_line(key);
		peer->fields |= MR__WG_P_PRESHARED_KEY;
		if (!mr_key_is_zero(&peer->preshared_key))
			peer->fields |= MR__WG_P_HAS_PSK;
	} else if (strcmp(key, "endpoint") == 0) {
		if (parse_endpoint_answer(&peer->endpoint, value) < 0)
			return bad_line(key);
		peer->fields |= MR__WG_P_ENDPOINT;
	} else if (strcmp(key, "persistent_keepalive_interval") == 0) {
		if (!dec(value, MR_WG_KEEPALIVE_MAX, &v))
			return bad_line(key);
		peer->keepalive = (uint32_t)v;
	} else if (strcmp(key, "allowed_ip") == 0) {
		mr_prefix p;

		if (mr_cidr_parse_interface(&p, value) < 0)
			return bad_line(key);
		return mr__wg_peer_add_aip_readback(peer, &p);
	} else if (strcmp(key, "rx_bytes") == 0) {
		if (!dec(value, UINT64_MAX, &v))
			return bad_line(key);
		peer->rx_bytes = v;
	} else if (strcmp(key, "tx_bytes") == 0) {
		if (!dec(value, UINT64_MAX, &v))
			return bad_line(key);
		peer->tx_bytes = v;
	} else if (strcmp(key, "last_handshake_time_sec") == 0) {
		if (!dec(value, INT64_MAX, &v))
			return bad_line(key);
		peer->handshake_sec = (int64_t)v;
	} else if (strcmp(key, "last_handshake_time_nsec") == 0) {
		if (!dec(value, 999999999, &v))
			return bad_line(key);
		peer->handshake_nsec = (int64_t)v;
	} else if (strcmp(key, "protocol_version") == 0) {
		if (!dec(value, UINT32_MAX, &v))
			return bad_line(key);
		peer->protocol_version = (uint32_t)v;
	}
	return 0;
}

static void get_begin(struct get_state *st, mr_wg_device *dev)
{
	memset(st, 0, sizeof(*st));
	st->dev = dev;
}

static int get_end(struct get_state *st, const char *ifname)
{
	if (!st->have_errno)
		return mr__error_set(MR_EIO, "%s: WireGuard userspace answer without errno",
				     ifname);
	if (st->err)
		return mr__error_sys(st->err, "get WireGuard device %s (userspace)", ifname);
	st->dev->fields |= MR__WG_D_LISTEN_PORT | MR__WG_D_FWMARK;
	return 0;
}

int mr__wg_uapi_parse_get(mr_wg_device *dev, const char *text, size_t len, int *err)
{
	struct get_state st;
	char line[UAPI_LINE_MAX];
	size_t pos = 0;
	int rc = 0;

	get_begin(&st, dev);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n;

		if (!nl)
			return mr__error_set(MR_EIO, "WireGuard userspace answer: truncated");
		n = (size_t)(nl - (text + pos));
		if (n >= sizeof(line))
			return mr__error_set(MR_EIO, "WireGuard userspace answer: line too long");
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (n == 0) {
			st.done = true;
			break;
		}
		rc = get_line(&st, line);
		if (rc < 0)
			break;
	}
	mr__wipe(line, sizeof(line));
	if (rc < 0)
		return rc;
	if (!st.done || !st.have_errno)
		return mr__error_set(MR_EIO, "WireGuard userspace answer: truncated");
	if (err)
		*err = st.err;
	dev->fields |= MR__WG_D_LISTEN_PORT | MR__WG_D_FWMARK;
	return 0;
}

/* --- the socket --- */

static int uapi_connect(mr_ctx *ctx, const char *ifname, int *out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = UAPI_TIMEOUT_S};
	int fd, rc, e;

	rc = mr__wg_uapi_path(ctx, ifname, sun.sun_path, sizeof(sun.sun_path));
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mr__error_sys(errno, "%s: userspace socket", ifname);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(fd);
		if (e == ENOENT)
			return mr__error_set(MR_ENOTFOUND,
					     "WireGuard device %s: no userspace control "
					     "socket %s",
					     ifname, sun.sun_path);
		if (e == ECONNREFUSED)
			return mr__error_set(MR_ENOTFOUND,
					     "WireGuard device %s: nobody listens on "
					     "%s (stale socket)",
					     ifname, sun.sun_path);
		return mr__error_sys(e, "WireGuard device %s: connect to %s", ifname, sun.sun_path);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*out = fd;
	return 0;
}

/* Write everything. On a broken connection, stop quietly: the daemon may
 * have refused the request and said why before closing, so the caller
 * reads the answer anyway. */
static int send_all(int fd, const char *buf, size_t len, const char *ifname, bool *broken)
{
	size_t off = 0;

	*broken = false;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET) {
				*broken = true;
				return 0;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return mr__error_set(MR_ETIMEOUT,
						     "%s: userspace socket: no progress "
						     "within %d s",
						     ifname, UAPI_TIMEOUT_S);
			return mr__error_sys(errno, "%s: userspace socket: send", ifname);
		}
		off += (size_t)n;
	}
	return 0;
}

struct reader {
	int fd;
	size_t start;
	size_t end;
	char buf[65536];
};

/* Next line without its '\n', NUL-terminated in place. */
static int read_line(struct reader *r, char **line, const char *ifname)
{
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		ssize_t n;

		if (nl) {
			*nl = '\0';
			*line = r->buf + r->start;
			r->start = (size_t)(nl - r->buf) + 1;
			return 0;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end >= UAPI_LINE_MAX)
			return mr__error_set(MR_EIO, "%s: userspace answer: line too long", ifname);
		n = recv(r->fd, r->buf + r->end, sizeof(r->buf) - r->end, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return mr__error_set(MR_ETIMEOUT,
						     "%s: userspace socket: no answer "
						     "within %d s",
						     ifname, UAPI_TIMEOUT_S);
			return mr__error_sys(errno, "%s: userspace socket: receive", ifname);
		}
		if (n == 0)
			return mr__error_set(MR_EIO,
					     "%s: userspace socket: connection closed "
					     "before the end of the answer",
					     ifname);
		r->end += (size_t)n;
	}
}

static struct reader *reader_new(int fd)
{
	struct reader *r = malloc(sizeof(*r));

	if (!r) {
		mr__error_set(MR_ENOMEM, "userspace socket: out of memory");
		return NULL;
	}
	r->fd = fd;
	r->start = r->end = 0;
	return r;
}

static void reader_free(struct reader *r)
{
	if (!r)
		return;
	mr__wipe(r->buf, r->end);
	free(r);
}

int mr__wg_uapi_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *dev, struct mr__wg_tx *tx)
{
	struct reader *r = NULL;
	char *text = NULL, *line;
	size_t len = 0;
	bool broken;
	int fd = -1, rc, err = 0;
	bool have_errno = false;

	rc = mr__wg_uapi_render_set(dev, &text, &len);
	if (rc < 0)
		return rc;
	rc = uapi_connect(ctx, ifname, &fd);
	if (rc < 0)
		goto out;
	r = reader_new(fd);
	if (!r) {
		rc = MR_ENOMEM;
		goto out;
	}
	rc = send_all(fd, text, len, ifname, &broken);
	if (rc < 0)
		goto out;
	for (;;) {
		rc = read_line(r, &line, ifname);
		if (rc < 0)
			goto out;
		if (!*line)
			break;
		if (strncmp(line, "errno=", 6) == 0) {
			char *end;
			long e;

			errno = 0;
			e = strtol(line + 6, &end, 10);
			if (errno || *end || end == line + 6 || e < -4095 || e > 4095) {
				rc = bad_line("errno");
				goto out;
			}
			err = (int)e;
			have_errno = true;
		}
	}
	if (!have_errno) {
		rc = mr__error_set(MR_EIO, "%s: userspace answer without errno", ifname);
		goto out;
	}
	if (err) {
		/* wireguard-go reports -EADDRINUSE for a port in use, -EINVAL
		 * for what it refuses; mr__error_sys takes either sign. */
		rc = mr__error_sys(err, "set WireGuard device %s (userspace)", ifname);
		goto out;
	}
	if (broken) {
		rc =
		    mr__error_set(MR_EIO, "%s: userspace socket closed during the request", ifname);
		goto out;
	}
	if (tx) {
		tx->messages = 1;
		tx->bytes = len;
	}
out:
	reader_free(r);
	if (fd >= 0)
		close(fd);
	mr__wg_uapi_text_free(text, len);
	return rc;
}

int mr__wg_uapi_get(mr_ctx *ctx, const char *ifname, mr_wg_device *dev)
{
	static const char req[] = "get=1\n\n";
	struct get_state st;
	struct reader *r = NULL;
	char *line;
	bool broken;
	int fd = -1, rc;

	rc = uapi_connect(ctx, ifname, &fd);
	if (rc < 0)
		return rc;
	r = reader_new(fd);
	if (!r) {
		rc = MR_ENOMEM;
		goto out;
	}
	rc = send_all(fd, req, sizeof(req) - 1, ifname, &broken);
	if (rc < 0)
		goto out;
	get_begin(&st, dev);
	for (;;) {
		rc = read_line(r, &line, ifname);
		if (rc < 0)
			goto out;
		if (!*line)
			break;
		rc = get_line(&st, line);
		if (rc < 0)
			goto out;
	}
	rc = get_end(&st, ifname);
out:
	reader_free(r);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* --- starting and stopping wireguard-go --- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: something accepts connections on path; 0: nothing (missing or stale). */
static int socket_alive(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, ok;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

static const char ENV_PREFER[] = "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1";
static const char ENV_FOREGROUND[] = "WG_PROCESS_FOREGROUND=1";

/* The caller's environment with our two variables (replacing any value the
 * caller had for them). */
static char **child_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], ENV_PREFER, strchr(ENV_PREFER, '=') - ENV_PREFER + 1) ==
			0 ||
		    strncmp(environ[i], ENV_FOREGROUND,
			    strchr(ENV_FOREGROUND, '=') - ENV_FOREGROUND + 1) == 0)
			continue;
		env[k++] = environ[i];
	}
	env[k++] = (char *)ENV_PREFER;
	env[k++] = (char *)ENV_FOREGROUND;
	env[k] = NULL;
	return env;
}

static int spawn(const char *prog, const char *ifname, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *argv[] = {(char *)prog, (char *)ifname, NULL};
	char **env;
	int e;

	env = child_env();
	if (!env)
		return mr__error_set(MR_ENOMEM, "start %s: out of memory", prog);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* A daemon must not inherit the caller's blocked or ignored signals
	 * (an agent blocking SIGTERM for signalfd would make it unstoppable),
	 * nor its terminal session, nor its descriptors (netlink sockets). */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	e = posix_spawnp(pid, prog, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	if (e == ENOENT || e == EACCES || e == ENOEXEC)
		return mr__error_set(MR_ENOTFOUND, "start %s for %s: %s", prog, ifname,
				     strerror(e));
	if (e)
		return mr__error_sys(e, "start %s for %s", prog, ifname);
	return 0;
}

MR_API int mr_wg_start_userspace(mr_ctx *ctx, const char *ifname, pid_t *out_pid)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *prog;
	long deadline;
	pid_t pid;
	int rc, status;

	if (!ctx || !ifname)
		return mr__error_set(MR_EINVAL, "start userspace WireGuard: context or interface "
						"name is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	rc = mr__wg_uapi_path(ctx, ifname, path, sizeof(path));
	if (rc < 0)
		return rc;
	prog = ctx->wireguard_go;
	if (socket_alive(path))
		return mr__error_set(MR_EEXIST, "start %s for %s: a process already serves %s",
				     prog, ifname, path);
	rc = spawn(prog, ifname, &pid);
	if (rc < 0)
		return rc;
	deadline = now_ms() + START_TIMEOUT_MS;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			if (WIFEXITED(status))
				return mr__error_set(MR_ESYS,
						     "%s for %s exited at start with status "
						     "%d (does the interface exist already? is "
						     "/dev/net/tun there?)",
						     prog, ifname, WEXITSTATUS(status));
			return mr__error_set(MR_ESYS, "%s for %s was killed at start by signal %d",
					     prog, ifname, WTERMSIG(status));
		}
		if (socket_alive(path))
			break;
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return mr__error_set(MR_ETIMEOUT,
					     "%s for %s: no control socket %s within "
					     "%d ms; process killed",
					     prog, ifname, path, START_TIMEOUT_MS);
		}
		sleep_ms(5);
	}
	mr__log(ctx, MR_LOG_INFO, "started %s for %s (pid %ld)", prog, ifname, (long)pid);
	if (out_pid)
		*out_pid = pid;
	return 0;
}

/* true once pid is gone (reaped if it was our child). */
static bool gone(pid_t pid)
{
	int status;
	pid_t w = waitpid(pid, &status, WNOHANG);

	if (w == pid)
		return true;
	if (w < 0 && errno == ECHILD)
		return kill(pid, 0) < 0 && errno == ESRCH;
	return false;
}

MR_API int mr_wg_stop_userspace(mr_ctx *ctx, const char *ifname, pid_t pid)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	long deadline;
	int rc;

	if (!ctx || !ifname)
		return mr__error_set(MR_EINVAL, "stop userspace WireGuard: context or interface "
						"name is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	if (pid <= 0)
		return mr__error_set(MR_EINVAL,
				     "stop userspace WireGuard for %s: pid %ld is not a "
				     "process",
				     ifname, (long)pid);
	rc = mr__wg_uapi_path(ctx, ifname, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (kill(pid, SIGTERM) < 0) {
		if (errno == EPERM)
			return mr__error_set(MR_EPERM,
					     "stop userspace WireGuard for %s: not allowed "
					     "to signal pid %ld",
					     ifname, (long)pid);
		if (errno != ESRCH)
			return mr__error_sys(errno, "stop userspace WireGuard for %s", ifname);
	}
	deadline = now_ms() + STOP_TIMEOUT_MS;
	while (!gone(pid)) {
		if (now_ms() >= deadline) {
			mr__log(ctx, MR_LOG_WARNING, "%s (pid %ld) ignored SIGTERM; killing it",
				ifname, (long)pid);
			kill(pid, SIGKILL);
			deadline = now_ms() + 1000;
			while (!gone(pid) && now_ms() < deadline)
				sleep_ms(5);
			break;
		}
		sleep_ms(5);
	}
	/* A killed process leaves its socket behind; a stale one would make
	 * the next start's "already served?" check and AUTO mode misjudge. */
	{
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && !socket_alive(path))
			unlink(path);
	}
	mr__log(ctx, MR_LOG_INFO, "stopped userspace WireGuard for %s (pid %ld)", ifname,
		(long)pid);
	return 0;
}
