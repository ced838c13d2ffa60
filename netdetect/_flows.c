/* Connection tracking per packet against a hash table of open connections.
 *
 * The compiled engine of netdetect.flows.FlowTracker; ReferenceFlowTracker there is the numpy
 * algorithm it reproduces row for row. Each packet of a batch, in batch order, finds its open
 * connection by the same 64-bit key as flows.canonical() and either extends it or closes it and
 * opens the next one. Per key that is the order in which the reference walks its sorted batch, so
 * the same rules give the same rows:
 *
 * - within a batch a packet starts a new connection after an idle gap (gap > timeout) or when it
 *   is a pure SYN and a FIN/RST was seen since the key's previous pure SYN in this batch, or since
 *   the key's first packet in this batch (the anchor, restarted every batch);
 * - the first packet of a key in a batch continues the open connection when the gap is within the
 *   timeout, unless it is a pure SYN and the connection has seen a FIN/RST; a continued
 *   connection keeps its start time and client but takes its endpoints from that packet, as the
 *   reference's merge does.
 *
 * Closed connections are written as packed CONN_DTYPE rows, open ones export to and import from
 * packed STATE_DTYPE rows (layouts below, checked against the dtypes in flows.py). Inputs are
 * numpy columns passed as buffers; their lengths and alignment are checked, their values may be
 * anything.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "_native.h"

#define TCP_IDLE_S 300.0
#define UDP_IDLE_S 60.0
#define OTHER_IDLE_S 60.0

/* Activity marks (see flows.py): a side's payload packet after that side was idle longer than
 * MARK_GAP_S; payloads shorter than MARK_MIN_PAYLOAD (pure ACKs, TCP keep-alive probes) do not count.
 * A connection keeps its latest MAX_MARKS_PER_CONN marks (older ones are shed and counted) and
 * hands over a side's marks when it closes only if that side has at least MIN_SIDE_MARKS. */
#define MARK_GAP_S 1.0
#define MARK_MIN_PAYLOAD 2
#define MAX_MARKS_PER_CONN 4096u
#define MIN_SIDE_MARKS 4u
#define MARKS_FIRST_CAPACITY 4u
#define DEFAULT_MAX_HELD_MARKS 4000000u /* flows.MAX_HELD_MARKS: ~40 MB of rings at most */

enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_ACK = 0x10 };

/* CONN_DTYPE (netdetect/model.py), packed. */
enum {
    CONN_TS = 0, CONN_END_TS = 8, CONN_CLIENT = 16, CONN_SERVER = 32, CONN_CLIENT_PORT = 48,
    CONN_SERVER_PORT = 50, CONN_PROTO = 52, CONN_BYTES_OUT = 53, CONN_BYTES_IN = 61,
    CONN_PACKETS_OUT = 69, CONN_PACKETS_IN = 77, CONN_UID = 85, CONN_SIZE = 93
};

/* MARK_DTYPE (netdetect/tables/marks.py) and OPEN_MARK_DTYPE (netdetect/flows.py), packed. */
enum { MARK_UID = 0, MARK_TS = 8, MARK_FROM_SERVER = 16, MARK_SIZE = 17 };
enum { OM_KEY = 0, OM_TS = 8, OM_FROM_B = 16, OM_SIZE = 17 };

/* STATE_DTYPE (netdetect/flows.py), packed. */
enum {
    ST_KEY = 0, ST_TS = 8, ST_END_TS = 16, ST_A_HI = 24, ST_A_LO = 32, ST_A_PORT = 40, ST_B_HI = 42,
    ST_B_LO = 50, ST_B_PORT = 58, ST_PROTO = 60, ST_CLIENT_IS_A = 61, ST_FINRST = 62,
    ST_BYTES_AB = 63, ST_BYTES_BA = 71, ST_PK_AB = 79, ST_PK_BA = 87, ST_LAST_PAYLOAD_AB = 95,
    ST_LAST_PAYLOAD_BA = 103, ST_SIZE = 111
};

#define MIN_CAPACITY 1024u

/* One connection's latest marks: a ring of times, then one side byte (1: sent by b) per time.
 * It grows by doubling until MAX_MARKS_PER_CONN, then overwrites its oldest mark. */
typedef struct {
    uint32_t cap, len, head; /* head: the oldest mark once the ring is full */
    double ts[];
} marks_t;

static inline uint8_t *mark_sides(marks_t *m) { return (uint8_t *)(m->ts + m->cap); }

typedef struct {
    /* What a lookup and the per-packet tests read comes first, next to the key. */
    uint64_t key;
    uint32_t stamp; /* the batch that last touched this key (0: none since a load) */
    uint16_t a_port, b_port;
    uint8_t used, proto, client_is_a, finrst;
    uint8_t anchor_finrst; /* a FIN/RST since the anchor, in the stamped batch */
    /* Marks: most connections have one or two (a request, a response), held in `held.inline_ts` with
     * their sides as bits of inline_sides; a third moves them to a ring (has_ring). */
    uint8_t has_ring, n_inline, inline_sides;
    double ts, end_ts;
    /* Counters wrap as uint64 (numpy's int64 sums wrap too) instead of overflowing signed. */
    uint64_t bytes_ab, bytes_ba, pk_ab, pk_ba;
    uint64_t a_hi, a_lo, b_hi, b_lo;
    double last_payload[2]; /* per side (0: a, 1: b) its last payload time, -inf before any */
    union {
        double inline_ts[2];
        struct {
            marks_t *ring;
            uint32_t per_side[2]; /* marks in the ring by side: closing reads no ring to skip it */
        } r;
    } held;
} flow_t;

typedef struct {
    PyObject_HEAD
    flow_t *table; /* open addressing, linear probing, capacity a power of two */
    size_t capacity, count;
    uint64_t seed; /* slots are a keyed mix of the key: crafted tuples cannot pile onto one run */
    uint32_t stamp;
    /* Closed connections waiting for take(), CONN_SIZE bytes each, in a bytearray that take()
     * hands over whole: numpy wraps it without a copy. rows points into it. */
    PyObject *rows_array;
    uint8_t *rows;
    size_t rows_used, rows_cap;
    uint64_t *scratch; /* per batch: every packet's key, then its slot hash */
    size_t scratch_cap;
    /* Marks of closed connections, MARK_SIZE bytes each, handed over by take_marks() as rows are. */
    PyObject *marks_array;
    uint8_t *mark_rows;
    size_t marks_used, marks_cap;
    uint64_t marks_shed; /* since the last take_marks_shed() */
    size_t held_marks, max_held_marks; /* marks of open connections, and their budget (trim_marks) */
    void *small_free;    /* free list of small rings (see small_ring_alloc) */
    void **blocks;       /* the blocks they are carved from, freed with the tracker */
    size_t n_blocks, blocks_cap;
} Tracker;

