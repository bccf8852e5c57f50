/* Configuration: the option table, INI parsing (inih), defaults and cross-validation.
 * A file is parsed into a fresh struct conf; the caller swaps it in only when it is valid. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"

enum listener_mode {
	MODE_HTTP = 0,
	MODE_TCP,
	MODE_COUNT
};
extern const char *const listener_mode_names[MODE_COUNT];

/* Which method policy a listener applies. auto: rippled when its pool is checked as rippled. */
enum rpc_profile {
	RPC_PROFILE_AUTO = 0, /* the same as rippled (older files said auto) */
	RPC_PROFILE_RIPPLED,  /* rippled's admin methods denied unless the listener is admin */
	RPC_PROFILE_NONE,     /* only allow_methods / deny_methods */
	RPC_PROFILE_COUNT
};
extern const char *const rpc_profile_names[RPC_PROFILE_COUNT];

#define RPC_METHOD_MAX 48 /* longer method names are cut (they are not rippled's) */

enum balance_algo {
	BALANCE_ROUNDROBIN = 0,
	BALANCE_LEASTCONN,
	BALANCE_COUNT
};
extern const char *const balance_names[BALANCE_COUNT];

/* What a WebSocket session does when its node dies or leaves rotation. */
enum ws_failover {
	WS_FAILOVER_RESUBSCRIBE = 0, /* go on on another node, subscriptions replayed */
	WS_FAILOVER_CLOSE,           /* close 1001 (the node left rotation) or end (it died) */
	WS_FAILOVER_COUNT
};
extern const char *const ws_failover_names[WS_FAILOVER_COUNT];

struct conf_addr {
	struct sockaddr_storage ss; /* resolved address (IPv4 or IPv6) */
	socklen_t len;              /* 0 when unset */
	char host[256];             /* host part as written (for SNI and logs) */
	uint16_t port;
};

/* Durations are in milliseconds, sizes in bytes. */
struct conf_global {
	int log_level;             /* enum log_level */
	char *access_log;          /* path, "-" (stdout) or "off" */
	char *state_dir;           /* SQLite state: incidents, admin states (store.c) */
	char *instance;            /* this nodegate's name in a fleet; NULL: the hostname */
	uint64_t shutdown_timeout; /* in-flight requests get this long on SIGTERM */
	uint64_t shutdown_grace;   /* SIGTERM: /healthz 503 this long before listeners close */
	uint64_t workers;          /* data-plane threads; 0: one per online CPU */
	uint64_t max_connections;  /* client connections, all listeners together */
	uint64_t store_test_delay; /* tests only: the store's writer waits this before a batch */
	int log_format;            /* enum log_format: text, journal (<N> prefixes) or json */
	char *user;                /* drop root for this user once bound (priv.c); NULL: stay */
	char *group;               /* ... and this group; NULL: the user's primary group */
	bool allow_root;           /* yes: running as root without user is accepted */
	int line;                  /* of the [nodegate] header; 0: the file has none */
	int user_line, group_line; /* of user = and group = (the header's when unset) */
};

