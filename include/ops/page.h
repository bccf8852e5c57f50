/* The public status page: GET / on the status listener, one self-contained HTML page
 * rendered from the running state and the incident history, that works without JavaScript
 * and refreshes itself in place with it. */
#pragma once

/* Registers GET / with the status listener (status_route); call once, before the loop
 * runs. Logs when the route table is full (the page is then not served). */
void page_init(void);
