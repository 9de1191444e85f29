/* The passes of the flat column sketching (otel_mlmon/sketch/_flat.py) and of one column (_column.py) as C loops.
 *
 * Optional: built by the package build when a C compiler is there; otel_mlmon/sketch/_kernel.py imports it
 * lazily and falls back to the numpy passes when it is missing or disagrees with numpy on a probe. Both passes
 * read a C-ordered float64 chunk (rows x width) row by row, once:
 *
 *   extremes: per column, numpy's own pairwise sum (the recursion of numpy's pairwise_sum: leaves of at most
 *             128 values with eight accumulators, halves rounded down to a multiple of 8), min, max, the
 *             smallest positive value, the negative value nearest zero, and whether -0.0 is there;
 *   count:    per value, the cell key (bits - 1) >> shift - base, both signs brought together by a gap, one
 *             table lookup, one counter increment; a value in a cell near a bucket boundary is mapped with
 *             the OpenTelemetry SDK's own formula (floor(log(v) * 2**scale / ln 2) and its special cases).
 *
 * and for one 1-D column of any stride (otel_mlmon/sketch/_column.py): `scan` (the sum and extremes as above),
 * `bucket` (one value's SDK index) and `column_count` (every value's bucket at one scale).
 * For string columns: `encode_strings` (Arrow strings dictionary-encoded, adapters/_strings.py) and
 * `take_objects` (coded strings' object array from their codes, sketch/_coded.py).
 *
 * No numpy C API: arrays come in through the buffer protocol, so the build needs only Python's headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#define LEAF 128
#define EXACT ((int64_t)1 << 40)
#define TABLE_SCALE 10 /* _mapping.TABLE_MAX_SCALE: the largest scale with a cell table */

typedef struct {
    Py_ssize_t width;
    double *lanes; /* 8 * width accumulators of one leaf */
    double *min, *max, *minpos, *maxneg, *zero;
} Stats;

/* The extremes of one row into the running ones, in double arithmetic only (so that the loop vectorises on
 * any x86-64): the smallest positive value, the negative value nearest zero, and -1 once a -0.0 was seen. */
static void row_stats(Stats *s, const double *restrict row) {
    const Py_ssize_t w = s->width;
    double *restrict lo = s->min, *restrict hi = s->max, *restrict pos = s->minpos, *restrict neg = s->maxneg;
    double *restrict zero = s->zero;
    Py_ssize_t c;
    for (c = 0; c < w; c++) {
        double v = row[c];
        double p = v > 0. ? v : HUGE_VAL;
        double q = v < 0. ? v : -HUGE_VAL;
        double z = v == 0. ? copysign(1., v) : 1.;
        lo[c] = v < lo[c] ? v : lo[c];
        hi[c] = v > hi[c] ? v : hi[c];
        pos[c] = p < pos[c] ? p : pos[c];
        neg[c] = q > neg[c] ? q : neg[c];
        zero[c] = z < zero[c] ? z : zero[c];
    }
}

/* One leaf of numpy's pairwise sum over rows [0, n) of `a`, for every column at once, into `out`; the
 * extremes ride along on the same read. */
static void leaf(Stats *s, const double *a, Py_ssize_t n, double *out) {
    const Py_ssize_t w = s->width;
    Py_ssize_t i, c, k;
    double *r = s->lanes;
    for (i = 0; i < n; i++) {
        row_stats(s, a + i * w);
    }
    if (n < 8) {
        for (c = 0; c < w; c++) {
            out[c] = 0.;
        }
        for (i = 0; i < n; i++) {
            for (c = 0; c < w; c++) {
                out[c] += a[i * w + c];
            }
        }
        return;
    }
    memcpy(r, a, (size_t)(8 * w) * sizeof(double));
    for (i = 8; i < n - (n % 8); i += 8) {
        for (k = 0; k < 8; k++) {
            const double *row = a + (i + k) * w;
            double *lane = r + k * w;
            for (c = 0; c < w; c++) {
                lane[c] += row[c];
            }
        }
    }
    for (c = 0; c < w; c++) {
        out[c] = ((r[c] + r[w + c]) + (r[2 * w + c] + r[3 * w + c])) +
                 ((r[4 * w + c] + r[5 * w + c]) + (r[6 * w + c] + r[7 * w + c]));
    }
    for (; i < n; i++) {
        for (c = 0; c < w; c++) {
            out[c] += a[i * w + c];
        }
    }
}

/* numpy's pairwise_sum recursion over rows; `work` holds one row of partial sums per level below. */
static void pairwise(Stats *s, const double *a, Py_ssize_t n, double *out, double *work) {
    Py_ssize_t n2, c;
    if (n <= LEAF) {
        leaf(s, a, n, out);
        return;
    }
    n2 = n / 2;
    n2 -= n2 % 8;
    pairwise(s, a, n2, out, work);
    pairwise(s, a + n2 * s->width, n - n2, work, work + s->width);
    for (c = 0; c < s->width; c++) {
        out[c] += work[c];
    }
}