struct conf_listener {
	char *name;
	int line;                 /* line of the section header, for messages */
	struct conf_addr bind;    /* bind = HOST:PORT */
	int mode;                 /* enum listener_mode */
	char *pool;               /* pool = NAME (must exist) */
	char *tls_cert, *tls_key; /* both or neither: TLS termination */
	uint64_t max_connections; /* this listener's client connections */
	uint64_t overflow_max;    /* past it, this many told 503 at a time (overflow_connections) */
	uint64_t header_timeout;  /* whole request head must arrive within (408) */
	uint64_t client_timeout;  /* client inactivity: idle keep-alive and slow bodies */
	uint64_t tunnel_timeout;  /* inactivity of TCP relays and WebSocket tunnels */
	uint64_t max_header_size; /* request head bytes (431) */
	uint64_t max_uri_size;    /* request-target bytes (414) */
	uint64_t max_headers;     /* header fields per request (431) */
	uint64_t max_body_size;   /* request body bytes (413) */
	uint64_t max_requests;    /* requests per client connection, then close (0: no limit) */
	/* lingering close: after an answer sent before the request was read whole */
	uint64_t lingering_time;     /* at most this long reading and dropping (0: off) */
	uint64_t lingering_timeout;  /* closed when the client sends nothing for this long */
	uint64_t lingering_max_size; /* closed past this many bytes dropped */
	/* per client address (limit.c); 0: no limit */
	uint64_t max_conns_per_ip;    /* open connections; more are refused */
	uint64_t rate_per_ip;         /* requests per second (token bucket refill) */
	uint64_t burst_per_ip;        /* bucket size; 0: rate_per_ip */
	char *limit_exempt;           /* CIDR list never limited per address, or NULL */
	char *trusted_proxies;        /* CIDR list whose X-Forwarded-For is believed, or NULL */
	uint64_t max_tracked_clients; /* addresses remembered; least recently seen forgotten */
	char *allow_methods;          /* JSON-RPC methods allowed here, comma list (NULL: any) */
	char *deny_methods;           /* JSON-RPC methods refused here, comma list */
	int profile;                  /* enum rpc_profile: rippled denies its admin methods */
	bool admin;                   /* admin methods and secrets pass (loopback binds only) */
	uint64_t rpc_inspect_max;     /* JSON-RPC bodies up to this size are parsed and policed */
};

enum check_type {
	CHECK_RIPPLED = 0, /* GET /health (TLS, peer port), judged metric by metric */
	CHECK_HTTP,        /* expected status list, optional JSON field expectations */
	CHECK_TCP,         /* connect succeeds */
	CHECK_NONE,        /* never probed: always healthy unless passive signals say not */
	CHECK_COUNT
};
extern const char *const check_type_names[CHECK_COUNT];

/* The highest TLS version a health probe offers (check_tls_max_version). */
enum check_tls_max {
	CHECK_TLS_MAX_AUTO = 0, /* 1.3 until the node closes after an answer, then 1.2 */
	CHECK_TLS_MAX_12,
	CHECK_TLS_MAX_13,
	CHECK_TLS_MAX_COUNT
};
extern const char *const check_tls_max_names[CHECK_TLS_MAX_COUNT];

/* The TLS library of TLS 1.2 health probes (check_tls_library); TLS 1.3 probes use OpenSSL. */
enum check_tls_library {
	CHECK_TLS_LIB_GNUTLS = 0, /* a resumed TLS 1.2 handshake costs it less CPU */
	CHECK_TLS_LIB_OPENSSL,
	CHECK_TLS_LIB_COUNT
};
extern const char *const check_tls_library_names[CHECK_TLS_LIB_COUNT];

/* "N/DURATION": N observations within the window eject. */
struct conf_burst {
	uint32_t count;
	uint64_t window; /* ms */
};

/* Health settings of a pool; a backend may override any of them (a key written in the
 * [backend] section wins), and conf_load resolves each backend's full copy. */
struct conf_health {
	int check;                      /* enum check_type */
	uint64_t check_interval;        /* between probes of a backend in rotation */
	uint64_t check_interval_down;   /* between probes of a backend out of rotation */
	uint64_t check_timeout;         /* a probe slower than this is critical */
	struct conf_addr check_address; /* len 0: the traffic address */
	bool check_tls;                 /* probe over TLS (rippled's peer port) */
	bool check_tls_verify;        /* verify the probed certificate (rippled's is self-signed) */
	bool check_keepalive;         /* keep probe connections open when the node allows it */
	int check_tls_max_version;    /* enum check_tls_max */
	int check_tls_library;        /* enum check_tls_library: TLS 1.2 probes */
	char *check_path;             /* "/health" */
	char *check_expect_status;    /* http: "200" or a list "200,204" or "2xx" */
	char *check_expect_json;      /* http: "field=value,field2=value2" on the JSON body */
	uint64_t expect_peers;        /* fewer peers warn (rippled: 8; 0 peers is critical) */
	char *ignore;                 /* metrics not judged: "validated_ledger,peers" */
	uint64_t load_factor_warning; /* load_factor above this warns (rippled: 100) */
	uint64_t load_factor_critical;    /* at or above this is critical (rippled: 1000) */
	uint64_t ledger_age_warning;      /* validated ledger this old warns (rippled: 7s) */
	uint64_t ledger_age_critical;     /* this old is critical (rippled: 20s) */
	uint64_t freshness_interval;      /* server_info probe period; 0: off */
	uint64_t max_ledger_age;          /* freshness: older warns, twice as old is critical */
	uint64_t max_ledger_lag;          /* freshness: ledgers behind the pool's best; 0: off */
	uint64_t warning_fall;            /* consecutive warnings that eject (3) */
	struct conf_burst warning_burst;  /* warnings within a window that eject (4/5s) */
	struct conf_burst critical_burst; /* criticals within a window that eject (2/5s) */
	uint64_t rise;                    /* consecutive healthy probes to readmit (3) */
	uint64_t readmit_after;           /* and healthy this long (10s) */
	uint64_t slow_start;              /* weight ramps 10% -> 100% over this (60s) */
	uint64_t sync_grace;              /* a node back from unreachable syncs this long (15m) */
	uint64_t flap_hold_max;           /* a bouncing node's hold doubles up to this (5m) */
};

