/* The public strings, English and Japanese, and the templates ops may rewrite. */
#include <stdio.h>
#include <string.h>

#include "ops/words.h"

const char *const words_lang_names[WL_COUNT] = {[WL_EN] = "en", [WL_JA] = "ja"};

const char *const words_kind_options[WK_COUNT] = {
    [WK_DEGRADED] = "text_degraded",
    [WK_PARTIAL_OUTAGE] = "text_partial_outage",
    [WK_MAJOR_OUTAGE] = "text_major_outage",
    [WK_RESTORED] = "text_restored",
    [WK_MAINT_SCHEDULED] = "text_maintenance_scheduled",
    [WK_MAINT_STARTED] = "text_maintenance_started",
    [WK_MAINT_ENDED] = "text_maintenance_ended",
};

static const char *const templates[WL_COUNT][WK_COUNT] = {
    [WL_EN] =
        {
            [WK_DEGRADED] = "Some requests may be slow: {serving} of {total} nodes in service",
            [WK_PARTIAL_OUTAGE] =
                "Some requests may fail or be slow: {serving} of {total} nodes in service",
            [WK_MAJOR_OUTAGE] = "All requests are failing",
            [WK_RESTORED] = "Service restored",
            [WK_MAINT_SCHEDULED] = "Maintenance scheduled",
            [WK_MAINT_STARTED] = "Maintenance in progress: some nodes are out of service",
            [WK_MAINT_ENDED] = "Maintenance completed",
        },
    [WL_JA] =
        {
            [WK_DEGRADED] = "一部のリクエストが遅くなる可能性があります（{total} "
                            "台中 {serving} 台が稼働中）",
            [WK_PARTIAL_OUTAGE] = "一部のリクエストが失敗または遅延する可能性があります（{total} "
                                  "台中 {serving} 台が稼働中）",
            [WK_MAJOR_OUTAGE] = "すべてのリクエストが失敗しています",
            [WK_RESTORED] = "サービスは復旧しました",
            [WK_MAINT_SCHEDULED] = "メンテナンスを予定しています",
            [WK_MAINT_STARTED] = "メンテナンス中です：一部のノードを停止しています",
            [WK_MAINT_ENDED] = "メンテナンスは完了しました",
        },
};

