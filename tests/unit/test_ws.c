/* WebSocket frames: heads, masking, held and inspected client messages, refusals injected at
 * node frame boundaries, limits, closes, and bytes arriving split anywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "stats.h"
#include "proxy/ws.h"

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* The test's view of one relay: buffers on each side and what the callback saw. */
struct fx {
	struct ws w;
	struct evbuffer *cin, *nin, *to_node, *to_client;
	char seen[8][256]; /* messages the callback got */
	unsigned n_seen;
};

/* Refuses messages that contain "deny", answering with REFUSED:<message>. */
static bool decide(void *arg, const char *msg, size_t len, struct evbuffer *reply)
{
	struct fx *f = arg;

	assert_int_equal(msg[len], '\0');
	if (f->n_seen < 8)
		snprintf(f->seen[f->n_seen++], sizeof(f->seen[0]), "%.*s", (int)len, msg);
	if (strstr(msg, "deny") == NULL)
		return true;
	evbuffer_add_printf(reply, "REFUSED:%s", msg);
	return false;
}

static struct fx *fx_new(size_t inspect_max, uint64_t message_max)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ws_limits lim = {.inspect_max = inspect_max, .message_max = message_max};

	ws_init(&f->w, &lim, decide, f);
	f->cin = evbuffer_new();
	f->nin = evbuffer_new();
	f->to_node = evbuffer_new();
	f->to_client = evbuffer_new();
	return f;
}

static void fx_free(struct fx *f)
{
	ws_deinit(&f->w);
	evbuffer_free(f->cin);
	evbuffer_free(f->nin);
	evbuffer_free(f->to_node);
	evbuffer_free(f->to_client);
	free(f);
}

/* Appends a frame with FIN and OPCODE as given (masked with KEY when MASK). */
static void frame(struct evbuffer *out, bool fin, uint8_t opcode, const char *payload, size_t len,
                  bool mask)
{
	struct evbuffer *tmp = evbuffer_new();

	ws_frame_write(tmp, opcode, payload, len, mask ? KEY : NULL);
	uint8_t *p = evbuffer_pullup(tmp, -1);
	if (!fin)
		p[0] &= 0x7f;
	evbuffer_add_buffer(out, tmp);
	evbuffer_free(tmp);
}

static void cframe(struct evbuffer *out, bool fin, uint8_t op, const char *s)
{
	frame(out, fin, op, s, strlen(s), true);
}

static enum ws_result client(struct fx *f)
{
	return ws_from_client(&f->w, f->cin, f->to_node, f->to_client);
}

static enum ws_result node(struct fx *f)
{
	return ws_from_node(&f->w, f->nin, f->to_client);
}

/* Takes the next frame off OUT (a whole one must be there), unmasked into BUF. */
static struct ws_frame take(struct evbuffer *out, char *buf, size_t cap)
{
	struct ws_frame fr;
	size_t n = evbuffer_get_length(out);

	assert_int_equal(ws_frame_head(evbuffer_pullup(out, -1), n, &fr), 1);
	assert_true(fr.head_len + fr.len <= n);
	assert_true(fr.len < cap);
	evbuffer_drain(out, fr.head_len);
	evbuffer_remove(out, buf, (size_t)fr.len);
	for (size_t i = 0; fr.masked && i < fr.len; i++)
		buf[i] ^= (char)fr.key[i & 3];
	buf[fr.len] = '\0';
	return fr;
}

/* Keeps the first KEEP bytes in BUF; the rest is returned (a frame's later part). */
static struct evbuffer *split_off(struct evbuffer *buf, size_t keep)
{
	struct evbuffer *head = evbuffer_new(), *tail = evbuffer_new();

	evbuffer_remove_buffer(buf, head, keep);
	evbuffer_add_buffer(tail, buf);
	evbuffer_add_buffer(buf, head);
	evbuffer_free(head);
	return tail;
}

static bool same(struct evbuffer *a, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(a);

	return n == evbuffer_get_length(b) &&
	       (n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0);
}