struct conf_pool {
	char *name;
	int line;
	int balance;               /* enum balance_algo */
	uint64_t retries;          /* extra attempts on other backends after a connect failure */
	uint64_t connect_timeout;  /* to connect to a backend (TCP and TLS handshake) */
	uint64_t response_timeout; /* from request sent to response head, and between reads */
	uint64_t slow_factor;      /* no answer in slow_factor x the pool's p99: node held */
	uint64_t slow_signal;      /* silent this long with requests waiting: a passive warning */
	uint64_t idle_timeout;     /* pooled keep-alive backend connections close after this */
	uint64_t ws_drain_grace;   /* node out of rotation: its WebSocket sessions close after */
	int ws_failover;           /* enum ws_failover: after the grace, or when the node dies */
	uint64_t max_idle;         /* pooled keep-alive connections per backend */
	uint64_t min_up;           /* fewer backends up than this: panic (least bad get traffic) */
	bool panic;                /* route to the least bad in panic (no: 503 instead) */

	/* the retry budget (budget.h) of retries after a node received the request */
	uint64_t retry_budget;        /* % of the window's requests; 0: no such retries */
	uint64_t retry_budget_window; /* the budget's sliding window */
	uint64_t retry_budget_min;    /* such retries always allowed per window */

	char *write_methods; /* extra methods never replayed (like submit), comma list */
	int urgency;         /* enum urgency: how urgent this pool's incidents are */
	char *escalation;    /* the [escalation NAME] of its incidents; NULL: none */
	struct conf_health health;
};

struct conf_backend {
	char *name;
	int line;
	char *pool;                /* pool = NAME (must exist) */
	struct conf_addr address;  /* address = HOST:PORT */
	uint64_t weight;           /* 0 keeps it configured but out of rotation */
	uint64_t max_conns;        /* connections to this backend (0: no limit) */
	bool tls;                  /* speak TLS to the backend */
	bool tls_verify;           /* verify the backend's certificate (default yes) */
	char *tls_ca;              /* CA file; the system store when unset */
	char *tls_sni;             /* SNI and name to verify; the address's host when unset */
	struct conf_health health; /* the pool's, with this backend's overrides applied */
};

/* What alerts and hooks react to (the `on` lists of [alert] and [hook]). */
enum notify_event {
	NOTIFY_INCIDENT_OPEN = 0, /* an incident opened (a node left rotation, a pool degraded) */
	NOTIFY_INCIDENT_UPDATE,   /* an open incident got worse, or ops posted an update */
	NOTIFY_INCIDENT_RESOLVED, /* the pool is operational again */
	NOTIFY_GRACE_EXPIRED,     /* a restarted node did not sync within its sync_grace */
	NOTIFY_BACKEND_DOWN,      /* a node left rotation outside a sync grace */
	NOTIFY_BACKEND_UP,        /* a node came back into rotation */
	NOTIFY_INCIDENT_ACK,      /* someone acknowledged an incident: its escalation stops */
	NOTIFY_MAINT_SCHEDULED,   /* a maintenance was announced (ops/maint.h) */
	NOTIFY_MAINT_STARTED,     /* its window began: its backends are in maint */
	NOTIFY_MAINT_ENDED,       /* its window ended: its backends are ready again */
	NOTIFY_UPDATE_OVERDUE,    /* an incident's promised next update did not come: remind ops */
	NOTIFY_COUNT
};
extern const char *const notify_event_names[NOTIFY_COUNT];

