/* Event extraction's per-packet and per-event work, compiled: extract.py's fast path calls it.
 *
 * - classify: the candidate kinds of every payload row (what extract.py's numpy code derives from the
 *   first 9 payload bytes and the ports), the direction keys (flows.hash_columns) and, for HTTP starts,
 *   where the header block ends.
 * - dns_rows / tcp_jobs: DNS messages, ClientHellos and HTTP requests walked in C and added as rows of
 *   the event tables (packed like tables.DNS_DTYPE, ANSWER_DTYPE, TLS_DTYPE, HTTP_DTYPE), with the
 *   values interned into the extraction's pool dict in the order the Python code interns them, so the
 *   tables are byte for byte those of the Python path.
 * - dns_walk / hello_walk / http_walk: the same walks, one message at a time (tests, stream path).
 *
 * Each walk mirrors its Python counterpart (dns.parse_dns, fastpath.hello_shape's walk,
 * http.parse_http_request) and hands anything it does not decide itself (SVCB rdata, an odd hello,
 * folded header lines) to the Python code, as the Python fast path hands it to the reference parser.
 * Memos map message bytes to pool ids: per extraction, bounded, started over when full. The ClientHello
 * memo is keyed on the hello's shape with GREASE values left out and its cipher and extension lists
 * sorted, so Chrome's per-connection GREASE values and extension order still hit it; the JA3 string
 * (wire order) and its MD5 are made here per hello (hello_parts, md5_hex).
 *
 * Every read is checked against the buffer it reads; loops are bounded by the bytes they consume,
 * DNS pointer jumps by MAX_POINTER_JUMPS.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../_native.h"

/* ------------------------------------------------------------------------------------------------ */
/* Row layouts: the offsets of the tables' columns (packed numpy dtypes) come from _tables.h, generated from
 * netdetect/tables/schema.py; the module reports them back as LAYOUTS, checked when it is loaded. */
#include "_tables.h"
/* put_ends writes the columns every event row starts with at the DNS table's offsets. */
_Static_assert(TLS_TS == DNS_TS && TLS_CLIENT == DNS_CLIENT && TLS_SERVER == DNS_SERVER &&
                   TLS_CLIENT_PORT == DNS_CLIENT_PORT && TLS_SERVER_PORT == DNS_SERVER_PORT,
               "TLS rows start with the DNS rows' columns");
_Static_assert(HTTP_TS == DNS_TS && HTTP_CLIENT == DNS_CLIENT && HTTP_SERVER == DNS_SERVER &&
                   HTTP_CLIENT_PORT == DNS_CLIENT_PORT && HTTP_SERVER_PORT == DNS_SERVER_PORT,
               "HTTP rows start with the DNS rows' columns");

/* classify's flag bits (mirrored in extract.py) */
enum {
    F_TCP = 1 << 0,
    F_UDP_DNS = 1 << 1,
    F_QUIC = 1 << 2,
    F_TLS_START = 1 << 3,
    F_CCS_HELLO = 1 << 4,
    F_SSLV2 = 1 << 5,
    F_WEBSOCKET = 1 << 6,
    F_HTTP_START = 1 << 7,
    F_DNS_TCP = 1 << 8,
    F_IN_RECORD = 1 << 9,
    F_WHOLE_TLS = 1 << 10,
    F_WHOLE_HTTP = 1 << 11,
};

#define PREFETCH_ROWS 16
#define MAX_POINTER_JUMPS 64
#define MAX_NAME_LEN 255
#define DNS_HEADER_LEN 12
#define MAX_RDATA_HEX 256 /* dns.MAX_RDATA_HEX: rdata bytes shown in the generic form; TXT is kept whole */
#define OPCODE_UPDATE 5

/* walk outcomes */
enum {
    WALK_OK = 0,
    WALK_UNUSUAL,   /* let the Python code decide */
    WALK_NOMEM,     /* a Python exception is set */
    E_SHORT_HEADER,
    E_TRUNCATED,
    E_POINTER_LOOP,
    E_BAD_POINTER,
    E_NAME_TOO_LONG,
    E_BAD_LABEL,
    E_BAD_RDATA,
    E_HTTP_LINE_TOO_LONG,
    E_HTTP_BAD_REQUEST_LINE,
    E_HTTP_MALFORMED,
    E_COUNT
};

static const char *const REASON_TEXT[E_COUNT] = {
    [E_SHORT_HEADER] = "dns.short_header",
    [E_TRUNCATED] = "dns.truncated",
    [E_POINTER_LOOP] = "dns.pointer_loop",
    [E_BAD_POINTER] = "dns.bad_pointer",
    [E_NAME_TOO_LONG] = "dns.name_too_long",
    [E_BAD_LABEL] = "dns.bad_label",
    [E_BAD_RDATA] = "dns.bad_rdata",
    [E_HTTP_LINE_TOO_LONG] = "http.line_too_long",
    [E_HTTP_BAD_REQUEST_LINE] = "http.bad_request_line",
    [E_HTTP_MALFORMED] = "http.malformed",
};
static PyObject *REASON[E_COUNT]; /* interned str of each reason */

