//! Fuzz the controller's reading of a stored inventory's canonical rows
//! (`pw_protocol::InventoryContent::decode_parts` and `decode_packages_where`, which read the form
//! `encode` writes by hand): on any bytes they agree with serde's reading (`decode`), and a
//! content read encodes back to rows read the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pw_protocol::InventoryContent;

fuzz_target!(|data: &[u8]| {
    let parts = InventoryContent::decode_parts(data, None).ok();
    let whole = (InventoryContent::decode(data, None).ok()).map(InventoryContent::into_parts);
    assert_eq!(parts, whole);
    let all = |_: &str, _: Option<&str>| true;
    let kept = InventoryContent::decode_packages_where(data, all).ok();
    assert_eq!(kept.as_ref(), parts.as_ref().map(|(packages, _)| packages));
    let Some((packages, _)) = parts else {
        return;
    };
    let encoded = InventoryContent::new(packages.clone(), None).encode();
    let (again, _) = InventoryContent::decode_parts(&encoded.packages_json, None).unwrap();
    assert_eq!(again, packages);
});