static void test_head_lengths(void **state)
{
	static char big[70000];
	size_t lens[] = {0, 125, 126, 65535, 65536, sizeof(big)};
	size_t heads[] = {2, 2, 4, 4, 10, 10};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int m = 0; m < 2; m++) {
			struct evbuffer *b = evbuffer_new();
			struct ws_frame fr;
			ws_frame_write(b, WS_OP_BINARY, big, lens[i], m ? KEY : NULL);
			size_t n = evbuffer_get_length(b);
			const uint8_t *p = evbuffer_pullup(b, -1);
			assert_int_equal(ws_frame_head(p, n, &fr), 1);
			assert_int_equal(fr.len, lens[i]);
			assert_int_equal(fr.head_len, heads[i] + (m ? 4 : 0));
			assert_int_equal(n, fr.head_len + lens[i]);
			assert_true(fr.fin && fr.opcode == WS_OP_BINARY && fr.masked == (m == 1));
			/* a head cut short asks for more */
			assert_int_equal(ws_frame_head(p, fr.head_len - 1, &fr), 0);
			evbuffer_free(b);
		}
	const uint8_t bad[10] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
	struct ws_frame fr;
	assert_int_equal(ws_frame_head(bad, sizeof(bad), &fr), -1);
}

static void test_masked_message_goes_on_unchanged(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	struct evbuffer *orig = evbuffer_new();

	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"server_info\",\"id\":1}");
	evbuffer_add(orig, evbuffer_pullup(f->cin, -1), evbuffer_get_length(f->cin));
	assert_int_equal(client(f), WS_OK);
	assert_true(same(f->to_node, orig)); /* still masked, byte for byte */
	assert_int_equal(f->n_seen, 1);
	assert_string_equal(f->seen[0], "{\"command\":\"server_info\",\"id\":1}");
	assert_int_equal(evbuffer_get_length(f->to_client), 0);
	evbuffer_free(orig);
	fx_free(f);
}

static void test_fragments_with_ping_between(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	char buf[256];

	cframe(f->cin, false, WS_OP_TEXT, "{\"command\":");
	cframe(f->cin, true, WS_OP_PING, "p1");
	cframe(f->cin, false, WS_OP_CONT, "\"ledger\"");
	cframe(f->cin, true, WS_OP_CONT, ",\"id\":7}");
	assert_int_equal(client(f), WS_OK);
	assert_int_equal(f->n_seen, 1);
	assert_string_equal(f->seen[0], "{\"command\":\"ledger\",\"id\":7}");
	/* the ping went first (the message was held), then the three fragments as sent */
	struct ws_frame fr = take(f->to_node, buf, sizeof(buf));
	assert_int_equal(fr.opcode, WS_OP_PING);
	assert_string_equal(buf, "p1");
	fr = take(f->to_node, buf, sizeof(buf));
	assert_true(fr.opcode == WS_OP_TEXT && !fr.fin && fr.masked);
	fr = take(f->to_node, buf, sizeof(buf));
	assert_true(fr.opcode == WS_OP_CONT && !fr.fin);
	fr = take(f->to_node, buf, sizeof(buf));
	assert_true(fr.opcode == WS_OP_CONT && fr.fin);
	assert_string_equal(buf, ",\"id\":7}");
	assert_int_equal(evbuffer_get_length(f->to_node), 0);
	fx_free(f);
}

static void test_refusal_waits_for_node_frame_boundary(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	char buf[256];
	uint64_t waits = stats_mine->ws_inject_waits, refused = stats_mine->ws_refused;

	/* the node is half way through a frame toward the client */
	frame(f->nin, true, WS_OP_TEXT, "0123456789", 10, false);
	struct evbuffer *rest = split_off(f->nin, 7); /* head (2) + 5 payload bytes arrive */
	assert_int_equal(node(f), WS_OK);
	assert_int_equal(evbuffer_get_length(f->to_client), 7);

	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"deny_me\",\"id\":3}");
	assert_int_equal(client(f), WS_OK);
	assert_int_equal(evbuffer_get_length(f->to_node), 0); /* never reaches the node */
	assert_int_equal(evbuffer_get_length(f->to_client), 7);
	assert_int_equal(stats_mine->ws_refused, refused + 1);
	assert_int_equal(stats_mine->ws_inject_waits, waits + 1);

	evbuffer_add_buffer(f->nin, rest); /* the node's frame ends: the reply follows it */
	assert_int_equal(node(f), WS_OK);
	struct ws_frame fr = take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "0123456789");
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(fr.opcode == WS_OP_TEXT && fr.fin && !fr.masked);
	assert_string_equal(buf, "REFUSED:{\"command\":\"deny_me\",\"id\":3}");
	evbuffer_free(rest);
	fx_free(f);
}

