/* Bulk header decoding in one pass per packet: the compiled twin of headers.decode_headers_reference.
 *
 * The numpy reference resolves one layer for every row of a batch before the next layer; here each
 * packet walks the same state machine (link -> IP -> transport -> tunnel, at most MAX_TUNNEL_DEPTH
 * tunnels) on its own, which reaches the same final state because no row's decoding depends on
 * another row. Its quirks are kept on purpose, so that both give identical columns:
 *
 * - every read is clipped to the batch buffer (numpy's take(mode="clip")), not to the packet, so a
 *   header that runs past caplen reads the next packet's bytes, or the buffer's last byte;
 * - error reasons are counted per tunnel depth, so Python can rebuild the counts dict in the order
 *   the reference first meets each reason.
 *
 * Plain Ethernet/IPv4/TCP-or-UDP packets take a fast path with unclipped reads; anything it does not
 * handle is decoded again by the state machine from the start.
 *
 * Python allocates the output columns (one numpy array each, as long as the batch) and this fills
 * the first `kept` rows of each with the packets that decoded, in batch order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { ST_ETH = 1, ST_IP, ST_L4, ST_DONE, ST_NONIP, ST_BAD };

#define MAX_TUNNEL_DEPTH 3
#define VXLAN_PORT 4789
#define GENEVE_PORT 6081
#define GRE_IN_UDP_PORT 4754
#define V4_MAPPED_LO_BASE 0xFFFF00000000ULL
#define PREFETCH_AHEAD 12 /* packets; on bench-1G 8 to 32 are alike, 4 is slower */

/* Count slots; headers.py's _COUNT_SLOTS names them in this order. */
enum {
    R_TRUNCATED_LINK,
    R_BAD_IPV4_HEADER,
    R_BAD_IPV6_HEADER,
    R_BAD_IP_VERSION,
    R_TRUNCATED_TCP,
    R_TRUNCATED_UDP,
    REASONS_PER_DEPTH
};
enum {
    C_UNSUPPORTED_LINKTYPE = 0,
    C_DEPTH_BASE = 1,
    C_TUNNEL_TOO_DEEP = C_DEPTH_BASE + (MAX_TUNNEL_DEPTH + 1) * REASONS_PER_DEPTH,
    C_NON_IP,
    N_COUNTS
};

/* Output columns, in the order of the Headers fields; headers.py's _COLUMNS lists the same. */
enum {
    O_INDEX,
    O_TS,
    O_SRC_HI,
    O_SRC_LO,
    O_DST_HI,
    O_DST_LO,
    O_PROTO,
    O_SPORT,
    O_DPORT,
    O_TCP_FLAGS,
    O_SEQ,
    O_IP_LEN,
    O_PAYLOAD_OFF,
    O_PAYLOAD_CAPLEN,
    O_PAYLOAD_LEN,
    O_FRAGMENT,
    O_IP_ID,
    O_FRAG_OFF,
    O_MORE_FRAGS,
    O_TUNNELLED,
    N_OUTPUTS
};
static const Py_ssize_t output_itemsize[N_OUTPUTS] = {8, 8, 8, 8, 8, 8, 1, 8, 8, 8, 8, 8, 8, 8, 8, 1, 8, 8, 1, 1};

typedef struct {
    const uint8_t *buf;
    int64_t len; /* > 0: the caller never decodes over an empty buffer */
} bytes_t;

static inline uint16_t from_be16(uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap16(v);
#else
    return v;
#endif
}

