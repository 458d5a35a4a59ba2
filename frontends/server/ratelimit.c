/* SPDX-License-Identifier: MIT */
/*
 * Per-client token buckets. A client is an IPv4 address or an IPv6 /64 (one
 * host commonly holds a whole /64, so per-address buckets would be free to
 * multiply). The table is a hash with a random key, so clients cannot aim at
 * one chain; it is bounded: when full, buckets that have refilled completely
 * (they carry no state) are dropped, and if none has, the request passes
 * untracked rather than punishing a client for an attack by others (the
 * connection limits still apply).
 */
#include "server.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_ENTRIES 65536
#define N_BUCKETS 4096

struct entry {
	struct entry *next;
	uint8_t key[17];
	double tokens;
	int64_t last_ms;
};

struct ratelimit {
	double rate;  /* tokens per second; 0 disables */
	double burst; /* bucket size */
	uint64_t seed[2];
	struct entry *buckets[N_BUCKETS];
	size_t n;
};

struct ratelimit *ratelimit_new(double rate, unsigned burst)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->rate = rate;
	rl->burst = burst ? burst : 1;
	if (getrandom(rl->seed, sizeof(rl->seed), 0) != sizeof(rl->seed)) {
		free(rl);
		return NULL;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < N_BUCKETS; i++) {
		struct entry *e = rl->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(rl);
}

size_t ratelimit_size(const struct ratelimit *rl)
{
	return rl ? rl->n : 0;
}

/* A keyed hash (64-bit multiply-xorshift over the seeded key): not a MAC,
 * only unpredictable enough that chains cannot be aimed at. */
static size_t hash_key(const struct ratelimit *rl, const uint8_t *key)
{
	uint64_t h = rl->seed[0];

	for (size_t i = 0; i < 17; i++) {
		h ^= key[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	h ^= rl->seed[1];
	h *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 32) % N_BUCKETS;
}

static bool make_key(const struct sockaddr *sa, uint8_t key[17])
{
	memset(key, 0, 17);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key[0] = 4;
			memcpy(key + 1, &a->s6_addr[12], 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a->s6_addr, 8);
		}
		return true;
	}
	return false;
}

static void refill(const struct ratelimit *rl, struct entry *e, int64_t now_ms)
{
	if (now_ms > e->last_ms) {
		e->tokens += (double)(now_ms - e->last_ms) / 1000.0 * rl->rate;
		if (e->tokens > rl->burst)
			e->tokens = rl->burst;
		e->last_ms = now_ms;
	}
}

static void sweep(struct ratelimit *rl, int64_t now_ms)
{
	for (size_t i = 0; i < N_BUCKETS; i++) {
		struct entry **pp = &rl->buckets[i];

		while (*pp) {
			struct entry *e = *pp;

			refill(rl, e, now_ms);
			if (e->tokens >= rl->burst) {
				*pp = e->next;
				free(e);
				rl->n--;
			} else {
				pp = &e->next;
			}
		}
	}
}

unsigned ratelimit_take(struct ratelimit *rl, const struct sockaddr *sa, int64_t now_ms)
{
	uint8_t key[17];
	struct entry *e;
	size_t h;
	double wait;

	if (!rl || rl->rate <= 0 || !make_key(sa, key))
		return 0;
	h = hash_key(rl, key);
	for (e = rl->buckets[h]; e; e = e->next)
		if (memcmp(e->key, key, sizeof(key)) == 0)
			break;
	if (!e) {
		if (rl->n >= MAX_ENTRIES)
			sweep(rl, now_ms);
		if (rl->n >= MAX_ENTRIES)
			return 0;
		e = calloc(1, sizeof(*e));
		if (!e)
			return 0;
		memcpy(e->key, key, sizeof(key));
		e->tokens = rl->burst;
		e->last_ms = now_ms;
		e->next = rl->buckets[h];
		rl->buckets[h] = e;
		rl->n++;
	}
	refill(rl, e, now_ms);
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
		return 0;
	}
	wait = (1.0 - e->tokens) / rl->rate;
	return wait < 1.0 ? 1 : (unsigned)(wait + 0.999);
}
