/* WebSocket awareness (RFC 6455) for upgraded tunnels, pure logic on evbuffers: client
 * messages are parsed, held whole and inspected before they reach the node; node frames are
 * parsed only for their boundaries, where nodegate's own frames (refusals, close) go in.
 *
 *  client ─► ws_from_client() ─┬─ control frame, or a message over inspect_max ─► node
 *                              └─ data message held whole ─► inspect cb ─┬─ allowed ─► node
 *                                                                        └─ refused ─┐
 *  node ───► ws_from_node() ─► client ◄── reply frame, at a frame boundary ◄─────────┘
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define WS_HEAD_MAX    14  /* the longest frame head: 2 + 8 (length) + 4 (mask) */
#define WS_CONTROL_MAX 125 /* control frame payloads */
#define WS_INJECT_MAX                                                                              \
	(64 * 1024) /* nodegate's frames queued for the client before the                          \
	               client's reading pauses */

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Close codes nodegate sends. */
#define WS_CLOSE_GOING_AWAY 1001 /* the node left rotation: reconnect */
#define WS_CLOSE_PROTOCOL   1002 /* unmasked client frame, bad opcode or fragmentation */
#define WS_CLOSE_TOO_BIG    1009 /* a frame or message over the limit */
#define WS_CLOSE_TRY_LATER  1013 /* the client is over its rate_per_ip: come back later */

struct ws_frame {
	bool fin;
	uint8_t rsv; /* the three RSV bits (no extension is negotiated: must be 0) */
	uint8_t opcode;
	bool masked;
	uint8_t key[4];
	uint64_t len;    /* payload bytes */
	size_t head_len; /* 2 to 14 */
};

/* Parses the frame head at the front of P (N bytes): 1 when F is filled, 0 when more bytes
 * are needed, -1 when the head is invalid (a 64-bit length with its top bit set). */
int ws_frame_head(const uint8_t *p, size_t n, struct ws_frame *f);
/* Appends a whole frame (FIN set) to OUT; masked with KEY when KEY is not NULL. */
void ws_frame_write(struct evbuffer *out, uint8_t opcode, const void *payload, size_t len,
                    const uint8_t *key);

/* Decides one node data message of a watched tunnel (WebSocket failover): MSG (LEN bytes)
 * is the whole message (WHOLE), or its first inspect_max bytes when it is longer. True
 * sends it on to the client; false drops it (the rest of a longer one too). */
typedef bool (*ws_watch_cb)(void *arg, const char *msg, size_t len, bool whole);

/* Decides one complete client data message MSG (unmasked, LEN bytes, NUL-terminated at
 * MSG[LEN]): true lets its original frames go to the node; false drops them, and whatever
 * the callback appended to REPLY goes to the client as one text frame (nothing if empty). */
typedef bool (*ws_inspect_cb)(void *arg, const char *msg, size_t len, struct evbuffer *reply);

struct ws_limits {
	size_t inspect_max;   /* messages up to this size are held and inspected */
	uint64_t message_max; /* a client message (or frame) over this is closed with 1009 */
};

enum ws_result {
	WS_OK = 0,
	WS_PAUSED,  /* client bytes left in the input: too much waits for the client; call
	               again once the client output drained (or node frames moved) */
	WS_CLOSING, /* this call started a close (protocol error, size): arm the close timeout */
	WS_DONE,    /* the close handshake is over: flush what is queued, then close both */
	WS_ERROR,   /* the node's stream is not WebSocket: close both now */
	WS_RESULT_COUNT
};
extern const char *const ws_result_names[WS_RESULT_COUNT];

/* One direction's framing state, and nodegate's frames waiting for its next boundary. */
struct ws_dir {
	bool in_frame;         /* a head was consumed, payload bytes remain */
	bool passing;          /* the frame goes on piece by piece (not held, not dropped) */
	bool msg_open;         /* node side: a fragmented message is partly sent on, so
	                          nodegate's data frames wait for its final fragment */
	uint64_t remaining;    /* payload bytes of the frame still to come */
	uint64_t off;          /* payload bytes of the frame seen (for unmasking) */
	struct ws_frame f;     /* the frame in progress */
	struct evbuffer *wait; /* nodegate's frames for this stream's receiver, until a boundary */
	bool close_waiting;    /* WAIT holds a close frame */
	bool sealed;           /* a close went this way: no more frames follow it */
};

