//! The helpers every CLI test needs (`portolan()`, `in_ci()`, `is_root()`) are declared once, in
//! `tests/common/mod.rs`; a test file that declares its own copy drifts from the others (they
//! differed in environment and in how root was detected).

use std::path::Path;

#[test]
fn shared_helpers_are_declared_only_in_common() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut copies = Vec::new();
    let mut files = 0;
    for e in std::fs::read_dir(&tests).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        for name in ["portolan", "portolan_command", "in_ci", "ci", "is_root"] {
            if text.contains(&format!("fn {name}() ->")) {
                copies.push(format!("{}: declares fn {name}()", p.display()));
            }
        }
    }
    let common = std::fs::read_to_string(tests.join("common/mod.rs")).unwrap_or_default();
    for name in ["portolan", "portolan_command", "in_ci", "is_root"] {
        assert!(
            common.contains(&format!("pub fn {name}() ->")),
            "tests/common/mod.rs must declare {name}()"
        );
    }
    assert!(files >= 10, "only {files} test files found");
    assert!(
        copies.is_empty(),
        "use the helpers from tests/common instead:\n{}",
        copies.join("\n")
    );
}
