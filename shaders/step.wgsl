// One fused Lloyd pass over a chunk of rows. Each workgroup owns a contiguous range of rows:
//   1. assignment: one row per invocation, centroids streamed through workgroup memory in tiles of TK;
//      nearest centroid by Σ(x−c)² in feature order (lowest index wins ties), label/distance written back;
//   2. accumulation: the same rows (still in cache) are summed into this workgroup's partial sums, lane by
//      lane in row order: no atomics, so the result is the same on every run. The sums live in workgroup
//      memory when they fit (LOCAL) and are written to this workgroup's slice of `partial` once at the end;
//      otherwise every addition is a read-modify-write of `partial` in global memory.
// Sums are of w·(x − c), deviations from the current centroid, which keeps f32 partial sums accurate.
// The host prepends distance.wgsl (D, K, TK, the tile and `tile_dists`) and substitutes S.

const S: u32 = __S__u;        // row substreams accumulated side by side
const LANES: u32 = D + 2u;    // per cluster: D sums, weight, sse
const LOCAL: bool = __LOCAL__; // partial sums in workgroup memory
const ACCN: u32 = __ACCN__u;   // S × K × LANES when LOCAL, else 1

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

var<workgroup> tlabel: array<u32, WG>;
var<workgroup> tdist: array<f32, WG>;
var<workgroup> tmoved: array<u32, WG>;
var<workgroup> acc: array<f32, ACCN>;

@compute @workgroup_size(256)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * p.groups_x + wid.x;
    let start = g * p.rows_per_wg;
    if (start >= p.n) {
        return; // whole workgroup leaves together: barriers stay uniform
    }
    let end = min(start + p.rows_per_wg, p.n);
    let slots = S * K * LANES;
    let pbase = (p.wg_base + g) * slots;
    for (var i = lid; i < slots; i += WG) {
        if (LOCAL) {
            acc[i] = 0.0;
        } else {
            partial[pbase + i] = 0.0;
        }
    }
    var my_moved = 0u;
    var xr: array<f32, D>;
    for (var r0 = start; r0 < end; r0 += WG) {
        let row = r0 + lid;
        let live = row < end;
        if (live) {
            load_row(row, &xr);
        }
        var best = BIG;
        var arg = 0u;
        for (var c0 = 0u; c0 < K; c0 += TK) {
            let nt = min(TK, K - c0);
            load_tile(lid, c0, nt);
            if (live) {
                let ds = tile_dists(&xr);
                for (var t = 0u; t < nt; t++) {
                    let s = ds[t / 4u][t % 4u];
                    if (s < best) {
                        best = s;
                        arg = c0 + t;
                    }
                }
            }
        }
        if (live) {
            if (labels[row] != arg) {
                my_moved += 1u;
            }
            labels[row] = arg;
            dist[row] = best;
            tlabel[lid] = arg;
            tdist[lid] = best;
        }
        workgroupBarrier();
        let cnt = min(WG, end - r0);
        for (var q = lid; q < S * LANES; q += WG) {
            let sub = q / LANES;
            let lane = q % LANES;
            for (var i = sub; i < cnt; i += S) {
                let rr = r0 + i;
                let c = tlabel[i];
                var wt = 1.0;
                if (p.weighted != 0u) {
                    wt = w[rr];
                }
                var v: f32;
                if (lane < D) {
                    v = wt * (x[rr * D + lane] - cent[c * D + lane]);
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
        workgroupBarrier();
    }
    if (LOCAL) {
        for (var i = lid; i < slots; i += WG) {
            partial[pbase + i] = acc[i];
        }
    }
    tmoved[lid] = my_moved;
    workgroupBarrier();
    if (lid == 0u) {
        var m = 0u;
        for (var i = 0u; i < WG; i++) {
            m += tmoved[i];
        }
        moved[p.wg_base + g] = m;
    }
}
