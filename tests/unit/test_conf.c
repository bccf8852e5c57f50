/* Unit tests for the configuration: value parsers, defaults, every error message as a user
 * reads it, and etc/nodegate.ini against the option table. Run from the repo root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "conf.h"
#include "proxy/rpc.h"

#define EXAMPLE  "etc/nodegate.ini"
#define READABLE "tests/unit/conf/readable.pem" /* any readable file will do for TLS paths */

/* A pool with one backend, appended to snippets that need a valid rest: 4 lines. */
#define TAIL "[pool rpc]\n" N1
#define N1   "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n" /* 3 lines */

/* The health options, as "unknown option" lists them. */
#define HEALTH_KEYS                                                                                \
	"check, check_interval, check_interval_down, check_timeout, check_address, check_tls, "    \
	"check_tls_verify, check_keepalive, check_tls_max_version, check_tls_library, "            \
	"check_path, "                                                                             \
	"check_expect_status, check_expect_json, "                                                 \
	"expect_peers, "                                                                           \
	"ignore, load_factor_warning, load_factor_critical, ledger_age_warning, "                  \
	"ledger_age_critical, freshness_interval, max_ledger_age, max_ledger_lag, warning_fall, "  \
	"warning_burst, critical_burst, rise, readmit_after, slow_start, sync_grace, "             \
	"flap_hold_max"

static char tmp_path[64];

/* Writes N bytes of TEXT to a new temporary file, named in tmp_path. */
static void write_tmp_len(const char *text, size_t n)
{
	int fd;

	strcpy(tmp_path, "/tmp/test_conf-XXXXXX");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

static void write_tmp(const char *text)
{
	write_tmp_len(text, strlen(text));
}

/* Loads TEXT, which must be valid; the caller frees the conf. */
static struct conf *load_ok(const char *text)
{
	struct conf *c = NULL;
	struct conf_errors e;

	write_tmp(text);
	if (conf_load(tmp_path, &c, &e) < 0) {
		for (size_t i = 0; i < e.n; i++)
			print_message("unexpected: %s\n", e.msg[i]);
		fail_msg("%s does not load", tmp_path);
	}
	assert_non_null(c);
	assert_int_equal(e.n, 0);
	unlink(tmp_path);
	return c;
}

/* Loads the file at tmp_path and checks the errors, in order. Each expected message is
 * given without the leading "PATH:" that every message has. */
static void check_errors(const char *const *want)
{
	struct conf *c = (struct conf *)&c;
	struct conf_errors e;
	char full[2048];
	size_t n = 0;

	while (want[n] != NULL)
		n++;
	assert_int_equal(conf_load(tmp_path, &c, &e), -1);
	assert_null(c);
	if (e.n != n)
		for (size_t i = 0; i < e.n; i++)
			print_message("got: %s\n", e.msg[i]);
	assert_int_equal(e.n, n);
	assert_int_equal(e.dropped, 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s:%s", tmp_path, want[i]);
		assert_string_equal(e.msg[i], full);
	}
	conf_errors_deinit(&e);
	unlink(tmp_path);
}

#define EXPECT(text, ...)                                                                          \
	do {                                                                                       \
		write_tmp(text);                                                                   \
		check_errors((const char *const[]){__VA_ARGS__, NULL});                            \
	} while (0)

/* ---- value parsers -------------------------------------------------------------------- */

static void test_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
	    {"250ms", 250}, {"2s", 2000}, {"15m", 900000}, {"1h", 3600000}, {"1d", 86400000},
	    {"10", 10000},  {"0", 0},     {"0ms", 0},      {"007s", 7000},  {"1000ms", 1000},
	};
	static const char *const bad[] = {"",
	                                  "s",
	                                  "10x",
	                                  "-1",
	                                  "1.5s",
	                                  " 1s",
	                                  "1s ",
	                                  "10S",
	                                  "1 s",
	                                  "1sm",
	                                  "ms",
	                                  "+3",
	                                  "1w",
	                                  "99999999999999999999",
	                                  "18446744073709551615s"};
	char err[256];
	uint64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(conf_parse_duration(good[i].s, &ms, err, sizeof(err)), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_duration(bad[i], &ms, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_duration("10x", &ms, err, sizeof(err)), -1);
	assert_string_equal(
	    err, "bad duration \"10x\" (expected a number and a unit: ms, s, m, h or d)");
}

static void test_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} good[] = {
	    {"512", 512}, {"16k", 16384},  {"1m", 1048576}, {"1g", 1073741824},
	    {"1K", 1024}, {"2M", 2097152}, {"0", 0},
	};
	static const char *const bad[] = {"",     "k",   "1t",  "-1",
	                                  "1.5k", "1kb", "1 k", "99999999999g"};
	char err[256];
	uint64_t n;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(conf_parse_size(good[i].s, &n, err, sizeof(err)), 0);
		assert_int_equal(n, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_size(bad[i], &n, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_size("1t", &n, err, sizeof(err)), -1);
	assert_string_equal(
	    err, "bad size \"1t\" (expected a number of bytes, or with a unit: k, m or g)");
}

static void test_bool(void **state)
{
	static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
	static const char *const no[] = {"no", "false", "off", "0", "No", "OFF"};
	char err[256];
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(conf_parse_bool(yes[i], &b, err, sizeof(err)), 0);
		assert_true(b);
		assert_int_equal(conf_parse_bool(no[i], &b, err, sizeof(err)), 0);
		assert_false(b);
	}
	assert_int_equal(conf_parse_bool("maybe", &b, err, sizeof(err)), -1);
	assert_string_equal(err, "bad value \"maybe\" (expected yes or no)");
	assert_int_equal(conf_parse_bool("", &b, err, sizeof(err)), -1);
}

static void test_burst(void **state)
{
	static const struct {
		const char *s;
		uint32_t count;
		uint64_t window;
	} good[] = {
	    {"4/5s", 4, 5000}, {"2/5s", 2, 5000}, {"1/10ms", 1, 10}, {"16/1h", 16, 3600000},
	    {"4/5", 4, 5000},  {"04/0", 4, 0}, /* the window is the option's to bound */
	};
	static const struct {
		const char *s;
		const char *err;
	} bad[] = {
	    {"0/5s", "bad count in \"0/5s\" (expected COUNT/DURATION with a count 1..16)"},
	    {"17/5s", "bad count in \"17/5s\" (expected COUNT/DURATION with a count 1..16)"},
	    {"4/", "bad burst \"4/\" (expected COUNT/DURATION, like 4/5s)"},
	    {"x/5s", "bad burst \"x/5s\" (expected COUNT/DURATION, like 4/5s)"},
	    {"/5s", "bad burst \"/5s\" (expected COUNT/DURATION, like 4/5s)"},
	    {"4", "bad burst \"4\" (expected COUNT/DURATION, like 4/5s)"},
	    {"4/5x", "bad burst \"4/5x\" (expected COUNT/DURATION, like 4/5s)"},
	    {"4 / 5s", "bad burst \"4 / 5s\" (expected COUNT/DURATION, like 4/5s)"},
	    {"-4/5s", "bad burst \"-4/5s\" (expected COUNT/DURATION, like 4/5s)"},
	    {"4/5s/1", "bad burst \"4/5s/1\" (expected COUNT/DURATION, like 4/5s)"},
	    {"", "bad burst \"\" (expected COUNT/DURATION, like 4/5s)"},
	    {"99999999999999999999/5s",
	     "bad burst \"99999999999999999999/5s\" (expected COUNT/DURATION, like 4/5s)"},
	};
	struct conf_burst b;
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(conf_parse_burst(good[i].s, &b, err, sizeof(err)), 0);
		assert_int_equal(b.count, good[i].count);
		assert_int_equal(b.window, good[i].window);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.count = 99;
		assert_int_equal(conf_parse_burst(bad[i].s, &b, err, sizeof(err)), -1);
		assert_string_equal(err, bad[i].err);
		assert_int_equal(b.count, 99);
	}
}

static void test_addr_good(void **state)
{
	struct conf_addr a;
	char err[256], buf[128];

	assert_int_equal(conf_parse_addr("127.0.0.1:5005", false, &a, err, sizeof(err)), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(a.port, 5005);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 5005);
	conf_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:5005");

	assert_int_equal(conf_parse_addr("[::1]:8080", false, &a, err, sizeof(err)), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_string_equal(a.host, "::1");
	conf_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:8080");

	assert_int_equal(conf_parse_addr("[2001:db8::1]:65535", true, &a, err, sizeof(err)), 0);
	conf_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:65535");

	/* *:PORT is every IPv4 address, for binds only */
	assert_int_equal(conf_parse_addr("*:80", true, &a, err, sizeof(err)), 0);
	assert_string_equal(a.host, "*");
	conf_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:80");

	assert_int_equal(conf_parse_addr("[::]:80", true, &a, err, sizeof(err)), 0);
	conf_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[::]:80");

	/* hostnames are resolved now and keep the name for SNI and logs */
	assert_int_equal(conf_parse_addr("localhost:5005", false, &a, err, sizeof(err)), 0);
	assert_string_equal(a.host, "localhost");
	assert_int_equal(a.port, 5005);
	conf_addr_format(&a, buf, sizeof(buf));
	assert_true(strcmp(buf, "127.0.0.1:5005") == 0 || strcmp(buf, "[::1]:5005") == 0);
}

static void test_addr_bad(void **state)
{
	static const struct {
		const char *s;
		bool passive;
		const char *err;
	} bad[] = {
	    {"127.0.0.1", true, "bad address \"127.0.0.1\" (expected HOST:PORT)"},
	    {"127.0.0.1:0", true,
	     "bad port in \"127.0.0.1:0\" (expected HOST:PORT with a port 1..65535)"},
	    {"127.0.0.1:65536", false,
	     "bad port in \"127.0.0.1:65536\" (expected HOST:PORT with a port 1..65535)"},
	    {"127.0.0.1:", false,
	     "bad port in \"127.0.0.1:\" (expected HOST:PORT with a port 1..65535)"},
	    {"host:http", false,
	     "bad port in \"host:http\" (expected HOST:PORT with a port 1..65535)"},
	    {"127.0.0.1:-1", false,
	     "bad port in \"127.0.0.1:-1\" (expected HOST:PORT with a port 1..65535)"},
	    {":80", true, "bad address \":80\" (expected HOST:PORT)"},
	    {"", true, "bad address \"\" (expected HOST:PORT)"},
	    {"::1:80", false,
	     "bad address \"::1:80\" (expected HOST:PORT, with an IPv6 address in brackets: "
	     "[::1]:80)"},
	    {"[::1]80", false, "bad address \"[::1]80\" (expected HOST:PORT)"},
	    {"[::1", false, "bad address \"[::1\" (expected HOST:PORT)"},
	    {"[]:80", false, "bad address \"[]:80\" (expected HOST:PORT)"},
	    {"[1.2.3.4]:80", false,
	     "bad IPv6 address \"1.2.3.4\" (expected [IPV6]:PORT, like [::1]:80)"},
	    {"[::g]:80", false, "bad IPv6 address \"::g\" (expected [IPV6]:PORT, like [::1]:80)"},
	    {"1.2.3:80", false,
	     "bad IPv4 address \"1.2.3\" (expected four numbers 0..255, like 127.0.0.1)"},
	    {"256.1.1.1:80", true,
	     "bad IPv4 address \"256.1.1.1\" (expected four numbers 0..255, like 127.0.0.1)"},
	    {"*:80", false, "\"*\" is only for bind (expected HOST:PORT)"},
	};
	struct conf_addr a;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0x55, sizeof(a));
		assert_int_equal(conf_parse_addr(bad[i].s, bad[i].passive, &a, err, sizeof(err)),
		                 -1);
		assert_string_equal(err, bad[i].err);
		assert_int_equal(a.len, 0);
	}
	/* the resolver's reason varies between systems; the rest does not */
	assert_int_equal(conf_parse_addr("nosuch.invalid:80", false, &a, err, sizeof(err)), -1);
	assert_true(strncmp(err, "cannot resolve \"nosuch.invalid\": ", 33) == 0);
	assert_non_null(strstr(err, " (expected a hostname or an IP address)"));
}

