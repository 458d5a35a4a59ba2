/* SPDX-License-Identifier: MIT */
/* The state module: desired state parsed and validated (good and bad
 * tables, every refusal checked for its code and the path in its detail),
 * getters, pod specs, canonical formatting, secrets kept out of errors;
 * reports encoded and split under a size limit; and both formats against
 * the store, the server's side: its desired state parses strictly, and an
 * encoded report is accepted and activates the pod. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <myrelay/myrelay.h>
#include "testutil.h"

#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define K3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define PSK "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="
#define ZERO "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

/* One pod with the addresses of the store's default layout. */
#define POD_HEAD(id, ifname, port)                                                               \
	"{\"id\":\"" id "\",\"interface\":\"" ifname "\",\"listen_port\":" #port                 \
	",\"addresses\":[\"10.64.1.1/24\",\"fd00:1::1/64\"]"
#define PEER(key, ip4, ip6) "{\"public_key\":\"" key "\",\"allowed_ips\":[\"" ip4 "\",\"" ip6 "\"]}"
#define DOC(pods) "{\"generation\":7,\"pods\":[" pods "]}"
#define POD1(peers) POD_HEAD("pd_aaaaaaaaaaaa", "wg-abc123", 51820) ",\"peers\":[" peers "]}"

static mr_key key_of(const char *b64)
{
	mr_key k;

	ck_assert(mr_key_from_base64(&k, b64) == 0);
	return k;
}

/* --- good states ------------------------------------------------------------ */

static const struct {
	const char *text;
	uint32_t flags;
	int64_t generation;
	size_t pods;
	size_t peers0;	 /* peers of pod 0 (all) */
	size_t enabled0; /* of which enabled: the spec's peer count */
} good[] = {
	{ "{\"generation\":0,\"pods\":[]}", MR_STATE_STRICT, 0, 0, 0, 0 },
	{ " { \"pods\" : [ ] , \"generation\" : 9223372036854775807 } ", MR_STATE_STRICT,
	  INT64_MAX, 0, 0, 0 },
	{ DOC(POD_HEAD("pd_aaaaaaaaaaaa", "wg-abc123", 51820) "}"), MR_STATE_STRICT, 7, 1, 0, 0 },
	{ DOC(POD1("")), MR_STATE_STRICT, 7, 1, 0, 0 },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128"))), MR_STATE_STRICT, 7, 1, 1, 1 },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		   "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3\"],"
		   "\"preshared_key\":\"" PSK "\",\"enabled\":true},"
		   "{\"public_key\":\"" K3 "\",\"allowed_ips\":[\"10.64.1.4/32\"],"
		   "\"preshared_key\":null,\"enabled\":false}")),
	  MR_STATE_STRICT, 7, 1, 3, 2 },
	/* a device with a whole /30 and one with a /126 */
	{ DOC(POD1(PEER(K1, "10.64.1.4/30", "fd00:1::4/126") "," PEER(K2, "10.64.1.8/32",
								       "fd00:1::8/128"))),
	  MR_STATE_STRICT, 7, 1, 2, 2 },
	/* two pods, any label as id */
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128")) ","
	      "{\"id\":\"home.lab@x_1-2\",\"interface\":\"wg-00ff00\",\"listen_port\":1,"
	      "\"addresses\":[\"10.64.2.1/24\"],\"peers\":[" PEER(K1, "10.64.2.2/32",
								  "10.64.2.3/32") "]}"),
	  MR_STATE_STRICT, 7, 2, 1, 1 },
	/* a pod with sixteen subnets */
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-ffffff\",\"listen_port\":65535,\"addresses\":["
	      "\"10.0.0.1/24\",\"10.0.1.1/24\",\"10.0.2.1/24\",\"10.0.3.1/24\",\"10.0.4.1/24\","
	      "\"10.0.5.1/24\",\"10.0.6.1/24\",\"10.0.7.1/24\",\"10.0.8.1/24\",\"10.0.9.1/24\","
	      "\"10.0.10.1/24\",\"10.0.11.1/24\",\"10.0.12.1/24\",\"10.0.13.1/24\","
	      "\"10.0.14.1/24\",\"fd00::1/64\"]}"),
	  MR_STATE_STRICT, 7, 1, 0, 0 },
	/* unknown members are ignored without MR_STATE_STRICT, at every level */
	{ "{\"generation\":1,\"future\":{\"x\":[1]},\"pods\":[" POD_HEAD("p", "wg-abc123", 51820)
	  ",\"mtu\":1400,\"peers\":[{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
	  "\"name\":\"laptop\"}]}]}",
	  0, 1, 1, 1, 1 },
	/* a gateway that is not .1 */
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":5,"
	      "\"addresses\":[\"10.64.1.77/24\"],\"peers\":[" PEER(K1, "10.64.1.2/32",
								 "10.64.1.3/32") "]}"),
	  MR_STATE_STRICT, 7, 1, 1, 1 },
};

START_TEST(test_good)
{
	mr_state *st = NULL, *again = NULL;
	char *text = NULL, *text2 = NULL;
	mr_key priv = key_of(K3);

	ck_mr_ok(mr_state_parse(&st, good[_i].text, strlen(good[_i].text), good[_i].flags));
	ck_assert_int_eq(mr_state_get_generation(st), good[_i].generation);
	ck_assert_uint_eq(mr_state_pod_count(st), good[_i].pods);
	if (good[_i].pods) {
		const mr_state_pod *pod = mr_state_pod_at(st, 0);
		mr_pod_spec *spec = NULL;

		ck_assert_uint_eq(mr_state_pod_peer_count(pod), good[_i].peers0);
		/* Every parsed pod gives a spec, without its disabled peers. */
		for (size_t i = 0; i < mr_state_pod_count(st); i++) {
			ck_mr_ok(mr_state_pod_spec(mr_state_pod_at(st, i), &priv, &spec));
			if (i == 0)
				ck_assert_uint_eq(mr_pod_spec_peer_count(spec), good[_i].enabled0);
			ck_assert_str_eq(mr_pod_spec_get_ifname(spec),
					 mr_state_pod_get_interface(mr_state_pod_at(st, i)));
			mr_pod_spec_free(spec);
		}
	}
	/* Canonical text: strict-parses to the same state, and is a fixed
	 * point. */
	ck_mr_ok(mr_state_format(st, &text));
	ck_mr_ok(mr_state_parse(&again, text, strlen(text), MR_STATE_STRICT));
	ck_mr_ok(mr_state_format(again, &text2));
	ck_assert_str_eq(text, text2);
	ck_assert_int_eq(mr_state_get_generation(again), good[_i].generation);
	ck_assert_uint_eq(mr_state_pod_count(again), good[_i].pods);
	mr_state_free_text(text);
	mr_state_free_text(text2);
	mr_state_free(again);
	mr_state_free(st);
}
END_TEST

