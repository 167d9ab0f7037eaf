// The per-cluster sums of a step, shared by step.wgsl and gemm.wgsl (the host prepends it to each; they
// define D, K, WG, the tile's labels and distances `tlabel` / `tdist`, and `row_value`). A workgroup sums
// its rows, a tile at a time, into its own partial sums: per cluster D sums, the weight and the SSE, lane by
// lane in row order, S row substreams side by side. No float atomics, so the result is the same on every
// run. The sums live in workgroup memory when they fit (LOCAL) and are written to this workgroup's slice of
// `partial` once at the end; otherwise every addition is a read-modify-write of that slice. Sums are of
// w·(x − c), deviations from the current centroid, which keeps f32 partial sums accurate.

const S: u32 = __S__u;          // row substreams accumulated side by side
const LOCAL: bool = __LOCAL__;  // partial sums in workgroup memory
const ACCN: u32 = __ACCN__u;    // S × K × LANES when LOCAL, else 1
const LANES: u32 = D + 2u;      // per cluster: D sums, weight, sse

struct Params {
    n: u32,            // rows in this chunk
    rows_per_wg: u32,  // rows owned by one workgroup (a multiple of WG)
    wg_base: u32,      // index of this dispatch's first workgroup in `partial` / `moved`
    weighted: u32,
    groups_x: u32,     // workgroups per row of the 2-D dispatch grid
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> dist: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
@group(0) @binding(6) var<storage, read_write> moved: array<u32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> acc: array<f32, ACCN>;
// Rows whose label changed: an integer sum, the same in any order.
var<workgroup> wmoved: atomic<u32>;

// Zeroes workgroup `g`'s partial sums; returns their offset in `partial`.
fn begin_sums(lid: u32, g: u32) -> u32 {
    let slots = S * K * LANES;
    let pbase = (p.wg_base + g) * slots;
    for (var i = lid; i < slots; i += WG) {
        if (LOCAL) {
            acc[i] = 0.0;
        } else {
            partial[pbase + i] = 0.0;
        }
    }
    if (lid == 0u) {
        atomicStore(&wmoved, 0u);
    }
    // The zeros above and `add_tile`'s additions to `partial` come from different invocations: a
    // workgroup barrier orders only workgroup memory.
    storageBarrier();
    return pbase;
}

// Chunk row `row` (row `t` of the tile) goes to centroid `arg` at squared distance `best`: its label and
// distance, and the tile's copy for `add_tile`. Returns 1 when the label changed.
fn record(row: u32, t: u32, arg: u32, best: f32) -> u32 {
    let changed = u32(labels[row] != arg);
    labels[row] = arg;
    dist[row] = best;
    tlabel[t] = arg;
    tdist[t] = best;
    return changed;
}

// Adds the tile's `cnt` rows (from row r0 of the chunk; labels and distances in `tlabel` / `tdist`).
fn add_tile(lid: u32, r0: u32, cnt: u32, pbase: u32) {
    for (var q = lid; q < S * LANES; q += WG) {
        let sub = q / LANES;
        let lane = q % LANES;
        for (var i = sub; i < cnt; i += S) {
            let c = tlabel[i];
            var wt = 1.0;
            if (p.weighted != 0u) {
                wt = w[r0 + i];
            }
            var v: f32;
            if (lane < D) {
                v = wt * (row_value(r0, i, lane) - cent[c * D + lane]);
            } else if (lane == D) {
                v = wt;
            } else {
                v = wt * tdist[i];
            }
            let at = (sub * K + c) * LANES + lane;
            if (LOCAL) {
                acc[at] += v;
            } else {
                partial[pbase + at] += v;
            }
        }
    }
}

// Writes workgroup `g`'s sums and moved count (`my_moved`: this invocation's).
fn end_sums(lid: u32, g: u32, pbase: u32, my_moved: u32) {
    atomicAdd(&wmoved, my_moved);
    workgroupBarrier();
    if (LOCAL) {
        for (var i = lid; i < S * K * LANES; i += WG) {
            partial[pbase + i] = acc[i];
        }
    }
    if (lid == 0u) {
        moved[p.wg_base + g] = atomicLoad(&wmoved);
    }
}
