//! Large buffers on transparent huge pages where the OS offers them (Linux `madvise(MADV_HUGEPAGE)`, which
//! numpy asks for on every array above 4 MB): the k-means passes stream through the prepared matrix, and on
//! 4 KB pages they miss the TLB every 4 KB.

/// Bytes of a huge page (x86-64 and most aarch64 kernels).
const HUGE: usize = 2 << 20;

/// Asks the OS to back the whole huge pages inside `v`'s allocation with huge pages: a hint, which it may
/// ignore, best given before the memory is first touched. Buffers under 4 MB are left alone, as numpy does.
pub fn advise_huge<T>(v: &mut Vec<T>) {
    let bytes = v.capacity() * size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = v.as_mut_ptr() as usize;
        let (first, end) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if end > first {
            // SAFETY: [first, end) lies inside the allocation `v` owns (and is borrowed mutably here); the
            // advice changes how the kernel backs those pages, never their contents or their validity. Its
            // failure (a kernel without transparent huge pages) leaves them as they were.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// `n` zeros in a vector advised onto huge pages before they are touched.
pub fn zeros<T: Clone + Default>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge(&mut v);
    v.resize(n, T::default());
    v
}