/* ------------------------------------------------------------------------------------------------ */
/* A growable byte buffer. */
typedef struct {
    uint8_t *p;
    Py_ssize_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, Py_ssize_t extra)
{
    if (extra < 0 || b->len > PY_SSIZE_T_MAX / 2 - extra) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->len + extra <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = PyMem_Realloc(b->p, (size_t)cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(buf_t *b, const void *src, Py_ssize_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

static void buf_free(buf_t *b)
{
    PyMem_Free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static PyObject *buf_to_bytearray(const buf_t *b)
{
    return PyByteArray_FromStringAndSize((const char *)b->p, b->len);
}

static inline unsigned u16_at(const uint8_t *p) { return ((unsigned)p[0] << 8) | p[1]; }
static inline uint32_t u32_at(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A str of ASCII bytes. */
static PyObject *ascii_str(const uint8_t *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    if (s && n)
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    return s;
}

static inline int printable_kept(uint8_t b) { return b >= 0x20 && b <= 0x7E && b != 0x5C; }

/* errors.safe_text: printable ASCII but the backslash kept, every other byte as \xNN; cut to limit. */
static PyObject *safe_text(const uint8_t *raw, Py_ssize_t n, Py_ssize_t limit)
{
    static const char hex[] = "0123456789abcdef";
    if (n > limit)
        n = limit;
    Py_ssize_t extra = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        extra += printable_kept(raw[i]) ? 0 : 3;
    PyObject *s = PyUnicode_New(n + extra, 127);
    if (!s)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    if (!extra) {
        if (n)
            memcpy(out, raw, (size_t)n);
        return s;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t b = raw[i];
        if (printable_kept(b)) {
            *out++ = b;
        } else {
            *out++ = '\\';
            *out++ = 'x';
            *out++ = (Py_UCS1)hex[b >> 4];
            *out++ = (Py_UCS1)hex[b & 15];
        }
    }
    return s;
}

/* ValuePool interning: ids.setdefault(value, len(ids) - 1); None is -1. */
static int intern(PyObject *ids, PyObject *value, int32_t *out)
{
    if (value == Py_None) {
        *out = -1;
        return 0;
    }
    PyObject *known = PyDict_GetItemWithError(ids, value);
    if (known) {
        long v = PyLong_AsLong(known);
        if (v == -1 && PyErr_Occurred())
            return -1;
        *out = (int32_t)v;
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    Py_ssize_t id = PyDict_GET_SIZE(ids) - 1;
    PyObject *v = PyLong_FromSsize_t(id);
    if (!v)
        return -1;
    int rc = PyDict_SetItem(ids, value, v);
    Py_DECREF(v);
    if (rc < 0)
        return -1;
    *out = (int32_t)id;
    return 0;
}

/* Intern a new reference and drop it (NULL in: an exception is already set). */
static int intern_owned(PyObject *ids, PyObject *value, int32_t *out)
{
    if (!value)
        return -1;
    int rc = intern(ids, value, out);
    Py_DECREF(value);
    return rc;
}

/* errors[reason] = errors.get(reason, 0) + 1 */
static int count_error(PyObject *errors, PyObject *reason)
{
    PyObject *old = PyDict_GetItemWithError(errors, reason);
    long v = 0;
    if (old) {
        v = PyLong_AsLong(old);
        if (v == -1 && PyErr_Occurred())
            return -1;
    } else if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *nv = PyLong_FromLong(v + 1);
    if (!nv)
        return -1;
    int rc = PyDict_SetItem(errors, reason, nv);
    Py_DECREF(nv);
    return rc;
}

/* A memo that starts over when full (as the Python memos do). */
static int memo_store(PyObject *memo, PyObject *key, PyObject *value, Py_ssize_t entries)
{
    if (PyDict_GET_SIZE(memo) >= entries)
        PyDict_Clear(memo);
    return PyDict_SetItem(memo, key, value);
}

/* When the pending exception is a DecodeError: count its reason and clear it (returns 1); else 0 with
 * the exception left set. */
static int take_decode_error(PyObject *decode_error, PyObject *errors)
{
    if (!PyErr_ExceptionMatches(decode_error))
        return 0;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *value = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
#endif
    PyObject *reason = value ? PyObject_GetAttrString(value, "reason") : NULL;
    Py_XDECREF(value);
    if (!reason)
        return -1;
    int rc = count_error(errors, reason);
    Py_DECREF(reason);
    return rc < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* The batch's columns: (data, payload_off, payload_caplen, ts, src_hi, src_lo, dst_hi, dst_lo, sport,
 * dport), contiguous, 8-byte items but data. */
#define NCOLS 10
typedef struct {
    Py_buffer views[NCOLS];
    int held;
    const uint8_t *data;
    Py_ssize_t data_len, n;
    const int64_t *off, *caplen, *sport, *dport;
    const double *ts;
    const uint64_t *src_hi, *src_lo, *dst_hi, *dst_lo;
} cols_t;

static void cols_release(cols_t *c)
{
    for (int i = 0; i < c->held; i++)
        PyBuffer_Release(&c->views[i]);
    c->held = 0;
}

static int cols_get(PyObject *tuple, cols_t *c)
{
    c->held = 0;
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != NCOLS) {
        PyErr_SetString(PyExc_TypeError, "columns: a tuple of 10 buffers");
        return -1;
    }
    for (int i = 0; i < NCOLS; i++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(tuple, i), &c->views[i], PyBUF_SIMPLE) < 0) {
            cols_release(c);
            return -1;
        }
        c->held++;
    }
    c->data = c->views[0].buf;
    c->data_len = c->views[0].len;
    c->n = c->views[1].len / 8;
    for (int i = 1; i < NCOLS; i++) {
        if (c->views[i].len != c->n * 8) {
            PyErr_SetString(PyExc_ValueError, "columns: 8-byte columns of one length");
            cols_release(c);
            return -1;
        }
    }
    c->off = c->views[1].buf;
    c->caplen = c->views[2].buf;
    c->ts = c->views[3].buf;
    c->src_hi = c->views[4].buf;
    c->src_lo = c->views[5].buf;
    c->dst_hi = c->views[6].buf;
    c->dst_lo = c->views[7].buf;
    c->sport = c->views[8].buf;
    c->dport = c->views[9].buf;
    return 0;
}

/* Payload bytes of row r, as the memoryview slice buf[off:off + caplen] gives them. */
static void payload_of(const cols_t *c, int64_t r, const uint8_t **p, Py_ssize_t *len)
{
    int64_t o = c->off[r], n = c->caplen[r];
    if (o < 0 || n <= 0 || o >= c->data_len) {
        *p = c->data;
        *len = 0;
        return;
    }
    if (n > c->data_len - o)
        n = c->data_len - o;
    *p = c->data + o;
    *len = (Py_ssize_t)n;
}

/* Rows are far apart in columns and a buffer larger than the caches: the job loops fetch a row's column
 * entries, and later its payload, ahead of their use. */
#define PREFETCH_JOBS 8

static inline void prefetch_columns(const cols_t *c, int64_t r)
{
    if (r < 0 || r >= c->n)
        return;
    __builtin_prefetch(&c->off[r]);
    __builtin_prefetch(&c->caplen[r]);
    __builtin_prefetch(&c->ts[r]);
    __builtin_prefetch(&c->src_hi[r]);
    __builtin_prefetch(&c->src_lo[r]);
    __builtin_prefetch(&c->dst_hi[r]);
    __builtin_prefetch(&c->dst_lo[r]);
    __builtin_prefetch(&c->sport[r]);
    __builtin_prefetch(&c->dport[r]);
}

static inline void prefetch_payload(const cols_t *c, int64_t r, Py_ssize_t limit)
{
    if (r < 0 || r >= c->n)
        return;
    const uint8_t *p;
    Py_ssize_t len;
    payload_of(c, r, &p, &len);
    if (len > limit)
        len = limit;
    for (Py_ssize_t at = 0; at < len; at += 64)
        __builtin_prefetch(p + at);
}

static int check_row(const cols_t *c, int64_t r)
{
    if (r < 0 || r >= c->n) {
        PyErr_SetString(PyExc_IndexError, "row out of range");
        return -1;
    }
    return 0;
}

/* The four table columns every row starts with; `reverse` swaps the ends (a DNS response). */
static void put_ends(uint8_t *row, const cols_t *c, int64_t r, int reverse)
{
    memcpy(row + DNS_TS, &c->ts[r], 8);
    uint64_t a_hi = c->src_hi[r], a_lo = c->src_lo[r], b_hi = c->dst_hi[r], b_lo = c->dst_lo[r];
    uint16_t a_port = (uint16_t)c->sport[r], b_port = (uint16_t)c->dport[r];
    if (reverse) {
        uint64_t t = a_hi;
        a_hi = b_hi;
        b_hi = t;
        t = a_lo;
        a_lo = b_lo;
        b_lo = t;
        uint16_t tp = a_port;
        a_port = b_port;
        b_port = tp;
    }
    put_be64(row + DNS_CLIENT, a_hi);
    put_be64(row + DNS_CLIENT + 8, a_lo);
    put_be64(row + DNS_SERVER, b_hi);
    put_be64(row + DNS_SERVER + 8, b_lo);
    memcpy(row + DNS_CLIENT_PORT, &a_port, 2);
    memcpy(row + DNS_SERVER_PORT, &b_port, 2);
}

/* ------------------------------------------------------------------------------------------------ */
/* classify(data, payload_off, payload_caplen, proto, sport, dport, fragment, src_hi, src_lo, dst_hi,
 *          dst_lo, max_record_len, http_max_wait, method_words,
 *          out_rows, out_flags, out_hs_len, out_dirkey, out_http_end) -> m
 * The rows with payload that are not fragments (out_rows[:m]), each with its flags (F_*), handshake
 * length (bytes 6..8), direction key (flows.hash_columns(src_hi, src_lo, dst_hi, dst_lo, sport, dport))
 * and, for an HTTP start, extract._http_header_end of its payload (-1 for None). */

static Py_ssize_t header_end(const uint8_t *p, Py_ssize_t n, Py_ssize_t max_wait)
{
    for (Py_ssize_t i = 0; i + 3 < n; i++) {
        const uint8_t *hit = memchr(p + i, '\r', (size_t)(n - 3 - i));
        if (!hit)
            break;
        i = hit - p;
        if (p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return i + 4;
    }
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        const uint8_t *hit = memchr(p + i, '\n', (size_t)(n - 1 - i));
        if (!hit)
            break;
        i = hit - p;
        if (p[i + 1] == '\n')
            return i + 4;
    }
    return n >= max_wait ? n : -1;
}

static PyObject *classify(PyObject *self, PyObject *args)
{
    Py_buffer v[19];
    Py_ssize_t max_record, max_wait;
    for (int i = 0; i < 19; i++)
        v[i].obj = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*y*nny*w*w*w*w*w*", &v[0], &v[1], &v[2], &v[3], &v[4],
                          &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &max_record, &max_wait, &v[11], &v[12],
                          &v[13], &v[14], &v[15], &v[16]))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = v[1].len / 8;
    if (v[2].len != n * 8 || v[3].len != n || v[4].len != n * 8 || v[5].len != n * 8 || v[6].len != n ||
        v[7].len != n * 8 || v[8].len != n * 8 || v[9].len != n * 8 || v[10].len != n * 8 ||
        v[12].len < n * 8 || v[13].len < n * 2 || v[14].len < n * 8 || v[15].len < n * 8 ||
        v[16].len < n * 8 || v[11].len % 8) {
        PyErr_SetString(PyExc_ValueError, "classify: columns of unequal length");
        goto done;
    }
    const uint8_t *data = v[0].buf;
    Py_ssize_t data_len = v[0].len;
    const int64_t *off = v[1].buf, *caplen = v[2].buf, *sport = v[4].buf, *dport = v[5].buf;
    const uint8_t *proto = v[3].buf, *fragment = v[6].buf;
    const uint64_t *src_hi = v[7].buf, *src_lo = v[8].buf, *dst_hi = v[9].buf, *dst_lo = v[10].buf;
    const int64_t *words = v[11].buf;
    Py_ssize_t nwords = v[11].len / 8;
    int64_t *out_rows = v[12].buf, *out_hs = v[14].buf, *out_end = v[16].buf;
    uint16_t *out_flags = v[13].buf;
    uint64_t *out_key = v[15].buf;
    Py_ssize_t m = 0;
    for (Py_ssize_t r = 0; r < n; r++) {
        /* The payload bytes are far apart in a buffer larger than the caches: fetch ahead, or each row
         * waits on memory. */
        if (r + PREFETCH_ROWS < n) {
            int64_t ahead = off[r + PREFETCH_ROWS];
            if (ahead >= 0 && ahead + 8 < data_len) {
                __builtin_prefetch(data + ahead);
                __builtin_prefetch(data + ahead + 8);
            }
        }
        int64_t len = caplen[r];
        if (len <= 0 || fragment[r])
            continue;
        /* headers.payload_prefix: data.take(off + i, mode="clip"), zero past the captured end */
        int64_t p[9];
        int64_t o = off[r];
        for (int i = 0; i < 9; i++) {
            if (i >= len || !data_len) {
                p[i] = 0;
                continue;
            }
            int64_t at = o + i;
            if (at < 0)
                at = 0;
            if (at >= data_len)
                at = data_len - 1;
            p[i] = data[at];
        }
        int udp = proto[r] == 17, tcp = proto[r] == 6;
        int64_t sp = sport[r], dp = dport[r];
        int dnsport = sp == 53 || sp == 5353 || sp == 5355 || dp == 53 || dp == 5353 || dp == 5355;
        int64_t word = (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
        int64_t version = (p[1] << 24) | (p[2] << 16) | (p[3] << 8) | p[4];
        unsigned flags = 0;
        if (tcp)
            flags |= F_TCP;
        if (udp && dnsport)
            flags |= F_UDP_DNS;
        if (udp && !dnsport && (p[0] & 0xC0) == 0xC0 && version != 0)
            flags |= F_QUIC;
        int tls_start = tcp && p[0] == 0x16 && p[1] == 3 && p[5] == 1;
        if (tls_start)
            flags |= F_TLS_START;
        if (tcp && (((p[0] | 0x80) == 0x82) || (p[0] >= 0x80 && p[2] == 1))) {
            /* extract._sslv2_and_websocket_hellos */
            int64_t specs = (p[5] << 8) | p[6], session = (p[7] << 8) | p[8];
            if (p[0] >= 0x80 && p[2] == 1 && ((p[3] == 0 && p[4] == 2) || (p[3] == 3 && p[4] <= 4)) &&
                specs > 0 && specs % 3 == 0 && session <= 32)
                flags |= F_SSLV2;
            int64_t size = p[1] & 0x7F;
            if ((p[0] | 0x80) == 0x82 && p[1] >= 0x80 &&
                ((size < 126 && (p[6] ^ p[2]) == 0x16 && (p[7] ^ p[3]) == 3) ||
                 (size == 126 && (p[8] ^ p[4]) == 0x16)))
                flags |= F_WEBSOCKET;
        }
        if (tcp && word == 0x14030300 && p[4] == 1 && p[5] == 1 && p[6] == 0x16)
            flags |= F_CCS_HELLO;
        int http = 0;
        if (tcp)
            for (Py_ssize_t w = 0; w < nwords; w++)
                http |= words[w] == word;
        if (http)
            flags |= F_HTTP_START;
        if (tcp && dnsport)
            flags |= F_DNS_TCP;
        int64_t hs_len = (p[6] << 16) | (p[7] << 8) | p[8], rec_len = (p[3] << 8) | p[4];
        if (tls_start && p[2] <= 4 && hs_len + 4 <= rec_len && rec_len <= max_record) {
            flags |= F_IN_RECORD;
            if (hs_len + 9 <= len)
                flags |= F_WHOLE_TLS;
        }
        int64_t end = -1;
        if (http && !tls_start) {
            int64_t cut = len;
            if (o < 0 || o >= data_len)
                cut = 0;
            else if (cut > data_len - o)
                cut = data_len - o;
            end = header_end(data + (cut ? o : 0), (Py_ssize_t)cut, max_wait);
            if (end >= 0)
                flags |= F_WHOLE_HTTP;
        }
        uint64_t h = 0;
        h = mix64(h ^ src_hi[r]);
        h = mix64(h ^ src_lo[r]);
        h = mix64(h ^ dst_hi[r]);
        h = mix64(h ^ dst_lo[r]);
        h = mix64(h ^ (uint64_t)sp);
        h = mix64(h ^ (uint64_t)dp);
        out_rows[m] = r;
        out_flags[m] = (uint16_t)flags;
        out_hs[m] = hs_len;
        out_key[m] = h;
        out_end[m] = end;
        m++;
    }
    result = PyLong_FromSsize_t(m);
done:
    for (int i = 0; i < 17; i++)
        if (v[i].obj)
            PyBuffer_Release(&v[i]);
    return result;
}

/* member(values uint64, keys uint64, out uint8): out[i] = values[i] in keys (np.isin). */
static PyObject *member(PyObject *self, PyObject *args)
{
    Py_buffer vals, keys, out;
    if (!PyArg_ParseTuple(args, "y*y*w*", &vals, &keys, &out))
        return NULL;
    PyObject *result = NULL;
    uint64_t *table = NULL;
    uint8_t *used = NULL;
    Py_ssize_t n = vals.len / 8, k = keys.len / 8;
    if (out.len < n) {
        PyErr_SetString(PyExc_ValueError, "member: output too short");
        goto done;
    }
    const uint64_t *v = vals.buf, *ks = keys.buf;
    uint8_t *o = out.buf;
    size_t cap = 16;
    while (cap < (size_t)k * 2)
        cap *= 2;
    table = PyMem_Malloc(cap * sizeof(uint64_t));
    used = PyMem_Calloc(cap, 1);
    if (!table || !used) {
        PyErr_NoMemory();
        goto done;
    }
    size_t mask = cap - 1;
    for (Py_ssize_t i = 0; i < k; i++) {
        size_t at = (size_t)mix64(ks[i]) & mask;
        while (used[at] && table[at] != ks[i])
            at = (at + 1) & mask;
        used[at] = 1;
        table[at] = ks[i];
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t at = (size_t)mix64(v[i]) & mask;
        uint8_t hit = 0;
        while (used[at]) {
            if (table[at] == v[i]) {
                hit = 1;
                break;
            }
            at = (at + 1) & mask;
        }
        o[i] = hit;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_Free(table);
    PyMem_Free(used);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&out);
    return result;
}

/* ------------------------------------------------------------------------------------------------ */
/* DNS (dns.parse_dns, reduced to what an event needs as fastpath.dns_parsed does). */

typedef struct {
    Py_ssize_t off;      /* where the name starts in the message */
    Py_ssize_t text_off; /* its text in the arena */
    Py_ssize_t text_len;
    int wire;
} seen_t;

typedef struct {
    Py_ssize_t name_off, name_len, value_off, value_len;
    unsigned rtype;
    uint32_t ttl;
    uint8_t addr[16];
} answer_t;

typedef struct {
    buf_t arena;   /* name and value texts */
    buf_t seen;    /* seen_t, by increasing offset */
    buf_t answers; /* answer_t */
    int is_response, rcode, has_question;
    Py_ssize_t q_off, q_len;
    unsigned qtype;
} dns_t;

static void dns_free(dns_t *d)
{
    buf_free(&d->arena);
    buf_free(&d->seen);
    buf_free(&d->answers);
}

static const seen_t *seen_find(const buf_t *seen, Py_ssize_t off)
{
    const seen_t *s = (const seen_t *)seen->p;
    Py_ssize_t lo = 0, hi = seen->len / (Py_ssize_t)sizeof(seen_t);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (s[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < seen->len / (Py_ssize_t)sizeof(seen_t) && s[lo].off == off)
        return &s[lo];
    return NULL;
}

static int seen_add(buf_t *seen, seen_t entry)
{
    Py_ssize_t count = seen->len / (Py_ssize_t)sizeof(seen_t);
    seen_t *s = (seen_t *)seen->p;
    Py_ssize_t at = count;
    while (at > 0 && s[at - 1].off >= entry.off)
        at--;
    if (at < count && s[at].off == entry.off) {
        s[at] = entry;
        return 0;
    }
    if (buf_reserve(seen, sizeof(seen_t)) < 0)
        return -1;
    s = (seen_t *)seen->p;
    memmove(&s[at + 1], &s[at], (size_t)(count - at) * sizeof(seen_t));
    s[at] = entry;
    seen->len += sizeof(seen_t);
    return 0;
}

static inline int plain_label_byte(uint8_t b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' || b == '_';
}

/* dns._label_text of one label, appended. */
static int put_label(buf_t *out, const uint8_t *label, Py_ssize_t n)
{
    if (buf_reserve(out, 4 * n) < 0)
        return -1;
    uint8_t *o = out->p + out->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t b = label[i];
        if (plain_label_byte(b)) {
            *o++ = (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
        } else if (b == 0x2E || b == 0x5C) {
            *o++ = '\\';
            *o++ = b;
        } else if (b >= 0x21 && b <= 0x7E) {
            *o++ = b;
        } else {
            *o++ = '\\';
            *o++ = (uint8_t)('0' + b / 100);
            *o++ = (uint8_t)('0' + b / 10 % 10);
            *o++ = (uint8_t)('0' + b % 10);
        }
    }
    out->len = o - out->p;
    return 0;
}

/* dns.read_name: the name at pos as text in d->arena, and where the record continues. `seen` (questions
 * and owners of one message share it) may be NULL, as for names in rdata. */
static int read_name(dns_t *d, const uint8_t *msg, Py_ssize_t n, Py_ssize_t pos, int use_seen,
                     Py_ssize_t *text_off, Py_ssize_t *text_len, Py_ssize_t *next)
{
    buf_t *arena = &d->arena;
    Py_ssize_t start = pos, text_start = arena->len, end_of_name = -1;
    int jumps = 0, wire = 1, labels = 0, rc = WALK_OK;
    const seen_t *suffix = NULL;
    for (;;) {
        if (pos >= n) {
            rc = E_TRUNCATED;
            goto fail;
        }
        unsigned length = msg[pos];
        if (length == 0) {
            pos++;
            break;
        }
        unsigned kind = length & 0xC0;
        if (kind == 0xC0) {
            if (pos + 1 >= n) {
                rc = E_TRUNCATED;
                goto fail;
            }
            Py_ssize_t target = (Py_ssize_t)(((length & 0x3F) << 8) | msg[pos + 1]);
            if (end_of_name < 0)
                end_of_name = pos + 2;
            if (++jumps > MAX_POINTER_JUMPS) {
                rc = E_POINTER_LOOP;
                goto fail;
            }
            if (target >= n || target < DNS_HEADER_LEN) {
                rc = E_BAD_POINTER;
                goto fail;
            }
            suffix = use_seen ? seen_find(&d->seen, target) : NULL;
            if (suffix) {
                wire += suffix->wire - 1;
                if (wire > MAX_NAME_LEN) {
                    rc = E_NAME_TOO_LONG;
                    goto fail;
                }
                break;
            }
            pos = target;
            continue;
        }
        if (kind) {
            rc = E_BAD_LABEL;
            goto fail;
        }
        wire += (int)length + 1;
        if (wire > MAX_NAME_LEN) {
            rc = E_NAME_TOO_LONG;
            goto fail;
        }
        if (pos + 1 + (Py_ssize_t)length > n) {
            rc = E_TRUNCATED;
            goto fail;
        }
        if (labels && buf_put(arena, ".", 1) < 0)
            return WALK_NOMEM;
        if (put_label(arena, msg + pos + 1, length) < 0)
            return WALK_NOMEM;
        labels++;
        pos += 1 + length;
    }
    if (suffix && suffix->text_len) { /* `if suffix:` - a known root name adds nothing */
        Py_ssize_t s_off = suffix->text_off, s_len = suffix->text_len;
        if (buf_reserve(arena, s_len + 1) < 0)
            return WALK_NOMEM;
        if (labels)
            arena->p[arena->len++] = '.';
        memmove(arena->p + arena->len, arena->p + s_off, (size_t)s_len);
        arena->len += s_len;
    }
    *text_off = text_start;
    *text_len = arena->len - text_start;
    if (use_seen) {
        seen_t entry = {start, text_start, arena->len - text_start, wire};
        if (seen_add(&d->seen, entry) < 0)
            return WALK_NOMEM;
    }
    *next = end_of_name >= 0 ? end_of_name : pos;
    return WALK_OK;
fail:
    arena->len = text_start;
    return rc;
}

static int put_text(buf_t *out, const char *s, Py_ssize_t n) { return buf_put(out, s, n); }

static int put_uint(buf_t *out, unsigned long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", v);
    return put_text(out, tmp, n);
}

/* str(ipaddress.IPv6Address(raw)): lower-case hextets, the first longest run (> 1) of zeros as "::". */
static int put_ipv6(buf_t *out, const uint8_t *a)
{
    unsigned h[8];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        h[i] = u16_at(a + 2 * i);
        if (h[i] == 0) {
            if (cur < 0)
                cur = i;
            cur_len++;
            if (cur_len > best_len) {
                best_len = cur_len;
                best = cur;
            }
        } else {
            cur = -1;
            cur_len = 0;
        }
    }
    char tmp[48];
    int n = 0;
    for (int i = 0; i < 8; i++) {
        if (best_len > 1 && i == best) {
            tmp[n++] = ':';
            tmp[n++] = ':';
            i += best_len - 1;
            continue;
        }
        if (n && tmp[n - 1] != ':')
            tmp[n++] = ':';
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%x", h[i]);
    }
    return put_text(out, tmp, n);
}

/* dns._rdata_text for the types decided here; WALK_UNUSUAL for SVCB/HTTPS. */
static int rdata_text(dns_t *d, const uint8_t *msg, Py_ssize_t n, unsigned rtype, Py_ssize_t start,
                      Py_ssize_t end, answer_t *a)
{
    static const char hex[] = "0123456789abcdef";
    buf_t *arena = &d->arena;
    Py_ssize_t len = end - start, t_off, t_len, next, mark = arena->len;
    const uint8_t *rd = msg + start;
    int rc;
    a->value_off = mark;
    memset(a->addr, 0, 16);
    switch (rtype) {
    case 1:
        if (len != 4)
            return E_BAD_RDATA;
        a->addr[10] = a->addr[11] = 0xFF;
        memcpy(a->addr + 12, rd, 4);
        for (int i = 0; i < 4; i++)
            if ((i && put_text(arena, ".", 1) < 0) || put_uint(arena, rd[i]) < 0)
                return WALK_NOMEM;
        break;
    case 28:
        if (len != 16)
            return E_BAD_RDATA;
        memcpy(a->addr, rd, 16);
        if (put_ipv6(arena, rd) < 0)
            return WALK_NOMEM;
        break;
    case 2:
    case 5:
    case 12:
    case 39:
        rc = read_name(d, msg, n, start, 0, &t_off, &t_len, &next);
        if (rc)
            return rc;
        a->value_off = t_off;
        a->value_len = t_len;
        return WALK_OK;
    case 15:
        if (len < 3)
            return E_BAD_RDATA;
        if (put_uint(arena, u16_at(rd)) < 0 || put_text(arena, " ", 1) < 0)
            return WALK_NOMEM;
        rc = read_name(d, msg, n, start + 2, 0, &t_off, &t_len, &next);
        if (rc) {
            arena->len = mark;
            return rc;
        }
        break;
    case 33:
        if (len < 7)
            return E_BAD_RDATA;
        for (int i = 0; i < 3; i++)
            if (put_uint(arena, u16_at(rd + 2 * i)) < 0 || put_text(arena, " ", 1) < 0)
                return WALK_NOMEM;
        rc = read_name(d, msg, n, start + 6, 0, &t_off, &t_len, &next);
        if (rc) {
            arena->len = mark;
            return rc;
        }
        break;
    case 6: {
        Py_ssize_t m_off, m_len, r_off, r_len, pos;
        rc = read_name(d, msg, n, start, 0, &m_off, &m_len, &pos);
        if (rc)
            return rc;
        rc = read_name(d, msg, n, pos, 0, &r_off, &r_len, &pos);
        if (rc) {
            arena->len = mark;
            return rc;
        }
        if (pos + 20 > end) {
            arena->len = mark;
            return E_BAD_RDATA;
        }
        /* the two names sit next to each other in the arena: "mname rname" needs the space between */
        Py_ssize_t names_end = arena->len;
        if (buf_reserve(arena, 1) < 0)
            return WALK_NOMEM;
        memmove(arena->p + r_off + 1, arena->p + r_off, (size_t)r_len);
        arena->p[r_off] = ' ';
        arena->len = names_end + 1;
        for (int i = 0; i < 5; i++)
            if (put_text(arena, " ", 1) < 0 || put_uint(arena, u32_at(msg + pos + 4 * i)) < 0)
                return WALK_NOMEM;
        break;
    }
    case 16:
    case 99: {
        Py_ssize_t p = 0;
        int first = 1;
        while (p < len) {
            Py_ssize_t l = rd[p];
            if (p + 1 + l > len) {
                arena->len = mark;
                return E_BAD_RDATA;
            }
            if (!first && put_text(arena, " ", 1) < 0)
                return WALK_NOMEM;
            first = 0;
            if (buf_reserve(arena, 4 * l) < 0)
                return WALK_NOMEM;
            for (Py_ssize_t i = 0; i < l; i++) {
                uint8_t b = rd[p + 1 + i];
                uint8_t *o = arena->p + arena->len;
                if (printable_kept(b)) {
                    o[0] = b;
                    arena->len += 1;
                } else {
                    o[0] = '\\';
                    o[1] = 'x';
                    o[2] = (uint8_t)hex[b >> 4];
                    o[3] = (uint8_t)hex[b & 15];
                    arena->len += 4;
                }
            }
            p += 1 + l;
        }
        break;
    }
    case 64:
    case 65:
        return WALK_UNUSUAL;
    default: {
        Py_ssize_t cut = len < MAX_RDATA_HEX ? len : MAX_RDATA_HEX;
        if (put_text(arena, "\\# ", 3) < 0 || put_uint(arena, (unsigned long long)len) < 0 ||
            put_text(arena, " ", 1) < 0 || buf_reserve(arena, 2 * cut) < 0)
            return WALK_NOMEM;
        for (Py_ssize_t i = 0; i < cut; i++) {
            arena->p[arena->len++] = (uint8_t)hex[rd[i] >> 4];
            arena->p[arena->len++] = (uint8_t)hex[rd[i] & 15];
        }
        break;
    }
    }
    a->value_off = mark;
    a->value_len = arena->len - mark;
    return WALK_OK;
}

/* The message: WALK_OK (fields in d), a reason E_*, WALK_UNUSUAL or WALK_NOMEM. */
static int dns_walk_c(dns_t *d, const uint8_t *m, Py_ssize_t n)
{
    d->arena.len = d->seen.len = d->answers.len = 0;
    d->has_question = 0;
    if (n < DNS_HEADER_LEN)
        return E_SHORT_HEADER;
    unsigned flags = u16_at(m + 2), qdcount = u16_at(m + 4), ancount = u16_at(m + 6);
    d->is_response = (flags & 0x8000) != 0;
    d->rcode = (int)(flags & 0xF);
    unsigned opcode = (flags >> 11) & 0xF;
    Py_ssize_t pos = DNS_HEADER_LEN, t_off, t_len;
    int rc;
    for (unsigned i = 0; i < qdcount; i++) {
        rc = read_name(d, m, n, pos, 1, &t_off, &t_len, &pos);
        if (rc)
            return rc;
        if (pos + 4 > n)
            return E_TRUNCATED;
        if (i == 0) {
            d->has_question = 1;
            d->q_off = t_off;
            d->q_len = t_len;
            d->qtype = u16_at(m + pos);
        }
        pos += 4;
    }
    if (opcode == OPCODE_UPDATE)
        return WALK_OK;
    for (unsigned i = 0; i < ancount; i++) {
        answer_t a;
        rc = read_name(d, m, n, pos, 1, &a.name_off, &a.name_len, &pos);
        if (rc == WALK_NOMEM)
            return rc;
        if (rc || pos + 10 > n)
            break; /* the answers read so far stand */
        a.rtype = u16_at(m + pos);
        a.ttl = u32_at(m + pos + 4);
        Py_ssize_t start = pos + 10;
        pos = start + (Py_ssize_t)u16_at(m + pos + 8);
        if (pos > n)
            break;
        if (a.rtype == 41)
            continue;
        rc = rdata_text(d, m, n, a.rtype, start, pos, &a);
        if (rc == WALK_NOMEM || rc == WALK_UNUSUAL)
            return rc;
        if (rc)
            continue; /* bad rdata, sound framing: the next record */
        if (buf_put(&d->answers, &a, sizeof a) < 0)
            return WALK_NOMEM;
    }
    return WALK_OK;
}

/* dns.qtype_text */
static PyObject *type_text(PyObject *qtypes, unsigned t)
{
    PyObject *key = PyLong_FromUnsignedLong(t);
    if (!key)
        return NULL;
    PyObject *known = PyDict_GetItemWithError(qtypes, key);
    Py_DECREF(key);
    if (known && PyObject_IsTrue(known)) {
        Py_INCREF(known);
        return known;
    }
    if (PyErr_Occurred())
        return NULL;
    return PyUnicode_FromFormat("TYPE%u", t);
}

/* dns_walk(payload, qtypes) -> (is_response, rcode, query, qtype, ((name, rtype, value, ttl, addr), ...)),
 * the reason of its DecodeError, or None when the Python parser must decide. addr is 16 bytes for A and
 * AAAA, else b"". */
static PyObject *dns_walk(PyObject *self, PyObject *args)
{
    Py_buffer msg;
    PyObject *qtypes;
    if (!PyArg_ParseTuple(args, "y*O!", &msg, &PyDict_Type, &qtypes))
        return NULL;
    dns_t d = {0};
    PyObject *result = NULL, *answers = NULL;
    int rc = dns_walk_c(&d, msg.buf, msg.len);
    if (rc == WALK_NOMEM)
        goto done;
    if (rc == WALK_UNUSUAL) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (rc != WALK_OK) {
        result = REASON[rc];
        Py_INCREF(result);
        goto done;
    }
    Py_ssize_t count = d.answers.len / (Py_ssize_t)sizeof(answer_t);
    answers = PyTuple_New(count);
    if (!answers)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        const answer_t *a = &((const answer_t *)d.answers.p)[i];
        int addr = a->rtype == 1 || a->rtype == 28;
        PyObject *item = Py_BuildValue("(NNNkN)", ascii_str(d.arena.p + a->name_off, a->name_len),
                                       type_text(qtypes, a->rtype),
                                       ascii_str(d.arena.p + a->value_off, a->value_len), (unsigned long)a->ttl,
                                       PyBytes_FromStringAndSize((const char *)a->addr, addr ? 16 : 0));
        if (!item)
            goto done;
        PyTuple_SET_ITEM(answers, i, item);
    }
    if (d.has_question)
        result = Py_BuildValue("(OiNNO)", d.is_response ? Py_True : Py_False, d.rcode,
                               ascii_str(d.arena.p + d.q_off, d.q_len), type_text(qtypes, d.qtype), answers);
    else
        result = Py_BuildValue("(OissO)", d.is_response ? Py_True : Py_False, d.rcode, "", "", answers);
done:
    Py_XDECREF(answers);
    dns_free(&d);
    PyBuffer_Release(&msg);
    return result;
}

/* ------------------------------------------------------------------------------------------------ */
/* ClientHello: fastpath.hello_shape's walk. The shape key (version, cipher bytes, extension types, the
 * bytes of the extensions that shape the result) decides everything but the SNI. */

typedef struct {
    buf_t types; /* uint16_t */
    buf_t raws;  /* Py_ssize_t pairs: offset, length */
    buf_t joined;  /* a hello's two segments */
    buf_t norm;    /* hello_parts: the memo key, GREASE left out, ciphers and extensions sorted */
    buf_t ja3;     /* hello_parts: the JA3 string */
    buf_t scratch; /* uint16_t values being sorted */
    int version;
    Py_ssize_t cipher_off, cipher_len, sni_off, sni_len;
    int has_sni;
} hello_t;

static void hello_free(hello_t *h)
{
    buf_free(&h->types);
    buf_free(&h->raws);
    buf_free(&h->joined);
    buf_free(&h->norm);
    buf_free(&h->ja3);
    buf_free(&h->scratch);
}

static inline int shape_extension(unsigned t)
{
    /* ALPN, supported_versions, supported_groups, signature_algorithms, ec_point_formats */
    return t == 0x0010 || t == 0x002B || t == 0x000A || t == 0x000D || t == 0x000B;
}

/* WALK_OK, WALK_UNUSUAL (where the Python walk raises _Unusual, IndexError or struct.error) or WALK_NOMEM. */
static int hello_walk_c(hello_t *h, const uint8_t *b, Py_ssize_t n)
{
    h->types.len = h->raws.len = 0;
    h->has_sni = 0;
    if (n < 39 || b[0] != 3 || b[34] > 32)
        return WALK_UNUSUAL;
    Py_ssize_t pos = 37 + b[34];
    if (pos - 1 >= n)
        return WALK_UNUSUAL;
    Py_ssize_t ciphers_end = pos + (Py_ssize_t)u16_at(b + pos - 2);
    if (ciphers_end >= n)
        return WALK_UNUSUAL;
    unsigned compression = b[ciphers_end];
    h->version = (3 << 8) | b[1];
    h->cipher_off = 37 + b[34];
    h->cipher_len = ciphers_end - h->cipher_off;
    pos = ciphers_end + 3 + compression;
    if (pos - 1 >= n)
        return WALK_UNUSUAL;
    Py_ssize_t end = pos + (Py_ssize_t)u16_at(b + pos - 2);
    if (!compression || end > n)
        return WALK_UNUSUAL;
    Py_ssize_t sni_at = -1;
    while (pos < end) { /* each step moves at least 4 bytes */
        if (pos + 4 > n)
            return WALK_UNUSUAL;
        uint16_t type = (uint16_t)u16_at(b + pos);
        Py_ssize_t len = u16_at(b + pos + 2);
        pos += 4 + len;
        if (buf_put(&h->types, &type, sizeof type) < 0)
            return WALK_NOMEM;
        if (shape_extension(type)) {
            Py_ssize_t at[2] = {pos - len, len};
            if (buf_put(&h->raws, at, sizeof at) < 0)
                return WALK_NOMEM;
        } else if (!type && len) {
            if (sni_at >= 0)
                return WALK_UNUSUAL;
            sni_at = pos - len;
        }
    }
    if (pos != end)
        return WALK_UNUSUAL; /* so every extension lies inside the block, and the block inside the body */
    if (sni_at >= 0) {
        if (sni_at + 4 >= n)
            return WALK_UNUSUAL;
        Py_ssize_t list_end = sni_at + 2 + (Py_ssize_t)u16_at(b + sni_at);
        Py_ssize_t name_end = sni_at + 5 + (Py_ssize_t)u16_at(b + sni_at + 3);
        Py_ssize_t ext_end = sni_at + (Py_ssize_t)u16_at(b + sni_at - 2);
        if (b[sni_at + 2] != 0 || list_end > ext_end || name_end > list_end)
            return WALK_UNUSUAL;
        h->has_sni = 1;
        h->sni_off = sni_at + 5;
        h->sni_len = name_end - h->sni_off;
    }
    return WALK_OK;
}

/* The shape key as fastpath builds it: (version, cipher bytes, types tuple, raws tuple). */
static PyObject *hello_key_tuple(const hello_t *h, const uint8_t *b)
{
    Py_ssize_t ntypes = h->types.len / 2, nraws = h->raws.len / (Py_ssize_t)(2 * sizeof(Py_ssize_t));
    PyObject *types = PyTuple_New(ntypes), *raws = PyTuple_New(nraws);
    if (!types || !raws)
        goto fail;
    const uint16_t *t = (const uint16_t *)h->types.p;
    for (Py_ssize_t i = 0; i < ntypes; i++) {
        PyObject *v = PyLong_FromLong(t[i]);
        if (!v)
            goto fail;
        PyTuple_SET_ITEM(types, i, v);
    }
    const Py_ssize_t *at = (const Py_ssize_t *)h->raws.p;
    for (Py_ssize_t i = 0; i < nraws; i++) {
        PyObject *v = PyBytes_FromStringAndSize((const char *)b + at[2 * i], at[2 * i + 1]);
        if (!v)
            goto fail;
        PyTuple_SET_ITEM(raws, i, v);
    }
    return Py_BuildValue("(iNNN)", h->version,
                         PyBytes_FromStringAndSize((const char *)b + h->cipher_off, h->cipher_len), types, raws);
fail:
    Py_XDECREF(types);
    Py_XDECREF(raws);
    return NULL;
}

static PyObject *hello_sni(const hello_t *h, const uint8_t *b)
{
    if (!h->has_sni)
        Py_RETURN_NONE;
    return safe_text(b + h->sni_off, h->sni_len, 255);
}

/* hello_walk(body) -> ((version, cipher bytes, types, raws), sni) as fastpath's walk gives them, or None
 * where it hands the body to the reference parser. */
static PyObject *hello_walk(PyObject *self, PyObject *args)
{
    Py_buffer body;
    if (!PyArg_ParseTuple(args, "y*", &body))
        return NULL;
    hello_t h = {0};
    PyObject *result = NULL;
    int rc = hello_walk_c(&h, body.buf, body.len);
    if (rc == WALK_UNUSUAL) {
        result = Py_None;
        Py_INCREF(result);
    } else if (rc == WALK_OK) {
        result = Py_BuildValue("(NN)", hello_key_tuple(&h, body.buf), hello_sni(&h, body.buf));
    }
    hello_free(&h);
    PyBuffer_Release(&body);
    return result;
}

/* ------------------------------------------------------------------------------------------------ */
/* A walked hello's fingerprint parts. Chrome (BoringSSL) draws fresh GREASE values (RFC 8701) and
 * permutes its extensions for every connection, but what the TLS row takes from the shape is the ALPN
 * list, the versions (GREASE left out), the ECH flag and JA4 (sorted, GREASE left out): none of them
 * depends on either. They are memoised on `norm`, a key with GREASE values left out and the cipher and
 * extension lists sorted; the JA3 string, whose extensions are in wire order, is built here for each
 * hello as fingerprint.ja3_string builds it, and its MD5 taken here. */

static inline int is_grease(unsigned v) { return (v & 0x0F0F) == 0x0A0A && (v >> 8) == (v & 0xFF); }

/* MD5 (RFC 1321), for fingerprint.ja3_hash. */
static const uint32_t MD5_K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t MD5_SHIFT[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

static void md5_block(uint32_t st[4], const uint8_t *p)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        switch (i >> 4) {
        case 0:
            f = (b & c) | (~b & d);
            g = i;
            break;
        case 1:
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
            break;
        case 2:
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
            break;
        default:
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
            break;
        }
        unsigned s = MD5_SHIFT[((i >> 4) << 2) | (i & 3)];
        f += a + MD5_K[i] + m[g];
        a = d;
        d = c;
        c = b;
        b += (f << s) | (f >> (32 - s));
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

/* hashlib.md5(p[:n]).hexdigest(), into out[32] */
static void md5_hex(const uint8_t *p, size_t n, char out[32])
{
    static const char hex[] = "0123456789abcdef";
    uint32_t st[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    size_t full = n & ~(size_t)63, rest = n - full;
    for (size_t i = 0; i < full; i += 64)
        md5_block(st, p + i);
    uint8_t tail[128] = {0};
    if (rest)
        memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)n << 3;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 8 + (size_t)i] = (uint8_t)(bits >> (8 * i));
    md5_block(st, tail);
    if (tail_len == 128)
        md5_block(st, tail + 64);
    for (int i = 0; i < 16; i++) {
        uint8_t byte = (uint8_t)(st[i >> 2] >> (8 * (i & 3)));
        out[2 * i] = hex[byte >> 4];
        out[2 * i + 1] = hex[byte & 15];
    }
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void sort_u16(uint16_t *v, Py_ssize_t n)
{
    if (n > 32) {
        qsort(v, (size_t)n, sizeof *v, cmp_u16);
        return;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        uint16_t x = v[i];
        Py_ssize_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static inline void put_u32(buf_t *b, uint32_t v)
{
    memcpy(b->p + b->len, &v, 4);
    b->len += 4;
}

/* Append the non-GREASE values of n big-endian u16 at src (or of n native u16 at words), sorted or in
 * their order, each as a native u16, after their count. Room is reserved by the caller. */
static void put_values(hello_t *h, buf_t *k, const uint8_t *src, const uint16_t *words, Py_ssize_t n, int sorted)
{
    uint16_t *v = (uint16_t *)h->scratch.p;
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned x = words ? words[i] : u16_at(src + 2 * i);
        if (!is_grease(x))
            v[m++] = (uint16_t)x;
    }
    if (sorted)
        sort_u16(v, m);
    put_u32(k, (uint32_t)m);
    if (m)
        memcpy(k->p + k->len, v, (size_t)m * 2);
    k->len += m * 2;
}

/* Room for up to 6 characters per value ("65535-"). */
static void put_decimal(buf_t *b, unsigned v)
{
    char digits[5];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 5);
    while (n)
        b->p[b->len++] = (uint8_t)digits[--n];
}

/* JA3 list: the values (GREASE left out when skip_grease) joined by '-', then `after` unless 0. */
static void put_ja3_list(buf_t *b, const uint8_t *src, const uint16_t *words, Py_ssize_t n, int wide,
                         int skip_grease, char after)
{
    int first = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned x = words ? words[i] : wide ? u16_at(src + 2 * i) : src[i];
        if (skip_grease && is_grease(x))
            continue;
        if (!first)
            b->p[b->len++] = '-';
        first = 0;
        put_decimal(b, x);
    }
    if (after)
        b->p[b->len++] = (uint8_t)after;
}

/* h->norm and h->ja3 of a hello hello_walk_c walked: 1; 0 where the Python path must decide (a shape
 * extension _shape would not decode, one that repeats: its order would count, or a key longer than
 * key_max); -1 out of memory. */
static int hello_parts(hello_t *h, const uint8_t *b, Py_ssize_t key_max)
{
    if (h->cipher_len & 1)
        return 0;
    const Py_ssize_t *raws = (const Py_ssize_t *)h->raws.p;
    Py_ssize_t nraws = h->raws.len / (Py_ssize_t)(2 * sizeof(Py_ssize_t));
    /* each shape extension's values: where they start and their length, -1 when it is absent */
    Py_ssize_t alpn = -1, alpn_n = 0, sv = -1, sv_n = 0, groups = -1, groups_n = 0, pf = -1, pf_n = 0, sig = -1,
               sig_n = 0;
    for (Py_ssize_t i = 0; i < nraws; i++) {
        Py_ssize_t off = raws[2 * i], len = raws[2 * i + 1];
        const uint8_t *x = b + off;
        unsigned type = u16_at(b + off - 4); /* the walk found it after its 4-byte header */
        if (type == 0x0010) {                /* ALPN: a 16-bit list length, then 8-bit length names */
            if (alpn >= 0 || len < 2 || 2 + (Py_ssize_t)u16_at(x) > len)
                return 0;
            Py_ssize_t end = 2 + (Py_ssize_t)u16_at(x);
            for (Py_ssize_t q = 2; q < end; q += 1 + x[q]) { /* each step moves at least 1 byte */
                if (q + 1 + x[q] > end)
                    return 0;
            }
            alpn = off;
            alpn_n = len;
        } else if (type == 0x002B) { /* supported_versions: an 8-bit length, 16-bit values */
            if (sv >= 0 || len < 1 || 1 + x[0] > len || (x[0] & 1))
                return 0;
            sv = off + 1;
            sv_n = x[0] / 2;
        } else if (type == 0x000B) { /* ec_point_formats: an 8-bit length, 8-bit values */
            if (pf >= 0 || len < 1 || 1 + x[0] > len)
                return 0;
            pf = off + 1;
            pf_n = x[0];
        } else { /* supported_groups, signature_algorithms: a 16-bit length, 16-bit values */
            Py_ssize_t list = len < 2 ? -1 : (Py_ssize_t)u16_at(x);
            if (list < 0 || 2 + list > len || (list & 1))
                return 0;
            if (type == 0x000A) {
                if (groups >= 0)
                    return 0;
                groups = off + 2;
                groups_n = list / 2;
            } else {
                if (sig >= 0)
                    return 0;
                sig = off + 2;
                sig_n = list / 2;
            }
        }
    }
    Py_ssize_t nciphers = h->cipher_len / 2, ntypes = h->types.len / 2;
    if (h->cipher_len + 2 * ntypes + alpn_n + 2 * sv_n + 2 * sig_n > key_max)
        return 0;
    Py_ssize_t most = nciphers > ntypes ? nciphers : ntypes;
    most = most > sig_n ? most : sig_n;
    most = most > sv_n ? most : sv_n;
    buf_t *k = &h->norm, *j = &h->ja3;
    k->len = j->len = h->scratch.len = 0;
    if (buf_reserve(&h->scratch, 2 * most) < 0 ||
        buf_reserve(k, 2 + 5 * 4 + 2 * (nciphers + ntypes + sv_n + sig_n) + alpn_n) < 0 ||
        buf_reserve(j, 16 + 6 * (1 + nciphers + ntypes + groups_n + pf_n)) < 0)
        return -1;
    const uint16_t *types = (const uint16_t *)h->types.p;
    /* the memo key: version, sorted ciphers, sorted extension types, ALPN bytes, versions, signature
     * algorithms (a count before each part; UINT32_MAX for an absent extension) */
    uint16_t version = (uint16_t)h->version;
    memcpy(k->p, &version, 2);
    k->len = 2;
    put_values(h, k, b + h->cipher_off, NULL, nciphers, 1);
    put_values(h, k, NULL, types, ntypes, 1);
    put_u32(k, alpn < 0 ? UINT32_MAX : (uint32_t)alpn_n);
    if (alpn >= 0) {
        memcpy(k->p + k->len, b + alpn, (size_t)alpn_n);
        k->len += alpn_n;
    }
    if (sv < 0)
        put_u32(k, UINT32_MAX);
    else
        put_values(h, k, b + sv, NULL, sv_n, 0);
    put_values(h, k, sig < 0 ? b : b + sig, NULL, sig_n, 0);
    /* JA3: version, ciphers, extension types, groups (GREASE left out), point formats */
    put_decimal(j, (unsigned)h->version);
    j->p[j->len++] = ',';
    put_ja3_list(j, b + h->cipher_off, NULL, nciphers, 1, 1, ',');
    put_ja3_list(j, NULL, types, ntypes, 1, 1, ',');
    put_ja3_list(j, groups < 0 ? b : b + groups, NULL, groups_n, 1, 1, ',');
    put_ja3_list(j, pf < 0 ? b : b + pf, NULL, pf_n, 0, 0, 0);
    return 1;
}

/* hello_fingerprint(body) -> (memo key, JA3 string, its MD5) of a hello the compiled path fingerprints
 * itself, or None where the Python path decides. For tests. */
static PyObject *hello_fingerprint(PyObject *self, PyObject *args)
{
    Py_buffer body;
    Py_ssize_t key_max;
    if (!PyArg_ParseTuple(args, "y*n", &body, &key_max))
        return NULL;
    hello_t h = {0};
    PyObject *result = NULL;
    int rc = hello_walk_c(&h, body.buf, body.len);
    int parts = rc == WALK_OK ? hello_parts(&h, body.buf, key_max) : 0;
    if (parts > 0) {
        char hex[32];
        md5_hex(h.ja3.p, (size_t)h.ja3.len, hex);
        result = Py_BuildValue("(y#s#s#)", (const char *)h.norm.p, h.norm.len, (const char *)h.ja3.p, h.ja3.len,
                               hex, (Py_ssize_t)32);
    } else if (rc != WALK_NOMEM && parts == 0) {
        result = Py_None;
        Py_INCREF(result);
    }
    hello_free(&h);
    PyBuffer_Release(&body);
    return result;
}

/* md5_hex(data) -> hashlib.md5(data).hexdigest(). For tests. */
static PyObject *md5_hex_py(PyObject *self, PyObject *args)
{
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    char hex[32];
    md5_hex(data.buf, (size_t)data.len, hex);
    PyBuffer_Release(&data);
    return PyUnicode_FromStringAndSize(hex, 32);
}

/* ------------------------------------------------------------------------------------------------ */
/* HTTP request: http.parse_http_request, but obsolete line folding (handed to Python). */

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} span_t;