/* --- bad states ------------------------------------------------------------- */

static const struct {
	const char *text;
	uint32_t flags;
	int code;
	const char *detail; /* must appear in mr_error_message() */
} bad[] = {
	{ "", 0, MR_EINVAL, "invalid JSON at line" },
	{ "{", 0, MR_EINVAL, "invalid JSON" },
	{ "[]", 0, MR_EINVAL, "desired state: expected a JSON object, got an array" },
	{ "{\"generation\":1,\"pods\":[]} x", 0, MR_EINVAL, "invalid JSON" },
	{ "{\"generation\":1,\"generation\":2,\"pods\":[]}", 0, MR_EINVAL, "invalid JSON" },
	{ "{\"pods\":[]}", 0, MR_EINVAL, "generation: missing" },
	{ "{\"generation\":1}", 0, MR_EINVAL, "pods: missing" },
	{ "{\"generation\":-1,\"pods\":[]}", 0, MR_EINVAL, "generation: -1 is out of range" },
	{ "{\"generation\":\"1\",\"pods\":[]}", 0, MR_EINVAL,
	  "generation: expected an integer from 0 to 9223372036854775807, got a string" },
	{ "{\"generation\":1.0,\"pods\":[]}", 0, MR_EINVAL, "got a real number" },
	{ "{\"generation\":99999999999999999999,\"pods\":[]}", 0, MR_EINVAL, "invalid JSON" },
	{ "{\"generation\":1,\"pods\":{}}", 0, MR_EINVAL, "pods: expected an array, got an object" },
	{ "{\"generation\":1,\"pods\":[7]}", 0, MR_EINVAL, "pods[0]: expected an object" },
	{ "{\"generation\":1,\"pods\":[],\"x\":1}", MR_STATE_STRICT, MR_EINVAL,
	  "desired state: unknown member \"x\"" },
	{ "{\"generation\":1,\"pods\":[],\"\\u00e9\":1}", MR_STATE_STRICT, MR_EINVAL,
	  "unknown member (name not printable)" },
	/* pods */
	{ DOC("{\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":[\"10.0.0.1/24\"]}"), 0,
	  MR_EINVAL, "pods[0].id: missing" },
	{ DOC("{\"id\":\"p\",\"listen_port\":1,\"addresses\":[\"10.0.0.1/24\"]}"), 0, MR_EINVAL,
	  "pods[0].interface: missing" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"addresses\":[\"10.0.0.1/24\"]}"), 0,
	  MR_EINVAL, "pods[0].listen_port: missing" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1}"), 0, MR_EINVAL,
	  "pods[0].addresses: missing" },
	{ DOC(POD_HEAD("pd_aaaaaaaaaaaa", "wg-abc123", 51820) ",\"mtu\":1}"), MR_STATE_STRICT,
	  MR_EINVAL, "pods[0]: unknown member \"mtu\"" },
	{ DOC(POD_HEAD("", "wg-abc123", 1) "}"), 0, MR_EINVAL, "pods[0].id: " },
	{ DOC(POD_HEAD("../etc", "wg-abc123", 1) "}"), 0, MR_EINVAL, "pods[0].id: label" },
	{ DOC(POD_HEAD("a/b", "wg-abc123", 1) "}"), 0, MR_EINVAL, "pods[0].id: label" },
	{ DOC(POD_HEAD("a234567890123456789012345678901234567890123456789012345678901234",
		       "wg-abc123", 1) "}"),
	  0, MR_EINVAL, "pods[0].id: " },
	{ DOC("{\"id\":7,\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":[]}"), 0,
	  MR_EINVAL, "pods[0].id: expected a string, got an integer" },
	{ DOC(POD_HEAD("p", "eth0", 1) "}"), 0, MR_EINVAL,
	  "pods[0].interface: not a pod interface name" },
	{ DOC(POD_HEAD("p", "wg-ABC123", 1) "}"), 0, MR_EINVAL,
	  "pods[0].interface: not a pod interface name" },
	{ DOC(POD_HEAD("p", "wg abc", 1) "}"), 0, MR_EINVAL, "pods[0].interface: interface name" },
	{ DOC(POD_HEAD("p", "wg-abc123", 0) "}"), 0, MR_EINVAL,
	  "pods[0].listen_port: 0 is out of range (1 to 65535)" },
	{ DOC(POD_HEAD("p", "wg-abc123", 65536) "}"), 0, MR_EINVAL,
	  "pods[0].listen_port: 65536 is out of range" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":\"51820\","
	      "\"addresses\":[\"10.0.0.1/24\"]}"),
	  0, MR_EINVAL, "pods[0].listen_port: expected an integer" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":[]}"), 0,
	  MR_EINVAL, "pods[0].addresses: 0 addresses, expected 1 to 16" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "\"10.0.0.1/24\"}"),
	  0, MR_EINVAL, "pods[0].addresses: expected an array, got a string" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":[1]}"), 0,
	  MR_EINVAL, "pods[0].addresses[0]: expected a string" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "[\"10.0.0.1\"]}"),
	  0, MR_EINVAL, "pods[0].addresses[0]: " },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "[\"10.0.0.0/24\"]}"),
	  0, MR_EINVAL, "pods[0].addresses[0]: pod wg-abc123: address 10.0.0.0/24 is the subnet's "
			"network address" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "[\"10.0.0.255/24\"]}"),
	  0, MR_EINVAL, "broadcast" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "[\"10.0.0.1/31\"]}"),
	  0, MR_EINVAL, "pods[0].addresses[0]: " },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "[\"10.0.0.1/16\",\"10.0.5.1/24\"]}"),
	  0, MR_EINVAL, "pods[0].addresses[1]: pod wg-abc123: address 10.0.5.1/24 overlaps" },
	{ DOC("{\"id\":\"p\",\"interface\":\"wg-abc123\",\"listen_port\":1,\"addresses\":"
	      "[\"10.0.0.1/24\"],\"peers\":{}}"),
	  0, MR_EINVAL, "pods[0].peers: expected an array, got an object" },
	/* pods against each other */
	{ DOC(POD_HEAD("p", "wg-abc123", 1) "}," POD_HEAD("p", "wg-abc124", 2) "}"), 0,
	  MR_EINVAL, "pods[1].id: the same as pods[0]'s" },
	{ DOC(POD_HEAD("p", "wg-abc123", 1) "},"
	      "{\"id\":\"q\",\"interface\":\"wg-abc124\",\"listen_port\":2,\"addresses\":"
	      "[\"10.9.0.1/24\"]},"
	      "{\"id\":\"r\",\"interface\":\"wg-abc123\",\"listen_port\":3,\"addresses\":"
	      "[\"10.8.0.1/24\"]}"),
	  0, MR_EINVAL, "pods[2].interface: the same as pods[0]'s" },
	{ DOC(POD_HEAD("p", "wg-abc123", 1) "},"
	      "{\"id\":\"q\",\"interface\":\"wg-abc124\",\"listen_port\":1,\"addresses\":"
	      "[\"10.9.0.1/24\"]}"),
	  0, MR_EINVAL, "pods[1].listen_port: 1 is also pods[0]'s" },
	{ DOC(POD_HEAD("p", "wg-abc123", 1) "},"
	      "{\"id\":\"q\",\"interface\":\"wg-abc124\",\"listen_port\":2,\"addresses\":"
	      "[\"10.64.0.1/16\"]}"),
	  0, MR_EINVAL, "pods[1].addresses[0]: subnet 10.64.0.0/16 overlaps 10.64.1.0/24 of pods[0]" },
	{ DOC(POD_HEAD("p", "wg-abc123", 1) "},"
	      "{\"id\":\"q\",\"interface\":\"wg-abc124\",\"listen_port\":2,\"addresses\":"
	      "[\"10.9.0.1/24\",\"fd00:1::2/64\"]}"),
	  0, MR_EINVAL, "pods[1].addresses[1]: subnet fd00:1::/64 overlaps fd00:1::/64 of pods[0]" },
	/* peers */
	{ DOC(POD1("7")), 0, MR_EINVAL, "pods[0].peers[0]: expected an object, got an integer" },
	{ DOC(POD1("{\"allowed_ips\":[\"10.64.1.2/32\"]}")), 0, MR_EINVAL,
	  "pods[0].peers[0].public_key: missing" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\"}")), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips: missing" },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		   "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"],\"x\":1}")),
	  MR_STATE_STRICT, MR_EINVAL, "pods[0].peers[1]: unknown member \"x\"" },
	{ DOC(POD1(PEER("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=", "10.64.1.2/32",
			"fd00:1::2/128"))),
	  0, MR_EINVAL, "pods[0].peers[0].public_key: " },
	{ DOC(POD1(PEER(ZERO, "10.64.1.2/32", "fd00:1::2/128"))), 0, MR_EINVAL,
	  "pods[0].peers[0].public_key: " },
	{ DOC(POD1("{\"public_key\":null,\"allowed_ips\":[\"10.64.1.2/32\"]}")), 0, MR_EINVAL,
	  "pods[0].peers[0].public_key: expected a string, got null" },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") "," PEER(K1, "10.64.1.3/32",
								       "fd00:1::3/128"))),
	  0, MR_EINVAL, "pods[0].peers[1].public_key: the same as pods[0].peers[0]'s" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[]}")), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips: a peer needs at least one allowed IP" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":\"10.64.1.2/32\"}")), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips: expected an array, got a string" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[32]}")), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips[0]: expected a string, got an integer" },
	{ DOC(POD1(PEER(K1, "10.64.1.2/24", "fd00:1::2/128"))), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips[0]: " },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:2::2/128"))), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips[1]: fd00:2::2/128 is outside the pod's subnets" },
	{ DOC(POD1(PEER(K1, "0.0.0.0/0", "fd00:1::2/128"))), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips[0]: 0.0.0.0/0 is outside the pod's subnets" },
	{ DOC(POD1(PEER(K1, "10.64.1.4/30", "fd00:1::2/128") "," PEER(K2, "10.64.1.6/32",
								       "fd00:1::3/128"))),
	  0, MR_EINVAL,
	  "pods[0].peers[1].allowed_ips[0]: 10.64.1.6/32 overlaps 10.64.1.4/30 of pods[0].peers[0]" },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") "," PEER(K2, "10.64.1.3/32",
								       "fd00:1::2/128"))),
	  0, MR_EINVAL, "pods[0].peers[1].allowed_ips[1]: fd00:1::2/128 overlaps" },
	{ DOC(POD1(PEER(K1, "10.64.1.2/32", "10.64.1.2/32"))), 0, MR_EINVAL,
	  "pods[0].peers[0].allowed_ips[1]: 10.64.1.2/32 overlaps" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
		   "\"preshared_key\":7}")),
	  0, MR_EINVAL, "pods[0].peers[0].preshared_key: expected a string or null" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
		   "\"preshared_key\":\"" ZERO "\"}")),
	  0, MR_EINVAL, "pods[0].peers[0].preshared_key: the all-zero key means no key" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
		   "\"enabled\":1}")),
	  0, MR_EINVAL, "pods[0].peers[0].enabled: expected a boolean, got an integer" },
	{ DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
		   "\"enabled\":\"true\"}")),
	  0, MR_EINVAL, "pods[0].peers[0].enabled: expected a boolean, got a string" },
	/* the second pod's peers are named with their own pod index */
	{ DOC(POD1("") ",{\"id\":\"q\",\"interface\":\"wg-abc124\",\"listen_port\":2,"
		       "\"addresses\":[\"10.9.0.1/24\"],\"peers\":[" PEER(K1, "10.9.0.2/32",
									  "10.9.0.3/32") ","
		       "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.9.0.4/32\"]},"
		       "{\"public_key\":\"" K3 "\",\"allowed_ips\":[\"10.9.0.5/33\"]}]}"),
	  0, MR_EINVAL, "pods[1].peers[2].allowed_ips[0]: " },
};