static const char *const table[WL_COUNT][W_COUNT] =
    {
        [WL_EN] =
            {
                [W_OPERATIONAL] = "Operational",
                [W_DEGRADED] = "Degraded performance",
                [W_PARTIAL_OUTAGE] = "Partial outage",
                [W_MAJOR_OUTAGE] = "Major outage",
                [W_ALL_OPERATIONAL] = "All systems operational",
                [W_NO_SERVICE] = "No service configured",
                [W_NODE_CHECKING] = "Checking",
                [W_NODE_UP] = "Operational",
                [W_NODE_RECOVERING] = "Recovering",
                [W_NODE_DOWN] = "Down",
                [W_NODE_SYNCING] = "Syncing",
                [W_NODE_MAINT] = "Maintenance",
                [W_NODE_DRAINING] = "Draining",
                [W_UPD_INVESTIGATING] = "Investigating",
                [W_UPD_IDENTIFIED] = "Identified",
                [W_UPD_MONITORING] = "Monitoring",
                [W_UPD_RESOLVED] = "Resolved",
                [W_ENTRY_OPENED] = "Opened",
                [W_ENTRY_RESOLVED] = "Resolved",
                [W_MAINT_SCHEDULED_BADGE] = "Scheduled maintenance",
                [W_MAINT_BADGE] = "Maintenance",
                [W_RESOLVED_BADGE] = "Resolved",
                [W_ONGOING_INCIDENTS] = "Ongoing incidents",
                [W_SERVICES] = "Services",
                [W_PAST_INCIDENTS] = "Past incidents",
                [W_NOTICE] = "Notice",
                [W_NO_PAST] = "No past incidents on record.",
                [W_NODES_IN_ROTATION] = "%zu of %zu nodes in rotation",
                [W_NODES_IN_ROTATION_1] = "%zu of %zu node in rotation",
                [W_PANIC] = "<strong>Panic:</strong> too few healthy nodes (%zu in rotation, %llu "
                            "wanted): serving from the least bad.",
                [W_AFFECTS] = "Priority <strong class=\"prio\">%s</strong> &middot; Affects",
                [W_ALL_SERVICES] = "all services",
                [W_STARTED] = "started",
                [W_RESOLVED_AT] = "resolved",
                [W_LASTED] = "lasted",
                [W_ONGOING_FOR] = "ongoing for",
                [W_UNDER_A_MINUTE] = "under a minute",
                [W_PLANNED_WINDOW] = "Planned window:",
                [W_TO] = "to",
                [W_NO_UPDATE_OPEN] = "No update from the operators yet. The timeline below is what "
                                     "the monitoring recorded.",
                [W_NO_UPDATE_PAST] = "No update was posted by the operators.",
                [W_POSTED] = "Posted",
                [W_EXPECTED_RECOVERY] = "Expected recovery:",
                [W_RECOVERY_LATE] = "Recovery was expected at %s and has not happened yet.",
                [W_NEXT_UPDATE] = "Next update by",
                [W_UPDATE_LATE] = "The next update was due at %s and has not been posted yet.",
                [W_TIMELINE] = "Timeline (%zu entries)",
                [W_TIMELINE_1] = "Timeline (%zu entry)",
                [W_SERVICES_AFFECTED] = "%zu of %zu services affected",
                [W_SERVICES_AFFECTED_1] = "%zu of %zu service affected",
                [W_ONGOING_LINK] = "%zu ongoing incidents",
                [W_ONGOING_LINK_1] = "%zu ongoing incident",
                [W_UPDATED] = "Updated",
                [W_UPTIME] = "%s %% uptime",
                [W_NO_DATA_YET] = "no data yet",
                [W_NO_DATA] = "no data",
                [W_NO_DOWNTIME] = "no downtime",
                [W_DOWN] = "%s down",
                [W_TODAY_SO_FAR] = " (today so far)",
                [W_DAYS_AGO] = "%d days ago",
                [W_NO_DATA_BEFORE] = "No data before %s",
                [W_TODAY] = "Today",
                [W_LEGEND] = "Each bar is one UTC day, the newest on the right:",
                [W_LEGEND_OK] = "no downtime",
                [W_LEGEND_MINOR] = "under 15 min down",
                [W_LEGEND_PARTIAL] = "under 2 h down",
                [W_LEGEND_MAJOR] = "2 h or more down",
                [W_LEGEND_MAINT] = "planned maintenance is not downtime",
                [W_FOOT_UTC] = "All times are UTC.",
                [W_FOOT_LIVE] = "This page updates itself every %d seconds.",
                [W_FOOT_NOSCRIPT] = "This page reloads itself every minute; reload it for the "
                                    "latest state.",
                [W_SERVED_BY] = "Served by nodegate.",
                [W_COPY_BY] = "A copy made by nodegate.",
                [W_FOLLOW] = "Follow the incidents:",
                [W_ATOM_FEED] = "Atom feed",
                [W_RSS_FEED] = "RSS feed",
                [W_RESPONSE_TIME] = "Response time (p50 and p99)",
                [W_LAST_DAY] = "last 24 hours",
                [W_LAST_90_DAYS] = "last 90 days",
                [W_NO_SAMPLES] = "no answers measured yet",
                [W_UPTIME_90] = "uptime over 90 days, planned maintenance excluded",
                [W_REL] = "min|h|day|days|%s ago|just now|in %s|in under a minute",
                [W_STALE] = "This page could not be refreshed since %1 (%2): what it shows may be "
                            "out of date. Retrying every %3 seconds.",
                [W_MAIL_CONFIRM_SUBJECT] = "Confirm your subscription to status updates",
                [W_MAIL_CONFIRM_BODY] =
                    "Someone, probably you, asked to receive status updates for {pool} at "
                    "this address.\n\nTo confirm, open this link and press the button:\n"
                    "{link}\n\nIf you did not ask for this, ignore this mail: nothing more "
                    "will be sent.\n",
                [W_MAIL_OPENED_SUBJECT] = "[{pool}] Incident: {title}",
                [W_MAIL_OPENED_BODY] = "We are seeing a problem with {pool}.\n\n{title}\n{text}\n\n"
                                       "Follow it on the status page: {link}\n",
                [W_MAIL_UPDATED_SUBJECT] = "[{pool}] Update ({status}): {title}",
                [W_MAIL_UPDATED_BODY] = "An update on the incident \"{title}\" ({status}):\n\n"
                                        "{text}\n\nStatus page: {link}\n",
                [W_MAIL_RESOLVED_SUBJECT] = "[{pool}] Resolved: {title}",
                [W_MAIL_RESOLVED_BODY] = "The incident \"{title}\" is resolved.\n\n{text}\n\n"
                                         "Status page: {link}\n",
                [W_MAIL_MSCHED_SUBJECT] = "[{pool}] Maintenance scheduled: {title}",
                [W_MAIL_MSCHED_BODY] = "A maintenance of {pool} is scheduled from {start} to "
                                       "{end}.\n\n{title}\n{text}\n\nStatus page: {link}\n",
                [W_MAIL_MSTART_SUBJECT] = "[{pool}] Maintenance started: {title}",
                [W_MAIL_MSTART_BODY] = "The maintenance \"{title}\" has started (planned to end "
                                       "{end}).\n\n{text}\n\nStatus page: {link}\n",
                [W_MAIL_MEND_SUBJECT] = "[{pool}] Maintenance ended: {title}",
                [W_MAIL_MEND_BODY] = "The maintenance \"{title}\" has ended.\n\n{text}\n\n"
                                     "Status page: {link}\n",
                [W_MAIL_ALL_SERVICES] = "all services",
                [W_FEED_INCIDENT] = "Incident",
                [W_FEED_RESOLVED] = "Resolved",
                [W_FEED_MSCHED] = "Maintenance scheduled",
                [W_FEED_MSTART] = "Maintenance started",
                [W_FEED_MEND] = "Maintenance completed",
                [W_FEED_WINDOW_BEGAN] = "The maintenance window began.",
                [W_FEED_EXPECTED] = "Expected recovery:",
                [W_FEED_NEXT] = "Next update by:",
                [W_FEED_AFFECTS] = "Affects:",
                [W_FEED_INCIDENTS] = "incidents",
                [W_FEED_WINDOW] = "Planned window: %s to %s",
            },
        [WL_JA] =
            {
                [W_OPERATIONAL] = "正常稼働",
                [W_DEGRADED] = "パフォーマンス低下",
                [W_PARTIAL_OUTAGE] = "一部障害",
                [W_MAJOR_OUTAGE] = "重大な障害",
                [W_ALL_OPERATIONAL] = "すべてのシステムが正常に稼働しています",
                [W_NO_SERVICE] = "サービスが設定されていません",
                [W_NODE_CHECKING] = "確認中",
                [W_NODE_UP] = "正常稼働",
                [W_NODE_RECOVERING] = "復旧中",
                [W_NODE_DOWN] = "停止",
                [W_NODE_SYNCING] = "同期中",
                [W_NODE_MAINT] = "メンテナンス",
                [W_NODE_DRAINING] = "切り離し中",
                [W_UPD_INVESTIGATING] = "調査中",
                [W_UPD_IDENTIFIED] = "原因特定",
                [W_UPD_MONITORING] = "経過観察",
                [W_UPD_RESOLVED] = "解決",
                [W_ENTRY_OPENED] = "発生",
                [W_ENTRY_RESOLVED] = "解決",
                [W_MAINT_SCHEDULED_BADGE] = "メンテナンス予定",
                [W_MAINT_BADGE] = "メンテナンス",
                [W_RESOLVED_BADGE] = "解決済み",
                [W_ONGOING_INCIDENTS] = "発生中の障害",
                [W_SERVICES] = "サービス",
                [W_PAST_INCIDENTS] = "過去の障害",
                [W_NOTICE] = "お知らせ",
                [W_NO_PAST] = "過去の障害の記録はありません。",
                [W_NODES_IN_ROTATION] = "%zu / %zu 台のノードが稼働中",
                [W_NODES_IN_ROTATION_1] = "%zu / %zu 台のノードが稼働中",
                [W_PANIC] = "<strong>緊急運転:</strong> 正常なノードが不足しています（稼働 %zu "
                            "台、必要 "
                            "%llu 台）。状態の最も良いノードで応答しています。",
                [W_AFFECTS] = "優先度 <strong class=\"prio\">%s</strong> &middot; 影響範囲",
                [W_ALL_SERVICES] = "全サービス",
                [W_STARTED] = "開始",
                [W_RESOLVED_AT] = "解決",
                [W_LASTED] = "継続時間",
                [W_ONGOING_FOR] = "継続中",
                [W_UNDER_A_MINUTE] = "1 分未満",
                [W_PLANNED_WINDOW] = "予定時間:",
                [W_TO] = "〜",
                [W_NO_UPDATE_OPEN] = "運用担当からの報告はまだありません。",
                [W_NO_UPDATE_PAST] = "運用担当からの報告はありませんでした。",
                [W_POSTED] = "投稿",
                [W_EXPECTED_RECOVERY] = "復旧見込み:",
                [W_RECOVERY_LATE] = "%s に復旧の見込みでしたが、まだ復旧していません。",
                [W_NEXT_UPDATE] = "次回の報告予定",
                [W_UPDATE_LATE] = "次回の報告は %s の予定でしたが、まだ投稿されていません。",
                [W_TIMELINE] = "経過（%zu 件）",
                [W_TIMELINE_1] = "経過（%zu 件）",
                [W_SERVICES_AFFECTED] = "%zu / %zu サービスに影響",
                [W_SERVICES_AFFECTED_1] = "%zu / %zu サービスに影響",
                [W_ONGOING_LINK] = "発生中の障害 %zu 件",
                [W_ONGOING_LINK_1] = "発生中の障害 %zu 件",
                [W_UPDATED] = "更新",
                [W_UPTIME] = "稼働率 %s %%",
                [W_NO_DATA_YET] = "データなし",
                [W_NO_DATA] = "データなし",
                [W_NO_DOWNTIME] = "停止なし",
                [W_DOWN] = "停止 %s",
                [W_TODAY_SO_FAR] = "（本日）",
                [W_DAYS_AGO] = "%d 日前",
                [W_NO_DATA_BEFORE] = "%s より前のデータなし",
                [W_TODAY] = "今日",
                [W_LEGEND] = "各バーは UTC の 1 日で、右端が最新です:",
                [W_LEGEND_OK] = "停止なし",
                [W_LEGEND_MINOR] = "停止 15 分未満",
                [W_LEGEND_PARTIAL] = "停止 2 時間未満",
                [W_LEGEND_MAJOR] = "停止 2 時間以上",
                [W_LEGEND_MAINT] = "計画メンテナンスは停止に数えません",
                [W_FOOT_UTC] = "時刻はすべて UTC です。",
                [W_FOOT_LIVE] = "このページは %d 秒ごとに自動更新されます。",
                [W_FOOT_NOSCRIPT] =
                    "このページは 1 "
                    "分ごとに再読み込みされます。最新の状態は再読み込みで確認してください。",
                [W_SERVED_BY] = "nodegate が配信しています。",
                [W_COPY_BY] = "nodegate が作成したコピーです。",
                [W_FOLLOW] = "インシデントを購読:",
                [W_ATOM_FEED] = "Atom フィード",
                [W_RSS_FEED] = "RSS フィード",
                [W_RESPONSE_TIME] = "応答時間（p50 と p99）",
                [W_LAST_DAY] = "過去 24 時間",
                [W_LAST_90_DAYS] = "過去 90 日",
                [W_NO_SAMPLES] = "まだ計測された応答がありません",
                [W_UPTIME_90] = "90 日間の稼働率（計画メンテナンスを除く）",
                [W_REL] = "分|時間|日|日|%s前|たった今|%s後|1 分以内",
                [W_STALE] = "%1（%"
                            "2）以降、このページを更新できていません。表示が古い可能性があります。%"
                            "3 "
                            "秒ごとに再試行しています。",
                [W_MAIL_CONFIRM_SUBJECT] = "ステータス更新の購読を確認してください",
                [W_MAIL_CONFIRM_BODY] =
                    "このアドレスで {pool} のステータス更新を受け取る申し込みがありました。\n\n"
                    "確認するには、このリンクを開いてボタンを押してください:\n{link}\n\n"
                    "心当たりがなければ、このメールは無視してください。これ以上は送信されません。"
                    "\n",
                [W_MAIL_OPENED_SUBJECT] = "[{pool}] 障害: {title}",
                [W_MAIL_OPENED_BODY] = "{pool} で問題が発生しています。\n\n{title}\n{text}\n\n"
                                       "ステータスページで経過をご覧ください: {link}\n",
                [W_MAIL_UPDATED_SUBJECT] = "[{pool}] 更新（{status}）: {title}",
                [W_MAIL_UPDATED_BODY] = "障害「{title}」の更新（{status}）:\n\n{text}\n\n"
                                        "ステータスページ: {link}\n",
                [W_MAIL_RESOLVED_SUBJECT] = "[{pool}] 解決: {title}",
                [W_MAIL_RESOLVED_BODY] = "障害「{title}」は解決しました。\n\n{text}\n\n"
                                         "ステータスページ: {link}\n",
                [W_MAIL_MSCHED_SUBJECT] = "[{pool}] メンテナンス予定: {title}",
                [W_MAIL_MSCHED_BODY] = "{pool} のメンテナンスを {start} から {end} まで予定して"
                                       "います。\n\n{title}\n{text}\n\nステータスページ: {link}\n",
                [W_MAIL_MSTART_SUBJECT] = "[{pool}] メンテナンス開始: {title}",
                [W_MAIL_MSTART_BODY] = "メンテナンス「{title}」を開始しました（終了予定 {end}）。"
                                       "\n\n{text}\n\nステータスページ: {link}\n",
                [W_MAIL_MEND_SUBJECT] = "[{pool}] メンテナンス終了: {title}",
                [W_MAIL_MEND_BODY] = "メンテナンス「{title}」は終了しました。\n\n{text}\n\n"
                                     "ステータスページ: {link}\n",
                [W_MAIL_ALL_SERVICES] = "すべてのサービス",
                [W_FEED_INCIDENT] = "障害",
                [W_FEED_RESOLVED] = "解決",
                [W_FEED_MSCHED] = "メンテナンス予定",
                [W_FEED_MSTART] = "メンテナンス開始",
                [W_FEED_MEND] = "メンテナンス完了",
                [W_FEED_WINDOW_BEGAN] = "メンテナンスの時間帯が始まりました。",
                [W_FEED_EXPECTED] = "復旧見込み:",
                [W_FEED_NEXT] = "次回の更新:",
                [W_FEED_AFFECTS] = "影響:",
                [W_FEED_INCIDENTS] = "障害情報",
                [W_FEED_WINDOW] = "予定時間帯: %s から %s まで",
            },
};