/* ---- whole files ---------------------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct conf *c = load_ok("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\n" TAIL);
	const struct conf_listener *l = &c->listeners[0];
	const struct conf_pool *p = &c->pools[0];
	const struct conf_backend *b = &c->backends[0];
	char buf[64];

	assert_int_equal(c->global.log_level, LOGL_INFO);
	assert_string_equal(c->global.access_log, "-");
	assert_string_equal(c->global.state_dir, "state");
	assert_int_equal(c->global.shutdown_timeout, 10000);
	assert_int_equal(c->global.max_connections, 10000);

	assert_int_equal(c->n_listeners, 1);
	assert_string_equal(l->name, "a");
	assert_int_equal(l->line, 1);
	conf_addr_format(&l->bind, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8080");
	assert_int_equal(l->mode, MODE_HTTP);
	assert_string_equal(l->pool, "rpc");
	assert_null(l->tls_cert);
	assert_null(l->tls_key);
	assert_int_equal(l->max_connections, 10000);
	assert_int_equal(l->header_timeout, 10000);
	assert_int_equal(l->client_timeout, 60000);
	assert_int_equal(l->tunnel_timeout, 3600000);
	assert_int_equal(l->max_header_size, 16384);
	assert_int_equal(l->max_uri_size, 8192);
	assert_int_equal(l->max_headers, 100);
	assert_int_equal(l->max_body_size, 1048576);
	assert_int_equal(l->max_requests, 0);
	assert_int_equal(l->lingering_time, 30000);
	assert_int_equal(l->lingering_timeout, 5000);
	assert_int_equal(l->lingering_max_size, 16777216);
	assert_int_equal(l->max_conns_per_ip, 0);
	assert_int_equal(l->rate_per_ip, 0);
	assert_int_equal(l->burst_per_ip, 0);
	assert_null(l->limit_exempt);
	assert_null(l->trusted_proxies);
	assert_int_equal(l->max_tracked_clients, 65536);

	assert_int_equal(c->n_pools, 1);
	assert_string_equal(p->name, "rpc");
	assert_int_equal(p->line, 4);
	assert_int_equal(p->balance, BALANCE_ROUNDROBIN);
	assert_int_equal(p->retries, 2);
	assert_int_equal(p->connect_timeout, 2000);
	assert_int_equal(p->response_timeout, 30000);
	assert_int_equal(p->idle_timeout, 60000);
	assert_int_equal(p->ws_drain_grace, 5000);
	assert_int_equal(p->ws_failover, WS_FAILOVER_RESUBSCRIBE);
	assert_int_equal(p->max_idle, 1024);
	assert_int_equal(p->min_up, 1);
	assert_true(p->panic);
	assert_int_equal(p->retry_budget, 20);
	assert_int_equal(p->retry_budget_window, 10000);
	assert_int_equal(p->retry_budget_min, 3);
	assert_ptr_equal(conf_find_pool(c, "rpc"), p);
	assert_null(conf_find_pool(c, "other"));

	assert_int_equal(c->n_backends, 1);
	assert_string_equal(b->name, "n1");
	assert_int_equal(b->line, 5);
	assert_string_equal(b->pool, "rpc");
	conf_addr_format(&b->address, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:5005");
	assert_int_equal(b->weight, 1);
	assert_int_equal(b->max_conns, 0);
	assert_false(b->tls);
	assert_true(b->tls_verify);
	assert_null(b->tls_ca);
	assert_null(b->tls_sni);
	CONF_FREE(c);
	assert_null(c);
}

/* [status] is optional: without it there is no status listener; with it, its defaults. */
static void test_status_defaults(void **state)
{
	struct conf *c = load_ok(TAIL);
	char buf[64];

	assert_false(c->status.enabled);
	assert_int_equal(c->status.bind.len, 0);
	assert_null(c->status.title);
	assert_null(c->status.admin_token_file);
	conf_free(c);

	c = load_ok(TAIL "[status]\n");
	assert_true(c->status.enabled);
	assert_int_equal(c->status.line, 5);
	conf_addr_format(&c->status.bind, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8404");
	assert_string_equal(c->status.title, "nodegate status");
	assert_false(c->status.public_backend_details);
	assert_null(c->status.admin_token_file);
	conf_free(c);
}

static void test_status_values(void **state)
{
	struct conf *c = load_ok("[status]\n"
	                         "bind = *:9000\n"
	                         "title = XRPL RPC: \"status\"\n"
	                         "public_backend_details = yes\n"
	                         "admin_token_file = " READABLE "\n"
	                         "[listener a]\nbind = 127.0.0.1:9001\npool = rpc\n" TAIL);
	char buf[64];

	assert_true(c->status.enabled);
	assert_int_equal(c->status.line, 1);
	conf_addr_format(&c->status.bind, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:9000");
	assert_string_equal(c->status.title, "XRPL RPC: \"status\"");
	assert_true(c->status.public_backend_details);
	assert_string_equal(c->status.admin_token_file, READABLE);
	conf_free(c);
}

/* The health block of a pool that writes no health key, and of its backend. */
static void check_health_defaults(const struct conf_health *h)
{
	assert_int_equal(h->check, CHECK_TCP);
	assert_int_equal(h->check_interval, 1000);
	assert_int_equal(h->check_interval_down, 0);
	assert_int_equal(h->check_timeout, 2000);
	assert_int_equal(h->check_address.len, 0);
	assert_false(h->check_tls);
	assert_true(h->check_tls_verify);
	assert_true(h->check_keepalive);
	assert_int_equal(h->check_tls_max_version, CHECK_TLS_MAX_AUTO);
	assert_int_equal(h->check_tls_library, CHECK_TLS_LIB_GNUTLS);
	assert_string_equal(h->check_path, "/health");
	assert_null(h->check_expect_status);
	assert_null(h->check_expect_json);
	assert_int_equal(h->expect_peers, 8);
	assert_null(h->ignore);
	assert_int_equal(h->load_factor_warning, 100);
	assert_int_equal(h->load_factor_critical, 1000);
	assert_int_equal(h->ledger_age_warning, 7000);
	assert_int_equal(h->ledger_age_critical, 20000);
	assert_int_equal(h->freshness_interval, 0);
	assert_int_equal(h->max_ledger_age, 20000);
	assert_int_equal(h->max_ledger_lag, 0);
	assert_int_equal(h->warning_fall, 3);
	assert_int_equal(h->warning_burst.count, 4);
	assert_int_equal(h->warning_burst.window, 5000);
	assert_int_equal(h->critical_burst.count, 2);
	assert_int_equal(h->critical_burst.window, 5000);
	assert_int_equal(h->rise, 3);
	assert_int_equal(h->readmit_after, 10000);
	assert_int_equal(h->slow_start, 60000);
	assert_int_equal(h->sync_grace, 900000);
	assert_int_equal(h->flap_hold_max, 300000);
}

static void test_health_defaults(void **state)
{
	struct conf *c = load_ok(TAIL);

	check_health_defaults(&c->pools[0].health);
	check_health_defaults(&c->backends[0].health);
	/* the backend's copy is its own */
	assert_ptr_not_equal(c->backends[0].health.check_path, c->pools[0].health.check_path);
	assert_string_equal(check_type_names[CHECK_RIPPLED], "rippled");
	assert_string_equal(check_type_names[CHECK_HTTP], "http");
	assert_string_equal(check_type_names[CHECK_TCP], "tcp");
	assert_string_equal(check_type_names[CHECK_NONE], "none");
	conf_free(c);
}

/* Every health key set in a pool, lists written with blanks that loading removes. */
static void test_health_values(void **state)
{
	struct conf *c = load_ok("[pool rpc]\n"
	                         "min_up = 0\n"
	                         "panic = no\n"
	                         "check = RIPPLED\n"
	                         "check_interval = 10ms\n"
	                         "check_interval_down = 5s\n"
	                         "check_timeout = 1m\n"
	                         "check_address = 127.0.0.1:51235\n"
	                         "check_tls = yes\n"
	                         "check_tls_verify = no\n"
	                         "check_tls_max_version = 1.2\n"
	                         "check_tls_library = openssl\n"
	                         "check_path = /health?x=1\n"
	                         "check_expect_status = 200 , 2XX,204\n"
	                         "check_expect_json = status = ok , info.server_state=full sync\n"
	                         "expect_peers = 0\n"
	                         "ignore = peers, validated_ledger\n"
	                         "load_factor_warning = 1\n"
	                         "load_factor_critical = 1000000000\n"
	                         "ledger_age_warning = 1s\n"
	                         "ledger_age_critical = 1d\n"
	                         "freshness_interval = 2s\n"
	                         "max_ledger_age = 1s\n"
	                         "max_ledger_lag = 100000\n"
	                         "warning_fall = 100\n"
	                         "warning_burst = 16/1h\n"
	                         "critical_burst = 1/10ms\n"
	                         "rise = 1\n"
	                         "readmit_after = 0\n"
	                         "slow_start = 1h\n"
	                         "sync_grace = 1d\n"
	                         "flap_hold_max = 0\n"
	                         "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n");
	const struct conf_pool *p = &c->pools[0];
	const struct conf_health *h = &p->health;
	char buf[64];

	assert_int_equal(p->min_up, 0);
	assert_false(p->panic);
	assert_int_equal(h->check, CHECK_RIPPLED);
	assert_int_equal(h->check_interval, 10);
	assert_int_equal(h->check_interval_down, 5000);
	assert_int_equal(h->check_timeout, 60000);
	conf_addr_format(&h->check_address, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:51235");
	assert_true(h->check_tls);
	assert_false(h->check_tls_verify);
	assert_int_equal(h->check_tls_max_version, CHECK_TLS_MAX_12);
	assert_int_equal(h->check_tls_library, CHECK_TLS_LIB_OPENSSL);
	assert_string_equal(h->check_path, "/health?x=1");
	assert_string_equal(h->check_expect_status, "200,2xx,204");
	assert_string_equal(h->check_expect_json, "status=ok,info.server_state=full sync");
	assert_int_equal(h->expect_peers, 0);
	assert_string_equal(h->ignore, "peers,validated_ledger");
	assert_int_equal(h->load_factor_warning, 1);
	assert_int_equal(h->load_factor_critical, 1000000000);
	assert_int_equal(h->ledger_age_warning, 1000);
	assert_int_equal(h->ledger_age_critical, 86400000);
	assert_int_equal(h->freshness_interval, 2000);
	assert_int_equal(h->max_ledger_age, 1000);
	assert_int_equal(h->max_ledger_lag, 100000);
	assert_int_equal(h->warning_fall, 100);
	assert_int_equal(h->warning_burst.count, 16);
	assert_int_equal(h->warning_burst.window, 3600000);
	assert_int_equal(h->critical_burst.count, 1);
	assert_int_equal(h->critical_burst.window, 10);
	assert_int_equal(h->rise, 1);
	assert_int_equal(h->readmit_after, 0);
	assert_int_equal(h->slow_start, 3600000);
	assert_int_equal(h->sync_grace, 86400000);
	assert_int_equal(h->flap_hold_max, 0);

	/* the backend got all of it */
	h = &c->backends[0].health;
	assert_int_equal(h->check, CHECK_RIPPLED);
	assert_int_equal(h->check_address.port, 51235);
	assert_string_equal(h->check_expect_json, "status=ok,info.server_state=full sync");
	assert_int_equal(h->critical_burst.window, 10);
	conf_free(c);
}

/* A key written in [backend] wins over the pool's value for that backend only; the other
 * backends keep the pool's; each backend's strings are its own copies. */
static void test_health_override(void **state)
{
	struct conf *c = load_ok("[pool rpc]\n"                      /* 1 */
	                         "check = rippled\n"                 /* 2 */
	                         "check_tls = yes\n"                 /* 3 */
	                         "expect_peers = 5\n"                /* 4 */
	                         "ignore = load_factor\n"            /* 5 */
	                         "warning_burst = 3/2s\n"            /* 6 */
	                         "[backend hub]\n"                   /* 7 */
	                         "pool = rpc\n"                      /* 8 */
	                         "address = 127.0.0.1:5005\n"        /* 9 */
	                         "check_address = 127.0.0.1:51235\n" /* 10 */
	                         "[backend peer]\n"                  /* 11 */
	                         "expect_peers = 3\n"                /* 12 */
	                         "ignore = peers,server_state\n"     /* 13 */
	                         "check_tls = no\n"                  /* 14 */
	                         "warning_burst = 8/1m\n"            /* 15 */
	                         "check_path = /private/health\n"    /* 16 */
	                         "pool = rpc\n"                      /* 17 */
	                         "address = 127.0.0.1:5006\n");      /* 18 */
	const struct conf_health *pool = &c->pools[0].health;
	const struct conf_health *hub = &c->backends[0].health;
	const struct conf_health *peer = &c->backends[1].health;

	assert_int_equal(pool->expect_peers, 5);
	assert_int_equal(pool->check_address.len, 0);
	assert_string_equal(pool->check_path, "/health");

	assert_int_equal(hub->check, CHECK_RIPPLED);
	assert_true(hub->check_tls);
	assert_int_equal(hub->expect_peers, 5);
	assert_string_equal(hub->ignore, "load_factor");
	assert_ptr_not_equal(hub->ignore, pool->ignore);
	assert_int_equal(hub->warning_burst.count, 3);
	assert_int_equal(hub->check_address.port, 51235);
	assert_string_equal(hub->check_path, "/health");

	assert_int_equal(peer->check, CHECK_RIPPLED);
	assert_false(peer->check_tls);
	assert_int_equal(peer->expect_peers, 3);
	assert_string_equal(peer->ignore, "peers,server_state");
	assert_int_equal(peer->warning_burst.count, 8);
	assert_int_equal(peer->warning_burst.window, 60000);
	assert_int_equal(peer->check_address.len, 0);
	assert_string_equal(peer->check_path, "/private/health");
	assert_int_equal(peer->rise, 3); /* neither wrote it: the default */
	conf_free(c);
}

static void test_health_copy(void **state)
{
	struct conf *c = load_ok("[pool rpc]\ncheck_expect_status = 200\nignore = peers\n"
	                         "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n");
	struct conf_health h;

	assert_int_equal(conf_health_copy(&h, &c->backends[0].health), 0);
	conf_free(c); /* the copy outlives the conf */
	assert_string_equal(h.check_path, "/health");
	assert_string_equal(h.check_expect_status, "200");
	assert_null(h.check_expect_json);
	assert_string_equal(h.ignore, "peers");
	assert_int_equal(h.expect_peers, 8);
	conf_health_deinit(&h);
	assert_null(h.check_path);
	assert_null(h.ignore);
}

static void test_every_value(void **state)
{
	struct conf *c = load_ok("[nodegate]\n"
	                         "log_level = DEBUG\n"
	                         "access_log = off\n"
	                         "state_dir = /var/lib/nodegate\n"
	                         "shutdown_timeout = 0\n"
	                         "max_connections = 20\n"
	                         "[listener tls]\n"
	                         "bind = [::1]:8443\n"
	                         "mode = tcp\n"
	                         "pool = rpc\n"
	                         "tls_cert = " READABLE "\n"
	                         "tls_key = " READABLE "\n"
	                         "max_connections = 7\n"
	                         "header_timeout = 250ms\n"
	                         "client_timeout = 2m\n"
	                         "tunnel_timeout = 1d\n"
	                         "max_header_size = 1m\n"
	                         "max_uri_size = 64\n"
	                         "max_headers = 128\n"
	                         "max_body_size = 1g\n"
	                         "max_requests = 1000\n"
	                         "lingering_time = 0\n"
	                         "lingering_timeout = 1ms\n"
	                         "lingering_max_size = 1\n"
	                         "[listener any]\n"
	                         "bind = *:8080\n"
	                         "pool = rpc\n"
	                         "[pool rpc]\n"
	                         "balance = leastconn\n"
	                         "retries = 0\n"
	                         "connect_timeout = 1ms\n"
	                         "response_timeout = 1h\n"
	                         "idle_timeout = 5\n"
	                         "ws_drain_grace = 0\n"
	                         "ws_failover = close\n"
	                         "max_idle = 0\n"
	                         "[backend n1]\n"
	                         "pool = rpc\n"
	                         "address = localhost:51234\n"
	                         "weight = 256\n"
	                         "max_conns = 100\n"
	                         "tls = yes\n"
	                         "tls_verify = no\n"
	                         "tls_ca = " READABLE "\n"
	                         "tls_sni = node1.example.net\n");
	const struct conf_listener *l = &c->listeners[0];
	const struct conf_pool *p = &c->pools[0];
	const struct conf_backend *b = &c->backends[0];
	char buf[64];

	assert_int_equal(c->global.log_level, LOGL_DEBUG);
	assert_string_equal(c->global.access_log, "off");
	assert_string_equal(c->global.state_dir, "/var/lib/nodegate");
	assert_int_equal(c->global.shutdown_timeout, 0);
	assert_int_equal(c->global.max_connections, 20);

	assert_int_equal(c->n_listeners, 2);
	conf_addr_format(&l->bind, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:8443");
	assert_int_equal(l->mode, MODE_TCP);
	assert_string_equal(l->tls_cert, READABLE);
	assert_string_equal(l->tls_key, READABLE);
	assert_int_equal(l->max_connections, 7);
	assert_int_equal(l->header_timeout, 250);
	assert_int_equal(l->client_timeout, 120000);
	assert_int_equal(l->tunnel_timeout, 86400000);
	assert_int_equal(l->max_header_size, 1048576);
	assert_int_equal(l->max_uri_size, 64);
	assert_int_equal(l->max_headers, 128);
	assert_int_equal(l->max_body_size, 1073741824);
	assert_int_equal(l->max_requests, 1000);
	assert_int_equal(l->lingering_time, 0);
	assert_int_equal(l->lingering_timeout, 1);
	assert_int_equal(l->lingering_max_size, 1);
	conf_addr_format(&c->listeners[1].bind, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:8080");

	assert_int_equal(p->balance, BALANCE_LEASTCONN);
	assert_int_equal(p->retries, 0);
	assert_int_equal(p->connect_timeout, 1);
	assert_int_equal(p->response_timeout, 3600000);
	assert_int_equal(p->idle_timeout, 5000);
	assert_int_equal(p->ws_drain_grace, 0);
	assert_int_equal(p->ws_failover, WS_FAILOVER_CLOSE);
	assert_int_equal(p->max_idle, 0);

	assert_string_equal(b->address.host, "localhost");
	assert_int_equal(b->address.port, 51234);
	assert_int_equal(b->weight, 256);
	assert_int_equal(b->max_conns, 100);
	assert_true(b->tls);
	assert_false(b->tls_verify);
	assert_string_equal(b->tls_ca, READABLE);
	assert_string_equal(b->tls_sni, "node1.example.net");
	conf_free(c);
}

/* CRLF line ends, a UTF-8 BOM, blanks around '=', ';' comments after a value, long
 * comment lines: what editors on any system leave in a file. */
static void test_dialect(void **state)
{
	char text[1024];
	struct conf *c;

	snprintf(text, sizeof(text),
	         "\xEF\xBB\xBF# %0300d\r\n"
	         "[pool rpc]\r\n"
	         "\tretries=3 ; a comment\r\n"
	         "  connect_timeout   =   5s\r\n"
	         "[ backend   n1 ]\r\n"
	         "pool = rpc\r\n"
	         "address = 127.0.0.1:5005",
	         0);
	c = load_ok(text);
	assert_int_equal(c->pools[0].retries, 3);
	assert_int_equal(c->pools[0].connect_timeout, 5000);
	assert_string_equal(c->backends[0].name, "n1");
	assert_int_equal(c->backends[0].line, 5);
	conf_free(c);

	c = load_ok("");
	assert_int_equal(c->n_listeners + c->n_pools + c->n_backends, 0);
	assert_string_equal(c->global.state_dir, "state");
	conf_free(c);
}

/* ---- every error, as the user reads it ------------------------------------------------ */

static void test_err_sections(void **state)
{
	EXPECT(
	    "[foo]\nx = 1\n" TAIL,
	    "1: [foo]: unknown section (expected [nodegate], [status], [postmortem], "
	    "[subscriptions], [store], [listener NAME], [pool NAME], [backend NAME], [alert NAME], "
	    "[hook NAME], [escalation NAME] or [mirror NAME])");
	EXPECT("[listener]\nbind = 127.0.0.1:80\n" TAIL,
	       "1: [listener]: missing name (expected [listener NAME])");
	EXPECT("[backend]\n" TAIL, "1: [backend]: missing name (expected [backend NAME])");
	EXPECT("[nodegate x]\nlog_level = info\n" TAIL,
	       "1: [nodegate x]: unexpected name (expected [nodegate])");
	EXPECT("[pool a/b]\n" TAIL,
	       "1: [pool a/b]: bad name (expected up to 64 letters, digits, '-', '_' or '.')");
	EXPECT("[pool a b]\n" TAIL,
	       "1: [pool a b]: bad name (expected up to 64 letters, digits, '-', '_' or '.')");
	EXPECT("[pool rpc\n",
	       "1: cannot parse \"[pool rpc\" (expected [section] or [section NAME])");
	EXPECT(TAIL "[pool rpc] x\n",
	       "5: text after ']' in \"[pool rpc] x\" (expected [section NAME])");
	EXPECT(TAIL "[pool rpc]\nretries = 99\n",
	       "5: [pool rpc]: duplicate section (expected one [pool rpc], first at line 1)");
	EXPECT("[nodegate]\n[nodegate]\n",
	       "2: [nodegate]: duplicate section (expected one [nodegate], first at line 1)");
	EXPECT("retries = 2\n" TAIL,
	       "1: retries: option outside any section (expected a section header such as "
	       "[nodegate] before it)");
}

static void test_err_keys(void **state)
{
	EXPECT(
	    "[pool rpc]\nbogus = 1\n[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n",
	    "2: [pool rpc] bogus: unknown option (expected one of: balance, retries, retry_budget, "
	    "retry_budget_window, retry_budget_min, connect_timeout, response_timeout, "
	    "slow_factor, "
	    "slow_signal, idle_timeout, ws_drain_grace, ws_failover, max_idle, urgency, "
	    "escalation, min_up, panic, "
	    "write_methods, " HEALTH_KEYS ")");
	/* a backend takes its own options and its pool's health options, not the others */
	EXPECT(TAIL "min_up = 2\n",
	       "5: [backend n1] min_up: unknown option (expected one of: pool, address, weight, "
	       "max_conns, tls, tls_verify, tls_ca, tls_sni, " HEALTH_KEYS ")");
	EXPECT("[nodegate]\nLog_Level = info\n",
	       "2: [nodegate] Log_Level: unknown option (expected one of: log_level, access_log, "
	       "state_dir, instance, shutdown_timeout, shutdown_grace, workers, max_connections, "
	       "log_format, "
	       "user, group, allow_root)");
	EXPECT(TAIL "weight = 1\nweight = 2\n",
	       "6: [backend n1] weight: duplicate option (expected it once, first at line 5)");
	/* [nodegate] user, group, log_format (priv.c, log.c) */
	EXPECT("[nodegate]\nuser = node gate\n" TAIL,
	       "2: [nodegate] user: bad name \"node gate\" (expected a user or group name, like "
	       "nodegate)");
	EXPECT("[nodegate]\ngroup = nogroup\n" TAIL,
	       "2: [nodegate] group: set without user (expected user = NAME too)");
	EXPECT("[nodegate]\nlog_format = xml\n" TAIL,
	       "2: [nodegate] log_format: bad value \"xml\" (expected auto, text, journal or "
	       "json)");
	/* multi-line values are off: an indented line is a line of its own */
	EXPECT(TAIL "weight = 1\n  weight = 2\n",
	       "6: [backend n1] weight: duplicate option (expected it once, first at line 5)");
	EXPECT(TAIL "weight = 1\n  2\n",
	       "6: [backend n1]: cannot parse \"2\" (expected key = value)");
	EXPECT(TAIL "weight\n", "5: [backend n1]: cannot parse \"weight\" (expected key = value)");
	EXPECT(TAIL "= 1\n", "5: [backend n1]: cannot parse \"= 1\" (expected key = value)");
	EXPECT("[nodegate]\naccess_log =\n",
	       "2: [nodegate] access_log: empty value (expected access_log = PATH)");
}

/* retry_budget is a percent; its window a duration; 0 turns retries after sending off */
static void test_err_retry_budget(void **state)
{
	EXPECT("[pool rpc]\nretry_budget = 101\nretry_budget_window = 5ms\n"
	       "retry_budget_min = few\n" N1,
	       "2: [pool rpc] retry_budget: 101 is out of range (expected 0..100)",
	       "3: [pool rpc] retry_budget_window: 5ms is out of range (expected 10ms..1h)",
	       "4: [pool rpc] retry_budget_min: bad number \"few\" (expected a whole number "
	       "0..1000000)");
}

static void test_err_values(void **state)
{
	EXPECT("[nodegate]\nlog_level = loud\n",
	       "2: [nodegate] log_level: bad value \"loud\" (expected error, warn, info or debug)");
	EXPECT("[nodegate]\nshutdown_timeout = 2h\nmax_connections = 0\n",
	       "2: [nodegate] shutdown_timeout: 2h is out of range (expected 0..1h)",
	       "3: [nodegate] max_connections: 0 is out of range (expected 1..1000000)");
	EXPECT(TAIL "[listener a]\nbind = 127.0.0.1:8080\npool = rpc\nmode = udp\n",
	       "8: [listener a] mode: bad value \"udp\" (expected http or tcp)");
	EXPECT("[pool rpc]\nbalance = random\nretries = abc\n[backend n1]\npool = rpc\n"
	       "address = 127.0.0.1:5005\n",
	       "2: [pool rpc] balance: bad value \"random\" (expected roundrobin or leastconn)",
	       "3: [pool rpc] retries: bad number \"abc\" (expected a whole number 0..10)");
	EXPECT("[pool rpc]\nretries = 99\nconnect_timeout = 2m\nidle_timeout = 0\nmax_idle = -1\n"
	       "response_timeout = 30 s\n[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n",
	       "2: [pool rpc] retries: 99 is out of range (expected 0..10)",
	       "3: [pool rpc] connect_timeout: 2m is out of range (expected 1ms..1m)",
	       "4: [pool rpc] idle_timeout: 0 is out of range (expected 1ms..1h)",
	       "5: [pool rpc] max_idle: bad number \"-1\" (expected a whole number 0..10000)",
	       "6: [pool rpc] response_timeout: bad duration \"30 s\" (expected a number and a "
	       "unit: ms, s, m, h or d)");
	EXPECT(
	    "[pool rpc]\nws_drain_grace = 2h\n[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n",
	    "2: [pool rpc] ws_drain_grace: 2h is out of range (expected 0..1h)");
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\nheader_timeout = 10x\n"
	       "max_body_size = 1t\nmax_header_size = 2m\nmax_headers = 129\nmax_uri_size = 32\n"
	       "tunnel_timeout = 8d\n" TAIL,
	       "4: [listener a] header_timeout: bad duration \"10x\" (expected a number and a "
	       "unit: ms, s, m, h or d)",
	       "5: [listener a] max_body_size: bad size \"1t\" (expected a number of bytes, or "
	       "with a unit: k, m or g)",
	       "6: [listener a] max_header_size: 2m is out of range (expected 1k..1m)",
	       "7: [listener a] max_headers: 129 is out of range (expected 1..128)",
	       "8: [listener a] max_uri_size: 32 is out of range (expected 64..1m)",
	       "9: [listener a] tunnel_timeout: 8d is out of range (expected 1ms..7d)");
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\nlingering_time = 11m\n"
	       "lingering_timeout = 0\nlingering_max_size = 2g\n" TAIL,
	       "4: [listener a] lingering_time: 11m is out of range (expected 0..10m)",
	       "5: [listener a] lingering_timeout: 0 is out of range (expected 1ms..1m)",
	       "6: [listener a] lingering_max_size: 2g is out of range (expected 1..1g)");
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\nmax_header_size = 4k\n"
	       "max_uri_size = 8k\n" TAIL,
	       "5: [listener a] max_uri_size: 8k is larger than max_header_size 4k (expected at "
	       "most max_header_size)");
	EXPECT(TAIL "weight = 257\ntls = maybe\n",
	       "5: [backend n1] weight: 257 is out of range (expected 0..256)",
	       "6: [backend n1] tls: bad value \"maybe\" (expected yes or no)");
}

/* Per-client limits: values as written, CIDR lists tidied; bad lists name the item. */
static void test_client_limits(void **state)
{
	struct conf *c = load_ok("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\n"
	                         "max_conns_per_ip = 4\nrate_per_ip = 20\nburst_per_ip = 50\n"
	                         "limit_exempt = 127.0.0.0/8 ,  ::1\n"
	                         "trusted_proxies = 10.0.0.5,2001:db8::/32\n"
	                         "max_tracked_clients = 1000\n" TAIL);
	const struct conf_listener *l = &c->listeners[0];

	assert_int_equal(l->max_conns_per_ip, 4);
	assert_int_equal(l->rate_per_ip, 20);
	assert_int_equal(l->burst_per_ip, 50);
	assert_string_equal(l->limit_exempt, "127.0.0.0/8,::1");
	assert_string_equal(l->trusted_proxies, "10.0.0.5,2001:db8::/32");
	assert_int_equal(l->max_tracked_clients, 1000);
	CONF_FREE(c);
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\n"
	       "limit_exempt = 10.0.0.0/8, localhost\ntrusted_proxies = 10.1.2.3/8\n"
	       "burst_per_ip = 0\nmax_tracked_clients = 0\nrate_per_ip = 2000000\n" TAIL,
	       "4: [listener a] limit_exempt: bad address \"localhost\" (expected addresses or "
	       "networks ADDRESS/PREFIX, comma separated, like 10.0.0.0/8, 192.0.2.7, ::1, "
	       "2001:db8::/32)",
	       "5: [listener a] trusted_proxies: bad network (bits set after the prefix) "
	       "\"10.1.2.3/8\" (expected addresses or networks ADDRESS/PREFIX, comma separated, "
	       "like 10.0.0.0/8, 192.0.2.7, ::1, 2001:db8::/32)",
	       "7: [listener a] max_tracked_clients: 0 is out of range (expected 1..16777216)",
	       "8: [listener a] rate_per_ip: 2000000 is out of range (expected 0..1000000)");
}

static void test_err_addresses(void **state)
{
	EXPECT("[listener public]\nbind = 127.0.0.1\npool = rpc\n" TAIL,
	       "2: [listener public] bind: bad address \"127.0.0.1\" (expected HOST:PORT)");
	EXPECT("[listener public]\nbind = 127.0.0.1:0\npool = rpc\n" TAIL,
	       "2: [listener public] bind: bad port in \"127.0.0.1:0\" (expected HOST:PORT with "
	       "a port 1..65535)");
	EXPECT("[pool rpc]\n[backend n1]\npool = rpc\naddress = *:5005\n",
	       "4: [backend n1] address: \"*\" is only for bind (expected HOST:PORT)");
	EXPECT("[pool rpc]\n[backend n1]\npool = rpc\naddress = ::1:5005\n",
	       "4: [backend n1] address: bad address \"::1:5005\" (expected HOST:PORT, with an "
	       "IPv6 address in brackets: [::1]:80)");
	/* the same address twice, and the wildcard over a specific address */
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\n"
	       "[listener b]\nbind = 127.0.0.1:8080\npool = rpc\n"
	       "[listener c]\nbind = *:8080\npool = rpc\n"
	       "[listener d]\nbind = [::1]:8080\npool = rpc\n"
	       "[listener e]\nbind = 127.0.0.1:8081\npool = rpc\n" TAIL,
	       "5: [listener b] bind: 127.0.0.1:8080 is already bound by [listener a] at line 2 "
	       "(expected a distinct HOST:PORT)",
	       "8: [listener c] bind: 0.0.0.0:8080 is already bound by [listener a] at line 2 "
	       "(expected a distinct HOST:PORT)");
}