typedef struct {
    span_t method, uri, host, ua;
    int has_host, has_ua;
} http_t;

static inline int ascii_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static span_t strip_space(span_t s)
{
    while (s.n && ascii_space(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && ascii_space(s.p[s.n - 1]))
        s.n--;
    return s;
}

static span_t strip_byte(span_t s, uint8_t c, int left)
{
    while (left && s.n && s.p[0] == c) {
        s.p++;
        s.n--;
    }
    while (s.n && s.p[s.n - 1] == c)
        s.n--;
    return s;
}

static int same_lower(span_t s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        if (c != (uint8_t)word[i])
            return 0;
    }
    return 1;
}

static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* http._VERSION.fullmatch: HTTP/\d(?:\.\d)? */
static int http_version(span_t s)
{
    if ((s.n != 6 && s.n != 8) || memcmp(s.p, "HTTP/", 5) || !is_digit(s.p[5]))
        return 0;
    return s.n == 6 || (s.p[6] == '.' && is_digit(s.p[7]));
}

/* WALK_OK, E_HTTP_MALFORMED (parse_http_request gives None), E_HTTP_LINE_TOO_LONG, E_HTTP_BAD_REQUEST_LINE
 * or WALK_UNUSUAL. */
static int http_walk_c(const uint8_t *d, Py_ssize_t n, PyObject *prefixes, Py_ssize_t max_header, http_t *out)
{
    Py_ssize_t head = n < 20 ? n : 20;
    int known = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes) && !known; i++) {
        PyObject *p = PyTuple_GET_ITEM(prefixes, i);
        known = PyBytes_GET_SIZE(p) <= head && !memcmp(d, PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p));
    }
    if (!known)
        return E_HTTP_MALFORMED;
    Py_ssize_t wn = n < max_header ? n : max_header;
    const uint8_t *nl = memchr(d, '\n', (size_t)wn);
    if (!nl)
        return wn >= max_header ? E_HTTP_LINE_TOO_LONG : E_HTTP_MALFORMED;
    span_t line = strip_byte((span_t){d, nl - d}, '\r', 0);
    const uint8_t *sp = memchr(line.p, ' ', (size_t)line.n);
    span_t method = line, rest = {line.p + line.n, 0};
    if (sp) {
        method.n = sp - line.p;
        rest = (span_t){sp + 1, line.n - method.n - 1};
    }
    for (Py_ssize_t i = 0; i < method.n; i++)
        if (method.p[i] >= 0x80)
            return WALK_UNUSUAL; /* method.decode("ascii") would raise */
    rest = strip_byte(rest, ' ', 1);
    Py_ssize_t cut = rest.n - 1;
    while (cut >= 0 && rest.p[cut] != ' ')
        cut--;
    span_t uri;
    if (cut >= 0 && http_version((span_t){rest.p + cut + 1, rest.n - cut - 1}))
        uri = strip_byte((span_t){rest.p, cut}, ' ', 1);
    else if (cut < 0 && !(rest.n >= 5 && !memcmp(rest.p, "HTTP/", 5)))
        uri = rest;
    else
        return E_HTTP_BAD_REQUEST_LINE;
    if (!uri.n)
        return E_HTTP_BAD_REQUEST_LINE;
    out->method = method;
    out->uri = uri;
    out->has_host = out->has_ua = 0;
    Py_ssize_t pos = nl - d + 1;
    while (pos < wn) { /* each step moves past one line */
        nl = memchr(d + pos, '\n', (size_t)(wn - pos));
        if (!nl)
            break;
        span_t l = strip_byte((span_t){d + pos, nl - (d + pos)}, '\r', 0);
        pos = nl - d + 1;
        if (!l.n)
            break;
        if (l.p[0] == ' ' || l.p[0] == '\t')
            return WALK_UNUSUAL;
        const uint8_t *colon = memchr(l.p, ':', (size_t)l.n);
        if (!colon)
            continue;
        span_t name = strip_space((span_t){l.p, colon - l.p});
        span_t value = strip_space((span_t){colon + 1, l.p + l.n - colon - 1});
        if (same_lower(name, "host")) {
            if (!out->has_host) {
                out->host = value;
                out->has_host = 1;
            }
        } else if (same_lower(name, "user-agent") && !out->has_ua) {
            out->ua = value;
            out->has_ua = 1;
        }
    }
    return WALK_OK;
}

