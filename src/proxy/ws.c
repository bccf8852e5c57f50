/* WebSocket frames (RFC 6455) of upgraded tunnels: client messages inspected whole, node
 * frames passed at their boundaries, nodegate's own frames injected between them. */
#include <string.h>

#include <event2/buffer.h>
#include <event2/util.h>
#include <openssl/evp.h>

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

/* Writes a frame head (FIN, OPCODE, LEN payload bytes; masked with KEY when not NULL) in
 * HEAD; its length. */
static size_t head_make(uint8_t head[WS_HEAD_MAX], bool fin, uint8_t opcode, uint64_t len,
                        const uint8_t *key)
{
	size_t h = 2;

	head[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
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
			head[h++] = (uint8_t)(len >> (8 * i));
	}
	if (key != NULL) {
		memcpy(head + h, key, 4);
		h += 4;
	}
	return h;
}

void ws_frame_write(struct evbuffer *out, uint8_t opcode, const void *payload, size_t len,
                    const uint8_t *key)
{
	uint8_t head[WS_HEAD_MAX], buf[CHUNK];
	size_t h = head_make(head, true, opcode, len, key);

	if (key == NULL) {
		evbuffer_add(out, head, h);
		evbuffer_add(out, payload, len);
		return;
	}
	evbuffer_add(out, head, h);
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
	w->n_plain = evbuffer_new();
}

void ws_deinit(struct ws *w)
{
	struct evbuffer **bufs[] = {&w->c2n.wait, &w->n2c.wait, &w->held, &w->plain, &w->n_plain};

	for (size_t i = 0; i < ARRAY_SIZE(bufs); i++) {
		if (*bufs[i] != NULL)
			evbuffer_free(*bufs[i]);
		*bufs[i] = NULL;
	}
}

/* ---- nodegate's own frames ------------------------------------------------------------ */

/* Whether the stream D's receiver reads is between frames (nothing of a frame half sent)
 * and between messages (no data frame may come between the fragments of one). */
static bool at_boundary(const struct ws_dir *d)
{
	return (!d->in_frame || !d->passing) && !d->msg_open;
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
	if (!w->client_closed && to_node != NULL)
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

/* The held node message (watched tunnels) goes through the callback: WHOLE, or its first
 * bytes. Passed whole, it goes on as one frame; passed on its first bytes, what was held goes
 * on and the rest of the message follows frame by frame; dropped, the rest is dropped too. */
static void node_decide(struct ws *w, bool whole, struct evbuffer *to_client)
{
	struct ws_dir *d = &w->n2c;
	uint8_t head[WS_HEAD_MAX];
	size_t len = evbuffer_get_length(w->n_plain);
	const char *msg = (const char *)evbuffer_pullup(w->n_plain, -1);
	bool pass = w->watch(w->arg, msg != NULL ? msg : "", len, whole);
	uint8_t op = w->n_opcode;

	w->n_holding = false;
	if (!pass) {
		evbuffer_drain(w->n_plain, len);
		w->n_dropping = !whole;
		return;
	}
	if (whole) {
		evbuffer_add(to_client, head, head_make(head, true, op, len, NULL));
		evbuffer_add_buffer(to_client, w->n_plain);
		return;
	}
	if (w->n_prev > 0) { /* the earlier frames as one, then the current one's head */
		evbuffer_add(to_client, head, head_make(head, false, op, w->n_prev, NULL));
		evbuffer_remove_buffer(w->n_plain, to_client, w->n_prev);
		op = WS_OP_CONT;
	}
	evbuffer_add(to_client, head, head_make(head, d->f.fin, op, d->f.len, NULL));
	evbuffer_add_buffer(to_client, w->n_plain);
	d->passing = true;
	d->msg_open = !d->f.fin;
}

/* A node frame head F was read (its HEAD_LEN bytes still at the front of IN). */
static void node_head(struct ws *w, const struct ws_frame *f, struct evbuffer *in,
                      struct evbuffer *to_client)
{
	struct ws_dir *d = &w->n2c;
	bool data = f->opcode < WS_OP_CLOSE;

	if (f->opcode == WS_OP_CLOSE)
		w->node_closed = true;
	if (data && f->opcode != WS_OP_CONT) { /* a message starts */
		w->n_holding = w->watch != NULL;
		w->n_dropping = false;
		w->n_opcode = f->opcode;
		evbuffer_drain(w->n_plain, evbuffer_get_length(w->n_plain));
	}
	d->f = *f;
	d->in_frame = true;
	d->remaining = f->len;
	d->passing = !data || (!w->n_holding && !w->n_dropping);
	if (data && w->n_holding)
		w->n_prev = evbuffer_get_length(w->n_plain);
	if (d->passing) {
		evbuffer_remove_buffer(in, to_client, f->head_len);
		if (data) /* the client reads a message in progress until its final frame */
			d->msg_open = !f->fin;
	} else {
		evbuffer_drain(in, f->head_len);
	}
}

/* Payload bytes of the current node frame: passed, dropped, or held (up to inspect_max:
 * a message that grows past it is decided on what was held). */
static void node_payload(struct ws *w, struct evbuffer *in, struct evbuffer *to_client)
{
	struct ws_dir *d = &w->n2c;
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < d->remaining ? avail : (size_t)d->remaining;

	if (d->passing) {
		evbuffer_remove_buffer(in, to_client, n);
	} else if (!w->n_holding) {
		evbuffer_drain(in, n);
	} else {
		size_t held = evbuffer_get_length(w->n_plain);
		size_t room = held < w->lim.inspect_max ? w->lim.inspect_max - held : 0;
		if (n > room)
			n = room;
		evbuffer_remove_buffer(in, w->n_plain, n);
		if (held + n >= w->lim.inspect_max && (d->remaining > n || !d->f.fin)) {
			d->remaining -= n;
			node_decide(w, false, to_client);
			return;
		}
	}
	d->remaining -= n;
}

/* The current node frame ended: a final fragment decides a held message. */
static void node_frame_end(struct ws *w, struct evbuffer *to_client)
{
	struct ws_dir *d = &w->n2c;

	d->in_frame = false;
	d->sealed = d->f.opcode == WS_OP_CLOSE; /* nothing of the node's follows */
	if (d->f.opcode >= WS_OP_CLOSE || !d->f.fin)
		return;
	d->msg_open = false;
	if (w->n_holding)
		node_decide(w, true, to_client);
	w->n_dropping = false;
}

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
			node_head(w, &f, in, to_client);
		} else {
			node_payload(w, in, to_client);
		}
		if (d->in_frame && d->remaining == 0)
			node_frame_end(w, to_client);
	}
}

