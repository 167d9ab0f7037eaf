// Shared by step.wgsl and nearest.wgsl (the host prepends it to each): one exact distance form, so that
// the Lloyd steps and the final assignment (which `strata assign` repeats) measure distance the same way,
// and gemm.wgsl's `exact` the same operations: Σ_j (x_j − c_j)² in feature order, one fma per feature
// (the same bits wherever the driver lowers `fma` alike in every shader; WGSL allows an unfused one).
// D, K and TK are substituted by the host (one pipeline per shape).
//
// The centroid tile is stored feature-major with 4 centroids per vec4, so that each invocation (one row)
// gets 4 centroids' values for a feature with one load from workgroup memory: 1 load per 8 arithmetic
// operations instead of 1 per 2 (every invocation reads the same address, so the loads, not the
// arithmetic, bounded the one-centroid-at-a-time form on NVIDIA, whose shared memory issues one load
// instruction per clock per multiprocessor against four FP32 instructions).

const D: u32 = __D__u;        // features
const K: u32 = __K__u;        // centroids
const TK: u32 = __TK__u;      // centroids per workgroup-memory tile (a multiple of 4, at most 32)
const TK4: u32 = TK / 4u;
const WG: u32 = 256u;
const BIG: f32 = 3.4028235e38;

// tile[j · TK4 + q]: feature j of the tile's centroids 4q … 4q + 3 (zero past the tile's last centroid).
var<workgroup> tile: array<vec4<f32>, D * TK4>;

// Copies row `row` of the chunk's data into `xr`.
fn load_row(row: u32, xr: ptr<function, array<f32, D>>) {
    for (var j = 0u; j < D; j++) {
        (*xr)[j] = x[row * D + j];
    }
}

// Squared distances from the row `xr` to the tile's centroids, 4 per vec4 (lane t % 4 of element t / 4).
fn tile_dists(xr: ptr<function, array<f32, D>>) -> array<vec4<f32>, TK4> {
    var s: array<vec4<f32>, TK4>;
    for (var j = 0u; j < D; j++) {
        let xj = vec4((*xr)[j]);
        for (var q = 0u; q < TK4; q++) {
            let df = xj - tile[j * TK4 + q];
            s[q] = fma(df, df, s[q]);
        }
    }
    return s;
}

// Loads centroids c0 .. c0 + nt into the tile (all invocations of the workgroup take part).
fn load_tile(lid: u32, c0: u32, nt: u32) {
    workgroupBarrier();
    // Whole vec4s per invocation: writing single lanes from different invocations would race.
    for (var i = lid; i < D * TK4; i += WG) {
        let q = i / D;
        let j = i % D;
        var v = vec4(0.0);
        for (var l = 0u; l < 4u; l++) {
            let t = 4u * q + l;
            if (t < nt) {
                v[l] = cent[(c0 + t) * D + j];
            }
        }
        tile[j * TK4 + q] = v;
    }
    workgroupBarrier();
}
