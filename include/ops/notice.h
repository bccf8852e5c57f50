/* The notice/FAQ section of the status page ([status] notice_file): plain text with a small,
 * safe Markdown subset, checked when the configuration loads and rendered as HTML where
 * everything the file says is text, never markup. Pure: no I/O.
 *
 *   # Heading, ## Heading     headings (h3, h4)
 *   - item                    list items
 *   blank line                ends a paragraph
 *   **bold**, `code`          inline
 *   [words](https://...)      links (http and https only)
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define NOTICE_MAX (16 * 1024) /* bytes of a notice file */

/* Whether TEXT (LEN bytes) is a valid notice: at most NOTICE_MAX bytes, UTF-8, no control
 * characters but tabs and newlines, every link closed and to http(s). False: *LINE is the
 * line (from 1) and ERR what is wrong. */
bool notice_check(const char *text, size_t len, int *line, char *err, size_t errlen);

/* Renders TEXT (a checked notice) as HTML through OUT (called with pieces of it). */
typedef void (*notice_out_fn)(const char *s, size_t n, void *arg);
void notice_render(const char *text, notice_out_fn out, void *arg);