static void test_refusal_at_boundary_goes_at_once(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	char buf[256];

	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"deny\"}");
	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"ping\"}");
	assert_int_equal(client(f), WS_OK);
	struct ws_frame fr = take(f->to_client, buf, sizeof(buf));
	assert_true(!fr.masked && fr.opcode == WS_OP_TEXT);
	assert_string_equal(buf, "REFUSED:{\"command\":\"deny\"}");
	fr = take(f->to_node, buf, sizeof(buf));
	assert_string_equal(buf, "{\"command\":\"ping\"}");
	fx_free(f);
}

/* Reads the close frame at the front of OUT: its code. */
static unsigned close_code(struct evbuffer *out, bool masked)
{
	char buf[256];
	struct ws_frame fr = take(out, buf, sizeof(buf));

	assert_int_equal(fr.opcode, WS_OP_CLOSE);
	assert_int_equal(fr.masked, masked);
	assert_true(fr.len >= 2);
	return (unsigned)((uint8_t)buf[0] << 8 | (uint8_t)buf[1]);
}

static void test_oversize_closes_1009(void **state)
{
	static char big[300];
	uint64_t before = stats_mine->ws_close_too_big;

	for (int fragmented = 0; fragmented < 2; fragmented++) {
		struct fx *f = fx_new(64, 200);
		if (fragmented) {
			frame(f->cin, false, WS_OP_TEXT, big, 150, true);
			frame(f->cin, true, WS_OP_CONT, big, 150, true);
		} else {
			frame(f->cin, true, WS_OP_BINARY, big, sizeof(big), true);
		}
		assert_int_equal(client(f), WS_CLOSING);
		assert_int_equal(close_code(f->to_client, false), WS_CLOSE_TOO_BIG);
		/* the first fragment went on (over inspect_max): the node gets a close too */
		if (fragmented)
			evbuffer_drain(f->to_node, 2 + 4 + 2 + 150);
		assert_int_equal(close_code(f->to_node, true), WS_CLOSE_TOO_BIG);
		/* the client answers the close: done */
		evbuffer_drain(f->cin, evbuffer_get_length(f->cin));
		cframe(f->cin, true, WS_OP_CLOSE, "");
		assert_int_equal(client(f), WS_DONE);
		assert_int_equal(evbuffer_get_length(f->to_node), 0);
		fx_free(f);
	}
	assert_int_equal(stats_mine->ws_close_too_big, before + 2);
}

static void test_unmasked_client_frame_closes_1002(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	uint64_t before = stats_mine->ws_unmasked;

	frame(f->cin, true, WS_OP_TEXT, "{\"command\":\"ping\"}", 18, false);
	assert_int_equal(client(f), WS_CLOSING);
	assert_int_equal(evbuffer_get_length(f->cin), 18 + 2); /* not consumed, not sent */
	assert_int_equal(close_code(f->to_client, false), WS_CLOSE_PROTOCOL);
	assert_int_equal(close_code(f->to_node, true), WS_CLOSE_PROTOCOL);
	assert_int_equal(stats_mine->ws_unmasked, before + 1);
	fx_free(f);
}

static void test_bad_fragmentation_closes_1002(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);

	cframe(f->cin, true, WS_OP_CONT, "x");
	assert_int_equal(client(f), WS_CLOSING);
	assert_int_equal(close_code(f->to_client, false), WS_CLOSE_PROTOCOL);
	fx_free(f);
}

static void test_over_inspect_limit_streams(void **state)
{
	struct fx *f = fx_new(16, 1 << 20);
	struct evbuffer *orig = evbuffer_new();
	uint64_t before = stats_mine->ws_uninspected;

	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"deny\",\"pad\":\"............\"}");
	evbuffer_add(orig, evbuffer_pullup(f->cin, -1), evbuffer_get_length(f->cin));
	/* the head alone already goes on: nothing is held */
	struct evbuffer *tail = evbuffer_new();
	evbuffer_remove_buffer(f->cin, tail, evbuffer_get_length(f->cin));
	evbuffer_remove_buffer(tail, f->cin, 8);
	assert_int_equal(client(f), WS_OK);
	assert_int_equal(evbuffer_get_length(f->to_node), 8);
	evbuffer_add_buffer(f->cin, tail);
	assert_int_equal(client(f), WS_OK);
	assert_true(same(f->to_node, orig));
	assert_int_equal(f->n_seen, 0);
	assert_int_equal(stats_mine->ws_uninspected, before + 1);
	evbuffer_free(tail);
	evbuffer_free(orig);
	fx_free(f);
}