static void test_err_address_unresolvable(void **state)
{
	struct conf *c = NULL;
	struct conf_errors e;
	char want[128];

	write_tmp("[pool rpc]\n[backend n1]\npool = rpc\naddress = nosuch.invalid:5005\n");
	assert_int_equal(conf_load(tmp_path, &c, &e), -1);
	assert_null(c);
	assert_int_equal(e.n, 1);
	snprintf(want, sizeof(want),
	         "%s:4: [backend n1] address: cannot resolve \"nosuch.invalid\": ", tmp_path);
	assert_true(strncmp(e.msg[0], want, strlen(want)) == 0);
	assert_non_null(strstr(e.msg[0], " (expected a hostname or an IP address)"));
	conf_errors_deinit(&e);
	unlink(tmp_path);
}

static void test_err_references(void **state)
{
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = nope\n" TAIL,
	       "3: [listener a] pool: no pool \"nope\" (expected the name of a [pool NAME] "
	       "section)");
	EXPECT(TAIL "[backend n2]\npool = other\naddress = 127.0.0.1:5006\n",
	       "6: [backend n2] pool: no pool \"other\" (expected the name of a [pool NAME] "
	       "section)");
	EXPECT(TAIL "[pool empty]\n",
	       "5: [pool empty]: no backend in this pool (expected a [backend NAME] with pool = "
	       "empty)");
	EXPECT("[listener a]\n" TAIL,
	       "1: [listener a] bind: required option missing (expected bind = HOST:PORT)",
	       "1: [listener a] pool: required option missing (expected pool = NAME)");
	EXPECT("[pool rpc]\n[backend n1]\n",
	       "1: [pool rpc]: no backend in this pool (expected a [backend NAME] with pool = rpc)",
	       "2: [backend n1] pool: required option missing (expected pool = NAME)",
	       "2: [backend n1] address: required option missing (expected address = HOST:PORT)");
}

