//! The README snippets are the samples, and the samples use the real API.
//!
//! The Kotlin and Swift READMEs each show the Key Button in one code block; each block must be,
//! byte for byte, a file of its platform's sample (`bindings/kotlin/sample`, compiled by
//! `cargo xtask test` against Android 14 and the SDK's AAR; `bindings/swift/Sample`), so what a
//! developer copies is what is built. Swift has no compiler here: every SDK call the Swift sample
//! makes must name a function the generated bindings or the package's hand-written Swift declare.

use std::{fs, path::Path};

use crate::root;

/// (README, its section, the sample file the section's code block must be).
const SNIPPETS: [(&str, &str, &str); 2] = [
    (
        "bindings/kotlin/README.md",
        "## A Key Button in Kotlin",
        "bindings/kotlin/sample/src/main/java/io/mobileaccess/sample/KeyButtonModel.kt",
    ),
    ("bindings/swift/README.md", "## A Key Button in Swift", "bindings/swift/Sample/KeyButtonModel.swift"),
];
/// The most lines a README's Key Button may take.
const MOST_LINES: usize = 30;
/// Receivers in the Swift sample whose calls are the SDK's.
const SWIFT_RECEIVERS: [&str; 4] = ["button.", "button?.", "KeyButton.", "state."];

/// Checks both READMEs' snippets, and the Swift sample's calls against `generated` Swift.
pub fn check_readmes(generated: &Path) -> Result<(), String> {
    for (readme, section, sample) in SNIPPETS {
        let text = read(&root().join(readme))?;
        let block = code_block(&text, section).ok_or_else(|| format!("{readme}: no code block under {section}"))?;
        let sample_text = read(&root().join(sample))?;
        if block != sample_text {
            return Err(format!("{readme}: the block under {section} differs from {sample} (it must be that file)"));
        }
        let lines = block.lines().count();
        if lines >= MOST_LINES {
            return Err(format!("{readme}: the Key Button takes {lines} lines (fewer than {MOST_LINES} wanted)"));
        }
        println!("samples: {readme}: the Key Button in {lines} lines, = {sample}");
    }
    let mut declared = read(generated)?;
    for entry in fs::read_dir(root().join("bindings/swift/Sources/MobileAccess")).map_err(|e| e.to_string())? {
        declared.push_str(&read(&entry.map_err(|e| e.to_string())?.path())?);
    }
    for entry in fs::read_dir(root().join("bindings/swift/Sample")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        for call in sdk_calls(&read(&path)?) {
            if !declared.contains(&format!("func {call}(")) {
                return Err(format!("{}: calls {call}(…), which the Swift bindings do not declare", path.display()));
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// The first fenced code block after the heading `section`, without its fences.
fn code_block(markdown: &str, section: &str) -> Option<String> {
    let after = markdown.split_once(&format!("\n{section}\n"))?.1;
    let start = after.find("\n```")? + 1;
    let body = after[start..].split_once('\n')?.1;
    let end = body.find("\n```\n")?;
    Some(format!("{}\n", &body[..end]))
}

/// The names of the SDK functions `swift` calls (on a button, `KeyButton` or a state).
fn sdk_calls(swift: &str) -> Vec<String> {
    let mut calls = Vec::new();
    for receiver in SWIFT_RECEIVERS {
        for (index, _) in swift.match_indices(receiver) {
            let rest = &swift[index + receiver.len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            let preceded = swift[..index].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
            if preceded && !name.is_empty() && rest[name.len()..].starts_with('(') && !calls.contains(&name) {
                calls.push(name);
            }
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_block_is_found_under_its_heading_and_calls_on_sdk_receivers_are_listed() {
        let markdown =
            "# T\n\n## Other\n\n```sh\nno\n```\n\n## A Key Button in Swift\n\nText.\n\n```swift\nlet a = 1\nb()\n```\n";
        assert_eq!(code_block(markdown, "## A Key Button in Swift").unwrap(), "let a = 1\nb()\n");
        let calls = sdk_calls(
            "button?.setScreen(screen: .home)\nmybutton.nope()\ntry await KeyButton.create(x)\nself.state = state\nstate.hint()",
        );
        assert_eq!(calls, ["setScreen", "create", "hint"]);
    }
}
