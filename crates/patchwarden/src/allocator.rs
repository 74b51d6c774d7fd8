//! The binary's allocator: mimalloc, not glibc's malloc (docs/design/decisions.md): the
//! controller allocates and frees many small values per request and per scan from many threads;
//! under 10,000 agents glibc's allocator took ~31 % of the controller's CPU (free-list walks of
//! a fragmented heap).
//!
//! Built without transparent huge pages (the crate's `no_thp` feature, Cargo.toml): mimalloc
//! otherwise marks its arenas `MADV_HUGEPAGE`, and the kernel then backs each touched 2 MiB of
//! them with a whole huge page — resident in full however little of it is in use. At 1,000
//! agents that was ~100 MiB of the controller's RSS (docs/PERFORMANCE.md, "What holds the
//! controller's memory").

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The mappings of this process that asked for transparent huge pages (`hg` among their
    /// `VmFlags` in /proc/self/smaps).
    fn huge_page_mappings() -> Vec<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("reading /proc/self/smaps");
        let mut range = "";
        let mut advised = Vec::new();
        for line in smaps.lines() {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if flags.split_whitespace().any(|flag| flag == "hg") {
                    advised.push(range.to_owned());
                }
            } else if line
                .split_whitespace()
                .next()
                .is_some_and(|f| f.contains('-'))
            {
                range = line;
            }
        }
        advised
    }

    #[test]
    fn the_allocator_asks_for_no_transparent_huge_pages() {
        // Small and large blocks: mimalloc takes both from its arenas.
        let small: Vec<Box<[u8; 64]>> = (0..10_000).map(|_| Box::new([1; 64])).collect();
        let large: Vec<Vec<u8>> = (0..32).map(|_| vec![1; 1 << 20]).collect();
        let advised = huge_page_mappings();
        assert!(advised.is_empty(), "MADV_HUGEPAGE mappings: {advised:?}");
        assert_eq!(small.len() + large.len(), 10_032);
    }
}