static int check_len(Py_buffer *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name) {
    if (b->len < items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, needs %zd", name, b->len, items * itemsize);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(extremes_doc,
             "extremes(part, rows, width, out)\n\n"
             "Per column of the C-ordered float64 chunk ``part``, into the rows of ``out`` (6 x width float64):\n"
             "numpy's pairwise sum, min, max, the smallest positive value (inf if none), the negative value\n"
             "nearest zero (-inf if none), and -1.0 if the column holds -0.0 (else 1.0). NaN is skipped by the\n"
             "extremes (a column holding one has a NaN sum).");

static PyObject *extremes(PyObject *self, PyObject *args) {
    Py_buffer part, out;
    Py_ssize_t rows, width, c, depth = 1;
    double *space, *o;
    Stats s;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnw*", &part, &rows, &width, &out)) {
        return NULL;
    }
    if (rows < 1 || width < 1 || !check_len(&part, rows * width, 8, "part") ||
        !check_len(&out, 6 * width, 8, "out")) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "rows and width must be positive");
        }
        goto fail;
    }
    for (c = rows; c > LEAF; c /= 2) {
        depth++;
    }
    space = PyMem_Malloc((size_t)((8 + depth + 1) * width) * sizeof(double));
    if (space == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    o = out.buf;
    s.width = width;
    s.lanes = space;
    s.min = o + width;
    s.max = o + 2 * width;
    s.minpos = o + 3 * width;
    s.maxneg = o + 4 * width;
    s.zero = o + 5 * width;
    for (c = 0; c < width; c++) {
        s.min[c] = s.minpos[c] = HUGE_VAL;
        s.max[c] = s.maxneg[c] = -HUGE_VAL;
        s.zero[c] = 1.;
    }
    Py_BEGIN_ALLOW_THREADS;
    pairwise(&s, part.buf, rows, o, space + 8 * width);
    for (c = 0; c < width; c++) {
        o[c] = 0. + o[c]; /* numpy adds the sum to its identity, +0.0 */
    }
    Py_END_ALLOW_THREADS;
    PyMem_Free(space);
    PyBuffer_Release(&part);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&part);
    PyBuffer_Release(&out);
    return NULL;
}

/* The OpenTelemetry SDK's LogarithmMapping.map_to_index (scale >= 1) for a positive finite value, with the
 * same libm log() that Python's math.log calls, so the same index. */
static int64_t sdk_index(double v, int64_t scale, double factor) {
    uint64_t bits;
    int64_t top = ((int64_t)1024 << scale) - 1, index;
    memcpy(&bits, &v, sizeof bits);
    if (v <= 2.2250738585072014e-308) { /* subnormals and the smallest normal share one bucket */
        return -1022 * ((int64_t)1 << scale) - 1;
    }
    if ((bits & (((uint64_t)1 << 52) - 1)) == 0) { /* an exact power of two sits in the lower bucket */
        return ((int64_t)((bits >> 52) & 0x7FF) - 1023) * ((int64_t)1 << scale) - 1;
    }
    index = (int64_t)floor(log(v) * factor);
    return index < top ? index : top;
}

