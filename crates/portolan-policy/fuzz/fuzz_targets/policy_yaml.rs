#![no_main]
//! Any bytes given to the policy parser: an error or a policy, never a panic; a parsed policy
//! always compiles and lints.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let reg = portolan_registry::Registry::embedded();
        if let Ok(p) = portolan_policy::Policy::parse(text, reg) {
            let _ = portolan_policy::lint(&p);
            let _ = portolan_policy::compile::gateway(&p);
        }
    }
});