/* http_walk(data, method_prefixes, max_header, max_text) -> (method, uri, host, user_agent), the
 * DecodeError reason, "http.malformed" where the parser gives None, or None where Python must decide. */
static PyObject *http_walk(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *prefixes;
    Py_ssize_t max_header, max_text;
    if (!PyArg_ParseTuple(args, "y*O!nn", &data, &PyTuple_Type, &prefixes, &max_header, &max_text))
        return NULL;
    http_t h;
    PyObject *result = NULL;
    int rc = http_walk_c(data.buf, data.len, prefixes, max_header, &h);
    if (rc == WALK_UNUSUAL) {
        result = Py_None;
        Py_INCREF(result);
    } else if (rc != WALK_OK) {
        result = REASON[rc];
        Py_INCREF(result);
    } else {
        PyObject *host = h.has_host ? safe_text(h.host.p, h.host.n, max_text) : (Py_INCREF(Py_None), Py_None);
        PyObject *ua = h.has_ua ? safe_text(h.ua.p, h.ua.n, max_text) : (Py_INCREF(Py_None), Py_None);
        result = Py_BuildValue("(NNNN)", ascii_str(h.method.p, h.method.n), safe_text(h.uri.p, h.uri.n, max_text),
                               host, ua);
    }
    PyBuffer_Release(&data);
    return result;
}

