// The step for many centroids (the host uses it above 32): the same contract as step.wgsl, with the
// distances in the GEMM form s_c = ‖c‖² − 2x·c and an exact re-check, so that labels are the exact
// form's argmin (lowest index on ties) and distances and SSE stay Σ(x − c)².
//
// A workgroup walks its rows in tiles of TR = 64. Each tile is read from global memory once, into `xt`
// (transposed: feature-major, 4 rows per vec4, rows padded with zeros to DP features). The 256
// invocations form a 16 × 16 grid: invocation (ty, tx) keeps in registers the 4 × 4 dot products of rows
// 4ty … 4ty + 3 and centroids 4tx … 4tx + 3 of a 64-centroid tile, fed per feature by one vec4 load of
// its rows from `xt` and one of its centroids from a TD-feature slice staged in `sc` (the host uploads the
// centroids transposed and zero-padded, so staging is coalesced and needs no bounds checks): 2 loads
// from workgroup memory per 16 multiply-adds, as in a GPU SGEMM. Each invocation keeps, per row, the best
// score, its centroid and the second-best score over all centroid tiles; a 4-round tree merges the 16
// column invocations of each row (half the rows at a time). Then one invocation per row: ‖x‖², the
// rounding bound `threshold`, and the label — the best centroid when the second-best score is above the
// bound (the common case; its exact distance is one more pass over d features), else a scan of all k
// centroids in the exact form. The tile's rows are then summed from `xt` (never re-read from global
// memory) into the workgroup's partial sums (accumulate.wgsl, which the host prepends).
//
// The centroid buffer: k × d rows, then ‖c‖² per centroid (f64 on the host, rounded to f32), then
// cmax² (the largest ‖c‖², rounded up; negative when too large for the bound to be safe in f32), then the
// centroids transposed, DP × KP (KP: k rounded up to TC), zero-padded.

const D: u32 = __D__u;
const K: u32 = __K__u;
const DP: u32 = __DP__u;        // D rounded up to TD
const KP: u32 = __KP__u;        // K rounded up to TC
const WG: u32 = 256u;
const TR: u32 = 64u;            // rows per tile
const TC: u32 = 64u;            // centroids per tile
const TD: u32 = 8u;             // features per staged centroid slice
const XS: u32 = TR / 4u + 1u;   // vec4s per feature in `xt` (one spare: fewer bank conflicts staging)
const NORMS: u32 = K * D;       // offset of ‖c‖² in `cent`
const CMAX2: u32 = NORMS + K;   // offset of cmax²
const CT: u32 = CMAX2 + 1u;     // offset of the transposed centroids
const BIG: f32 = 3.4028235e38;
// γ(d + 4) and γ(d + 6) (Higham's n·u/(1 − n·u)) with u = 2⁻²³, not 2⁻²⁴: WGSL lets f32 operations
// round either way (and fma be unfused, which the counts cover); rounded up. TINY covers flushed
// subnormals.
const GAMMA_GEMM: f32 = __GG__;
const GAMMA_EXACT: f32 = __GE__;
const TINY: f32 = __TINY__;

var<workgroup> xt: array<vec4<f32>, DP * XS>;
// The centroid slice (TD features × TC centroids, as float bits) during the dot products; the merge
// tree's (best, centroid, second-best) for 32 rows × 8 columns after them. (Merging all 64 rows at once would take 4 KB more, which 256 centroids × 34 lanes of partial sums
// in a 48 KB workgroup do not leave.)
var<workgroup> sc: array<vec4<u32>, 256>;
var<workgroup> tlabel: array<u32, TR>;
var<workgroup> tdist: array<f32, TR>;

// The score above which a centroid is strictly farther, in the exact form, than the one with the lowest
// score `low`, for a row with ‖x‖² = `x2r`: the bound of `Transposed::threshold` (src/compute/kernel/panel.rs,
// proof there) evaluated in f32, with u = 2⁻²³ in the γs (either rounding direction). The extra slack
// pays for the f32 evaluation: 1.1 on e covers the relative rounding of these few products, and 3·e
// instead of 2·e the three roundings of the final sums, at most 3u·(|low| + 3e + …) where
// |low| ≤ ‖c‖² + 2‖x‖‖c‖ ≤ 2·cmax² + x2, so about 3/(1.1·(d + 4)) ≤ 0.55 of e for d ≥ 1.
fn threshold(low: f32, x2r: f32, cmax2: f32) -> f32 {
    let x2 = x2r * (1.0 + GAMMA_EXACT);
    let e = 1.1 * GAMMA_GEMM * (2.0 * cmax2 + x2);
    let ea = (1.0 + GAMMA_EXACT) * max(low + e + x2, 0.0);
    return low + 3.0 * e + 2.2 * GAMMA_EXACT * ea + TINY;
}

// Feature j of row r of the tile.
fn xv(r: u32, j: u32) -> f32 {
    return xt[j * XS + r / 4u][r % 4u];
}

// Row i of the tile, feature j, for the sums (from workgroup memory: never re-read from global memory).
fn row_value(r0: u32, i: u32, j: u32) -> f32 {
    return xv(i, j);
}

// Σ_j (x_j − c_j)² in feature order for row `r` of the tile and centroid `c`: the same operations as
// `tile_dists` in distance.wgsl, so that the step and the nearest pass agree bit for bit.
fn exact(r: u32, c: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < D; j++) {
        let df = xv(r, j) - cent[c * D + j];
        s = fma(df, df, s);
    }
    return s;
}

