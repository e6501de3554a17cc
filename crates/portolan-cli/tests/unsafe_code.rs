//! Every crate of the workspace either has no `unsafe` and says `#![forbid(unsafe_code)]` at its
//! root, or keeps a `// SAFETY:` comment just above each `unsafe` block or impl (an `unsafe fn`:
//! a `# Safety` section in its documentation).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines of code (not comments) that open an `unsafe` block, function, impl or extern block.
fn unsafe_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            !l.starts_with("//")
                && ["unsafe {", "unsafe fn", "unsafe impl", "unsafe extern"]
                    .iter()
                    .any(|k| l.contains(k))
        })
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn crates_forbid_unsafe_or_explain_each_block() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    let mut problems = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&crates) else {
        panic!("cannot read {}", crates.display());
    };
    for dir in dirs.flatten().map(|e| e.path()) {
        let src = dir.join("src");
        let root = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .find(|p| p.exists());
        let Some(root) = root else { continue };
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut any_unsafe = false;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for i in unsafe_lines(&text) {
                any_unsafe = true;
                let above = &lines[i.saturating_sub(8)..=i];
                // A block says `// SAFETY:`; an unsafe fn documents its contract in `# Safety`.
                if !above
                    .iter()
                    .any(|l| l.contains("SAFETY") || l.contains("# Safety"))
                {
                    problems.push(format!(
                        "{}:{}: unsafe without a SAFETY comment above it",
                        f.display(),
                        i + 1
                    ));
                }
            }
        }
        let root_text = std::fs::read_to_string(&root).unwrap_or_default();
        if !any_unsafe && !root_text.contains("#![forbid(unsafe_code)]") {
            problems.push(format!(
                "{}: the crate has no unsafe code: say #![forbid(unsafe_code)] at its root",
                root.display()
            ));
        }
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} crates found under {}",
        crates.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