PyDoc_STRVAR(count_doc,
             "count(part, rows, width, params, factors, table, counts)\n\n"
             "Count every value of the C-ordered float64 chunk ``part`` in ``counts`` (int64). ``params`` is a\n"
             "9 x width array of 8-byte integers per column: shift, base, gap (0: one sign), limit (keys above\n"
             "it read the limit's entry), table offset, slot offset, scale of the exact mapping (0: none), and\n"
             "the slots of bucket 0 of the positive and of the negative side; ``factors`` is ``2**scale / ln 2``\n"
             "per column. A value's entry is ``table[clip(min(k, limit) + table_offset)]`` with\n"
             "``k = ((bits - 1) >> shift) - base``, brought down by ``gap`` when that is smaller (unsigned), and\n"
             "clipped to the table as numpy's take(mode='clip') does; it counts at ``entry + slot_offset``. An\n"
             "entry at or above 2**40 marks a cell near a bucket boundary: that value's bucket comes from the\n"
             "SDK's formula, and it counts at the side's slot of bucket 0 plus the bucket.");

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer part, params, factors, table, counts;
    Py_ssize_t rows, width, i, c, size, slots;
    int bad = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nny*y*y*w*", &part, &rows, &width, &params, &factors, &table, &counts)) {
        return NULL;
    }
    size = table.len / 8;
    slots = counts.len / 8;
    if (rows < 1 || width < 1 || size < 1 || !check_len(&part, rows * width, 8, "part") ||
        !check_len(&params, 9 * width, 8, "params") || !check_len(&factors, width, 8, "factors")) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "rows, width and the table must not be empty");
        }
        goto done;
    }
    {
        const uint64_t *bits = part.buf;
        const uint64_t *p = params.buf;
        const uint64_t *shift = p, *base = p + width, *gap = p + 2 * width, *limit = p + 3 * width;
        const int64_t *q = (const int64_t *)p;
        const int64_t *toff = q + 4 * width, *soff = q + 5 * width, *scale = q + 6 * width;
        const int64_t *origin = q + 7 * width; /* positive side, then (at + width) the negative side */
        const double *factor = factors.buf;
        const int64_t *entries = table.buf;
        const int64_t last = size - 1;
        int64_t *out = counts.buf;
        int64_t top = 0, most = 0;
        int shared = 1;
        /* Every entry but the marked ones must land inside counts: checked once here, not per value. */
        for (i = 0; i < size; i++) {
            if (entries[i] < EXACT) {
                top = entries[i] > top ? entries[i] : top;
                bad |= entries[i] < 0;
            }
        }
        for (c = 0; c < width; c++) {
            most = soff[c] > most ? soff[c] : most;
            bad |= soff[c] < 0;
            shared &= shift[c] == shift[0] && base[c] == base[0] && gap[c] == gap[0] && limit[c] == UINT64_MAX &&
                      toff[c] == 0;
        }
        bad |= top + most >= slots;
        Py_BEGIN_ALLOW_THREADS;
        for (i = 0; i < rows && !bad; i++) {
            const uint64_t *row = bits + i * width;
            for (c = 0; c < width; c++) {
                uint64_t key, down;
                int64_t slot;
                if (shared) {
                    /* One shift, base and gap for all columns; keys past the table (or below it: the
                     * unsigned minimum sends them to the last entry, where numpy's clip would take the
                     * first; only a column the caller drops has such keys) read the last entry. */
                    key = ((row[c] - 1) >> shift[0]) - base[0];
                    down = key - gap[0];
                    key = down < key ? down : key; /* key itself when gap is 0: no branch on the sign */
                    key = key < (uint64_t)last ? key : (uint64_t)last;
                } else {
                    int64_t at;
                    key = ((row[c] - 1) >> shift[c]) - base[c];
                    down = key - gap[c];
                    key = down < key ? down : key;
                    key = key < limit[c] ? key : limit[c];
                    at = (int64_t)key + toff[c];
                    at = at < 0 ? 0 : at;
                    key = (uint64_t)(at > last ? last : at);
                }
                slot = entries[key];
                if (slot < EXACT) {
                    out[slot + soff[c]]++;
                    continue;
                }
                if (scale[c]) {
                    double v;
                    memcpy(&v, row + c, sizeof v);
                    v = fabs(v);
                    if (!(v > 0. && v <= 1.7976931348623157e308)) {
                        bad = 1;
                        break;
                    }
                    slot = origin[(int)(row[c] >> 63) * width + c] + sdk_index(v, scale[c], factor[c]);
                    if ((uint64_t)slot >= (uint64_t)slots) {
                        bad = 1;
                        break;
                    }
                    out[slot]++;
                } /* else a column the caller does not count */
            }
        }
        Py_END_ALLOW_THREADS;
    }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a value's slot falls outside counts (a plan that does not fit)");
    }
done:
    PyBuffer_Release(&part);
    PyBuffer_Release(&params);
    PyBuffer_Release(&factors);
    PyBuffer_Release(&table);
    PyBuffer_Release(&counts);
    if (bad || PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- one column (exponential.py's chunks)
 *
 * The same work for one 1-D float64 column (any stride), the shape a DataFrame or a per-column reader hands
 * over: ``scan`` reads it once for numpy's pairwise sum and the extremes, ``column_count`` once more for the
 * bucket counts at the scale the caller chose from those extremes. */

typedef struct {
    double lo[8], hi[8], pos[8], neg[8];
} Lanes;

/* Value v into lane k's extremes (branch-free selects, so the loop below vectorises). */
static inline void lane_put(Lanes *restrict x, const Py_ssize_t k, const double v) {
    double p = v > 0. ? v : HUGE_VAL;
    double q = v < 0. ? v : -HUGE_VAL;
    x->lo[k] = v < x->lo[k] ? v : x->lo[k];
    x->hi[k] = v > x->hi[k] ? v : x->hi[k];
    x->pos[k] = p < x->pos[k] ? p : x->pos[k];
    x->neg[k] = q > x->neg[k] ? q : x->neg[k];
}

/* The extremes of n values `s` apart into the eight lanes (value i into lane i % 8), in double arithmetic only so
 * that the contiguous case (inlined with s == 1) vectorises. */
static inline void lane_stats(Lanes *restrict x, const double *a, Py_ssize_t n, const Py_ssize_t s) {
    Py_ssize_t i, k;
    for (i = 0; i + 8 <= n; i += 8) {
        for (k = 0; k < 8; k++) {
            lane_put(x, k, a[(i + k) * s]);
        }
    }
    for (k = 0; i < n; i++, k++) {
        lane_put(x, k, a[i * s]);
    }
}

/* numpy's pairwise_sum of n values `s` apart (the same recursion as `pairwise` above, one column), the extremes
 * of each leaf taken on the same read. */
static inline double pairwise1(Lanes *x, const double *a, Py_ssize_t n, const Py_ssize_t s) {
    Py_ssize_t i, k, n2;
    double res, r[8];
    if (n > LEAF) {
        n2 = n / 2;
        n2 -= n2 % 8;
        res = pairwise1(x, a, n2, s);
        return res + pairwise1(x, a + n2 * s, n - n2, s);
    }
    lane_stats(x, a, n, s);
    if (n < 8) {
        res = 0.;
        for (i = 0; i < n; i++) {
            res += a[i * s];
        }
        return res;
    }
    for (k = 0; k < 8; k++) {
        r[k] = a[k * s];
    }
    for (i = 8; i < n - (n % 8); i += 8) {
        for (k = 0; k < 8; k++) {
            r[k] += a[(i + k) * s];
        }
    }
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) {
        res += a[i * s];
    }
    return res;
}

static double pairwise_contiguous(Lanes *x, const double *a, Py_ssize_t n) { return pairwise1(x, a, n, 1); }
static double pairwise_strided(Lanes *x, const double *a, Py_ssize_t n, Py_ssize_t s) { return pairwise1(x, a, n, s); }

/* A 1-D float64 buffer of any stride (in whole items); 0 with an exception set otherwise. */
static int column_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t *stride) {
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
        return 0;
    }
    if (view->ndim != 1 || view->itemsize != 8 || view->format == NULL || strcmp(view->format, "d") != 0 ||
        view->strides[0] % 8 != 0 || view->shape[0] < 1) {
        PyErr_SetString(PyExc_ValueError, "values must be a non-empty 1-D float64 array with whole-item strides");
        PyBuffer_Release(view);
        return 0;
    }
    *stride = view->strides[0] / 8;
    return 1;
}