static inline size_t home_slot(const Tracker *t, uint64_t key) { return mix64(key ^ t->seed) & (t->capacity - 1); }

static inline double idle_timeout(uint8_t proto)
{
    return proto == 6 ? TCP_IDLE_S : proto == 17 ? UDP_IDLE_S : OTHER_IDLE_S;
}

static inline void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void put_f64(uint8_t *p, double v) { memcpy(p, &v, 8); }
static inline void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline double get_f64(const uint8_t *p)
{
    double v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint16_t get_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* --- table ---------------------------------------------------------------------------------- */

#if defined(__linux__) && defined(MADV_HUGEPAGE)
#define HUGE_TABLE_BYTES (2u << 20)
#endif

/* Zeroed slots. A large table is mapped and asks for huge pages: slots are hit at random, so with
 * 4 KiB pages nearly every packet would also miss the TLB, and growing would fault page by page. */
static flow_t *table_alloc(size_t capacity)
{
#ifdef HUGE_TABLE_BYTES
    size_t bytes = capacity * sizeof(flow_t);
    if (bytes >= HUGE_TABLE_BYTES) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        madvise(p, bytes, MADV_HUGEPAGE); /* advice only: a refusal leaves normal pages */
        return p;
    }
#endif
    return calloc(capacity, sizeof(flow_t));
}

static void table_free(flow_t *table, size_t capacity)
{
    if (!table)
        return;
#ifdef HUGE_TABLE_BYTES
    size_t bytes = capacity * sizeof(flow_t);
    if (bytes >= HUGE_TABLE_BYTES) {
        munmap(table, bytes);
        return;
    }
#endif
    free(table);
}

static int table_resize(Tracker *t, size_t capacity)
{
    flow_t *fresh = table_alloc(capacity);
    if (!fresh) {
        PyErr_NoMemory();
        return -1;
    }
    flow_t *old = t->table;
    size_t old_capacity = t->capacity;
    t->table = fresh;
    t->capacity = capacity;
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old[i].used)
            continue;
        size_t s = home_slot(t, old[i].key);
        while (fresh[s].used)
            s = (s + 1) & (capacity - 1);
        fresh[s] = old[i];
    }
    table_free(old, old_capacity);
    return 0;
}

/* Room for `extra` more keys at a load of at most 0.7 (linear probing stays short there). */
static int table_reserve(Tracker *t, size_t extra)
{
    size_t need = t->count + extra;
    if (t->capacity && need * 10 <= t->capacity * 7)
        return 0;
    size_t capacity = t->capacity ? t->capacity : MIN_CAPACITY;
    while (need * 10 > capacity * 7) {
        if (capacity > SIZE_MAX / 2 / sizeof(flow_t)) {
            PyErr_NoMemory();
            return -1;
        }
        capacity *= 2;
    }
    return table_resize(t, capacity);
}

/* After expiry or shedding: give memory back once the table is mostly empty. */
static void table_maybe_shrink(Tracker *t)
{
    if (t->capacity <= MIN_CAPACITY || t->count * 10 >= t->capacity)
        return;
    size_t capacity = MIN_CAPACITY;
    while (t->count * 10 > capacity * 3)
        capacity *= 2;
    if (capacity < t->capacity && table_resize(t, capacity) < 0)
        PyErr_Clear(); /* keeping the larger table is fine */
}

/* The slot holding key, or the empty slot where it belongs (the table always has one). */
static inline size_t table_find(const Tracker *t, uint64_t key)
{
    size_t mask = t->capacity - 1, s = home_slot(t, key);
    while (t->table[s].used && t->table[s].key != key)
        s = (s + 1) & mask;
    return s;
}

/* Backward-shift deletion: later members of the probe run move up so no tombstones are needed. */
static void table_delete_slot(Tracker *t, size_t hole)
{
    size_t mask = t->capacity - 1, j = hole;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->table[j].used)
            break;
        size_t home = home_slot(t, t->table[j].key);
        /* The entry at j may fill the hole unless its home lies cyclically in (hole, j]. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->table[hole] = t->table[j];
            hole = j;
        }
    }
    t->table[hole].used = 0;
    t->count--;
}

/* Kept between batches: a fresh buffer per batch would cost its page faults every time. */
static int scratch_reserve(Tracker *t, size_t packets)
{
    if (packets <= t->scratch_cap)
        return 0;
    if (packets > SIZE_MAX / 2 / sizeof(uint64_t)) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t *fresh = malloc(2 * packets * sizeof(uint64_t));
    if (!fresh) {
        PyErr_NoMemory();
        return -1;
    }
    free(t->scratch);
    t->scratch = fresh;
    t->scratch_cap = packets;
    return 0;
}

/* --- closed connections --------------------------------------------------------------------- */

