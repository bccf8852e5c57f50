/* WebSocket frames (RFC 6455) of upgraded tunnels: client messages inspected whole, node
 * frames passed at their boundaries, nodegate's own frames injected between them. */
#include <string.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include "util.h"
#include "stats.h"
#include "proxy/ws.h"

#define CHUNK 4096 /* payload bytes unmasked at a time */

const char *const ws_result_names[WS_RESULT_COUNT] = {
    [WS_OK] = "ok",     [WS_PAUSED] = "paused", [WS_CLOSING] = "closing",
    [WS_DONE] = "done", [WS_ERROR] = "error",
};

int ws_frame_head(const uint8_t *p, size_t n, struct ws_frame *f)
{
	size_t need = 2;

	if (n < 2)
		return 0;
	f->fin = (p[0] & 0x80) != 0;
	f->rsv = (uint8_t)((p[0] >> 4) & 7);
	f->opcode = p[0] & 0x0f;
	f->masked = (p[1] & 0x80) != 0;
	f->len = p[1] & 0x7f;
	need += f->len == 126 ? 2 : f->len == 127 ? 8 : 0;
	need += f->masked ? 4 : 0;
	if (n < need)
		return 0;
	if (f->len == 126) {
		f->len = (uint64_t)p[2] << 8 | p[3];
	} else if (f->len == 127) {
		if (p[2] & 0x80)
			return -1;
		f->len = 0;
		for (int i = 2; i < 10; i++)
			f->len = f->len << 8 | p[i];
	}
	if (f->masked)
		memcpy(f->key, p + need - 4, 4);
	f->head_len = need;
	return 1;
}

