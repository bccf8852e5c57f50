/* The ops console: GET /ops/ on the status listener, a private page for the people on call
 * (open incidents with priority, escalation, acknowledgement, roles, similar incidents and
 * suggested interventions; backends; recently resolved incidents) whose plain HTML forms
 * act through the admin API's functions. Login with the admin token into a session cookie;
 * a CSRF token in every form. On when [status] console is yes, or auto with an admin
 * token; otherwise /ops/ answers 404. */
#pragma once
#include "log.h"

/* Registers /ops with the status listener and the console's families on /metrics; before
 * the loop runs. -1 when a table is full. */
int console_init(void) WUR;
/* Ends every session. */
void console_deinit(void);
