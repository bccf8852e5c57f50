/* Suggested interventions: what ops usually do about what was seen, after rippled's
 * health-check guidance (redirect traffic, restart, upgrade, look at the network, replace
 * hardware; give a restarted node up to 15 minutes to sync). One table, pure. */
#pragma once
#include <stddef.h>

struct json_t;

/* What was seen on a node (bits of an incident's causes). */
enum remedy_cause {
	RC_LOAD_FACTOR = 0,   /* load_factor too high */
	RC_PEERS,             /* too few peers */
	RC_SERVER_STATE,      /* not full/proposing/validating */
	RC_VALIDATED_LEDGER,  /* validated ledger old or missing, or lagging */
	RC_AMENDMENT_BLOCKED, /* the node's software is too old for the network */
	RC_NO_SYNC,           /* it did not sync within its grace */
	RC_UNREACHABLE,       /* no answer at all: refused, reset, timeout */
	RC_COUNT
};
extern const char *const remedy_cause_names[RC_COUNT];

enum remedy_action {
	RA_REDIRECT = 0, /* traffic goes to healthy nodes: nodegate does it */
	RA_RESTART,
	RA_UPGRADE,
	RA_NETWORK,
	RA_HARDWARE,
	RA_COUNT
};
extern const char *const remedy_action_names[RA_COUNT];

/* The causes a health reason ("peers 2 < 3 (warning); server_state syncing") names, as
 * bits (1 << enum remedy_cause). */
unsigned remedy_causes(const char *reason);
/* The actions suggested for CAUSES, as bits (1 << enum remedy_action). */
unsigned remedy_actions(unsigned causes);
/* "restart rippled, then allow it up to 15 minutes to sync ...": action A in words. */
const char *remedy_action_text(enum remedy_action a);
/* One line: "traffic redirected to healthy nodes (done); restart rippled (peers) - allow up
 * to 15 minutes to sync before restarting it again; ..."; "" when CAUSES is 0. */
void remedy_text(unsigned causes, char *buf, size_t len);
/* [{"action","because":[causes],"text"}], one per suggested action; NULL when out of
 * memory. */
struct json_t *remedy_json(unsigned causes);