static void test_close_waits_then_seals(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	char buf[256];

	frame(f->nin, true, WS_OP_TEXT, "abcdef", 6, false);
	struct evbuffer *rest = split_off(f->nin, 4);
	assert_int_equal(node(f), WS_OK);
	assert_true(
	    ws_close(&f->w, WS_CLOSE_GOING_AWAY, "node left rotation", f->to_client, f->to_node));
	assert_false(ws_close(&f->w, WS_CLOSE_GOING_AWAY, "again", f->to_client, f->to_node));
	assert_int_equal(evbuffer_get_length(f->to_client), 4); /* waits for the frame's end */
	assert_int_equal(close_code(f->to_node, true), WS_CLOSE_GOING_AWAY);
	evbuffer_add_buffer(f->nin, rest);
	frame(f->nin, true, WS_OP_TEXT, "late", 4, false); /* after the close: dropped */
	assert_int_equal(node(f), WS_OK);
	take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "abcdef");
	assert_int_equal(close_code(f->to_client, false), WS_CLOSE_GOING_AWAY);
	assert_int_equal(evbuffer_get_length(f->to_client), 0);
	/* client frames now are dropped until its close */
	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"ping\"}");
	assert_int_equal(client(f), WS_OK);
	cframe(f->cin, true, WS_OP_CLOSE, "\x03\xe9");
	assert_int_equal(client(f), WS_DONE);
	assert_int_equal(evbuffer_get_length(f->to_node), 0);
	evbuffer_free(rest);
	fx_free(f);
}

/* One stream of client frames (allowed, ping, a refused fragmented one, a binary one) and
 * node frames; fed whole, then split at every position (and byte by byte), the outputs are
 * the same. */
static void feed(struct fx *f, const uint8_t *c, size_t cn, const uint8_t *n, size_t nn,
                 size_t step)
{
	for (size_t i = 0; i < cn || i < nn; i += step) {
		if (i < nn) {
			evbuffer_add(f->nin, n + i, i + step <= nn ? step : nn - i);
			assert_int_equal(node(f), WS_OK);
		}
		if (i < cn) {
			evbuffer_add(f->cin, c + i, i + step <= cn ? step : cn - i);
			assert_int_equal(client(f), WS_OK);
		}
	}
}

static void test_split_everywhere(void **state)
{
	struct evbuffer *cs = evbuffer_new(), *ns = evbuffer_new();
	static char big[300];

	cframe(cs, true, WS_OP_TEXT, "{\"command\":\"server_info\",\"id\":1}");
	cframe(cs, true, WS_OP_PING, "hi");
	cframe(cs, false, WS_OP_TEXT, "{\"command\":\"de");
	cframe(cs, true, WS_OP_PONG, "");
	cframe(cs, true, WS_OP_CONT, "ny\",\"id\":2}");
	frame(cs, true, WS_OP_BINARY, big, sizeof(big), true);
	frame(ns, true, WS_OP_TEXT, big, 200, false);
	frame(ns, true, WS_OP_PONG, "hi", 2, false);
	frame(ns, true, WS_OP_TEXT, "{}", 2, false);
	size_t cn = evbuffer_get_length(cs), nn = evbuffer_get_length(ns);
	const uint8_t *c = evbuffer_pullup(cs, -1), *n = evbuffer_pullup(ns, -1);

	struct fx *whole = fx_new(1024, 1 << 20);
	evbuffer_add(whole->cin, c, cn);
	assert_int_equal(client(whole), WS_OK);
	evbuffer_add(whole->nin, n, nn);
	assert_int_equal(node(whole), WS_OK);
	assert_int_equal(whole->n_seen, 3);
	for (size_t split = 1; split < cn; split++) {
		struct fx *f = fx_new(1024, 1 << 20);
		evbuffer_add(f->cin, c, split);
		assert_int_equal(client(f), WS_OK);
		evbuffer_add(f->cin, c + split, cn - split);
		assert_int_equal(client(f), WS_OK);
		evbuffer_add(f->nin, n, nn);
		assert_int_equal(node(f), WS_OK);
		assert_true(same(f->to_node, whole->to_node));
		assert_int_equal(f->n_seen, 3);
		assert_string_equal(f->seen[1], "{\"command\":\"deny\",\"id\":2}");
		fx_free(f);
	}
	struct fx *f = fx_new(1024, 1 << 20);
	feed(f, c, cn, n, nn, 1);
	assert_true(same(f->to_node, whole->to_node));
	/* the same frames reach the client, the refusal among the node's frames */
	assert_int_equal(evbuffer_get_length(f->to_client), evbuffer_get_length(whole->to_client));
	fx_free(f);
	fx_free(whole);
	evbuffer_free(cs);
	evbuffer_free(ns);
}

