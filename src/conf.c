/* Configuration: one option table drives parsing (inih), defaults, limits and the docs.
 * conf_load parses into a fresh struct, then cross-validates; every error names FILE:LINE. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "conf.h"
#include "proxy/http.h"
#include "proxy/limit.h"
#include "ops/notice.h"
#include "ops/words.h"

#define MS_S 1000ULL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define KIB  1024ULL
#define MIB  (1024 * KIB)
#define GIB  (1024 * MIB)

#define OPT_MAX     192       /* options in the table, at most (static assert below) */
#define NAME_MAXLEN 64        /* section names: [pool NAME] */
#define FILE_MAXLEN (1 << 20) /* a config file larger than this is a mistake */
#define SHOW_MAXLEN 64        /* longest value quoted back in a message */
#define MSG_MAXLEN  1024

const char *const listener_mode_names[MODE_COUNT] = {
    [MODE_HTTP] = "http",
    [MODE_TCP] = "tcp",
};

const char *const rpc_profile_names[RPC_PROFILE_COUNT] = {
    [RPC_PROFILE_AUTO] = "auto",
    [RPC_PROFILE_RIPPLED] = "rippled",
    [RPC_PROFILE_NONE] = "none",
};

const char *const balance_names[BALANCE_COUNT] = {
    [BALANCE_ROUNDROBIN] = "roundrobin",
    [BALANCE_LEASTCONN] = "leastconn",
};

const char *const ws_failover_names[WS_FAILOVER_COUNT] = {
    [WS_FAILOVER_RESUBSCRIBE] = "resubscribe",
    [WS_FAILOVER_CLOSE] = "close",
};

const char *const check_type_names[CHECK_COUNT] = {
    [CHECK_RIPPLED] = "rippled",
    [CHECK_HTTP] = "http",
    [CHECK_TCP] = "tcp",
    [CHECK_NONE] = "none",
};

const char *const check_tls_max_names[CHECK_TLS_MAX_COUNT] = {
    [CHECK_TLS_MAX_AUTO] = "auto",
    [CHECK_TLS_MAX_12] = "1.2",
    [CHECK_TLS_MAX_13] = "1.3",
};

const char *const check_tls_library_names[CHECK_TLS_LIB_COUNT] = {
    [CHECK_TLS_LIB_GNUTLS] = "gnutls",
    [CHECK_TLS_LIB_OPENSSL] = "openssl",
};

const char *const notify_event_names[NOTIFY_COUNT] = {
    [NOTIFY_INCIDENT_OPEN] = "incident_open",
    [NOTIFY_INCIDENT_UPDATE] = "incident_update",
    [NOTIFY_INCIDENT_RESOLVED] = "incident_resolved",
    [NOTIFY_GRACE_EXPIRED] = "grace_expired",
    [NOTIFY_BACKEND_DOWN] = "backend_down",
    [NOTIFY_BACKEND_UP] = "backend_up",
    [NOTIFY_INCIDENT_ACK] = "incident_acknowledged",
    [NOTIFY_MAINT_SCHEDULED] = "maintenance_scheduled",
    [NOTIFY_MAINT_STARTED] = "maintenance_started",
    [NOTIFY_MAINT_ENDED] = "maintenance_ended",
    [NOTIFY_UPDATE_OVERDUE] = "update_overdue",
};

const char *const priority_names[PRIO_COUNT] = {
    [PRIO_P1] = "P1",
    [PRIO_P2] = "P2",
    [PRIO_P3] = "P3",
    [PRIO_P4] = "P4",
};

const char *const console_mode_names[CONSOLE_MODE_COUNT] = {
    [CONSOLE_AUTO] = "auto",
    [CONSOLE_YES] = "yes",
    [CONSOLE_NO] = "no",
};

const char *const pm_language_names[PM_LANGUAGE_COUNT] = {
    [PM_LANGUAGE_EN] = "en",
    [PM_LANGUAGE_JA] = "ja",
};

const char *const urgency_names[URGENCY_COUNT] = {
    [URGENCY_HIGH] = "high",
    [URGENCY_LOW] = "low",
};

const char *const severity_names[SEV_COUNT] = {
    [SEV_INFO] = "info",
    [SEV_WARNING] = "warning",
    [SEV_ERROR] = "error",
    [SEV_CRITICAL] = "critical",
};

const char *const alert_type_names[ALERT_TYPE_COUNT] = {
    [ALERT_WEBHOOK] = "webhook",
    [ALERT_SLACK] = "slack",
    [ALERT_PAGERDUTY] = "pagerduty",
    [ALERT_EMAIL] = "email",
};

/* The metrics of rippled's /health that ignore = may name. */
static const char *const metric_names[] = {
    "amendment_blocked", "load_factor", "peers", "server_state", "validated_ledger",
};

/* Syntax checks of list values (the validate hook of the table), defined below. */
static int WUR valid_path(char *v, char *err, size_t errlen);
static int WUR valid_status_list(char *v, char *err, size_t errlen);
static int WUR valid_json_list(char *v, char *err, size_t errlen);
static int WUR valid_ignore(char *v, char *err, size_t errlen);
static int WUR valid_events(char *v, char *err, size_t errlen);
static int WUR valid_names(char *v, char *err, size_t errlen);
static int WUR valid_header_list(char *v, char *err, size_t errlen);
static int WUR valid_mails(char *v, char *err, size_t errlen);
static int WUR valid_cidrs(char *v, char *err, size_t errlen);
static int WUR valid_methods(char *v, char *err, size_t errlen);
static int WUR valid_tier(char *v, char *err, size_t errlen);
static int WUR valid_account(char *v, char *err, size_t errlen);
static int WUR valid_template(char *v, char *err, size_t errlen);
static int WUR valid_store_url(char *v, char *err, size_t errlen);
static int WUR valid_instance(char *v, char *err, size_t errlen);

#define G(f)  offsetof(struct conf_global, f)
#define S(f)  offsetof(struct conf_status, f)
#define PM(f) offsetof(struct conf_postmortem, f)
#define SB(f) offsetof(struct conf_subs, f)
#define ST(f) offsetof(struct conf_store, f)
#define L(f)  offsetof(struct conf_listener, f)
#define P(f)  offsetof(struct conf_pool, f)
#define B(f)  offsetof(struct conf_backend, f)
#define H(f)  offsetof(struct conf_health, f)
#define A(f)  offsetof(struct conf_alert, f)
#define K(f)  offsetof(struct conf_hook, f)
#define E(f)  offsetof(struct conf_escalation, f)
#define MR(f) offsetof(struct conf_mirror, f)

/* Row makers for the table; RELOAD and RESTART say whether a reload may change it. */
#define RELOAD                true
#define RESTART               false
#define ROW(sec, nm, ty, off) .section = sec, .name = nm, .type = ty, .offset = off
#define NUM(sec, nm, ty, off, df, lo, hi, hp, ...)                                                 \
	{                                                                                          \
		ROW(sec, nm, ty, off), .def = df, .min = lo, .max = hi, .reloadable = RELOAD,      \
		                       .help = hp, __VA_ARGS__                                     \
	}
#define ENUM(sec, nm, off, df, words, n, rel, hp)                                                  \
	{                                                                                          \
		ROW(sec, nm, CONF_ENUM, off), .def = df, .names = words, .n_names = n,             \
		                              .reloadable = rel, .help = hp                        \
	}
#define BOOL(sec, nm, off, df, hp)                                                                 \
	{                                                                                          \
		ROW(sec, nm, CONF_BOOL, off), .def = df, .reloadable = RELOAD, .help = hp          \
	}
#define STR(sec, nm, off, df, mv, rel, hp)                                                         \
	{                                                                                          \
		ROW(sec, nm, CONF_STRING, off), .def = df, .metavar = mv, .reloadable = rel,       \
		                                .help = hp                                         \
	}
/* A comma list of JSON-RPC method names, unset by default. */
#define METHODS(sec, nm, off, hp)                                                                  \
	{                                                                                          \
		ROW(sec, nm, CONF_STRING, off), .metavar = "METHOD,...", .reloadable = RELOAD,     \
		                                .validate = valid_methods, .help = hp              \
	}
/* A health option of [pool NAME] that [backend NAME] may override (offset in struct
 * conf_health); all of them are reloadable. Extra fields (.names, .validate) follow HP. */
#define HEALTH(nm, ty, f, df, lo, hi, hp, ...)                                                     \
	{                                                                                          \
		ROW("pool", nm, ty, H(f)), .def = df, .min = lo, .max = hi, .reloadable = RELOAD,  \
		                           .per_backend = true, .help = hp, __VA_ARGS__            \
	}
#define ADDR(sec, nm, off, df, rel, hp)                                                            \
	{                                                                                          \
		ROW(sec, nm, CONF_ADDR, off), .def = df, .metavar = "HOST:PORT",                   \
		                              .reloadable = rel, .help = hp                        \
	}
#define REQUIRED(sec, nm, ty, off, mv, rel, hp, ...)                                               \
	{                                                                                          \
		ROW(sec, nm, ty, off), .required = true, .metavar = mv, .reloadable = rel,         \
		                       .help = hp, __VA_ARGS__                                     \
	}

/* A public template of [status] (ops/words.h): {pool}, {serving}, {total}. */
#define TEXT_ROW(kind, nm, hp)                                                                     \
	{                                                                                          \
		ROW("status", nm, CONF_STRING, S(text) + (kind) * sizeof(char *)),                 \
		    .metavar = "TEXT", .reloadable = RELOAD, .validate = valid_template,           \
		    .help = hp                                                                     \
	}

/* The source of truth. etc/nodegate.ini repeats every row (tests/unit/test_conf.c fails
 * when the two disagree): the help is the comment above the option there. */