/* Severities of alerts, mapped from the pool status (PagerDuty's words). */
enum severity {
	SEV_INFO = 0, /* operational: a resolve, a node back */
	SEV_WARNING,  /* degraded */
	SEV_ERROR,    /* partial outage */
	SEV_CRITICAL, /* major outage */
	SEV_COUNT
};
extern const char *const severity_names[SEV_COUNT];

enum alert_type {
	ALERT_WEBHOOK = 0, /* POST of a JSON event */
	ALERT_SLACK,       /* Slack-compatible incoming webhook */
	ALERT_PAGERDUTY,   /* PagerDuty Events API v2 */
	ALERT_EMAIL,       /* SMTP through libcurl */
	ALERT_TYPE_COUNT
};
extern const char *const alert_type_names[ALERT_TYPE_COUNT];

/* Incident priorities, most urgent first (ITIL's impact x urgency). */
enum priority {
	PRIO_P1 = 0, /* the service is down for everyone and it matters now */
	PRIO_P2,
	PRIO_P3,
	PRIO_P4, /* a small loss where nothing is urgent */
	PRIO_COUNT
};
extern const char *const priority_names[PRIO_COUNT];

/* How urgent a pool's incidents are ([pool] urgency). */
enum urgency {
	URGENCY_HIGH = 0, /* a public production pool */
	URGENCY_LOW,      /* a testnet, a spare: it can wait */
	URGENCY_COUNT
};
extern const char *const urgency_names[URGENCY_COUNT];

/* The language of postmortem drafts' headings (ops/postmortem.h: enum pm_lang, same order). */
enum pm_language {
	PM_LANGUAGE_EN = 0,
	PM_LANGUAGE_JA,
	PM_LANGUAGE_COUNT
};
extern const char *const pm_language_names[PM_LANGUAGE_COUNT];

/* [status] console: the ops console (src/ops/console.c). */
enum console_mode {
	CONSOLE_AUTO = 0, /* on when an admin token is configured */
	CONSOLE_YES,      /* on; the admin token is required */
	CONSOLE_NO,       /* off: /ops/ answers 404 */
	CONSOLE_MODE_COUNT
};
extern const char *const console_mode_names[CONSOLE_MODE_COUNT];

struct conf_postmortem {
	bool enabled; /* the file has a [postmortem] section */
	int line;     /* of the section header, for messages */
	int language; /* enum pm_language */
};

/* [store]: where the state lives (ops/store.h): the embedded SQLite file or a PostgreSQL
 * server that a fleet of nodegates shares. */
struct conf_store {
	bool section; /* the file has a [store] section */
	int line;     /* of the section header, for messages */
	char *url;    /* sqlite:PATH or postgresql://...; NULL: sqlite:STATE_DIR/nodegate.db */
};

/* [subscriptions]: users subscribe on the status page by email or webhook (ops/subs.h). */
struct conf_subs {
	bool section;             /* the file has a [subscriptions] section */
	int line;                 /* of the section header, for messages */
	bool enabled;             /* the form, /subscribe and deliveries */
	char *smtp_url;           /* smtp:// or smtps://; NULL: no email subscriptions */
	bool smtp_starttls;       /* require STARTTLS on smtp:// */
	char *smtp_username;      /* SMTP AUTH login, NULL: none */
	char *smtp_password_file; /* its password (first line) */
	bool smtp_tls_verify;     /* verify the SMTP server's certificate */
	char *from;               /* the sender of subscription mail */
	char *public_url;         /* the base of links in mail; [status] public_url when unset */
	uint64_t token_ttl;       /* a confirmation link works this long, and once */
	uint64_t per_address;     /* confirmation mails per address per address_window */
	uint64_t address_window;  /* ms */
	uint64_t global_rate;     /* confirmation mails per minute, all addresses */
	uint64_t max_subscribers; /* active and pending together */
	uint64_t max_pending;     /* waiting for their confirmation */
	bool webhooks;            /* webhook subscriptions (a challenge verifies the URL) */
	uint64_t timeout;         /* ms per delivery try */
	uint64_t retries;         /* tries after the first */
	uint64_t retry_backoff;   /* ms before the first retry, doubled each time */
	uint64_t queue_size;      /* messages waiting per queue (mail, webhooks) */
};