static int rows_reserve(Tracker *t, size_t extra)
{
    if (t->rows_used + extra <= t->rows_cap)
        return 0;
    size_t cap = t->rows_cap ? t->rows_cap : 4096;
    while (cap < t->rows_used + extra) {
        if (cap > PY_SSIZE_T_MAX / 2 / CONN_SIZE) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    if (!t->rows_array && !(t->rows_array = PyByteArray_FromStringAndSize(NULL, 0)))
        return -1;
    if (PyByteArray_Resize(t->rows_array, (Py_ssize_t)(cap * CONN_SIZE)) < 0)
        return -1; /* the array is left as it was */
    t->rows = (uint8_t *)PyByteArray_AS_STRING(t->rows_array);
    t->rows_cap = cap;
    return 0;
}

/* --- activity marks ------------------------------------------------------------------------- */

static int marks_reserve(Tracker *t, size_t extra)
{
    if (t->marks_used + extra <= t->marks_cap)
        return 0;
    size_t cap = t->marks_cap ? t->marks_cap : 4096;
    while (cap < t->marks_used + extra) {
        if (cap > PY_SSIZE_T_MAX / 2 / MARK_SIZE)
            return -1;
        cap *= 2;
    }
    if (!t->marks_array && !(t->marks_array = PyByteArray_FromStringAndSize(NULL, 0)))
        return -1;
    if (PyByteArray_Resize(t->marks_array, (Py_ssize_t)(cap * MARK_SIZE)) < 0)
        return -1;
    t->mark_rows = (uint8_t *)PyByteArray_AS_STRING(t->marks_array);
    t->marks_cap = cap;
    return 0;
}

/* Most connections have one or two marks: their first, smallest rings come from a free list of
 * equal chunks carved from blocks, as a malloc and a free per connection cost more than the marks. */
#define SMALL_RING_BYTES (sizeof(marks_t) + MARKS_FIRST_CAPACITY * (sizeof(double) + 1))
#define SMALL_CHUNK ((SMALL_RING_BYTES + 7) & ~(size_t)7)
#define SMALL_PER_BLOCK 1024

static marks_t *small_ring_alloc(Tracker *t)
{
    if (!t->small_free) {
        if (t->n_blocks == t->blocks_cap) {
            size_t cap = t->blocks_cap ? 2 * t->blocks_cap : 16;
            void **blocks = realloc(t->blocks, cap * sizeof(void *));
            if (!blocks)
                return NULL;
            t->blocks = blocks;
            t->blocks_cap = cap;
        }
        char *block = malloc(SMALL_CHUNK * SMALL_PER_BLOCK);
        if (!block)
            return NULL;
        t->blocks[t->n_blocks++] = block;
        for (size_t i = 0; i < SMALL_PER_BLOCK; i++) {
            void **chunk = (void **)(block + i * SMALL_CHUNK);
            *chunk = t->small_free;
            t->small_free = chunk;
        }
    }
    void **chunk = t->small_free;
    t->small_free = *chunk;
    return (marks_t *)chunk;
}

/* A ring of len marks has the first capacity exactly when len fits it (rings only grow when full). */
static void ring_free(Tracker *t, marks_t *m, uint32_t len)
{
    if (!m)
        return;
    if (len <= MARKS_FIRST_CAPACITY) {
        *(void **)m = t->small_free;
        t->small_free = m;
    } else {
        free(m);
    }
}

/* Appends a mark to the connection's marks; returns how many marks were shed (an overwritten oldest
 * mark, or this one when no memory could be had). */
static unsigned push_mark(Tracker *t, flow_t *f, double ts, uint8_t from_b)
{
    if (!f->has_ring) {
        if (f->n_inline < 2) {
            f->held.inline_ts[f->n_inline] = ts;
            f->inline_sides |= (uint8_t)((from_b != 0) << f->n_inline);
            f->n_inline++;
            t->held_marks++;
            return 0;
        }
        marks_t *m = small_ring_alloc(t);
        if (!m)
            return 1;
        m->cap = MARKS_FIRST_CAPACITY;
        m->len = 2;
        m->head = 0;
        memcpy(m->ts, f->held.inline_ts, sizeof f->held.inline_ts);
        mark_sides(m)[0] = f->inline_sides & 1;
        mark_sides(m)[1] = (f->inline_sides >> 1) & 1;
        uint32_t on_b = (f->inline_sides & 1) + ((f->inline_sides >> 1) & 1);
        f->held.r.ring = m;
        f->held.r.per_side[0] = 2 - on_b;
        f->held.r.per_side[1] = on_b;
        f->has_ring = 1;
        f->n_inline = f->inline_sides = 0;
    }
    marks_t *m = f->held.r.ring;
    if (m->len == m->cap && m->cap < MAX_MARKS_PER_CONN) { /* not wrapped yet: head is 0 */
        uint32_t cap = 2 * m->cap < MAX_MARKS_PER_CONN ? 2 * m->cap : MAX_MARKS_PER_CONN;
        marks_t *grown = malloc(sizeof(marks_t) + (size_t)cap * (sizeof(double) + 1));
        if (!grown)
            return 1;
        grown->cap = cap;
        grown->len = m->len;
        grown->head = 0;
        memcpy(grown->ts, m->ts, m->len * sizeof(double));
        memcpy(mark_sides(grown), mark_sides(m), m->len);
        ring_free(t, m, m->len);
        f->held.r.ring = m = grown;
    }
    f->held.r.per_side[from_b != 0]++;
    if (m->len < m->cap) {
        m->ts[m->len] = ts;
        mark_sides(m)[m->len++] = from_b;
        t->held_marks++;
        return 0;
    }
    f->held.r.per_side[mark_sides(m)[m->head] != 0]--;
    m->ts[m->head] = ts;
    mark_sides(m)[m->head] = from_b;
    m->head = (m->head + 1) % m->cap;
    return 1;
}

static inline uint32_t marks_len(const flow_t *f)
{
    return f->has_ring ? f->held.r.per_side[0] + f->held.r.per_side[1] : f->n_inline;
}

/* The connection's i-th mark, oldest first. */
static inline void mark_at(const flow_t *f, uint32_t i, double *ts, uint8_t *from_b)
{
    if (!f->has_ring) {
        *ts = f->held.inline_ts[i];
        *from_b = (f->inline_sides >> i) & 1;
        return;
    }
    const marks_t *m = f->held.r.ring;
    uint32_t j = (m->head + i) % m->cap;
    *ts = m->ts[j];
    *from_b = ((const uint8_t *)(m->ts + m->cap))[j];
}

static void free_marks(Tracker *t, flow_t *f)
{
    uint32_t len = marks_len(f);
    t->held_marks -= len;
    if (f->has_ring)
        ring_free(t, f->held.r.ring, len);
    f->has_ring = f->n_inline = f->inline_sides = 0;
}

/* The connection's marks as MARK_DTYPE rows, oldest first, of the sides with enough of them; the
 * ring is freed. */
static void emit_marks(Tracker *t, flow_t *f, uint64_t uid)
{
    uint32_t len = marks_len(f);
    if (len < MIN_SIDE_MARKS) { /* the common case: no side can have enough */
        free_marks(t, f);
        return;
    }
    const uint32_t *per_side = f->held.r.per_side; /* len > 2: the marks are in a ring */
    int keep[2] = {per_side[0] >= MIN_SIDE_MARKS, per_side[1] >= MIN_SIDE_MARKS};
    size_t n = (keep[0] ? per_side[0] : 0) + (keep[1] ? per_side[1] : 0);
    if (n && marks_reserve(t, n) < 0) {
        PyErr_Clear();
        t->marks_shed += n; /* no memory for them: counted, never silent */
        n = 0;
    }
    for (uint32_t i = 0; n && i < len; i++) {
        double ts;
        uint8_t from_b;
        mark_at(f, i, &ts, &from_b);
        if (!keep[from_b != 0])
            continue;
        uint8_t *r = t->mark_rows + t->marks_used++ * MARK_SIZE;
        put_u64(r + MARK_UID, uid);
        put_f64(r + MARK_TS, ts);
        r[MARK_FROM_SERVER] = (from_b != 0) == (f->client_is_a != 0);
    }
    free_marks(t, f);
}

/* The connection id of CONN_DTYPE's uid: hash_columns(key, start time bits), as flows.py. */
static inline uint64_t connection_uid(const flow_t *f)
{
    uint64_t bits;
    memcpy(&bits, &f->ts, 8);
    return mix64(mix64(f->key) ^ bits);
}

/* One CONN_DTYPE row, oriented by who opened the connection, and its marks (the ring is freed).
 * Room for the row was reserved by the caller. */
static void emit(Tracker *t, flow_t *f)
{
    uint8_t *r = t->rows + t->rows_used * CONN_SIZE;
    int ca = f->client_is_a;
    uint64_t uid = connection_uid(f);
    put_u64(r + CONN_UID, uid);
    emit_marks(t, f, uid);
    put_f64(r + CONN_TS, f->ts);
    put_f64(r + CONN_END_TS, f->end_ts);
    put_be64(r + CONN_CLIENT, ca ? f->a_hi : f->b_hi);
    put_be64(r + CONN_CLIENT + 8, ca ? f->a_lo : f->b_lo);
    put_be64(r + CONN_SERVER, ca ? f->b_hi : f->a_hi);
    put_be64(r + CONN_SERVER + 8, ca ? f->b_lo : f->a_lo);
    put_u16(r + CONN_CLIENT_PORT, ca ? f->a_port : f->b_port);
    put_u16(r + CONN_SERVER_PORT, ca ? f->b_port : f->a_port);
    r[CONN_PROTO] = f->proto;
    put_u64(r + CONN_BYTES_OUT, ca ? f->bytes_ab : f->bytes_ba);
    put_u64(r + CONN_BYTES_IN, ca ? f->bytes_ba : f->bytes_ab);
    put_u64(r + CONN_PACKETS_OUT, ca ? f->pk_ab : f->pk_ba);
    put_u64(r + CONN_PACKETS_IN, ca ? f->pk_ba : f->pk_ab);
    t->rows_used++;
}

/* Memory stays bounded however many connections ping: when the open connections hold more than
 * max_held_marks marks, every connection keeps at most its latest L, the largest L that fits the
 * budget (the longest rings give way first); the rest are shed and counted. Run after a batch, as
 * the reference does, so both engines trim the same rings. */
static int trim_marks(Tracker *t)
{
    if (t->held_marks <= t->max_held_marks)
        return 0;
    uint32_t lo = 0, hi = MAX_MARKS_PER_CONN; /* the largest L with sum(min(len, L)) <= budget */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        size_t sum = 0;
        for (size_t i = 0; i < t->capacity && sum <= t->max_held_marks; i++)
            if (t->table[i].used) {
                uint32_t len = marks_len(&t->table[i]);
                sum += len < mid ? len : mid;
            }
        if (sum <= t->max_held_marks)
            lo = mid;
        else
            hi = mid - 1;
    }
    double *ts = malloc((size_t)MAX_MARKS_PER_CONN * sizeof(double));
    uint8_t *sides = malloc(MAX_MARKS_PER_CONN);
    if (!ts || !sides) {
        free(ts);
        free(sides);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < t->capacity; i++) {
        flow_t *f = &t->table[i];
        uint32_t len = f->used ? marks_len(f) : 0;
        if (len <= lo)
            continue;
        for (uint32_t k = 0; k < lo; k++)
            mark_at(f, len - lo + k, &ts[k], &sides[k]);
        free_marks(t, f);
        t->marks_shed += len - lo;
        for (uint32_t k = 0; k < lo; k++)
            if (push_mark(t, f, ts[k], sides[k]))
                t->marks_shed++; /* no memory for it */
    }
    free(ts);
    free(sides);
    return 0;
}

