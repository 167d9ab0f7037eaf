// One fused Lloyd pass over a chunk of rows, up to 32 centroids. Each workgroup owns a contiguous range of
// rows, WG at a time:
//   1. assignment: one row per invocation, centroids streamed through workgroup memory in tiles of TK;
//      nearest centroid by Σ(x−c)² in feature order (lowest index wins ties), label/distance written back;
//   2. accumulation (accumulate.wgsl): the same rows (still in cache) summed into the workgroup's sums.
// The host prepends distance.wgsl (D, K, TK, the tile and `tile_dists`) and accumulate.wgsl.

// Row i of the tile starting at chunk row r0, feature j (re-read from global memory: it was just read).
fn row_value(r0: u32, i: u32, j: u32) -> f32 {
    return x[(r0 + i) * D + j];
}

var<workgroup> tlabel: array<u32, WG>;
var<workgroup> tdist: array<f32, WG>;

@compute @workgroup_size(256)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * p.groups_x + wid.x;
    let start = g * p.rows_per_wg;
    if (start >= p.n) {
        return; // whole workgroup leaves together: barriers stay uniform
    }
    let end = min(start + p.rows_per_wg, p.n);
    let pbase = begin_sums(lid, g);
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
            my_moved += record(row, lid, arg, best);
        }
        workgroupBarrier();
        add_tile(lid, r0, min(WG, end - r0), pbase);
        workgroupBarrier();
    }
    end_sums(lid, g, pbase, my_moved);
}
