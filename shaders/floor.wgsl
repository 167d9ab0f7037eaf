// The GPU's floor for a Lloyd step, measured rather than looked up:
//   stream: one read of every value of a resident data buffer (grid-stride, coalesced), nothing else;
//   peak:   independent fp32 multiply-add chains, the arithmetic ceiling of the device.
// Both keep their results alive with a store that finite data never triggers.

struct Params {
    n: u32,       // stream: values in the buffer
    iters: u32,   // peak: loop trips per invocation
    stride: u32,  // stream: invocations in the dispatch
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const HUGE: f32 = 3.4028235e38;

@compute @workgroup_size(256)
fn stream(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = 0.0;
    for (var i = gid.x; i < p.n; i += p.stride) {
        acc += x[i];
    }
    if (acc == HUGE) {
        sink[0] = acc;
    }
}

@compute @workgroup_size(256)
fn peak(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = f32(gid.x) * 1e-9;
    var a0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    var a4 = a0 + 4.0;
    var a5 = a0 + 5.0;
    var a6 = a0 + 6.0;
    var a7 = a0 + 7.0;
    let m = vec4<f32>(0.9999999);
    let c = vec4<f32>(1e-7);
    for (var i = 0u; i < p.iters; i++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    let t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
    if (t.x + t.y + t.z + t.w == HUGE) {
        sink[0] = t.x;
    }
}