/* --- per packet ----------------------------------------------------------------------------- */

typedef struct {
    double ts;
    uint64_t a_hi, a_lo, b_hi, b_lo;
    uint64_t size;
    int64_t payload;
    uint16_t a_port, b_port;
    uint8_t proto, from_b, client_is_a, pure_syn, finrst;
} packet_t;

static inline void take_endpoints(flow_t *f, const packet_t *p)
{
    f->a_hi = p->a_hi;
    f->a_lo = p->a_lo;
    f->b_hi = p->b_hi;
    f->b_lo = p->b_lo;
    f->a_port = p->a_port;
    f->b_port = p->b_port;
    f->proto = p->proto;
}

static inline void start_connection(flow_t *f, const packet_t *p)
{
    take_endpoints(f, p);
    f->ts = p->ts;
    f->client_is_a = p->client_is_a;
    f->finrst = 0;
    f->bytes_ab = f->bytes_ba = f->pk_ab = f->pk_ba = 0;
    f->last_payload[0] = f->last_payload[1] = -INFINITY;
    f->has_ring = f->n_inline = f->inline_sides = 0; /* a closed connection's ring was freed at emit */
}

static inline void count_packet(flow_t *f, const packet_t *p)
{
    f->end_ts = p->ts;
    f->finrst |= p->finrst;
    if (p->from_b) {
        f->bytes_ba += p->size;
        f->pk_ba++;
    } else {
        f->bytes_ab += p->size;
        f->pk_ab++;
    }
}

/* A payload after its side was idle longer than MARK_GAP_S is a mark (the side's first one too). */
static inline void mark_activity(Tracker *t, flow_t *f, const packet_t *p)
{
    if (p->payload < MARK_MIN_PAYLOAD)
        return;
    if (p->ts - f->last_payload[p->from_b] > MARK_GAP_S)
        t->marks_shed += push_mark(t, f, p->ts, p->from_b);
    f->last_payload[p->from_b] = p->ts;
}

typedef struct {
    Py_buffer ts, src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport, flags, ip_len, payload_len;
} columns_t;

static void columns_release(columns_t *c)
{
    Py_buffer *all[] = {&c->ts, &c->src_hi, &c->src_lo, &c->dst_hi, &c->dst_lo,
                        &c->proto, &c->sport, &c->dport, &c->flags, &c->ip_len, &c->payload_len};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        PyBuffer_Release(all[i]);
}

