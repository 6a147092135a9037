/*
 * sh_json.c - reads members of a flat JSON object, for small message protocols.
 *
 * Each lookup scans the whole text once and checks it is exactly one well-formed JSON
 * object (nested values are skipped but still checked, up to 64 levels deep), so a
 * malformed message is reported as SH_JSON_INVALID whichever member is asked for. Member
 * names are compared as written (no escape decoding); when a name appears twice the first
 * wins. A `null` member counts as missing, like an absent optional field. No allocation.
 */
#include <string.h>

#include "sessionhost.h"

#define MAX_DEPTH 64

typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, uint8_t byte) {
    if (c->p < c->end && *c->p == byte) {
        c->p++;
        return true;
    }
    return false;
}

static bool is_digit(const cursor *c) { return c->p < c->end && *c->p >= '0' && *c->p <= '9'; }

/* A string at the cursor; its raw contents (between the quotes) go to start/len. */
static bool scan_string(cursor *c, const uint8_t **start, size_t *len) {
    if (!eat(c, '"')) return false;
    const uint8_t *s = c->p;
    while (c->p < c->end) {
        uint8_t b = *c->p;
        if (b == '"') {
            *start = s;
            *len = (size_t)(c->p - s);
            c->p++;
            return true;
        }
        if (b < 0x20) return false;
        if (b == '\\') {
            c->p++;
            if (c->p >= c->end) return false;
        }
        c->p++;
    }
    return false;
}

static bool scan_digits(cursor *c) {
    if (!is_digit(c)) return false;
    while (is_digit(c)) c->p++;
    return true;
}

static bool scan_number(cursor *c) {
    eat(c, '-');
    if (!scan_digits(c)) return false;
    if (eat(c, '.') && !scan_digits(c)) return false;
    if (eat(c, 'e') || eat(c, 'E')) {
        if (!eat(c, '+')) eat(c, '-');
        if (!scan_digits(c)) return false;
    }
    return true;
}

static bool scan_word(cursor *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return false;
    c->p += n;
    return true;
}

static bool scan_value(cursor *c, int depth);

/* An object or array at the cursor (after skipping whitespace). */
static bool scan_container(cursor *c, int depth, uint8_t close) {
    if (depth > MAX_DEPTH) return false;
    skip_ws(c);
    if (eat(c, close)) return true;
    do {
        skip_ws(c);
        if (close == '}') {
            const uint8_t *key;
            size_t key_len;
            if (!scan_string(c, &key, &key_len)) return false;
            skip_ws(c);
            if (!eat(c, ':')) return false;
        }
        if (!scan_value(c, depth + 1)) return false;
        skip_ws(c);
    } while (eat(c, ','));
    return eat(c, close);
}

static bool scan_value(cursor *c, int depth) {
    skip_ws(c);
    if (c->p >= c->end) return false;
    const uint8_t *s;
    size_t n;
    switch (*c->p) {
    case '{': c->p++; return scan_container(c, depth, '}');
    case '[': c->p++; return scan_container(c, depth, ']');
    case '"': return scan_string(c, &s, &n);
    case 't': return scan_word(c, "true");
    case 'f': return scan_word(c, "false");
    case 'n': return scan_word(c, "null");
    default: return scan_number(c);
    }
}

/* Checks `json` is one object and finds member `key`: `*value` is where its value starts. */
static sh_json find(const uint8_t *json, size_t len, const char *key, cursor *value) {
    cursor c = {json, json + len};
    size_t key_len = strlen(key);
    bool found = false;
    skip_ws(&c);
    if (!eat(&c, '{')) return SH_JSON_INVALID;
    skip_ws(&c);
    if (!eat(&c, '}')) {
        do {
            const uint8_t *name;
            size_t name_len;
            skip_ws(&c);
            if (!scan_string(&c, &name, &name_len)) return SH_JSON_INVALID;
            skip_ws(&c);
            if (!eat(&c, ':')) return SH_JSON_INVALID;
            skip_ws(&c);
            if (!found && name_len == key_len && memcmp(name, key, key_len) == 0) {
                found = true;
                *value = c;
            }
            if (!scan_value(&c, 1)) return SH_JSON_INVALID;
            skip_ws(&c);
        } while (eat(&c, ','));
        if (!eat(&c, '}')) return SH_JSON_INVALID;
    }
    skip_ws(&c);
    if (c.p != c.end) return SH_JSON_INVALID;
    if (found && scan_word(&(cursor){value->p, value->end}, "null")) return SH_JSON_MISSING;
    return found ? SH_JSON_FOUND : SH_JSON_MISSING;
}

sh_json sh_json_i64(const uint8_t *json, size_t len, const char *key, int64_t *out) {
    cursor c;
    sh_json found = find(json, len, key, &c);
    if (found != SH_JSON_FOUND) return found;
    bool negative = eat(&c, '-');
    if (!is_digit(&c)) return SH_JSON_INVALID;
    /* Accumulate the magnitude as unsigned; the limit is one more for negatives. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t n = 0;
    while (is_digit(&c)) {
        uint64_t digit = (uint64_t)(*c.p++ - '0');
        if (n > (limit - digit) / 10) return SH_JSON_INVALID;
        n = n * 10 + digit;
    }
    /* A fraction or exponent makes it a non-integer. */
    if (c.p < c.end && (*c.p == '.' || *c.p == 'e' || *c.p == 'E')) return SH_JSON_INVALID;
    *out = negative ? (int64_t)(0 - n) : (int64_t)n;
    return SH_JSON_FOUND;
}

sh_json sh_json_str(const uint8_t *json, size_t len, const char *key, const char **str,
                    size_t *str_len) {
    cursor c;
    sh_json found = find(json, len, key, &c);
    if (found != SH_JSON_FOUND) return found;
    const uint8_t *start;
    if (!scan_string(&c, &start, str_len)) return SH_JSON_INVALID;
    *str = (const char *)start;
    return SH_JSON_FOUND;
}

bool sh_json_eq(const char *str, size_t len, const char *word) {
    return strlen(word) == len && memcmp(str, word, len) == 0;
}
