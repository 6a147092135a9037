/*
 * The counter guest in C: the same JSON protocol and snapshot format as the Rust
 * `counter` (example-guests/counter), so sessions and snapshots move between them.
 *
 * - init args `{"start": n}`, or none to start at 0;
 * - call `{"op":"incr","by":n}` (`by` defaults to 1) and `{"op":"get"}` reply `{"value":v}`;
 * - cast `{"op":"incr","by":n}`;
 * - every increment publishes `{"value":v}`; one that would overflow is refused (a call
 *   gets an error, a cast logs a warning);
 * - snapshot and restore use `{"value":v}`.
 *
 * One instance serves one session, one message at a time: the state is a global.
 * Build: `make guest-c` (see docs/languages/c.md).
 */
#include "sessionhost.h"

/* The state of this session. */
static int64_t value;

/* Writes `{"value":v}`. */
static void write_value(sh_buf *out) {
    sh_buf_puts(out, "{\"value\":");
    sh_buf_i64(out, value);
    sh_buf_puts(out, "}");
}

/* Adds `by` and publishes the new value; on overflow writes the error into `err`. */
static sh_result incr(int64_t by, sh_buf *err) {
    int64_t sum;
    if (__builtin_add_overflow(value, by, &sum)) {
        sh_buf_clear(err);
        sh_buf_puts(err, "overflow adding ");
        sh_buf_i64(err, by);
        return SH_ERR;
    }
    value = sum;
    /* Publishing is best effort: a refused event must not fail the call. */
    sh_buf event = {0};
    write_value(&event);
    sh_publish(event.ptr, event.len);
    sh_buf_free(&event);
    return SH_OK;
}

/* Reads an `incr` message's `by` (1 when absent). */
static bool read_by(const uint8_t *msg, size_t len, int64_t *by) {
    *by = 1;
    return sh_json_i64(msg, len, "by", by) != SH_JSON_INVALID;
}

sh_result sh_init(const uint8_t *args, size_t len, sh_buf *err) {
    value = 0;
    if (len == 0) return SH_OK;
    if (sh_json_i64(args, len, "start", &value) != SH_JSON_FOUND)
        return sh_fail(err, "invalid init args: expected {\"start\": n}");
    return SH_OK;
}

sh_result sh_handle_call(const uint8_t *request, size_t len, sh_buf *out) {
    const char *op;
    size_t op_len;
    if (sh_json_str(request, len, "op", &op, &op_len) != SH_JSON_FOUND)
        return sh_fail(out, "invalid call message: expected {\"op\": \"incr\" | \"get\"}");
    if (sh_json_eq(op, op_len, "incr")) {
        int64_t by;
        if (!read_by(request, len, &by))
            return sh_fail(out, "invalid call message: `by` must be an integer");
        if (incr(by, out) != SH_OK) return SH_ERR;
    } else if (!sh_json_eq(op, op_len, "get")) {
        return sh_fail(out, "invalid call message: unknown op");
    }
    write_value(out);
    return SH_OK;
}

void sh_handle_cast(const uint8_t *message, size_t len) {
    const char *op;
    size_t op_len;
    int64_t by;
    if (sh_json_str(message, len, "op", &op, &op_len) != SH_JSON_FOUND ||
        !sh_json_eq(op, op_len, "incr") || !read_by(message, len, &by)) {
        sh_log(SH_LOG_WARN, "invalid cast message: expected {\"op\": \"incr\", \"by\": n}");
        return;
    }
    sh_buf err = {0};
    if (incr(by, &err) != SH_OK) sh_log_n(SH_LOG_WARN, (const char *)err.ptr, err.len);
    sh_buf_free(&err);
}

bool sh_snapshot(sh_buf *out) {
    write_value(out);
    return true;
}

sh_result sh_restore(const uint8_t *state, size_t len, const char *from_version,
                     size_t from_version_len, sh_buf *err) {
    (void)from_version;
    (void)from_version_len;
    if (sh_json_i64(state, len, "value", &value) != SH_JSON_FOUND)
        return sh_fail(err, "invalid snapshot: expected {\"value\": n}");
    return SH_OK;
}
