// Nearest and second-nearest centroid of every row of a chunk (assign, and a fit's final labels): one row
// per invocation, centroids streamed through workgroup memory in tiles of TK, scanned in index order with
// strict `<`, so the lowest index wins ties for both. Distances come from `tile_dists` (distance.wgsl).

const NONE: u32 = 0xffffffffu;

struct Params {
    n: u32,         // rows in this chunk
    groups_x: u32,  // workgroups per row of the 2-D dispatch grid
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> cent: array<f32>;
@group(0) @binding(2) var<storage, read_write> label1: array<u32>;
@group(0) @binding(3) var<storage, read_write> dist1: array<f32>;
@group(0) @binding(4) var<storage, read_write> label2: array<u32>;
@group(0) @binding(5) var<storage, read_write> dist2: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(256)
fn nearest(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = (wid.y * p.groups_x + wid.x) * WG + lid;
    let live = row < p.n;
    var xr: array<f32, D>;
    if (live) {
        load_row(row, &xr);
    }
    var b1 = BIG;
    var i1 = NONE;
    var b2 = BIG;
    var i2 = NONE;
    for (var c0 = 0u; c0 < K; c0 += TK) {
        let nt = min(TK, K - c0);
        load_tile(lid, c0, nt);
        if (live) {
            let ds = tile_dists(&xr);
            for (var t = 0u; t < nt; t++) {
                let s = ds[t / 4u][t % 4u];
                if (s < b1 || i1 == NONE) {
                    b2 = b1;
                    i2 = i1;
                    b1 = s;
                    i1 = c0 + t;
                } else if (s < b2 || i2 == NONE) {
                    b2 = s;
                    i2 = c0 + t;
                }
            }
        }
    }
    if (live) {
        label1[row] = i1;
        dist1[row] = b1;
        label2[row] = i2;
        dist2[row] = b2;
    }
}