/* Packet i's endpoints in key order (as flows.canonical); with_key: and its key. */
static inline __attribute__((always_inline)) uint64_t canonical(const columns_t *c, Py_ssize_t i, packet_t *p,
                                                                int with_key)
{
    uint64_t sh = ((const uint64_t *)c->src_hi.buf)[i], sl = ((const uint64_t *)c->src_lo.buf)[i];
    uint64_t dh = ((const uint64_t *)c->dst_hi.buf)[i], dl = ((const uint64_t *)c->dst_lo.buf)[i];
    int64_t sp = ((const int64_t *)c->sport.buf)[i], dp = ((const int64_t *)c->dport.buf)[i];
    int from_b = sh > dh || (sh == dh && (sl > dl || (sl == dl && sp > dp)));
    uint64_t ap = (uint64_t)(from_b ? dp : sp), bp = (uint64_t)(from_b ? sp : dp);
    p->a_hi = from_b ? dh : sh;
    p->a_lo = from_b ? dl : sl;
    p->b_hi = from_b ? sh : dh;
    p->b_lo = from_b ? sl : dl;
    p->a_port = (uint16_t)ap;
    p->b_port = (uint16_t)bp;
    p->proto = ((const uint8_t *)c->proto.buf)[i];
    p->from_b = (uint8_t)from_b;
    int64_t fl = ((const int64_t *)c->flags.buf)[i];
    p->pure_syn = p->proto == 6 && (fl & (TH_SYN | TH_ACK)) == TH_SYN;
    p->finrst = p->proto == 6 && (fl & (TH_FIN | TH_RST)) != 0;
    /* Who opened it, judged from the first packet (as flows._client_is_sender). */
    int sender_is_client = (fl & (TH_SYN | TH_ACK)) == TH_SYN             ? 1
                           : (fl & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) ? 0
                                                                          : !(sp < 1024 && dp >= 1024);
    p->client_is_a = (uint8_t)(sender_is_client ^ from_b);
    if (!with_key)
        return 0;
    /* hash_columns(proto, a_hi, a_lo, a_port, b_hi, b_lo, b_port) */
    uint64_t key = mix64(p->proto);
    key = mix64(key ^ p->a_hi);
    key = mix64(key ^ p->a_lo);
    key = mix64(key ^ ap);
    key = mix64(key ^ p->b_hi);
    key = mix64(key ^ p->b_lo);
    return mix64(key ^ bp);
}

/* How many packets ahead the table entry is fetched: enough to cover a miss to memory. */
#define PREFETCH_AHEAD 16

/* add(ts f8, src_hi u8, src_lo u8, dst_hi u8, dst_lo u8, proto u1, sport i8, dport i8,
 *     tcp_flags i8, ip_len i8, payload_len i8) -> rows closed. Every column has one value per packet. */
static PyObject *Tracker_add(Tracker *t, PyObject *args)
{
    columns_t c;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*y*", &c.ts, &c.src_hi, &c.src_lo, &c.dst_hi,
                          &c.dst_lo, &c.proto, &c.sport, &c.dport, &c.flags, &c.ip_len, &c.payload_len))
        return NULL;
    Py_ssize_t n = c.ts.len / 8;
    const Py_buffer *wide[] = {&c.ts, &c.src_hi, &c.src_lo, &c.dst_hi, &c.dst_lo,
                               &c.sport, &c.dport, &c.flags, &c.ip_len, &c.payload_len};
    int ok = c.ts.len % 8 == 0 && c.proto.len == n;
    for (size_t i = 0; ok && i < sizeof wide / sizeof wide[0]; i++)
        ok = wide[i]->len == n * 8 && (uintptr_t)wide[i]->buf % 8 == 0;
    if (!ok) {
        columns_release(&c);
        PyErr_SetString(PyExc_ValueError, "columns must be aligned and of one length");
        return NULL;
    }
    const double *ts = c.ts.buf;
    const int64_t *ip_len = c.ip_len.buf, *payload_len = c.payload_len.buf;

    /* Keys first, in a pass of independent hashes, so the walk below can fetch entries ahead. */
    if (scratch_reserve(t, (size_t)n) < 0) {
        columns_release(&c);
        return NULL;
    }
    uint64_t *keys = t->scratch, *slot_hash = t->scratch + n;
    for (Py_ssize_t i = 0; i < n; i++) {
        packet_t p;
        keys[i] = canonical(&c, i, &p, 1);
        slot_hash[i] = mix64(keys[i] ^ t->seed);
    }

    if (t->stamp == UINT32_MAX) { /* before the stamp wraps, forget every key's last batch */
        for (size_t i = 0; i < t->capacity; i++)
            t->table[i].stamp = 0;
        t->stamp = 0;
    }
    uint32_t stamp = ++t->stamp;
    size_t before = t->rows_used;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* Room first, so a failed allocation leaves every packet either fully counted or not. */
        if (table_reserve(t, 1) < 0 || rows_reserve(t, 1) < 0) {
            columns_release(&c);
            return NULL;
        }
        size_t mask = t->capacity - 1;
        if (i + PREFETCH_AHEAD < n) {
            const flow_t *ahead = &t->table[slot_hash[i + PREFETCH_AHEAD] & mask];
            __builtin_prefetch(ahead, 1);
            __builtin_prefetch((const char *)ahead + 64, 1); /* an entry spans two or three lines */
            __builtin_prefetch((const char *)ahead + sizeof(flow_t) - 1, 1);
        }
        packet_t p;
        uint64_t key = keys[i];
        canonical(&c, i, &p, 0);
        p.ts = ts[i];
        p.size = (uint64_t)ip_len[i];
        p.payload = payload_len[i];

        size_t s = slot_hash[i] & mask;
        while (t->table[s].used && t->table[s].key != key)
            s = (s + 1) & mask;
        flow_t *f = &t->table[s];
        if (!f->used) {
            f->used = 1;
            f->key = key;
            t->count++;
            start_connection(f, &p);
            f->stamp = stamp;
            f->anchor_finrst = p.finrst;
        } else if (f->stamp != stamp) { /* first packet of an open key in this batch */
            int resume = p.ts - f->end_ts <= idle_timeout(f->proto) && !(p.pure_syn && f->finrst);
            if (resume) {
                take_endpoints(f, &p);
            } else {
                emit(t, f);
                start_connection(f, &p);
            }
            f->stamp = stamp;
            f->anchor_finrst = p.finrst;
        } else {
            int split = p.ts - f->end_ts > idle_timeout(p.proto);
            if (p.pure_syn) {
                split |= f->anchor_finrst;
                f->anchor_finrst = p.finrst;
            } else {
                f->anchor_finrst |= p.finrst;
            }
            if (split) {
                emit(t, f);
                start_connection(f, &p);
            }
        }
        count_packet(f, &p);
        mark_activity(t, f, &p);
    }
    columns_release(&c);
    if (trim_marks(t) < 0)
        return NULL;
    return PyLong_FromSize_t(t->rows_used - before);
}