START_TEST(test_bad)
{
	mr_state *sentinel = (mr_state *)&sentinel, *st = sentinel;

	mr_error_clear();
	ck_mr_err(mr_state_parse(&st, bad[_i].text, strlen(bad[_i].text), bad[_i].flags),
		  bad[_i].code);
	ck_assert_msg(st == sentinel, "output written on failure");
	ck_assert_msg(strstr(mr_error_message(), bad[_i].detail) != NULL,
		      "case %d: detail \"%s\" lacks \"%s\"", _i, mr_error_message(),
		      bad[_i].detail);
	/* The same text is refused in strict mode too. */
	ck_assert_int_eq(mr_state_parse(&st, bad[_i].text, strlen(bad[_i].text),
					MR_STATE_STRICT),
			 bad[_i].code);
	ck_assert_msg(st == sentinel, "output written on failure");
}
END_TEST

START_TEST(test_arguments)
{
	static const char doc[] = "{\"generation\":1,\"pods\":[]}";
	mr_state *st = NULL;
	char *text;

	ck_mr_err(mr_state_parse(NULL, doc, strlen(doc), 0), MR_EINVAL);
	ck_mr_err(mr_state_parse(&st, NULL, 0, 0), MR_EINVAL);
	ck_mr_err(mr_state_parse(&st, doc, strlen(doc), 0x2), MR_EINVAL);
	ck_mr_err(mr_state_parse(&st, doc, (size_t)MR_STATE_TEXT_MAX + 1, 0), MR_ETOOBIG);
	/* The length counts, not a NUL: a cut text is invalid, trailing bytes
	 * past len are not read. */
	ck_mr_err(mr_state_parse(&st, doc, strlen(doc) - 1, 0), MR_EINVAL);
	ck_mr_ok(mr_state_parse(&st, "{\"generation\":1,\"pods\":[]}GARBAGE", strlen(doc), 0));
	/* A NUL inside the text is invalid JSON. */
	ck_mr_err(mr_state_parse(&st, "{\"generation\":1,\0\"pods\":[]}", 27, 0), MR_EINVAL);
	ck_mr_err(mr_state_format(NULL, &text), MR_EINVAL);
	ck_mr_err(mr_state_format(st, NULL), MR_EINVAL);
	mr_state_free(st);
	mr_state_free(NULL);
	mr_state_free_text(NULL);

	ck_assert_int_eq(mr_state_get_generation(NULL), -1);
	ck_assert_uint_eq(mr_state_pod_count(NULL), 0);
	ck_assert_ptr_null(mr_state_pod_at(NULL, 0));
	ck_assert_ptr_null(mr_state_find_pod(NULL, "p"));
	ck_assert_ptr_null(mr_state_pod_get_id(NULL));
	ck_assert_ptr_null(mr_state_pod_get_interface(NULL));
	ck_assert_uint_eq(mr_state_pod_get_listen_port(NULL), 0);
	ck_assert_uint_eq(mr_state_pod_address_count(NULL), 0);
	ck_assert_uint_eq(mr_state_pod_peer_count(NULL), 0);
	ck_assert_ptr_null(mr_state_pod_peer_at(NULL, 0));
	ck_assert(!mr_state_peer_has_preshared_key(NULL));
	ck_assert(!mr_state_peer_get_enabled(NULL));
	ck_assert_uint_eq(mr_state_peer_allowed_ip_count(NULL), 0);
	ck_mr_err(mr_state_pod_get_address(NULL, 0, &(mr_prefix){ 0 }), MR_EINVAL);
	ck_mr_err(mr_state_peer_get_public_key(NULL, &(mr_key){ { 0 } }), MR_EINVAL);
	ck_mr_err(mr_state_peer_get_preshared_key(NULL, &(mr_key){ { 0 } }), MR_EINVAL);
	ck_mr_err(mr_state_peer_get_allowed_ip(NULL, 0, &(mr_prefix){ 0 }), MR_EINVAL);
	ck_mr_err(mr_state_pod_spec(NULL, &(mr_key){ { 1 } }, &(mr_pod_spec *){ NULL }),
		  MR_EINVAL);
}
END_TEST