static void test_err_tls(void **state)
{
	EXPECT("[listener a]\nbind = 127.0.0.1:8443\npool = rpc\ntls_cert = " READABLE "\n" TAIL,
	       "4: [listener a] tls_cert: set without tls_key (expected both tls_cert and tls_key, "
	       "or neither)");
	EXPECT("[listener a]\nbind = 127.0.0.1:8443\npool = rpc\ntls_key = " READABLE "\n" TAIL,
	       "4: [listener a] tls_key: set without tls_cert (expected both tls_cert and tls_key, "
	       "or neither)");
	EXPECT("[listener a]\nbind = 127.0.0.1:8443\npool = rpc\ntls_cert = /nonexistent/c.pem\n"
	       "tls_key = /tmp\n" TAIL,
	       "4: [listener a] tls_cert: cannot read \"/nonexistent/c.pem\": No such file or "
	       "directory (expected a readable PEM file)",
	       "5: [listener a] tls_key: \"/tmp\" is not a regular file (expected a readable PEM "
	       "file)");
	EXPECT(TAIL "tls = yes\ntls_ca = /nonexistent/ca.pem\n",
	       "6: [backend n1] tls_ca: cannot read \"/nonexistent/ca.pem\": No such file or "
	       "directory (expected a readable PEM file)");
}

