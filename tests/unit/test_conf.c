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

#define EXAMPLE  "etc/nodegate.ini"
#define READABLE "tests/unit/conf/readable.pem" /* any readable file will do for TLS paths */

/* A pool with one backend, appended to snippets that need a valid rest: 4 lines. */
#define TAIL "[pool rpc]\n[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n"

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

	assert_int_equal(c->n_pools, 1);
	assert_string_equal(p->name, "rpc");
	assert_int_equal(p->line, 4);
	assert_int_equal(p->balance, BALANCE_ROUNDROBIN);
	assert_int_equal(p->retries, 2);
	assert_int_equal(p->connect_timeout, 2000);
	assert_int_equal(p->response_timeout, 30000);
	assert_int_equal(p->idle_timeout, 60000);
	assert_int_equal(p->max_idle, 1024);
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
	                         "[listener any]\n"
	                         "bind = *:8080\n"
	                         "pool = rpc\n"
	                         "[pool rpc]\n"
	                         "balance = leastconn\n"
	                         "retries = 0\n"
	                         "connect_timeout = 1ms\n"
	                         "response_timeout = 1h\n"
	                         "idle_timeout = 5\n"
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
	conf_addr_format(&c->listeners[1].bind, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:8080");

	assert_int_equal(p->balance, BALANCE_LEASTCONN);
	assert_int_equal(p->retries, 0);
	assert_int_equal(p->connect_timeout, 1);
	assert_int_equal(p->response_timeout, 3600000);
	assert_int_equal(p->idle_timeout, 5000);
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
	EXPECT("[foo]\nx = 1\n" TAIL, "1: [foo]: unknown section (expected [nodegate], "
	                              "[listener NAME], [pool NAME] or [backend NAME])");
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
	EXPECT("[pool rpc]\nbogus = 1\n[backend n1]\npool = rpc\naddress = 127.0.0.1:5005\n",
	       "2: [pool rpc] bogus: unknown option (expected one of: balance, retries, "
	       "connect_timeout, response_timeout, idle_timeout, max_idle)");
	EXPECT("[nodegate]\nLog_Level = info\n",
	       "2: [nodegate] Log_Level: unknown option (expected one of: log_level, access_log, "
	       "state_dir, shutdown_timeout, max_connections)");
	EXPECT(TAIL "weight = 1\nweight = 2\n",
	       "6: [backend n1] weight: duplicate option (expected it once, first at line 5)");
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
	EXPECT("[listener a]\nbind = 127.0.0.1:8080\npool = rpc\nmax_header_size = 4k\n"
	       "max_uri_size = 8k\n" TAIL,
	       "5: [listener a] max_uri_size: 8k is larger than max_header_size 4k (expected at "
	       "most max_header_size)");
	EXPECT(TAIL "weight = 257\ntls = maybe\n",
	       "5: [backend n1] weight: 257 is out of range (expected 0..256)",
	       "6: [backend n1] tls: bad value \"maybe\" (expected yes or no)");
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

/* All errors of a file come in one run, sorted by line, parse and cross-checks mixed. */
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
	       "tls_cert, tls_key, max_connections, header_timeout, client_timeout, "
	       "tunnel_timeout, max_header_size, max_uri_size, max_headers, max_body_size, "
	       "max_requests)",
	       "8: [pool rpc] retries: 11 is out of range (expected 0..10)",
	       "9: [pool rpc] retries: duplicate option (expected it once, first at line 8)",
	       "10: [weird]: unknown section (expected [nodegate], [listener NAME], [pool NAME] "
	       "or [backend NAME])",
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

/* ---- the table and the example -------------------------------------------------------- */

static void test_table(void **state)
{
	static const char *const sections[] = {"nodegate", "listener", "pool", "backend"};

	for (size_t i = 0; i < conf_n_options; i++) {
		const struct conf_option *o = &conf_options[i];
		bool known = false;

		for (size_t s = 0; s < 4; s++)
			known |= strcmp(o->section, sections[s]) == 0;
		assert_true(known);
		assert_true(!o->required || o->def == NULL);
		/* only strings may stay unset; everything else has a default or is required */
		assert_true(o->def != NULL || o->required || o->type == CONF_STRING);
		assert_true(o->type != CONF_ENUM || (o->names != NULL && o->n_names > 0));
		assert_true(o->min <= o->max);
		assert_non_null(o->help);
		assert_true(strlen(o->help) > 10 && strchr(o->help, '\n') == NULL);
		for (size_t j = 0; j < i; j++)
			assert_false(strcmp(o->section, conf_options[j].section) == 0 &&
			             strcmp(o->name, conf_options[j].name) == 0);
	}
}

/* Both directions, as pgbouncer's optscan: every option of the table is in the example,
 * with its help as the comment line above it and its default as the value; every option
 * line of the example ("key = value", or ";key = value" for one left unset) is in the
 * table. */
static void test_optscan(void **state)
{
	FILE *fp = fopen(EXAMPLE, "r");
	char line[512], prev[512] = "", section[32] = "", want[512];
	bool seen[64] = {false};
	int lineno = 0;

	assert_non_null(fp);
	assert_true(conf_n_options <= 64);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *key, *eq, *value;
		const struct conf_option *o = NULL;
		size_t i;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '[') {
			assert_int_equal(sscanf(line, "[%31[a-z]", section), 1);
		} else if (line[0] != '#' && line[0] != '\0') {
			key = line + (line[0] == ';');
			eq = strstr(key, " = ");
			if (eq == NULL ||
			    strspn(key, "abcdefghijklmnopqrstuvwxyz_") != (size_t)(eq - key))
				fail_msg("%s:%d: not an option line: %s", EXAMPLE, lineno, line);
			*eq = '\0';
			value = eq + 3;
			for (i = 0; i < conf_n_options && o == NULL; i++)
				if (!strcmp(conf_options[i].section, section) &&
				    !strcmp(conf_options[i].name, key))
					o = &conf_options[i];
			if (o == NULL)
				fail_msg("%s:%d: [%s] %s is not in the option table", EXAMPLE,
				         lineno, section, key);
			if (o->def != NULL && strcmp(value, o->def) != 0)
				fail_msg("%s:%d: [%s] %s = %s, the default is %s", EXAMPLE, lineno,
				         section, key, value, o->def);
			if (!seen[o - conf_options]) {
				snprintf(want, sizeof(want), "# %s", o->help);
				if (strcmp(prev, want) != 0)
					fail_msg("%s:%d: [%s] %s: the line above must be \"%s\"",
					         EXAMPLE, lineno, section, key, want);
			}
			seen[o - conf_options] = true;
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
	assert_string_equal(c->path, EXAMPLE);
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_addr_good),
	    cmocka_unit_test(test_addr_bad),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_value),
	    cmocka_unit_test(test_dialect),
	    cmocka_unit_test(test_err_sections),
	    cmocka_unit_test(test_err_keys),
	    cmocka_unit_test(test_err_values),
	    cmocka_unit_test(test_err_addresses),
	    cmocka_unit_test(test_err_address_unresolvable),
	    cmocka_unit_test(test_err_references),
	    cmocka_unit_test(test_err_tls),
	    cmocka_unit_test(test_err_file),
	    cmocka_unit_test(test_err_many),
	    cmocka_unit_test(test_err_bounded),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_optscan),
	    cmocka_unit_test(test_example_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
