// Second pass: sums the per-workgroup partials in a fixed order (workgroup, then substream), with Kahan
// compensation, into K × LANES totals; the last invocation adds up the per-workgroup moved counts.
// The host then converts the totals to f64 statistics.

const K: u32 = __K__u;
const S: u32 = __S__u;
const LANES: u32 = __D__u + 2u;

struct Params {
    groups: u32,  // workgroups that wrote partials
}

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read> moved: array<u32>;
@group(0) @binding(2) var<storage, read_write> total: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let slot = gid.x;
    let slots = K * LANES;
    if (slot < slots) {
        var sum = 0.0;
        var comp = 0.0;
        for (var g = 0u; g < p.groups; g++) {
            for (var s = 0u; s < S; s++) {
                let y = partial[(g * S + s) * slots + slot] - comp;
                let t = sum + y;
                comp = (t - sum) - y;
                sum = t;
            }
        }
        total[slot] = bitcast<u32>(sum);
    } else if (slot == slots) {
        var m = 0u;
        for (var g = 0u; g < p.groups; g++) {
            m += moved[g];
        }
        total[slot] = m;
    }
}