static void test_err_status(void **state)
{
	EXPECT("[status x]\n" TAIL, "1: [status x]: unexpected name (expected [status])");
	EXPECT("[status]\n[status]\n" TAIL,
	       "2: [status]: duplicate section (expected one [status], first at line 1)");
	EXPECT("[status]\nport = 80\n" TAIL,
	       "2: [status] port: unknown option (expected one of: bind, max_connections, "
	       "header_timeout, max_header_size, "
	       "max_body_size, title, "
	       "public_backend_details, public_url, admin_token_file, ack_key_file, language, "
	       "text_degraded, text_partial_outage, text_major_outage, text_restored, "
	       "text_maintenance_scheduled, text_maintenance_started, text_maintenance_ended, "
	       "notice_file, ack_link_ttl, console, console_session_ttl)");
	/* the console's login is the admin token: yes without one cannot work */
	EXPECT("[status]\nconsole = yes\n" TAIL,
	       "2: [status] console: yes needs admin_token_file: the console's login is the admin "
	       "token (expected admin_token_file set, or console = no or auto)");
	EXPECT("[status]\nconsole = maybe\nconsole_session_ttl = 10ms\n" TAIL,
	       "2: [status] console: bad value \"maybe\" (expected auto, yes or no)",
	       "3: [status] console_session_ttl: 10ms is out of range (expected 100ms..7d)");
	EXPECT("[status]\nlanguage = fr\ntext_restored = {pool} back {when}\n" TAIL,
	       "2: [status] language: bad value \"fr\" (expected en or ja)",
	       "3: [status] text_restored: unknown placeholder \"{when}\" (expected {pool}, "
	       "{serving} or {total})");
	EXPECT("[status]\nnotice_file = /nonexistent/notice.md\n" TAIL,
	       "2: [status] notice_file: cannot read \"/nonexistent/notice.md\": No such file or "
	       "directory (expected a readable file)");
	EXPECT("[status]\nbind = 8404\npublic_backend_details = maybe\ntitle =\n" TAIL,
	       "2: [status] bind: bad address \"8404\" (expected HOST:PORT)",
	       "3: [status] public_backend_details: bad value \"maybe\" (expected yes or no)",
	       "4: [status] title: empty value (expected title = TEXT)");
	/* an address of its own: the default clashes too, and the wildcard over a specific
	 * address, whichever comes first in the file */
	EXPECT("[listener a]\nbind = 127.0.0.1:8404\npool = rpc\n[status]\n" TAIL,
	       "4: [status] bind: 127.0.0.1:8404 is already bound by [listener a] at line 2 "
	       "(expected a distinct HOST:PORT)");
	EXPECT("[status]\nbind = *:8080\n[listener a]\nbind = 127.0.0.1:8080\npool = rpc\n" TAIL,
	       "2: [status] bind: 0.0.0.0:8080 is already bound by [listener a] at line 4 "
	       "(expected a distinct HOST:PORT)");
	EXPECT("[status]\nadmin_token_file = /nonexistent/token\n" TAIL,
	       "2: [status] admin_token_file: cannot read \"/nonexistent/token\": No such file or "
	       "directory (expected a readable file)");
	EXPECT("[status]\nadmin_token_file = /tmp\n" TAIL,
	       "2: [status] admin_token_file: \"/tmp\" is not a regular file (expected a readable "
	       "file)");
}

static void test_err_file(void **state)
{
	struct conf *c = (struct conf *)&c;
	struct conf_errors e;
	char text[512];

	assert_int_equal(conf_load("/nonexistent/nodegate.ini", &c, &e), -1);
	assert_null(c);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msg[0], "/nonexistent/nodegate.ini: cannot open: No such file or "
	                              "directory (expected a readable config file)");
	conf_errors_deinit(&e);

	snprintf(text, sizeof(text), TAIL "weight = 1 %0250d\n", 0);
	EXPECT(text, "5: [backend n1]: line too long (expected at most 198 characters)");

	write_tmp_len(TAIL "weight = 1\0\n", sizeof(TAIL "weight = 1\0\n") - 1);
	check_errors((const char *const[]){"5: NUL byte in line (expected text)", NULL});
}

/* Each value error of a health key, in a pool and in a backend (same messages). */
/* check_tls_max_version: three words, in a pool or a backend. */
static void test_err_tls_max_version(void **state)
{
	EXPECT("[pool rpc]\n"
	       "check_tls_max_version = 1.1\n"
	       "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n"
	       "check_tls_max_version = tls13\n",
	       "2: [pool rpc] check_tls_max_version: bad value \"1.1\" (expected auto, 1.2 or 1.3)",
	       "6: [backend n1] check_tls_max_version: bad value \"tls13\" (expected auto, 1.2 or "
	       "1.3)");
}

/* check_tls_library: two words, in a pool or a backend. */
static void test_err_tls_library(void **state)
{
	EXPECT(
	    "[pool rpc]\n"
	    "check_tls_library = wolfssl\n"
	    "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n"
	    "check_tls_library = GnuTLS3\n",
	    "2: [pool rpc] check_tls_library: bad value \"wolfssl\" (expected gnutls or openssl)",
	    "6: [backend n1] check_tls_library: bad value \"GnuTLS3\" (expected gnutls or "
	    "openssl)");
}

