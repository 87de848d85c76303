//! The `thinktok` command line: see `thinktok --help` and the README.

fn main() -> std::process::ExitCode {
    thinktok::cli::main()
}