const struct conf_option conf_options[] = {
    ENUM("nodegate", "log_level", G(log_level), "info", log_level_names, LOGL_COUNT, RELOAD,
         "error, warn, info or debug; info logs state changes, not requests"),
    STR("nodegate", "access_log", G(access_log), "-", "PATH", RELOAD,
        "one line per request: a file, - for stdout (journald, containers) or off"),
    STR("nodegate", "state_dir", G(state_dir), "state", "PATH", RESTART,
        "directory for persistent state (incidents), relative to the working directory"),
    {ROW("nodegate", "instance", CONF_STRING, G(instance)), .metavar = "NAME",
     .reloadable = RESTART, .validate = valid_instance,
     .help = "this nodegate's name in a fleet sharing a [store] (logs, incidents, /metrics); "
             "the hostname when unset"},
    NUM("nodegate", "shutdown_timeout", CONF_DURATION, G(shutdown_timeout), "10s", 0, MS_H,
        "on SIGTERM, in-flight requests get this long before connections close"),
    NUM("nodegate", "shutdown_grace", CONF_DURATION, G(shutdown_grace), "0", 0, MS_H,
        "on SIGTERM, /healthz answers 503 this long while the listeners still accept, so that "
        "keepalived or a load balancer in front moves clients away first; 0: close at once"),
    {ROW("nodegate", "workers", CONF_UINT, G(workers)), .def = "0", .min = 0, .max = 64,
     .reloadable = RESTART,
     .help = "data-plane threads, each with its own loop and connections; 0: one per online "
             "CPU; 1: a single loop shared with the control plane"},
    NUM("nodegate", "max_connections", CONF_UINT, G(max_connections), "10000", 1, 1000000,
        "client connections over all listeners; stays under the file-descriptor limit"),
    NUM("nodegate", "store_test_delay", CONF_DURATION, G(store_test_delay), "0", 0, 10 * MS_S,
        "tests only: the SQLite writer waits this long before each batch, as a slow disk",
        .test_only = true),
    ENUM("nodegate", "log_format", G(log_format), "auto", log_format_names, LOGF_COUNT, RELOAD,
         "auto (journal under systemd, else text), text, journal (<N> priorities) or json lines"),
    {ROW("nodegate", "user", CONF_STRING, G(user)), .metavar = "USER", .reloadable = RESTART,
     .validate = valid_account,
     .help = "started as root: bind, open files, then run as this user (hooks too); set by "
             "packages"},
    {ROW("nodegate", "group", CONF_STRING, G(group)), .metavar = "GROUP", .reloadable = RESTART,
     .validate = valid_account,
     .help = "the group to run as with user; the user's primary group when unset"},
    {ROW("nodegate", "allow_root", CONF_BOOL, G(allow_root)), .def = "no", .reloadable = RESTART,
     .help = "yes: keep running as root when user is unset (tests, containers); no: refuse"},

    ADDR("status", "bind", S(bind), "127.0.0.1:8404", RELOAD,
         "status page, JSON API, /metrics and /healthz; loopback unless a proxy fronts it"),
    NUM("status", "max_connections", CONF_UINT, S(max_connections), "256", 1, 100000,
        "status clients at once; past it they are told 503; kept out of the proxy's descriptors"),
    NUM("status", "header_timeout", CONF_DURATION, S(header_timeout), "10s", 1, MS_H,
        "each request, head and body, must arrive within this; stops slowloris"),
    NUM("status", "max_header_size", CONF_SIZE, S(max_header_size), "8k", KIB, MIB,
        "request head bytes; longer heads are refused"),
    NUM("status", "max_body_size", CONF_SIZE, S(max_body_size), "64k", 1, 16 * MIB,
        "request body bytes (admin API updates); longer bodies are refused (413)"),
    STR("status", "title", S(title), "nodegate status", "TEXT", RELOAD,
        "heading of the status page and title in /api/status"),
    BOOL("status", "public_backend_details", S(public_backend_details), "no",
         "show backend addresses on the page and in /api/status; no: names only"),
    STR("status", "public_url", S(public_url), NULL, "URL", RELOAD,
        "the page's address as users reach it, linked from alerts; http://BIND/ when unset"),
    STR("status", "admin_token_file", S(admin_token_file), NULL, "PATH", RELOAD,
        "file holding the admin API's bearer token; no admin API when unset"),
    STR("status", "ack_key_file", S(ack_key_file), NULL, "PATH", RELOAD,
        "key (first line) that signs acknowledgement links in alerts; a random one per start when "
        "unset"),
    ENUM("status", "language", S(language), "en", words_lang_names, WL_COUNT, RELOAD,
         "language of the public page, its JSON and what subscribers are told: en or ja"),
    TEXT_ROW(WK_DEGRADED, "text_degraded", "public title of an incident at worst degraded"),
    TEXT_ROW(WK_PARTIAL_OUTAGE, "text_partial_outage",
             "public title of an incident at worst a partial outage"),
    TEXT_ROW(WK_MAJOR_OUTAGE, "text_major_outage",
             "public title of an incident at worst a major outage"),
    TEXT_ROW(WK_RESTORED, "text_restored", "public line when an incident resolves"),
    TEXT_ROW(WK_MAINT_SCHEDULED, "text_maintenance_scheduled",
             "public line when a maintenance is announced"),
    TEXT_ROW(WK_MAINT_STARTED, "text_maintenance_started",
             "public line when a maintenance window begins"),
    TEXT_ROW(WK_MAINT_ENDED, "text_maintenance_ended",
             "public line when a maintenance window ends"),
    STR("status", "notice_file", S(notice_file), NULL, "PATH", RELOAD,
        "a notice or FAQ shown on the page: text with a small Markdown subset, read at load"),
    NUM("status", "chart_bucket", CONF_DURATION, S(chart_bucket), "5m", 100, MS_H,
        "tests only: the response-time chart's short bucket", .test_only = true),
    {ROW("store", "url", CONF_STRING, ST(url)), .metavar = "URL", .reloadable = RESTART,
     .validate = valid_store_url,
     .help = "sqlite:PATH (one nodegate) or postgresql://USER@HOST/DB (a fleet sharing one "
             "server); sqlite:STATE_DIR/nodegate.db when unset"},
    ENUM("postmortem", "language", PM(language), "en", pm_language_names, PM_LANGUAGE_COUNT, RELOAD,
         "headings of postmortem drafts (admin API and nodegate postmortem): en or ja"),
    NUM("status", "ack_link_ttl", CONF_DURATION, S(ack_link_ttl), "24h", MS_M, 30 * MS_D,
        "an acknowledgement link in an alert works this long, and once"),
    ENUM("status", "console", S(console), "auto", console_mode_names, CONSOLE_MODE_COUNT, RELOAD,
         "the ops console at /ops/ (login with the admin token): auto is yes when "
         "admin_token_file is set"),
    NUM("status", "console_session_ttl", CONF_DURATION, S(console_session_ttl), "8h", 100, 7 * MS_D,
        "an ops console login lasts this long; then log in again"),

    BOOL("subscriptions", "enabled", SB(enabled), "yes",
         "users subscribe on the status page (email, webhooks); no keeps subscribers, sends "
         "nothing"),
    STR("subscriptions", "smtp_url", SB(smtp_url), NULL, "URL", RELOAD,
        "smtp://HOST:PORT or smtps://HOST:PORT for subscription mail; no email subscriptions when "
        "unset"),
    BOOL("subscriptions", "smtp_starttls", SB(smtp_starttls), "no",
         "require STARTTLS on smtp:// (smtps:// is TLS from the start)"),
    STR("subscriptions", "smtp_username", SB(smtp_username), NULL, "NAME", RELOAD,
        "SMTP login name; its password comes from smtp_password_file"),
    STR("subscriptions", "smtp_password_file", SB(smtp_password_file), NULL, "PATH", RELOAD,
        "a file holding the SMTP password (first line)"),
    BOOL("subscriptions", "smtp_tls_verify", SB(smtp_tls_verify), "yes",
         "verify the SMTP server's certificate; no only for a test server"),
    {ROW("subscriptions", "from", CONF_STRING, SB(from)), .metavar = "ADDRESS",
     .reloadable = RELOAD, .validate = valid_mails,
     .help = "the sender of subscription mail (required with smtp_url)"},
    STR("subscriptions", "public_url", SB(public_url), NULL, "URL", RELOAD,
        "base of the confirmation and unsubscribe links; [status] public_url, else http://BIND/"),
    NUM("subscriptions", "token_ttl", CONF_DURATION, SB(token_ttl), "24h", MS_M, 30 * MS_D,
        "a confirmation link (or a webhook's challenge) works this long, and once"),
    NUM("subscriptions", "per_address", CONF_UINT, SB(per_address), "3", 1, 1000,
        "confirmation mails to one address per address_window; more are not sent (counted)"),
    NUM("subscriptions", "address_window", CONF_DURATION, SB(address_window), "1h", MS_S, 30 * MS_D,
        "the window of per_address"),
    NUM("subscriptions", "global_rate", CONF_UINT, SB(global_rate), "60", 1, 100000,
        "confirmation mails and challenges per minute over all addresses; more are not sent "
        "(counted)"),
    NUM("subscriptions", "max_subscribers", CONF_UINT, SB(max_subscribers), "10000", 1, 1000000,
        "subscribers kept, active and pending; a subscription past it is not taken (counted)"),
    NUM("subscriptions", "max_pending", CONF_UINT, SB(max_pending), "1000", 1, 1000000,
        "subscriptions waiting for their confirmation; expired ones are forgotten"),
    BOOL("subscriptions", "webhooks", SB(webhooks), "no",
         "webhook subscriptions: anyone reaching the page makes nodegate POST to a URL of theirs"),
    NUM("subscriptions", "timeout", CONF_DURATION, SB(timeout), "10s", 1, 5 * MS_M,
        "each delivery try (SMTP or webhook), connect included"),
    NUM("subscriptions", "retries", CONF_UINT, SB(retries), "3", 0, 20,
        "tries after the first before a message is dropped (counted)"),
    NUM("subscriptions", "retry_backoff", CONF_DURATION, SB(retry_backoff), "5s", 1, MS_H,
        "wait before the first retry, doubled for each next one"),
    NUM("subscriptions", "queue_size", CONF_UINT, SB(queue_size), "10000", 1, 1000000,
        "messages waiting per queue (mail, webhooks); more are dropped (counted)"),

    REQUIRED("listener", "bind", CONF_ADDR, L(bind), "HOST:PORT", RESTART,
             "address to listen on: HOST:PORT, [IPV6]:PORT or *:PORT (all IPv4 addresses)"),
    ENUM("listener", "mode", L(mode), "http", listener_mode_names, MODE_COUNT, RESTART,
         "http proxies HTTP/1.1 requests and WebSocket upgrades; tcp relays bytes"),
    REQUIRED("listener", "pool", CONF_STRING, L(pool), "NAME", RELOAD,
             "the [pool NAME] whose backends serve this listener"),
    STR("listener", "tls_cert", L(tls_cert), NULL, "PATH", RELOAD,
        "PEM certificate chain; set it with tls_key to terminate TLS on this listener"),
    STR("listener", "tls_key", L(tls_key), NULL, "PATH", RELOAD,
        "PEM private key of tls_cert; keep it readable by nodegate only"),
    NUM("listener", "max_connections", CONF_UINT, L(max_connections), "10000", 1, 1000000,
        "client connections on this listener; past it, newcomers are told 503 (tcp: closed)"),
    NUM("listener", "overflow_connections", CONF_UINT, L(overflow_max), "64", 0, 100000,
        "past max_connections, this many newcomers at a time get 503 and Retry-After; more wait "
        "in the kernel's backlog; 0: all wait"),
    NUM("listener", "header_timeout", CONF_DURATION, L(header_timeout), "10s", 1, MS_H,
        "the whole request head must arrive within this (408); stops slowloris"),
    NUM("listener", "client_timeout", CONF_DURATION, L(client_timeout), "60s", 1, MS_D,
        "client inactivity: idle keep-alive connections and stalled bodies close"),
    NUM("listener", "tunnel_timeout", CONF_DURATION, L(tunnel_timeout), "1h", 1, 7 * MS_D,
        "inactivity of TCP relays and WebSocket tunnels; subscriptions are quiet"),
    NUM("listener", "max_header_size", CONF_SIZE, L(max_header_size), "16k", KIB, MIB,
        "request head bytes (431); JSON-RPC heads are small"),
    NUM("listener", "max_uri_size", CONF_SIZE, L(max_uri_size), "8k", 64, MIB,
        "request-target bytes (414); at most max_header_size"),
    NUM("listener", "max_headers", CONF_UINT, L(max_headers), "100", 1, HTTP_MAX_HEADERS,
        "header fields per request (431); real clients send a dozen"),
    NUM("listener", "max_body_size", CONF_SIZE, L(max_body_size), "1m", 1, GIB,
        "request body bytes (413); JSON-RPC requests are far smaller"),
    NUM("listener", "max_requests", CONF_UINT, L(max_requests), "0", 0, 1000000000,
        "requests per client connection, then it is closed; 0 means no limit"),
    NUM("listener", "lingering_time", CONF_DURATION, L(lingering_time), "30s", 0, 10 * MS_M,
        "after an early answer (413...), the client's rest is read this long; 0: close"),
    NUM("listener", "lingering_timeout", CONF_DURATION, L(lingering_timeout), "5s", 1, MS_M,
        "a lingering connection closes when the client sends nothing for this long"),
    NUM("listener", "lingering_max_size", CONF_SIZE, L(lingering_max_size), "16m", 1, GIB,
        "a lingering connection closes once this many bytes of the client's were dropped"),
    NUM("listener", "max_conns_per_ip", CONF_UINT, L(max_conns_per_ip), "0", 0, 1000000,
        "open connections per client address, more are refused (429); 0 means no limit"),
    NUM("listener", "rate_per_ip", CONF_UINT, L(rate_per_ip), "0", 0, 1000000,
        "requests per second per client address, more get 429 slowDown; 0 means no limit"),
    NUM("listener", "burst_per_ip", CONF_UINT, L(burst_per_ip), "0", 1, 1000000,
        "requests a client may send at once above rate_per_ip; 0 means rate_per_ip",
        .or_zero = true),
    {ROW("listener", "limit_exempt", CONF_STRING, L(limit_exempt)), .metavar = "CIDR,...",
     .reloadable = RELOAD, .validate = valid_cidrs,
     .help = "client networks never limited per address, like 10.0.0.0/8, ::1"},
    {ROW("listener", "trusted_proxies", CONF_STRING, L(trusted_proxies)), .metavar = "CIDR,...",
     .reloadable = RELOAD, .validate = valid_cidrs,
     .help = "peers whose X-Forwarded-For names the client (its right-most untrusted entry)"},
    NUM("listener", "max_tracked_clients", CONF_UINT, L(max_tracked_clients), "65536", 1, 16777216,
        "client addresses remembered for the per-address limits (~100 bytes each)"),
    METHODS("listener", "allow_methods", L(allow_methods),
            "only these JSON-RPC methods pass (a comma list); all when unset"),
    METHODS("listener", "deny_methods", L(deny_methods),
            "JSON-RPC methods refused here (a comma list), whatever the profile"),
    ENUM("listener", "profile", L(profile), "rippled", rpc_profile_names, RPC_PROFILE_COUNT, RELOAD,
         "rippled refuses rippled's admin methods; none: only the lists (other daemons)"),
    BOOL("listener", "admin", L(admin), "no",
         "admin methods and secrets pass (allow/deny lists still apply); loopback binds only"),
    NUM("listener", "rpc_inspect_max", CONF_SIZE, L(rpc_inspect_max), "64k", KIB, MIB,
        "JSON-RPC bodies up to this size are read; rippled profile: larger ones are refused"),

    ENUM("pool", "balance", P(balance), "roundrobin", balance_names, BALANCE_COUNT, RELOAD,
         "roundrobin (smooth, weighted) or leastconn (fewest active, weighted)"),
    NUM("pool", "retries", CONF_UINT, P(retries), "2", 0, 10,
        "extra attempts on other backends after a connect failure"),
    NUM("pool", "retry_budget", CONF_UINT, P(retry_budget), "20", 0, 100,
        "retries of requests a node already received, in % of the pool's requests; 0: none"),
    NUM("pool", "retry_budget_window", CONF_DURATION, P(retry_budget_window), "10s", 10, MS_H,
        "the retry budget counts requests and retries over this sliding window"),
    NUM("pool", "retry_budget_min", CONF_UINT, P(retry_budget_min), "3", 0, 1000000,
        "retries per window allowed whatever the budget, so that a quiet pool still retries"),
    NUM("pool", "connect_timeout", CONF_DURATION, P(connect_timeout), "2s", 1, MS_M,
        "to connect to a backend, TLS handshake included; a node on the LAN answers fast"),
    NUM("pool", "response_timeout", CONF_DURATION, P(response_timeout), "30s", 1, MS_H,
        "from request sent to response head, and between reads; some RPC calls are slow"),
    NUM("pool", "slow_factor", CONF_UINT, P(slow_factor), "8", 0, 1000,
        "no answer in this many times the pool's p99: the node is held, reads go on; 0: off"),
    NUM("pool", "slow_signal", CONF_DURATION, P(slow_signal), "1s", 1, MS_H,
        "a node silent this long with requests waiting is reported to the health engine"),
    NUM("pool", "idle_timeout", CONF_DURATION, P(idle_timeout), "60s", 1, MS_H,
        "idle pooled connections close after this; keep it below the node's keep-alive"),
    NUM("pool", "ws_drain_grace", CONF_DURATION, P(ws_drain_grace), "5s", 0, MS_H,
        "WebSocket sessions on a node that left rotation close (1001) after this; 0: at once"),
    ENUM("pool", "ws_failover", P(ws_failover), "resubscribe", ws_failover_names, WS_FAILOVER_COUNT,
         RELOAD, "node dead or out after the grace: resubscribe (go on on another node) or close"),
    NUM("pool", "max_idle", CONF_UINT, P(max_idle), "1024", 0, 10000,
        "idle keep-alive connections kept per backend (enough for peak concurrency); 0: none"),
    ENUM("pool", "urgency", P(urgency), "high", urgency_names, URGENCY_COUNT, RELOAD,
         "high for a public production pool, low for a testnet or spare: part of the priority"),
    STR("pool", "escalation", P(escalation), NULL, "NAME", RELOAD,
        "the [escalation NAME] that tells people of this pool's unacknowledged incidents"),
    NUM("pool", "min_up", CONF_UINT, P(min_up), "1", 0, 1000,
        "fewer backends up than this is panic; a pool that needs a quorum raises it"),
    BOOL("pool", "panic", P(panic), "yes",
         "in panic, route to the least bad nodes (warning before critical); no: answer 503"),
    METHODS("pool", "write_methods", P(write_methods),
            "methods never replayed on another node, besides submit, sign and the like"),

    HEALTH("check", CONF_ENUM, check, "tcp", 0, 0,
           "tcp (connect), http (status), rippled (/health, judged per metric) or none",
           .names = check_type_names, .n_names = CHECK_COUNT),
    HEALTH("check_interval", CONF_DURATION, check_interval, "1s", 10, MS_H,
           "between probes of a node in rotation; 1s finds a failing node within seconds"),
    HEALTH("check_interval_down", CONF_DURATION, check_interval_down, "0", 10, MS_H,
           "between probes of a node out of rotation; 0: the same as check_interval",
           .or_zero = true),
    HEALTH("check_timeout", CONF_DURATION, check_timeout, "2s", 10, MS_M,
           "a probe slower than this is critical; it may be longer than check_interval"),
    HEALTH("check_address", CONF_ADDR, check_address, NULL, 0, 0,
           "HOST:PORT to probe instead of address; rippled serves /health on its peer port",
           .metavar = "HOST:PORT"),
    HEALTH("check_tls", CONF_BOOL, check_tls, "no", 0, 0,
           "probe over TLS; yes for rippled's peer port, which speaks only TLS"),
    HEALTH("check_tls_verify", CONF_BOOL, check_tls_verify, "yes", 0, 0,
           "verify the probed certificate; no for rippled's peer port (self-signed)"),
    HEALTH(
        "check_keepalive", CONF_BOOL, check_keepalive, "yes", 0, 0,
        "reuse a probe's connection for the next when the node keeps it open; no: one per probe"),
    HEALTH("check_tls_max_version", CONF_ENUM, check_tls_max_version, "auto", 0, 0,
           "highest TLS version of probes; auto: 1.2 for a node that closes after each answer, "
           "else 1.3",
           .names = check_tls_max_names, .n_names = CHECK_TLS_MAX_COUNT),
    HEALTH("check_tls_library", CONF_ENUM, check_tls_library, "gnutls", 0, 0,
           "TLS library of TLS 1.2 probes: gnutls (cheaper resumed handshakes) or openssl",
           .names = check_tls_library_names, .n_names = CHECK_TLS_LIB_COUNT),
    HEALTH("check_path", CONF_STRING, check_path, "/health", 0, 0,
           "path the http and rippled probes GET; rippled answers on /health", .metavar = "PATH",
           .validate = valid_path),
    HEALTH("check_expect_status", CONF_STRING, check_expect_status, NULL, 0, 0,
           "http: the statuses that pass, codes or classes (200,204 or 2xx); 2xx when unset",
           .metavar = "STATUSES", .validate = valid_status_list),
    HEALTH("check_expect_json", CONF_STRING, check_expect_json, NULL, 0, 0,
           "http: FIELD=VALUE pairs the JSON body must hold (dots reach into objects)",
           .metavar = "FIELD=VALUE,...", .validate = valid_json_list),
    HEALTH("expect_peers", CONF_UINT, expect_peers, "8", 0, 1000,
           "rippled: fewer peers warn (none is critical); a private peer has only a few"),
    HEALTH("ignore", CONF_STRING, ignore, NULL, 0, 0,
           "rippled metrics not judged: amendment_blocked, load_factor, peers, server_state, "
           "validated_ledger",
           .metavar = "METRIC,...", .validate = valid_ignore),
    HEALTH("load_factor_warning", CONF_UINT, load_factor_warning, "100", 1, 1000000000,
           "rippled: a load_factor above this warns (rippled's own threshold)"),
    HEALTH("load_factor_critical", CONF_UINT, load_factor_critical, "1000", 1, 1000000000,
           "rippled: a load_factor this high or higher is critical: the node sheds load"),
    HEALTH("ledger_age_warning", CONF_DURATION, ledger_age_warning, "7s", MS_S, MS_D,
           "rippled: a validated ledger this old warns; ledgers close every 3 to 5 seconds"),
    HEALTH("ledger_age_critical", CONF_DURATION, ledger_age_critical, "20s", MS_S, MS_D,
           "rippled: a validated ledger this old is critical (rippled's own threshold)"),
    HEALTH("freshness_interval", CONF_DURATION, freshness_interval, "0", 10, MS_H,
           "period of a server_info probe that sees a stale ledger /health misses; 0: off",
           .or_zero = true),
    HEALTH("max_ledger_age", CONF_DURATION, max_ledger_age, "20s", MS_S, MS_D,
           "freshness: a validated ledger older than this warns, twice as old is critical"),
    HEALTH("max_ledger_lag", CONF_UINT, max_ledger_lag, "0", 0, 100000,
           "freshness: ledgers behind the pool's best that warn (3 times more: critical); 0: off"),
    HEALTH("warning_fall", CONF_UINT, warning_fall, "3", 1, 100,
           "consecutive warnings that take a node out of rotation; one blip does not"),
    HEALTH("warning_burst", CONF_BURST, warning_burst, "4/5s", 10, MS_H,
           "COUNT/DURATION: this many warnings within the window take a node out"),
    HEALTH("critical_burst", CONF_BURST, critical_burst, "2/5s", 10, MS_H,
           "COUNT/DURATION: this many criticals within the window take a node out"),
    HEALTH("rise", CONF_UINT, rise, "3", 1, 100,
           "consecutive healthy probes before a node out of rotation comes back"),
    HEALTH("readmit_after", CONF_DURATION, readmit_after, "10s", 0, MS_H,
           "and healthy for this long: a node that just answered is not trusted at once"),
    HEALTH("slow_start", CONF_DURATION, slow_start, "60s", 0, MS_H,
           "a readmitted node's weight ramps from 10% to 100% over this; 0: at once"),
    HEALTH("sync_grace", CONF_DURATION, sync_grace, "15m", 0, MS_D,
           "a node back from unreachable may sync this long without alerts; rippled needs minutes"),
    HEALTH("flap_hold_max", CONF_DURATION, flap_hold_max, "5m", 0, MS_D,
           "a node that keeps bouncing is held out twice as long each time, up to this"),

    REQUIRED("backend", "pool", CONF_STRING, B(pool), "NAME", RELOAD,
             "the [pool NAME] this backend belongs to"),
    REQUIRED("backend", "address", CONF_ADDR, B(address), "HOST:PORT", RELOAD,
             "HOST:PORT of the node's RPC port; a hostname is resolved when the file is loaded"),
    NUM("backend", "weight", CONF_UINT, B(weight), "1", 0, 256,
        "share of traffic relative to the pool's other backends; 0 keeps it out of rotation"),
    NUM("backend", "max_conns", CONF_UINT, B(max_conns), "0", 0, 1000000,
        "connections to this backend, to protect a small node; 0 means no limit"),
    BOOL("backend", "tls", B(tls), "no",
         "speak TLS to the backend, for nodes reached over networks you do not trust"),
    BOOL("backend", "tls_verify", B(tls_verify), "yes",
         "verify the backend's certificate and name; turn off only for tests"),
    STR("backend", "tls_ca", B(tls_ca), NULL, "PATH", RELOAD,
        "CA bundle (PEM) to verify the backend with; the system store when unset"),
    STR("backend", "tls_sni", B(tls_sni), NULL, "HOSTNAME", RELOAD,
        "server name to send and verify; the host part of address when unset"),
    REQUIRED("alert", "type", CONF_ENUM, A(type), "TYPE", RELOAD,
             "webhook (JSON POST), slack (incoming webhook), pagerduty (Events API v2) or email",
             .names = alert_type_names, .n_names = ALERT_TYPE_COUNT),
    STR("alert", "url", A(url), NULL, "URL", RELOAD,
        "webhook and slack: where to POST; pagerduty: https://events.pagerduty.com/v2/enqueue "
        "when unset"),
    {ROW("alert", "headers", CONF_STRING, A(headers)), .metavar = "NAME: VALUE; ...",
     .reloadable = RELOAD, .validate = valid_header_list,
     .help = "webhook and slack: extra request headers, separated by ';'"},
    STR("alert", "headers_file", A(headers_file), NULL, "PATH", RELOAD,
        "more headers, one NAME: VALUE per line: tokens stay out of this file"),
    STR("alert", "routing_key", A(routing_key), NULL, "KEY", RELOAD,
        "pagerduty: the integration's routing key (or routing_key_file)"),
    STR("alert", "routing_key_file", A(routing_key_file), NULL, "PATH", RELOAD,
        "pagerduty: a file holding the routing key"),
    STR("alert", "smtp_url", A(smtp_url), NULL, "URL", RELOAD,
        "email: smtp://HOST:PORT (STARTTLS with starttls = yes) or smtps://HOST:PORT"),
    {ROW("alert", "from", CONF_STRING, A(from)), .metavar = "ADDRESS", .reloadable = RELOAD,
     .validate = valid_mails, .help = "email: the sender address"},
    {ROW("alert", "to", CONF_STRING, A(to)), .metavar = "ADDRESS,...", .reloadable = RELOAD,
     .validate = valid_mails, .help = "email: recipient addresses, comma separated"},
    BOOL("alert", "starttls", A(starttls), "no",
         "email: require STARTTLS on smtp:// (smtps:// is TLS from the start)"),
    STR("alert", "username", A(username), NULL, "NAME", RELOAD,
        "email: SMTP login name; its password comes from password_file"),
    STR("alert", "password_file", A(password_file), NULL, "PATH", RELOAD,
        "email: a file holding the SMTP password (first line)"),
    BOOL("alert", "tls_verify", A(tls_verify), "yes",
         "verify the receiver's certificate; no only for a test receiver"),
    STR("alert", "tls_ca", A(tls_ca), NULL, "PATH", RELOAD,
        "CA file to verify the receiver with; the system store when unset"),
    {ROW("alert", "on", CONF_STRING, A(on)),
     .def = "incident_open,incident_update,incident_resolved,grace_expired,update_overdue",
     .metavar = "EVENT,...", .reloadable = RELOAD, .validate = valid_events,
     .help = "events sent: incident_open, incident_update, incident_resolved, grace_expired, "
             "backend_down, backend_up, incident_acknowledged, maintenance_scheduled, "
             "maintenance_started, maintenance_ended, update_overdue"},
    ENUM("alert", "min_severity", A(min_severity), "info", severity_names, SEV_COUNT, RELOAD,
         "quieter events are not sent: info, warning, error or critical (from the pool status)"),
    NUM("alert", "rate_limit", CONF_UINT, A(rate_limit), "30", 0, 100000,
        "messages per minute at most, then dropped and counted (0: no limit)"),
    NUM("alert", "timeout", CONF_DURATION, A(timeout), "10s", 10, MS_M,
        "one delivery attempt; a slow receiver never delays traffic or probes"),
    NUM("alert", "retries", CONF_UINT, A(retries), "5", 0, 20,
        "further attempts after a failed delivery, then it is dropped with a log line"),
    NUM("alert", "retry_backoff", CONF_DURATION, A(retry_backoff), "1s", 1, MS_H,
        "wait before the first retry, doubled after each failure"),
    NUM("alert", "queue_size", CONF_UINT, A(queue_size), "100", 1, 10000,
        "messages waiting per channel; more are dropped and counted"),

    {ROW("hook", "on", CONF_STRING, K(on)), .def = "grace_expired", .metavar = "EVENT,...",
     .reloadable = RELOAD, .validate = valid_events,
     .help = "events that run it: incident_open, incident_update, incident_resolved, "
             "grace_expired, backend_down, backend_up, incident_acknowledged"},
    REQUIRED("hook", "command", CONF_STRING, K(command), "PROGRAM ARG...", RELOAD,
             "the program (absolute path) and its arguments; no shell; the event is in "
             "NODEGATE_* variables"),
    NUM("hook", "timeout", CONF_DURATION, K(timeout), "60s", 10, MS_H,
        "the program is killed past this (SIGTERM, then SIGKILL 1s later)"),
    {ROW("hook", "pools", CONF_STRING, K(pools)), .metavar = "NAME,...", .reloadable = RELOAD,
     .validate = valid_names, .help = "only for these pools; all when unset"},
    {ROW("hook", "backends", CONF_STRING, K(backends)), .metavar = "NAME,...", .reloadable = RELOAD,
     .validate = valid_names, .help = "only for these backends; all when unset"},
    NUM("hook", "max_concurrent", CONF_UINT, K(max_concurrent), "1", 1, 64,
        "runs of this hook at once; an event past it is skipped (and logged)"),

    {ROW("escalation", "tier1", CONF_STRING, E(tier[0])), .required = true,
     .metavar = "CHANNEL,... [after DURATION]", .reloadable = RELOAD, .validate = valid_tier,
     .help = "alert channels told when the incident opens (or after DURATION)"},
    {ROW("escalation", "tier2", CONF_STRING, E(tier[1])), .metavar = "CHANNEL,... after DURATION",
     .reloadable = RELOAD, .validate = valid_tier,
     .help = "channels told when nobody acknowledged the incident DURATION after it opened"},
    {ROW("escalation", "tier3", CONF_STRING, E(tier[2])), .metavar = "CHANNEL,... after DURATION",
     .reloadable = RELOAD, .validate = valid_tier, .help = "the next tier, later still"},
    {ROW("escalation", "tier4", CONF_STRING, E(tier[3])), .metavar = "CHANNEL,... after DURATION",
     .reloadable = RELOAD, .validate = valid_tier, .help = "the next tier, later still"},
    {ROW("escalation", "tier5", CONF_STRING, E(tier[4])), .metavar = "CHANNEL,... after DURATION",
     .reloadable = RELOAD, .validate = valid_tier, .help = "the last tier there may be"},
    NUM("escalation", "repeat", CONF_UINT, E(repeat), "0", 0, 100,
        "climbs of the whole ladder again after the last tier while nobody acknowledges"),
    NUM("escalation", "repeat_interval", CONF_DURATION, E(repeat_interval), "1h", 1, 7 * MS_D,
        "from the start of one climb to the start of the next (above the last tier's delay)"),
    ENUM("escalation", "page_min_priority", E(page_min_priority), "P2", priority_names, PRIO_COUNT,
         RELOAD, "less urgent incidents (P1 most urgent) are told to tier 1 only and never climb"),

    REQUIRED("mirror", "url", CONF_STRING, MR(url), "URL", RELOAD,
             "where the copy goes: file:///DIR, http(s)://HOST/PATH/ (WebDAV PUT) or "
             "s3://BUCKET/PREFIX"),
    STR("mirror", "endpoint", MR(endpoint), NULL, "URL", RELOAD,
        "s3: the S3-compatible server, http(s)://HOST[:PORT] (path-style requests); "
        "https://s3.REGION.amazonaws.com when unset"),
    STR("mirror", "region", MR(region), "us-east-1", "REGION", RELOAD,
        "s3: the region the requests are signed for (SigV4)"),
    STR("mirror", "access_key", MR(access_key), NULL, "KEY", RELOAD, "s3: the access key id"),
    STR("mirror", "secret_key", MR(secret_key), NULL, "SECRET", RELOAD,
        "s3: the secret key (or secret_key_file)"),
    STR("mirror", "secret_key_file", MR(secret_key_file), NULL, "PATH", RELOAD,
        "s3: a file holding the secret key (first line): secrets stay out of this file"),
    STR("mirror", "username", MR(username), NULL, "NAME", RELOAD,
        "webdav: basic auth login; its password comes from password_file"),
    STR("mirror", "password_file", MR(password_file), NULL, "PATH", RELOAD,
        "webdav: a file holding the basic auth password (first line)"),
    STR("mirror", "public_url", MR(public_url), NULL, "URL", RELOAD,
        "where readers reach the copy (its feeds link there); the WebDAV url, the S3 "
        "endpoint's bucket URL or [status] public_url when unset"),
    NUM("mirror", "interval", CONF_DURATION, MR(interval), "60s", 50, MS_D,
        "a push at least this often, and on every public change; the copy says the service "
        "may be down once it is 3 intervals old"),
    NUM("mirror", "timeout", CONF_DURATION, MR(timeout), "10s", 10, MS_M,
        "one transfer to a WebDAV or S3 server; a slow server never delays traffic or probes"),
    NUM("mirror", "retry_backoff", CONF_DURATION, MR(retry_backoff), "1s", 10, MS_H,
        "wait before retrying a failed push, doubled after each failure, up to interval"),
    BOOL("mirror", "tls_verify", MR(tls_verify), "yes",
         "verify the server's certificate; no only for a test server"),
    STR("mirror", "tls_ca", MR(tls_ca), NULL, "PATH", RELOAD,
        "CA file to verify the server with; the system store when unset"),
};
const size_t conf_n_options = ARRAY_SIZE(conf_options);
_Static_assert(ARRAY_SIZE(conf_options) <= OPT_MAX, "raise OPT_MAX");