/* ------------------------------------------------------------------------------------------------ */
/* Table rows from batches. */

/* A memoised DNS message: its row's ids and its answers' (the pool ids of this extraction). */
typedef struct {
    uint8_t is_response;
    int16_t rcode;
    int32_t query, qtype;
    uint32_t answers;
} dns_head_t;

typedef struct {
    int32_t name, rtype, value;
    int64_t ttl;
    uint8_t addr[16];
} dns_tail_t;

/* The memo entry of a message walked here: the values interned in DnsTable.add's order. */
static PyObject *dns_entry_of_walk(const dns_t *d, PyObject *ids, PyObject *qtypes, buf_t *entry)
{
    dns_head_t head = {(uint8_t)d->is_response, (int16_t)d->rcode, 0, 0, 0};
    Py_ssize_t count = d->answers.len / (Py_ssize_t)sizeof(answer_t);
    head.answers = (uint32_t)count;
    int ok;
    if (d->has_question)
        ok = intern_owned(ids, ascii_str(d->arena.p + d->q_off, d->q_len), &head.query) == 0 &&
             intern_owned(ids, type_text(qtypes, d->qtype), &head.qtype) == 0;
    else
        ok = intern_owned(ids, PyUnicode_New(0, 127), &head.query) == 0 &&
             intern_owned(ids, PyUnicode_New(0, 127), &head.qtype) == 0;
    entry->len = 0;
    if (!ok || buf_put(entry, &head, sizeof head) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        const answer_t *a = &((const answer_t *)d->answers.p)[i];
        dns_tail_t t;
        if (intern_owned(ids, ascii_str(d->arena.p + a->name_off, a->name_len), &t.name) < 0 ||
            intern_owned(ids, type_text(qtypes, a->rtype), &t.rtype) < 0 ||
            intern_owned(ids, ascii_str(d->arena.p + a->value_off, a->value_len), &t.value) < 0)
            return NULL;
        t.ttl = a->ttl;
        memcpy(t.addr, a->addr, 16);
        if (buf_put(entry, &t, sizeof t) < 0)
            return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)entry->p, entry->len);
}