void ws_frame_write(struct evbuffer *out, uint8_t opcode, const void *payload, size_t len,
                    const uint8_t *key)
{
	uint8_t head[WS_HEAD_MAX], buf[CHUNK];
	size_t h = 2;

	head[0] = (uint8_t)(0x80 | opcode);
	head[1] = key != NULL ? 0x80 : 0;
	if (len < 126) {
		head[1] |= (uint8_t)len;
	} else if (len <= 0xffff) {
		head[1] |= 126;
		head[h++] = (uint8_t)(len >> 8);
		head[h++] = (uint8_t)len;
	} else {
		head[1] |= 127;
		for (int i = 7; i >= 0; i--)
			head[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (key == NULL) {
		evbuffer_add(out, head, h);
		evbuffer_add(out, payload, len);
		return;
	}
	memcpy(head + h, key, 4);
	evbuffer_add(out, head, h + 4);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < CHUNK ? len - done : CHUNK;
		for (size_t i = 0; i < n; i++)
			buf[i] = ((const uint8_t *)payload)[done + i] ^ key[(done + i) & 3];
		evbuffer_add(out, buf, n);
		done += n;
	}
}

void ws_init(struct ws *w, const struct ws_limits *lim, ws_inspect_cb inspect, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->lim = *lim;
	w->inspect = inspect;
	w->arg = arg;
	w->c2n.wait = evbuffer_new();
	w->n2c.wait = evbuffer_new();
	w->held = evbuffer_new();
	w->plain = evbuffer_new();
}

void ws_deinit(struct ws *w)
{
	struct evbuffer **bufs[] = {&w->c2n.wait, &w->n2c.wait, &w->held, &w->plain};

	for (size_t i = 0; i < ARRAY_SIZE(bufs); i++) {
		if (*bufs[i] != NULL)
			evbuffer_free(*bufs[i]);
		*bufs[i] = NULL;
	}
}

/* ---- nodegate's own frames ------------------------------------------------------------ */

/* Whether the stream D's receiver reads is between frames (nothing of a frame half sent). */
static bool at_boundary(const struct ws_dir *d)
{
	return !d->in_frame || !d->passing;
}

/* Sends what waits in D to OUT when D is at a boundary; a close seals D. */
static void dir_release(struct ws_dir *d, struct evbuffer *out)
{
	if (!at_boundary(d) || evbuffer_get_length(d->wait) == 0)
		return;
	evbuffer_add_buffer(out, d->wait);
	d->sealed = d->sealed || d->close_waiting;
	d->close_waiting = false;
}

/* Queues one frame of nodegate's on D (a masked one toward the node), then releases it if
 * the stream is at a boundary. */
static void dir_inject(struct ws_dir *d, uint8_t opcode, const void *payload, size_t len, bool mask,
                       struct evbuffer *out)
{
	uint8_t key[4];

	if (d->sealed || d->close_waiting)
		return;
	if (mask)
		evutil_secure_rng_get_bytes(key, sizeof(key));
	ws_frame_write(d->wait, opcode, payload, len, mask ? key : NULL);
	d->close_waiting = opcode == WS_OP_CLOSE;
	dir_release(d, out);
	if (evbuffer_get_length(d->wait) > 0)
		STAT_INC(ws_inject_waits); /* a frame of the other side is in progress */
}

/* Forgets the client message in progress (a close came first). */
static void msg_drop(struct ws *w)
{
	evbuffer_drain(w->held, evbuffer_get_length(w->held));
	evbuffer_drain(w->plain, evbuffer_get_length(w->plain));
	w->holding = false;
	w->in_msg = false;
}

bool ws_close(struct ws *w, uint16_t code, const char *reason, struct evbuffer *to_client,
              struct evbuffer *to_node)
{
	uint8_t p[WS_CONTROL_MAX];
	size_t rlen = strlen(reason);

	if (w->closing || w->node_closed)
		return false;
	w->closing = true;
	if (rlen > WS_CONTROL_MAX - 2)
		rlen = WS_CONTROL_MAX - 2;
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	memcpy(p + 2, reason, rlen);
	dir_inject(&w->n2c, WS_OP_CLOSE, p, rlen + 2, false, to_client);
	if (!w->client_closed)
		dir_inject(&w->c2n, WS_OP_CLOSE, p, rlen + 2, true, to_node);
	msg_drop(w);
	return true;
}

bool ws_client_blocked(const struct ws *w, const struct evbuffer *to_client)
{
	return evbuffer_get_length(w->n2c.wait) + evbuffer_get_length(to_client) >= WS_INJECT_MAX;
}

/* ---- client -> node ------------------------------------------------------------------- */

/* A protocol or size violation by the client: close with CODE (never WS_OK). */
static enum ws_result client_fail(struct ws *w, uint16_t code, const char *why,
                                  struct evbuffer *to_node, struct evbuffer *to_client)
{
	if (code == WS_CLOSE_TOO_BIG)
		STAT_INC(ws_close_too_big);
	else
		STAT_INC(ws_close_protocol);
	if (ws_close(w, code, why, to_client, to_node))
		return WS_CLOSING;
	w->closing = true; /* a close is under way already: the connection just ends */
	return WS_DONE;
}

/* The held message is complete: the callback decides where it goes. */
static void msg_decide(struct ws *w, struct evbuffer *to_node, struct evbuffer *to_client)
{
	struct evbuffer *reply = evbuffer_new();
	size_t len = evbuffer_get_length(w->plain);

	evbuffer_add(w->plain, "", 1); /* the callback gets a C string */
	const char *msg = (const char *)evbuffer_pullup(w->plain, -1);
	STAT_INC(ws_inspected);
	if (reply == NULL || !w->inspect(w->arg, msg, len, reply)) { /* no memory: refused */
		STAT_INC(ws_refused);
		evbuffer_drain(w->held, evbuffer_get_length(w->held));
		size_t rlen = reply != NULL ? evbuffer_get_length(reply) : 0;
		if (rlen > 0)
			dir_inject(&w->n2c, WS_OP_TEXT, evbuffer_pullup(reply, -1), rlen, false,
			           to_client);
	} else {
		evbuffer_add_buffer(to_node, w->held);
	}
	if (reply != NULL)
		evbuffer_free(reply);
	evbuffer_drain(w->plain, evbuffer_get_length(w->plain));
	w->holding = false;
}

/* A data frame head F starts or continues a message: checks and limits, then where its
 * bytes go (held or on to the node). */
static enum ws_result data_head(struct ws *w, const struct ws_frame *f, struct evbuffer *to_node,
                                struct evbuffer *to_client)
{
	if (f->opcode == WS_OP_CONT ? !w->in_msg : w->in_msg)
		return client_fail(w, WS_CLOSE_PROTOCOL, "bad fragmentation", to_node, to_client);
	if (!w->in_msg) {
		w->in_msg = true;
		w->msg_len = 0;
		w->holding = w->inspect != NULL && f->len <= w->lim.inspect_max;
		if (!w->holding)
			STAT_INC(ws_uninspected);
	}
	if (f->len > w->lim.message_max || w->msg_len + f->len > w->lim.message_max)
		return client_fail(w, WS_CLOSE_TOO_BIG, "message too big", to_node, to_client);
	w->msg_len += f->len;
	if (w->holding && w->msg_len > w->lim.inspect_max) {
		STAT_INC(ws_uninspected); /* grew past the limit: what was held goes on */
		evbuffer_add_buffer(to_node, w->held);
		evbuffer_drain(w->plain, evbuffer_get_length(w->plain));
		w->holding = false;
	}
	return WS_OK;
}

/* Checks the head F of a client frame; WS_OK when it may go on. */
static enum ws_result client_head(struct ws *w, const struct ws_frame *f, struct evbuffer *to_node,
                                  struct evbuffer *to_client)
{
	if (!f->masked) {
		STAT_INC(ws_unmasked);
		return client_fail(w, WS_CLOSE_PROTOCOL, "unmasked client frame", to_node,
		                   to_client);
	}
	if (f->rsv != 0)
		return client_fail(w, WS_CLOSE_PROTOCOL, "reserved bits set", to_node, to_client);
	if (f->opcode >= WS_OP_CLOSE) {
		if (f->opcode > WS_OP_PONG || !f->fin || f->len > WS_CONTROL_MAX)
			return client_fail(w, WS_CLOSE_PROTOCOL, "bad control frame", to_node,
			                   to_client);
		return WS_OK;
	}
	if (f->opcode > WS_OP_BINARY)
		return client_fail(w, WS_CLOSE_PROTOCOL, "unknown opcode", to_node, to_client);
	return data_head(w, f, to_node, to_client);
}

/* Payload bytes of the current client frame: held (and unmasked) or passed on. */
static void client_payload(struct ws *w, struct evbuffer *in, struct evbuffer *to_node)
{
	struct ws_dir *d = &w->c2n;
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < d->remaining ? avail : (size_t)d->remaining;

	if (w->closing) {
		if (d->passing) /* the node's stream ends this frame before nodegate's close */
			evbuffer_remove_buffer(in, to_node, n);
		else
			evbuffer_drain(in, n);
	} else if (!d->passing) {
		uint8_t buf[CHUNK];
		for (size_t done = 0; done < n;) {
			size_t k = n - done < CHUNK ? n - done : CHUNK;
			evbuffer_remove(in, buf, k);
			evbuffer_add(w->held, buf, k);
			for (size_t i = 0; i < k; i++)
				buf[i] ^= d->f.key[(d->off + i) & 3];
			evbuffer_add(w->plain, buf, k);
			d->off += k;
			done += k;
		}
	} else {
		evbuffer_remove_buffer(in, to_node, n);
	}
	d->remaining -= n;
}

/* A whole control frame of the client (it waits in IN until complete). */
static enum ws_result client_control(struct ws *w, const struct ws_frame *f, struct evbuffer *in,
                                     struct evbuffer *to_node)
{
	bool close = f->opcode == WS_OP_CLOSE;

	if (w->closing) {
		evbuffer_drain(in, f->head_len + f->len);
		return close ? WS_DONE : WS_OK;
	}
	if (w->client_closed) {
		evbuffer_drain(in, f->head_len + f->len); /* nothing follows a close */
		return WS_OK;
	}
	evbuffer_remove_buffer(in, to_node, f->head_len + f->len);
	if (close) /* a message in progress never ends */
		msg_drop(w);
	w->client_closed = close;
	w->c2n.sealed = close;
	return WS_OK;
}

/* One step on a frame head at the front of IN; false when more bytes are needed. */
static bool client_frame(struct ws *w, struct evbuffer *in, struct evbuffer *to_node,
                         struct evbuffer *to_client, enum ws_result *res)
{
	struct ws_dir *d = &w->c2n;
	size_t avail = evbuffer_get_length(in);
	struct ws_frame f;
	const uint8_t *p =
	    evbuffer_pullup(in, avail < WS_HEAD_MAX ? (ev_ssize_t)avail : WS_HEAD_MAX);
	int r = ws_frame_head(p, avail < WS_HEAD_MAX ? avail : WS_HEAD_MAX, &f);

	if (r == 0)
		return false;
	if (!w->closing && !w->client_closed) {
		*res = r < 0 ? client_fail(w, WS_CLOSE_TOO_BIG, "frame too big", to_node, to_client)
		             : client_head(w, &f, to_node, to_client);
		if (*res != WS_OK)
			return false;
	} else if (r < 0) {
		evbuffer_drain(in, avail); /* closing: the rest does not matter */
		return false;
	}
	if (f.opcode >= WS_OP_CLOSE) {
		if (avail < f.head_len + f.len)
			return false;
		*res = client_control(w, &f, in, to_node);
		return *res == WS_OK;
	}
	d->f = f;
	d->in_frame = true;
	d->passing = !w->holding && !w->closing && !w->client_closed;
	d->remaining = f.len;
	d->off = 0;
	if (d->passing)
		evbuffer_remove_buffer(in, to_node, f.head_len);
	else if (w->holding)
		evbuffer_remove_buffer(in, w->held, f.head_len);
	else
		evbuffer_drain(in, f.head_len);
	return true;
}

enum ws_result ws_from_client(struct ws *w, struct evbuffer *in, struct evbuffer *to_node,
                              struct evbuffer *to_client)
{
	struct ws_dir *d = &w->c2n;
	enum ws_result res = WS_OK;

	for (;;) {
		if (d->in_frame) {
			client_payload(w, in, to_node);
			if (d->remaining > 0)
				return WS_OK;
			d->in_frame = false;
			if (d->f.fin && d->f.opcode < WS_OP_CLOSE && w->in_msg) {
				w->in_msg = false;
				if (w->holding)
					msg_decide(w, to_node, to_client);
			}
		}
		dir_release(d, to_node);
		if (evbuffer_get_length(in) == 0)
			return WS_OK;
		if (!w->closing && ws_client_blocked(w, to_client))
			return WS_PAUSED;
		if (!client_frame(w, in, to_node, to_client, &res))
			return res;
	}
}

/* ---- node -> client ------------------------------------------------------------------- */

enum ws_result ws_from_node(struct ws *w, struct evbuffer *in, struct evbuffer *to_client)
{
	struct ws_dir *d = &w->n2c;
	struct ws_frame f;

	for (;;) {
		dir_release(d, to_client);
		size_t avail = evbuffer_get_length(in);
		if (d->sealed) {
			evbuffer_drain(in, avail);
			return WS_OK;
		}
		if (avail == 0)
			return WS_OK;
		if (!d->in_frame) {
			size_t n = avail < WS_HEAD_MAX ? avail : WS_HEAD_MAX;
			int r = ws_frame_head(evbuffer_pullup(in, (ev_ssize_t)n), n, &f);
			if (r < 0) {
				STAT_INC(ws_bad_node_frames);
				return WS_ERROR;
			}
			if (r == 0)
				return WS_OK;
			if (f.opcode == WS_OP_CLOSE)
				w->node_closed = true;
			d->f = f;
			d->in_frame = d->passing = true;
			d->remaining = f.len;
			evbuffer_remove_buffer(in, to_client, f.head_len);
			continue;
		}
		size_t n = avail < d->remaining ? avail : (size_t)d->remaining;
		evbuffer_remove_buffer(in, to_client, n);
		d->remaining -= n;
		if (d->remaining == 0) {
			d->in_frame = false;
			d->sealed = d->f.opcode == WS_OP_CLOSE; /* nothing of the node's follows */
		}
	}
}
