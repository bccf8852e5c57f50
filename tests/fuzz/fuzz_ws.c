/* libFuzzer target for the WebSocket relay: the input is cut into client and node pieces;
 * fed whole and in pieces, both runs must send the same bytes each way, and every frame
 * that reaches the node must be a masked, whole, well-formed one. Half the inputs watch the
 * node's messages (failover), which also runs the rippled message scan on them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "proxy/ws.h"

/* Refuses messages starting with 'd' (with a reply when the message is long enough). */
static bool decide(void *arg, const char *msg, size_t len, struct evbuffer *reply)
{
	CHECK(msg[len] == '\0');
	if (len == 0 || msg[0] != 'd')
		return true;
	if (len > 1)
		evbuffer_add(reply, msg, len);
	return false;
}

/* Watched node messages (failover): scanned as rippled messages, those starting with 'x'
 * dropped. */
static bool watch(void *arg, const char *msg, size_t len, bool whole)
{
	struct ws_msg_keys k;

	ws_msg_scan(msg, len, &k);
	CHECK(k.id == NULL || (k.id >= msg && k.id + k.id_len <= msg + len));
	return len == 0 || msg[0] != 'x';
}

struct run {
	struct ws w;
	struct evbuffer *cin, *nin, *to_node, *to_client;
	bool stopped; /* a close or an error: later bytes do not matter */
};

static void run_init(struct run *r, size_t inspect_max, uint64_t message_max, bool watched)
{
	struct ws_limits lim = {.inspect_max = inspect_max, .message_max = message_max};

	ws_init(&r->w, &lim, decide, NULL);
	if (watched)
		ws_watch(&r->w, watch);
	r->cin = evbuffer_new();
	r->nin = evbuffer_new();
	r->to_node = evbuffer_new();
	r->to_client = evbuffer_new();
	r->stopped = false;
}

static void run_deinit(struct run *r)
{
	ws_deinit(&r->w);
	evbuffer_free(r->cin);
	evbuffer_free(r->nin);
	evbuffer_free(r->to_node);
	evbuffer_free(r->to_client);
}

static void run_feed(struct run *r, bool to_client_side, const uint8_t *p, size_t n)
{
	enum ws_result res;

	if (r->stopped)
		return;
	if (to_client_side) {
		evbuffer_add(r->cin, p, n);
		res = ws_from_client(&r->w, r->cin, r->to_node, r->to_client);
		if (res == WS_PAUSED) /* the client read what was queued */
			evbuffer_drain(r->to_client, evbuffer_get_length(r->to_client));
	} else {
		evbuffer_add(r->nin, p, n);
		res = ws_from_node(&r->w, r->nin, r->to_client);
	}
	r->stopped = res != WS_OK && res != WS_PAUSED;
}

/* Every frame toward the node is masked and whole (a close may cut the last one short). */
static void check_node_stream(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b), off = 0;
	const uint8_t *p = evbuffer_pullup(b, -1);

	while (off < n) {
		struct ws_frame f;
		int r = ws_frame_head(p + off, n - off, &f);
		if (r <= 0)
			return;
		CHECK(f.masked);
		off += f.head_len + (f.len < n ? (size_t)f.len : n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, part;

	if (size < 2)
		return 0;
	size_t inspect_max = (size_t)(data[0] & 0x3f) * 8, split = data[1];
	uint64_t message_max = (uint64_t)(data[0] >> 6) * 1000 + 64;
	data += 2;
	size -= 2;
	/* the first SPLIT bytes (at most) are the node's, the rest the client's */
	size_t nn = split < size ? split : size;
	bool watched = (split & 1) != 0; /* node messages held and decided (failover) */
	struct ws_msg_keys k;
	ws_msg_scan((const char *)data, size, &k);
	run_init(&whole, inspect_max, message_max, watched);
	run_init(&part, inspect_max, message_max, watched);
	run_feed(&whole, false, data, nn);
	run_feed(&whole, true, data + nn, size - nn);
	for (size_t i = 0; i < nn; i += 3)
		run_feed(&part, false, data + i, nn - i < 3 ? nn - i : 3);
	for (size_t i = nn; i < size; i += 5)
		run_feed(&part, true, data + i, size - i < 5 ? size - i : 5);
	check_node_stream(whole.to_node);
	check_node_stream(part.to_node);
	if (!whole.stopped && !part.stopped &&
	    evbuffer_get_length(whole.to_client) < WS_INJECT_MAX) {
		size_t a = evbuffer_get_length(whole.to_node);
		CHECK(a == evbuffer_get_length(part.to_node));
		CHECK(a == 0 || memcmp(evbuffer_pullup(whole.to_node, -1),
		                       evbuffer_pullup(part.to_node, -1), a) == 0);
	}
	run_deinit(&whole);
	run_deinit(&part);
	return 0;
}