/* The memo entry of the Python parser's result: (is_response, rcode, query, qtype, answers) or a reason. */
static PyObject *dns_entry_of_fallback(PyObject *res, PyObject *ids, buf_t *entry)
{
    if (PyUnicode_Check(res)) {
        Py_INCREF(res);
        return res;
    }
    PyObject *is_response, *query, *qtype, *answers;
    int rcode;
    if (!PyArg_ParseTuple(res, "OiOOO!", &is_response, &rcode, &query, &qtype, &PyTuple_Type, &answers))
        return NULL;
    int truth = PyObject_IsTrue(is_response);
    if (truth < 0)
        return NULL;
    dns_head_t head = {(uint8_t)truth, (int16_t)rcode, 0, 0, (uint32_t)PyTuple_GET_SIZE(answers)};
    if (intern(ids, query, &head.query) < 0 || intern(ids, qtype, &head.qtype) < 0)
        return NULL;
    entry->len = 0;
    if (buf_put(entry, &head, sizeof head) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(answers); i++) {
        PyObject *name, *rtype, *value, *addr;
        long long ttl;
        dns_tail_t t;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(answers, i), "OOOLS", &name, &rtype, &value, &ttl, &addr))
            return NULL;
        if (intern(ids, name, &t.name) < 0 || intern(ids, rtype, &t.rtype) < 0 || intern(ids, value, &t.value) < 0)
            return NULL;
        t.ttl = ttl;
        memset(t.addr, 0, 16);
        memcpy(t.addr, PyBytes_AS_STRING(addr), (size_t)(PyBytes_GET_SIZE(addr) < 16 ? PyBytes_GET_SIZE(addr) : 16));
        if (buf_put(entry, &t, sizeof t) < 0)
            return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)entry->p, entry->len);
}

/* dns_rows(context, columns, rows, quic, base) -> (DNS rows, answer rows) as bytearrays.
 * context: (pool ids, errors, memo, qtypes, fallback, quic_callback, memo_max_payload, memo_entries).
 * rows: int64 header rows of the batch's UDP events in order; quic: uint8, 1 where the row is a QUIC
 * candidate (quic_callback(row) decodes it). base: the DNS table's length (answers' event column). */
static PyObject *dns_rows(PyObject *self, PyObject *args)
{
    PyObject *ctx, *cols_obj;
    Py_buffer rows_v, quic_v;
    long long base;
    if (!PyArg_ParseTuple(args, "O!Oy*y*L", &PyTuple_Type, &ctx, &cols_obj, &rows_v, &quic_v, &base))
        return NULL;
    PyObject *ids, *errors, *memo, *qtypes, *fallback, *quic_cb;
    Py_ssize_t memo_max, memo_entries;
    cols_t c = {0};
    dns_t d = {0};
    buf_t out = {0}, answers = {0}, entry_buf = {0};
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(ctx, "O!O!O!O!OOnn", &PyDict_Type, &ids, &PyDict_Type, &errors, &PyDict_Type, &memo,
                          &PyDict_Type, &qtypes, &fallback, &quic_cb, &memo_max, &memo_entries))
        goto done;
    if (cols_get(cols_obj, &c) < 0)
        goto done;
    const int64_t *rows = rows_v.buf;
    const uint8_t *quic = quic_v.buf;
    Py_ssize_t count = rows_v.len / 8;
    if (quic_v.len < count) {
        PyErr_SetString(PyExc_ValueError, "dns_rows: quic flags too short");
        goto done;
    }
    int64_t event = base;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i + 2 * PREFETCH_JOBS < count)
            prefetch_columns(&c, rows[i + 2 * PREFETCH_JOBS]);
        if (i + PREFETCH_JOBS < count)
            prefetch_payload(&c, rows[i + PREFETCH_JOBS], 256);
        int64_t r = rows[i];
        if (check_row(&c, r) < 0)
            goto done;
        if (quic[i]) {
            PyObject *res = PyObject_CallFunction(quic_cb, "L", (long long)r);
            if (!res)
                goto done;
            Py_DECREF(res);
            continue;
        }
        const uint8_t *p;
        Py_ssize_t len;
        payload_of(&c, r, &p, &len);
        if (len < DNS_HEADER_LEN) {
            if (count_error(errors, REASON[E_SHORT_HEADER]) < 0)
                goto done;
            continue;
        }
        PyObject *key = NULL, *entry = NULL; /* entry: borrowed from the memo, or owned when new */
        int owned = 0;
        if (len <= memo_max) {
            key = PyBytes_FromStringAndSize((const char *)p + 2, len - 2);
            if (!key)
                goto done;
            entry = PyDict_GetItemWithError(memo, key);
            if (!entry && PyErr_Occurred()) {
                Py_DECREF(key);
                goto done;
            }
        }
        if (!entry) {
            int rc = dns_walk_c(&d, p, len);
            if (rc == WALK_OK) {
                entry = dns_entry_of_walk(&d, ids, qtypes, &entry_buf);
            } else if (rc == WALK_UNUSUAL) {
                PyObject *res = PyObject_CallFunction(fallback, "y#", (const char *)p, len);
                entry = res ? dns_entry_of_fallback(res, ids, &entry_buf) : NULL;
                Py_XDECREF(res);
            } else if (rc != WALK_NOMEM) {
                entry = REASON[rc];
                Py_INCREF(entry);
            }
            if (!entry || (key && memo_store(memo, key, entry, memo_entries) < 0)) {
                Py_XDECREF(entry);
                Py_XDECREF(key);
                goto done;
            }
            owned = 1;
        }
        Py_XDECREF(key);
        if (PyUnicode_Check(entry)) {
            int rc = count_error(errors, entry);
            if (owned)
                Py_DECREF(entry);
            if (rc < 0)
                goto done;
            continue;
        }
        dns_head_t head;
        const char *e = PyBytes_AS_STRING(entry);
        memcpy(&head, e, sizeof head);
        if (buf_reserve(&out, DNS_ROW) < 0 || buf_reserve(&answers, (Py_ssize_t)head.answers * ANSWER_ROW) < 0) {
            if (owned)
                Py_DECREF(entry);
            goto done;
        }
        uint8_t *row = out.p + out.len;
        put_ends(row, &c, r, head.is_response);
        row[DNS_TCP] = 0;
        uint16_t txid = (uint16_t)u16_at(p);
        memcpy(row + DNS_TXID, &txid, 2);
        memcpy(row + DNS_QUERY, &head.query, 4);
        memcpy(row + DNS_QTYPE, &head.qtype, 4);
        row[DNS_IS_RESPONSE] = head.is_response;
        int16_t rcode = head.is_response ? head.rcode : -1;
        memcpy(row + DNS_RCODE, &rcode, 2);
        out.len += DNS_ROW;
        for (uint32_t a = 0; a < head.answers; a++) {
            dns_tail_t t;
            memcpy(&t, e + sizeof head + a * sizeof t, sizeof t);
            uint8_t *ar = answers.p + answers.len;
            memcpy(ar + ANSWER_EVENT, &event, 8);
            memcpy(ar + ANSWER_NAME, &t.name, 4);
            memcpy(ar + ANSWER_RTYPE, &t.rtype, 4);
            memcpy(ar + ANSWER_VALUE, &t.value, 4);
            memcpy(ar + ANSWER_TTL, &t.ttl, 8);
            memcpy(ar + ANSWER_ADDR, t.addr, 16);
            answers.len += ANSWER_ROW;
        }
        event++;
        if (owned)
            Py_DECREF(entry);
    }
    result = Py_BuildValue("(NN)", buf_to_bytearray(&out), buf_to_bytearray(&answers));