#define ESC_TIERS_MAX 5 /* tier1 .. tier5 of an [escalation] */

/* One tier of an escalation: its channels, told DELAY after the incident opened. */
struct conf_tier {
	char *channels; /* [alert NAME] names, comma separated (no blanks) */
	uint64_t after; /* ms after the incident opened */
};

/* [escalation NAME]: who is told of an unacknowledged incident, and when (escalate.c). */
struct conf_escalation {
	char *name;
	int line;
	char *tier[ESC_TIERS_MAX]; /* as written: "CHANNEL[,CHANNEL] [after DURATION]" */
	uint64_t repeat;           /* climbs of the whole ladder after the first */
	uint64_t repeat_interval;  /* from the start of one climb to the next */
	int page_min_priority;     /* enum priority: less urgent incidents stay at tier 1 */
	struct conf_tier tiers[ESC_TIERS_MAX]; /* parsed by conf_load */
	size_t n_tiers;
};

/* [alert NAME]: one alert channel (alert.c). */
struct conf_alert {
	char *name;
	int line;
	int type;               /* enum alert_type */
	char *url;              /* webhook, slack, pagerduty: where to POST */
	char *headers;          /* extra request headers "Name: value; Name: value" */
	char *headers_file;     /* more of them, one "Name: value" per line (tokens stay out) */
	char *routing_key;      /* pagerduty: the integration's routing key */
	char *routing_key_file; /* ... or read from this file */
	char *smtp_url;         /* email: smtp://host:port or smtps://host:port */
	char *from;             /* email: the sender address */
	char *to;               /* email: recipient addresses, comma separated */
	bool starttls;          /* email: require STARTTLS on smtp:// */
	char *username;         /* email: SMTP login */
	char *password_file;    /* email: the login's password, read from this file */
	bool tls_verify;        /* verify the receiver's certificate */
	char *tls_ca;           /* CA file for the receiver; the system store when unset */
	char *on;               /* events sent: enum notify_event names, comma separated */
	unsigned on_mask;       /* the same as bits (1 << NOTIFY_*), set by conf_load */
	int min_severity;       /* enum severity: quieter events are not sent */
	uint64_t rate_limit;    /* messages per minute at most (0: no limit); extra ones dropped */
	uint64_t timeout;       /* one delivery attempt */
	uint64_t retries;       /* further attempts after a failed one */
	uint64_t retry_backoff; /* wait before the first retry, doubled each time */
	uint64_t queue_size;    /* messages waiting per channel; more are dropped and counted */
};

/* [hook NAME]: a remediation program run on an event (hook.c). */
struct conf_hook {
	char *name;
	int line;
	char *on;                /* events: enum notify_event names, comma separated */
	unsigned on_mask;        /* the same as bits, set by conf_load */
	char *command;           /* argv, blank separated, "double quotes" group words */
	uint64_t timeout;        /* killed (SIGTERM, then SIGKILL) past this */
	char *pools;             /* only for these pools (comma list); NULL: all */
	char *backends;          /* only for these backends (comma list); NULL: all */
	uint64_t max_concurrent; /* runs of this hook at once; more are skipped */
};

/* Where a [mirror NAME] pushes its copy (the scheme of its url). */
enum mirror_kind {
	MIRROR_DIR = 0, /* file:///DIR: files written beside each other (temp file + rename) */
	MIRROR_WEBDAV,  /* http(s)://HOST/PATH/: HTTP PUT, MKCOL where a folder is missing */
	MIRROR_S3,      /* s3://BUCKET/PREFIX: PUT Object signed with AWS SigV4 (path style) */
	MIRROR_KIND_COUNT
};
extern const char *const mirror_kind_names[MIRROR_KIND_COUNT];