static void test_err_health_values(void **state)
{
	EXPECT("[pool rpc]\n"                    /* 1 */
	       "check = grpc\n"                  /* 2 */
	       "check_interval = 5ms\n"          /* 3 */
	       "check_interval_down = 9ms\n"     /* 4 */
	       "check_timeout = 2m\n"            /* 5 */
	       "check_address = 127.0.0.1\n"     /* 6 */
	       "check_tls = maybe\n"             /* 7 */
	       "check_path = /a b\n"             /* 8 */
	       "check_expect_status = 200,600\n" /* 9 */
	       "check_expect_json = status\n"    /* 10 */
	       "expect_peers = 1001\n"           /* 11 */
	       "ignore = peers,uptime\n"         /* 12 */
	       "load_factor_warning = 0\n"       /* 13 */
	       "ledger_age_critical = 500ms\n"   /* 14 */
	       "freshness_interval = 1ms\n"      /* 15 */
	       "max_ledger_lag = 100001\n"       /* 16 */
	       "warning_fall = 0\n"              /* 17 */
	       "warning_burst = 0/5s\n"          /* 18 */
	       "critical_burst = 2/5ms\n"        /* 19 */
	       "rise = 101\n"                    /* 20 */
	       "readmit_after = 2h\n"            /* 21 */
	       "sync_grace = 2d\n"               /* 22 */
	       "min_up = 1001\n"                 /* 23 */
	       "panic = sometimes\n"             /* 24 */
	       "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n"
	       "check_expect_status = 2x\n"        /* 28 */
	       "check_expect_json = a..b=1, =2\n"  /* 29 */
	       "check_timeout = 5ms\n"             /* 30 */
	       "warning_burst = 4/\n"              /* 31 */
	       "ignore = \n"                       /* 32 */
	       "check_expect_status = 200,,204\n", /* 33 */
	       "2: [pool rpc] check: bad value \"grpc\" (expected rippled, http, tcp or none)",
	       "3: [pool rpc] check_interval: 5ms is out of range (expected 10ms..1h)",
	       "4: [pool rpc] check_interval_down: 9ms is out of range (expected 0 or 10ms..1h)",
	       "5: [pool rpc] check_timeout: 2m is out of range (expected 10ms..1m)",
	       "6: [pool rpc] check_address: bad address \"127.0.0.1\" (expected HOST:PORT)",
	       "7: [pool rpc] check_tls: bad value \"maybe\" (expected yes or no)",
	       "8: [pool rpc] check_path: bad path \"/a b\" (expected a URL path without blanks, "
	       "like /health)",
	       "9: [pool rpc] check_expect_status: bad status \"600\" (expected codes 100..599 or "
	       "classes 1xx..5xx, comma separated, like 200,204 or 2xx)",
	       "10: [pool rpc] check_expect_json: bad expectation \"status\" (expected "
	       "FIELD=VALUE pairs, comma separated, like status=ok,info.state=full)",
	       "11: [pool rpc] expect_peers: 1001 is out of range (expected 0..1000)",
	       "12: [pool rpc] ignore: bad metric \"uptime\" (expected a comma list of "
	       "amendment_blocked, load_factor, peers, server_state or validated_ledger)",
	       "13: [pool rpc] load_factor_warning: 0 is out of range (expected 1..1000000000)",
	       "14: [pool rpc] ledger_age_critical: 500ms is out of range (expected 1s..1d)",
	       "15: [pool rpc] freshness_interval: 1ms is out of range (expected 0 or 10ms..1h)",
	       "16: [pool rpc] max_ledger_lag: 100001 is out of range (expected 0..100000)",
	       "17: [pool rpc] warning_fall: 0 is out of range (expected 1..100)",
	       "18: [pool rpc] warning_burst: bad count in \"0/5s\" (expected COUNT/DURATION with "
	       "a count 1..16)",
	       "19: [pool rpc] critical_burst: 2/5ms is out of range (expected a window of "
	       "10ms..1h)",
	       "20: [pool rpc] rise: 101 is out of range (expected 1..100)",
	       "21: [pool rpc] readmit_after: 2h is out of range (expected 0..1h)",
	       "22: [pool rpc] sync_grace: 2d is out of range (expected 0..1d)",
	       "23: [pool rpc] min_up: 1001 is out of range (expected 0..1000)",
	       "24: [pool rpc] panic: bad value \"sometimes\" (expected yes or no)",
	       "28: [backend n1] check_expect_status: bad status \"2x\" (expected codes 100..599 "
	       "or classes 1xx..5xx, comma separated, like 200,204 or 2xx)",
	       "29: [backend n1] check_expect_json: bad expectation \"a..b=1\" (expected "
	       "FIELD=VALUE pairs, comma separated, like status=ok,info.state=full)",
	       "30: [backend n1] check_timeout: 5ms is out of range (expected 10ms..1m)",
	       "31: [backend n1] warning_burst: bad burst \"4/\" (expected COUNT/DURATION, like "
	       "4/5s)",
	       "32: [backend n1] ignore: empty value (expected ignore = METRIC,...)",
	       "33: [backend n1] check_expect_status: duplicate option (expected it once, first at "
	       "line 28)");
	/* empty items, and a JSON expectation without a value */
	EXPECT("[pool rpc]\ncheck_expect_status = 200,,204\nignore = peers,\n"
	       "check_expect_json = a=1,b=\n" N1,
	       "2: [pool rpc] check_expect_status: bad status \"\" (expected codes 100..599 or "
	       "classes 1xx..5xx, comma separated, like 200,204 or 2xx)",
	       "3: [pool rpc] ignore: bad metric \"\" (expected a comma list of "
	       "amendment_blocked, load_factor, peers, server_state or validated_ledger)",
	       "4: [pool rpc] check_expect_json: bad expectation \"b=\" (expected FIELD=VALUE "
	       "pairs, comma separated, like status=ok,info.state=full)");
	/* pool-only keys are not backend keys */
	EXPECT(TAIL "panic = no\n",
	       "5: [backend n1] panic: unknown option (expected one of: pool, address, weight, "
	       "max_conns, tls, tls_verify, tls_ca, tls_sni, " HEALTH_KEYS ")");
}

/* Cross-checks of health settings: in a pool, at the key it wrote (or its header); in a
 * backend only when the backend wrote one of the keys involved (else its pool is blamed
 * once). */
static void test_err_health_cross(void **state)
{
	EXPECT("[pool rpc]\n"                 /* 1 */
	       "load_factor_warning = 1000\n" /* 2 */
	       "ledger_age_critical = 5s\n"   /* 3 */
	       "check = http\n"               /* 4 */
	       "check_path = health\n"        /* 5 */
	       "[backend n1]\n"               /* 6 */
	       "pool = rpc\n"                 /* 7 */
	       "address = 127.0.0.1:5005\n",  /* 8 */
	       "2: [pool rpc] load_factor_warning: 1000 is not below load_factor_critical 1000 "
	       "(expected load_factor_warning < load_factor_critical)",
	       "3: [pool rpc] ledger_age_critical: 5s is not above ledger_age_warning 7s (expected "
	       "ledger_age_warning < ledger_age_critical)",
	       "5: [pool rpc] check_path: check = http needs a check_path that starts with '/', "
	       "not \"health\" (expected check_path = /PATH)");
	/* the pool is fine; each backend makes its own block wrong */
	EXPECT("[pool rpc]\n"                 /* 1 */
	       "check_path = health\n"        /* 2: fine with check = tcp */
	       "load_factor_critical = 500\n" /* 3 */
	       "[backend n1]\n"               /* 4 */
	       "pool = rpc\n"                 /* 5 */
	       "address = 127.0.0.1:5005\n"   /* 6 */
	       "check = rippled\n"            /* 7 */
	       "load_factor_warning = 500\n"  /* 8 */
	       "[backend n2]\n"               /* 9 */
	       "pool = rpc\n"                 /* 10 */
	       "address = 127.0.0.1:5006\n"   /* 11 */
	       "ledger_age_warning = 20s\n"   /* 12 */
	       "ledger_age_critical = 20s\n"  /* 13 */
	       "[backend n3]\n"               /* 14 */
	       "pool = rpc\n"                 /* 15 */
	       "address = 127.0.0.1:5007\n"   /* 16 */
	       "load_factor_critical = 50\n"  /* 17 */
	       "[backend n4]\n"               /* 18 */
	       "pool = rpc\n"                 /* 19 */
	       "address = 127.0.0.1:5008\n",  /* 20 */
	       "7: [backend n1] check: check = rippled needs a check_path that starts with '/', "
	       "not \"health\" (expected check_path = /PATH)",
	       "8: [backend n1] load_factor_warning: 500 is not below load_factor_critical 500 "
	       "(expected load_factor_warning < load_factor_critical)",
	       "12: [backend n2] ledger_age_warning: 20s is not below ledger_age_critical 20s "
	       "(expected ledger_age_warning < ledger_age_critical)",
	       "17: [backend n3] load_factor_critical: 50 is not above load_factor_warning 100 "
	       "(expected load_factor_warning < load_factor_critical)");
	/* a backend's own path fixes its pool's for itself; a bad pool is blamed once */
	EXPECT("[pool rpc]\ncheck = rippled\ncheck_path = x\n"
	       "[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\ncheck_path = /health\n"
	       "[backend n2]\npool = rpc\naddress = 127.0.0.1:5006\ncheck_path = y\n",
	       "3: [pool rpc] check_path: check = rippled needs a check_path that starts with '/', "
	       "not \"x\" (expected check_path = /PATH)",
	       "11: [backend n2] check_path: check = rippled needs a check_path that starts with "
	       "'/', not \"y\" (expected check_path = /PATH)");
	/* a probe timeout longer than the interval is fine, and so is rippled over plain TCP */
	conf_free(load_ok("[pool rpc]\ncheck = rippled\ncheck_interval = 100ms\n"
	                  "check_timeout = 1s\n" N1));
}

/* All errors of a file come in one run, sorted by line, parse and cross-checks mixed. */
/* The method policy options: lists of method names, the profile, and admin only on a
 * loopback bind. */
static void test_policy_options(void **state)
{
	struct conf *c = load_ok("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\n" TAIL);
	const struct conf_listener *l = &c->listeners[0];

	assert_null(l->allow_methods);
	assert_null(l->deny_methods);
	assert_int_equal(l->profile, RPC_PROFILE_RIPPLED);
	assert_false(l->admin);
	assert_int_equal(l->rpc_inspect_max, 64 * 1024);
	assert_null(c->pools[0].write_methods);
	conf_free(c);

	c = load_ok("[listener a]\nbind = 127.0.0.2:8080\npool = rpc\nallow_methods = "
	            "server_info , ledger\ndeny_methods = stop\nprofile = none\nadmin = yes\n"
	            "rpc_inspect_max = 1m\n"
	            "[listener b]\nbind = [::1]:8081\npool = rpc\nadmin = yes\n"
	            "[pool rpc]\nwrite_methods = wallet_propose,x_write\n" N1);
	l = &c->listeners[0];
	assert_string_equal(l->allow_methods, "server_info,ledger");
	assert_string_equal(l->deny_methods, "stop");
	assert_int_equal(l->profile, RPC_PROFILE_NONE);
	assert_true(l->admin);
	assert_true(c->listeners[1].admin);
	assert_int_equal(l->rpc_inspect_max, 1024 * 1024);
	assert_string_equal(c->pools[0].write_methods, "wallet_propose,x_write");
	conf_free(c);
}

static void test_err_policy(void **state)
{
	EXPECT("[listener a]\nbind = 0.0.0.0:8080\npool = rpc\nadmin = yes\n" TAIL,
	       "4: [listener a] admin: yes on 0.0.0.0:8080, which is not a loopback address "
	       "(expected a loopback bind, 127.0.0.0/8 or [::1], for an admin listener)");
	EXPECT("[listener a]\nbind = 10.1.2.3:8080\npool = rpc\nadmin = yes\n" TAIL,
	       "4: [listener a] admin: yes on 10.1.2.3:8080, which is not a loopback address "
	       "(expected a loopback bind, 127.0.0.0/8 or [::1], for an admin listener)");
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\nallow_methods = ping,a-b\n"
	       "deny_methods = ,\nprofile = clio\nrpc_inspect_max = 2m\n[pool rpc]\n"
	       "write_methods = ok,\"x\"\n" N1,
	       "4: [listener a] allow_methods: bad method \"a-b\" (expected JSON-RPC method "
	       "names, comma separated, like submit,sign)",
	       "5: [listener a] deny_methods: bad method \"\" (expected JSON-RPC method names, "
	       "comma separated, like submit,sign)",
	       "6: [listener a] profile: bad value \"clio\" (expected auto, rippled or none)",
	       "7: [listener a] rpc_inspect_max: 2m is out of range (expected 1k..1m)",
	       "9: [pool rpc] write_methods: bad method \"\"x\"\" (expected JSON-RPC method "
	       "names, comma separated, like submit,sign)");
}

static void test_err_many(void **state)
{
	EXPECT("[nodegate]\n"             /* 1 */
	       "log_level = chatty\n"     /* 2 */
	       "[listener a]\n"           /* 3 */
	       "bind = 127.0.0.1:99999\n" /* 4 */
	       "pool = nope\n"            /* 5 */
	       "bogus = 1\n"              /* 6 */
	       "[pool rpc]\n"             /* 7 */
	       "retries = 11\n"           /* 8 */
	       "retries = 1\n"            /* 9 */
	       "[weird]\n"                /* 10 */
	       "[backend n1]\n"           /* 11 */
	       "pool = rpc\n"             /* 12 */
	       "[pool lonely]\n",         /* 13 */
	       "2: [nodegate] log_level: bad value \"chatty\" (expected error, warn, info or "
	       "debug)",
	       "4: [listener a] bind: bad port in \"127.0.0.1:99999\" (expected HOST:PORT with a "
	       "port 1..65535)",
	       "5: [listener a] pool: no pool \"nope\" (expected the name of a [pool NAME] "
	       "section)",
	       "6: [listener a] bogus: unknown option (expected one of: bind, mode, pool, "
	       "tls_cert, tls_key, max_connections, overflow_connections, header_timeout, "
	       "client_timeout, "
	       "tunnel_timeout, max_header_size, max_uri_size, max_headers, max_body_size, "
	       "max_requests, lingering_time, lingering_timeout, lingering_max_size, "
	       "max_conns_per_ip, rate_per_ip, burst_per_ip, limit_exempt, trusted_proxies, "
	       "max_tracked_clients, allow_methods, deny_methods, profile, admin, rpc_inspect_max)",
	       "8: [pool rpc] retries: 11 is out of range (expected 0..10)",
	       "9: [pool rpc] retries: duplicate option (expected it once, first at line 8)",
	       "10: [weird]: unknown section (expected [nodegate], [status], [postmortem], "
	       "[subscriptions], [store], [listener NAME], "
	       "[pool NAME], [backend NAME], [alert NAME], [hook NAME], [escalation NAME] or "
	       "[mirror NAME])",
	       "11: [backend n1] address: required option missing (expected address = HOST:PORT)",
	       "13: [pool lonely]: no backend in this pool (expected a [backend NAME] with pool = "
	       "lonely)");
}