/* Section kinds, in the words a file uses. */
enum sect_kind {
	SK_GLOBAL = 0,
	SK_STATUS,
	SK_POSTMORTEM,
	SK_SUBS,
	SK_STORE,
	SK_LISTENER,
	SK_POOL,
	SK_BACKEND,
	SK_ALERT,
	SK_HOOK,
	SK_ESCALATION,
	SK_MIRROR,
	SK_COUNT
};

static const char *const sect_words[SK_COUNT] = {
    [SK_GLOBAL] = "nodegate",       [SK_STATUS] = "status",      [SK_LISTENER] = "listener",
    [SK_POSTMORTEM] = "postmortem", [SK_SUBS] = "subscriptions", [SK_POOL] = "pool",
    [SK_BACKEND] = "backend",       [SK_ALERT] = "alert",        [SK_HOOK] = "hook",
    [SK_ESCALATION] = "escalation", [SK_MIRROR] = "mirror",      [SK_STORE] = "store",
};

/* One section as written, kept for messages after parsing. */
struct sect_meta {
	enum sect_kind kind;
	size_t idx;                   /* into the conf array of that kind */
	int line;                     /* of the [header] */
	char label[NAME_MAXLEN + 16]; /* "pool rpc", printed as "[pool rpc]" */
	int key_line[OPT_MAX];        /* by conf_options index; 0: not in the file */
	bool key_set[OPT_MAX];        /* ... and its value was accepted */
};

struct parse_err {
	int line;
	char *msg;
};

struct parser {
	const char *path;
	struct conf *c;
	bool oom;

	struct parse_err err[CONF_MAX_ERRORS];
	size_t n_err, dropped;

