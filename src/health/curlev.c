/* libcurl's multi interface on the libevent loop: curl says which sockets to watch and when
 * to call it back (sock_cb, timer_cb); libevent calls it back (sock_event_cb,
 * curl_timeout_cb); finished transfers are handed to their job's callback (drain). */
#include <stdio.h>
#include <string.h>

#include "health/curlev.h"

static struct {
	struct event_base *base;
	CURLM *multi;
	struct event *timer; /* curl's timeout (CURLMOPT_TIMERFUNCTION) */
	unsigned users;
	uint64_t errors_total;
} G;

static void drain(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(G.multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		char *priv = NULL;

		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		struct curlev_job *job = (struct curlev_job *)priv;
		if (job == NULL || !job->running || job->easy != easy)
			continue;
		curl_multi_remove_handle(G.multi, easy);
		job->running = false;
		job->done(job, res);
	}
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	int action =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(G.multi, fd, action, &running);
	drain();
}

/* CURLMOPT_SOCKETFUNCTION: one persistent libevent event per socket curl uses, kept as
 * the socket's curl_multi_assign pointer. */
static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct event *ev = socketp;
	short want = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	             (what & CURL_POLL_OUT ? EV_WRITE : 0);

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		return 0;
	}
	if (ev == NULL) {
		ev = event_new(G.base, fd, want, sock_event_cb, NULL);
		if (ev == NULL || curl_multi_assign(G.multi, fd, ev) != CURLM_OK) {
			if (ev != NULL)
				event_free(ev);
			G.errors_total++;
			return -1;
		}
	} else if (event_get_events(ev) != want) {
		event_del(ev);
		event_assign(ev, G.base, fd, want, sock_event_cb, NULL);
	} else {
		return 0;
	}
	return event_add(ev, NULL) == 0 ? 0 : -1;
}

static void curl_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	int running;

	curl_multi_socket_action(G.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain();
}

/* CURLMOPT_TIMERFUNCTION: one timer; -1 removes it. curl is called from the loop, never
 * from here. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	if (timeout_ms < 0) {
		evtimer_del(G.timer);
		return 0;
	}
	struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
	                     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};

	return evtimer_add(G.timer, &tv) == 0 ? 0 : -1;
}

int curlev_init(struct event_base *base)
{
	if (G.users > 0) {
		if (base != G.base)
			return -1;
		G.users++;
		return 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	G.base = base;
	G.timer = evtimer_new(base, curl_timeout_cb, NULL);
	G.multi = curl_multi_init();
	if (G.timer == NULL || G.multi == NULL)
		goto fail;
	curl_multi_setopt(G.multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(G.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	G.users = 1;
	return 0;
fail:
	if (G.multi != NULL)
		curl_multi_cleanup(G.multi);
	if (G.timer != NULL)
		event_free(G.timer);
	curl_global_cleanup();
	memset(&G, 0, sizeof(G));
	return -1;
}

void curlev_deinit(void)
{
	if (G.users == 0 || --G.users > 0)
		return;
	curl_multi_cleanup(G.multi);
	event_free(G.timer);
	curl_global_cleanup();
	memset(&G, 0, sizeof(G));
}

int curlev_start(struct curlev_job *job, char *err, size_t errlen)
{
	CURLMcode rc;

	if (G.multi == NULL) {
		snprintf(err, errlen, "curl is not running");
		return -1;
	}
	curl_easy_setopt(job->easy, CURLOPT_PRIVATE, (char *)job);
	rc = curl_multi_add_handle(G.multi, job->easy);
	if (rc != CURLM_OK) {
		snprintf(err, errlen, "%s", curl_multi_strerror(rc));
		return -1;
	}
	job->running = true;
	return 0;
}

void curlev_stop(struct curlev_job *job)
{
	if (!job->running)
		return;
	curl_multi_remove_handle(G.multi, job->easy);
	job->running = false;
}

uint64_t curlev_errors_total(void)
{
	return G.errors_total;
}