static void test_err_bounded(void **state)
{
	char *text = malloc(64 * 1024), *q = text;
	struct conf *c = NULL;
	struct conf_errors e;

	q += sprintf(q, "[nodegate]\n");
	for (int i = 0; i < CONF_MAX_ERRORS + 50; i++)
		q += sprintf(q, "bogus%d = 1\n", i);
	write_tmp(text);
	free(text);
	assert_int_equal(conf_load(tmp_path, &c, &e), -1);
	assert_null(c);
	assert_int_equal(e.n, CONF_MAX_ERRORS);
	assert_int_equal(e.dropped, 50);
	assert_non_null(strstr(e.msg[0], ":2: [nodegate] bogus0: unknown option"));
	conf_errors_deinit(&e);
	assert_int_equal(e.n, 0);
	unlink(tmp_path);
}

/* ---- [alert NAME] and [hook NAME] ------------------------------------------------------ */

static void test_alert_and_hook_values(void **state)
{
	struct conf *c = load_ok(TAIL "[alert ops]\ntype = webhook\nurl = http://127.0.0.1:9/x\n"
	                              "headers = X-A: 1;  X-B: two words\non = backend_down, "
	                              "grace_expired\n"
	                              "[alert mail]\ntype = email\nsmtp_url = smtp://127.0.0.1:25\n"
	                              "from = ng@localhost\nto = a@example.net , b@example.net\n"
	                              "[hook restart]\ncommand = /bin/echo \"two words\" x\n");
	const struct conf_alert *a = conf_find_alert(c, "ops"), *m = conf_find_alert(c, "mail");
	char err[128], **argv;

	assert_non_null(a);
	assert_int_equal(a->type, ALERT_WEBHOOK);
	assert_string_equal(a->headers, "X-A: 1;X-B: two words");
	assert_int_equal(a->on_mask, 1u << NOTIFY_BACKEND_DOWN | 1u << NOTIFY_GRACE_EXPIRED);
	assert_int_equal(a->min_severity, SEV_INFO);
	assert_int_equal(a->retries, 5);
	assert_int_equal(a->retry_backoff, 1000);
	assert_string_equal(m->to, "a@example.net,b@example.net");
	assert_int_equal(m->on_mask, 1u << NOTIFY_INCIDENT_OPEN | 1u << NOTIFY_INCIDENT_UPDATE |
	                                 1u << NOTIFY_INCIDENT_RESOLVED |
	                                 1u << NOTIFY_GRACE_EXPIRED | 1u << NOTIFY_UPDATE_OVERDUE);
	assert_int_equal(c->n_hooks, 1);
	assert_int_equal(c->hooks[0].on_mask, 1u << NOTIFY_GRACE_EXPIRED);
	assert_int_equal(c->hooks[0].max_concurrent, 1);
	argv = conf_split_command(c->hooks[0].command, err, sizeof(err));
	assert_non_null(argv);
	assert_string_equal(argv[0], "/bin/echo");
	assert_string_equal(argv[1], "two words");
	assert_string_equal(argv[2], "x");
	assert_null(argv[3]);
	free(argv);
	assert_null(conf_split_command("/bin/echo \"open", err, sizeof(err)));
	assert_string_equal(err, "unclosed quote (expected \"...\")");
	assert_null(conf_split_command("   ", err, sizeof(err)));
	conf_free(c);
}

static void test_err_alert_and_hook(void **state)
{
	EXPECT(TAIL "[alert x]\ntype = slack\nsmtp_url = smtp://x\non = incident_open, nope\n",
	       "6: [alert x] url: required for type = slack (expected url = https://...)",
	       "7: [alert x] smtp_url: not used by type = slack (expected only the keys of that "
	       "type)",
	       "8: [alert x] on: bad event \"nope\" (expected a comma list of incident_open, "
	       "incident_update, incident_resolved, grace_expired, backend_down, backend_up, "
	       "incident_acknowledged, maintenance_scheduled, maintenance_started, "
	       "maintenance_ended or update_overdue)");
	EXPECT(TAIL "[alert p]\ntype = pagerduty\n",
	       "6: [alert p] routing_key: required for type = pagerduty (expected one of "
	       "routing_key or routing_key_file)");
	EXPECT(TAIL "[alert w]\ntype = webhook\nurl = ftp://x/\nheaders = nocolon\n",
	       "7: [alert w] url: bad URL \"ftp://x/\" (expected http,https://HOST[:PORT][/PATH])",
	       "8: [alert w] headers: bad header \"nocolon\" (expected NAME: VALUE pairs separated "
	       "by ';')");
	EXPECT(TAIL "[alert m]\ntype = email\nsmtp_url = smtp://127.0.0.1\nfrom = nodegate\n"
	            "to = a@b\nusername = u\n",
	       "8: [alert m] from: bad address \"nodegate\" (expected mail addresses like "
	       "ops@example.net, comma separated)",
	       "10: [alert m] username: set alone (expected both username and password_file, or "
	       "neither)");
	EXPECT(TAIL "[alert f]\ntype = webhook\nurl = http://x/\nheaders_file = /nonexistent/h\n",
	       "8: [alert f] headers_file: cannot read \"/nonexistent/h\": No such file or "
	       "directory (expected a readable file)");
	EXPECT(
	    TAIL "[hook h]\ncommand = \"relative prog\" arg\npools = rpc, q\nbackends = n2\n"
	         "[hook k]\ncommand = /nonexistent/x\n[hook e]\n",
	    "6: [hook h] command: \"relative prog\" is not an absolute path (expected "
	    "/PATH/TO/PROGRAM ARG...; no shell)",
	    "7: [hook h] pools: no pool \"q\" (expected names of [pool NAME] sections)",
	    "8: [hook h] backends: no backend \"n2\" (expected names of [backend NAME] sections)",
	    "10: [hook k] command: cannot run \"/nonexistent/x\": No such file or directory "
	    "(expected an executable file)",
	    "11: [hook e] command: required option missing (expected command = PROGRAM ARG...)");
}

/* ---- [escalation NAME] ------------------------------------------------------------------ */

#define CHANNELS                                                                                   \
	"[alert ops]\ntype = webhook\nurl = http://127.0.0.1:9/\n"                                 \
	"[alert pd]\ntype = pagerduty\nrouting_key = k\n" /* 6 lines */

static void test_escalation_values(void **state)
{
	struct conf *c = load_ok("[pool rpc]\nescalation = oncall\nurgency = low\n" N1 CHANNELS
	                         "[escalation oncall]\ntier1 = ops\ntier2 = pd , ops after 10m\n"
	                         "tier3 = pd after 30m\nrepeat = 2\n");
	const struct conf_escalation *e = conf_find_escalation(c, "oncall");

	assert_non_null(e);
	assert_int_equal(e->n_tiers, 3);
	assert_string_equal(e->tiers[0].channels, "ops");
	assert_int_equal(e->tiers[0].after, 0);
	assert_string_equal(e->tiers[1].channels, "pd,ops");
	assert_int_equal(e->tiers[1].after, 600000);
	assert_int_equal(e->tiers[2].after, 1800000);
	assert_int_equal(e->repeat, 2);
	assert_int_equal(e->repeat_interval, 3600000);
	assert_int_equal(e->page_min_priority, PRIO_P2);
	assert_int_equal(c->pools[0].urgency, URGENCY_LOW);
	assert_string_equal(c->pools[0].escalation, "oncall");
	assert_true(conf_alert_escalated(c, "pd"));
	assert_true(conf_alert_escalated(c, "ops"));
	assert_false(conf_alert_escalated(c, "mail"));
	conf_free(c);
	c = load_ok(TAIL);
	assert_int_equal(c->pools[0].urgency, URGENCY_HIGH);
	assert_null(c->pools[0].escalation);
	conf_free(c);
}

/* [postmortem] language: en by default (section or not), ja, nothing else; one section. */
static void test_postmortem_language(void **state)
{
	struct conf *c = load_ok(TAIL);

	assert_int_equal(c->postmortem.language, PM_LANGUAGE_EN);
	assert_false(c->postmortem.enabled);
	conf_free(c);
	c = load_ok("[postmortem]\nlanguage = ja\n" TAIL);
	assert_int_equal(c->postmortem.language, PM_LANGUAGE_JA);
	assert_true(c->postmortem.enabled);
	conf_free(c);
	EXPECT("[postmortem]\nlanguage = fr\n" TAIL,
	       "2: [postmortem] language: bad value \"fr\" (expected en or ja)");
	EXPECT("[postmortem x]\n" TAIL,
	       "1: [postmortem x]: unexpected name (expected [postmortem])");
}

static void test_err_subscriptions(void **state)
{
	(void)state;
	EXPECT("[subscriptions]\nsmtp_url = http://mail\nwebhooks = perhaps\n"
	       "smtp_password_file = /nonexistent/pw\n" TAIL,
	       "1: [subscriptions] from: missing (expected the sender address of subscription "
	       "mail with smtp_url)",
	       "1: [subscriptions]: subscriptions need the status page (expected a [status] "
	       "section)",
	       "2: [subscriptions] smtp_url: bad URL \"http://mail\" (expected "
	       "smtp,smtps://HOST[:PORT][/PATH])",
	       "3: [subscriptions] webhooks: bad value \"perhaps\" (expected yes or no)",
	       "4: [subscriptions] smtp_password_file: cannot read \"/nonexistent/pw\": No such "
	       "file or directory (expected a readable file)",
	       "4: [subscriptions] smtp_password_file: set without smtp_username (expected both, "
	       "or neither)");
}