static void test_replies_bounded_pause_client(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	unsigned n = 0;

	/* the node is stuck mid-frame: refusals queue, and then the client input waits */
	frame(f->nin, true, WS_OP_TEXT, "0123456789", 10, false);
	struct evbuffer *tail = split_off(f->nin, 5);
	assert_int_equal(node(f), WS_OK);
	for (int i = 0; i < 2000; i++)
		cframe(f->cin, true, WS_OP_TEXT,
		       "{\"command\":\"deny\",\"pad\":\"................\"}");
	assert_int_equal(client(f), WS_PAUSED);
	assert_true(evbuffer_get_length(f->cin) > 0);
	assert_true(evbuffer_get_length(f->w.n2c.wait) < WS_INJECT_MAX + 256);
	assert_true(ws_client_blocked(&f->w, f->to_client));
	evbuffer_add_buffer(f->nin, tail);
	assert_int_equal(node(f), WS_OK);
	evbuffer_drain(f->to_client, evbuffer_get_length(f->to_client)); /* the client read */
	assert_false(ws_client_blocked(&f->w, f->to_client));
	while (client(f) == WS_PAUSED && n++ < 100)
		evbuffer_drain(f->to_client, evbuffer_get_length(f->to_client));
	assert_int_equal(evbuffer_get_length(f->cin), 0);
	assert_int_equal(evbuffer_get_length(f->to_node), 0);
	evbuffer_free(tail);
	fx_free(f);
}

/* ---- failover: watched node messages, the scan, the handshake key --------------------- */

/* Drops node messages that contain "drop"; records what it saw (WHOLE or a prefix). */
static bool watch(void *arg, const char *msg, size_t len, bool whole)
{
	struct fx *f = arg;

	if (f->n_seen < 8)
		snprintf(f->seen[f->n_seen++], sizeof(f->seen[0]), "%s%.*s",
		         whole ? "" : "PART:", (int)(len < 200 ? len : 200), msg);
	return memmem(msg, len, "drop", 4) == NULL;
}

static void test_refusal_waits_for_a_fragmented_node_message(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	char buf[256];

	/* the node's message is half sent: its first fragment went to the client */
	frame(f->nin, false, WS_OP_TEXT, "part1", 5, false);
	assert_int_equal(node(f), WS_OK);
	cframe(f->cin, true, WS_OP_TEXT, "{\"command\":\"deny\"}");
	assert_int_equal(client(f), WS_OK);
	/* a ping may come between fragments, nodegate's text frame may not */
	frame(f->nin, true, WS_OP_PING, "p", 1, false);
	frame(f->nin, true, WS_OP_CONT, "part2", 5, false);
	assert_int_equal(node(f), WS_OK);
	struct ws_frame fr = take(f->to_client, buf, sizeof(buf));
	assert_true(!fr.fin && fr.opcode == WS_OP_TEXT);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_int_equal(fr.opcode, WS_OP_PING);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(fr.fin && fr.opcode == WS_OP_CONT);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "REFUSED:{\"command\":\"deny\"}");
	fx_free(f);
}