	char *buf; /* the whole file */
	size_t len, pos;
	int lineno;
	char shown[SHOW_MAXLEN + 8]; /* the current line, for "cannot parse" */
	bool expect_kv, got_kv;      /* the line handed to inih should reach on_key */

	struct sect_meta *metas;
	size_t n_metas;
	long cur;  /* index into metas; -1: no section yet */
	bool skip; /* inside a section that was refused: its keys are ignored */
};

/* Copies S for quoting in a message: control bytes become '?', long values are cut. */
static const char *show(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < len && i < SHOW_MAXLEN; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	if (s[i] != '\0' && i + 4 < len)
		strcpy(buf + i, "...");
	return buf;
}

/* Records "FILE:LINE: [sect] key: what". LINE 0 leaves the line out, SECT and KEY may be
 * NULL. Past CONF_MAX_ERRORS errors are only counted. */
static void errf(struct parser *p, int line, const char *sect, const char *key, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static void errf(struct parser *p, int line, const char *sect, const char *key, const char *fmt,
                 ...)
{
	char what[MSG_MAXLEN], where[MSG_MAXLEN], msg[3 * MSG_MAXLEN], k[SHOW_MAXLEN + 8];
	va_list ap;

	if (p->n_err == CONF_MAX_ERRORS) {
		p->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%d", p->path, line);
	else
		snprintf(where, sizeof(where), "%s", p->path);
	if (key != NULL)
		show(key, k, sizeof(k));
	if (sect != NULL && key != NULL)
		snprintf(msg, sizeof(msg), "%s: [%s] %s: %s", where, sect, k, what);
	else if (sect != NULL)
		snprintf(msg, sizeof(msg), "%s: [%s]: %s", where, sect, what);
	else if (key != NULL)
		snprintf(msg, sizeof(msg), "%s: %s: %s", where, k, what);
	else
		snprintf(msg, sizeof(msg), "%s: %s", where, what);
	p->err[p->n_err].msg = strdup(msg);
	if (p->err[p->n_err].msg == NULL) {
		p->oom = true;
		p->dropped++;
		return;
	}
	p->err[p->n_err++].line = line;
}

/* ---- value parsers ---------------------------------------------------------------- */

/* Decimal digits only (no sign, no space); *end points past them. */
static int WUR parse_digits(const char *s, const char **end, uint64_t *v)
{
	uint64_t n = 0;
	const char *q = s;

	for (; *q >= '0' && *q <= '9'; q++) {
		if (n > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*q - '0');
	}
	if (q == s)
		return -1;
	*end = q;
	*v = n;
	return 0;
}

/* A number followed by one of the units (a unit "" is the bare number). */
static int WUR parse_with_unit(const char *s, const char *const *units, const uint64_t *mult,
                               size_t n_units, bool nocase, uint64_t *out)
{
	const char *end;
	uint64_t n;

	if (parse_digits(s, &end, &n) < 0)
		return -1;
	for (size_t i = 0; i < n_units; i++) {
		if ((nocase ? strcasecmp(end, units[i]) : strcmp(end, units[i])) != 0)
			continue;
		if (n > UINT64_MAX / mult[i])
			return -1;
		*out = n * mult[i];
		return 0;
	}
	return -1;
}

static int WUR parse_ms(const char *s, uint64_t *ms)
{
	static const char *const units[] = {"", "ms", "s", "m", "h", "d"};
	static const uint64_t mult[] = {MS_S, 1, MS_S, MS_M, MS_H, MS_D};

	return parse_with_unit(s, units, mult, ARRAY_SIZE(units), false, ms);
}

int conf_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];

	if (parse_ms(s, ms) == 0)
		return 0;
	snprintf(err, errlen,
	         "bad duration \"%s\" (expected a number and a unit: ms, s, m, h or d)",
	         show(s, q, sizeof(q)));
	return -1;
}

int conf_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	static const char *const units[] = {"", "k", "m", "g"};
	static const uint64_t mult[] = {1, KIB, MIB, GIB};
	char q[SHOW_MAXLEN + 8];

	if (parse_with_unit(s, units, mult, ARRAY_SIZE(units), true, bytes) == 0)
		return 0;
	snprintf(err, errlen,
	         "bad size \"%s\" (expected a number of bytes, or with a unit: k, m or g)",
	         show(s, q, sizeof(q)));
	return -1;
}

int conf_parse_bool(const char *s, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	char q[SHOW_MAXLEN + 8];

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(err, errlen, "bad value \"%s\" (expected yes or no)", show(s, q, sizeof(q)));
	return -1;
}

int conf_parse_burst(const char *s, struct conf_burst *out, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	const char *slash;
	uint64_t n, ms;

	if (parse_digits(s, &slash, &n) < 0 || *slash != '/' || parse_ms(slash + 1, &ms) < 0) {
		snprintf(err, errlen, "bad burst \"%s\" (expected COUNT/DURATION, like 4/5s)",
		         show(s, q, sizeof(q)));
		return -1;
	}
	if (n < 1 || n > CONF_BURST_MAX) {
		snprintf(err, errlen,
		         "bad count in \"%s\" (expected COUNT/DURATION with a count 1..%d)",
		         show(s, q, sizeof(q)), CONF_BURST_MAX);
		return -1;
	}
	out->count = (uint32_t)n;
	out->window = ms;
	return 0;
}

/* ---- list values (the validate hooks) ---------------------------------------------------- */

/* "http or tcp", "error, warn, info or debug" */
static void format_words(const char *const *w, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		                        i == 0 ? "" : (i + 1 == n ? " or " : ", "), w[i]);
}

/* Drops the blanks next to a separator of SEPS, and at both ends, in place: "200, 204"
 * becomes "200,204"; blanks inside an item stay. */
static void tidy(char *s, const char *seps)
{
	char *w = s;

	for (char *r = s; *r != '\0'; r++) {
		if (*r == ' ' || *r == '\t') {
			char *next = r + strspn(r, " \t");

			if (w == s || strchr(seps, w[-1]) != NULL || *next == '\0' ||
			    strchr(seps, *next) != NULL) {
				r = next - 1;
				continue;
			}
		}
		*w++ = *r;
	}
	*w = '\0';
}

/* Calls ITEM on each comma-separated item of the tidied S (cut in place, then restored).
 * Returns the first item refused, or NULL; an empty item is refused without a call. */
static const char *each_item(char *s, bool (*item)(const char *it))
{
	for (char *it = s;;) {
		char *end = strchrnul(it, ',');
		char c = *end;
		bool ok;

		*end = '\0';
		ok = *it != '\0' && item(it);
		*end = c;
		if (!ok) {
			*end = '\0'; /* the caller quotes the refused item */
			return it;
		}
		if (c == '\0')
			return NULL;
		it = end + 1;
	}
}

static bool is_status(const char *it)
{
	return strlen(it) == 3 && it[0] >= '1' && it[0] <= '5' &&
	       ((isdigit((unsigned char)it[1]) && isdigit((unsigned char)it[2])) ||
	        (it[1] == 'x' && it[2] == 'x'));
}

/* FIELD=VALUE: a dotted path of names, then any value without a comma. */
static bool is_expectation(const char *it)
{
	const char *eq = strchr(it, '=');
	static const char name[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

	if (eq == NULL || eq[1] == '\0')
		return false;
	for (const char *seg = it;;) {
		size_t n = strspn(seg, name);

		if (n == 0 || (seg[n] != '.' && seg + n != eq))
			return false;
		if (seg + n == eq)
			return true;
		seg += n + 1;
	}
}

static bool is_metric(const char *it)
{
	for (size_t i = 0; i < ARRAY_SIZE(metric_names); i++)
		if (strcmp(it, metric_names[i]) == 0)
			return true;
	return false;
}

/* A user or group name as useradd(8) takes them: letters, digits, '_', '.', '-' (not
 * first), at most 32. Whether it exists is asked at start (priv.c). */
static int WUR valid_account(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	if (n == 0 || v[n] != '\0' || n > 32 || v[0] == '-') {
		snprintf(err, errlen,
		         "bad name \"%s\" (expected a user or group name, like nodegate)",
		         show(v, q, sizeof(q)));
		return -1;
	}
	return 0;
}

/* A path for the request line: visible ASCII, no blanks. */
static int WUR valid_path(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];

	for (const char *c = v; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f) {
			snprintf(err, errlen,
			         "bad path \"%s\" (expected a URL path without blanks, "
			         "like /health)",
			         show(v, q, sizeof(q)));
			return -1;
		}
	return 0;
}

_Static_assert(WK_COUNT == CONF_STATUS_TEXTS, "one [status] text_* per enum words_kind");

/* A public template: only {pool}, {serving} and {total} (ops/words.h). */
/* [store] url: sqlite:PATH or postgresql://... (the value is not shown: it may hold a
 * password). */
static int WUR valid_store_url(char *v, char *err, size_t errlen)
{
	if (strncmp(v, "sqlite:", 7) == 0 && v[7] != '\0')
		return 0;
	if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0)
		return 0;
	snprintf(err, errlen, "bad url (expected sqlite:PATH or postgresql://USER@HOST/DB)");
	return -1;
}

/* [nodegate] instance: a name as in section headers, shown in logs and metrics. */
static int WUR valid_instance(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	if (n == 0 || v[n] != '\0' || n > 63) {
		snprintf(
		    err, errlen,
		    "bad name \"%s\" (expected up to 63 letters, digits, '-', '_' or '.', like "
		    "fra-1)",
		    show(v, q, sizeof(q)));
		return -1;
	}
	return 0;
}

static int WUR valid_template(char *v, char *err, size_t errlen)
{
	return words_template_ok(v, err, errlen) ? 0 : -1;
}

static int WUR valid_status_list(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	const char *bad;

	tidy(v, ",");
	for (char *c = v; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c); /* "2XX" is "2xx" */
	bad = each_item(v, is_status);
	if (bad == NULL)
		return 0;
	snprintf(err, errlen,
	         "bad status \"%s\" (expected codes 100..599 or classes 1xx..5xx, comma "
	         "separated, like 200,204 or 2xx)",
	         show(bad, q, sizeof(q)));
	return -1;
}

static int WUR valid_json_list(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	const char *bad;

	tidy(v, ",=");
	bad = each_item(v, is_expectation);
	if (bad == NULL)
		return 0;
	snprintf(err, errlen,
	         "bad expectation \"%s\" (expected FIELD=VALUE pairs, comma separated, like "
	         "status=ok,info.state=full)",
	         show(bad, q, sizeof(q)));
	return -1;
}

static int WUR valid_ignore(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8], words[256];
	const char *bad;

	tidy(v, ",");
	bad = each_item(v, is_metric);
	if (bad == NULL)
		return 0;
	format_words(metric_names, ARRAY_SIZE(metric_names), words, sizeof(words));
	snprintf(err, errlen, "bad metric \"%s\" (expected a comma list of %s)",
	         show(bad, q, sizeof(q)), words);
	return -1;
}

static bool is_event(const char *it)
{
	for (size_t i = 0; i < NOTIFY_COUNT; i++)
		if (strcmp(it, notify_event_names[i]) == 0)
			return true;
	return false;
}

static int WUR valid_events(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8], words[256];
	const char *bad;

	tidy(v, ",");
	bad = each_item(v, is_event);
	if (bad == NULL)
		return 0;
	format_words(notify_event_names, NOTIFY_COUNT, words, sizeof(words));
	snprintf(err, errlen, "bad event \"%s\" (expected a comma list of %s)",
	         show(bad, q, sizeof(q)), words);
	return -1;
}

/* A section name or a mail address: visible ASCII without blanks, commas or brackets. */
static bool is_word(const char *it)
{
	for (const char *c = it; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr(",<>;\"", *c) != NULL)
			return false;
	return true;
}

static int WUR valid_names(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	const char *bad;

	tidy(v, ",");
	bad = each_item(v, is_word);
	if (bad == NULL)
		return 0;
	snprintf(err, errlen, "bad item \"%s\" (expected a comma list of names without blanks)",
	         show(bad, q, sizeof(q)));
	return -1;
}

/* A mail address: LOCAL@DOMAIN, one '@', both parts non-empty ("ops@localhost" too). */
static bool is_mail(const char *it)
{
	const char *at = strchr(it, '@');

	return is_word(it) && at != NULL && at > it && at[1] != '\0' && at[1] != '.' &&
	       strchr(at + 1, '@') == NULL && it[strlen(it) - 1] != '.';
}

static int WUR valid_mails(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	const char *bad;

	tidy(v, ",");
	bad = each_item(v, is_mail);
	if (bad == NULL)
		return 0;
	snprintf(err, errlen,
	         "bad address \"%s\" (expected mail addresses like ops@example.net, comma "
	         "separated)",
	         show(bad, q, sizeof(q)));
	return -1;
}

