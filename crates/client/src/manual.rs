//! `cache-client completions SHELL` and `cache-client man`: shell completion scripts and a roff
//! man page generated from the clap definition itself, so neither can drift from the real flags.
//! `systemd/install.sh` installs both next to the binary.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use super::cli::Cli;
use super::{EXIT_OK, EXIT_USAGE};

/// The program name completions register for: what users type.
const BIN_NAME: &str = "cache-client";

/// The completion script for `shell`. Generated into memory: clap_complete panics on a write
/// error, and `cache-client completions bash | head` must not.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    script
}

/// Writes the man page (section 1, roff) of the whole command, subcommands listed, to `out`.
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `cache-client completions SHELL`, printed on stdout.
pub fn run_completions(shell: Shell) -> u8 {
    match io::stdout().lock().write_all(&completions(shell)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: writing the {shell} completions to stdout: {e}");
            EXIT_USAGE
        }
    }
}

/// `cache-client man`, printed on stdout (`cache-client man | man -l -`).
pub fn run_man() -> u8 {
    match man(&mut io::stdout().lock()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: writing the man page to stdout: {e}");
            EXIT_USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_the_subcommands_and_flags_in_every_shell() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completions(shell)).expect("UTF-8");
            // Flags without dashes: fish lists them as `nodes=` in its option spec.
            let words = [
                "cache-client",
                "get",
                "bench",
                "completions",
                "nodes",
                "timeout",
            ];
            for word in words {
                assert!(script.contains(word), "{shell} completions lack {word:?}");
            }
        }
    }

    #[test]
    fn man_page_is_roff_with_every_subcommand_and_the_environment() {
        let mut page = Vec::new();
        man(&mut page).expect("renders");
        let page = String::from_utf8(page).expect("UTF-8");
        assert!(page.contains(".TH cache-client 1"), "{page}");
        let words = [
            "SYNOPSIS",
            "\\-\\-nodes",
            "CACHE_NODES",
            "NO_COLOR",
            "get",
            "bench",
        ];
        for word in words {
            assert!(page.contains(word), "man page lacks {word:?}");
        }
    }
}