/* [mirror NAME]: a static copy of the status page pushed elsewhere (mirror.c). */
struct conf_mirror {
	char *name;
	int line;
	char *url;              /* file:///DIR, http(s)://HOST/PATH/ or s3://BUCKET/PREFIX */
	int kind;               /* enum mirror_kind, from url (conf_load) */
	char *endpoint;         /* s3: the server, http(s)://HOST[:PORT]; AWS's when unset */
	char *region;           /* s3: the SigV4 region */
	char *access_key;       /* s3: the access key id */
	char *secret_key;       /* s3: the secret key (or secret_key_file) */
	char *secret_key_file;  /* s3: ... read from this file's first line */
	char *username;         /* webdav: basic auth login; its password from password_file */
	char *password_file;    /* webdav: the password's file */
	char *public_url;       /* where readers reach the copy (the feeds' links) */
	uint64_t interval;      /* a push at least this often; more on every public change */
	uint64_t timeout;       /* one transfer (HTTP, S3) */
	uint64_t retry_backoff; /* the first retry after a failed push, doubled up to interval */
	bool tls_verify;        /* verify the server's certificate */
	char *tls_ca;           /* CA file for the server; the system store when unset */
};

/* [status]: the status listener (status.c). Without the section there is none. */
#define CONF_STATUS_TEXTS 7 /* enum words_kind (ops/words.h): WK_COUNT */
struct conf_status {
	bool enabled;                  /* the file has a [status] section */
	int line;                      /* of the section header, for messages */
	struct conf_addr bind;         /* where /, /api, /metrics and /healthz are served */
	char *title;                   /* shown on the page and in /api/status */
	bool public_backend_details;   /* backend addresses in /api/status and on the page */
	char *admin_token_file;        /* the admin API's bearer token; NULL: no admin API */
	char *public_url;              /* the page's address as users reach it (alerts link it) */
	char *ack_key_file;            /* HMAC key of acknowledgement links; NULL: made at start */
	uint64_t ack_link_ttl;         /* an acknowledgement link works this long */
	int language;                  /* enum words_lang (ops/words.h): the public strings */
	char *text[CONF_STATUS_TEXTS]; /* per enum words_kind: ops' template, NULL: the built-in */
	char *notice_file;             /* a notice/FAQ shown on the page (Markdown subset) */
	char *notice;                  /* its text, read at load (NULL: none) */
	uint64_t chart_bucket;         /* tests only: the short chart's bucket (5 min) */
	int console;                   /* enum console_mode: the ops console at /ops/ */
	uint64_t console_session_ttl;  /* a console login lasts this long */
	uint64_t max_connections;      /* status clients at once; more are told 503 */
	uint64_t header_timeout;       /* each request, head and body, must arrive within */
	uint64_t max_header_size;      /* request head bytes */
	uint64_t max_body_size;        /* request body bytes (413) */
};

struct conf {
	char *path;
	struct conf_global global;
	struct conf_status status;
	struct conf_postmortem postmortem;
	struct conf_subs subs;
	struct conf_store store;
	struct conf_listener *listeners;
	size_t n_listeners;
	struct conf_pool *pools;
	size_t n_pools;
	struct conf_backend *backends;
	size_t n_backends;
	struct conf_alert *alerts;
	size_t n_alerts;
	struct conf_hook *hooks;
	size_t n_hooks;
	struct conf_escalation *escalations;
	size_t n_escalations;
	struct conf_mirror *mirrors;
	size_t n_mirrors;
};

/* Every message reads "FILE:LINE: [section] key: what is wrong (what was expected)". */
#define CONF_MAX_ERRORS 100
struct conf_errors {
	char *msg[CONF_MAX_ERRORS];
	size_t n;
	size_t dropped; /* errors past CONF_MAX_ERRORS */
};
void conf_errors_deinit(struct conf_errors *e);

/* Parses, applies defaults and cross-validates PATH. On success *out owns a new conf;
 * on failure *out is NULL and errs holds every error found. */
