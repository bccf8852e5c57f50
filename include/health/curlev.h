/* libcurl's multi interface on the libevent loop (curl's hiperfifo pattern): one CURLM for
 * the process, driven by socket and timer events; probes (check.c) and alert deliveries
 * (alert.c) add their easy handles to it and get a callback when a transfer ends. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"

struct curlev_job;

/* Called on the loop when JOB's transfer ended (RES: CURLE_OK or why not). The handle is
 * already out of the multi handle: its info (CURLINFO_*) is readable, and the callback may
 * add it again, free it, or stop any other job. */
typedef void (*curlev_done_fn)(struct curlev_job *job, CURLcode res);

/* Embedded in the owner's struct; the easy handle's CURLOPT_PRIVATE points at it. */
struct curlev_job {
	CURL *easy;
	curlev_done_fn done;
	bool running; /* added to the multi handle, not ended yet */
};

/* Users count: the first init creates the multi handle on BASE (and curl's globals), the
 * matching last deinit frees them. Every job must be stopped before the last deinit. */
int curlev_init(struct event_base *base) WUR;
void curlev_deinit(void);
/* Starts JOB's transfer (JOB->easy and JOB->done set); -1 with ERR when curl refused it. */
int curlev_start(struct curlev_job *job, char *err, size_t errlen) WUR;
/* Aborts JOB's transfer if it runs; its callback is not called. */
void curlev_stop(struct curlev_job *job);
/* Sockets curl asked for that could not be watched (a transfer then fails or times out). */
uint64_t curlev_errors_total(void);