@compute @workgroup_size(256)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * p.groups_x + wid.x;
    let start = g * p.rows_per_wg;
    if (start >= p.n) {
        return; // whole workgroup leaves together: barriers stay uniform
    }
    let end = min(start + p.rows_per_wg, p.n);
    let pbase = begin_sums(lid, g);
    let tx = lid % 16u;
    let ty = lid / 16u;
    let cmax2 = cent[CMAX2];
    var my_moved = 0u;
    for (var r0 = start; r0 < end; r0 += TR) {
        let cnt = min(TR, end - r0);
        workgroupBarrier(); // the previous tile's accumulation has finished with xt and tlabel
        // Whole vec4s (4 rows of one feature) per invocation: writing single lanes from different
        // invocations would race (WGSL lets a lane write touch the whole vector).
        for (var i = lid; i < TR / 4u * DP; i += WG) {
            let q = i / DP;
            let j = i % DP;
            var v = vec4(0.0);
            for (var l = 0u; l < 4u; l++) {
                let r = 4u * q + l;
                if (r < cnt && j < D) {
                    v[l] = x[(r0 + r) * D + j];
                }
            }
            xt[j * XS + q] = v;
        }
        var b1 = array<f32, 4>(BIG, BIG, BIG, BIG);
        var i1 = array<u32, 4>(0u, 0u, 0u, 0u);
        var b2 = array<f32, 4>(BIG, BIG, BIG, BIG);
        for (var c0 = 0u; c0 < KP; c0 += TC) {
            // dot[a][b]: row 4ty + a, centroid c0 + 4tx + b.
            var dot: array<vec4<f32>, 4>;
            for (var j0 = 0u; j0 < DP; j0 += TD) {
                workgroupBarrier();
                for (var i = lid; i < TD * TC / 4u; i += WG) {
                    let at = CT + (j0 + i / (TC / 4u)) * KP + c0 + 4u * (i % (TC / 4u));
                    let c4 = vec4(cent[at], cent[at + 1u], cent[at + 2u], cent[at + 3u]);
                    sc[i] = bitcast<vec4<u32>>(c4);
                }
                workgroupBarrier();
                for (var jj = 0u; jj < TD; jj++) {
                    let rows = xt[(j0 + jj) * XS + ty];
                    let cs = bitcast<vec4<f32>>(sc[jj * (TC / 4u) + tx]);
                    for (var a = 0u; a < 4u; a++) {
                        dot[a] = fma(vec4(rows[a]), cs, dot[a]);
                    }
                }
            }
            // Centroids in increasing index order with strict `<`: the lowest index wins equal scores.
            for (var b = 0u; b < 4u; b++) {
                let c = c0 + 4u * tx + b;
                if (c < K) {
                    let nc = cent[NORMS + c];
                    for (var a = 0u; a < 4u; a++) {
                        let s = nc - 2.0 * dot[a][b];
                        if (s < b1[a]) {
                            b2[a] = b1[a];
                            b1[a] = s;
                            i1[a] = c;
                        } else if (s < b2[a]) {
                            b2[a] = s;
                        }
                    }
                }
            }
        }
        // Merge the 16 column invocations of each row, for rows 4ty and 4ty + 1 (half 0), then 4ty + 2
        // and 4ty + 3 (half 1): in round h, columns h … 2h − 1 hand their (best, centroid, second) to
        // columns 0 … h − 1. Column 0 then writes its rows' results to sc[r].
        for (var half = 0u; half < 2u; half++) {
            for (var h = 8u; h > 0u; h = h / 2u) {
                workgroupBarrier();
                if (tx >= h && tx < 2u * h) {
                    for (var a = 2u * half; a < 2u * half + 2u; a++) {
                        let at = (2u * ty + a - 2u * half) * 8u + tx - h;
                        sc[at] = vec4(bitcast<u32>(b1[a]), i1[a], bitcast<u32>(b2[a]), 0u);
                    }
                }
                workgroupBarrier();
                if (tx < h) {
                    for (var a = 2u * half; a < 2u * half + 2u; a++) {
                        let o = sc[(2u * ty + a - 2u * half) * 8u + tx];
                        let ob1 = bitcast<f32>(o.x);
                        let ob2 = bitcast<f32>(o.z);
                        if (ob1 < b1[a] || (ob1 == b1[a] && o.y < i1[a])) {
                            b2[a] = min(b1[a], ob2);
                            b1[a] = ob1;
                            i1[a] = o.y;
                        } else {
                            b2[a] = min(b2[a], ob1);
                        }
                    }
                }
            }
        }
        workgroupBarrier();
        if (tx == 0u) {
            for (var a = 0u; a < 4u; a++) {
                sc[4u * ty + a] = vec4(bitcast<u32>(b1[a]), i1[a], bitcast<u32>(b2[a]), 0u);
            }
        }
        workgroupBarrier();
        if (lid < cnt) {
            let r = lid;
            var x2 = 0.0;
            for (var j = 0u; j < D; j++) {
                let v = xv(r, j);
                x2 += v * v;
            }
            let o = sc[r];
            let low = bitcast<f32>(o.x);
            let second = bitcast<f32>(o.z);
            var arg = o.y;
            var best: f32;
            // The bound needs finite arithmetic (WGSL may assume no infinities): cmax² and ‖x‖² small.
            if (cmax2 >= 0.0 && x2 < 1e30 && second > threshold(low, x2, cmax2)) {
                best = exact(r, arg);
            } else {
                // A near tie (or values too large for the bound): the exact form decides.
                best = BIG;
                arg = 0u;
                for (var c = 0u; c < K; c++) {
                    let s = exact(r, c);
                    if (s < best) {
                        best = s;
                        arg = c;
                    }
                }
            }
            my_moved += record(r0 + r, r, arg, best);
        }
        workgroupBarrier();
        add_tile(lid, r0, cnt, pbase);
    }
    end_sums(lid, g, pbase, my_moved);
}