/* --- whole-table operations ----------------------------------------------------------------- */

/* Closes the open connection of each key listed (keys, not slots: a deletion moves entries). */
static int close_keys(Tracker *t, const uint64_t *keys, size_t k)
{
    if (rows_reserve(t, k) < 0)
        return -1;
    for (size_t i = 0; i < k; i++) {
        size_t s = table_find(t, keys[i]);
        if (!t->table[s].used)
            continue;
        emit(t, &t->table[s]);
        table_delete_slot(t, s);
    }
    return 0;
}

/* expire(now) -> rows closed: connections idle longer than their timeout at `now`. */
static PyObject *Tracker_expire(Tracker *t, PyObject *arg)
{
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    size_t k = 0, before = t->rows_used;
    uint64_t *keys = malloc((t->count ? t->count : 1) * sizeof(uint64_t));
    if (!keys)
        return PyErr_NoMemory();
    for (size_t i = 0; i < t->capacity; i++) {
        const flow_t *f = &t->table[i];
        if (f->used && now - f->end_ts > idle_timeout(f->proto))
            keys[k++] = f->key;
    }
    int rc = close_keys(t, keys, k);
    free(keys);
    if (rc < 0)
        return NULL;
    table_maybe_shrink(t);
    return PyLong_FromSize_t(t->rows_used - before);
}

/* Shedding order: oldest end_ts first (NaN last, as numpy sorts), then key (the reference's
 * stable sort over a key-sorted array). */
typedef struct {
    double end_ts;
    uint64_t key;
} shed_t;

static inline int sheds_before(const shed_t *x, const shed_t *y)
{
    int xn = x->end_ts != x->end_ts, yn = y->end_ts != y->end_ts;
    if (xn != yn)
        return yn;
    if (!xn && x->end_ts != y->end_ts)
        return x->end_ts < y->end_ts;
    return x->key < y->key;
}

static void sift_down(shed_t *heap, size_t size, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < size && sheds_before(&heap[top], &heap[l]))
            top = l;
        if (r < size && sheds_before(&heap[top], &heap[r]))
            top = r;
        if (top == i)
            return;
        shed_t tmp = heap[i];
        heap[i] = heap[top];
        heap[top] = tmp;
        i = top;
    }
}

/* shed(n) -> rows closed: the n open connections first in shedding order (all when n >= open). */
static PyObject *Tracker_shed(Tracker *t, PyObject *arg)
{
    Py_ssize_t want = PyLong_AsSsize_t(arg);
    if (want == -1 && PyErr_Occurred())
        return NULL;
    if (want <= 0 || !t->count)
        return PyLong_FromLong(0);
    size_t over = (size_t)want < t->count ? (size_t)want : t->count, size = 0, before = t->rows_used;
    /* A max-heap of the `over` first so far: O(open * log(over)) without sorting the table. */
    shed_t *heap = malloc(over * sizeof(shed_t));
    uint64_t *keys = malloc(over * sizeof(uint64_t));
    if (!heap || !keys) {
        free(heap);
        free(keys);
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < t->capacity; i++) {
        const flow_t *f = &t->table[i];
        if (!f->used)
            continue;
        shed_t s = {f->end_ts, f->key};
        if (size < over) {
            size_t j = size++;
            heap[j] = s;
            while (j && sheds_before(&heap[(j - 1) / 2], &heap[j])) {
                shed_t tmp = heap[j];
                heap[j] = heap[(j - 1) / 2];
                heap[(j - 1) / 2] = tmp;
                j = (j - 1) / 2;
            }
        } else if (sheds_before(&s, &heap[0])) {
            heap[0] = s;
            sift_down(heap, size, 0);
        }
    }
    for (size_t i = 0; i < size; i++)
        keys[i] = heap[i].key;
    free(heap);
    int rc = close_keys(t, keys, size);
    free(keys);
    if (rc < 0)
        return NULL;
    table_maybe_shrink(t);
    return PyLong_FromSize_t(t->rows_used - before);
}

static void table_clear(Tracker *t)
{
    for (size_t i = 0; i < t->capacity; i++)
        if (t->table[i].used)
            free_marks(t, &t->table[i]);
    table_free(t->table, t->capacity);
    t->table = NULL;
    t->capacity = t->count = 0;
    t->held_marks = 0;
}

/* flush() -> rows closed: every open connection. */
static PyObject *Tracker_flush(Tracker *t, PyObject *Py_UNUSED(ignored))
{
    if (rows_reserve(t, t->count) < 0)
        return NULL;
    size_t before = t->rows_used;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->table[i].used)
            emit(t, &t->table[i]);
    table_clear(t);
    if (table_reserve(t, 0) < 0)
        return NULL;
    return PyLong_FromSize_t(t->rows_used - before);
}

/* take() -> bytearray of the closed CONN_DTYPE rows, in the order they closed; the list starts over. */
static PyObject *Tracker_take(Tracker *t, PyObject *Py_UNUSED(ignored))
{
    if (!t->rows_array)
        return PyByteArray_FromStringAndSize(NULL, 0);
    if (PyByteArray_Resize(t->rows_array, (Py_ssize_t)(t->rows_used * CONN_SIZE)) < 0)
        return NULL;
    PyObject *out = t->rows_array;
    t->rows_array = NULL;
    t->rows = NULL;
    t->rows_used = t->rows_cap = 0;
    return out;
}