done:
    cols_release(&c);
    dns_free(&d);
    buf_free(&out);
    buf_free(&answers);
    buf_free(&entry_buf);
    PyBuffer_Release(&rows_v);
    PyBuffer_Release(&quic_v);
    return result;
}

/* A memoised hello shape: the pool ids of its ALPN list, versions, JA3, JA3 hash, JA4, and ECH. */
typedef struct {
    int32_t ids[5];
    uint8_t ech;
} shape_entry_t;

/* Intern a shape's values (sni first, as TlsTable.add does); fills ids and ech. */
static int intern_shape(PyObject *ids, PyObject *shape, PyObject *sni, int32_t *sni_id, shape_entry_t *e)
{
    static const char *const names[5] = {"alpn", "versions", "ja3", "ja3_hash", "ja4"};
    if (intern(ids, sni, sni_id) < 0)
        return -1;
    for (int i = 0; i < 5; i++) {
        if (intern_owned(ids, PyObject_GetAttrString(shape, names[i]), &e->ids[i]) < 0)
            return -1;
        if (i == 1) { /* ech is added between versions and ja3; a bool is not interned */
            PyObject *ech = PyObject_GetAttrString(shape, "ech");
            if (!ech)
                return -1;
            int truth = PyObject_IsTrue(ech);
            Py_DECREF(ech);
            if (truth < 0)
                return -1;
            e->ech = (uint8_t)truth;
        }
    }
    return 0;
}

static void put_tls_row(uint8_t *row, const cols_t *c, int64_t r, int32_t sni, const shape_entry_t *e)
{
    put_ends(row, c, r, 0);
    row[TLS_QUIC] = 0;
    memcpy(row + TLS_SNI, &sni, 4);
    memcpy(row + TLS_ALPN, &e->ids[0], 4);
    memcpy(row + TLS_VERSIONS, &e->ids[1], 4);
    row[TLS_ECH] = e->ech;
    memcpy(row + TLS_JA3, &e->ids[2], 4);
    memcpy(row + TLS_JA3_HASH, &e->ids[3], 4);
    memcpy(row + TLS_JA4, &e->ids[4], 4);
}

/* The JA3 and JA3 hash ids of the hello in h->ja3 (hello_parts), from the JA3 memo (JA3 string -> the two
 * ids) or interned here, in TlsTable.add's order. */
static int ja3_ids(PyObject *ids, PyObject *ja3_memo, const hello_t *h, Py_ssize_t memo_max, Py_ssize_t entries,
                   shape_entry_t *e)
{
    PyObject *ja3 = ascii_str(h->ja3.p, h->ja3.len);
    if (!ja3)
        return -1;
    int rc = -1;
    PyObject *known = PyDict_GetItemWithError(ja3_memo, ja3);
    if (known) {
        if (!PyBytes_Check(known) || PyBytes_GET_SIZE(known) != 2 * (Py_ssize_t)sizeof(int32_t)) {
            PyErr_SetString(PyExc_TypeError, "JA3 memo: 8 bytes expected");
            goto done;
        }
        memcpy(&e->ids[2], PyBytes_AS_STRING(known), 2 * sizeof(int32_t));
        rc = 0;
        goto done;
    }
    if (PyErr_Occurred())
        goto done;
    char hex[32];
    md5_hex(h->ja3.p, (size_t)h->ja3.len, hex);
    if (intern(ids, ja3, &e->ids[2]) < 0 || intern_owned(ids, ascii_str((const uint8_t *)hex, 32), &e->ids[3]) < 0)
        goto done;
    if (h->ja3.len <= memo_max) {
        PyObject *value = PyBytes_FromStringAndSize((const char *)&e->ids[2], 2 * sizeof(int32_t));
        int stored = value ? memo_store(ja3_memo, ja3, value, entries) : -1;
        Py_XDECREF(value);
        if (stored < 0)
            goto done;
    }
    rc = 0;
done:
    Py_DECREF(ja3);
    return rc;
}

/* The row of one ClientHello body: 1 written, 0 not (an error counted), -1 failed.
 *
 * A hello hello_parts takes (nearly all) costs a walk, a lookup of its GREASE-free, sorted shape in the
 * shape memo (pool ids of ALPN, versions, JA4 and the ECH flag) and its JA3 string built here. The first
 * hello of a shape, and every hello hello_parts leaves alone, takes the Python path (shape_for_key, or
 * the reference parser) for the whole row, as the Python fast path does. */
static int tls_job(PyObject *const *cx, Py_ssize_t shape_max, Py_ssize_t shape_entries, hello_t *h,
                   const cols_t *c, int64_t r, const uint8_t *body, Py_ssize_t n, buf_t *out)
{
    PyObject *ids = cx[0], *errors = cx[1], *memo = cx[2], *shape_for_key = cx[3], *fallback = cx[4],
             *decode_error = cx[5], *ja3_memo = cx[7];
    int rc = hello_walk_c(h, body, n);
    if (rc == WALK_NOMEM)
        return -1;
    int32_t sni_id;
    shape_entry_t e;
    PyObject *key = NULL, *res = NULL, *shape = NULL, *sni = NULL, *ja3 = NULL;
    int memoise = 0, status = -1;
    if (rc == WALK_OK) {
        memoise = hello_parts(h, body, shape_max);
        if (memoise < 0)
            goto done;
        if (memoise) {
            key = PyBytes_FromStringAndSize((const char *)h->norm.p, h->norm.len);
            if (!key)
                goto done;
            PyObject *known = PyDict_GetItemWithError(memo, key);
            if (known) {
                if (!PyBytes_Check(known) || PyBytes_GET_SIZE(known) != (Py_ssize_t)sizeof e) {
                    PyErr_SetString(PyExc_TypeError, "hello shape memo: an entry of the wrong size");
                    goto done;
                }
                memcpy(&e, PyBytes_AS_STRING(known), sizeof e);
                sni = hello_sni(h, body);
                if (!sni || intern(ids, sni, &sni_id) < 0 || ja3_ids(ids, ja3_memo, h, shape_max, shape_entries, &e) < 0)
                    goto done;
                goto row;
            }
            if (PyErr_Occurred())
                goto done;
        }
        PyObject *key_tuple = hello_key_tuple(h, body);
        if (!key_tuple)
            goto done;
        res = PyObject_CallFunction(shape_for_key, "y#N", (const char *)body, n, key_tuple);
    } else {
        res = PyObject_CallFunction(fallback, "y#", (const char *)body, n);
    }
    if (!res) {
        int taken = take_decode_error(decode_error, errors);
        status = taken < 0 ? -1 : taken ? 0 : -1;
        goto done;
    }
    if (PyTuple_Check(res)) { /* (shape, sni) from the reference parser */
        if (PyTuple_GET_SIZE(res) != 2) {
            PyErr_SetString(PyExc_TypeError, "hello shape: (shape, sni) expected");
            goto done;
        }
        shape = PyTuple_GET_ITEM(res, 0);
        sni = PyTuple_GET_ITEM(res, 1);
        Py_INCREF(sni);
        memoise = 0;
    } else {
        shape = res;
        sni = hello_sni(h, body);
        if (!sni)
            goto done;
    }
    if (intern_shape(ids, shape, sni, &sni_id, &e) < 0)
        goto done;
    if (memoise) {
        /* Memoised only when the JA3 string built here is Python's: a shape where they would differ
         * keeps taking the Python path. */
        ja3 = PyObject_GetAttrString(shape, "ja3");
        if (!ja3)
            goto done;
        if (PyUnicode_Check(ja3) && PyUnicode_KIND(ja3) == PyUnicode_1BYTE_KIND &&
            PyUnicode_GET_LENGTH(ja3) == h->ja3.len && !memcmp(PyUnicode_1BYTE_DATA(ja3), h->ja3.p, (size_t)h->ja3.len)) {
            PyObject *value = PyBytes_FromStringAndSize((const char *)&e, sizeof e);
            int stored = value ? memo_store(memo, key, value, shape_entries) : -1;
            Py_XDECREF(value);
            if (stored < 0)
                goto done;
            if (h->ja3.len <= shape_max) {
                value = PyBytes_FromStringAndSize((const char *)&e.ids[2], 2 * sizeof(int32_t));
                stored = value ? memo_store(ja3_memo, ja3, value, shape_entries) : -1;
                Py_XDECREF(value);
                if (stored < 0)
                    goto done;
            }
        }
    }
row:
    if (buf_reserve(out, TLS_ROW) < 0)
        goto done;
    put_tls_row(out->p + out->len, c, r, sni_id, &e);
    out->len += TLS_ROW;
    status = 1;
done:
    Py_XDECREF(key);
    Py_XDECREF(res);
    Py_XDECREF(sni);
    Py_XDECREF(ja3);
    return status;
}

