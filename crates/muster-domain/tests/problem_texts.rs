//! The problems of a form are joined into one refusal with `; ` (in Chinese `；`) and the pages
//! split it again to put each problem beside its field; a problem whose own text holds the
//! separator is cut in two, its second half under no field. This reads the domain's sources
//! and checks every `*Problem` enum's English (`#[error]`) and Chinese (`zh`) texts.

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read the source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The name of the `*Problem` type a line opens (`pub enum XProblem {`, `impl XProblem {`).
fn problem_block(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("pub enum ")
        .or_else(|| line.strip_prefix("impl "))?;
    let name = rest.strip_suffix(" {")?;
    name.ends_with("Problem").then_some(name)
}

#[test]
fn no_problem_of_a_list_holds_the_separator_of_the_list() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut offending = Vec::new();
    let mut blocks = 0;
    for file in files {
        let text = fs::read_to_string(&file).expect("read a source file");
        let mut block: Option<&str> = None;
        let mut in_error = false;
        for (number, line) in text.lines().enumerate() {
            if block.is_none() {
                block = problem_block(line);
                blocks += usize::from(block.is_some());
                continue;
            }
            if line == "}" {
                block = None;
                continue;
            }
            let trimmed = line.trim();
            if trimmed.starts_with("#[error(") {
                in_error = true;
            }
            let english = in_error && line.contains("; ");
            let chinese = line.contains('；') && !trimmed.starts_with("//");
            if english || chinese {
                offending.push(format!("{}:{}: {trimmed}", file.display(), number + 1));
            }
            if in_error && trimmed.ends_with(")]") {
                in_error = false;
            }
        }
    }
    assert!(blocks >= 8, "only {blocks} problem enums and impls found");
    assert!(offending.is_empty(), "{}", offending.join("\n"));
}
