/* Record walks of capture files: the loops that hop from one record header to the next.
 *
 * They replace Python loops that cost ~0.3 us a record; everything else about a chunk (fields,
 * checks, warnings) stays in numpy/Python in pcap.py and pcapng.py. Offsets come back as the bytes
 * of an int64 array in native order (np.frombuffer(..., np.int64)).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t load_u32(const uint8_t *p, int big)
{
    uint32_t v;
    memcpy(&v, p, 4);
    if (big)
        v = __builtin_bswap32(v);
    return v;
}

/* A growable int64 array kept in a bytes object; shrunk to size at the end. */
typedef struct {
    PyObject *bytes;
    Py_ssize_t used, cap;
} offsets_t;

static int offsets_push(offsets_t *o, int64_t value)
{
    if (o->used == o->cap) {
        Py_ssize_t cap = o->cap ? o->cap * 2 : 1024;
        if (_PyBytes_Resize(&o->bytes, cap * (Py_ssize_t)sizeof(int64_t)) < 0)
            return -1;
        o->cap = cap;
    }
    ((int64_t *)PyBytes_AS_STRING(o->bytes))[o->used++] = value;
    return 0;
}

static PyObject *offsets_finish(offsets_t *o)
{
    if (_PyBytes_Resize(&o->bytes, o->used * (Py_ssize_t)sizeof(int64_t)) < 0)
        return NULL;
    return o->bytes;
}

static int offsets_init(offsets_t *o, Py_ssize_t expect)
{
    o->cap = expect > 16 ? expect : 16;
    o->used = 0;
    o->bytes = PyBytes_FromStringAndSize(NULL, o->cap * (Py_ssize_t)sizeof(int64_t));
    return o->bytes ? 0 : -1;
}

/* walk_pcap(buffer, end, header_bytes, big_endian) -> (offsets, fields).
 * As pcap.walk_records: a record is listed when its caplen field can be read; the last one may be
 * cut by the end of the buffer (the caller checks). `fields` holds, per record whose 16 header bytes
 * are in the buffer, its four header words (ts_sec, ts_frac, caplen, wirelen) as native uint32: they
 * are read while the record is in cache instead of gathered again by numpy. */
static PyObject *walk_pcap(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t end, header_bytes;
    int big;
    if (!PyArg_ParseTuple(args, "y*nnp", &view, &end, &header_bytes, &big))
        return NULL;
    if (end < 0 || end > view.len)
        end = view.len;
    offsets_t out, fields;
    if (offsets_init(&out, end / 256) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (offsets_init(&fields, end / 128) < 0) {
        Py_DECREF(out.bytes);
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *buf = view.buf;
    int64_t pos = 0;
    while (pos >= 0 && pos + 12 <= end) {
        /* Each hop depends on the caplen just read: fetch ahead (a few pages, measured best), or
         * every record waits on memory. */
        __builtin_prefetch(buf + pos + 4096);
        __builtin_prefetch(buf + pos + 8192);
        uint32_t caplen = load_u32(buf + pos + 8, big);
        if (offsets_push(&out, pos) < 0)
            goto fail;
        if (pos + 16 <= end) {
            uint32_t words[4] = {load_u32(buf + pos, big), load_u32(buf + pos + 4, big), caplen,
                                 load_u32(buf + pos + 12, big)};
            int64_t packed[2];
            memcpy(packed, words, sizeof words);
            if (offsets_push(&fields, packed[0]) < 0 || offsets_push(&fields, packed[1]) < 0)
                goto fail;
        }
        pos += header_bytes + (int64_t)caplen;
    }
    PyBuffer_Release(&view);
    PyObject *offsets = offsets_finish(&out);
    PyObject *words = offsets_finish(&fields);
    if (!offsets || !words) {
        Py_XDECREF(offsets);
        Py_XDECREF(words);
        return NULL;
    }
    return Py_BuildValue("(NN)", offsets, words);
fail: /* a failed resize has already freed and cleared its buffer */
    Py_XDECREF(out.bytes);
    Py_XDECREF(fields.bytes);
    PyBuffer_Release(&view);
    return NULL;
}

/* walk_epbs(buffer, end, pos, big_endian) -> (offsets, words, stop).
 * As pcapng.walk_epbs: consecutive Enhanced Packet Blocks (type 6, length >= 32 and a multiple of 4)
 * from pos; stop is where the run ends. The last listed block may extend beyond end. `words` holds,
 * per listed block that lies wholly in the buffer, its first seven header words (type, length,
 * interface, ts high, ts low, caplen, wirelen) and its trailing length word, as native uint32. */
static PyObject *walk_epbs(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t end, start;
    int big;
    if (!PyArg_ParseTuple(args, "y*nnp", &view, &end, &start, &big))
        return NULL;
    if (end < 0 || end > view.len)
        end = view.len;
    offsets_t out, words;
    if (offsets_init(&out, (end - start) / 256) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (offsets_init(&words, (end - start) / 64) < 0) {
        Py_DECREF(out.bytes);
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *buf = view.buf;
    int64_t pos = start < 0 ? 0 : start;
    while (pos + 8 <= end) {
        __builtin_prefetch(buf + pos + 4096);
        __builtin_prefetch(buf + pos + 8192);
        uint32_t type = load_u32(buf + pos, big), length = load_u32(buf + pos + 4, big);
        if (type != 6 || length < 32 || (length & 3))
            break;
        if (offsets_push(&out, pos) < 0)
            goto fail;
        if (pos + (int64_t)length <= end) {
            uint32_t w[8];
            for (int i = 0; i < 7; i++)
                w[i] = load_u32(buf + pos + 4 * i, big);
            w[7] = load_u32(buf + pos + length - 4, big);
            int64_t packed[4];
            memcpy(packed, w, sizeof w);
            for (int i = 0; i < 4; i++)
                if (offsets_push(&words, packed[i]) < 0)
                    goto fail;
        }
        pos += length;
    }
    PyBuffer_Release(&view);
    PyObject *offsets = offsets_finish(&out);
    PyObject *fields = offsets_finish(&words);
    if (!offsets || !fields) {
        Py_XDECREF(offsets);
        Py_XDECREF(fields);
        return NULL;
    }
    return Py_BuildValue("(NNL)", offsets, fields, (long long)pos);
fail: /* a failed resize has already freed and cleared its buffer */
    Py_XDECREF(out.bytes);
    Py_XDECREF(words.bytes);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of the classic pcap records in a buffer."},
    {"walk_epbs", walk_epbs, METH_VARARGS, "Offsets of a run of pcapng Enhanced Packet Blocks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_records",
    .m_doc = "Capture record walks.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module); }