static void test_err_escalation(void **state)
{
	EXPECT("[pool rpc]\nescalation = nope\nurgency = maybe\n" N1,
	       "2: [pool rpc] escalation: no escalation \"nope\" (expected names of [escalation "
	       "NAME] sections)",
	       "3: [pool rpc] urgency: bad value \"maybe\" (expected high or low)");
	EXPECT(TAIL CHANNELS "[escalation e]\ntier1 = ops, ghost\ntier3 = pd after 1m\n",
	       "12: [escalation e] tier1: no alert \"ghost\" (expected names of [alert NAME] "
	       "sections)",
	       "13: [escalation e] tier3: tier2 is missing (expected tiers numbered from 1 without "
	       "a gap)");
	EXPECT(TAIL CHANNELS "[escalation e]\ntier1 = ops after 10m\ntier2 = pd after 5m\n"
	                     "tier3 = pd after soon\npage_min_priority = P9\n",
	       "13: [escalation e] tier2: after 5m comes before the tier above it (expected 10m or "
	       "later)",
	       "14: [escalation e] tier3: after: bad duration \"soon\" (expected a number and "
	       "a unit: ms, s, m, h or d)",
	       "15: [escalation e] page_min_priority: bad value \"P9\" (expected P1, P2, P3 or "
	       "P4)");
	EXPECT(
	    TAIL CHANNELS "[escalation e]\ntier2 = pd after 1m\nrepeat = 1\n"
	                  "repeat_interval = 1m\n",
	    "11: [escalation e] tier1: required option missing (expected tier1 = CHANNEL,... "
	    "[after DURATION])",
	    "12: [escalation e] tier2: tier1 is missing (expected tiers numbered from 1 without a "
	    "gap)");
	EXPECT(
	    TAIL "[status]\nack_key_file = /nonexistent/k\nack_link_ttl = 5s\n",
	    "6: [status] ack_key_file: cannot read \"/nonexistent/k\": No such file or directory "
	    "(expected a readable file)",
	    "7: [status] ack_link_ttl: 5s is out of range (expected 1m..30d)");
	EXPECT(TAIL CHANNELS "[escalation e]\ntier1 = ops\ntier2 = pd after 1h\nrepeat = 1\n"
	                     "repeat_interval = 30m\n",
	       "15: [escalation e] repeat_interval: 30m is not above the last tier's delay 1h "
	       "(expected a longer climb)");
}

/* ---- the table and the example -------------------------------------------------------- */

static void test_table(void **state)
{
	static const char *const sections[] = {
	    "nodegate", "status",  "postmortem", "subscriptions", "store",      "listener",
	    "pool",     "backend", "alert",      "hook",          "escalation", "mirror"};

	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];
		bool known = false;

		for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
			known |= strcmp(o->section, sections[s]) == 0;
		assert_true(known);
		assert_true(!o->required || o->def == NULL);
		/* only strings and addresses may stay unset; the rest has a default or is
		 * required */
		assert_true(o->def != NULL || o->required || o->type == CONF_STRING ||
		            o->type == CONF_ADDR);
		assert_true(o->type != CONF_ENUM || (o->names != NULL && o->n_names > 0));
		assert_true(o->min <= o->max);
		assert_true(!o->or_zero || o->min > 0);
		assert_true(o->validate == NULL || o->type == CONF_STRING);
		assert_non_null(o->help);
		assert_true(strlen(o->help) > 10 && strchr(o->help, '\n') == NULL);
		/* health options live in [pool], may be overridden in [backend], and a reload
		 * may change every one of them */
		assert_true(!o->per_backend ||
		            (strcmp(o->section, "pool") == 0 && o->reloadable && !o->required));
		for (size_t j = 0; j < i; j++) {
			const struct conf_option *q = &conf_options[j];

			assert_false(strcmp(o->section, q->section) == 0 &&
			             strcmp(o->name, q->name) == 0);
			/* a backend's own option and a health option never share a name */
			assert_false((o->per_backend || q->per_backend) &&
			             strcmp(o->name, q->name) == 0);
		}
	}
}

/* Whether option O may be written in SECTION: its own, and health options in [backend]. */
static bool opt_in(const struct conf_option *o, const char *section)
{
	return strcmp(o->section, section) == 0 ||
	       (o->per_backend && strcmp(section, "backend") == 0);
}

/* Both directions, as pgbouncer's optscan: every option of the table is in the example,
 * with its help as the comment line above it and its default as the value; every option
 * line of the example ("key = value", or ";key = value" for one left unset) is in the
 * table. A health option is documented once, in [pool]; a [backend] may repeat it.
 * Commented examples (";[pool NAME]" and the ';' and '#' lines after it) need only name
 * options of their section, and may document one with its help above it (sections that
 * only examples show, like [alert]); test_example_blocks loads them. */
static void test_optscan(void **state)
{
	FILE *fp = fopen(EXAMPLE, "r");
	char line[512], prev[512] = "", section[32] = "", want[512];
	bool seen[256] = {false}, example = false;
	int lineno = 0;

	assert_non_null(fp);
	assert_true(conf_n_options <= 256);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *key, *eq, *value;
		const struct conf_option *o = NULL;
		size_t i;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (example && line[0] != ';' && line[0] != '#') {
			example = false;
			section[0] = '\0'; /* an option after an example needs a header */
		}
		if (line[0] == '[' || (line[0] == ';' && line[1] == '[')) {
			example = line[0] == ';';
			assert_int_equal(sscanf(line + example, "[%31[a-z]", section), 1);
		} else if (line[0] != '#' && line[0] != '\0') {
			key = line + strspn(line, ";");
			eq = strstr(key, " = ");
			if (eq == NULL || strspn(key, "abcdefghijklmnopqrstuvwxyz_0123456789") !=
			                      (size_t)(eq - key))
				fail_msg("%s:%d: not an option line: %s", EXAMPLE, lineno, line);
			*eq = '\0';
			value = eq + 3;
			for (i = 0; i < conf_n_options && o == NULL; i++)
				if (opt_in(&conf_options[i], section) &&
				    !strcmp(conf_options[i].name, key))
					o = &conf_options[i];
			if (o == NULL)
				fail_msg("%s:%d: [%s] %s is not in the option table", EXAMPLE,
				         lineno, section, key);
			if (!example && o->def != NULL && strcmp(value, o->def) != 0)
				fail_msg("%s:%d: [%s] %s = %s, the default is %s", EXAMPLE, lineno,
				         section, key, value, o->def);
			snprintf(want, sizeof(want), "# %s", o->help);
			if (example && !seen[o - conf_options] && strcmp(prev, want) == 0 &&
			    strcmp(o->section, section) == 0)
				seen[o - conf_options] = true; /* a section only examples show */
			if (!example && !seen[o - conf_options]) {
				if (strcmp(o->section, section) != 0)
					fail_msg("%s:%d: [%s] %s: document it in [%s] first",
					         EXAMPLE, lineno, section, key, o->section);
				if (strcmp(prev, want) != 0)
					fail_msg("%s:%d: [%s] %s: the line above must be \"%s\"",
					         EXAMPLE, lineno, section, key, want);
				seen[o - conf_options] = true;
			}
			*eq = ' ';
		}
		strcpy(prev, line);
	}
	fclose(fp);
	for (size_t i = 0; i < conf_n_options; i++)
		if (!seen[i])
			fail_msg("[%s] %s is missing from %s", conf_options[i].section,
			         conf_options[i].name, EXAMPLE);
}

/* The commented examples of the file, with their ';' dropped, load with the rest of it;
 * there, one backend overrides its pool's health settings. */
static void test_example_blocks(void **state)
{
	FILE *fp = fopen(EXAMPLE, "r");
	char line[512], *text = calloc(1, 64 * 1024);
	size_t off = 0, n_blocks = 0;
	bool example = false;
	struct conf *c;
	const struct conf_pool *xrpl;

	assert_non_null(fp);
	assert_non_null(text);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (line[0] == ';' && line[1] == '[')
			n_blocks++;
		/* a block runs from ";[" over ';' and '#' lines; ";;" stays a comment */
		example =
		    (line[0] == ';' || (line[0] == '#' && example)) && (example || line[1] == '[');
		assert_true(off + strlen(line) < 64 * 1024);
		off += (size_t)sprintf(text + off, "%s", line + (example && line[0] == ';'));
	}
	fclose(fp);
	assert_true(n_blocks >= 2);
	c = load_ok(text);
	free(text);
	xrpl = conf_find_pool(c, "xrpl");
	assert_non_null(xrpl);
	assert_int_equal(xrpl->health.check, CHECK_RIPPLED);
	assert_true(xrpl->health.check_tls);
	assert_false(xrpl->health.check_tls_verify);
	assert_true(xrpl->health.freshness_interval > 0);
	for (size_t i = 0; i < c->n_backends; i++) {
		const struct conf_backend *b = &c->backends[i];

		if (strcmp(b->pool, "xrpl") != 0)
			continue;
		assert_int_equal(b->health.check, CHECK_RIPPLED);
		assert_int_equal(b->health.check_address.port, 51235);
		assert_int_equal(b->health.expect_peers,
		                 strcmp(b->name, "private") == 0 ? 3 : xrpl->health.expect_peers);
	}
	conf_free(c);
}

static void test_example_loads(void **state)
{
	struct conf *c = NULL;
	struct conf_errors e;

	if (conf_load(EXAMPLE, &c, &e) < 0) {
		for (size_t i = 0; i < e.n; i++)
			print_message("%s\n", e.msg[i]);
		fail_msg("%s does not load", EXAMPLE);
	}
	assert_int_equal(c->n_listeners, 1);
	assert_int_equal(c->n_pools, 1);
	assert_int_equal(c->n_backends, 2);
	assert_true(c->status.enabled);
	assert_int_equal(c->status.bind.port, 8404);
	assert_string_equal(c->path, EXAMPLE);
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_burst),
	    cmocka_unit_test(test_addr_good),
	    cmocka_unit_test(test_addr_bad),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_status_defaults),
	    cmocka_unit_test(test_status_values),
	    cmocka_unit_test(test_every_value),
	    cmocka_unit_test(test_health_defaults),
	    cmocka_unit_test(test_health_values),
	    cmocka_unit_test(test_health_override),
	    cmocka_unit_test(test_health_copy),
	    cmocka_unit_test(test_dialect),
	    cmocka_unit_test(test_err_sections),
	    cmocka_unit_test(test_err_keys),
	    cmocka_unit_test(test_err_values),
	    cmocka_unit_test(test_err_retry_budget),
	    cmocka_unit_test(test_client_limits),
	    cmocka_unit_test(test_err_addresses),
	    cmocka_unit_test(test_err_address_unresolvable),
	    cmocka_unit_test(test_err_references),
	    cmocka_unit_test(test_err_tls),
	    cmocka_unit_test(test_err_status),
	    cmocka_unit_test(test_err_file),
	    cmocka_unit_test(test_err_health_values),
	    cmocka_unit_test(test_err_tls_max_version),
	    cmocka_unit_test(test_err_tls_library),
	    cmocka_unit_test(test_err_health_cross),
	    cmocka_unit_test(test_policy_options),
	    cmocka_unit_test(test_err_policy),
	    cmocka_unit_test(test_err_many),
	    cmocka_unit_test(test_err_bounded),
	    cmocka_unit_test(test_alert_and_hook_values),
	    cmocka_unit_test(test_err_alert_and_hook),
	    cmocka_unit_test(test_escalation_values),
	    cmocka_unit_test(test_postmortem_language),
	    cmocka_unit_test(test_err_escalation),
	    cmocka_unit_test(test_err_subscriptions),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_optscan),
	    cmocka_unit_test(test_example_blocks),
	    cmocka_unit_test(test_example_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
