/* Suggested interventions: one table from what was seen to what ops usually do. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ops/remedy.h"

#define BIT(x) (1u << (x))

const char *const remedy_cause_names[RC_COUNT] = {
    [RC_LOAD_FACTOR] = "load_factor",
    [RC_PEERS] = "peers",
    [RC_SERVER_STATE] = "server_state",
    [RC_VALIDATED_LEDGER] = "validated_ledger",
    [RC_AMENDMENT_BLOCKED] = "amendment_blocked",
    [RC_NO_SYNC] = "no_sync",
    [RC_UNREACHABLE] = "unreachable",
};

const char *const remedy_action_names[RA_COUNT] = {
    [RA_REDIRECT] = "redirect", [RA_RESTART] = "restart",   [RA_UPGRADE] = "upgrade",
    [RA_NETWORK] = "network",   [RA_HARDWARE] = "hardware",
};

/* The guidance (xrpl.org, rippled's health check): per cause, the usual remedies. */
static const unsigned remedies[RC_COUNT] = {
    [RC_LOAD_FACTOR] = BIT(RA_REDIRECT) | BIT(RA_RESTART) | BIT(RA_HARDWARE),
    [RC_PEERS] = BIT(RA_REDIRECT) | BIT(RA_RESTART) | BIT(RA_NETWORK),
    [RC_SERVER_STATE] = BIT(RA_REDIRECT) | BIT(RA_RESTART) | BIT(RA_NETWORK) | BIT(RA_HARDWARE),
    [RC_VALIDATED_LEDGER] = BIT(RA_REDIRECT) | BIT(RA_RESTART) | BIT(RA_NETWORK) | BIT(RA_HARDWARE),
    [RC_AMENDMENT_BLOCKED] = BIT(RA_REDIRECT) | BIT(RA_UPGRADE),
    [RC_NO_SYNC] = BIT(RA_REDIRECT) | BIT(RA_UPGRADE),
    [RC_UNREACHABLE] = BIT(RA_REDIRECT) | BIT(RA_RESTART),
};

static const char *const action_text[RA_COUNT] = {
    [RA_REDIRECT] = "traffic redirected to healthy nodes (done by nodegate)",
    [RA_RESTART] = "restart rippled, then allow it up to 15 minutes to sync before any "
                   "further restart",
    [RA_UPGRADE] = "upgrade rippled (a blocked amendment or a bug that prevents syncing)",
    [RA_NETWORK] = "investigate the network (connectivity, firewall, peer configuration)",
    [RA_HARDWARE] = "check the hardware (CPU, memory, disk I/O) or replace it",
};

const char *remedy_action_text(enum remedy_action a)
{
	return a < RA_COUNT ? action_text[a] : "";
}

/* Words of a reason that name each cause (rippled's metrics, the freshness probe, the
 * probes and passive signals that got no answer). */
static const struct {
	const char *word;
	enum remedy_cause cause;
} words[] = {
    {"load_factor", RC_LOAD_FACTOR},
    {"peers", RC_PEERS},
    {"server_state", RC_SERVER_STATE},
    {"validated_ledger", RC_VALIDATED_LEDGER},
    {"ledgers behind", RC_VALIDATED_LEDGER},
    {"no validated ledger", RC_VALIDATED_LEDGER},
    {"amendment_blocked true", RC_AMENDMENT_BLOCKED},
    {"amendmentBlocked", RC_AMENDMENT_BLOCKED},
    {"notSynced", RC_NO_SYNC},
    {"sync grace expired", RC_NO_SYNC},
    {"refused", RC_UNREACHABLE},
    {"timeout", RC_UNREACHABLE},
    {"timed out", RC_UNREACHABLE},
    {"reset", RC_UNREACHABLE},
    {"unreachable", RC_UNREACHABLE},
    {"cannot connect", RC_UNREACHABLE},
};

unsigned remedy_causes(const char *reason)
{
	unsigned causes = 0;

	for (size_t i = 0; reason != NULL && i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(reason, words[i].word) != NULL)
			causes |= BIT(words[i].cause);
	return causes;
}

unsigned remedy_actions(unsigned causes)
{
	unsigned actions = 0;

	for (size_t c = 0; c < RC_COUNT; c++)
		if (causes & BIT(c))
			actions |= remedies[c];
	return actions;
}

/* "peers, server_state": the causes of CAUSES that call for action A. */
static void because(unsigned causes, enum remedy_action a, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t c = 0; c < RC_COUNT && off < len; c++)
		if ((causes & BIT(c)) && (remedies[c] & BIT(a)))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
			                        remedy_cause_names[c]);
}

void remedy_text(unsigned causes, char *buf, size_t len)
{
	unsigned actions = remedy_actions(causes);
	char why[128];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t a = 0; a < RA_COUNT && off < len; a++) {
		if (!(actions & BIT(a)))
			continue;
		because(causes, (enum remedy_action)a, why, sizeof(why));
		off += (size_t)snprintf(buf + off, len - off, "%s%s%s%s%s", off ? "; " : "",
		                        action_text[a], a == RA_REDIRECT ? "" : " (",
		                        a == RA_REDIRECT ? "" : why, a == RA_REDIRECT ? "" : ")");
	}
}

json_t *remedy_json(unsigned causes)
{
	unsigned actions = remedy_actions(causes);
	json_t *arr = json_array();

	for (size_t a = 0; arr != NULL && a < RA_COUNT; a++) {
		json_t *why = json_array();

		if (!(actions & BIT(a))) {
			json_decref(why);
			continue;
		}
		for (size_t c = 0; why != NULL && c < RC_COUNT; c++)
			if ((causes & BIT(c)) && (remedies[c] & BIT(a)))
				json_array_append_new(why, json_string(remedy_cause_names[c]));
		if (json_array_append_new(arr, json_pack("{s:s, s:o, s:s}", "action",
		                                         remedy_action_names[a], "because", why,
		                                         "text", action_text[a])) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}