struct ws {
	struct ws_limits lim;
	ws_inspect_cb inspect; /* NULL: nothing is inspected */
	void *arg;
	struct ws_dir c2n;      /* client -> node */
	struct ws_dir n2c;      /* node -> client */
	bool in_msg;            /* between a message's first frame and its final fragment */
	bool holding;           /* that message is held for inspection */
	uint64_t msg_len;       /* its payload bytes so far */
	struct evbuffer *held;  /* its original frames (still masked) */
	struct evbuffer *plain; /* its unmasked payload */
	bool closing;           /* nodegate started a close: client frames are dropped */
	bool client_closed;     /* the client sent a close (passed to the node) */
	bool node_closed;       /* the node sent a close (passed to the client) */
	/* node messages of a watched tunnel: held whole (up to inspect_max) and decided */
	ws_watch_cb watch;        /* NULL: node frames pass unread */
	bool n_holding;           /* the node message in progress is held in n_plain */
	bool n_dropping;          /* it is dropped (decided on its first bytes) */
	uint8_t n_opcode;         /* its opcode */
	size_t n_prev;            /* payload bytes of its earlier frames, in n_plain */
	struct evbuffer *n_plain; /* its payload so far (node frames are not masked) */
};

/* LIM is copied; INSPECT may be NULL (messages pass uninspected). */
void ws_init(struct ws *w, const struct ws_limits *lim, ws_inspect_cb inspect, void *arg);
void ws_deinit(struct ws *w);
/* Moves client bytes from IN to TO_NODE as far as whole decisions allow; replies and close
 * frames for the client go to TO_CLIENT (or wait for a node frame boundary). Bytes of an
 * incomplete head or held message stay in IN or inside W. */
enum ws_result ws_from_client(struct ws *w, struct evbuffer *in, struct evbuffer *to_node,
                              struct evbuffer *to_client);
/* Moves node bytes from IN to TO_CLIENT unchanged, injecting nodegate's waiting frames at
 * frame boundaries; after nodegate's close went out, node bytes are dropped. */
enum ws_result ws_from_node(struct ws *w, struct evbuffer *in, struct evbuffer *to_client);
/* Starts a close: a close frame (CODE, REASON) to the client and a masked one to the node
 * (none when TO_NODE is NULL: no node), each at its stream's next frame boundary. False
 * when a close is under way already. */
bool ws_close(struct ws *w, uint16_t code, const char *reason, struct evbuffer *to_client,
              struct evbuffer *to_node);
/* Whether client reading should pause: nodegate's frames wait for the client (bounded). */
bool ws_client_blocked(const struct ws *w, const struct evbuffer *to_client);

/* ---- failover: another node behind the same client stream ---- */

#define WS_KEY_LEN    24 /* a Sec-WebSocket-Key: 16 random bytes in base64 */
#define WS_ACCEPT_LEN 28 /* a Sec-WebSocket-Accept: a SHA-1 in base64 */

/* Node messages are held whole (up to inspect_max) and go through CB, with W's arg. */
void ws_watch(struct ws *w, ws_watch_cb cb);
/* Whether both streams are between messages as far as the node is concerned: nothing of a
 * node frame or message half sent to the client, nothing of an unread client message half
 * sent to the node. Only then can another node take over. */
bool ws_can_switch_node(const struct ws *w);
/* Another node takes over (after ws_can_switch_node): the node side's framing starts afresh;
 * nodegate's frames waiting for the client stay, those for the old node are dropped. */
void ws_node_reset(struct ws *w);
/* A text frame of nodegate's for the client, at its stream's next boundary. */
void ws_reply(struct ws *w, const void *text, size_t len, struct evbuffer *to_client);
/* A new Sec-WebSocket-Key in KEY, and the Sec-WebSocket-Accept a node must answer in ACCEPT
 * (RFC 6455 4.2.2: base64 of the SHA-1 of the key and the protocol's GUID). */
void ws_new_key(char key[WS_KEY_LEN + 1]);
void ws_accept_of(const char *key, size_t len, char accept[WS_ACCEPT_LEN + 1]);

/* The top-level keys of a rippled message that a failover follows, found without parsing
 * into objects (no allocation; nested values are skipped). */
struct ws_msg_keys {
	const char *id; /* the "id" value as JSON text; NULL: none */
	size_t id_len;
	bool ledger_closed;    /* "type": "ledgerClosed" (a ledger stream message) */
	bool has_ledger_index; /* "ledger_index": a non-negative integer, in: */
	uint64_t ledger_index;
	bool complete; /* the object was read to its closing brace (else: cut short) */
};
/* Scans MSG (LEN bytes, possibly the first bytes only of a longer message) into K. */
void ws_msg_scan(const char *msg, size_t len, struct ws_msg_keys *k);