/* "Name: value": a token, a colon, a value without control bytes. */
static bool is_header(const char *it)
{
	size_t n = strspn(it, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

	if (n == 0 || it[n] != ':')
		return false;
	for (const char *c = it + n + 1; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

static int WUR valid_header_list(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];

	tidy(v, ";");
	for (char *it = v;;) {
		char *end = strchrnul(it, ';'), c = *end;
		bool ok;

		*end = '\0';
		ok = is_header(it);
		if (!ok) {
			snprintf(err, errlen,
			         "bad header \"%s\" (expected NAME: VALUE pairs separated by ';')",
			         show(it, q, sizeof(q)));
			*end = c;
			return -1;
		}
		*end = c;
		if (c == '\0')
			return 0;
		it = end + 1;
	}
}

/* The bits of a valid event list (NULL: none). */
static unsigned event_mask(const char *list)
{
	unsigned mask = 0;

	for (const char *it = list; it != NULL && *it != '\0';) {
		size_t n = strcspn(it, ",");

		for (unsigned i = 0; i < NOTIFY_COUNT; i++)
			if (strlen(notify_event_names[i]) == n &&
			    !strncmp(it, notify_event_names[i], n))
				mask |= 1u << i;
		it += n + (it[n] == ',');
	}
	return mask;
}

/* A CIDR list ("10.0.0.0/8, ::1"): limit.c's parser says what is wrong. */
static int WUR valid_cidrs(char *v, char *err, size_t errlen)
{
	struct limit_cidrs *l;

	tidy(v, ",");
	if (limit_cidrs_parse(v, &l, err, errlen) < 0)
		return -1;
	limit_cidrs_free(l);
	return 0;
}

/* IPv4 forms: "*" (every address, binds only) and dotted quads. Returns 1 when HOST is
 * neither, so a name to resolve. */
static int WUR parse_v4(const char *host, bool passive, struct conf_addr *out, char *err,
                        size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	char q[SHOW_MAXLEN + 8];

	if (strcmp(host, "*") == 0) {
		if (!passive) {
			snprintf(err, errlen, "\"*\" is only for bind (expected HOST:PORT)");
			return -1;
		}
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	} else if (strspn(host, "0123456789.") == strlen(host)) {
		/* getaddrinfo would take "10.1" as 10.0.0.1: only dotted quads are addresses */
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(err, errlen,
			         "bad IPv4 address \"%s\" (expected four numbers 0..255, like "
			         "127.0.0.1)",
			         show(host, q, sizeof(q)));
			return -1;
		}
	} else {
		return 1;
	}
	sin->sin_family = AF_INET;
	out->len = sizeof(*sin);
	return 0;
}

/* Fills OUT from a numeric or resolved HOST; the port is set by the caller. */
static int WUR resolve_host(const char *host, bool v6, bool passive, struct conf_addr *out,
                            char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char q[SHOW_MAXLEN + 8];
	int rc;

	if (!v6 && (rc = parse_v4(host, passive, out, err, errlen)) <= 0)
		return rc;
	if (v6) {
		hints.ai_family = AF_INET6;
		hints.ai_flags = AI_NUMERICHOST;
	}
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(out->ss)) {
		if (v6)
			snprintf(err, errlen,
			         "bad IPv6 address \"%s\" (expected [IPV6]:PORT, like [::1]:80)",
			         show(host, q, sizeof(q)));
		else
			snprintf(err, errlen,
			         "cannot resolve \"%s\": %s (expected a hostname or an IP address)",
			         show(host, q, sizeof(q)),
			         rc != 0 ? gai_strerror(rc) : "no address");
		if (res != NULL)
			freeaddrinfo(res);
		return -1;
	}
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" into host (brackets removed) and port text. */
static int WUR split_addr(const char *s, char *host, size_t hostlen, const char **port, bool *v6)
{
	const char *h = s, *colon;
	size_t n;

	*v6 = s[0] == '[';
	if (*v6) {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1; /* no port, or an IPv6 address without brackets */
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

int conf_parse_addr(const char *s, bool passive, struct conf_addr *out, char *err, size_t errlen)
{
	char host[sizeof(out->host)], q[SHOW_MAXLEN + 8];
	const char *port_s, *end;
	uint64_t port;
	bool v6;

	memset(out, 0, sizeof(*out));
	if (split_addr(s, host, sizeof(host), &port_s, &v6) < 0) {
		snprintf(err, errlen, "bad address \"%s\" (expected HOST:PORT%s)",
		         show(s, q, sizeof(q)),
		         strchr(s, ':') != strrchr(s, ':') && s[0] != '['
		             ? ", with an IPv6 address in brackets: [::1]:80"
		             : "");
		return -1;
	}
	if (parse_digits(port_s, &end, &port) < 0 || *end != '\0' || port < 1 || port > 65535) {
		snprintf(err, errlen,
		         "bad port in \"%s\" (expected HOST:PORT with a port 1..65535)",
		         show(s, q, sizeof(q)));
		return -1;
	}
	if (resolve_host(host, v6, passive, out, err, errlen) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	if (out->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&out->ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&out->ss)->sin_port = htons((uint16_t)port);
	strcpy(out->host, host);
	out->port = (uint16_t)port;
	return 0;
}

void conf_addr_format(const struct conf_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->len == 0) {
		snprintf(buf, len, "(unset)");
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
	}
}

/* ---- the table applied -------------------------------------------------------------- */

/* "16k", "2s": a limit written the way a user would write it. */
static void format_limit(enum conf_type t, uint64_t v, char *buf, size_t len)
{
	static const uint64_t dur_mult[] = {MS_D, MS_H, MS_M, MS_S};
	static const char *const dur_unit[] = {"d", "h", "m", "s"};
	static const uint64_t size_mult[] = {GIB, MIB, KIB};
	static const char *const size_unit[] = {"g", "m", "k"};

	if (v != 0 && t == CONF_DURATION) {
		for (size_t i = 0; i < ARRAY_SIZE(dur_mult); i++)
			if (v % dur_mult[i] == 0) {
				snprintf(buf, len, "%llu%s", (unsigned long long)(v / dur_mult[i]),
				         dur_unit[i]);
				return;
			}
		snprintf(buf, len, "%llums", (unsigned long long)v);
		return;
	}
	if (v != 0 && t == CONF_SIZE) {
		for (size_t i = 0; i < ARRAY_SIZE(size_mult); i++)
			if (v % size_mult[i] == 0) {
				snprintf(buf, len, "%llu%s", (unsigned long long)(v / size_mult[i]),
				         size_unit[i]);
				return;
			}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

static const char *opt_metavar(const struct conf_option *o)
{
	static const char *const by_type[CONF_TYPE_COUNT] = {
	    [CONF_STRING] = "VALUE",      [CONF_UINT] = "NUMBER",
	    [CONF_DURATION] = "DURATION", [CONF_SIZE] = "SIZE",
	    [CONF_BOOL] = "yes|no",       [CONF_ENUM] = "WORD",
	    [CONF_ADDR] = "HOST:PORT",    [CONF_BURST] = "COUNT/DURATION",
	};

	return o->metavar != NULL ? o->metavar : by_type[o->type];
}

static int WUR set_number(const struct conf_option *o, uint64_t *f, const char *v, char *err,
                          size_t errlen)
{
	char q[SHOW_MAXLEN + 8], lo[32], hi[32];
	const char *end;
	uint64_t n = 0;
	int rc = 0;

	format_limit(o->type, o->min, lo, sizeof(lo));
	format_limit(o->type, o->max, hi, sizeof(hi));
	if (o->type == CONF_DURATION) {
		rc = conf_parse_duration(v, &n, err, errlen);
	} else if (o->type == CONF_SIZE) {
		rc = conf_parse_size(v, &n, err, errlen);
	} else if (parse_digits(v, &end, &n) < 0 || *end != '\0') {
		snprintf(err, errlen, "bad number \"%s\" (expected a whole number %s..%s)",
		         show(v, q, sizeof(q)), lo, hi);
		rc = -1;
	}
	if (rc < 0)
		return -1;
	if ((n < o->min || n > o->max) && !(o->or_zero && n == 0)) {
		snprintf(err, errlen, "%s is out of range (expected %s%s..%s)",
		         show(v, q, sizeof(q)), o->or_zero ? "0 or " : "", lo, hi);
		return -1;
	}
	*f = n;
	return 0;
}

/* COUNT/DURATION with the window inside the option's limits. */
static int WUR set_burst(const struct conf_option *o, struct conf_burst *f, const char *v,
                         char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8], lo[32], hi[32];
	struct conf_burst b;

	if (conf_parse_burst(v, &b, err, errlen) < 0)
		return -1;
	if (b.window < o->min || b.window > o->max) {
		format_limit(CONF_DURATION, o->min, lo, sizeof(lo));
		format_limit(CONF_DURATION, o->max, hi, sizeof(hi));
		snprintf(err, errlen, "%s is out of range (expected a window of %s..%s)",
		         show(v, q, sizeof(q)), lo, hi);
		return -1;
	}
	*f = b;
	return 0;
}

static int WUR set_enum(const struct conf_option *o, int *f, const char *v, char *err,
                        size_t errlen)
{
	char q[SHOW_MAXLEN + 8], words[256];

	for (size_t i = 0; i < o->n_names; i++)
		if (strcasecmp(v, o->names[i]) == 0) {
			*f = (int)i;
			return 0;
		}
	format_words(o->names, o->n_names, words, sizeof(words));
	snprintf(err, errlen, "bad value \"%s\" (expected %s)", show(v, q, sizeof(q)), words);
	return -1;
}

static int WUR set_string(const struct conf_option *o, char **f, const char *v, char *err,
                          size_t errlen)
{
	char *s;

	if (*v == '\0') {
		snprintf(err, errlen, "empty value (expected %s = %s)", o->name, opt_metavar(o));
		return -1;
	}
	s = strdup(v);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (o->validate != NULL && o->validate(s, err, errlen) < 0) {
		free(s);
		return -1;
	}
	free(*f);
	*f = s;
	return 0;
}

/* Addresses to listen on take "*:PORT"; addresses to connect to do not. */
static bool opt_is_bind(const struct conf_option *o)
{
	return strcmp(o->section, "listener") == 0 || strcmp(o->section, "status") == 0;
}

/* Parses V as option O into the section struct at BASE. */
static int WUR opt_set(const struct conf_option *o, void *base, const char *v, char *err,
                       size_t errlen)
{
	void *f = (char *)base + o->offset;

	switch (o->type) {
	case CONF_STRING:
		return set_string(o, f, v, err, errlen);
	case CONF_UINT:
	case CONF_DURATION:
	case CONF_SIZE:
		return set_number(o, f, v, err, errlen);
	case CONF_BOOL:
		return conf_parse_bool(v, f, err, errlen);
	case CONF_ENUM:
		return set_enum(o, f, v, err, errlen);
	case CONF_ADDR:
		return conf_parse_addr(v, opt_is_bind(o), f, err, errlen);
	case CONF_BURST:
		return set_burst(o, f, v, err, errlen);
	case CONF_TYPE_COUNT:
		break;
	}
	snprintf(err, errlen, "option of unknown type (expected a fixed nodegate)");
	return -1;
}

/* Whether O may be written in a section of kind K: its own, and a health option also in
 * [backend NAME]. */
static bool opt_in(const struct conf_option *o, enum sect_kind k)
{
	return strcmp(o->section, sect_words[k]) == 0 || (k == SK_BACKEND && o->per_backend);
}

static const struct conf_option *opt_find(enum sect_kind k, const char *name)
{
	for (size_t i = 0; i < conf_n_options; i++)
		if (opt_in(&conf_options[i], k) && strcmp(conf_options[i].name, name) == 0)
			return &conf_options[i];
	return NULL;
}

/* The struct O's offset is in, for a section of kind K whose struct is at SECT. */
static void *opt_target(const struct conf_option *o, enum sect_kind k, void *sect)
{
	if (!o->per_backend)
		return sect;
	if (k == SK_POOL)
		return &((struct conf_pool *)sect)->health;
	return &((struct conf_backend *)sect)->health;
}

/* "balance, retries, ...": the options of kind K, its own first. */
static void opt_list(enum sect_kind k, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < conf_n_options && off < len; i++) {
			const struct conf_option *o = &conf_options[i];

			if (opt_in(o, k) && !o->test_only &&
			    (strcmp(o->section, sect_words[k]) == 0) == (pass == 0))
				off += (size_t)snprintf(buf + off, len - off, "%s%s",
				                        off ? ", " : "", o->name);
		}
}

/* Sets every option of kind K that has a default. A default that does not parse is a bug
 * in the table; it is reported like a file error so that a test catches it. */
static void apply_defaults(struct parser *p, enum sect_kind k, void *base, int line,
                           const char *label)
{
	char err[MSG_MAXLEN];

	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];

		if (o->def == NULL || strcmp(o->section, sect_words[k]) != 0)
			continue; /* a backend's health comes from its pool (resolve_health) */
		if (opt_set(o, opt_target(o, k, base), o->def, err, sizeof(err)) < 0)
			errf(p, line, label, o->name, "bad default: %s", err);
	}
}

/* ---- sections ------------------------------------------------------------------------- */

static void *sect_base(struct conf *c, enum sect_kind k, size_t idx)
{
	switch (k) {
	case SK_GLOBAL:
		return &c->global;
	case SK_STATUS:
		return &c->status;
	case SK_POSTMORTEM:
		return &c->postmortem;
	case SK_SUBS:
		return &c->subs;
	case SK_STORE:
		return &c->store;
	case SK_LISTENER:
		return &c->listeners[idx];
	case SK_POOL:
		return &c->pools[idx];
	case SK_BACKEND:
		return &c->backends[idx];
	case SK_ALERT:
		return &c->alerts[idx];
	case SK_HOOK:
		return &c->hooks[idx];
	case SK_ESCALATION:
		return &c->escalations[idx];
	case SK_MIRROR:
		return &c->mirrors[idx];
	case SK_COUNT:
		break;
	}
	return NULL;
}

/* Appends one zeroed element to *ARR (N elements of SIZE). */
static int WUR grow(void **arr, size_t *n, size_t size)
{
	char *a = realloc(*arr, (*n + 1) * size);

	if (a == NULL)
		return -1;
	memset(a + *n * size, 0, size);
	*arr = a;
	(*n)++;
	return 0;
}

/* Adds an instance of kind K named NAME (NULL for [nodegate]), with defaults, and its
 * meta; the meta becomes the current section. */
static int WUR sect_add(struct parser *p, enum sect_kind k, const char *name, int line)
{
	struct conf *c = p->c;
	struct sect_meta *m;
	char *dup = NULL;
	size_t idx = 0;

	if (name != NULL && (dup = strdup(name)) == NULL)
		goto fail;
	if (grow((void **)&p->metas, &p->n_metas, sizeof(*p->metas)) < 0)
		goto fail;
	if (k == SK_LISTENER) {
		if (grow((void **)&c->listeners, &c->n_listeners, sizeof(*c->listeners)) < 0)
			goto fail_meta;
		idx = c->n_listeners - 1;
		c->listeners[idx].name = dup;
		c->listeners[idx].line = line;
	} else if (k == SK_POOL) {
		if (grow((void **)&c->pools, &c->n_pools, sizeof(*c->pools)) < 0)
			goto fail_meta;
		idx = c->n_pools - 1;
		c->pools[idx].name = dup;
		c->pools[idx].line = line;
	} else if (k == SK_BACKEND) {
		if (grow((void **)&c->backends, &c->n_backends, sizeof(*c->backends)) < 0)
			goto fail_meta;
		idx = c->n_backends - 1;
		c->backends[idx].name = dup;
		c->backends[idx].line = line;
	} else if (k == SK_ALERT) {
		if (grow((void **)&c->alerts, &c->n_alerts, sizeof(*c->alerts)) < 0)
			goto fail_meta;
		idx = c->n_alerts - 1;
		c->alerts[idx].name = dup;
		c->alerts[idx].line = line;
	} else if (k == SK_HOOK) {
		if (grow((void **)&c->hooks, &c->n_hooks, sizeof(*c->hooks)) < 0)
			goto fail_meta;
		idx = c->n_hooks - 1;
		c->hooks[idx].name = dup;
		c->hooks[idx].line = line;
	} else if (k == SK_ESCALATION) {
		if (grow((void **)&c->escalations, &c->n_escalations, sizeof(*c->escalations)) < 0)
			goto fail_meta;
		idx = c->n_escalations - 1;
		c->escalations[idx].name = dup;
		c->escalations[idx].line = line;
	} else if (k == SK_GLOBAL) {
		c->global.line = line;
	} else if (k == SK_MIRROR) {
		if (grow((void **)&c->mirrors, &c->n_mirrors, sizeof(*c->mirrors)) < 0)
			goto fail_meta;
		idx = c->n_mirrors - 1;
		c->mirrors[idx].name = dup;
		c->mirrors[idx].line = line;
	} else if (k == SK_STATUS) {
		c->status.enabled = true;
		c->status.line = line;
	} else if (k == SK_POSTMORTEM) {
		c->postmortem.enabled = true;
		c->postmortem.line = line;
	} else if (k == SK_SUBS) {
		c->subs.section = true;
		c->subs.line = line;
	} else if (k == SK_STORE) {
		c->store.section = true;
		c->store.line = line;
	}
	m = &p->metas[p->n_metas - 1];
	m->kind = k;
	m->idx = idx;
	m->line = line;
	if (name != NULL)
		snprintf(m->label, sizeof(m->label), "%s %s", sect_words[k], name);
	else
		snprintf(m->label, sizeof(m->label), "%s", sect_words[k]);
	if (k != SK_GLOBAL) /* [nodegate] got its defaults with the conf */
		apply_defaults(p, k, sect_base(c, k, idx), line, m->label);
	p->cur = (long)p->n_metas - 1;
	return 0;
fail_meta:
	p->n_metas--;
fail:
	free(dup);
	return -1;
}

/* [nodegate], [status], [postmortem], [subscriptions] and [store] are single sections: no
 * NAME. */
static bool sect_named(enum sect_kind k)
{
	return k != SK_GLOBAL && k != SK_STATUS && k != SK_POSTMORTEM && k != SK_SUBS &&
	       k != SK_STORE;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= NAME_MAXLEN &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static const struct sect_meta *meta_find(const struct parser *p, enum sect_kind k, const char *name)
{
	for (size_t i = 0; i < p->n_metas; i++) {
		const struct sect_meta *m = &p->metas[i];
		const char *sp = strchr(m->label, ' ');

		if (m->kind == k &&
		    (name == NULL ? sp == NULL : sp != NULL && !strcmp(sp + 1, name)))
			return m;
	}
	return NULL;
}

/* Checks a "[word name]" header; LINE is stripped. The section is entered only when
 * valid, otherwise its keys are skipped (one error for the header is enough). */
static void parse_header(struct parser *p, char *line)
{
	char *close = strchr(line, ']'), *word, *name, *e, q[SHOW_MAXLEN + 8];
	char label[2 * SHOW_MAXLEN + 16];
	const struct sect_meta *first;
	enum sect_kind k;

	p->cur = -1;
	p->skip = true;
	if (close == NULL) {
		errf(p, p->lineno, NULL, NULL,
		     "cannot parse \"%s\" (expected [section] or [section NAME])",
		     show(line, q, sizeof(q)));
		return;
	}
	e = close + 1 + strspn(close + 1, " \t");
	if (*e != '\0' && *e != ';' && *e != '#') {
		errf(p, p->lineno, NULL, NULL, "text after ']' in \"%s\" (expected [section NAME])",
		     show(line, q, sizeof(q)));
		return;
	}
	*close = '\0';
	word = line + 1 + strspn(line + 1, " \t");
	name = word + strcspn(word, " \t");
	if (*name != '\0') {
		*name++ = '\0';
		name += strspn(name, " \t");
	}
	for (e = name + strlen(name); e > name && (e[-1] == ' ' || e[-1] == '\t');)
		*--e = '\0';
	snprintf(label, sizeof(label), "%s%s%s", word, *name != '\0' ? " " : "", name);
	show(label, label, sizeof(label));
	for (k = 0; k < SK_COUNT && strcmp(word, sect_words[k]) != 0; k++)
		;
	if (k == SK_COUNT) {
		errf(p, p->lineno, label, NULL,
		     "unknown section (expected [nodegate], [status], [postmortem], "
		     "[subscriptions], [store], [listener "
		     "NAME], [pool NAME], "
		     "[backend NAME], [alert NAME], [hook NAME], [escalation NAME] or [mirror "
		     "NAME])");
		return;
	}
	if (!sect_named(k) && *name != '\0') {
		errf(p, p->lineno, label, NULL, "unexpected name (expected [%s])", word);
		return;
	}
	if (sect_named(k) && *name == '\0') {
		errf(p, p->lineno, label, NULL, "missing name (expected [%s NAME])", word);
		return;
	}
	if (sect_named(k) && !valid_name(name)) {
		errf(p, p->lineno, label, NULL,
		     "bad name (expected up to %d letters, digits, '-', '_' or '.')", NAME_MAXLEN);
		return;
	}
	first = meta_find(p, k, sect_named(k) ? name : NULL);
	if (first != NULL) {
		errf(p, p->lineno, label, NULL,
		     "duplicate section (expected one [%s], first at line %d)", label, first->line);
		return;
	}
	if (sect_add(p, k, sect_named(k) ? name : NULL, p->lineno) < 0) {
		p->oom = true;
		return;
	}
	p->skip = false;
}

/* ---- inih glue ------------------------------------------------------------------------------ */

/* inih skips lines it cannot parse without telling which; a key line that did not reach
 * on_key is one of those. */
static void check_unparsed(struct parser *p)
{
	const char *label = p->cur >= 0 ? p->metas[p->cur].label : NULL;

	if (p->expect_kv && !p->got_kv)
		errf(p, p->lineno, label, NULL, "cannot parse \"%s\" (expected key = value)",
		     p->shown);
	p->expect_kv = false;
}

/* The ini_reader: hands inih one line at a time, so p->lineno is the line of every key
 * on_key sees. Section headers are handled here (inih has no callback for them) and
 * inih gets a blank line instead; so do comments, bad lines and too long lines. Leading
 * blanks are stripped, so no line is ever an inih multi-line continuation. */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	char *s, *nl, *line;
	size_t n;

	check_unparsed(p);
	if (p->pos >= p->len)
		return NULL;
	s = p->buf + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	n = nl != NULL ? (size_t)(nl - s) : p->len - p->pos;
	p->pos += n + (nl != NULL);
	p->lineno++;
	strcpy(str, "\n");
	if (memchr(s, '\0', n) != NULL) {
		errf(p, p->lineno, NULL, NULL, "NUL byte in line (expected text)");
		return str;
	}
	s[n] = '\0'; /* the '\n' or the terminator read_file added */
	if (n > 0 && s[n - 1] == '\r')
		s[--n] = '\0';
	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	line = s + strspn(s, " \t\f\v");
	show(line, p->shown, sizeof(p->shown));
	if (*line == '\0' || *line == ';' || *line == '#')
		return str;
	if (*line == '[') {
		parse_header(p, line);
		return str;
	}
	if (strlen(line) + 2 > (size_t)num) {
		errf(p, p->lineno, p->cur >= 0 ? p->metas[p->cur].label : NULL, NULL,
		     "line too long (expected at most %d characters)", num - 2);
		return str;
	}
	sprintf(str, "%s\n", line);
	p->expect_kv = true;
	p->got_kv = false;
	return str;
}

/* The ini_handler: SECTION is ignored, read_line tracks sections itself. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct conf_option *o;
	struct sect_meta *m;
	char err[MSG_MAXLEN], list[MSG_MAXLEN];

	p->got_kv = true;
	if (p->skip)
		return 1;
	if (p->cur < 0) {
		errf(p, p->lineno, NULL, name,
		     "option outside any section (expected a section header such as [nodegate] "
		     "before it)");
		return 1;
	}
	m = &p->metas[p->cur];
	if (*name == '\0') {
		errf(p, p->lineno, m->label, NULL, "cannot parse \"%s\" (expected key = value)",
		     p->shown);
		return 1;
	}
	o = opt_find(m->kind, name);
	if (o == NULL) {
		opt_list(m->kind, list, sizeof(list));
		errf(p, p->lineno, m->label, name, "unknown option (expected one of: %s)", list);
		return 1;
	}
	if (m->key_line[o - conf_options] != 0) {
		errf(p, p->lineno, m->label, name,
		     "duplicate option (expected it once, first at line %d)",
		     m->key_line[o - conf_options]);
		return 1;
	}
	m->key_line[o - conf_options] = p->lineno;
	if (opt_set(o, opt_target(o, m->kind, sect_base(p->c, m->kind, m->idx)), value, err,
	            sizeof(err)) < 0)
		errf(p, p->lineno, m->label, name, "%s", err);
	else
		m->key_set[o - conf_options] = true;
	return 1;
}

/* Reads PATH whole, NUL-terminated, so that read_line can cut lines in place. */
static int WUR read_file(struct parser *p)
{
	FILE *fp = fopen(p->path, "rb");
	size_t cap = 4096, got;

	if (fp == NULL) {
		errf(p, 0, NULL, NULL, "cannot open: %s (expected a readable config file)",
		     strerror(errno));
		return -1;
	}
	p->buf = malloc(cap + 1);
	if (p->buf == NULL)
		goto oom;
	while ((got = fread(p->buf + p->len, 1, cap - p->len, fp)) > 0) {
		p->len += got;
		if (p->len > FILE_MAXLEN) {
			errf(p, 0, NULL, NULL, "file too large (expected at most %d bytes)",
			     FILE_MAXLEN);
			goto fail;
		}
		if (p->len == cap) {
			char *b = realloc(p->buf, cap * 2 + 1);

			if (b == NULL)
				goto oom;
			p->buf = b;
			cap *= 2;
		}
	}
	if (ferror(fp)) {
		errf(p, 0, NULL, NULL, "cannot read: %s (expected a readable config file)",
		     strerror(errno));
		goto fail;
	}
	p->buf[p->len] = '\0';
	fclose(fp);
	return 0;
oom:
	p->oom = true;
fail:
	fclose(fp);
	return -1;
}

/* A JSON-RPC method name as rippled spells them: letters, digits and '_'. */
static bool is_method(const char *it)
{
	static const char chars[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

	return strlen(it) < RPC_METHOD_MAX && strspn(it, chars) == strlen(it);
}

static int WUR valid_methods(char *v, char *err, size_t errlen)
{
	char q[SHOW_MAXLEN + 8];
	const char *bad;

	tidy(v, ",");
	bad = each_item(v, is_method);
	if (bad == NULL)
		return 0;
	snprintf(err, errlen,
	         "bad method \"%s\" (expected JSON-RPC method names, comma separated, like "
	         "submit,sign)",
	         show(bad, q, sizeof(q)));
	return -1;
}

/* "CHANNEL[,CHANNEL...] [after DURATION]" split: the channels (blanks around commas
 * dropped) into CH, the delay into AFTER (0 when not written). */
static int WUR tier_split(const char *v, char *ch, size_t chlen, uint64_t *after, char *err,
                          size_t errlen)
{
	const char *at = strstr(v, " after ");
	size_t n = at != NULL ? (size_t)(at - v) : strlen(v);
	char q[SHOW_MAXLEN + 8], derr[MSG_MAXLEN];
	const char *bad;

	*after = 0;
	if (n >= chlen) {
		snprintf(err, errlen, "too long (expected CHANNEL,... [after DURATION])");
		return -1;
	}
	memcpy(ch, v, n);
	ch[n] = '\0';
	tidy(ch, ",");
	bad = ch[0] == '\0' ? "" : each_item(ch, is_word);
	if (bad != NULL) {
		snprintf(err, errlen,
		         "bad channel \"%s\" (expected [alert NAME] names, comma separated, then "
		         "optionally after DURATION)",
		         show(bad, q, sizeof(q)));
		return -1;
	}
	if (at != NULL &&
	    conf_parse_duration(at + 7 + strspn(at + 7, " "), after, derr, sizeof(derr)) < 0) {
		snprintf(err, errlen, "after: %s", derr);
		return -1;
	}
	return 0;
}

static int WUR valid_tier(char *v, char *err, size_t errlen)
{
	char ch[MSG_MAXLEN];
	uint64_t after;

	return tier_split(v, ch, sizeof(ch), &after, err, errlen);
}

/* ---- cross-validation ---------------------------------------------------------------- */

static int opt_index(enum sect_kind k, const char *name)
{
	return (int)(opt_find(k, name) - conf_options);
}

/* The line to blame for option NAME of M: its own line, else the section header. */
static int key_line(const struct sect_meta *m, const char *name)
{
	int l = m->key_line[opt_index(m->kind, name)];

	return l != 0 ? l : m->line;
}

static void check_required(struct parser *p, const struct sect_meta *m)
{
	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];

		if (o->required && strcmp(o->section, sect_words[m->kind]) == 0 &&
		    m->key_line[i] == 0)
			errf(p, m->line, m->label, o->name,
			     "required option missing (expected %s = %s)", o->name, opt_metavar(o));
	}
}