START_TEST(test_getters)
{
	static const char doc[] = DOC(
	    POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3\"],"
		 "\"preshared_key\":\"" PSK "\",\"enabled\":false}") ","
	    "{\"id\":\"second\",\"interface\":\"wg-0000aa\",\"listen_port\":51821,"
	    "\"addresses\":[\"10.64.2.1/24\"]}");
	const mr_state_pod *pod, *pod2;
	const mr_state_peer *peer;
	char text[MR_CIDR_STRLEN];
	mr_state *st;
	mr_prefix p;
	mr_key k;
	mr_pod_spec *spec;

	ck_mr_ok(mr_state_parse(&st, doc, strlen(doc), MR_STATE_STRICT));
	ck_assert_uint_eq(mr_state_pod_count(st), 2);
	pod = mr_state_pod_at(st, 0);
	ck_assert_str_eq(mr_state_pod_get_id(pod), "pd_aaaaaaaaaaaa");
	ck_assert_str_eq(mr_state_pod_get_interface(pod), "wg-abc123");
	ck_assert_uint_eq(mr_state_pod_get_listen_port(pod), 51820);
	ck_assert_uint_eq(mr_state_pod_address_count(pod), 2);
	ck_mr_ok(mr_state_pod_get_address(pod, 1, &p));
	mr_cidr_format(text, sizeof(text), &p);
	ck_assert_str_eq(text, "fd00:1::1/64");
	ck_mr_err(mr_state_pod_get_address(pod, 2, &p), MR_EINVAL);
	ck_assert_ptr_eq(mr_state_find_pod(st, "pd_aaaaaaaaaaaa"), pod);
	pod2 = mr_state_find_pod(st, "second");
	ck_assert_ptr_eq(pod2, mr_state_pod_at(st, 1));
	ck_assert_ptr_null(mr_state_find_pod(st, "third"));
	ck_assert_ptr_null(mr_state_pod_at(st, 2));
	ck_assert_uint_eq(mr_state_pod_peer_count(pod2), 0);

	ck_assert_uint_eq(mr_state_pod_peer_count(pod), 2);
	peer = mr_state_pod_peer_at(pod, 0);
	ck_mr_ok(mr_state_peer_get_public_key(peer, &k));
	ck_assert(mr_key_equal(&k, &(mr_key){ { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
						1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
						1 } }));
	ck_assert(mr_state_peer_get_enabled(peer));
	ck_assert(!mr_state_peer_has_preshared_key(peer));
	ck_mr_err(mr_state_peer_get_preshared_key(peer, &k), MR_ENOTFOUND);
	ck_assert_uint_eq(mr_state_peer_allowed_ip_count(peer), 2);
	ck_mr_ok(mr_state_peer_get_allowed_ip(peer, 1, &p));
	mr_cidr_format(text, sizeof(text), &p);
	ck_assert_str_eq(text, "fd00:1::2/128");
	ck_mr_err(mr_state_peer_get_allowed_ip(peer, 2, &p), MR_EINVAL);

	peer = mr_state_pod_peer_at(pod, 1);
	ck_assert(!mr_state_peer_get_enabled(peer));
	ck_assert(mr_state_peer_has_preshared_key(peer));
	ck_mr_ok(mr_state_peer_get_preshared_key(peer, &k));
	ck_assert(mr_key_equal(&k, &(mr_key){ { 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
						4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
						4 } }));
	mr_key_wipe(&k);
	/* a bare address is a /32 */
	ck_mr_ok(mr_state_peer_get_allowed_ip(peer, 0, &p));
	mr_cidr_format(text, sizeof(text), &p);
	ck_assert_str_eq(text, "10.64.1.3/32");
	ck_assert_ptr_null(mr_state_pod_peer_at(pod, 2));

	/* The spec holds only the enabled peer. */
	ck_mr_ok(mr_state_pod_spec(pod, &(mr_key){ { 9 } }, &spec));
	ck_assert_uint_eq(mr_pod_spec_peer_count(spec), 1);
	mr_pod_spec_free(spec);
	ck_mr_err(mr_state_pod_spec(pod, NULL, &spec), MR_EINVAL);
	ck_mr_err(mr_state_pod_spec(pod, &(mr_key){ { 9 } }, NULL), MR_EINVAL);
	mr_state_free(st);
}
END_TEST

