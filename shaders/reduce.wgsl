// Second pass: sums the per-workgroup partials into K × LANES totals, one workgroup per total (and one more
// for the per-workgroup moved counts). Invocation i sums partials i, i + RW, i + 2·RW, … (workgroup, then
// substream order) with Kahan compensation; the RW sums are then added pairwise in a fixed tree. The order
// is fixed, so the result is the same on every run; spreading one total over RW invocations keeps enough
// loads in flight to hide the memory latency (one invocation per total, walking every partial in turn,
// left the whole GPU waiting on one load at a time).
// The host then converts the totals to f64 statistics.

const K: u32 = __K__u;
const S: u32 = __S__u;
const LANES: u32 = __D__u + 2u;
const RW: u32 = 256u;

struct Params {
    groups: u32,    // workgroups that wrote partials
    groups_x: u32,  // reduce workgroups per row of the 2-D dispatch grid
}

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read> moved: array<u32>;
@group(0) @binding(2) var<storage, read_write> total: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> fsum: array<f32, RW>;
var<workgroup> usum: array<u32, RW>;

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let slot = wid.y * p.groups_x + wid.x;
    let slots = K * LANES;
    if (slot < slots) {
        var sum = 0.0;
        var comp = 0.0;
        let m = p.groups * S;
        for (var e = lid; e < m; e += RW) {
            let y = partial[e * slots + slot] - comp;
            let t = sum + y;
            comp = (t - sum) - y;
            sum = t;
        }
        fsum[lid] = sum;
        workgroupBarrier();
        for (var h = RW / 2u; h > 0u; h = h / 2u) {
            if (lid < h) {
                fsum[lid] = fsum[lid] + fsum[lid + h];
            }
            workgroupBarrier();
        }
        if (lid == 0u) {
            total[slot] = bitcast<u32>(fsum[0]);
        }
    } else if (slot == slots) {
        var c = 0u;
        for (var g = lid; g < p.groups; g += RW) {
            c += moved[g];
        }
        usum[lid] = c;
        workgroupBarrier();
        for (var h = RW / 2u; h > 0u; h = h / 2u) {
            if (lid < h) {
                usum[lid] = usum[lid] + usum[lid + h];
            }
            workgroupBarrier();
        }
        if (lid == 0u) {
            total[slot] = usum[0];
        }
    }
}