/* export_state(buffer) -> rows written: open connections as STATE_DTYPE rows, in table order. */
static PyObject *Tracker_export_state(Tracker *t, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "w*", &view))
        return NULL;
    if (view.len != (Py_ssize_t)(t->count * ST_SIZE)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "buffer must hold one state row per open connection");
        return NULL;
    }
    uint8_t *r = view.buf;
    for (size_t i = 0; i < t->capacity; i++) {
        const flow_t *f = &t->table[i];
        if (!f->used)
            continue;
        put_u64(r + ST_KEY, f->key);
        put_f64(r + ST_TS, f->ts);
        put_f64(r + ST_END_TS, f->end_ts);
        put_u64(r + ST_A_HI, f->a_hi);
        put_u64(r + ST_A_LO, f->a_lo);
        put_u16(r + ST_A_PORT, f->a_port);
        put_u64(r + ST_B_HI, f->b_hi);
        put_u64(r + ST_B_LO, f->b_lo);
        put_u16(r + ST_B_PORT, f->b_port);
        r[ST_PROTO] = f->proto;
        r[ST_CLIENT_IS_A] = f->client_is_a;
        r[ST_FINRST] = f->finrst;
        put_u64(r + ST_BYTES_AB, f->bytes_ab);
        put_u64(r + ST_BYTES_BA, f->bytes_ba);
        put_u64(r + ST_PK_AB, f->pk_ab);
        put_u64(r + ST_PK_BA, f->pk_ba);
        put_f64(r + ST_LAST_PAYLOAD_AB, f->last_payload[0]);
        put_f64(r + ST_LAST_PAYLOAD_BA, f->last_payload[1]);
        r += ST_SIZE;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSize_t(t->count);
}

/* import_state(buffer): replace the open connections with STATE_DTYPE rows (a repeated key: the
 * later row wins). */
static PyObject *Tracker_import_state(Tracker *t, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    if (view.len % ST_SIZE) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "buffer must hold whole state rows");
        return NULL;
    }
    size_t n = (size_t)view.len / ST_SIZE;
    table_clear(t);
    if (table_reserve(t, n) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *r = view.buf;
    for (size_t i = 0; i < n; i++, r += ST_SIZE) {
        uint64_t key = get_u64(r + ST_KEY);
        flow_t *f = &t->table[table_find(t, key)];
        if (!f->used)
            t->count++;
        memset(f, 0, sizeof *f);
        f->used = 1;
        f->key = key;
        f->ts = get_f64(r + ST_TS);
        f->end_ts = get_f64(r + ST_END_TS);
        f->a_hi = get_u64(r + ST_A_HI);
        f->a_lo = get_u64(r + ST_A_LO);
        f->a_port = get_u16(r + ST_A_PORT);
        f->b_hi = get_u64(r + ST_B_HI);
        f->b_lo = get_u64(r + ST_B_LO);
        f->b_port = get_u16(r + ST_B_PORT);
        f->proto = r[ST_PROTO];
        f->client_is_a = r[ST_CLIENT_IS_A] != 0;
        f->finrst = r[ST_FINRST] != 0;
        f->bytes_ab = get_u64(r + ST_BYTES_AB);
        f->bytes_ba = get_u64(r + ST_BYTES_BA);
        f->pk_ab = get_u64(r + ST_PK_AB);
        f->pk_ba = get_u64(r + ST_PK_BA);
        f->last_payload[0] = get_f64(r + ST_LAST_PAYLOAD_AB);
        f->last_payload[1] = get_f64(r + ST_LAST_PAYLOAD_BA);
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* export_marks() -> bytearray of OPEN_MARK_DTYPE rows: every open connection's marks, oldest first
 * per connection, connections in table order. */
static PyObject *Tracker_export_marks(Tracker *t, PyObject *Py_UNUSED(ignored))
{
    size_t n = 0;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->table[i].used)
            n += marks_len(&t->table[i]);
    if (n > (size_t)PY_SSIZE_T_MAX / OM_SIZE)
        return PyErr_NoMemory();
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * OM_SIZE));
    if (!out)
        return NULL;
    uint8_t *r = (uint8_t *)PyByteArray_AS_STRING(out);
    for (size_t i = 0; i < t->capacity; i++) {
        const flow_t *f = &t->table[i];
        if (!f->used)
            continue;
        for (uint32_t k = 0, len = marks_len(f); k < len; k++, r += OM_SIZE) {
            double ts;
            uint8_t from_b;
            mark_at(f, k, &ts, &from_b);
            put_u64(r + OM_KEY, f->key);
            put_f64(r + OM_TS, ts);
            r[OM_FROM_B] = from_b != 0;
        }
    }
    return out;
}

/* import_marks(buffer): append OPEN_MARK_DTYPE rows, in order, to the rings of the open connections
 * they name (after import_state; rows of keys not open are ignored, a ring keeps its latest). */