static void test_watched_node_messages_held_whole_and_decided(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);
	char buf[256];

	ws_watch(&f->w, watch);
	frame(f->nin, true, WS_OP_TEXT, "keep me", 7, false);
	frame(f->nin, true, WS_OP_TEXT, "drop me", 7, false);
	/* fragmented, a ping between: the ping goes at once, the message whole after it */
	frame(f->nin, false, WS_OP_TEXT, "one ", 4, false);
	frame(f->nin, true, WS_OP_PING, "p", 1, false);
	struct evbuffer *rest = split_off(f->nin, evbuffer_get_length(f->nin));
	frame(rest, true, WS_OP_CONT, "two", 3, false);
	assert_int_equal(node(f), WS_OK);
	struct ws_frame fr = take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "keep me");
	fr = take(f->to_client, buf, sizeof(buf));
	assert_int_equal(fr.opcode, WS_OP_PING);
	assert_int_equal(evbuffer_get_length(f->to_client), 0); /* "one " is held */
	/* nodegate's reply may go while a message is held: it comes before it */
	cframe(f->cin, true, WS_OP_TEXT, "deny");
	assert_int_equal(client(f), WS_OK);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "REFUSED:deny");
	evbuffer_add_buffer(f->nin, rest);
	assert_int_equal(node(f), WS_OK);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(fr.fin && fr.opcode == WS_OP_TEXT && !fr.masked);
	assert_string_equal(buf, "one two");
	assert_int_equal(evbuffer_get_length(f->to_client), 0);
	assert_int_equal(f->n_seen, 4); /* keep, drop, the client's deny, one two */
	assert_string_equal(f->seen[1], "drop me");
	assert_string_equal(f->seen[3], "one two");
	evbuffer_free(rest);
	fx_free(f);
}

static void test_watched_long_messages_decided_on_their_start(void **state)
{
	struct fx *f = fx_new(16, 1 << 20);
	char buf[256], want[64];
	struct ws_frame fr;

	ws_watch(&f->w, watch);
	/* one long frame passed: its head again, what was held, then the rest as it comes */
	frame(f->nin, true, WS_OP_TEXT, "0123456789abcdefXYZ", 19, false);
	assert_int_equal(node(f), WS_OK);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(fr.fin && fr.len == 19);
	assert_string_equal(buf, "0123456789abcdefXYZ");
	assert_string_equal(f->seen[0], "PART:0123456789abcdef");
	/* three fragments over the limit: the held ones as one frame, then the rest */
	frame(f->nin, false, WS_OP_TEXT, "01234567", 8, false);
	frame(f->nin, false, WS_OP_CONT, "89abcdefgh", 10, false);
	frame(f->nin, true, WS_OP_CONT, "tail", 4, false);
	assert_int_equal(node(f), WS_OK);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(!fr.fin && fr.opcode == WS_OP_TEXT);
	assert_string_equal(buf, "01234567");
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(!fr.fin && fr.opcode == WS_OP_CONT);
	assert_string_equal(buf, "89abcdefgh");
	fr = take(f->to_client, buf, sizeof(buf));
	assert_true(fr.fin && fr.opcode == WS_OP_CONT);
	assert_string_equal(buf, "tail");
	/* dropped on its start: nothing of it, the next message whole */
	snprintf(want, sizeof(want), "drop%s", "-------------------------");
	frame(f->nin, true, WS_OP_TEXT, want, strlen(want), false);
	frame(f->nin, true, WS_OP_TEXT, "next", 4, false);
	assert_int_equal(node(f), WS_OK);
	fr = take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "next");
	assert_int_equal(evbuffer_get_length(f->to_client), 0);
	fx_free(f);
}

static void test_switch_node_only_between_messages(void **state)
{
	struct fx *f = fx_new(1024, 1 << 20);

	assert_true(ws_can_switch_node(&f->w));
	frame(f->nin, true, WS_OP_TEXT, "0123456789", 10, false);
	struct evbuffer *rest = split_off(f->nin, 4);
	assert_int_equal(node(f), WS_OK);
	assert_false(ws_can_switch_node(&f->w)); /* the client has half a node frame */
	evbuffer_drain(f->to_client, evbuffer_get_length(f->to_client));
	ws_watch(&f->w, watch);
	ws_node_reset(&f->w); /* (only to test the watched case next) */
	frame(f->nin, true, WS_OP_TEXT, "0123456789", 10, false);
	evbuffer_free(rest);
	rest = split_off(f->nin, 4);
	assert_int_equal(node(f), WS_OK);
	assert_true(ws_can_switch_node(&f->w)); /* held: nothing of it went on */
	ws_node_reset(&f->w);
	frame(f->nin, true, WS_OP_TEXT, "fresh", 5, false);
	assert_int_equal(node(f), WS_OK);
	char buf[64];
	take(f->to_client, buf, sizeof(buf));
	assert_string_equal(buf, "fresh");
	/* a client message held for inspection does not stop a switch */
	cframe(f->cin, false, WS_OP_TEXT, "{\"comm");
	assert_int_equal(client(f), WS_OK);
	assert_true(ws_can_switch_node(&f->w));
	evbuffer_free(rest);
	fx_free(f);
}