PyDoc_STRVAR(scan_doc,
             "scan(values) -> (sum, min, max, smallest positive, negative nearest zero)\n\n"
             "One read of a 1-D float64 column (any stride): numpy's pairwise sum (``np.add.reduce`` of the\n"
             "same values laid out contiguously), its min and max (NaN skipped), the smallest positive value\n"
             "(inf if none) and the negative value nearest zero (-inf if none).");

static PyObject *scan(PyObject *self, PyObject *arg) {
    Py_buffer view;
    Py_ssize_t s, k;
    double total;
    Lanes x;
    (void)self;
    if (!column_buffer(arg, &view, &s)) {
        return NULL;
    }
    for (k = 0; k < 8; k++) {
        x.lo[k] = x.pos[k] = HUGE_VAL;
        x.hi[k] = x.neg[k] = -HUGE_VAL;
    }
    Py_BEGIN_ALLOW_THREADS;
    total = 0. + (s == 1 ? pairwise_contiguous(&x, view.buf, view.shape[0])
                         : pairwise_strided(&x, view.buf, view.shape[0], s)); /* numpy adds the sum to its identity, +0.0 */
    for (k = 1; k < 8; k++) { /* 0.0 against -0.0 may go either way, as in numpy's SIMD reductions */
        x.lo[0] = x.lo[k] < x.lo[0] ? x.lo[k] : x.lo[0];
        x.hi[0] = x.hi[k] > x.hi[0] ? x.hi[k] : x.hi[0];
        x.pos[0] = x.pos[k] < x.pos[0] ? x.pos[k] : x.pos[0];
        x.neg[0] = x.neg[k] > x.neg[0] ? x.neg[k] : x.neg[0];
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);
    return Py_BuildValue("(ddddd)", total, x.lo[0], x.hi[0], x.pos[0], x.neg[0]);
}

/* The SDK's bucket index of a positive finite value at any scale (exponent mapping at scales <= 0). */
static int64_t bucket_index(double v, uint64_t bits, int scale, double factor) {
    if (scale <= 0) { /* bits - 1 borrows from the exponent exactly for powers of two; subnormals give -1023 */
        return ((int64_t)((bits - 1) >> 52) - 1023) >> -scale;
    }
    return sdk_index(v, scale, factor);
}

PyDoc_STRVAR(bucket_doc, "bucket(value, scale) -> index\n\n"
                         "The SDK's bucket index of a positive finite float at ``scale`` (-10..20).");

static PyObject *bucket(PyObject *self, PyObject *args) {
    double v;
    int scale;
    uint64_t bits;
    (void)self;
    if (!PyArg_ParseTuple(args, "di", &v, &scale)) {
        return NULL;
    }
    if (!(v > 0. && v <= 1.7976931348623157e308) || scale < -10 || scale > 20) {
        PyErr_SetString(PyExc_ValueError, "value must be positive and finite, scale in -10..20");
        return NULL;
    }
    memcpy(&bits, &v, sizeof bits);
    return PyLong_FromLongLong((long long)bucket_index(v, bits, scale, ldexp(1. / log(2.), scale)));
}

/* What column_count needs per value, kept together so that the inlined slot computation reads locals. */
typedef struct {
    const int32_t *entries;
    double factor;
    int64_t low[2], first[2];
    uint64_t width[2];
    int64_t zero;
    int scale, shift;
} ColumnPlan;