static PyObject *Tracker_import_marks(Tracker *t, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    if (view.len % OM_SIZE) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "buffer must hold whole mark rows");
        return NULL;
    }
    const uint8_t *r = view.buf;
    for (Py_ssize_t i = 0; i < view.len / OM_SIZE; i++, r += OM_SIZE) {
        flow_t *f = &t->table[table_find(t, get_u64(r + OM_KEY))];
        if (f->used)
            (void)push_mark(t, f, get_f64(r + OM_TS), r[OM_FROM_B] != 0); /* a saved ring fits a ring */
    }
    PyBuffer_Release(&view);
    if (trim_marks(t) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* take_marks() -> bytearray of the closed connections' MARK_DTYPE rows; the list starts over. */
static PyObject *Tracker_take_marks(Tracker *t, PyObject *Py_UNUSED(ignored))
{
    if (!t->marks_array)
        return PyByteArray_FromStringAndSize(NULL, 0);
    if (PyByteArray_Resize(t->marks_array, (Py_ssize_t)(t->marks_used * MARK_SIZE)) < 0)
        return NULL;
    PyObject *out = t->marks_array;
    t->marks_array = NULL;
    t->mark_rows = NULL;
    t->marks_used = t->marks_cap = 0;
    return out;
}

/* take_marks_shed() -> marks shed since the last call. */
static PyObject *Tracker_take_marks_shed(Tracker *t, PyObject *Py_UNUSED(ignored))
{
    uint64_t n = t->marks_shed;
    t->marks_shed = 0;
    return PyLong_FromUnsignedLongLong(n);
}

/* --- type ----------------------------------------------------------------------------------- */

static PyObject *Tracker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    unsigned long long seed = 0, max_held_marks = DEFAULT_MAX_HELD_MARKS;
    static char *kwlist[] = {"seed", "max_held_marks", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|KK", kwlist, &seed, &max_held_marks))
        return NULL;
    Tracker *t = (Tracker *)type->tp_alloc(type, 0);
    if (!t)
        return NULL;
    t->seed = seed;
    t->max_held_marks = (size_t)max_held_marks;
    if (table_reserve(t, 0) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static void Tracker_dealloc(Tracker *t)
{
    table_clear(t);
    for (size_t i = 0; i < t->n_blocks; i++)
        free(t->blocks[i]);
    free(t->blocks);
    Py_XDECREF(t->rows_array);
    Py_XDECREF(t->marks_array);
    free(t->scratch);
    PyTypeObject *type = Py_TYPE(t);
    type->tp_free((PyObject *)t);
    Py_DECREF(type);
}

static PyObject *Tracker_get_open(Tracker *t, void *Py_UNUSED(closure)) { return PyLong_FromSize_t(t->count); }
static PyObject *Tracker_get_pending(Tracker *t, void *Py_UNUSED(closure)) { return PyLong_FromSize_t(t->rows_used); }

static PyGetSetDef Tracker_getset[] = {
    {"open", (getter)Tracker_get_open, NULL, "Open connections.", NULL},
    {"pending", (getter)Tracker_get_pending, NULL, "Closed connections waiting for take().", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Tracker_methods[] = {
    {"add", (PyCFunction)Tracker_add, METH_VARARGS, "Track one batch of packet columns."},
    {"expire", (PyCFunction)Tracker_expire, METH_O, "Close connections idle at a time."},
    {"shed", (PyCFunction)Tracker_shed, METH_O, "Close the n longest-idle connections."},
    {"flush", (PyCFunction)Tracker_flush, METH_NOARGS, "Close every open connection."},
    {"take", (PyCFunction)Tracker_take, METH_NOARGS, "Closed connections as CONN_DTYPE rows in a bytearray."},
    {"export_state", (PyCFunction)Tracker_export_state, METH_VARARGS, "Write open connections as state rows."},
    {"import_state", (PyCFunction)Tracker_import_state, METH_VARARGS, "Replace open connections from state rows."},
    {"export_marks", (PyCFunction)Tracker_export_marks, METH_NOARGS, "Open connections' marks as rows."},
    {"import_marks", (PyCFunction)Tracker_import_marks, METH_VARARGS, "Add marks to open connections."},
    {"take_marks", (PyCFunction)Tracker_take_marks, METH_NOARGS, "Closed connections' marks as MARK_DTYPE rows."},
    {"take_marks_shed", (PyCFunction)Tracker_take_marks_shed, METH_NOARGS, "Marks shed since the last call."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Tracker_slots[] = {
    {Py_tp_new, Tracker_new},
    {Py_tp_dealloc, Tracker_dealloc},
    {Py_tp_methods, Tracker_methods},
    {Py_tp_getset, Tracker_getset},
    {Py_tp_doc, "Tracker(seed=0, max_held_marks=4000000): open connections in a hash table, closed ones as "
                "CONN_DTYPE rows."},
    {0, NULL},
};

static PyType_Spec Tracker_spec = {
    .name = "netdetect._flows.Tracker",
    .basicsize = sizeof(Tracker),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = Tracker_slots,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_flows",
    .m_doc = "Connection tracking in C (the engine of netdetect.flows.FlowTracker).",
    .m_size = -1,
};

/* Field offsets, for flows.py to check against its dtypes before using this module. */
static PyObject *layout(const char *const *names, const int *offsets, int size)
{
    PyObject *fields = PyList_New(0);
    if (!fields)
        return NULL;
    for (int i = 0; names[i]; i++) {
        PyObject *item = Py_BuildValue("(si)", names[i], offsets[i]);
        if (!item || PyList_Append(fields, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(fields);
            return NULL;
        }
        Py_DECREF(item);
    }
    return Py_BuildValue("(Ni)", fields, size);
}

PyMODINIT_FUNC PyInit__flows(void)
{
    static const char *const conn_names[] = {"ts", "end_ts", "client", "server", "client_port", "server_port",
                                             "proto", "bytes_out", "bytes_in", "packets_out", "packets_in", "uid",
                                             NULL};
    static const int conn_offsets[] = {CONN_TS, CONN_END_TS, CONN_CLIENT, CONN_SERVER,
                                       CONN_CLIENT_PORT, CONN_SERVER_PORT, CONN_PROTO, CONN_BYTES_OUT,
                                       CONN_BYTES_IN, CONN_PACKETS_OUT, CONN_PACKETS_IN, CONN_UID};
    static const char *const state_names[] = {"key", "ts", "end_ts", "a_hi", "a_lo", "a_port", "b_hi", "b_lo",
                                              "b_port", "proto", "client_is_a", "finrst", "bytes_ab",
                                              "bytes_ba", "pk_ab", "pk_ba", "last_payload_ab", "last_payload_ba",
                                              NULL};
    static const int state_offsets[] = {ST_KEY, ST_TS, ST_END_TS, ST_A_HI, ST_A_LO, ST_A_PORT,
                                        ST_B_HI, ST_B_LO, ST_B_PORT, ST_PROTO, ST_CLIENT_IS_A, ST_FINRST,
                                        ST_BYTES_AB, ST_BYTES_BA, ST_PK_AB, ST_PK_BA, ST_LAST_PAYLOAD_AB,
                                        ST_LAST_PAYLOAD_BA};
    static const char *const mark_names[] = {"uid", "ts", "from_server", NULL};
    static const int mark_offsets[] = {MARK_UID, MARK_TS, MARK_FROM_SERVER};
    static const char *const open_mark_names[] = {"key", "ts", "from_b", NULL};
    static const int open_mark_offsets[] = {OM_KEY, OM_TS, OM_FROM_B};
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    PyObject *type = PyType_FromSpec(&Tracker_spec);
    if (PyModule_AddObject(m, "Tracker", type) < 0) {
        Py_XDECREF(type);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *conn = layout(conn_names, conn_offsets, CONN_SIZE);
    if (PyModule_AddObject(m, "CONN_LAYOUT", conn) < 0) {
        Py_XDECREF(conn);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *state = layout(state_names, state_offsets, ST_SIZE);
    if (PyModule_AddObject(m, "STATE_LAYOUT", state) < 0) {
        Py_XDECREF(state);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *marks = layout(mark_names, mark_offsets, MARK_SIZE);
    if (PyModule_AddObject(m, "MARK_LAYOUT", marks) < 0) {
        Py_XDECREF(marks);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *open_marks = layout(open_mark_names, open_mark_offsets, OM_SIZE);
    if (PyModule_AddObject(m, "OPEN_MARK_LAYOUT", open_marks) < 0) {
        Py_XDECREF(open_marks);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