int conf_load(const char *path, struct conf **out, struct conf_errors *errs) WUR;
void conf_free(struct conf *c);
#define CONF_FREE(c)                                                                               \
	do {                                                                                       \
		conf_free(c);                                                                      \
		(c) = NULL;                                                                        \
	} while (0)

const struct conf_pool *conf_find_pool(const struct conf *c, const char *name);
const struct conf_alert *conf_find_alert(const struct conf *c, const char *name);
const struct conf_escalation *conf_find_escalation(const struct conf *c, const char *name);
/* Whether [alert NAME] is a channel of some escalation tier (escalations alone tell it of
 * incidents). */
bool conf_alert_escalated(const struct conf *c, const char *name);
/* A hook's command split into words (blanks separate, "double quotes" group, \\ and \"
 * escape inside them): a NULL-terminated array in one allocation (free it), or NULL with
 * the reason in err. */
char **conf_split_command(const char *command, char *err, size_t errlen);

/* Deep copy of a health block (its strings duplicated), for holders that outlive the conf;
 * on failure DST holds nothing to free. conf_health_deinit frees the strings. */
int conf_health_copy(struct conf_health *dst, const struct conf_health *src) WUR;
void conf_health_deinit(struct conf_health *h);

/* Value parsers (the option table's, exported for the unit tests). Each writes the reason
 * into err on failure. Durations: "250ms", "2s", "15m", "1h", "1d"; a bare number is
 * seconds. Sizes: "512", "16k", "1m", "1g" (powers of 1024). */
int conf_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen) WUR;
int conf_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen) WUR;
int conf_parse_bool(const char *s, bool *out, char *err, size_t errlen) WUR;
/* Bursts: "COUNT/DURATION", like "4/5s", with a count 1..CONF_BURST_MAX; the window's
 * limits are the option's. */
#define CONF_BURST_MAX 16 /* health.h keeps this many timestamps per verdict kind */
int conf_parse_burst(const char *s, struct conf_burst *out, char *err, size_t errlen) WUR;
/* HOST:PORT, [V6]:PORT or *:PORT (passive, for binds). Hostnames are resolved now. */
int conf_parse_addr(const char *s, bool passive, struct conf_addr *out, char *err,
                    size_t errlen) WUR;
/* "127.0.0.1:80" or "[::1]:80" */
void conf_addr_format(const struct conf_addr *a, char *buf, size_t len);

/* The option table: the source of truth for names, types, defaults, limits and docs. */
enum conf_type {
	CONF_STRING = 0,
	CONF_UINT,
	CONF_DURATION,
	CONF_SIZE,
	CONF_BOOL,
	CONF_ENUM,
	CONF_ADDR,
	CONF_BURST, /* struct conf_burst; min/max bound the window */
	CONF_TYPE_COUNT
};

struct conf_option {
	const char *section; /* "nodegate", "status", "listener", "pool", "backend", "alert",
	                      "hook", "escalation" */
	const char *name;
	enum conf_type type;
	size_t offset;            /* offsetof in the section's struct */
	const char *def;          /* default as written in the file; NULL: required/unset */
	uint64_t min, max;        /* numeric range, in the type's unit (ms, bytes) */
	const char *const *names; /* CONF_ENUM: the accepted words */
	size_t n_names;
	bool required;
	bool reloadable;     /* false: a changed value needs a restart (logged) */
	const char *help;    /* one line, also in etc/nodegate.ini */
	const char *metavar; /* placeholder in messages: NAME, PATH, HOST:PORT (NULL: by type) */
	/* A health option: written in [pool NAME], and in [backend NAME] as an override of
	 * its pool's value; offset is then in struct conf_health (conf_pool.health and
	 * conf_backend.health). */
	bool per_backend;
	bool or_zero;   /* 0 is accepted besides min..max: off, or "the same as ..." */
	bool test_only; /* a knob for the tests: never offered in an "expected one of" list */
	/* CONF_STRING: checks the syntax of a value and may tidy it in place (lists lose
	 * the blanks around their items); writes the reason into err. NULL: any text. */
	int (*validate)(char *value, char *err, size_t errlen);
};
extern const struct conf_option conf_options[];
extern const size_t conf_n_options;