/* The row of one HTTP request: as tls_job. */
static int http_job(PyObject *const *cx, PyObject *prefixes, Py_ssize_t max_header, Py_ssize_t max_text,
                    const cols_t *c, int64_t r, const uint8_t *data, Py_ssize_t n, buf_t *out)
{
    PyObject *ids = cx[0], *errors = cx[1], *fallback = cx[6], *decode_error = cx[5];
    http_t h;
    int32_t v[4];
    int rc = http_walk_c(data, n, prefixes, max_header, &h);
    if (rc == WALK_OK) {
        if (intern_owned(ids, ascii_str(h.method.p, h.method.n), &v[0]) < 0 ||
            (h.has_host ? intern_owned(ids, safe_text(h.host.p, h.host.n, max_text), &v[1]) : (v[1] = -1, 0)) < 0 ||
            intern_owned(ids, safe_text(h.uri.p, h.uri.n, max_text), &v[2]) < 0 ||
            (h.has_ua ? intern_owned(ids, safe_text(h.ua.p, h.ua.n, max_text), &v[3]) : (v[3] = -1, 0)) < 0)
            return -1;
    } else if (rc != WALK_UNUSUAL) {
        return count_error(errors, REASON[rc]) < 0 ? -1 : 0;
    } else {
        PyObject *req = PyObject_CallFunction(fallback, "y#", (const char *)data, n);
        if (!req) {
            int taken = take_decode_error(decode_error, errors);
            return taken < 0 ? -1 : taken ? 0 : -1;
        }
        if (req == Py_None) {
            Py_DECREF(req);
            return count_error(errors, REASON[E_HTTP_MALFORMED]) < 0 ? -1 : 0;
        }
        static const char *const names[4] = {"method", "host", "uri", "user_agent"};
        for (int i = 0; i < 4; i++) {
            if (intern_owned(ids, PyObject_GetAttrString(req, names[i]), &v[i]) < 0) {
                Py_DECREF(req);
                return -1;
            }
        }
        Py_DECREF(req);
    }
    if (buf_reserve(out, HTTP_ROW) < 0)
        return -1;
    uint8_t *row = out->p + out->len;
    put_ends(row, c, r, 0);
    memcpy(row + HTTP_METHOD, &v[0], 4);
    memcpy(row + HTTP_HOST, &v[1], 4);
    memcpy(row + HTTP_URI, &v[2], 4);
    memcpy(row + HTTP_USER_AGENT, &v[3], 4);
    out->len += HTTP_ROW;
    return 1;
}

/* tcp_jobs(context, columns, first, second, arg, kind) -> (TLS rows, HTTP rows) as bytearrays.
 * context: (pool ids, errors, shape memo, shape_for_key, hello_fallback, DecodeError, http_fallback,
 *           method prefixes, shape_max_bytes, shape_entries, http_max_header, http_max_text, JA3 memo).
 * Job i: kind 0, a ClientHello body at bytes 9 .. 9 + arg of row first[i]'s payload (joined with row
 * second[i]'s when second[i] >= 0); kind 1, the HTTP request in the first arg bytes of first[i]'s. */
static PyObject *tcp_jobs(PyObject *self, PyObject *args)
{
    PyObject *ctx, *cols_obj;
    Py_buffer first_v, second_v, arg_v, kind_v;
    if (!PyArg_ParseTuple(args, "O!Oy*y*y*y*", &PyTuple_Type, &ctx, &cols_obj, &first_v, &second_v, &arg_v,
                          &kind_v))
        return NULL;
    PyObject *cx[8], *prefixes;
    Py_ssize_t shape_max, shape_entries, max_header, max_text;
    cols_t c = {0};
    hello_t h = {0};
    buf_t tls = {0}, http = {0};
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(ctx, "O!O!O!OOOOO!nnnnO!", &PyDict_Type, &cx[0], &PyDict_Type, &cx[1], &PyDict_Type,
                          &cx[2], &cx[3], &cx[4], &cx[5], &cx[6], &PyTuple_Type, &prefixes, &shape_max,
                          &shape_entries, &max_header, &max_text, &PyDict_Type, &cx[7]))
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(prefixes, i))) {
            PyErr_SetString(PyExc_TypeError, "method prefixes: bytes");
            goto done;
        }
    }
    if (cols_get(cols_obj, &c) < 0)
        goto done;
    Py_ssize_t count = first_v.len / 8;
    if (second_v.len != count * 8 || arg_v.len != count * 8 || kind_v.len != count) {
        PyErr_SetString(PyExc_ValueError, "tcp_jobs: job columns of unequal length");
        goto done;
    }
    const int64_t *first = first_v.buf, *second = second_v.buf, *arg = arg_v.buf;
    const uint8_t *kind = kind_v.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i + 2 * PREFETCH_JOBS < count) {
            prefetch_columns(&c, first[i + 2 * PREFETCH_JOBS]);
            prefetch_columns(&c, second[i + 2 * PREFETCH_JOBS]);
        }
        if (i + PREFETCH_JOBS < count) {
            prefetch_payload(&c, first[i + PREFETCH_JOBS], 2048);
            prefetch_payload(&c, second[i + PREFETCH_JOBS], 2048);
        }
        int64_t r = first[i];
        if (check_row(&c, r) < 0 || (second[i] >= 0 && check_row(&c, second[i]) < 0))
            goto done;
        const uint8_t *p;
        Py_ssize_t len;
        payload_of(&c, r, &p, &len);
        int status;
        if (kind[i] == 0) {
            if (second[i] >= 0) { /* (head + tail)[9 : 9 + length] */
                const uint8_t *q;
                Py_ssize_t qlen;
                payload_of(&c, second[i], &q, &qlen);
                h.joined.len = 0;
                if (buf_put(&h.joined, p, len) < 0 || buf_put(&h.joined, q, qlen) < 0)
                    goto done;
                p = h.joined.p;
                len = h.joined.len;
            }
            int64_t lo = len < 9 ? len : 9, hi = arg[i] < 0 ? lo : arg[i] > len - lo ? len : lo + arg[i];
            status = tls_job(cx, shape_max, shape_entries, &h, &c, r, p + lo, (Py_ssize_t)(hi - lo), &tls);
        } else {
            int64_t end = arg[i] < 0 ? 0 : arg[i] > len ? len : arg[i];
            status = http_job(cx, prefixes, max_header, max_text, &c, r, p, (Py_ssize_t)end, &http);
        }
        if (status < 0)
            goto done;
    }
    result = Py_BuildValue("(NN)", buf_to_bytearray(&tls), buf_to_bytearray(&http));
done:
    cols_release(&c);
    hello_free(&h);
    buf_free(&tls);
    buf_free(&http);
    PyBuffer_Release(&first_v);
    PyBuffer_Release(&second_v);
    PyBuffer_Release(&arg_v);
    PyBuffer_Release(&kind_v);
    return result;
}

/* first_sights(seen, keys, seqs, limit, out) -> None. extract.EventExtractor._first_sight for each
 * (direction key, sequence number) in order: out[i] = 1 the first time, and the pair is remembered in
 * the OrderedDict `seen`, whose oldest entries are dropped past `limit`. */
static PyObject *first_sights(PyObject *self, PyObject *args)
{
    PyObject *seen;
    Py_buffer keys_v, seqs_v, out_v;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!y*y*nw*", &PyDict_Type, &seen, &keys_v, &seqs_v, &limit, &out_v))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t count = keys_v.len / 8;
    if (seqs_v.len != count * 8 || out_v.len < count) {
        PyErr_SetString(PyExc_ValueError, "first_sights: columns of unequal length");
        goto done;
    }
    const uint64_t *keys = keys_v.buf;
    const int64_t *seqs = seqs_v.buf;
    uint8_t *out = out_v.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyTuple_New(2), *key = PyLong_FromUnsignedLongLong(keys[i]),
                 *seq = PyLong_FromLongLong(seqs[i]);
        if (!pair || !key || !seq) {
            Py_XDECREF(pair);
            Py_XDECREF(key);
            Py_XDECREF(seq);
            goto done;
        }
        PyTuple_SET_ITEM(pair, 0, key);
        PyTuple_SET_ITEM(pair, 1, seq);
        int known = PyDict_Contains(seen, pair);
        /* through the mapping protocol: an OrderedDict keeps its order only so */
        if (known < 0 || (!known && PyObject_SetItem(seen, pair, Py_None) < 0)) {
            Py_DECREF(pair);
            goto done;
        }
        Py_DECREF(pair);
        out[i] = !known;
        while (!known && PyDict_GET_SIZE(seen) > limit) {
            PyObject *oldest = PyObject_CallMethod(seen, "popitem", "(O)", Py_False);
            if (!oldest)
                goto done;
            Py_DECREF(oldest);
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&keys_v);
    PyBuffer_Release(&seqs_v);
    PyBuffer_Release(&out_v);
    return result;
}

/* ------------------------------------------------------------------------------------------------ */
static PyMethodDef methods[] = {
    {"first_sights", first_sights, METH_VARARGS, "Which stream starts are seen for the first time."},
    {"classify", classify, METH_VARARGS, "Candidate kinds, handshake lengths and direction keys of payload rows."},
    {"member", member, METH_VARARGS, "out[i] = values[i] in keys, for uint64 arrays."},
    {"dns_rows", dns_rows, METH_VARARGS, "DNS table rows of a batch's UDP DNS messages."},
    {"tcp_jobs", tcp_jobs, METH_VARARGS, "TLS and HTTP table rows of ClientHellos and requests in segments."},
    {"dns_walk", dns_walk, METH_VARARGS, "One DNS message, as fastpath.dns_parsed reduces it."},
    {"hello_walk", hello_walk, METH_VARARGS, "One ClientHello body's shape key and SNI."},
    {"hello_fingerprint", hello_fingerprint, METH_VARARGS, "One ClientHello body's memo key, JA3 and JA3 hash."},
    {"md5_hex", md5_hex_py, METH_VARARGS, "hashlib.md5(data).hexdigest()."},
    {"http_walk", http_walk, METH_VARARGS, "One HTTP request's method, target, Host and User-Agent."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_events",
    .m_doc = "Event extraction's compiled walks.",
    .m_size = -1,
    .m_methods = methods,
};

typedef struct {
    const char *name;
    long offset;
    const char *kind; /* numpy kind and size, as Schema.layout() has it */
} field_t;

static const field_t DNS_FIELDS[] = DNS_LAYOUT;
static const field_t ANSWER_FIELDS[] = ANSWER_LAYOUT;
static const field_t TLS_FIELDS[] = TLS_LAYOUT;
static const field_t HTTP_FIELDS[] = HTTP_LAYOUT;

/* {"field": (offset, kind), ..., "": (row size, "")} */
static PyObject *layout(const field_t *f)
{
    PyObject *d = PyDict_New();
    for (; d; f++) {
        PyObject *v = Py_BuildValue("(ls)", f->offset, f->kind);
        if (!v || PyDict_SetItemString(d, f->name ? f->name : "", v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
        if (!f->name)
            break;
    }
    return d;
}

PyMODINIT_FUNC PyInit__events(void)
{
    for (int i = 0; i < E_COUNT; i++) {
        if (REASON_TEXT[i] && !REASON[i] && !(REASON[i] = PyUnicode_InternFromString(REASON_TEXT[i])))
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    static const struct {
        const char *name;
        long value;
    } flags[] = {{"F_TCP", F_TCP},           {"F_UDP_DNS", F_UDP_DNS},       {"F_QUIC", F_QUIC},
                 {"F_TLS_START", F_TLS_START}, {"F_CCS_HELLO", F_CCS_HELLO}, {"F_SSLV2", F_SSLV2},
                 {"F_WEBSOCKET", F_WEBSOCKET}, {"F_HTTP_START", F_HTTP_START}, {"F_DNS_TCP", F_DNS_TCP},
                 {"F_IN_RECORD", F_IN_RECORD}, {"F_WHOLE_TLS", F_WHOLE_TLS}, {"F_WHOLE_HTTP", F_WHOLE_HTTP}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (PyModule_AddIntConstant(m, flags[i].name, flags[i].value) < 0)
            goto fail;
    }
    PyObject *layouts = Py_BuildValue("{sNsNsNsN}", "dns", layout(DNS_FIELDS), "answer", layout(ANSWER_FIELDS),
                                      "tls", layout(TLS_FIELDS), "http", layout(HTTP_FIELDS));
    if (!layouts || PyModule_AddObject(m, "LAYOUTS", layouts) < 0) {
        Py_XDECREF(layouts);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