/* The slot of one value in column_count's counts, -1 when it is outside its side's slots or not finite. */
static inline int64_t column_slot(const ColumnPlan *p, double v) {
    const uint64_t mask = ((uint64_t)1 << 52) - 1, sign = (uint64_t)1 << 63;
    uint64_t bits, mag;
    int64_t index, at;
    int negative;
    if (v == 0.) {
        return p->zero;
    }
    memcpy(&bits, &v, sizeof bits);
    negative = (int)(bits >> 63); /* the side by index: no branch on a sign that data flips at random */
    mag = bits & ~sign;
    if (p->scale <= 0) {
        index = ((int64_t)((mag - 1) >> 52) - 1023) >> -p->scale;
    } else {
        uint64_t mantissa = mag & mask, exponent = mag >> 52;
        int64_t entry = p->entries[mantissa >> p->shift];
        /* An exact power of two sits in the bucket below its own: entry -1 of the octave, without a branch
         * (integer data holds many, in no predictable order). */
        int64_t power = mantissa == 0;
        int tabled;
        entry |= -power;
        /* Exponent 1 (the smallest normal shares the subnormals' bucket) and 2046 (the top octave, the clamp of
         * the top bucket) are mapped by the formula, as numpy's table path does. One test, no branch that data
         * decides: a marked cell's entry is -1, a power of two's -1 + 1. */
        tabled = (entry + power >= 0) & (exponent - 2 < 2044);
        if (tabled) {
            index = entry + ((int64_t)(exponent - 1023) << p->scale);
        } else {
            double m = fabs(v);
            if (!(m <= 1.7976931348623157e308)) {
                return -1;
            }
            index = sdk_index(m, p->scale, p->factor);
        }
    }
    at = index - p->low[negative];
    if ((uint64_t)at >= p->width[negative]) {
        return -1; /* outside the range the extremes gave: the general path decides */
    }
    return p->first[negative] + at;
}

PyDoc_STRVAR(column_count_doc,
             "column_count(values, scale, positive_low, n_pos, negative_low, n_neg, table, shift, counts) -> bool\n\n"
             "Count every value of a 1-D float64 column (any stride, all finite) at ``scale`` into ``counts``\n"
             "(int64, at least ``n_pos + n_neg + 1`` slots): a positive value at ``index - positive_low`` (below\n"
             "``n_pos``), a negative one by magnitude at ``n_pos + index - negative_low`` (below ``n_neg``), zeros\n"
             "of either sign in slot ``n_pos + n_neg``. At scales 1..10, ``table`` (int32) is the bucket within\n"
             "the octave of each cell ``mantissa >> shift``, -1 for a cell near a bucket boundary; those values,\n"
             "powers of two, subnormals and the top octaves are mapped with the SDK's formula. False (``counts``\n"
             "partly filled) when a value falls outside its side's slots or is not finite: the caller then takes\n"
             "its general path.");

static PyObject *column_count(PyObject *self, PyObject *args) {
    PyObject *obj;
    Py_buffer view, table, counts;
    Py_ssize_t s, n, i, n_pos, n_neg, slots, cells;
    long long pos_low, neg_low;
    int scale, shift, ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OiLnLny*iw*", &obj, &scale, &pos_low, &n_pos, &neg_low, &n_neg, &table, &shift,
                          &counts)) {
        return NULL;
    }
    if (!column_buffer(obj, &view, &s)) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&counts);
        return NULL;
    }
    n = view.shape[0];
    slots = counts.len / 8;
    cells = table.len / 4;
    if (n_pos < 0 || n_neg < 0 || slots < n_pos + n_neg + 1 || scale < -10 || scale > TABLE_SCALE ||
        (scale >= 1 && (shift < 0 || shift > 52 || cells < ((Py_ssize_t)1 << (52 - shift))))) {
        PyErr_SetString(PyExc_ValueError, "counts, table or scale do not fit");
        ok = -1;
        goto done;
    }
    {
        const double *a = view.buf;
        int64_t *out = counts.buf;
        const Py_ssize_t used = n_pos + n_neg + 1;
        ColumnPlan plan = {table.buf, ldexp(1. / log(2.), scale), {(int64_t)pos_low, (int64_t)neg_low},
                           {0, (int64_t)n_pos}, {(uint64_t)n_pos, (uint64_t)n_neg}, (int64_t)used - 1,
                           scale, shift};
        /* Four copies of the counts, value i into copy i % 4: runs of values in one bucket (integers, narrow
         * data) do not wait on the previous increment of the same counter. */
        const int copies = used <= 4096 ? 4 : 1;
        int64_t *own = copies > 1 ? PyMem_Calloc((size_t)(copies * used), sizeof(int64_t)) : out;
        int64_t *l0, *l1, *l2, *l3;
        Py_ssize_t c;
        if (own == NULL) {
            PyErr_NoMemory();
            ok = -1;
            goto done;
        }
        l0 = own;
        l1 = copies > 1 ? own + used : own;
        l2 = copies > 1 ? own + 2 * used : own;
        l3 = copies > 1 ? own + 3 * used : own;
        Py_BEGIN_ALLOW_THREADS;
        for (i = 0; i + 4 <= n; i += 4) { /* four values in flight, one test for all four */
            int64_t s0 = column_slot(&plan, a[i * s]), s1 = column_slot(&plan, a[(i + 1) * s]);
            int64_t s2 = column_slot(&plan, a[(i + 2) * s]), s3 = column_slot(&plan, a[(i + 3) * s]);
            if ((s0 | s1 | s2 | s3) < 0) {
                ok = 0;
                break;
            }
            l0[s0]++;
            l1[s1]++;
            l2[s2]++;
            l3[s3]++;
        }
        for (; ok && i < n; i++) {
            int64_t slot = column_slot(&plan, a[i * s]);
            if (slot < 0) {
                ok = 0;
                break;
            }
            l0[slot]++;
        }
        if (copies > 1) {
            for (c = 0; c < used; c++) {
                out[c] += own[c] + own[used + c] + own[2 * used + c] + own[3 * used + c];
            }
        }
        Py_END_ALLOW_THREADS;
        if (own != out) {
            PyMem_Free(own);
        }
    }