static void test_accept_key(void **state)
{
	char accept[WS_ACCEPT_LEN + 1], key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1];

	/* RFC 6455 section 1.3 */
	ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ws_new_key(key);
	ws_new_key(key2);
	assert_int_equal(strlen(key), WS_KEY_LEN);
	assert_true(key[22] == '=' && key[23] == '=');
	assert_string_not_equal(key, key2);
}

static void test_scan_rippled_messages(void **state)
{
	struct ws_msg_keys k;
	const char *lc = "{\"fee_base\":10,\"ledger_hash\":\"AB\\\"CD\",\"ledger_index\":92000001,"
	                 "\"nested\":{\"type\":\"x\",\"id\":9,\"ledger_index\":1},\"txn_count\":0,"
	                 "\"type\":\"ledgerClosed\",\"validated_ledgers\":\"1-92000001\"}";

	ws_msg_scan(lc, strlen(lc), &k);
	assert_true(k.complete && k.ledger_closed && k.has_ledger_index);
	assert_int_equal(k.ledger_index, 92000001);
	assert_null(k.id);
	const char *resp =
	    " { \"id\" : {\"a\":[1,2]} , \"result\":{\"ledger_index\":5,"
	    "\"type\":\"ledgerClosed\"},\"status\":\"success\",\"type\":\"response\"}";
	ws_msg_scan(resp, strlen(resp), &k);
	assert_true(k.complete && !k.ledger_closed && !k.has_ledger_index);
	assert_int_equal(k.id_len, strlen("{\"a\":[1,2]}"));
	assert_memory_equal(k.id, "{\"a\":[1,2]}", k.id_len);
	/* cut short: what came before the cut counts, a value cut in two does not */
	const char *cut = "{\"id\":\"nodegate-resubscribe\",\"result\":{\"big\":[1,2,3";
	ws_msg_scan(cut, strlen(cut), &k);
	assert_false(k.complete);
	assert_memory_equal(k.id, "\"nodegate-resubscribe\"", k.id_len);
	ws_msg_scan("{\"id\":12", 8, &k);
	assert_null(k.id);
	ws_msg_scan("{\"ledger_index\":\"7\",\"type\":\"ledgerClosed\"}", 42, &k);
	assert_true(k.ledger_closed && !k.has_ledger_index); /* a string is not a number here */
	static const char *const bad[] = {"", "[]", "x", "{\"a\"", "{\"a\":}", "{,}", "{\"id\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ws_msg_scan(bad[i], strlen(bad[i]), &k);
		assert_false(k.complete);
		assert_null(k.id);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_head_lengths),
	    cmocka_unit_test(test_masked_message_goes_on_unchanged),
	    cmocka_unit_test(test_fragments_with_ping_between),
	    cmocka_unit_test(test_refusal_waits_for_node_frame_boundary),
	    cmocka_unit_test(test_refusal_at_boundary_goes_at_once),
	    cmocka_unit_test(test_oversize_closes_1009),
	    cmocka_unit_test(test_unmasked_client_frame_closes_1002),
	    cmocka_unit_test(test_bad_fragmentation_closes_1002),
	    cmocka_unit_test(test_over_inspect_limit_streams),
	    cmocka_unit_test(test_close_waits_then_seals),
	    cmocka_unit_test(test_split_everywhere),
	    cmocka_unit_test(test_replies_bounded_pause_client),
	    cmocka_unit_test(test_refusal_waits_for_a_fragmented_node_message),
	    cmocka_unit_test(test_watched_node_messages_held_whole_and_decided),
	    cmocka_unit_test(test_watched_long_messages_decided_on_their_start),
	    cmocka_unit_test(test_switch_node_only_between_messages),
	    cmocka_unit_test(test_accept_key),
	    cmocka_unit_test(test_scan_rippled_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