static void check_pool_ref(struct parser *p, const struct sect_meta *m, const char *pool)
{
	char q[SHOW_MAXLEN + 8];

	if (pool != NULL && conf_find_pool(p->c, pool) == NULL)
		errf(p, key_line(m, "pool"), m->label, "pool",
		     "no pool \"%s\" (expected the name of a [pool NAME] section)",
		     show(pool, q, sizeof(q)));
}

/* A regular file that this process can open, WHAT it must be ("a readable PEM file"). */
static void check_file(struct parser *p, const struct sect_meta *m, const char *key,
                       const char *path, const char *what)
{
	char q[SHOW_MAXLEN + 8];
	struct stat st;
	int fd;

	if (path == NULL)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(p, key_line(m, key), m->label, key, "cannot read \"%s\": %s (expected %s)",
		     show(path, q, sizeof(q)), strerror(errno), what);
		return;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		errf(p, key_line(m, key), m->label, key,
		     "\"%s\" is not a regular file (expected %s)", show(path, q, sizeof(q)), what);
	close(fd);
}

/* What TLS setup will need at startup. */
static void check_readable(struct parser *p, const struct sect_meta *m, const char *key,
                           const char *path)
{
	check_file(p, m, key, path, "a readable PEM file");
}

/* Two binds clash when they are equal, or on the same port and family with one of them
 * the wildcard address. */
static bool binds_clash(const struct conf_addr *a, const struct conf_addr *b)
{
	if (a->len == 0 || b->len == 0 || a->port != b->port || a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		in_addr_t x = ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
		in_addr_t y = ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;

		return x == y || x == htonl(INADDR_ANY) || y == htonl(INADDR_ANY);
	}
	const struct in6_addr *x = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	const struct in6_addr *y = &((const struct sockaddr_in6 *)&b->ss)->sin6_addr;

	return IN6_ARE_ADDR_EQUAL(x, y) || IN6_IS_ADDR_UNSPECIFIED(x) || IN6_IS_ADDR_UNSPECIFIED(y);
}