/* Pod equality: equal text gives equal pods; any one member changed makes
 * them differ. */
static const char *const pod_variants[] = {
	/* 0: the reference */
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"],"
		 "\"preshared_key\":\"" PSK "\"}")),
	/* 1: the same pod written differently (member order, bare address,
	 * explicit enabled, other pods around it) */
	DOC("{\"id\":\"other\",\"interface\":\"wg-00000b\",\"listen_port\":9,"
	    "\"addresses\":[\"10.9.0.1/24\"]},"
	    "{\"peers\":[{\"allowed_ips\":[\"10.64.1.2\",\"fd00:1:0::2/128\"],\"enabled\":true,"
	    "\"public_key\":\"" K1 "\"},{\"preshared_key\":\"" PSK "\",\"public_key\":\"" K2
	    "\",\"allowed_ips\":[\"10.64.1.3/32\"]}],\"addresses\":[\"10.64.1.1/24\","
	    "\"fd00:1::1/64\"],\"listen_port\":51820,\"interface\":\"wg-abc123\","
	    "\"id\":\"pd_aaaaaaaaaaaa\"}"),
	/* from here on, one difference each */
	DOC(POD_HEAD("pd_aaaaaaaaaaaa", "wg-abc123", 51821) ",\"peers\":["
	    PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ",{\"public_key\":\"" K2 "\",\"allowed_ips\":"
	    "[\"10.64.1.3/32\"],\"preshared_key\":\"" PSK "\"}]}"),
	DOC(POD_HEAD("pd_aaaaaaaaaaaa", "wg-abc124", 51820) ",\"peers\":["
	    PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ",{\"public_key\":\"" K2 "\",\"allowed_ips\":"
	    "[\"10.64.1.3/32\"],\"preshared_key\":\"" PSK "\"}]}"),
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"],"
		 "\"preshared_key\":\"" K3 "\"}")),
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"]}")),
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"],"
		 "\"preshared_key\":\"" PSK "\",\"enabled\":false}")),
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.4/32\"],"
		 "\"preshared_key\":\"" PSK "\"}")),
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ","
		 "{\"public_key\":\"" K3 "\",\"allowed_ips\":[\"10.64.1.3/32\"],"
		 "\"preshared_key\":\"" PSK "\"}")),
	DOC(POD1(PEER(K1, "10.64.1.2/32", "fd00:1::2/128"))),
	DOC(POD1("{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"],"
		 "\"preshared_key\":\"" PSK "\"}," PEER(K1, "10.64.1.2/32", "fd00:1::2/128"))),
	DOC(POD1(PEER(K1, "fd00:1::2/128", "10.64.1.2/32") ","
		 "{\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.64.1.3/32\"],"
		 "\"preshared_key\":\"" PSK "\"}")),
	DOC("{\"id\":\"pd_aaaaaaaaaaaa\",\"interface\":\"wg-abc123\",\"listen_port\":51820,"
	    "\"addresses\":[\"10.64.1.1/24\",\"fd00:1::1/60\"],\"peers\":["
	    PEER(K1, "10.64.1.2/32", "fd00:1::2/128") ",{\"public_key\":\"" K2 "\",\"allowed_ips\":"
	    "[\"10.64.1.3/32\"],\"preshared_key\":\"" PSK "\"}]}"),
};

START_TEST(test_pod_equal)
{
	mr_state *ref, *other;
	const mr_state_pod *a, *b;

	ck_mr_ok(mr_state_parse(&ref, pod_variants[0], strlen(pod_variants[0]), 0));
	ck_mr_ok(mr_state_parse(&other, pod_variants[_i], strlen(pod_variants[_i]), 0));
	a = mr_state_find_pod(ref, "pd_aaaaaaaaaaaa");
	b = mr_state_find_pod(other, "pd_aaaaaaaaaaaa");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(mr_state_pod_equal(a, b), _i <= 1);
	ck_assert_int_eq(mr_state_pod_equal(b, a), _i <= 1);
	ck_assert(mr_state_pod_equal(b, b));
	ck_assert(!mr_state_pod_equal(a, NULL));
	ck_assert(!mr_state_pod_equal(NULL, NULL));
	mr_state_free(other);
	mr_state_free(ref);
}
END_TEST

/* Neither a malformed preshared key nor an unterminated one reaches the
 * error detail (jansson's "near '...'" is cut). */
START_TEST(test_secrets_not_in_errors)
{
	static const char *const docs[] = {
		DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
			 "\"preshared_key\":\"SECRETSECRETSECRETSECRETSECRETSECRETSECRE=\"}")),
		DOC(POD1("{\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.64.1.2/32\"],"
			 "\"preshared_key\":\"SECRETSECRETSECRETSECRETSECRETSECRETSECRET\"}")),
		"{\"generation\":1,\"pods\":[{\"peers\":[{\"preshared_key\":\"SECRETSECRET",
		"{\"generation\":1,\"pods\":[{\"peers\":[{\"preshared_key\":\"SECRETSECRET\" x",
		"{\"generation\":1,\"pods\":[{\"peers\":[{\"preshared_key\":SECRETSECRET}]}]}",
	};
	mr_state *st;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		ck_assert_int_eq(mr_state_parse(&st, docs[i], strlen(docs[i]), 0), MR_EINVAL);
		ck_assert_msg(strstr(mr_error_message(), "SECRET") == NULL,
			      "secret in detail: %s", mr_error_message());
		ck_assert_msg(strstr(mr_error_message(), "ECRET") == NULL, "secret in detail: %s",
			      mr_error_message());
	}
}
END_TEST

