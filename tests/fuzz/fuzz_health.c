/* libFuzzer target for the health judges: the first two bytes are the HTTP status, the rest
 * is a body fed to the rippled, server_info and http judges and to the error-token scan;
 * the body also serves as http expectations, and its bytes drive the rotation rules. Every
 * verdict must be known and every reason one bounded line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "health/health.h"
#include "proxy/rpc.h"

static struct conf_health conf(void)
{
	struct conf_health h = {
	    .check_interval = 1000,
	    .check_interval_down = 5000,
	    .expect_peers = 8,
	    .ignore = "validated_ledger, x",
	    .load_factor_warning = 100,
	    .load_factor_critical = 1000,
	    .ledger_age_warning = 7000,
	    .ledger_age_critical = 20000,
	    .max_ledger_age = 20000,
	    .max_ledger_lag = 10,
	    .warning_fall = 3,
	    .warning_burst = {.count = 4, .window = 5000},
	    .critical_burst = {.count = 2, .window = 5000},
	    .rise = 3,
	    .readmit_after = 10000,
	    .slow_start = 60000,
	    .sync_grace = 900000,
	    .flap_hold_max = 300000,
	};
	return h;
}

static void check_obs(const struct observation *o)
{
	size_t n = strnlen(o->reason, sizeof(o->reason));

	CHECK(o->verdict < V_COUNT);
	CHECK(n > 0 && n < sizeof(o->reason));
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)o->reason[i] >= 0x20 && o->reason[i] != 0x7f);
	CHECK(!o->unreachable);
}

static void check_event(const struct health *hs, const struct health_event *ev)
{
	CHECK(ev->kind < HE_COUNT && ev->from < HS_COUNT && ev->to < HS_COUNT);
	CHECK(ev->admin_to == hs->admin && ev->to == hs->state);
	CHECK(strnlen(ev->reason, sizeof(ev->reason)) < sizeof(ev->reason));
	if (ev->kind != HE_ADMIN)
		CHECK(ev->from != ev->to);
	if (ev->kind == HE_GRACE_EXPIRED)
		CHECK(ev->from == HS_SYNCING && ev->to == HS_DOWN && !ev->in_grace);
}

/* Each byte is an observation or a tick: verdict, unreachable, refused, admin, time step. */
static void drive_rotation(const uint8_t *data, size_t size)
{
	struct conf_health h = conf();
	struct health hs;
	struct health_event ev;
	uint64_t now = 0;

	health_init(&hs, now);
	for (size_t i = 0; i < size && i < 4096; i++) {
		uint8_t b = data[i];
		struct observation o = {.verdict = (enum verdict)(b % 3)};
		bool moved;

		now += (uint64_t)(b >> 4) * (b & 0x08 ? 60000 : 300);
		if ((b & 0x30) == 0x30) {
			moved = health_tick(&hs, &h, now, &ev);
		} else if ((b & 0xf0) == 0xe0) {
			moved = health_set_admin(&hs, (enum admin_state)(b % 3), "fuzz", now, &ev);
		} else {
			o.unreachable = (b & 0x04) != 0;
			snprintf(o.reason, sizeof(o.reason), "%s",
			         b & 0x40 ? "refused" : "timeout");
			o.passive = (b & 0x80) != 0;
			moved = health_observe(&hs, &h, &o, now, &ev);
		}
		if (moved)
			check_event(&hs, &ev);
		CHECK(hs.state < HS_COUNT && hs.admin < ADMIN_COUNT);
		CHECK(hs.n_warn < 2 * HEALTH_RING && hs.n_crit < 2 * HEALTH_RING);
		CHECK(health_weight(&hs, &h, 100, now) >= 1 &&
		      health_weight(&hs, &h, 100, now) <= 100);
		CHECK(health_panic_rank(&hs) >= -1 && health_panic_rank(&hs) <= 2);
		CHECK(health_interval(&hs, &h) == 1000 || health_interval(&hs, &h) == 5000);
		if (health_routable(&hs))
			CHECK(hs.state == HS_UP || hs.state == HS_SLOW_START);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const statuses[] = {NULL, "2xx", "200,204, 5xx", "abc,,3x"};
	static const char doc[] = "{\"result\":{\"status\":\"success\",\"n\":5,\"list\":[1,true]}}";
	static const char info[] = "{\"info\":{\"peers\":2,\"validated_ledger\":-1,\"x\":1}}";
	struct conf_health h = conf();
	struct rippled_metrics m;
	struct observation o;
	char tok[32], *body, *expect;
	int status;
	size_t len;

	if (size < 2)
		return 0;
	/* Mostly the statuses that matter, sometimes anything. */
	status = data[0] < 200 ? (int[]){200, 503, 500, 404}[data[0] % 4] : data[0] * 4 + data[1];
	len = size - 2;
	/* Exact-size copies so that ASan sees any read past len. */
	body = malloc(len ? len : 1);
	expect = malloc(len + 1);
	if (body == NULL || expect == NULL)
		goto done;
	memcpy(body, data + 2, len);
	memcpy(expect, data + 2, len);
	expect[len] = '\0';

	health_judge_rippled(status, body, len, &h, &o);
	check_obs(&o);
	health_judge_server_info(status, body, len, &h, data[1] * 1000ull, &o, &m);
	check_obs(&o);
	CHECK(strnlen(m.complete_ledgers, sizeof(m.complete_ledgers)) < sizeof(m.complete_ledgers));
	CHECK(m.has_seq || o.verdict == V_CRITICAL);
	CHECK(m.ledger_age_s >= -1 && m.network_id >= -1);
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		h.check_expect_status = (char *)statuses[i];
		h.check_expect_json = i % 2 ? "result.status=success,n=1" : NULL;
		health_judge_http(status, body, len, &h, &o);
		check_obs(&o);
	}
	/* The body as the expectations, status list and ignore list. */
	h.check_expect_status = expect;
	h.check_expect_json = expect;
	h.ignore = expect;
	health_judge_http(200, doc, sizeof(doc) - 1, &h, &o);
	check_obs(&o);
	health_judge_rippled(503, info, sizeof(info) - 1, &h, &o);
	check_obs(&o);
	if (rpc_busy_token(body, len, tok, sizeof(tok)))
		CHECK(strlen(tok) > 0 && strlen(tok) < sizeof(tok));
	drive_rotation(data, size);
done:
	free(body);
	free(expect);
	return 0;
}