static bool is_loopback(const struct conf_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
	return a->ss.ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

static void check_listener(struct parser *p, const struct sect_meta *m)
{
	const struct conf_listener *l = &p->c->listeners[m->idx];
	char a[128], x[32], y[32];

	check_pool_ref(p, m, l->pool);
	for (size_t i = 0; i < p->n_metas && &p->metas[i] != m; i++) {
		const struct sect_meta *o = &p->metas[i];

		if (o->kind != SK_LISTENER || !binds_clash(&l->bind, &p->c->listeners[o->idx].bind))
			continue;
		conf_addr_format(&l->bind, a, sizeof(a));
		errf(p, key_line(m, "bind"), m->label, "bind",
		     "%s is already bound by [%s] at line %d (expected a distinct HOST:PORT)", a,
		     o->label, key_line(o, "bind"));
		break;
	}
	if ((l->tls_cert == NULL) != (l->tls_key == NULL)) {
		const char *set = l->tls_cert != NULL ? "tls_cert" : "tls_key";

		errf(p, key_line(m, set), m->label, set,
		     "set without %s (expected both tls_cert and tls_key, or neither)",
		     l->tls_cert != NULL ? "tls_key" : "tls_cert");
	}
	check_readable(p, m, "tls_cert", l->tls_cert);
	check_readable(p, m, "tls_key", l->tls_key);
	if (l->admin && l->bind.len > 0 && !is_loopback(&l->bind)) {
		conf_addr_format(&l->bind, a, sizeof(a));
		errf(p, key_line(m, "admin"), m->label, "admin",
		     "yes on %s, which is not a loopback address (expected a loopback bind, "
		     "127.0.0.0/8 or [::1], for an admin listener)",
		     a);
	}
	if (l->max_uri_size > l->max_header_size) {
		format_limit(CONF_SIZE, l->max_uri_size, x, sizeof(x));
		format_limit(CONF_SIZE, l->max_header_size, y, sizeof(y));
		errf(p, key_line(m, "max_uri_size"), m->label, "max_uri_size",
		     "%s is larger than max_header_size %s (expected at most max_header_size)", x,
		     y);
	}
}

/* A URL with one of the comma-separated SCHEMES ("http,https"). */
static void check_url(struct parser *p, const struct sect_meta *m, const char *key, const char *url,
                      const char *schemes)
{
	char q[SHOW_MAXLEN + 8];
	const char *sep = url != NULL ? strstr(url, "://") : NULL;

	if (url == NULL)
		return;
	if (sep != NULL && sep > url && sep[3] != '\0' && sep[3] != '/' &&
	    strcspn(url, " \t") == strlen(url)) {
		size_t n = (size_t)(sep - url);

		for (const char *it = schemes; *it != '\0';) {
			size_t k = strcspn(it, ",");

			if (k == n && strncasecmp(it, url, n) == 0)
				return;
			it += k + (it[k] == ',');
		}
	}
	errf(p, key_line(m, key), m->label, key,
	     "bad URL \"%s\" (expected %s://HOST[:PORT][/PATH])", show(url, q, sizeof(q)), schemes);
}

/* [status] notice_file: read now (a reload reads it again), bounded and checked; an error
 * names the notice's own line too. */
static void load_notice(struct parser *p, const struct sect_meta *m)
{
	struct conf_status *st = &p->c->status;
	char q[SHOW_MAXLEN + 8], err[200];
	char *buf;
	ssize_t n;
	int fd, line;

	if (st->notice_file == NULL)
		return;
	fd = open(st->notice_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(p, key_line(m, "notice_file"), m->label, "notice_file",
		     "cannot read \"%s\": %s (expected a readable file)",
		     show(st->notice_file, q, sizeof(q)), strerror(errno));
		return;
	}
	buf = malloc(NOTICE_MAX + 2);
	n = buf != NULL ? read(fd, buf, NOTICE_MAX + 1) : -1;
	close(fd);
	if (n < 0) {
		errf(p, key_line(m, "notice_file"), m->label, "notice_file",
		     "cannot read \"%s\": %s (expected a readable file)",
		     show(st->notice_file, q, sizeof(q)),
		     buf != NULL ? strerror(errno) : "no memory");
		free(buf);
		return;
	}
	buf[n] = '\0';
	if (!notice_check(buf, (size_t)n, &line, err, sizeof(err))) {
		if (line > 0)
			errf(p, key_line(m, "notice_file"), m->label, "notice_file",
			     "%.200s:%d: %s", st->notice_file, line, err);
		else
			errf(p, key_line(m, "notice_file"), m->label, "notice_file", "%.200s: %s",
			     st->notice_file, err);
		free(buf);
		return;
	}
	st->notice = buf;
}

/* The status listener must not take a listener's address. */
static void check_status(struct parser *p, const struct sect_meta *m)
{
	const struct conf_status *st = &p->c->status;
	char a[128];

	for (size_t i = 0; i < p->n_metas; i++) {
		const struct sect_meta *o = &p->metas[i];

		if (o->kind != SK_LISTENER ||
		    !binds_clash(&st->bind, &p->c->listeners[o->idx].bind))
			continue;
		conf_addr_format(&st->bind, a, sizeof(a));
		errf(p, key_line(m, "bind"), m->label, "bind",
		     "%s is already bound by [%s] at line %d (expected a distinct HOST:PORT)", a,
		     o->label, key_line(o, "bind"));
		break;
	}
	check_file(p, m, "admin_token_file", st->admin_token_file, "a readable file");
	if (st->console == CONSOLE_YES && st->admin_token_file == NULL)
		errf(p, key_line(m, "console"), m->label, "console",
		     "yes needs admin_token_file: the console's login is the admin token (expected "
		     "admin_token_file set, or console = no or auto)");
	check_file(p, m, "ack_key_file", st->ack_key_file, "a readable file");
	check_url(p, m, "public_url", st->public_url, "http,https");
	load_notice(p, m);
}

static void check_names(struct parser *p, const struct sect_meta *m, const char *key,
                        const char *list, enum sect_kind k);

/* [nodegate]: group goes with user. Whether the accounts exist is asked at start (priv.c)
 * and by -t as a warning: a file checked on another host, or before the package made the
 * user, is not wrong. */
static void check_global(struct parser *p, const struct sect_meta *m)
{
	struct conf_global *g = &p->c->global;

	g->user_line = key_line(m, "user"); /* for priv.c's messages at start */
	g->group_line = key_line(m, "group");
	if (g->group != NULL && g->user == NULL)
		errf(p, key_line(m, "group"), m->label, "group",
		     "set without user (expected user = NAME too)");
}

static void check_subs(struct parser *p, const struct sect_meta *m)
{
	const struct conf_subs *sb = &p->c->subs;

	check_url(p, m, "smtp_url", sb->smtp_url, "smtp,smtps");
	check_url(p, m, "public_url", sb->public_url, "http,https");
	check_file(p, m, "smtp_password_file", sb->smtp_password_file, "a readable file");
	if (sb->smtp_url != NULL && sb->from == NULL)
		errf(p, m->line, m->label, "from",
		     "missing (expected the sender address of subscription mail with smtp_url)");
	if (sb->smtp_password_file != NULL && sb->smtp_username == NULL)
		errf(p, key_line(m, "smtp_password_file"), m->label, "smtp_password_file",
		     "set without smtp_username (expected both, or neither)");
	if (sb->enabled && !p->c->status.enabled)
		errf(p, m->line, m->label, NULL,
		     "subscriptions need the status page (expected a [status] section)");
}

static void check_pool(struct parser *p, const struct sect_meta *m)
{
	const struct conf_pool *pool = &p->c->pools[m->idx];

	check_names(p, m, "escalation", pool->escalation, SK_ESCALATION);

	for (size_t i = 0; i < p->c->n_backends; i++)
		if (p->c->backends[i].pool != NULL &&
		    strcmp(p->c->backends[i].pool, pool->name) == 0)
			return;
	errf(p, m->line, m->label, NULL,
	     "no backend in this pool (expected a [backend NAME] with pool = %s)", pool->name);
}

/* Whether the section M wrote option NAME (accepted or not). */
static bool written(const struct sect_meta *m, const char *name)
{
	return m->key_line[opt_index(m->kind, name)] != 0;
}

/* LO_NAME must stay below HI_NAME. A backend is blamed only for a pair it wrote (else its
 * pool already was); the key named is the one the section wrote, the lower one first. */
static void check_below(struct parser *p, const struct sect_meta *m, enum conf_type t,
                        const char *lo_name, uint64_t lo, const char *hi_name, uint64_t hi)
{
	char a[32], b[32];

	if (lo < hi || (m->kind == SK_BACKEND && !written(m, lo_name) && !written(m, hi_name)))
		return;
	format_limit(t, lo, a, sizeof(a));
	format_limit(t, hi, b, sizeof(b));
	if (written(m, lo_name) || !written(m, hi_name))
		errf(p, key_line(m, lo_name), m->label, lo_name,
		     "%s is not below %s %s (expected %s < %s)", a, hi_name, b, lo_name, hi_name);
	else
		errf(p, key_line(m, hi_name), m->label, hi_name,
		     "%s is not above %s %s (expected %s < %s)", b, lo_name, a, lo_name, hi_name);
}

/* Cross-checks of a health block: the pool's, or a backend's resolved over its pool's. */
static void check_health(struct parser *p, const struct sect_meta *m, const struct conf_health *h)
{
	const char *key = written(m, "check_path") || !written(m, "check") ? "check_path" : "check";
	char q[SHOW_MAXLEN + 8];

	check_below(p, m, CONF_UINT, "load_factor_warning", h->load_factor_warning,
	            "load_factor_critical", h->load_factor_critical);
	check_below(p, m, CONF_DURATION, "ledger_age_warning", h->ledger_age_warning,
	            "ledger_age_critical", h->ledger_age_critical);
	if ((h->check == CHECK_HTTP || h->check == CHECK_RIPPLED) && h->check_path != NULL &&
	    h->check_path[0] != '/' &&
	    (m->kind == SK_POOL || written(m, "check") || written(m, "check_path")))
		errf(p, key_line(m, key), m->label, key,
		     "check = %s needs a check_path that starts with '/', not \"%s\" (expected "
		     "check_path = /PATH)",
		     check_type_names[h->check], show(h->check_path, q, sizeof(q)));
}

/* The type-specific keys of [alert]: a key of another type is a mistake worth naming. */
static const struct {
	const char *key;
	unsigned types; /* bits of enum alert_type */
} alert_keys[] = {
    {"url", 1u << ALERT_WEBHOOK | 1u << ALERT_SLACK | 1u << ALERT_PAGERDUTY},
    {"headers", 1u << ALERT_WEBHOOK | 1u << ALERT_SLACK},
    {"headers_file", 1u << ALERT_WEBHOOK | 1u << ALERT_SLACK},
    {"routing_key", 1u << ALERT_PAGERDUTY},
    {"routing_key_file", 1u << ALERT_PAGERDUTY},
    {"smtp_url", 1u << ALERT_EMAIL},
    {"from", 1u << ALERT_EMAIL},
    {"to", 1u << ALERT_EMAIL},
    {"starttls", 1u << ALERT_EMAIL},
    {"username", 1u << ALERT_EMAIL},
    {"password_file", 1u << ALERT_EMAIL},
};

static void check_alert(struct parser *p, const struct sect_meta *m)
{
	struct conf_alert *a = &p->c->alerts[m->idx];
	const char *type = alert_type_names[a->type];

	for (size_t i = 0; i < ARRAY_SIZE(alert_keys); i++)
		if (written(m, alert_keys[i].key) && !(alert_keys[i].types & 1u << a->type))
			errf(p, key_line(m, alert_keys[i].key), m->label, alert_keys[i].key,
			     "not used by type = %s (expected only the keys of that type)", type);
	if ((a->type == ALERT_WEBHOOK || a->type == ALERT_SLACK) && a->url == NULL &&
	    !written(m, "url"))
		errf(p, key_line(m, "type"), m->label, "url",
		     "required for type = %s (expected url = https://...)", type);
	check_url(p, m, "url", a->url, "http,https");
	if (a->type == ALERT_PAGERDUTY && (a->routing_key == NULL) == (a->routing_key_file == NULL))
		errf(p, key_line(m, a->routing_key != NULL ? "routing_key" : "type"), m->label,
		     "routing_key", "%s (expected one of routing_key or routing_key_file)",
		     a->routing_key != NULL ? "set twice" : "required for type = pagerduty");
	if (a->type == ALERT_EMAIL) {
		static const char *const need[] = {"smtp_url", "from", "to"};
		const char *have[] = {a->smtp_url, a->from, a->to};

		for (size_t i = 0; i < ARRAY_SIZE(need); i++)
			if (have[i] == NULL && !written(m, need[i])) /* else: its own error */
				errf(p, key_line(m, "type"), m->label, need[i],
				     "required for type = email (expected %s = ...)", need[i]);
		check_url(p, m, "smtp_url", a->smtp_url, "smtp,smtps");
		if ((a->username == NULL) != (a->password_file == NULL))
			errf(p, key_line(m, a->username != NULL ? "username" : "password_file"),
			     m->label, a->username != NULL ? "username" : "password_file",
			     "set alone (expected both username and password_file, or neither)");
	}
	check_file(p, m, "headers_file", a->headers_file, "a readable file");
	check_file(p, m, "routing_key_file", a->routing_key_file, "a readable file");
	check_file(p, m, "password_file", a->password_file, "a readable file");
	check_readable(p, m, "tls_ca", a->tls_ca);
	a->on_mask = event_mask(a->on);
}

/* Each name of the comma list LIST must be a section of kind K. */
static void check_names(struct parser *p, const struct sect_meta *m, const char *key,
                        const char *list, enum sect_kind k)
{
	char name[NAME_MAXLEN + 1], q[SHOW_MAXLEN + 8];

	for (const char *it = list; it != NULL && *it != '\0';) {
		size_t n = strcspn(it, ",");

		snprintf(name, sizeof(name), "%.*s", (int)n, it);
		if (meta_find(p, k, name) == NULL)
			errf(p, key_line(m, key), m->label, key,
			     "no %s \"%s\" (expected names of [%s NAME] sections)", sect_words[k],
			     show(name, q, sizeof(q)), sect_words[k]);
		it += n + (it[n] == ',');
	}
}

static void check_hook(struct parser *p, const struct sect_meta *m)
{
	struct conf_hook *hk = &p->c->hooks[m->idx];
	char err[MSG_MAXLEN], q[SHOW_MAXLEN + 8];
	char **argv;

	hk->on_mask = event_mask(hk->on);
	check_names(p, m, "pools", hk->pools, SK_POOL);
	check_names(p, m, "backends", hk->backends, SK_BACKEND);
	if (hk->command == NULL)
		return;
	argv = conf_split_command(hk->command, err, sizeof(err));
	if (argv == NULL) {
		errf(p, key_line(m, "command"), m->label, "command", "%s", err);
		return;
	}
	if (argv[0][0] != '/')
		errf(p, key_line(m, "command"), m->label, "command",
		     "\"%s\" is not an absolute path (expected /PATH/TO/PROGRAM ARG...; no shell)",
		     show(argv[0], q, sizeof(q)));
	else if (access(argv[0], X_OK) < 0)
		errf(p, key_line(m, "command"), m->label, "command",
		     "cannot run \"%s\": %s (expected an executable file)",
		     show(argv[0], q, sizeof(q)), strerror(errno));
	free(argv);
}

/* Tiers in order, without a gap, each naming channels that exist, delays not decreasing;
 * a repeat needs a climb longer than the last delay. Fills the parsed tiers. */
static void check_escalation(struct parser *p, const struct sect_meta *m)
{
	struct conf_escalation *e = &p->c->escalations[m->idx];
	char key[8], ch[MSG_MAXLEN], err[MSG_MAXLEN], a[32], b[32];
	uint64_t prev = 0;

	for (size_t t = 0; t < ESC_TIERS_MAX; t++) {
		snprintf(key, sizeof(key), "tier%zu", t + 1);
		if (e->tier[t] == NULL)
			continue;
		if (t != e->n_tiers) {
			errf(p, key_line(m, key), m->label, key,
			     "tier%zu is missing (expected tiers numbered from 1 without a gap)",
			     e->n_tiers + 1);
			return;
		}
		if (tier_split(e->tier[t], ch, sizeof(ch), &e->tiers[t].after, err, sizeof(err)) <
		        0 ||
		    (e->tiers[t].channels = strdup(ch)) == NULL) {
			p->oom = true;
			return;
		}
		e->n_tiers++;
		check_names(p, m, key, ch, SK_ALERT);
		if (e->tiers[t].after < prev) {
			format_limit(CONF_DURATION, e->tiers[t].after, a, sizeof(a));
			format_limit(CONF_DURATION, prev, b, sizeof(b));
			errf(p, key_line(m, key), m->label, key,
			     "after %s comes before the tier above it (expected %s or later)", a,
			     b);
		}
		prev = e->tiers[t].after;
	}
	if (e->repeat > 0 && e->repeat_interval <= prev) {
		format_limit(CONF_DURATION, e->repeat_interval, a, sizeof(a));
		format_limit(CONF_DURATION, prev, b, sizeof(b));
		errf(p, key_line(m, "repeat_interval"), m->label, "repeat_interval",
		     "%s is not above the last tier's delay %s (expected a longer climb)", a, b);
	}
}

const char *const mirror_kind_names[MIRROR_KIND_COUNT] = {
    [MIRROR_DIR] = "file",
    [MIRROR_WEBDAV] = "webdav",
    [MIRROR_S3] = "s3",
};

/* The keys each kind of mirror reads (the others are refused, as a mistake). */
static const struct {
	const char *key;
	unsigned kinds; /* bits of enum mirror_kind */
} mirror_keys[] = {
    {"endpoint", 1u << MIRROR_S3},
    {"region", 1u << MIRROR_S3},
    {"access_key", 1u << MIRROR_S3},
    {"secret_key", 1u << MIRROR_S3},
    {"secret_key_file", 1u << MIRROR_S3},
    {"username", 1u << MIRROR_WEBDAV},
    {"password_file", 1u << MIRROR_WEBDAV},
    {"timeout", 1u << MIRROR_WEBDAV | 1u << MIRROR_S3},
    {"tls_verify", 1u << MIRROR_WEBDAV | 1u << MIRROR_S3},
    {"tls_ca", 1u << MIRROR_WEBDAV | 1u << MIRROR_S3},
};

/* file:///DIR: an existing folder nodegate may write into. */
static void check_mirror_dir(struct parser *p, const struct sect_meta *m, const char *dir)
{
	char q[SHOW_MAXLEN + 8];
	struct stat st;

	if (dir[0] != '/')
		errf(p, key_line(m, "url"), m->label, "url",
		     "\"%s\" is not an absolute path (expected file:///DIR)",
		     show(dir, q, sizeof(q)));
	else if (stat(dir, &st) != 0)
		errf(p, key_line(m, "url"), m->label, "url",
		     "cannot use \"%s\": %s (expected an "
		     "existing folder)",
		     show(dir, q, sizeof(q)), strerror(errno));
	else if (!S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0)
		errf(p, key_line(m, "url"), m->label, "url",
		     "\"%s\" is not a folder nodegate may write into (expected a writable folder)",
		     show(dir, q, sizeof(q)));
}

/* The kind from the url's scheme, then what that kind needs. */
static void check_mirror(struct parser *p, const struct sect_meta *m)
{
	struct conf_mirror *mr = &p->c->mirrors[m->idx];
	char q[SHOW_MAXLEN + 8];
	const char *u = mr->url;

	if (u == NULL)
		return; /* required: said already */
	if (strncasecmp(u, "file://", 7) == 0) {
		mr->kind = MIRROR_DIR;
		check_mirror_dir(p, m, u + 7);
	} else if (strncasecmp(u, "s3://", 5) == 0) {
		mr->kind = MIRROR_S3;
		if (u[5] == '\0' || u[5] == '/' ||
		    strspn(u + 5, "abcdefghijklmnopqrstuvwxyz0123456789.-") < strcspn(u + 5, "/") ||
		    strcspn(u, " \t?#") != strlen(u))
			errf(p, key_line(m, "url"), m->label, "url",
			     "bad bucket in \"%s\" (expected s3://BUCKET/PREFIX, a bucket name in "
			     "lower case)",
			     show(u, q, sizeof(q)));
		if (mr->access_key == NULL && !written(m, "access_key"))
			errf(p, key_line(m, "url"), m->label, "access_key",
			     "required for an s3:// url (expected access_key = KEY)");
		if ((mr->secret_key == NULL) == (mr->secret_key_file == NULL))
			errf(p, key_line(m, mr->secret_key != NULL ? "secret_key" : "url"),
			     m->label, "secret_key",
			     "%s (expected one of secret_key or secret_key_file)",
			     mr->secret_key != NULL ? "set twice" : "required for an s3:// url");
		check_url(p, m, "endpoint", mr->endpoint, "http,https");
	} else {
		const char *host = strstr(u, "://");

		mr->kind = MIRROR_WEBDAV;
		check_url(p, m, "url", u, "http,https");
		if (host != NULL && strcspn(host + 3, "@/") < strcspn(host + 3, "/"))
			errf(p, key_line(m, "url"), m->label, "url",
			     "a login in the url (expected username and password_file: the url is "
			     "logged and linked)");
		if ((mr->username == NULL) != (mr->password_file == NULL))
			errf(p, key_line(m, mr->username != NULL ? "username" : "password_file"),
			     m->label, mr->username != NULL ? "username" : "password_file",
			     "set alone (expected both username and password_file, or neither)");
	}
	for (size_t i = 0; i < ARRAY_SIZE(mirror_keys); i++)
		if (written(m, mirror_keys[i].key) && !(mirror_keys[i].kinds & 1u << mr->kind))
			errf(p, key_line(m, mirror_keys[i].key), m->label, mirror_keys[i].key,
			     "not used by a %s mirror (expected only the keys of its url's kind)",
			     mirror_kind_names[mr->kind]);
	check_url(p, m, "public_url", mr->public_url, "http,https");
	check_file(p, m, "secret_key_file", mr->secret_key_file, "a readable file");
	check_file(p, m, "password_file", mr->password_file, "a readable file");
	check_readable(p, m, "tls_ca", mr->tls_ca);
}

static void validate(struct parser *p)
{
	for (size_t i = 0; i < p->n_metas; i++) {
		const struct sect_meta *m = &p->metas[i];

		check_required(p, m);
		if (m->kind == SK_GLOBAL) {
			check_global(p, m);
		} else if (m->kind == SK_STATUS) {
			check_status(p, m);
		} else if (m->kind == SK_SUBS) {
			check_subs(p, m);
		} else if (m->kind == SK_LISTENER) {
			check_listener(p, m);
		} else if (m->kind == SK_POOL) {
			check_pool(p, m);
			check_health(p, m, &p->c->pools[m->idx].health);
		} else if (m->kind == SK_BACKEND) {
			const struct conf_backend *b = &p->c->backends[m->idx];

			check_pool_ref(p, m, b->pool);
			check_readable(p, m, "tls_ca", b->tls_ca);
			if (b->pool != NULL && conf_find_pool(p->c, b->pool) != NULL)
				check_health(p, m, &b->health);
		} else if (m->kind == SK_ALERT) {
			check_alert(p, m);
		} else if (m->kind == SK_HOOK) {
			check_hook(p, m);
		} else if (m->kind == SK_ESCALATION) {
			check_escalation(p, m);
		} else if (m->kind == SK_MIRROR) {
			check_mirror(p, m);
		}
	}
}

/* ---- health blocks ------------------------------------------------------------------------ */

static char **health_string(struct conf_health *h, const struct conf_option *o)
{
	return (char **)((char *)h + o->offset);
}

/* Moves the value of health option O from SRC to DST (a string changes owner). */
static void health_move(struct conf_health *dst, struct conf_health *src,
                        const struct conf_option *o)
{
	static const size_t size[CONF_TYPE_COUNT] = {
	    [CONF_STRING] = sizeof(char *),
	    [CONF_UINT] = sizeof(uint64_t),
	    [CONF_DURATION] = sizeof(uint64_t),
	    [CONF_SIZE] = sizeof(uint64_t),
	    [CONF_BOOL] = sizeof(bool),
	    [CONF_ENUM] = sizeof(int),
	    [CONF_ADDR] = sizeof(struct conf_addr),
	    [CONF_BURST] = sizeof(struct conf_burst),
	};

	if (o->type == CONF_STRING) {
		free(*health_string(dst, o));
		*health_string(dst, o) = *health_string(src, o);
		*health_string(src, o) = NULL;
		return;
	}
	memcpy((char *)dst + o->offset, (char *)src + o->offset, size[o->type]);
}

/* The strings of a health block are its CONF_STRING options: the table lists them. */
int conf_health_copy(struct conf_health *dst, const struct conf_health *src)
{
	*dst = *src;
	for (size_t i = 0; i < conf_n_options; i++)
		if (conf_options[i].per_backend && conf_options[i].type == CONF_STRING)
			*health_string(dst, &conf_options[i]) = NULL;
	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];
		const char *s;

		if (!o->per_backend || o->type != CONF_STRING)
			continue;
		s = *health_string((struct conf_health *)src, o);
		if (s != NULL && (*health_string(dst, o) = strdup(s)) == NULL) {
			conf_health_deinit(dst);
			return -1;
		}
	}
	return 0;
}