/* A large node parses fast enough, and overlap checks stay n log n. */
START_TEST(test_large)
{
	const size_t pods = 200, peers = 100, big = 20000;
	size_t cap = 64 * 1024 * 1024, len = 0;
	char *doc = malloc(cap), *text;
	struct timespec t0, t1;
	mr_state *st;
	mr_key k;

	ck_assert_ptr_nonnull(doc);
	len += (size_t)snprintf(doc + len, cap - len, "{\"generation\":3,\"pods\":[");
	for (size_t i = 0; i < pods + 1; i++) {
		size_t n = i == pods ? big : peers;

		len += (size_t)snprintf(doc + len, cap - len,
					"%s{\"id\":\"pod%zu\",\"interface\":\"wg-%06zx\","
					"\"listen_port\":%zu,\"addresses\":[\"10.%zu.%zu.1/%d\"],"
					"\"peers\":[",
					i ? "," : "", i, i, 20000 + i, i == pods ? 200 : 64 + i / 256,
					i == pods ? 0 : i % 256, i == pods ? 16 : 24);
		for (size_t j = 0; j < n; j++) {
			char b64[MR_KEY_BASE64_SIZE];
			size_t host = j + 2;

			memset(&k, 0, sizeof(k));
			memcpy(k.bytes, &j, sizeof(j));
			k.bytes[31] = 1;
			mr_key_to_base64(b64, sizeof(b64), &k);
			len += (size_t)snprintf(doc + len, cap - len,
						"%s{\"public_key\":\"%s\",\"allowed_ips\":"
						"[\"10.%zu.%zu.%zu/32\"],\"enabled\":true}",
						j ? "," : "", b64, i == pods ? 200 : 64 + i / 256,
						i == pods ? host / 256 : i % 256,
						i == pods ? host % 256 : host);
		}
		len += (size_t)snprintf(doc + len, cap - len, "]}");
	}
	len += (size_t)snprintf(doc + len, cap - len, "]}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_mr_ok(mr_state_parse(&st, doc, len, MR_STATE_STRICT));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("state: parsed %zu pods, %zu peers (%zu bytes) in %.1f ms\n", pods + 1,
	       pods * peers + big, len,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	fflush(stdout);
	ck_assert_uint_eq(mr_state_pod_count(st), pods + 1);
	ck_assert_uint_eq(mr_state_pod_peer_count(mr_state_pod_at(st, pods)), big);
	ck_mr_ok(mr_state_format(st, &text));
	ck_assert_uint_eq(strlen(text), len);
	ck_assert(memcmp(text, doc, len) == 0);
	mr_state_free_text(text);
	mr_state_free(st);
	free(doc);
}
END_TEST

/* --- reports ---------------------------------------------------------------- */

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

	ck_assert_msg(j != NULL, "report part is not JSON: %s: %s", e.text, text);
	return j;
}