done:
    PyBuffer_Release(&view);
    PyBuffer_Release(&table);
    PyBuffer_Release(&counts);
    if (ok < 0) {
        return NULL;
    }
    return PyBool_FromLong(ok);
}


/* ---------------------------------------------------------------- strings (adapters/_arrow.py)
 *
 * An Arrow string or large_string array's codes in one pass over its offsets and data: every value hashed, looked
 * up in an open-addressing table of the distinct values seen so far (a new one takes the next code), so the
 * codes and the distinct values come out in order of first occurrence, as pyarrow's dictionary_encode gives them.
 * Only the distinct values become Python strings. */

typedef struct {
    uint64_t hash;
    uint64_t head[2]; /* a value's first 16 bytes, zero-padded: a value of at most 16 compared by these alone */
    const unsigned char *ptr; /* its bytes (in the data buffer of the chunk it first occurred in) */
    int64_t len;
    int32_t code; /* -1: empty */
} StringSlot;

/* The first n <= 16 bytes at p as two zero-padded words, read as two 8-byte loads (the caller checked that 16 bytes
 * can be read there) and masked: no call and no loop for the short values categorical columns mostly hold. */
static inline void short_words(const unsigned char *p, int64_t n, uint64_t *w0, uint64_t *w1) {
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    *w0 = n >= 8 ? a : a & ((((uint64_t)1) << (8 * n)) - 1);
    *w1 = n >= 16 ? b : n <= 8 ? 0 : b & ((((uint64_t)1) << (8 * (n - 8))) - 1);
}