void conf_health_deinit(struct conf_health *h)
{
	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];

		if (o->per_backend && o->type == CONF_STRING) {
			free(*health_string(h, o));
			*health_string(h, o) = NULL;
		}
	}
}

/* Gives every backend its full health block: a copy of its pool's with the keys its own
 * section wrote (and that parsed) applied over it. A backend without a valid pool keeps
 * only its own keys; that is an error reported by validate. */
static int WUR resolve_health(struct parser *p)
{
	for (size_t i = 0; i < p->n_metas; i++) {
		const struct sect_meta *m = &p->metas[i];
		struct conf_backend *b = m->kind == SK_BACKEND ? &p->c->backends[m->idx] : NULL;
		const struct conf_pool *pool;
		struct conf_health h;

		if (b == NULL || b->pool == NULL || (pool = conf_find_pool(p->c, b->pool)) == NULL)
			continue;
		if (conf_health_copy(&h, &pool->health) < 0)
			return -1;
		for (size_t j = 0; j < conf_n_options; j++)
			if (conf_options[j].per_backend && m->key_set[j])
				health_move(&h, &b->health, &conf_options[j]);
		conf_health_deinit(&b->health);
		b->health = h;
	}
	return 0;
}

/* ---- public ------------------------------------------------------------------------------ */

/* Hands the errors over in line order (insertion sort: stable, and there are few). */
static void move_errors(struct parser *p, struct conf_errors *errs)
{
	for (size_t i = 1; i < p->n_err; i++) {
		struct parse_err e = p->err[i];
		size_t j = i;

		for (; j > 0 && p->err[j - 1].line > e.line; j--)
			p->err[j] = p->err[j - 1];
		p->err[j] = e;
	}
	for (size_t i = 0; i < p->n_err; i++)
		errs->msg[i] = p->err[i].msg;
	errs->n = p->n_err;
	errs->dropped = p->dropped;
}

int conf_load(const char *path, struct conf **out, struct conf_errors *errs)
{
	struct parser p = {.path = path, .cur = -1};
	int rc = -1, r;

	memset(errs, 0, sizeof(*errs));
	*out = NULL;
	p.c = calloc(1, sizeof(*p.c));
	if (p.c == NULL || (p.c->path = strdup(path)) == NULL)
		goto oom;
	apply_defaults(&p, SK_GLOBAL, &p.c->global, 0, "nodegate");
	if (read_file(&p) < 0)
		goto fail;
	r = ini_parse_stream(read_line, &p, on_key, &p);
	check_unparsed(&p);
	if (r == -2)
		goto oom;
	if (r > 0 && p.n_err == 0 && p.dropped == 0) /* inih refused a line read_line passed */
		errf(&p, r, NULL, NULL, "cannot parse line (expected key = value)");
	if (p.oom || resolve_health(&p) < 0)
		goto oom;
	validate(&p);
	if (p.n_err == 0 && p.dropped == 0 && !p.oom) {
		*out = p.c;
		p.c = NULL;
		rc = 0;
	}
	goto fail;
oom:
	errf(&p, 0, NULL, NULL, "out of memory (expected a smaller config or more memory)");
fail:
	move_errors(&p, errs);
	conf_free(p.c);
	free(p.buf);
	free(p.metas);
	return rc;
}

void conf_errors_deinit(struct conf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	e->n = 0;
	e->dropped = 0;
}

/* Frees the name and the CONF_STRING options of a section of kind K at BASE (its struct
 * starts with the name). */
static void free_strings(enum sect_kind k, void *base)
{
	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];

		if (o->type == CONF_STRING && strcmp(o->section, sect_words[k]) == 0)
			free(*(char **)((char *)base + o->offset));
	}
	free(*(char **)base);
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_listeners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].pool);
		free(c->listeners[i].tls_cert);
		free(c->listeners[i].tls_key);
		free(c->listeners[i].limit_exempt);
		free(c->listeners[i].trusted_proxies);
		free(c->listeners[i].allow_methods);
		free(c->listeners[i].deny_methods);
	}
	for (size_t i = 0; i < c->n_pools; i++) {
		free(c->pools[i].name);
		free(c->pools[i].write_methods);
		free(c->pools[i].escalation);
		conf_health_deinit(&c->pools[i].health);
	}
	for (size_t i = 0; i < c->n_backends; i++) {
		conf_health_deinit(&c->backends[i].health);
		free(c->backends[i].name);
		free(c->backends[i].pool);
		free(c->backends[i].tls_ca);
		free(c->backends[i].tls_sni);
	}
	for (size_t i = 0; i < c->n_alerts; i++)
		free_strings(SK_ALERT, &c->alerts[i]);
	for (size_t i = 0; i < c->n_hooks; i++)
		free_strings(SK_HOOK, &c->hooks[i]);
	for (size_t i = 0; i < c->n_escalations; i++) {
		for (size_t t = 0; t < ESC_TIERS_MAX; t++)
			free(c->escalations[i].tiers[t].channels);
		free_strings(SK_ESCALATION, &c->escalations[i]);
	}
	for (size_t i = 0; i < c->n_mirrors; i++)
		free_strings(SK_MIRROR, &c->mirrors[i]);
	free(c->mirrors);
	free(c->escalations);
	free(c->listeners);
	free(c->pools);
	free(c->backends);
	free(c->alerts);
	free(c->hooks);
	free(c->global.access_log);
	free(c->global.state_dir);
	free(c->global.instance);
	free(c->store.url);
	free(c->global.user);
	free(c->global.group);
	free(c->status.title);
	free(c->status.admin_token_file);
	free(c->status.public_url);
	free(c->status.ack_key_file);
	free(c->subs.smtp_url);
	free(c->subs.smtp_username);
	free(c->subs.smtp_password_file);
	free(c->subs.from);
	free(c->subs.public_url);
	free(c->status.notice_file);
	free(c->status.notice);
	for (size_t i = 0; i < CONF_STATUS_TEXTS; i++)
		free(c->status.text[i]);
	free(c->path);
	free(c);
}

const struct conf_escalation *conf_find_escalation(const struct conf *c, const char *name)
{
	for (size_t i = 0; name != NULL && i < c->n_escalations; i++)
		if (strcmp(c->escalations[i].name, name) == 0)
			return &c->escalations[i];
	return NULL;
}

/* Whether NAME is an item of the comma list LIST. */
static bool in_list(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *it = list; it != NULL && *it != '\0';) {
		size_t n = strcspn(it, ",");

		if (n == len && strncmp(it, name, n) == 0)
			return true;
		it += n + (it[n] == ',');
	}
	return false;
}

bool conf_alert_escalated(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_escalations; i++)
		for (size_t t = 0; t < c->escalations[i].n_tiers; t++)
			if (in_list(c->escalations[i].tiers[t].channels, name))
				return true;
	return false;
}

const struct conf_alert *conf_find_alert(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_alerts; i++)
		if (strcmp(c->alerts[i].name, name) == 0)
			return &c->alerts[i];
	return NULL;
}

/* Two passes over COMMAND: the first counts words and bytes, the second writes them after
 * the pointer array. */
char **conf_split_command(const char *command, char *err, size_t errlen)
{
	size_t words = 0, bytes = 0;
	char **argv = NULL, *out = NULL;

	for (int pass = 0; pass < 2; pass++) {
		size_t w = 0;
		const char *c = command;

		for (;;) {
			c += strspn(c, " \t");
			if (*c == '\0')
				break;
			if (pass == 1)
				argv[w] = out;
			while (*c != '\0' && *c != ' ' && *c != '\t') {
				if (*c != '"') {
					if (pass == 1)
						*out++ = *c;
					else
						bytes++;
					c++;
					continue;
				}
				for (c++; *c != '"'; c++) {
					if (*c == '\0') {
						snprintf(err, errlen,
						         "unclosed quote (expected \"...\")");
						free(argv);
						return NULL;
					}
					if (*c == '\\' && (c[1] == '"' || c[1] == '\\'))
						c++;
					if (pass == 1)
						*out++ = *c;
					else
						bytes++;
				}
				c++;
			}
			if (pass == 1)
				*out++ = '\0';
			bytes++;
			w++;
		}
		if (pass == 0) {
			if (w == 0) {
				snprintf(err, errlen, "empty (expected PROGRAM ARG...)");
				return NULL;
			}
			words = w;
			argv = calloc(1, (words + 1) * sizeof(char *) + bytes);
			if (argv == NULL) {
				snprintf(err, errlen, "out of memory");
				return NULL;
			}
			out = (char *)(argv + words + 1);
		}
	}
	return argv;
}

const struct conf_pool *conf_find_pool(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_pools; i++)
		if (strcmp(c->pools[i].name, name) == 0)
			return &c->pools[i];
	return NULL;
}
