// Shared by step.wgsl and nearest.wgsl (the host prepends it to each): one exact distance form, so that
// the Lloyd steps and the final assignment (which `strata assign` repeats) measure distance the same way.
// D, K and TK are substituted by the host (one pipeline per shape).

const D: u32 = __D__u;        // features
const K: u32 = __K__u;        // centroids
const TK: u32 = __TK__u;      // centroids per workgroup-memory tile
const WG: u32 = 256u;
const BIG: f32 = 3.4028235e38;

var<workgroup> tile: array<f32, TK * D>;

// Copies row `row` of the chunk's data into `xr`.
fn load_row(row: u32, xr: ptr<function, array<f32, D>>) {
    for (var j = 0u; j < D; j++) {
        (*xr)[j] = x[row * D + j];
    }
}

// Σ_j (x_j − c_j)² in feature order, c = centroid `t` of the tile in workgroup memory.
fn sqdist(xr: ptr<function, array<f32, D>>, t: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < D; j++) {
        let df = (*xr)[j] - tile[t * D + j];
        s += df * df;
    }
    return s;
}

// Loads centroids c0 .. c0 + nt into the tile (all invocations of the workgroup take part).
fn load_tile(lid: u32, c0: u32, nt: u32) {
    workgroupBarrier();
    for (var i = lid; i < nt * D; i += WG) {
        tile[i] = cent[c0 * D + i];
    }
    workgroupBarrier();
}