const char *words_get(enum words_lang lang, enum word w)
{
	const char *s;

	if (w >= W_COUNT)
		return "";
	s = table[lang < WL_COUNT ? lang : WL_EN][w];
	return s != NULL ? s : table[WL_EN][w];
}

const char *words_plural(enum words_lang lang, enum word w, size_t n)
{
	bool one = n == 1 && (w == W_NODES_IN_ROTATION || w == W_TIMELINE ||
	                      w == W_SERVICES_AFFECTED || w == W_ONGOING_LINK);

	return words_get(lang, one ? (enum word)(w + 1) : w);
}

const char *words_default(enum words_lang lang, enum words_kind kind)
{
	if (kind >= WK_COUNT)
		return "";
	return templates[lang < WL_COUNT ? lang : WL_EN][kind];
}

static const char *const placeholders[] = {"pool", "serving", "total"};

/* The index of the placeholder named by the N bytes at P, or -1. */
static int placeholder(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
		if (strlen(placeholders[i]) == n && memcmp(placeholders[i], p, n) == 0)
			return (int)i;
	return -1;
}

bool words_template_ok(const char *tmpl, char *err, size_t errlen)
{
	size_t len = strlen(tmpl);

	if (len == 0 || len > WORDS_TEMPLATE_MAX) {
		snprintf(err, errlen, "%zu bytes (expected 1 to %d)", len, WORDS_TEMPLATE_MAX);
		return false;
	}
	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *close;

		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "a control character (expected one line of text)");
			return false;
		}
		if (*p == '}') {
			snprintf(err, errlen,
			         "a '}' without its '{' (expected {pool}, {serving} or "
			         "{total})");
			return false;
		}
		if (*p != '{')
			continue;
		close = strchr(p, '}');
		if (close == NULL || placeholder(p + 1, (size_t)(close - p - 1)) < 0) {
			snprintf(
			    err, errlen,
			    "unknown placeholder \"%.*s\" (expected {pool}, {serving} or {total})",
			    close != NULL ? (int)(close - p + 1) : (int)strlen(p), p);
			return false;
		}
		p = close;
	}
	return true;
}

/* Appends the N bytes of S to BUF at *OFF, whole UTF-8 sequences only. */
static void put(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	if (*off + n >= len) {
		n = len - 1 - *off;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
}

size_t words_render(const char *tmpl, const struct words_vars *v, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (const char *p = tmpl; *p != '\0' && off + 1 < len;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		int ph = close != NULL ? placeholder(p + 1, (size_t)(close - p - 1)) : -1;
		char num[24];

		if (ph < 0) {
			size_t n = strcspn(p + 1, "{") + 1;

			put(buf, len, &off, p, n);
			p += n;
			continue;
		}
		if (ph == 0)
			put(buf, len, &off, v->pool != NULL ? v->pool : "",
			    v->pool != NULL ? strlen(v->pool) : 0);
		else {
			snprintf(num, sizeof(num), "%zu", ph == 1 ? v->serving : v->total);
			put(buf, len, &off, num, strlen(num));
		}
		p = close + 1;
	}
	return off;
}
