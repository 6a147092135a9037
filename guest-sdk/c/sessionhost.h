/*
 * sessionhost.h - write sessionhost session guests in C.
 *
 * A guest is one WebAssembly component instance per user session. The host delivers the
 * session's messages one at a time, so a guest keeps its state in plain globals: no locks,
 * no per-session lookup. You define the callbacks below; this library (sessionhost.c) turns
 * them into the exports of the WIT world `session-guest` (wit/session.wit) through the
 * `wit-bindgen c` bindings, and wraps the host's imports as plain C functions.
 *
 * Ownership, in one rule: input buffers belong to the library and are valid only during the
 * callback (copy what you keep); output goes into an `sh_buf` the library hands you, frees
 * after the host has read it, and you never free yourself.
 *
 * Messages are bytes; the other SDKs speak JSON, so a guest that wants to interoperate does
 * too. `sh_json_*` below read the members of a flat JSON object, enough for small protocols
 * such as the counter's; bring a full parser for anything nested.
 *
 * Strings given to the host (error messages, log lines, stop reasons) must be UTF-8.
 */
#ifndef SESSIONHOST_H
#define SESSIONHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Buffers ------------------------------------------------------------------------- */

/* A growable byte buffer (malloc'ed). Replies, errors and snapshots are written into one. */
typedef struct sh_buf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} sh_buf;

/* Makes room for `extra` more bytes past `len`. Returns false when memory is exhausted. */
bool sh_buf_reserve(sh_buf *buf, size_t extra);
/* Appends `len` bytes. Returns false (buffer unchanged) when memory is exhausted. */
bool sh_buf_write(sh_buf *buf, const void *data, size_t len);
/* Appends a NUL-terminated string (without the NUL). */
bool sh_buf_puts(sh_buf *buf, const char *s);
/* Appends `n` in decimal. */
bool sh_buf_i64(sh_buf *buf, int64_t n);
/* Empties the buffer, keeping its memory. */
void sh_buf_clear(sh_buf *buf);
/* Frees a buffer you made yourself (`sh_buf b = {0};`); never one the library gave you. */
void sh_buf_free(sh_buf *buf);

/* ---- What the guest defines ---------------------------------------------------------- */

/* How a callback that can fail ended. */
typedef enum sh_result {
    SH_OK = 0,
    SH_ERR = 1,
} sh_result;

/* Replaces the contents of `out` with `message` and returns SH_ERR:
 * `return sh_fail(out, "invalid call message: unknown op");` */
sh_result sh_fail(sh_buf *out, const char *message);

/* Why the session ends (the WIT `stop-reason`). */
typedef enum sh_stop_kind {
    SH_STOP_NORMAL = 0,       /* the application ended it */
    SH_STOP_REQUESTED = 1,    /* the guest called sh_stop(); detail = its reason */
    SH_STOP_IDLE_TIMEOUT = 2, /* no message within the idle TTL */
    SH_STOP_SHUTDOWN = 3,     /* the host is shutting down */
    SH_STOP_KILLED = 4,       /* an operator ended it; detail = why */
    SH_STOP_LIMIT = 5,        /* never passed to sh_terminate (subscribers only) */
    SH_STOP_CRASHED = 6,      /* never passed to sh_terminate (subscribers only) */
    SH_STOP_UPGRADE = 7,      /* moving to a new guest version; sh_snapshot follows */
} sh_stop_kind;

/* Required. Called once when the session starts, with the start args (len 0 when none).
 * On SH_ERR the start is refused with the message written to `err`. */
sh_result sh_init(const uint8_t *args, size_t len, sh_buf *err);

/* Required. Handles a call: write the reply into `out` and return SH_OK, or an error
 * message (sh_fail) and return SH_ERR. The session keeps running either way. */
sh_result sh_handle_call(const uint8_t *request, size_t len, sh_buf *out);

/* Required. Handles a cast or a timer's message; nothing is replied. */
void sh_handle_cast(const uint8_t *message, size_t len);

/* Optional (default: does nothing). Called once when the session ends normally;
 * `detail` is the reason text for SH_STOP_REQUESTED and SH_STOP_KILLED (else len 0). */
void sh_terminate(sh_stop_kind kind, const char *detail, size_t detail_len);

/* Optional (default: returns false). Write the whole state into `out` and return true to
 * support hibernation, crash recovery and live upgrade. */
bool sh_snapshot(sh_buf *out);

/* Optional (default: refuses). Rebuild the state from an earlier snapshot, instead of
 * sh_init; `from_version` names the guest version that took it. */
sh_result sh_restore(const uint8_t *state, size_t len, const char *from_version,
                     size_t from_version_len, sh_buf *err);

/* ---- The host ------------------------------------------------------------------------ */

typedef enum sh_log_level {
    SH_LOG_TRACE = 0,
    SH_LOG_DEBUG = 1,
    SH_LOG_INFO = 2,
    SH_LOG_WARN = 3,
    SH_LOG_ERROR = 4,
} sh_log_level;

/* Writes a line to the host's log, tagged with the session ID and the guest's name. */
void sh_log(sh_log_level level, const char *message);
/* The same with an explicit length (no NUL needed). */
void sh_log_n(sh_log_level level, const char *message, size_t len);
/* printf-style; lines longer than 1 KiB are cut. Links in libc's printf formatting. */
void sh_logf(sh_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Wall-clock milliseconds since the Unix epoch. */
uint64_t sh_now_ms(void);

/* Copies this session's ID into `out` (NUL-terminated, cut to `cap - 1` bytes) and returns
 * its full length. IDs are 22+ characters; the application may rotate them, so don't cache. */
size_t sh_session_id(char *out, size_t cap);

/* Sends `event` to every subscriber of this session (SSE, WebSocket). Returns false when the
 * host refused it (larger than its maximum event size). */
bool sh_publish(const uint8_t *event, size_t len);

/* Delivers `message` to sh_handle_cast after `delay_ms`. Returns false when the session has
 * as many pending timers as the host allows; else stores the timer's ID in `*id` (may be
 * NULL). */
bool sh_send_after(const uint8_t *message, size_t len, uint64_t delay_ms, uint64_t *id);

/* Cancels a timer. Returns false when it already fired, was cancelled or never existed. */
bool sh_cancel_timer(uint64_t id);

/* Ends this session once the current message has been handled; sh_terminate then gets
 * SH_STOP_REQUESTED with `reason`. */
void sh_stop(const char *reason);
/* The same with an explicit length (no NUL needed). */
void sh_stop_n(const char *reason, size_t len);

/* ---- JSON members -------------------------------------------------------------------- */

/* What looking up a member found. */
typedef enum sh_json {
    SH_JSON_INVALID = -1, /* not a JSON object, or the member has another type or range */
    SH_JSON_MISSING = 0,  /* a valid object without that member */
    SH_JSON_FOUND = 1,
} sh_json;

/* Reads member `key` of the JSON object in `json` as a 64-bit integer. */
sh_json sh_json_i64(const uint8_t *json, size_t len, const char *key, int64_t *out);

/* Finds member `key` as a string: `*str` points into `json` at its raw contents (escapes
 * are left as written) and `*str_len` is their length. Fine for comparing with a plain
 * ASCII word (sh_json_eq); decode escapes yourself when a string can contain them. */
sh_json sh_json_str(const uint8_t *json, size_t len, const char *key, const char **str,
                    size_t *str_len);

/* True when the `len` bytes at `str` equal the NUL-terminated `word`. */
bool sh_json_eq(const char *str, size_t len, const char *word);

#ifdef __cplusplus
}
#endif

#endif /* SESSIONHOST_H */