START_TEST(test_report_basic)
{
	mr_state_report *r = NULL;
	mr_key pk = key_of(K1), peer = key_of(K2);
	char **parts = NULL;
	size_t n = 0;
	json_t *j, *pod;

	ck_mr_ok(mr_state_report_new(&r, 12));
	ck_assert_uint_eq(mr_state_report_pod_count(r), 0);
	ck_mr_err(mr_state_report_add_peer(r, &peer, 1, 2, 3), MR_EINVAL); /* no pod yet */
	ck_mr_ok(mr_state_report_add_pod(r, "pd_aaaaaaaaaaaa", &pk, NULL));
	ck_mr_ok(mr_state_report_add_peer(r, &peer, 123456, UINT64_MAX, 1700000000));
	ck_mr_ok(mr_state_report_add_pod(r, "pd_bbbbbbbbbbbb", NULL,
					 "wireguard: \"quoted\" \\ and\nnew line \xc3\xa9"));
	ck_assert_uint_eq(mr_state_report_pod_count(r), 2);
	ck_mr_ok(mr_state_report_encode(r, 0, &parts, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_null(parts[1]);
	j = load(parts[0]);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "generation")), 12);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "pods")), 2);
	pod = json_array_get(json_object_get(j, "pods"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(pod, "id")), "pd_aaaaaaaaaaaa");
	ck_assert_str_eq(json_string_value(json_object_get(pod, "public_key")), K1);
	ck_assert(json_is_null(json_object_get(pod, "error")));
	{
		json_t *p = json_array_get(json_object_get(pod, "peers"), 0);

		ck_assert_str_eq(json_string_value(json_object_get(p, "public_key")), K2);
		ck_assert_int_eq(json_integer_value(json_object_get(p, "rx_bytes")), 123456);
		/* clamped to what the server stores */
		ck_assert_int_eq(json_integer_value(json_object_get(p, "tx_bytes")), INT64_MAX);
		ck_assert_int_eq(json_integer_value(json_object_get(p, "last_handshake")),
				 1700000000);
	}
	pod = json_array_get(json_object_get(j, "pods"), 1);
	ck_assert_ptr_null(json_object_get(pod, "public_key"));
	/* printable ASCII only, quotes survive escaping */
	ck_assert_str_eq(json_string_value(json_object_get(pod, "error")),
			 "wireguard: \"quoted\" \\ and?new line ??");
	ck_assert_uint_eq(json_array_size(json_object_get(pod, "peers")), 0);
	json_decref(j);
	mr_free(parts);

	/* generation -1: left out */
	mr_state_report_free(r);
	ck_mr_ok(mr_state_report_new(&r, -1));
	ck_mr_ok(mr_state_report_encode(r, 0, &parts, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(parts[0], "{\"pods\":[]}");
	mr_free(parts);
	mr_state_report_free(r);
}
END_TEST

START_TEST(test_report_bad)
{
	mr_state_report *r = NULL;
	mr_key pk = key_of(K1), zero = { { 0 } };
	char long_error[2000], **parts = (char **)&parts;
	size_t n = 99;
	json_t *j;

	ck_mr_err(mr_state_report_new(NULL, 1), MR_EINVAL);
	ck_mr_err(mr_state_report_new(&r, -2), MR_EINVAL);
	ck_mr_ok(mr_state_report_new(&r, 1));
	ck_mr_err(mr_state_report_add_pod(NULL, "p", NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_add_pod(r, NULL, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_add_pod(r, "", NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_add_pod(r, "a b", NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_add_pod(r, "p\"", NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_add_pod(r, "p", &zero, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_add_pod(r, "p", NULL, ""), MR_EINVAL);
	ck_assert_uint_eq(mr_state_report_pod_count(r), 0);
	memset(long_error, 'x', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	ck_mr_ok(mr_state_report_add_pod(r, "p", &pk, long_error));
	ck_mr_err(mr_state_report_add_peer(r, NULL, 0, 0, 0), MR_EINVAL);
	ck_mr_err(mr_state_report_add_peer(r, &zero, 0, 0, 0), MR_EINVAL);
	ck_mr_err(mr_state_report_add_peer(r, &pk, 0, 0, -1), MR_EINVAL);
	ck_mr_err(mr_state_report_add_device(r, NULL), MR_EINVAL);
	ck_mr_err(mr_state_report_encode(r, MR_STATE_REPORT_MIN - 1, &parts, &n), MR_EINVAL);
	ck_mr_err(mr_state_report_encode(NULL, 0, &parts, &n), MR_EINVAL);
	ck_mr_err(mr_state_report_encode(r, 0, NULL, &n), MR_EINVAL);
	ck_assert(parts == (char **)&parts && n == 99);
	ck_mr_ok(mr_state_report_encode(r, MR_STATE_REPORT_MIN, &parts, &n));
	j = load(parts[0]);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(
			      json_array_get(json_object_get(j, "pods"), 0), "error"))),
			  MR_STATE_ERROR_MAX);
	json_decref(j);
	mr_free(parts);
	/* duplicates are refused when encoding */
	ck_mr_ok(mr_state_report_add_peer(r, &pk, 1, 1, 0));
	ck_mr_ok(mr_state_report_add_peer(r, &pk, 2, 2, 0));
	ck_mr_err(mr_state_report_encode(r, 0, &parts, &n), MR_EEXIST);
	mr_state_report_free(r);
	ck_mr_ok(mr_state_report_new(&r, 1));
	ck_mr_ok(mr_state_report_add_pod(r, "p", NULL, NULL));
	ck_mr_ok(mr_state_report_add_pod(r, "q", NULL, NULL));
	ck_mr_ok(mr_state_report_add_pod(r, "p", NULL, NULL));
	ck_mr_err(mr_state_report_encode(r, 0, &parts, &n), MR_EEXIST);
	ck_assert(strstr(mr_error_message(), "pod p given twice"));
	mr_state_report_free(r);
	mr_state_report_free(NULL);
	ck_assert_uint_eq(mr_state_report_pod_count(NULL), 0);
}
END_TEST

/* Split under several limits: every part within the limit and valid JSON,
 * every peer exactly once, each pod's key and error only in its first part,
 * the generation in every part. */
static const size_t split_limits[] = { MR_STATE_REPORT_MIN, 3000, 4096, 65536, 0 };

START_TEST(test_report_split)
{
	const size_t pods = 4, peers[] = { 0, 700, 3, 1500 };
	size_t max = split_limits[_i] ? split_limits[_i] : MR_STATE_REPORT_MAX, n = 0;
	size_t seen[4] = { 0 }, heads[4] = { 0 };
	mr_state_report *r;
	char **parts, id[8];
	mr_key k;

	ck_mr_ok(mr_state_report_new(&r, 99));
	for (size_t i = 0; i < pods; i++) {
		snprintf(id, sizeof(id), "pod%zu", i);
		memset(&k, 0, sizeof(k));
		k.bytes[0] = (uint8_t)(i + 1);
		ck_mr_ok(mr_state_report_add_pod(r, id, &k, i == 2 ? "broken" : NULL));
		for (size_t j = 0; j < peers[i]; j++) {
			memset(&k, 0, sizeof(k));
			memcpy(k.bytes, &j, sizeof(j));
			k.bytes[31] = (uint8_t)(i + 1);
			ck_mr_ok(mr_state_report_add_peer(r, &k, j * 1000, j, j ? 1700000000 + j : 0));
		}
	}
	ck_mr_ok(mr_state_report_encode(r, split_limits[_i], &parts, &n));
	ck_assert_ptr_null(parts[n]);
	for (size_t p = 0; p < n; p++) {
		json_t *j = load(parts[p]), *pod;
		size_t x;

		ck_assert_msg(strlen(parts[p]) <= max, "part %zu: %zu bytes > %zu", p,
			      strlen(parts[p]), max);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "generation")), 99);
		json_array_foreach(json_object_get(j, "pods"), x, pod)
		{
			int i = json_string_value(json_object_get(pod, "id"))[3] - '0';
			json_t *peer;
			size_t y;

			ck_assert(i >= 0 && i < (int)pods);
			if (json_object_get(pod, "error")) {
				heads[i]++;
				ck_assert(json_object_get(pod, "public_key") != NULL);
				ck_assert_msg(seen[i] == 0, "pod head after its peers");
			}
			json_array_foreach(json_object_get(pod, "peers"), y, peer)
			{
				ck_assert_int_eq(json_integer_value(json_object_get(peer, "tx_bytes")),
						 (json_int_t)seen[i]);
				seen[i]++;
			}
		}
		json_decref(j);
	}
	for (size_t i = 0; i < pods; i++) {
		ck_assert_uint_eq(seen[i], peers[i]);
		ck_assert_uint_eq(heads[i], 1);
	}
	printf("state: report of %zu peers in %zu part(s) of at most %zu bytes\n",
	       (size_t)(0 + 700 + 3 + 1500), n, max);
	if (split_limits[_i] == 0)
		ck_assert_uint_eq(n, 1);
	mr_free(parts);
	mr_state_report_free(r);
}
END_TEST

START_TEST(test_report_device)
{
	mr_wg_device *dev;
	mr_wg_peer *peer;
	mr_state_report *r;
	mr_key k1 = key_of(K1), k2 = key_of(K2);
	char **parts;
	size_t n;
	json_t *j, *peers;

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k1, &peer));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k2, &peer));
	ck_mr_ok(mr_state_report_new(&r, 5));
	ck_mr_err(mr_state_report_add_device(r, dev), MR_EINVAL); /* no pod yet */
	ck_mr_ok(mr_state_report_add_pod(r, "p", NULL, NULL));
	ck_mr_ok(mr_state_report_add_device(r, dev));
	ck_mr_ok(mr_state_report_encode(r, 0, &parts, &n));
	j = load(parts[0]);
	peers = json_object_get(json_array_get(json_object_get(j, "pods"), 0), "peers");
	ck_assert_uint_eq(json_array_size(peers), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(peers, 1),
							   "public_key")),
			 K2);
	/* never read back: zero counters, no handshake */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(peers, 0),
							    "rx_bytes")),
			 0);
	ck_assert_ptr_null(json_object_get(json_array_get(peers, 0), "last_handshake"));
	json_decref(j);
	mr_free(parts);
	mr_state_report_free(r);
	mr_wg_device_free(dev);
}
END_TEST

/* --- against the store (the server's side) ---------------------------------- */

