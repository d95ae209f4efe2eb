//! `switchyard completions SHELL` and `switchyard man`: generated from the clap definitions in
//! [`crate::cli`], so they never drift from what the binary accepts.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Prints the completion script for `shell`.
pub(super) fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = crate::cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "switchyard", &mut buf);
    print_all(&buf)
}

/// Writes `bytes` to stdout; a reader that stops early (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Prints the man page (section 1, roff) of switchyard, or with `out_dir` writes that page and one
/// per command (`switchyard-<command>.1`) into the folder and lists the files written.
pub(super) fn man(out_dir: Option<&Path>) -> anyhow::Result<()> {
    let cmd = crate::cli::command();
    match out_dir {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            print_all(&buf)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            let mut pages: Vec<_> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "1"))
                .collect();
            pages.sort();
            for p in pages {
                println!("{}", p.display());
            }
        }
    }
    Ok(())
}