static inline uint32_t from_be32(uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

static inline uint64_t from_be64(uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

/* Big-endian reads where each byte position is clipped to [0, len - 1], as take(mode="clip"). */
static inline int64_t rd8(const bytes_t *b, int64_t pos)
{
    if (pos < 0)
        pos = 0;
    else if (pos >= b->len)
        pos = b->len - 1;
    return b->buf[pos];
}

static inline int64_t rd16(const bytes_t *b, int64_t pos)
{
    if (pos >= 0 && pos <= b->len - 2) {
        uint16_t v;
        memcpy(&v, b->buf + pos, 2);
        return from_be16(v);
    }
    return (rd8(b, pos) << 8) | rd8(b, pos + 1);
}

static inline int64_t rd32(const bytes_t *b, int64_t pos)
{
    if (pos >= 0 && pos <= b->len - 4) {
        uint32_t v;
        memcpy(&v, b->buf + pos, 4);
        return from_be32(v);
    }
    return (rd16(b, pos) << 16) | rd16(b, pos + 2);
}

static inline uint64_t rd64(const bytes_t *b, int64_t pos)
{
    if (pos >= 0 && pos <= b->len - 8) {
        uint64_t v;
        memcpy(&v, b->buf + pos, 8);
        return from_be64(v);
    }
    return ((uint64_t)rd32(b, pos) << 32) | (uint64_t)rd32(b, pos + 4);
}

/* Column stores through memcpy: the buffers come from Python and need not be aligned. */
static inline void put_i64(uint8_t *col, Py_ssize_t row, int64_t v) { memcpy(col + row * 8, &v, 8); }
static inline void put_u64(uint8_t *col, Py_ssize_t row, uint64_t v) { memcpy(col + row * 8, &v, 8); }
static inline void put_f64(uint8_t *col, Py_ssize_t row, double v) { memcpy(col + row * 8, &v, 8); }

/* What one packet has decoded so far; the reference keeps the same values in per-row columns. */
typedef struct {
    int state, ipver, tunnelled, more_frags;
    int64_t end, pos;
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    int64_t proto, ip_len, ip_end, ip_id, frag_off;
    int64_t sport, dport, flags, seq, poff;
} packet_t;

static inline int is_ip_ethertype(int64_t et) { return et == 0x0800 || et == 0x86DD; }

static inline int ipver_of_ethertype(int64_t et) { return et == 0x0800 ? 4 : et == 0x86DD ? 6 : 0; }

static inline void ethertype_to_state(packet_t *pk, int64_t et)
{
    pk->state = is_ip_ethertype(et) ? ST_IP : ST_NONIP;
    pk->ipver = ipver_of_ethertype(et);
}

static inline void enter_tunnel(packet_t *pk, int64_t inner_pos, int new_state)
{
    pk->state = new_state;
    pk->pos = inner_pos;
    pk->ipver = 0;
    pk->tunnelled = 1;
}

/* GRE/Geneve payload by protocol type: Ethernet bridging or IP; anything else leaves the row as it is. */
static inline void enter_ethertype(packet_t *pk, int64_t inner_pos, int64_t ptype)
{
    if (ptype == 0x6558) {
        enter_tunnel(pk, inner_pos, ST_ETH);
    } else if (is_ip_ethertype(ptype)) {
        enter_tunnel(pk, inner_pos, ST_IP);
        pk->ipver = ipver_of_ethertype(ptype);
    }
}

static void link_layer(const bytes_t *b, packet_t *pk, int64_t start, int linktype, int64_t *counts)
{
    switch (linktype) {
    case 1: /* Ethernet */
        pk->state = ST_ETH;
        break;
    case 101: /* raw IP in its variants */
    case 12:
    case 14:
    case 228:
    case 229:
        pk->state = ST_IP;
        break;
    case 113: /* Linux cooked v1 */
        ethertype_to_state(pk, rd16(b, start + 14));
        pk->pos += 16;
        break;
    case 276: /* Linux cooked v2 */
        ethertype_to_state(pk, rd16(b, start));
        pk->pos += 20;
        break;
    case 0:   /* NULL: address family in host byte order */
    case 108: /* LOOP: network byte order; both are accepted for either */
    {
        int64_t fam_be = rd32(b, start);
        int64_t fam = fam_be < 256 ? fam_be : (int64_t)__builtin_bswap32((uint32_t)fam_be);
        int v4 = fam == 2, v6 = fam == 10 || fam == 24 || fam == 28 || fam == 30;
        pk->state = v4 || v6 ? ST_IP : ST_NONIP;
        pk->ipver = v4 ? 4 : v6 ? 6 : 0;
        pk->pos += 4;
        break;
    }
    case 9:  /* PPP */
    case 50: /* PPP in HDLC framing */
    {
        int64_t p = pk->pos;
        if (rd16(b, p) == 0xFF03)
            p += 2;
        int64_t proto = rd16(b, p);
        pk->state = proto == 0x0021 || proto == 0x0057 ? ST_IP : ST_NONIP;
        pk->ipver = proto == 0x0021 ? 4 : proto == 0x0057 ? 6 : 0;
        pk->pos = p + 2;
        break;
    }
    default:
        counts[C_UNSUPPORTED_LINKTYPE]++;
        pk->state = ST_BAD;
    }
}

static void ethernet(const bytes_t *b, packet_t *pk, int64_t *depth_counts)
{
    int64_t p = pk->pos;
    int truncated = p + 14 > pk->end;
    int64_t et = rd16(b, p + 12);
    p += 14;
    for (int tag = 0; tag < 3; tag++) { /* up to triple tagging */
        if (et != 0x8100 && et != 0x88A8 && et != 0x9100)
            break;
        et = rd16(b, p + 2);
        p += 4;
    }
    pk->pos = p;
    pk->state = truncated ? ST_BAD : is_ip_ethertype(et) ? ST_IP : ST_NONIP;
    pk->ipver = ipver_of_ethertype(et);
    if (truncated)
        depth_counts[R_TRUNCATED_LINK]++;
}

static void ipv4(const bytes_t *b, packet_t *pk, int64_t p, int64_t first_byte, int64_t *depth_counts)
{
    int64_t ihl = (first_byte & 0x0F) * 4;
    int64_t total = rd16(b, p + 2);
    int bad = ihl < 20 || p + 20 > pk->end || total < ihl;
    if (total == 0 && ihl >= 20) { /* TSO-offloaded capture: trust the captured length */
        total = pk->end - p;
        bad = 0;
    }
    int64_t ff = rd16(b, p + 6);
    pk->src_hi = 0;
    pk->dst_hi = 0;
    pk->src_lo = V4_MAPPED_LO_BASE | (uint64_t)rd32(b, p + 12);
    pk->dst_lo = V4_MAPPED_LO_BASE | (uint64_t)rd32(b, p + 16);
    pk->proto = rd8(b, p + 9);
    pk->ip_len = total;
    pk->ip_end = p + total;
    pk->ip_id = rd16(b, p + 4);
    pk->frag_off = (ff & 0x1FFF) * 8;
    pk->more_frags = (ff & 0x2000) != 0;
    pk->pos = p + ihl;
    pk->state = bad ? ST_BAD : ST_L4;
    if (bad)
        depth_counts[R_BAD_IPV4_HEADER]++;
}

static inline int is_ip6_generic_ext(int64_t nh) { return nh == 0 || nh == 43 || nh == 60; }

static void ipv6(const bytes_t *b, packet_t *pk, int64_t p, int64_t *depth_counts)
{
    int64_t plen = rd16(b, p + 4);
    int64_t nh = rd8(b, p + 6);
    int bad = p + 40 > pk->end;
    pk->src_hi = rd64(b, p + 8);
    pk->src_lo = rd64(b, p + 16);
    pk->dst_hi = rd64(b, p + 24);
    pk->dst_lo = rd64(b, p + 32);
    if (plen == 0) /* jumbogram or TSO */
        plen = pk->end - p - 40;
    pk->ip_len = plen + 40;
    pk->ip_end = p + 40 + plen;
    int64_t q = p + 40, frag_off = 0, frag_id = 0;
    int more_frags = 0;
    for (int step = 0; step < 8; step++) { /* bounded walk of the extension-header chain */
        int64_t advance;
        if (is_ip6_generic_ext(nh)) {
            advance = (rd8(b, q + 1) + 1) * 8;
        } else if (nh == 44) {
            int64_t fw = rd16(b, q + 2);
            frag_off = (fw >> 3) * 8;
            more_frags = (fw & 1) != 0;
            frag_id = rd32(b, q + 4);
            advance = 8;
        } else if (nh == 51) {
            advance = (rd8(b, q + 1) + 2) * 4;
        } else {
            break;
        }
        nh = rd8(b, q);
        q += advance;
    }
    bad |= is_ip6_generic_ext(nh) || nh == 44 || nh == 51 || q > pk->end;
    pk->proto = nh;
    pk->frag_off = frag_off;
    pk->more_frags = more_frags;
    pk->ip_id = frag_id;
    pk->pos = q;
    pk->state = bad ? ST_BAD : ST_L4;
    if (bad)
        depth_counts[R_BAD_IPV6_HEADER]++;
}

static void ip_layer(const bytes_t *b, packet_t *pk, int64_t *depth_counts)
{
    int64_t p = pk->pos;
    int64_t first_byte = rd8(b, p);
    int64_t version = first_byte >> 4;
    if (pk->ipver != 0 && version != pk->ipver)
        version = -1;
    if (version == 4) {
        ipv4(b, pk, p, first_byte, depth_counts);
    } else if (version == 6) {
        ipv6(b, pk, p, depth_counts);
    } else {
        pk->state = ST_BAD;
        depth_counts[R_BAD_IP_VERSION]++;
    }
}

static void gre(const bytes_t *b, packet_t *pk, int64_t q)
{
    int64_t fl = rd16(b, q), ptype = rd16(b, q + 2);
    /* Version 1 is PPTP's enhanced GRE: key always present, optional ack number (A bit). */
    int64_t words = ((fl & 0x8000) != 0) + ((fl & 0x2000) != 0) + ((fl & 0x1000) != 0) +
                    (((fl & 0x0007) == 1) && ((fl & 0x0080) != 0));
    int64_t inner = q + 4 + 4 * words;
    pk->state = ST_DONE;
    pk->poff = inner;
    if (ptype == 0x88BE) { /* ERSPAN type II carries an 8-byte header, type I none */
        enter_tunnel(pk, (fl & 0x1000) ? inner + 8 : inner, ST_ETH);
    } else if (ptype == 0x22EB) { /* ERSPAN type III, with its optional 8-byte subheader */
        enter_tunnel(pk, inner + 12 + 8 * (rd8(b, inner + 11) & 0x01), ST_ETH);
    } else if (ptype == 0x880B) { /* PPP in PPTP: optional address/control, 1- or 2-byte protocol */
        int64_t pq = inner;
        if (rd16(b, pq) == 0xFF03)
            pq += 2;
        int64_t first = rd8(b, pq), pproto;
        if (first & 1) {
            pproto = first;
            pq += 1;
        } else {
            pproto = rd16(b, pq);
            pq += 2;
        }
        enter_ethertype(pk, pq, pproto == 0x21 ? 0x0800 : pproto == 0x57 ? 0x86DD : 0);
    } else {
        enter_ethertype(pk, inner, ptype);
    }
}

/* The transport stage at one depth, in the order the reference assigns its columns. */
static void transport(const bytes_t *b, packet_t *pk, int depth, int64_t *depth_counts)
{
    int64_t p = pk->pos, pr = pk->proto;
    int later_fragment = pk->frag_off > 0; /* non-first fragments carry no transport header */
    int first_fragment = pk->more_frags && !later_fragment;
    int can_tunnel = depth < MAX_TUNNEL_DEPTH;
    int is_gre = 0;
    if (later_fragment) {
        pk->state = ST_DONE;
        pk->poff = p;
    } else if (pr == 6) {
        int64_t doff = (rd8(b, p + 12) >> 4) * 4;
        int bad = p + 20 > pk->end || doff < 20;
        pk->sport = rd16(b, p);
        pk->dport = rd16(b, p + 2);
        pk->seq = rd32(b, p + 4);
        pk->flags = rd8(b, p + 13);
        pk->poff = p + doff;
        pk->state = bad ? ST_BAD : ST_DONE;
        if (bad)
            depth_counts[R_TRUNCATED_TCP]++;
    } else if (pr == 17) {
        int bad = p + 8 > pk->end;
        pk->sport = rd16(b, p);
        pk->dport = rd16(b, p + 2);
        pk->poff = p + 8;
        pk->state = bad ? ST_BAD : ST_DONE;
        if (bad)
            depth_counts[R_TRUNCATED_UDP]++;
        if (can_tunnel) {
            int ok = !bad && !first_fragment;
            if (ok && pk->dport == VXLAN_PORT && (rd8(b, p + 8) & 0x08)) {
                enter_tunnel(pk, p + 16, ST_ETH);
            } else if (ok && pk->dport == GENEVE_PORT && (rd8(b, p + 8) >> 6) == 0) {
                int64_t inner_at = p + 16 + (rd8(b, p + 8) & 0x3F) * 4;
                enter_ethertype(pk, inner_at, rd16(b, p + 10));
            }
            /* GRE-in-UDP (RFC 8086); as in the reference, a first fragment qualifies too */
            if (pk->dport == GRE_IN_UDP_PORT && pk->state == ST_DONE) {
                p += 8;
                is_gre = 1;
            }
        }
    } else if (pr == 47) {
        is_gre = 1;
    }
    if (is_gre && can_tunnel)
        gre(b, pk, p);
    if (!later_fragment && (pr == 4 || pr == 41) && can_tunnel) {
        enter_tunnel(pk, p, ST_IP);
        pk->ipver = pr == 4 ? 4 : 6;
    }
    if (first_fragment) /* its payload is reassembled from the L4 header on */
        pk->poff = p;
    if (!later_fragment && pr != 6 && pr != 17 && pr != 47 && pr != 4 && pr != 41) {
        pk->state = ST_DONE;
        pk->poff = p;
    }
    /* GRE or IP-in-IP at the maximum depth stays in ST_L4. */
}

/* The common case, Ethernet (untagged or one 802.1Q tag) / IPv4 without options or fragmentation /
 * TCP or UDP off the tunnel ports, with every byte it reads inside the buffer: the same result as the
 * state machine, without its clipping and dispatch. Returns 0, with `pk` to be discarded, for any
 * other packet. */
static inline int fast_path(const bytes_t *b, packet_t *pk, int64_t start)
{
    if (start < 0 || start > b->len - 64 || start + 14 > pk->end)
        return 0;
    const uint8_t *frame = b->buf + start;
    uint16_t word;
    memcpy(&word, frame + 12, 2);
    int64_t q = 14; /* the IPv4 header, from the frame start */
    if (from_be16(word) == 0x8100) {
        memcpy(&word, frame + 16, 2);
        q = 18;
    }
    if (from_be16(word) != 0x0800 || frame[q] != 0x45)
        return 0;
    const uint8_t *ip = frame + q;
    uint32_t addr;
    memcpy(&word, ip + 2, 2);
    int64_t total = from_be16(word);
    memcpy(&word, ip + 6, 2);
    if (total < 20 || (from_be16(word) & 0x3FFF)) /* bad, TSO or a fragment */
        return 0;
    /* A cut IPv4 header fails the transport checks below too. At most frame + 38: its 20 bytes are
     * in the 64 checked. */
    const uint8_t *l4 = ip + 20;
    int64_t l4_pos = start + q + 20, proto = ip[9];
    memcpy(&word, l4 + 2, 2);
    int64_t dport = from_be16(word);
    if (proto == 6) {
        int64_t doff = (l4[12] >> 4) * 4;
        if (l4_pos + 20 > pk->end || doff < 20)
            return 0;
        memcpy(&addr, l4 + 4, 4);
        pk->seq = from_be32(addr);
        pk->flags = l4[13];
        pk->poff = l4_pos + doff;
    } else if (proto == 17) {
        if (l4_pos + 8 > pk->end || dport == VXLAN_PORT || dport == GENEVE_PORT || dport == GRE_IN_UDP_PORT)
            return 0;
        pk->poff = l4_pos + 8;
    } else {
        return 0;
    }
    memcpy(&word, l4, 2);
    pk->sport = from_be16(word);
    pk->dport = dport;
    memcpy(&addr, ip + 12, 4);
    pk->src_lo = V4_MAPPED_LO_BASE | from_be32(addr);
    memcpy(&addr, ip + 16, 4);
    pk->dst_lo = V4_MAPPED_LO_BASE | from_be32(addr);
    memcpy(&word, ip + 4, 2);
    pk->ip_id = from_be16(word);
    pk->proto = proto;
    pk->ip_len = total;
    pk->ip_end = start + q + total;
    pk->state = ST_DONE;
    return 1;
}

/* One packet through the states, in the reference's order; 1 when it decoded (ST_DONE). */
static int state_machine(const bytes_t *b, packet_t *pk, int64_t start, int linktype, int64_t *counts)
{
    link_layer(b, pk, start, linktype, counts);
    for (int depth = 0; depth <= MAX_TUNNEL_DEPTH; depth++) {
        int64_t *depth_counts = counts + C_DEPTH_BASE + depth * REASONS_PER_DEPTH;
        if (pk->state == ST_ETH)
            ethernet(b, pk, depth_counts);
        if (pk->state == ST_IP)
            ip_layer(b, pk, depth_counts);
        if (pk->state != ST_L4)
            break;
        transport(b, pk, depth, depth_counts);
    }
    if (pk->state == ST_ETH || pk->state == ST_IP || pk->state == ST_L4)
        counts[C_TUNNEL_TOO_DEEP]++; /* GRE or IP-in-IP still to peel at the maximum depth */
    else if (pk->state == ST_NONIP)
        counts[C_NON_IP]++;
    return pk->state == ST_DONE;
}

/* A per-packet input column: any 1-D buffer (strides allowed: the reader slices its caplen out of a
 * wider array) of n items of `itemsize` bytes. */
typedef struct {
    Py_buffer view;
    const uint8_t *base;
    Py_ssize_t stride;
} column_t;

static int column_open(column_t *c, PyObject *obj, Py_ssize_t n, Py_ssize_t itemsize)
{
    if (PyObject_GetBuffer(obj, &c->view, PyBUF_STRIDES) < 0)
        return -1;
    if (c->view.ndim != 1 || c->view.shape[0] != n || c->view.itemsize != itemsize) {
        PyBuffer_Release(&c->view);
        PyErr_SetString(PyExc_ValueError, "decode: a packet column has the wrong length or item size");
        return -1;
    }
    c->base = c->view.buf;
    c->stride = c->view.strides[0];
    return 0;
}

static inline const uint8_t *column_at(const column_t *c, Py_ssize_t i) { return c->base + i * c->stride; }

static inline int64_t column_i64(const column_t *c, Py_ssize_t i)
{
    int64_t v;
    memcpy(&v, column_at(c, i), 8);
    return v;
}

/* decode(data, offset, caplen, linktype, ts, outputs, counts) -> kept rows.
 * data: uint8 buffer (not empty); offset, caplen: int64 per packet; linktype: uint16; ts: float64;
 * outputs: the N_OUTPUTS writable contiguous columns, each at least as long as the batch; counts:
 * N_COUNTS int64, added to. */
static PyObject *decode(PyObject *self, PyObject *args)
{
    Py_buffer data, counts_view;
    PyObject *offset_obj, *caplen_obj, *linktype_obj, *ts_obj, *outputs;
    column_t in[4];
    Py_buffer out[N_OUTPUTS];
    int have_in = 0, have_out = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*OOOOOw*", &data, &offset_obj, &caplen_obj, &linktype_obj, &ts_obj,
                          &outputs, &counts_view))
        return NULL;
    Py_ssize_t n = PyObject_Length(offset_obj);
    if (n < 0)
        goto done;
    if (data.len <= 0 || counts_view.len != N_COUNTS * 8) {
        PyErr_SetString(PyExc_ValueError, "decode: empty data or wrong counts size");
        goto done;
    }
    PyObject *in_objs[4] = {offset_obj, caplen_obj, linktype_obj, ts_obj};
    const Py_ssize_t in_itemsize[4] = {8, 8, 2, 8};
    for (; have_in < 4; have_in++)
        if (column_open(&in[have_in], in_objs[have_in], n, in_itemsize[have_in]) < 0)
            goto done;
    if (!PyTuple_Check(outputs) || PyTuple_GET_SIZE(outputs) != N_OUTPUTS) {
        PyErr_SetString(PyExc_ValueError, "decode: outputs must be a tuple of the Headers columns");
        goto done;
    }
    for (; have_out < N_OUTPUTS; have_out++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outputs, have_out), &out[have_out], PyBUF_WRITABLE) < 0)
            goto done;
        if (out[have_out].len < n * output_itemsize[have_out]) {
            have_out++;
            PyErr_SetString(PyExc_ValueError, "decode: an output column is too short");
            goto done;
        }
    }

    const bytes_t b = {data.buf, data.len};
    const column_t *offsets = &in[0], *caplens = &in[1], *linktypes = &in[2], *times = &in[3];
    uint8_t *col[N_OUTPUTS];
    for (int c = 0; c < N_OUTPUTS; c++)
        col[c] = out[c].buf;
    int64_t counts[N_COUNTS];
    memcpy(counts, counts_view.buf, sizeof counts);
    Py_ssize_t kept = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) { /* headers are scattered through the buffer: fetch ahead */
            int64_t ahead = column_i64(offsets, i + PREFETCH_AHEAD);
            if (ahead >= 0 && ahead <= b.len - 64) {
                __builtin_prefetch(b.buf + ahead);
                __builtin_prefetch(b.buf + ahead + 63); /* Ethernet + IPv4 + TCP often span two lines */
            }
        }
        int64_t start = column_i64(offsets, i);
        uint16_t lt;
        memcpy(&lt, column_at(linktypes, i), 2);
        int64_t end = start + column_i64(caplens, i);
        packet_t pk = {.pos = start, .end = end};
        if (!(lt == 1 && fast_path(&b, &pk, start))) {
            pk = (packet_t){.pos = start, .end = end};
            if (!state_machine(&b, &pk, start, lt, counts))
                continue;
        }
        int64_t wire_end = pk.ip_end, cap_end = pk.end < wire_end ? pk.end : wire_end;
        int64_t payload_len = wire_end - pk.poff, payload_caplen = cap_end - pk.poff;
        double t;
        memcpy(&t, column_at(times, i), 8);
        put_i64(col[O_INDEX], kept, i);
        put_f64(col[O_TS], kept, t);
        put_u64(col[O_SRC_HI], kept, pk.src_hi);
        put_u64(col[O_SRC_LO], kept, pk.src_lo);
        put_u64(col[O_DST_HI], kept, pk.dst_hi);
        put_u64(col[O_DST_LO], kept, pk.dst_lo);
        col[O_PROTO][kept] = (uint8_t)pk.proto;
        put_i64(col[O_SPORT], kept, pk.sport);
        put_i64(col[O_DPORT], kept, pk.dport);
        put_i64(col[O_TCP_FLAGS], kept, pk.flags);
        put_i64(col[O_SEQ], kept, pk.seq);
        put_i64(col[O_IP_LEN], kept, pk.ip_len);
        put_i64(col[O_PAYLOAD_OFF], kept, pk.poff);
        put_i64(col[O_PAYLOAD_CAPLEN], kept, payload_caplen > 0 ? payload_caplen : 0);
        put_i64(col[O_PAYLOAD_LEN], kept, payload_len > 0 ? payload_len : 0);
        col[O_FRAGMENT][kept] = pk.more_frags || pk.frag_off > 0;
        put_i64(col[O_IP_ID], kept, pk.ip_id);
        put_i64(col[O_FRAG_OFF], kept, pk.frag_off);
        col[O_MORE_FRAGS][kept] = (uint8_t)pk.more_frags;
        col[O_TUNNELLED][kept] = (uint8_t)pk.tunnelled;
        kept++;
    }
    Py_END_ALLOW_THREADS

    memcpy(counts_view.buf, counts, sizeof counts);
    result = PyLong_FromSsize_t(kept);
done:
    for (int c = 0; c < have_out; c++)
        PyBuffer_Release(&out[c]);
    for (int c = 0; c < have_in; c++)
        PyBuffer_Release(&in[c].view);
    PyBuffer_Release(&data);
    PyBuffer_Release(&counts_view);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS, "Decode the link/IP/transport/tunnel headers of a batch into columns."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_headers",
    .m_doc = "Bulk header decoding.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__headers(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "N_COUNTS", N_COUNTS) < 0 ||
              PyModule_AddIntConstant(m, "N_OUTPUTS", N_OUTPUTS) < 0 ||
              PyModule_AddIntConstant(m, "MAX_TUNNEL_DEPTH", MAX_TUNNEL_DEPTH) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