static char *store_ok(int rc, char *out)
{
	ck_assert_msg(rc == 0, "store call failed: %s", mr_error_message());
	return out;
}

static void take_str(char *text, const char *obj, const char *member, char *buf, size_t size)
{
	json_t *j = load(text);
	const char *v = json_string_value(json_object_get(json_object_get(j, obj), member));

	ck_assert_ptr_nonnull(v);
	snprintf(buf, size, "%s", v);
	json_decref(j);
}

START_TEST(test_store_roundtrip)
{
	char dir[] = "/tmp/check_state.XXXXXX", path[64], req[256], node[32], cust[32], pod[32];
	char *out, *desired, **parts, key[MR_KEY_BASE64_SIZE];
	mr_store *s;
	mr_state *st;
	mr_key priv, pub;
	mr_pod_spec *spec;
	mr_state_report *r;
	size_t n;
	json_t *j;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_mr_ok(mr_store_open(&s, path, MR_STORE_CREATE));
	out = NULL;
	store_ok(mr_store_node_register(s, "{\"name\":\"n1\",\"region\":\"r\",\"endpoint\":"
					   "\"vpn.example.com\"}", &out), out);
	take_str(out, "node", "id", node, sizeof(node));
	mr_free(out);
	store_ok(mr_store_customer_create(s, "{\"name\":\"acme\"}", &out), out);
	take_str(out, "customer", "id", cust, sizeof(cust));
	mr_free(out);
	snprintf(req, sizeof(req), "{\"customer\":\"%s\",\"node\":\"%s\"}", cust, node);
	store_ok(mr_store_pod_create(s, req, &out), out);
	take_str(out, "pod", "id", pod, sizeof(pod));
	mr_free(out);
	for (int i = 0; i < 3; i++) {
		mr_key_generate_private(&priv);
		mr_key_public_from_private(&pub, &priv);
		mr_key_to_base64(key, sizeof(key), &pub);
		snprintf(req, sizeof(req),
			 "{\"pod\":\"%s\",\"name\":\"dev%d\",\"public_key\":\"%s\"%s}", pod, i, key,
			 i == 1 ? ",\"preshared_key\":\"" PSK "\"" : "");
		store_ok(mr_store_peer_add(s, req, &out), out);
		mr_free(out);
	}

	/* The store's desired state is accepted strictly and gives a spec. */
	ck_mr_ok(mr_store_node_desired(s, node, &desired));
	ck_mr_ok(mr_state_parse(&st, desired, strlen(desired), MR_STATE_STRICT));
	ck_assert_uint_eq(mr_state_pod_count(st), 1);
	ck_assert_str_eq(mr_state_pod_get_id(mr_state_pod_at(st, 0)), pod);
	ck_assert_uint_eq(mr_state_pod_peer_count(mr_state_pod_at(st, 0)), 3);
	/* peers come ordered by id: one of them has the preshared key */
	ck_assert_int_eq(mr_state_peer_has_preshared_key(
			     mr_state_pod_peer_at(mr_state_pod_at(st, 0), 0)) +
			     mr_state_peer_has_preshared_key(
				 mr_state_pod_peer_at(mr_state_pod_at(st, 0), 1)) +
			     mr_state_peer_has_preshared_key(
				 mr_state_pod_peer_at(mr_state_pod_at(st, 0), 2)),
			 1);
	mr_key_generate_private(&priv);
	ck_mr_ok(mr_state_pod_spec(mr_state_pod_at(st, 0), &priv, &spec));
	ck_assert_uint_eq(mr_pod_spec_peer_count(spec), 3);
	mr_pod_spec_free(spec);
	/* Our canonical text of it is the store's text. */
	{
		char *text;

		ck_mr_ok(mr_state_format(st, &text));
		ck_assert_str_eq(text, desired);
		mr_state_free_text(text);
	}
	mr_free(desired);

	/* A report with the pod's key, split in tiny parts, is accepted and
	 * activates the pod; the counters add up. */
	mr_key_public_from_private(&pub, &priv);
	ck_mr_ok(mr_state_report_new(&r, mr_state_get_generation(st)));
	ck_mr_ok(mr_state_report_add_pod(r, pod, &pub, NULL));
	for (size_t i = 0; i < 3; i++) {
		mr_key pk;

		mr_state_peer_get_public_key(mr_state_pod_peer_at(mr_state_pod_at(st, 0), i), &pk);
		ck_mr_ok(mr_state_report_add_peer(r, &pk, 1000 * (i + 1), 10, 1700000000));
	}
	ck_mr_ok(mr_state_report_encode(r, MR_STATE_REPORT_MIN, &parts, &n));
	for (size_t i = 0; i < n; i++) {
		store_ok(mr_store_node_report(s, node, parts[i], &out), out);
		mr_free(out);
	}
	mr_free(parts);
	mr_state_report_free(r);
	snprintf(req, sizeof(req), "{\"id\":\"%s\"}", pod);
	store_ok(mr_store_pod_show(s, req, &out), out);
	j = load(out);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "pod"), "status")),
			 "active");
	mr_key_to_base64(key, sizeof(key), &pub);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "pod"), "public_key")), key);
	json_decref(j);
	mr_free(out);

	/* An error makes it failed; null clears it. */
	ck_mr_ok(mr_state_report_new(&r, mr_state_get_generation(st)));
	ck_mr_ok(mr_state_report_add_pod(r, pod, &pub, "pod wg-x: wireguard: \x01 boom"));
	ck_mr_ok(mr_state_report_encode(r, 0, &parts, &n));
	store_ok(mr_store_node_report(s, node, parts[0], &out), out);
	mr_free(out);
	mr_free(parts);
	mr_state_report_free(r);
	store_ok(mr_store_pod_show(s, req, &out), out);
	j = load(out);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "pod"), "status")),
			 "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "pod"), "error")),
			 "pod wg-x: wireguard: ? boom");
	json_decref(j);
	mr_free(out);

	mr_state_free(st);
	mr_store_close(s);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("desired");

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_getters);
	tcase_add_loop_test(tc, test_pod_equal, 0, sizeof(pod_variants) / sizeof(pod_variants[0]));
	tcase_add_test(tc, test_secrets_not_in_errors);
	tcase_add_test(tc, test_large);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_add_test(tc, test_report_basic);
	tcase_add_test(tc, test_report_bad);
	tcase_add_loop_test(tc, test_report_split, 0,
			    sizeof(split_limits) / sizeof(split_limits[0]));
	tcase_add_test(tc, test_report_device);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_test(tc, test_store_roundtrip);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mr_test_run_suite(state_suite());
}