/* ---- failover ------------------------------------------------------------------------- */

void ws_watch(struct ws *w, ws_watch_cb cb)
{
	w->watch = cb;
}

bool ws_can_switch_node(const struct ws *w)
{
	const struct ws_dir *n = &w->n2c, *c = &w->c2n;

	return !(n->in_frame && n->passing) && !n->msg_open && !(c->in_frame && c->passing) &&
	       !(w->in_msg && !w->holding);
}

void ws_node_reset(struct ws *w)
{
	struct ws_dir *n = &w->n2c;

	n->in_frame = n->passing = n->msg_open = n->sealed = false;
	n->remaining = 0;
	w->node_closed = false;
	w->n_holding = w->n_dropping = false;
	evbuffer_drain(w->n_plain, evbuffer_get_length(w->n_plain));
	evbuffer_drain(w->c2n.wait, evbuffer_get_length(w->c2n.wait));
	w->c2n.close_waiting = false;
}

void ws_reply(struct ws *w, const void *text, size_t len, struct evbuffer *to_client)
{
	dir_inject(&w->n2c, WS_OP_TEXT, text, len, false, to_client);
}

void ws_new_key(char key[WS_KEY_LEN + 1])
{
	unsigned char raw[16];

	evutil_secure_rng_get_bytes(raw, sizeof(raw));
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
}

void ws_accept_of(const char *key, size_t len, char accept[WS_ACCEPT_LEN + 1])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	accept[0] = '\0';
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, len) == 1 &&
	    EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20)
		EVP_EncodeBlock((unsigned char *)accept, md, 20);
	EVP_MD_CTX_free(ctx);
}

/* ---- scanning rippled messages -------------------------------------------------------- */

#define SCAN_CUT ((size_t)-1) /* the message ended inside the value */

static size_t skip_space(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

/* P[I] is a quote: the index after the closing one, or SCAN_CUT. */
static size_t skip_string(const char *p, size_t i, size_t n)
{
	for (i++; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '"')
			return i + 1;
	}
	return SCAN_CUT;
}

/* The index after the value at P[I] (objects and arrays skipped whole), or SCAN_CUT. */
static size_t skip_value(const char *p, size_t i, size_t n)
{
	unsigned depth = 0;

	while (i < n) {
		char c = p[i];
		if (c == '"') {
			i = skip_string(p, i, n);
			if (i == SCAN_CUT || depth == 0)
				return i;
		} else if (c == '{' || c == '[') {
			depth++;
			i++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return i; /* a scalar ended by the enclosing object */
			i++;
			if (--depth == 0)
				return i;
		} else if (depth == 0 &&
		           (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			return i;
		} else {
			i++;
		}
	}
	return SCAN_CUT;
}

static bool span_is(const char *p, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(p, lit, len) == 0;
}

/* The value V (LEN bytes) of a top-level key K (KLEN) into KEYS. */
static void scan_key(const char *k, size_t klen, const char *v, size_t len,
                     struct ws_msg_keys *keys)
{
	if (span_is(k, klen, "id")) {
		keys->id = v;
		keys->id_len = len;
	} else if (span_is(k, klen, "type")) {
		keys->ledger_closed = span_is(v, len, "\"ledgerClosed\"");
	} else if (span_is(k, klen, "ledger_index") && len > 0 && len <= 19) {
		uint64_t x = 0;
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9')
				return;
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		keys->has_ledger_index = true;
		keys->ledger_index = x;
	}
}

void ws_msg_scan(const char *p, size_t n, struct ws_msg_keys *k)
{
	size_t i = skip_space(p, 0, n);

	memset(k, 0, sizeof(*k));
	if (i >= n || p[i] != '{')
		return;
	for (i++;;) {
		i = skip_space(p, i, n);
		if (i < n && p[i] == '}') {
			k->complete = true;
			return;
		}
		if (i >= n || p[i] != '"')
			return;
		size_t ks = i + 1, ke = skip_string(p, i, n);
		if (ke == SCAN_CUT)
			return;
		i = skip_space(p, ke, n);
		if (i >= n || p[i] != ':')
			return;
		size_t vs = skip_space(p, i + 1, n), ve = skip_value(p, vs, n);
		if (ve == SCAN_CUT || ve == vs)
			return;
		scan_key(p + ks, ke - 1 - ks, p + vs, ve - vs, k);
		i = skip_space(p, ve, n);
		if (i < n && p[i] == ',')
			i++;
		else if (i >= n || p[i] != '}')
			return;
	}
}
