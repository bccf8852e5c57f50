/* The escalation schedule (pure, a fake clock: elapsed ms after the incident opened) and
 * acknowledgement link tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "ops/acklink.h"
#include "ops/escalate.h"

#define M(x) ((uint64_t)(x)*60000)

/* tier1 = slack at once, tier2 = pager after 10m, tier3 = email after 30m. */
static struct conf_escalation ladder(uint64_t repeat)
{
	struct conf_escalation e = {.name = "oncall",
	                            .n_tiers = 3,
	                            .repeat = repeat,
	                            .repeat_interval = M(60),
	                            .page_min_priority = PRIO_P2};

	e.tiers[0] = (struct conf_tier){"slack", 0};
	e.tiers[1] = (struct conf_tier){"pager", M(10)};
	e.tiers[2] = (struct conf_tier){"email", M(30)};
	return e;
}

static void test_tiers_climb_on_time(void **state)
{
	struct conf_escalation e = ladder(0);
	struct esc_plan p;

	escalate_plan(&e, PRIO_P1, &p);
	assert_true(p.pageable);
	assert_int_equal(escalate_due(&p, 0), 0);
	assert_int_equal(escalate_due(&p, 1), M(10));
	assert_int_equal(escalate_due(&p, 2), M(30));
	assert_int_equal(escalate_due(&p, 3), -1); /* no repeat: the end */
	assert_int_equal(escalate_steps_due(&p, 0), 1);
	assert_int_equal(escalate_steps_due(&p, M(10) - 1), 1);
	assert_int_equal(escalate_steps_due(&p, M(10)), 2);
	assert_int_equal(escalate_steps_due(&p, M(29)), 2);
	assert_int_equal(escalate_steps_due(&p, M(30)), 3);
	assert_int_equal(escalate_steps_due(&p, M(600)), 3);
}

static void test_repeat_climbs_again_then_stops(void **state)
{
	struct conf_escalation e = ladder(2);
	struct esc_plan p;

	escalate_plan(&e, PRIO_P2, &p);
	assert_int_equal(escalate_due(&p, 3), M(60));       /* tier 1 again */
	assert_int_equal(escalate_due(&p, 4), M(70));       /* tier 2 again */
	assert_int_equal(escalate_due(&p, 8), M(120 + 30)); /* tier 3, third climb */
	assert_int_equal(escalate_due(&p, 9), -1);          /* two repeats, then silence */
	assert_int_equal(escalate_steps_due(&p, M(59)), 3);
	assert_int_equal(escalate_steps_due(&p, M(60)), 4);
	assert_int_equal(escalate_steps_due(&p, M(1000)), 9);
}

static void test_below_page_min_priority_only_tier1(void **state)
{
	struct conf_escalation e = ladder(3);
	struct esc_plan p;

	escalate_plan(&e, PRIO_P3, &p);
	assert_false(p.pageable);
	assert_int_equal(escalate_due(&p, 0), 0);
	assert_int_equal(escalate_due(&p, 1), -1);
	assert_int_equal(escalate_steps_due(&p, M(1000)), 1);
	escalate_plan(&e, PRIO_P2, &p); /* raised to the threshold: it climbs from where it is */
	assert_int_equal(escalate_steps_due(&p, M(15)), 2);
	e.page_min_priority = PRIO_P4;
	escalate_plan(&e, PRIO_P4, &p);
	assert_true(p.pageable);
}

static void test_an_ack_leaves_the_later_tiers_untold(void **state)
{
	/* the runtime stops a climb on IC_ACK and ends it on IC_RESOLVED (e2e:
	 * test_escalation.py); the schedule says what was told by then: an ack at 12m leaves
	 * tiers 1 and 2 told, tier 3 never. */
	struct conf_escalation e = ladder(0);
	struct esc_plan p;
	int told_at_ack;

	escalate_plan(&e, PRIO_P1, &p);
	told_at_ack = escalate_steps_due(&p, M(12));
	assert_int_equal(told_at_ack, 2);
	assert_true(escalate_due(&p, told_at_ack) > (int64_t)M(12)); /* tier 3 was still ahead */
}

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";

static void test_tokens_sign_check_and_refuse(void **state)
{
	char tok[ACKLINK_TOKEN_MAX], bad[ACKLINK_TOKEN_MAX];
	struct ack_claim c;
	int64_t now = 1800000000000;

	assert_int_equal(
	    acklink_sign(KEY, 32, 42, now + 1000, "00ff00ff00ff00ff", "pager.eu", tok, sizeof(tok)),
	    0);
	assert_int_equal(acklink_check(KEY, 32, tok, now, &c), ACK_OK);
	assert_int_equal(c.id, 42);
	assert_int_equal(c.expires, now + 1000);
	assert_string_equal(c.channel, "pager.eu");
	assert_int_equal(strlen(c.mac), ACKLINK_MAC_HEX);
	/* expired */
	assert_int_equal(acklink_check(KEY, 32, tok, now + 1000, &c), ACK_EXPIRED);
	/* another key, another incident id, another expiry: forged */
	assert_int_equal(acklink_check(KEY, 31, tok, now, &c), ACK_FORGED);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[ACKLINK_MAC_HEX + 1] = '5'; /* id 42 -> 52 */
	assert_int_equal(acklink_check(KEY, 32, bad, now, &c), ACK_FORGED);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[0] = bad[0] == 'a' ? 'b' : 'a';
	assert_int_equal(acklink_check(KEY, 32, bad, now, &c), ACK_FORGED);
	/* not tokens */
	assert_int_equal(acklink_check(KEY, 32, "", now, &c), ACK_MALFORMED);
	assert_int_equal(acklink_check(KEY, 32, "abc.1.2.3.x", now, &c), ACK_MALFORMED);
	snprintf(bad, sizeof(bad), "%.*s.x1.2.ff.c", ACKLINK_MAC_HEX, tok);
	assert_int_equal(acklink_check(KEY, 32, bad, now, &c), ACK_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tiers_climb_on_time),
	    cmocka_unit_test(test_repeat_climbs_again_then_stops),
	    cmocka_unit_test(test_below_page_min_priority_only_tier1),
	    cmocka_unit_test(test_an_ack_leaves_the_later_tiers_untold),
	    cmocka_unit_test(test_tokens_sign_check_and_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