static inline uint64_t mix_words(uint64_t w0, uint64_t w1, int64_t n) {
    uint64_t h = (w0 ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ULL ^ w1 * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 32;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

/* A 64-bit hash of n bytes: 8 bytes at a time, multiply-xorshift mixing (not keyed: the table only has to stay
 * fast on the data it sees, and a probe sequence stays correct whatever the collisions). */
static inline uint64_t hash_bytes(const unsigned char *p, int64_t n) {
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    uint64_t h = (uint64_t)n * 0xFF51AFD7ED558CCDULL, w;
    while (n >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        w = 0;
        memcpy(&w, p, (size_t)n);
        h = (h ^ w) * k;
    }
    h ^= h >> 32;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

/* short_words near the end of the data: the first min(n, 16) bytes, zero-padded, copied byte by byte. */
static void short_words_slow(const unsigned char *p, int64_t n, uint64_t *w0, uint64_t *w1) {
    unsigned char head[16] = {0};
    memcpy(head, p, (size_t)(n < 16 ? n : 16));
    memcpy(w0, head, 8);
    memcpy(w1, head + 8, 8);
}

/* Double the table and re-place its entries (raw allocations: called without the GIL); 0 when memory runs out. */
static int grow_slots(StringSlot **slots, uint64_t *mask) {
    uint64_t cap = (*mask + 1) * 2, i, j;
    StringSlot *old = *slots, *fresh = PyMem_RawMalloc((size_t)cap * sizeof(StringSlot));
    if (fresh == NULL) {
        return 0;
    }
    for (i = 0; i < cap; i++) {
        fresh[i].code = -1;
    }
    for (i = 0; i <= *mask; i++) {
        if (old[i].code >= 0) {
            for (j = old[i].hash & (cap - 1); fresh[j].code >= 0; j = (j + 1) & (cap - 1)) {
            }
            fresh[j] = old[i];
        }
    }
    PyMem_RawFree(old);
    *slots = fresh;
    *mask = cap - 1;
    return 1;
}

PyDoc_STRVAR(encode_strings_doc,
             "encode_strings(chunks, wide, codes) -> list of str\n\n"
             "Dictionary-encode the values of Arrow string arrays, one after the other, as one column: ``chunks`` is\n"
             "a sequence of ``(offsets, data, validity, start, length)`` per array (its offsets buffer, int64 if\n"
             "``wide`` else int32; its data buffer; its validity bitmap or None; its offset and length). Writes\n"
             "each value's code into ``codes`` (int32, at least the total length; -1 for a null) and returns the\n"
             "distinct values in order of first occurrence, which ``codes`` index. ValueError when an offset\n"
             "falls outside its data; UnicodeDecodeError when a value is not UTF-8.");

typedef struct {
    Py_buffer offsets, data, validity;
    int has_valid;
    Py_ssize_t start, length;
} StringChunk;

static PyObject *encode_strings(PyObject *self, PyObject *args) {
    PyObject *sequence, *items = NULL, *out = NULL;
    Py_buffer codes;
    Py_ssize_t n_chunks = 0, parsed = 0, k, i, total = 0;
    int wide, bad = 0, memory = 0;
    StringChunk *chunks = NULL;
    StringSlot *slots = NULL;
    const unsigned char **heads = NULL; /* per distinct value: where its bytes are, and how many */
    int64_t *lens = NULL, distinct = 0, room = 64;
    uint64_t mask = 127;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oiw*", &sequence, &wide, &codes)) {
        return NULL;
    }
    items = PySequence_Fast(sequence, "chunks must be a sequence");
    if (items == NULL) {
        goto done;
    }
    n_chunks = PySequence_Fast_GET_SIZE(items);
    chunks = PyMem_Calloc((size_t)(n_chunks ? n_chunks : 1), sizeof(StringChunk));
    if (chunks == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; parsed < n_chunks; parsed++) {
        StringChunk *c = chunks + parsed;
        PyObject *valid_obj;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(items, parsed), "y*y*Onn", &c->offsets, &c->data, &valid_obj,
                              &c->start, &c->length)) {
            goto done;
        }
        if (valid_obj != Py_None) {
            if (PyObject_GetBuffer(valid_obj, &c->validity, PyBUF_SIMPLE) < 0) {
                PyBuffer_Release(&c->offsets);
                PyBuffer_Release(&c->data);
                goto done;
            }
            c->has_valid = 1;
        }
        if (c->start < 0 || c->length < 0 || !check_len(&c->offsets, c->start + c->length + 1, wide ? 8 : 4, "offsets") ||
            (c->has_valid && !check_len(&c->validity, (c->start + c->length + 7) / 8, 1, "validity"))) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "start and length must not be negative");
            }
            parsed++; /* its buffers are released below */
            goto done;
        }
        total += c->length;
    }
    if (!check_len(&codes, total, 4, "codes")) {
        goto done;
    }
    slots = PyMem_RawMalloc((size_t)(mask + 1) * sizeof(StringSlot));
    heads = PyMem_RawMalloc((size_t)room * sizeof(*heads));
    lens = PyMem_RawMalloc((size_t)room * sizeof(int64_t));
    if (slots == NULL || heads == NULL || lens == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i <= (Py_ssize_t)mask; i++) {
        slots[i].code = -1;
    }
    Py_BEGIN_ALLOW_THREADS;
    {
        int32_t *out_codes = codes.buf;
        for (k = 0; k < n_chunks && !bad && !memory; k++) {
            const StringChunk *c = chunks + k;
            const unsigned char *bytes = c->data.buf, *bits = c->has_valid ? c->validity.buf : NULL;
            const int64_t *off64 = c->offsets.buf;
            const int32_t *off32 = c->offsets.buf;
            const int64_t size = c->data.len;
            for (i = 0; i < c->length; i++, out_codes++) {
                const Py_ssize_t at = c->start + i;
                int64_t begin, end, len;
                uint64_t h, j, w0, w1;
                const unsigned char *head;
                if (bits != NULL && !((bits[at >> 3] >> (at & 7)) & 1)) {
                    *out_codes = -1;
                    continue;
                }
                begin = wide ? off64[at] : off32[at];
                end = wide ? off64[at + 1] : off32[at + 1];
                if (begin < 0 || end < begin || end > size) {
                    bad = 1;
                    break;
                }
                len = end - begin;
                head = bytes + begin;
                if (len <= 16 && begin + 16 <= size) {
                    short_words(head, len, &w0, &w1);
                    h = mix_words(w0, w1, len);
                    for (j = h & mask;; j = (j + 1) & mask) {
                        const StringSlot *s = slots + j;
                        if (s->code < 0 ||
                            (s->hash == h && s->len == len && s->head[0] == w0 && s->head[1] == w1)) {
                            break;
                        }
                    }
                    if (slots[j].code >= 0) { /* seen: its code; else new, placed below */
                        *out_codes = slots[j].code;
                        continue;
                    }
                } else {
                    short_words_slow(head, len, &w0, &w1);
                    h = len <= 16 ? mix_words(w0, w1, len) : hash_bytes(head, len);
                }
                for (j = h & mask;; j = (j + 1) & mask) {
                    StringSlot *s = slots + j;
                    if (s->code < 0) {
                        if (distinct == INT32_MAX) {
                            bad = 1;
                            break;
                        }
                        if (distinct == room) {
                            const unsigned char **more_heads = PyMem_RawRealloc(heads, (size_t)(2 * room) * sizeof(*heads));
                            int64_t *more_lens;
                            if (more_heads == NULL) {
                                memory = 1;
                                break;
                            }
                            heads = more_heads;
                            more_lens = PyMem_RawRealloc(lens, (size_t)(2 * room) * sizeof(int64_t));
                            if (more_lens == NULL) {
                                memory = 1;
                                break;
                            }
                            lens = more_lens;
                            room *= 2;
                        }
                        s->hash = h;
                        s->head[0] = w0;
                        s->head[1] = w1;
                        s->ptr = head;
                        s->len = len;
                        s->code = (int32_t)distinct;
                        heads[distinct] = head;
                        lens[distinct] = len;
                        *out_codes = (int32_t)distinct++;
                        if ((uint64_t)distinct * 2 > mask && !grow_slots(&slots, &mask)) {
                            memory = 1;
                        }
                        break;
                    }
                    if (s->hash == h && s->len == len && s->head[0] == w0 && s->head[1] == w1 &&
                        (len <= 16 || memcmp(s->ptr, head, (size_t)len) == 0)) {
                        *out_codes = s->code;
                        break;
                    }
                }
                if (bad || memory) {
                    break;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS;
    if (memory) {
        PyErr_NoMemory();
        goto done;
    }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "an offset falls outside the data, or too many distinct values");
        goto done;
    }
    out = PyList_New((Py_ssize_t)distinct);
    if (out == NULL) {
        goto done;
    }
    for (i = 0; i < (Py_ssize_t)distinct; i++) {
        PyObject *text = PyUnicode_DecodeUTF8((const char *)heads[i], (Py_ssize_t)lens[i], "strict");
        if (text == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, text);
    }
done:
    PyMem_RawFree(slots);
    PyMem_RawFree(heads);
    PyMem_RawFree(lens);
    for (k = 0; k < parsed; k++) {
        PyBuffer_Release(&chunks[k].offsets);
        PyBuffer_Release(&chunks[k].data);
        if (chunks[k].has_valid) {
            PyBuffer_Release(&chunks[k].validity);
        }
    }
    PyMem_Free(chunks);
    Py_XDECREF(items);
    PyBuffer_Release(&codes);
    return out;
}

/* ---------------------------------------------------------------- coded strings as objects (_coded.py)
 *
 * ``lookup[codes]`` for an object lookup: numpy's gather of object items costs about 9 ns per item (a generic
 * copy per item, with its reference counting); this loop reads the codes once and writes the pointers. */

PyDoc_STRVAR(take_objects_doc,
             "take_objects(lookup, codes, out) -> None\n\n"
             "``out[i] = lookup[codes[i]]`` for every i, a negative code counting from the end of ``lookup``, like\n"
             "numpy's ``lookup[codes]``. ``lookup`` is a list; ``codes`` a contiguous int32 or int64 array; ``out``\n"
             "a writable contiguous object array (``np.empty(n, dtype=object)``) of at least ``len(codes)`` items.\n"
             "ValueError when a code falls outside ``lookup``; ``out`` is then left as it was.");

static PyObject *take_objects(PyObject *self, PyObject *args) {
    PyObject *lookup, *codes_obj, *out_obj;
    Py_buffer codes, out;
    Py_ssize_t n, i, size;
    int ok = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!OO", &PyList_Type, &lookup, &codes_obj, &out_obj)) {
        return NULL;
    }
    if (PyObject_GetBuffer(codes_obj, &codes, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&codes);
        return NULL;
    }
    size = PyList_GET_SIZE(lookup);
    n = codes.len / (codes.itemsize ? codes.itemsize : 1);
    /* int32 is "i"; int64 is "l" or "q" (with or without a byte-order prefix, native either way here). */
    const char *f = codes.format == NULL ? "B" : (codes.format[0] == '=' || codes.format[0] == '@') ? codes.format + 1
                                                                                                    : codes.format;
    int narrow = codes.itemsize == 4 && (strcmp(f, "i") == 0 || strcmp(f, "l") == 0);
    int wide = codes.itemsize == 8 && (strcmp(f, "l") == 0 || strcmp(f, "q") == 0);
    if (!(narrow || wide) || out.format == NULL || strcmp(out.format, "O") != 0 ||
        out.itemsize != (Py_ssize_t)sizeof(PyObject *) || out.len / out.itemsize < n || size < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "codes must be int32 or int64, out an object array at least as long, lookup not empty");
        goto done;
    }
    {
        const int32_t *c4 = narrow ? codes.buf : NULL;
        const int64_t *c8 = wide ? codes.buf : NULL;
        PyObject **items = ((PyListObject *)lookup)->ob_item, **target = out.buf;
        for (i = 0; i < n; i++) { /* checked first, so that a bad code leaves out untouched */
            int64_t code = c4 ? c4[i] : c8[i];
            if (code >= size || code < -size) {
                PyErr_SetString(PyExc_ValueError, "a code falls outside lookup");
                goto done;
            }
        }
        for (i = 0; i < n; i++) {
            int64_t code = c4 ? c4[i] : c8[i];
            PyObject *item = items[code < 0 ? code + size : code], *old = target[i];
            Py_INCREF(item);
            target[i] = item;
            Py_XDECREF(old);
        }
    }
    ok = 1;
done:
    PyBuffer_Release(&codes);
    PyBuffer_Release(&out);
    if (!ok) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"extremes", extremes, METH_VARARGS, extremes_doc},
    {"count", count, METH_VARARGS, count_doc},
    {"scan", scan, METH_O, scan_doc},
    {"bucket", bucket, METH_VARARGS, bucket_doc},
    {"column_count", column_count, METH_VARARGS, column_count_doc},
    {"encode_strings", encode_strings, METH_VARARGS, encode_strings_doc},
    {"take_objects", take_objects, METH_VARARGS, take_objects_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_flatkernel", "The flat column sketching passes in C (see _kernel.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__flatkernel(void) { return PyModule_Create(&module); }
